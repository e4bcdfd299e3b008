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

/// A latin-1 export with `;`, CRLF, decimal commas with thousands dots, `m/d/yy H:MM` local
/// times in Paris (across both daylight-saving changes) and a second timestamp format.
fn european_orders() -> (String, Vec<u8>) {
    let job = "name: orders_etl\n\
         source:\n  name: orders\n  format: { type: csv, delimiter: \";\", encoding: latin1 }\n  \
         tolerance: { rejected_rows: 0.5 }\n  columns:\n    \
         - { name: order_id, type: string, nullable: false }\n    \
         - { name: customer, type: string }\n    \
         - name: ordered_at\n      type: timestamp\n      \
         format: [\"%m/%d/%y %H:%M\", \"%Y-%m-%d %H:%M\"]\n      timezone: Europe/Paris\n    \
         - { name: amount, type: \"decimal(10,2)\", decimal_separator: \",\", thousands_separator: \".\" }\n\
         target: { zone: processed, table: orders, format: delta, mode: append }\n";
    let text = "order_id;customer;ordered_at;amount\r\n\
                O1;José Müller ;3/30/24 9:05;1.234,50\r\n\
                O2;Zoë;3/31/24 2:30;12,00\r\n\
                O3;Ærøskøbing;10/27/24 2:30;7,5\r\n\
                O4;Ana;10/27/24 3:30;0,99\r\n\
                O5;Bo;2024-01-02 10:00;1,00\r\n\
                O6;Cy;2024-01-02 10:00;n/a\r\n";
    // Latin-1: each of these characters is one byte, its code point.
    let bytes = text
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    (job.to_string(), bytes)
}

#[test]
fn a_latin1_export_with_decimal_commas_and_local_times_loads_exactly() {
    let (job, bytes) = european_orders();
    let lake = TestLake::with_own_jobs();
    let day = lake.path().join("raw/orders/date=2024-03-30");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join("orders.csv"), bytes).unwrap();
    std::fs::write(lake.path().join("jobs/orders_etl.yaml"), job).unwrap();
    let jobs = lake.path().join("jobs").display().to_string();
    let validated = lake.lakejob(&["validate", &jobs]);
    assert!(validated.status.success(), "{validated:?}");
    let summary = lake.json(&["run", "orders_etl"]);
    assert_eq!(summary["status"], "succeeded", "{summary}");
    let rows = lake.query(
        "SELECT order_id, customer, CAST(to_unixtime(ordered_at) AS BIGINT) AS at, \
         CAST(amount AS VARCHAR) AS amount FROM processed.orders ORDER BY order_id",
    );
    let expected = serde_json::json!([
        // Free text keeps its trailing space; 09:05 in Paris in winter is 08:05 UTC.
        {"order_id": "O1", "customer": "José Müller ", "at": 1711785900, "amount": "1234.50"},
        // 02:30 happens twice when the clocks go back: its first pass, 00:30 UTC.
        {"order_id": "O3", "customer": "Ærøskøbing", "at": 1729989000, "amount": "7.50"},
        {"order_id": "O4", "customer": "Ana", "at": 1729996200, "amount": "0.99"},
        {"order_id": "O5", "customer": "Bo", "at": 1704186000, "amount": "1.00"},
    ]);
    assert_eq!(serde_json::Value::Array(rows), expected);
    let rejects = lake.query("SELECT _line, _reject_reason FROM quarantine.orders ORDER BY _line");
    assert_eq!(
        serde_json::Value::Array(rejects),
        serde_json::json!([
            {"_line": 3, "_reject_reason": "ordered_at: '3/31/24 2:30' does not exist in Europe/Paris (the clocks skip it)"},
            {"_line": 7, "_reject_reason": "amount: 'n/a' is not a valid decimal(10,2) with decimal separator ',' and thousands separator '.'"},
        ])
    );
}

#[test]
fn locale_options_are_checked_by_validate() {
    let lake = TestLake::with_own_jobs();
    std::fs::write(
        lake.path().join("jobs/orders_etl.yaml"),
        "name: orders_etl\n\
         source:\n  name: orders\n  format: { type: csv, encoding: klingon }\n  columns:\n    \
         - { name: at, type: timestamp, timezone: Mars/Olympus }\n    \
         - { name: local, type: timestamp, timezone: UTC }\n    \
         - { name: n, type: int64, decimal_separator: \",\" }\n    \
         - { name: x, type: float64, decimal_separator: \",\", thousands_separator: \",\" }\n    \
         - { name: d, type: date, format: [] }\n\
         target: { zone: processed, table: orders, format: delta, mode: append }\n",
    )
    .unwrap();
    let jobs = lake.path().join("jobs").display().to_string();
    let output = lake.lakejob(&["validate", &jobs]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "'klingon' is not an encoding lakejob knows",
        "'Mars/Olympus' is not an IANA time zone",
        "RFC 3339 timestamps carry their offset",
        "integer columns have no fraction",
        "must differ from decimal_separator",
        "an empty list",
    ] {
        assert!(said.contains(expected), "{expected:?} in {said}");
    }
}

/// Invoice lines as a US shop exports them: CRLF, `m/d/yy H:MM`, quoted prices with
/// thousands commas, free text with commas, empty customers, cancellations.
fn invoice_lines() -> String {
    let mut csv =
        "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\r\n"
            .to_string();
    for i in 0..600u64 {
        let quantity = if i % 50 == 7 {
            -((i % 5) as i64 + 1)
        } else {
            (i % 12) as i64 + 1
        };
        let (whole, cents) = ((i * 37) % 2400, (i * 13) % 100);
        let price = if whole >= 1000 {
            format!("\"{},{:03}.{cents:02}\"", whole / 1000, whole % 1000)
        } else {
            format!("{whole}.{cents:02}")
        };
        let customer = if i % 9 == 0 {
            String::new()
        } else {
            (12000 + i % 97).to_string()
        };
        csv.push_str(&format!(
            "{},{:05},\"Mug, {} colours \",{quantity},{}/{}/{} {}:{:02},{price},{customer},United Kingdom\r\n",
            536_365 + i / 4,
            i % 300,
            i % 7,
            i % 12 + 1,
            i % 28 + 1,
            10 + i % 2,
            i % 24,
            i % 60,
        ));
    }
    csv
}

/// Reviews with bodies over several lines and the commonest export timestamp form.
fn multi_line_reviews() -> String {
    let mut csv = "review_id,product_id,rating,title,body,created_at\n".to_string();
    for i in 0..200u64 {
        csv.push_str(&format!(
            "R{i:06},P{:04},{},\"Title {i}\",\"Line one, of {i}.\nLine two \"\"quoted\"\".\n\",2018-08-{:02} {:02}:{:02}:00\n",
            i % 37,
            i % 5 + 1,
            i % 28 + 1,
            i % 24,
            i % 60
        ));
    }
    csv
}

/// Runs `lakejob init`, ingest and the job on one export; returns what the job published,
/// by `sql` over `processed.<source>` (its columns named c1, c2... in order).
fn init_and_run(lake: &TestLake, source: &str, file: &std::path::Path, sql: &str) -> String {
    let jobs = lake.path().join("jobs").display().to_string();
    let file = file.display().to_string();
    let init = lake.lakejob(&["--jobs", &jobs, "init", source, &file]);
    assert!(init.status.success(), "{init:?}");
    let validated = lake.lakejob(&["validate", &jobs]);
    assert!(validated.status.success(), "{validated:?}");
    lake.json(&["--jobs", &jobs, "ingest", source, &file]);
    let summary = lake.json(&["--jobs", &jobs, "run", &format!("{source}_etl")]);
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(summary["rows_rejected"], 0, "{summary}");
    let rows = lake.query(&sql.replace("{table}", &format!("processed.{source}")));
    rows[0]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.to_string().trim_matches('"').to_string())
        .collect::<Vec<_>>()
        .join("|")
}

/// DuckDB's answer to `select` over the file read as text with `options`.
fn duckdb_over(file: &std::path::Path, options: &str, select: &str) -> String {
    crate::support::run_python(&format!(
        "import duckdb\n\
         row = duckdb.sql(\"\"\"SELECT {select} FROM read_csv('{}', all_varchar=true, header=true{options})\"\"\").fetchall()[0]\n\
         print('|'.join(str(v) for v in row))",
        file.display()
    ))
}

#[test]
fn init_infers_jobs_whose_numbers_equal_duckdb_reading_the_same_files() {
    let lake = TestLake::with_own_jobs();
    let exports = lake.path().join("exports");
    std::fs::create_dir_all(&exports).unwrap();

    let invoices = exports.join("invoices.csv");
    std::fs::write(&invoices, invoice_lines()).unwrap();
    let ours = init_and_run(
        &lake,
        "invoices",
        &invoices,
        "SELECT count(*) AS c1, CAST(sum(unit_price * quantity) AS VARCHAR) AS c2, \
         sum(CAST(to_unixtime(invoice_date) AS BIGINT)) AS c3, count(customer_id) AS c4, \
         sum(character_length(description)) AS c5 FROM {table}",
    );
    let theirs = duckdb_over(
        &invoices,
        "",
        "count(*), sum(CAST(replace(UnitPrice, ',', '') AS DECIMAL(18,2)) * CAST(Quantity AS BIGINT)), \
         sum(CAST(epoch(strptime(InvoiceDate, '%m/%d/%y %H:%M')) AS BIGINT)), count(CustomerID), \
         sum(length(Description))",
    );
    assert_eq!(ours, theirs);

    let european = exports.join("bestellungen.csv");
    let text: String = (0..300u64)
        .map(|i| {
            let kunde = ["Müller", "Jörg", "Ærø", "Zoë", "Ana"][(i % 5) as usize];
            format!(
                "{kunde};{},{:02};{:02}.{:02}.2024\n",
                i * 7 % 500,
                i % 100,
                i % 28 + 1,
                i % 12 + 1
            )
        })
        .collect();
    let latin1: Vec<u8> = format!("Kunde;Betrag;Datum\n{text}")
        .chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap())
        .collect();
    std::fs::write(&european, latin1).unwrap();
    let ours = init_and_run(
        &lake,
        "bestellungen",
        &european,
        "SELECT count(*) AS c1, CAST(sum(betrag) AS VARCHAR) AS c2, min(kunde) AS c3, \
         max(kunde) AS c4, sum(CAST(to_unixtime(CAST(datum AS TIMESTAMP)) AS BIGINT)) AS c5 \
         FROM {table}",
    );
    let theirs = duckdb_over(
        &european,
        ", delim=';', encoding='latin-1'",
        "count(*), sum(CAST(replace(Betrag, ',', '.') AS DECIMAL(18,2))), min(Kunde), max(Kunde), \
         sum(CAST(epoch(strptime(Datum, '%d.%m.%Y')) AS BIGINT))",
    );
    assert_eq!(ours, theirs);

    let reviews = exports.join("reviews.csv");
    std::fs::write(&reviews, multi_line_reviews()).unwrap();
    let ours = init_and_run(
        &lake,
        "shop_reviews",
        &reviews,
        "SELECT count(*) AS c1, sum(rating) AS c2, sum(character_length(body)) AS c3, \
         sum(CAST(to_unixtime(created_at) AS BIGINT)) AS c4 FROM {table}",
    );
    let theirs = duckdb_over(
        &reviews,
        "",
        "count(*), sum(CAST(rating AS BIGINT)), sum(length(body)), \
         sum(CAST(epoch(strptime(created_at, '%Y-%m-%d %H:%M:%S')) AS BIGINT))",
    );
    assert_eq!(ours, theirs);
}

#[test]
fn init_prints_without_writing_and_never_replaces_a_job_unasked() {
    let lake = TestLake::with_own_jobs();
    let file = lake.path().join("orders.csv");
    std::fs::write(&file, orders_csv(5, 0)).unwrap();
    let file = file.display().to_string();
    let jobs = lake.path().join("jobs").display().to_string();
    let printed = lake.lakejob(&["--jobs", &jobs, "init", "orders", &file, "--print"]);
    assert!(printed.status.success(), "{printed:?}");
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.contains("name: orders_etl") && text.contains("%Y-%m-%d %H:%M:%S"),
        "{text}"
    );
    assert!(!lake.path().join("jobs/orders_etl.yaml").exists());
    lake.json(&["--jobs", &jobs, "init", "orders", &file]);
    let again = lake.lakejob(&["--jobs", &jobs, "init", "orders", &file]);
    assert_eq!(again.status.code(), Some(2), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force replaces it"));
    let forced = lake.lakejob(&["--jobs", &jobs, "init", "orders", &file, "--force"]);
    assert!(forced.status.success(), "{forced:?}");
}

#[test]
fn a_dropped_table_is_built_again_from_its_raw_files() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "transaction_etl"]);
    let count = "SELECT count(*) AS n FROM processed.transactions";
    let before = lake.query(count);
    let dry = lake.json(&["drop", "processed.transactions", "--dry-run"]);
    assert_eq!(
        (&dry["dry_run"], &dry["catalog_entry"]),
        (&true.into(), &true.into()),
        "{dry}"
    );
    assert!(dry["files"].as_u64().unwrap() > 0, "{dry}");
    assert_eq!(lake.query(count), before, "a dry run changes nothing");

    lake.json(&["drop", "processed.transactions"]);
    assert!(!lake.path().join("processed/transactions").exists());
    let gone = lake.lakejob(&["describe", "processed.transactions"]);
    assert_eq!(gone.status.code(), Some(2), "{gone:?}");
    let operations = std::fs::read_dir(lake.path().join("_lakejob/operations")).unwrap();
    assert!(
        operations
            .flatten()
            .any(|f| f.file_name().to_string_lossy().contains("-drop-"))
    );

    let rebuilt = lake.json(&["run", "transaction_etl", "--reprocess"]);
    assert_eq!(rebuilt["status"], "succeeded", "{rebuilt}");
    assert_eq!(lake.query(count), before);

    for refused in ["processed.nope", "lakejob.file_ledger"] {
        let output = lake.lakejob(&["drop", refused]);
        assert_eq!(output.status.code(), Some(2), "{refused}: {output:?}");
    }
}

#[test]
fn a_delta_table_is_restored_to_an_earlier_version_and_the_restore_undone() {
    let lake = TestLake::with_fixture();
    let version_of = |summary: &serde_json::Value| {
        summary["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["table"] == "processed.products")
            .and_then(|t| t["version"].as_u64())
            .unwrap_or_else(|| panic!("{summary}"))
    };
    let all = "SELECT * FROM processed.products ORDER BY product_id";
    let first = version_of(&lake.json(&["run", "product_enrichment", "--date", "2025-01-15"]));
    let after_first = lake.query(all);
    let second = version_of(&lake.json(&["run", "product_enrichment", "--date", "2025-01-16"]));
    let after_second = lake.query(all);
    assert_ne!(after_first, after_second, "the second day changes products");

    let first_text = first.to_string();
    let dry = lake.json(&[
        "restore",
        "processed.products",
        "--version",
        &first_text,
        "--dry-run",
    ]);
    assert_eq!(dry["new_version"], serde_json::Value::Null, "{dry}");
    assert_eq!(lake.query(all), after_second, "a dry run changes nothing");

    let restored = lake.json(&["restore", "processed.products", "--version", &first_text]);
    assert_eq!(restored["version_before"], second, "{restored}");
    assert_eq!(lake.query(all), after_first);
    let undone = lake.json(&[
        "restore",
        "processed.products",
        "--version",
        &second.to_string(),
    ]);
    assert!(undone["new_version"].as_u64().unwrap() > second, "{undone}");
    assert_eq!(lake.query(all), after_second);

    let ahead = lake.lakejob(&["restore", "processed.products", "--version", "999"]);
    assert_eq!(ahead.status.code(), Some(2), "{ahead:?}");
    assert!(String::from_utf8_lossy(&ahead.stderr).contains("is not an earlier version"));
}

#[test]
fn a_value_that_makes_a_step_fail_is_bad_input_naming_the_step() {
    let lake = TestLake::with_fixture();
    lake.with_edited_job("transaction_etl", |text| {
        text.replace(
            "steps:\n",
            "steps:\n  - derive:\n      - { name: quantity, expr: \"CAST(quantity * 1000 AS TINYINT)\" }\n      - { name: country, expr: \"upper(country)\" }\n",
        )
    });
    let output = lake.lakejob(&["run", "transaction_etl"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("steps[0].derive[0] (quantity: CAST(quantity * 1000 AS TINYINT))")
            && !said.contains("steps[0].derive[1]")
            && !said.contains("gross_amount")
            && said.contains("TRY_CAST"),
        "{said}"
    );
    assert!(
        !lake.path().join("processed/transactions").exists(),
        "nothing published"
    );
}

#[test]
fn columns_that_may_not_be_null_are_described_so() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "transaction_etl"]);
    let described = lake.json(&["describe", "processed.transactions"]);
    let nullable = |name: &str| {
        described["definition"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["nullable"].clone())
            .unwrap_or_else(|| panic!("no {name} in {described}"))
    };
    // transaction_id is declared `nullable: false`; customer_id may be empty (guest checkout).
    assert_eq!(nullable("transaction_id"), false, "{described}");
    assert_eq!(nullable("customer_id"), true, "{described}");
    let text =
        String::from_utf8_lossy(&lake.lakejob(&["describe", "processed.transactions"]).stdout)
            .into_owned();
    assert!(text.contains("not null"), "{text}");
}

#[test]
fn a_rule_on_a_missing_column_is_reported_in_the_job_s_names() {
    let lake = TestLake::with_fixture();
    let jobs = lake.with_edited_job("reviews_etl", |text| {
        text.replace("column: rating, between", "column: ratingz, between")
    });
    let output = lake.lakejob(&["validate", &jobs.display().to_string()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("No field named ratingz") && said.contains("'rating'"),
        "{said}"
    );
    assert!(!said.contains("__validate_output"), "{said}");

    let jobs = lake.with_edited_job("reviews_etl", |text| {
        text.replace("character_length(body)", "character_length(bodyz)")
    });
    let output = lake.lakejob(&["validate", &jobs.display().to_string()]);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("No field named bodyz") && !said.contains("?table?"),
        "{said}"
    );
}
