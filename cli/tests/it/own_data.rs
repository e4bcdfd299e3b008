//! A user's own data: runs that load little or nothing fail loudly, and fixing the job is
//! enough to load the files it refused.

use crate::support::TestLake;

/// A job over `raw/orders` (CSV) whose `ordered_at` column is read with `timestamp_format`,
/// or as RFC 3339 when it is `None`.
fn orders_job(timestamp_format: Option<&str>, tolerance: &str) -> String {
    let format = timestamp_format.map_or(String::new(), |f| format!(", format: \"{f}\""));
    format!(
        "name: orders_etl\n\
         source:\n  name: orders\n  format: {{ type: csv }}\n{tolerance}\
         \x20 columns:\n\
         \x20   - {{ name: order_id, type: string, nullable: false }}\n\
         \x20   - {{ name: ordered_at, type: timestamp, nullable: false{format} }}\n\
         \x20   - {{ name: amount, type: \"decimal(10,2)\" }}\n\
         target: {{ zone: processed, table: orders, format: delta, mode: append }}\n"
    )
}

/// `rows` orders, the first `bad` of them with an amount that is not a number.
fn orders_csv(rows: usize, bad: usize) -> String {
    let mut csv = "order_id,ordered_at,amount\n".to_string();
    for i in 0..rows {
        let amount = if i < bad { "n/a" } else { "12.50" };
        csv.push_str(&format!(
            "O{i:05},2018-08-15 10:{:02}:00,{amount}\n",
            i % 60
        ));
    }
    csv
}

fn lake_with_orders(job: &str, csv: &str) -> (TestLake, String) {
    let lake = TestLake::with_own_jobs();
    let day = lake.path().join("raw/orders/date=2018-08-15");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join("orders.csv"), csv).unwrap();
    let jobs = lake.path().join("jobs");
    std::fs::write(jobs.join("orders_etl.yaml"), job).unwrap();
    let jobs = jobs.display().to_string();
    (lake, jobs)
}

#[test]
fn a_run_rejecting_more_rows_than_tolerated_fails_publishes_nothing_and_a_fixed_job_loads_them() {
    // The most common export form, read with the default (RFC 3339): every row is rejected.
    let (lake, jobs) = lake_with_orders(&orders_job(None, ""), &orders_csv(40, 0));
    let failed = lake.lakejob(&["run", "orders_etl", "--output", "json"]);
    assert_eq!(failed.status.code(), Some(2), "{failed:?}");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    for expected in [
        "40 of the 40 rows read (100.0%) were rejected",
        "above the 5.0% the source tolerates (source.tolerance.rejected_rows)",
        "40 × ordered_at: '2018-08-15 10:00:00' is not an RFC 3339 timestamp",
        "Nothing was published",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(
        (
            &summary["status"],
            &summary["rows_rejected"],
            &summary["error"]["class"]
        ),
        (&"failed".into(), &40.into(), &"bad_input".into()),
        "{summary}"
    );
    assert!(!lake.path().join("processed/orders").exists());
    assert!(!lake.path().join("quarantine/orders").exists());

    // Fixed, the same file is read again without --reprocess.
    std::fs::write(
        format!("{jobs}/orders_etl.yaml"),
        orders_job(Some("%Y-%m-%d %H:%M:%S"), ""),
    )
    .unwrap();
    let fixed = lake.json(&["run", "orders_etl"]);
    assert_eq!(
        (&fixed["status"], &fixed["rows_out"]),
        (&"succeeded".into(), &40.into()),
        "{fixed}"
    );
}

#[test]
fn a_source_declares_the_share_of_bad_rows_it_tolerates() {
    let format = Some("%Y-%m-%d %H:%M:%S");
    // 2 bad rows of 100 are within the default 5%.
    let (lake, _) = lake_with_orders(&orders_job(format, ""), &orders_csv(100, 2));
    let summary = lake.json(&["run", "orders_etl"]);
    assert_eq!(
        (&summary["rows_out"], &summary["rows_rejected"]),
        (&98.into(), &2.into())
    );

    // 10 of 100 are not, unless the source says so.
    let (lake, _) = lake_with_orders(&orders_job(format, ""), &orders_csv(100, 10));
    let failed = lake.lakejob(&["run", "orders_etl"]);
    assert_eq!(failed.status.code(), Some(2), "{failed:?}");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("10 × amount: 'n/a' is not"), "{stderr}");
    let tolerant = orders_job(format, "  tolerance: { rejected_rows: 0.2 }\n");
    let (lake, _) = lake_with_orders(&tolerant, &orders_csv(100, 10));
    let summary = lake.json(&["run", "orders_etl"]);
    assert_eq!(
        (&summary["rows_out"], &summary["rows_rejected"]),
        (&90.into(), &10.into())
    );
}

#[test]
fn a_tolerance_outside_zero_to_one_is_refused_by_validate() {
    let job = orders_job(
        None,
        "  tolerance: { rejected_rows: 5, unreadable_files: -1 }\n",
    );
    let (lake, jobs) = lake_with_orders(&job, "");
    let output = lake.lakejob(&["validate", &jobs]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "source.tolerance.rejected_rows: 5 is not a share from 0 to 1 (write 5% as 0.05)",
        "source.tolerance.unreadable_files: -1 is not a share from 0 to 1",
    ] {
        assert!(stdout.contains(expected), "{expected:?} in {stdout}");
    }
}

#[test]
fn a_file_rejected_at_ingest_is_released_and_taken_again_once_the_job_is_fixed() {
    let job = |from: &str| {
        format!(
            "name: orders_etl\n\
             source:\n  name: orders\n  format: {{ type: csv }}\n  columns:\n\
             \x20   - {{ name: order_id, type: string, nullable: false }}\n\
             \x20   - {{ name: total, type: \"decimal(10,2)\", nullable: false{from} }}\n\
             target: {{ zone: processed, table: orders, format: delta, mode: append }}\n"
        )
    };
    let (lake, jobs) = lake_with_orders(&job(""), "");
    std::fs::remove_dir_all(lake.path().join("raw")).unwrap();
    let incoming = tempfile::tempdir().unwrap();
    let file = incoming.path().join("orders_2018-08-15.csv");
    std::fs::write(&file, "order_id,amount\nO1,12.50\nO2,7.25\n").unwrap();
    let file = file.display().to_string();

    let rejected = lake.lakejob(&["ingest", "orders", &file]);
    assert_eq!(rejected.status.code(), Some(2), "{rejected:?}");
    // Fixed, the job still meets the old verdict: the ledger keeps it by content.
    std::fs::write(format!("{jobs}/orders_etl.yaml"), job(", from: amount")).unwrap();
    let stale = lake.lakejob(&["ingest", "orders", &file]);
    assert!(
        String::from_utf8_lossy(&stale.stdout).contains("rejected"),
        "{stale:?}"
    );

    let dry = lake.json(&["release", &file, "--dry-run"]);
    assert!(
        dry["files"][0]["released"][0]
            .as_str()
            .is_some_and(|r| r.starts_with("rejected at ingest")),
        "{dry}"
    );
    assert!(!lake.path().join("_lakejob/operations").exists());
    let released = lake.json(&["release", &file]);
    assert_eq!(released["dry_run"], false, "{released}");
    assert_eq!(
        std::fs::read_dir(lake.path().join("_lakejob/operations"))
            .unwrap()
            .count(),
        1
    );

    let landed = lake.json(&["ingest", "orders", &file]);
    assert_eq!(landed["files_ingested"], 1, "{landed}");
    let run = lake.json(&["run", "orders_etl"]);
    assert_eq!(run["rows_out"], 2, "{run}");

    let unknown = lake.lakejob(&["release", "raw/orders/nothing.csv"]);
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("the file ledger holds no file named raw/orders/nothing.csv"),
        "{unknown:?}"
    );
}

#[test]
fn files_without_a_row_change_no_table_and_are_not_read_again() {
    let job = orders_job(Some("%Y-%m-%d %H:%M:%S"), "");
    let (lake, _) = lake_with_orders(&job, "order_id,ordered_at,amount\r\n");
    let summary = lake.json(&["run", "orders_etl"]);
    assert_eq!(
        (
            &summary["status"],
            &summary["rows_in"],
            &summary["files_ingested"]
        ),
        (&"succeeded".into(), &0.into(), &1.into()),
        "{summary}"
    );
    assert_eq!(summary["tables"], serde_json::json!([]), "no empty commit");
    assert!(!lake.path().join("processed/orders").exists());
    let again = lake.json(&["run", "orders_etl"]);
    assert_eq!(
        (&again["files_ingested"], &again["files_skipped"]),
        (&0.into(), &1.into()),
        "{again}"
    );
}

#[test]
fn two_jobs_on_one_source_keep_their_rejects_in_quarantines_of_their_own() {
    let job = orders_job(Some("%Y-%m-%d %H:%M:%S"), "");
    let (lake, jobs) = lake_with_orders(&job, &orders_csv(100, 2));
    std::fs::write(
        format!("{jobs}/order_ids.yaml"),
        "name: order_ids\n\
         source:\n  name: orders\n  quarantine: order_ids_rejects\n  format: { type: csv }\n  \
         columns:\n    - { name: order_id, type: string, nullable: false }\n  \
         reject_when:\n    - { when: \"order_id = 'O00099'\", reason: \"order_id: the test order\" }\n\
         target: { zone: processed, table: order_ids, format: delta, mode: append }\n",
    )
    .unwrap();
    lake.json(&["run", "orders_etl"]);
    lake.json(&["run", "order_ids"]);
    let counts = lake.query(
        "SELECT (SELECT count(*) FROM quarantine.orders) AS orders, \
         (SELECT count(*) FROM quarantine.order_ids_rejects) AS order_ids",
    );
    assert_eq!(counts[0]["orders"], 2, "{counts:?}");
    assert_eq!(counts[0]["order_ids"], 1, "{counts:?}");
}
