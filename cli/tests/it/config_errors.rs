//! Bad job files fail before any data is written, with messages that name the field.

use std::path::Path;

use crate::support::TestLake;

/// The shipped transaction job with `edit` applied, in `<lake>/jobs/`.
fn job_with(lake: &TestLake, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    lake.with_edited_job("transaction_etl", edit)
}

fn run_with_jobs(lake: &TestLake, folder: &Path) -> (i32, String) {
    let output = lake.lakejob(&[
        "run",
        "transaction_etl",
        "--date",
        "2025-01-15",
        "--jobs",
        &folder.display().to_string(),
    ]);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_nothing_written(lake: &TestLake) {
    for zone in ["processed", "quarantine"] {
        assert!(
            !lake.path().join(zone).exists(),
            "{zone} was written despite a bad job"
        );
    }
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| t.replace("  partition_by:", "  partiton_by:"));
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("transaction_etl.yaml") && stderr.contains("unknown field `partiton_by`"),
        "{stderr}"
    );
    assert!(stderr.contains("line"), "{stderr}");
    assert_nothing_written(&lake);
}

#[test]
fn a_missing_source_is_named() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| {
        t.replacen(
            "source:\n  name: transactions",
            "sauce:\n  name: transactions",
            1,
        )
    });
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("sauce") || stderr.contains("missing field `source`"),
        "{stderr}"
    );
    assert_nothing_written(&lake);
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| {
        t.replace(
            "type: \"decimal(12,2)\", nullable: false }\n    - { name: discount",
            "type: \"decimel(12,2)\", nullable: false }\n    - { name: discount",
        )
        .replace("expr: \"quantity < 0\"", "expr: \"quantity <<< 0\"")
        .replace(
            "partition_by: [year, month, day]",
            "partition_by: [year, month, hour]",
        )
    });
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    for expected in [
        "source.columns[5] (unit_price).type: unknown type 'decimel(12,2)'",
        "steps[2].derive[3] (is_return)",
        "target.partition_by: 'hour' is not an output column",
    ] {
        assert!(
            stderr.contains(expected),
            "missing «{expected}» in:\n{stderr}"
        );
    }
    assert_nothing_written(&lake);

    // `lakejob validate` reports the same, for the file and the shipped jobs alike.
    let output = lake.lakejob(&["validate", &folder.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("error")).count(),
        3,
        "{stdout}"
    );
    let shipped = lake
        .command(&["validate"])
        .env_remove("LAKEJOB_JOBS")
        .output()
        .unwrap();
    assert!(
        shipped.status.success(),
        "{}",
        String::from_utf8_lossy(&shipped.stdout)
    );
}

#[test]
fn a_join_on_a_misspelled_column_is_named() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| t.replace("on: [currency]", "on: [curency]"));
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("steps[1]") && stderr.contains("on: 'curency' is not a column of the rows"),
        "{stderr}"
    );
    assert_nothing_written(&lake);
}

#[test]
fn parquet_targets_write_hive_partitions_and_refuse_merge() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| t.replace("format: delta\n", "format: parquet\n"));
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("target.mode: merge needs format delta"),
        "{stderr}"
    );

    let folder = job_with(&lake, |t| {
        t.replace("format: delta\n", "format: parquet\n").replace(
            "  mode: merge\n  key: [transaction_id]\n",
            "  mode: overwrite_partitions\n",
        )
    });
    let count = || lake.query("SELECT count(*) AS n FROM processed.transactions")[0]["n"].clone();
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 0, "{stderr}");
    let first = count();
    let rerun = lake.lakejob(&[
        "run",
        "transaction_etl",
        "--date",
        "2025-01-15",
        "--reprocess",
        "--jobs",
        &folder.display().to_string(),
    ]);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(count(), first, "a re-run replaces the partitions it writes");
    assert!(
        lake.path()
            .join("processed/transactions/year=2025/month=1/day=15")
            .is_dir()
    );
    let seen = crate::support::run_python(&format!(
        "import duckdb\n\
         print(duckdb.sql(\"SELECT count(*), sum(amount_usd) FROM read_parquet('{}/**/*.parquet', hive_partitioning=true) WHERE day = 15\").fetchall()[0])",
        lake.path().join("processed/transactions").display()
    ));
    let ours = lake.query("SELECT count(*) AS n, CAST(sum(amount_usd) AS VARCHAR) AS total FROM processed.transactions WHERE day = 15");
    assert_eq!(
        seen,
        format!(
            "({}, Decimal('{}'))",
            ours[0]["n"],
            ours[0]["total"].as_str().unwrap_or_default()
        )
    );
}

#[test]
fn what_a_job_reads_and_how_it_merges_are_checked() {
    let lake = TestLake::new();
    let folder = lake.path().join("jobs");
    std::fs::create_dir_all(&folder).unwrap();
    let shipped = |job: &str| {
        std::fs::read_to_string(
            crate::support::workspace().join(format!("jobs/definitions/{job}.yaml")),
        )
        .unwrap()
    };
    let both = shipped("transaction_etl")
        .replace("name: transaction_etl\n", "name: both\nquery: SELECT 1\n");
    let neither =
        "name: neither\ntarget: { zone: curated, table: t, format: delta, mode: overwrite }\n";
    let update_when = shipped("product_ratings")
        .replace("name: product_ratings\n", "name: update_when\n")
        .replace(
            "  mode: overwrite\n",
            "  mode: overwrite\n  update_when: source.a > target.a\n",
        );
    let size = shipped("reviews_etl")
        .replace("name: reviews_etl\n", "name: size\n")
        .replace("    type: csv\n", "    type: csv\n  max_file_size: lots\n");
    for (file, text) in [
        ("both.yaml", both.as_str()),
        ("neither.yaml", neither),
        ("update_when.yaml", &update_when),
        ("size.yaml", &size),
    ] {
        std::fs::write(folder.join(file), text).unwrap();
    }
    let output = lake.lakejob(&["validate", &folder.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "job both: query: a job reads a source or a query, not both",
        "job neither: source: a job reads a source (raw files) or a query (catalog tables)",
        "job update_when: target.update_when: only used by mode merge",
        "job size: source.max_file_size: 'lots' is not a size",
    ] {
        assert!(
            stdout.contains(expected),
            "missing «{expected}» in:\n{stdout}"
        );
    }
}

#[test]
fn a_job_cannot_reach_outside_the_lake() {
    let lake = TestLake::with_fixture();
    let outside = lake.path().parent().unwrap().join("lakejob-leak.csv");
    for (job, edit, said) in [
        (
            "transaction_etl",
            "    path: ../../etc/passwd",
            "must be a path inside the lake",
        ),
        (
            "transaction_etl",
            "    path: /etc/passwd",
            "must be a path inside the lake",
        ),
        (
            "transaction_etl",
            "    path: s3://someone-elses-bucket/fx_rates.csv",
            "must be a path inside the lake",
        ),
    ] {
        let folder =
            lake.with_edited_job(job, |t| t.replace("    path: reference/fx_rates.csv", edit));
        let (code, stderr) = run_with_jobs(&lake, &folder);
        assert_eq!(code, 2, "{edit}: {stderr}");
        assert!(stderr.contains(said), "{edit}: {stderr}");
        assert_nothing_written(&lake);
    }
    // SQL in a job reads tables; it never writes files or creates tables over other paths.
    for hostile in [
        format!(
            "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
            outside.display()
        ),
        "CREATE EXTERNAL TABLE leak (line VARCHAR) STORED AS CSV LOCATION '/etc/hostname'".into(),
    ] {
        let folder = lake.with_edited_job("sales_daily", |t| {
            let start = t.find("query: |").unwrap();
            let end = t[start..].find("\n\n").map_or(t.len(), |e| start + e);
            format!("{}query: \"{hostile}\"{}", &t[..start], &t[end..])
        });
        let output = lake.lakejob(&["validate", &folder.display().to_string()]);
        let said = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(2), "{hostile}: {said}");
        assert!(said.contains("only a query"), "{hostile}: {said}");
        let run = lake.lakejob(&[
            "run",
            "sales_daily",
            "--date",
            "2025-01-15",
            "--jobs",
            &folder.display().to_string(),
        ]);
        assert_ne!(run.status.code(), Some(0), "{hostile}");
        assert!(!outside.exists(), "{hostile} wrote outside the lake");
    }
}

#[test]
fn a_value_a_derive_cannot_cast_is_bad_input_not_a_retry() {
    let lake = TestLake::with_fixture();
    // An order line of 100.00 does not fit DECIMAL(4,2): the same data fails every time.
    let folder = job_with(&lake, |t| {
        t.replace(
            "CAST(quantity * unit_price AS DECIMAL(14,2))",
            "CAST(quantity * unit_price AS DECIMAL(4,2))",
        )
    });
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("transaction_etl") && stderr.contains("Decimal128"),
        "{stderr}"
    );
    assert!(
        !lake.path().join("processed").exists(),
        "nothing was written"
    );
    // For machines: the failed run's summary, printed and kept in the run log.
    let output = lake.lakejob(&[
        "run",
        "transaction_etl",
        "--jobs",
        &folder.display().to_string(),
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["status"], "failed", "{summary}");
    assert_eq!(summary["error"]["class"], "bad_input", "{summary}");
    assert!(
        summary["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Decimal128")),
        "{summary}"
    );
    let kept = lake.path().join(format!(
        "_lakejob/runs/transaction_etl/{}.json",
        summary["run_id"].as_str().unwrap()
    ));
    let kept: serde_json::Value = serde_json::from_slice(&std::fs::read(kept).unwrap()).unwrap();
    assert_eq!(kept["status"], "failed");
}

#[test]
fn validate_finds_what_a_run_would_trip_on_all_at_once() {
    let lake = TestLake::with_fixture();
    let long_name = "t".repeat(300);
    let folder = job_with(&lake, |t| {
        t.replace("between: [0, 1000000]", "between: [10, 1]")
            .replace("matches: \"P[0-9]{6}\"", "matches: \"(a{1000}){1000}\"")
            .replace("column: event_time, max_age", "column: currency, max_age")
            .replace("min: 0.98", "min: 1.5")
            .replace("  table: transactions\n", &format!("  table: {long_name}\n"))
            .replace(
                "  key: [transaction_id]\n  columns:",
                "  key: [transaction_id]\n  update_when: source.no_such_column > target.event_time\n  columns:",
            )
            .replace(
                "- { name: event_time, type: timestamp, nullable: false }",
                "- { name: event_time, type: timestamp, nullable: false, format: \"%Q\" }",
            )
    });
    let output = lake.lakejob(&["validate", &folder.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "check.between: [10, 1] is empty",
        "check.matches:",
        "'currency' holds Utf8; data_freshness measures a timestamp or date column",
        "check.min: 1.5 is not a share between 0 and 1",
        "target.table: 'tttt",
        "at most 128 characters",
        "target.update_when:",
        "no_such_column",
        "'%Q' is not a chrono format",
    ] {
        assert!(
            stdout.contains(expected),
            "missing «{expected}» in:\n{stdout}"
        );
    }
}

#[test]
fn a_job_file_nested_too_deep_is_refused_at_once() {
    let lake = TestLake::with_fixture();
    let folder = lake.path().join("deep");
    std::fs::create_dir_all(&folder).unwrap();
    let depth = 100_000;
    let text = format!("name: {}x{}\n", "[".repeat(depth), "]".repeat(depth));
    std::fs::write(folder.join("deep.yaml"), text).unwrap();
    let output = lake.lakejob(&["validate", &folder.join("deep.yaml").display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("deep.yaml") && said.contains("nests 100000 levels deep"),
        "{said}"
    );
}

#[test]
fn parquet_partition_values_read_back_as_they_were_written() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "transaction_etl"]);
    let folder = lake.path().join("odd-jobs");
    std::fs::create_dir_all(&folder).unwrap();
    // Special characters, an empty string and NULL apart, as text and as a date.
    let tag = "CASE payment_method WHEN 'card' THEN 'a/b' WHEN 'paypal' THEN '50%' \
               WHEN 'upi' THEN 'x y#1' WHEN 'cod' THEN '' END";
    let day = "CASE WHEN payment_method = 'gift_card' THEN NULL ELSE DATE '2024-02-29' END";
    let select = format!(
        "SELECT {tag} AS tag, {day} AS day, count(*) AS n FROM processed.transactions GROUP BY 1, 2"
    );
    std::fs::write(
        folder.join("odd_partitions.yaml"),
        format!(
            "name: odd_partitions\n\
             query: |\n  {select}\n\
             target:\n  zone: curated\n  table: odd_partitions\n  format: parquet\n  \
             partition_by: [tag, day]\n  mode: overwrite_partitions\n"
        ),
    )
    .unwrap();
    let jobs = folder.display().to_string();
    // The second run replaces each partition it writes, special characters or not.
    for _ in 0..2 {
        lake.json(&["run", "odd_partitions", "--jobs", &jobs]);
    }
    let read = "SELECT tag, CAST(day AS VARCHAR) AS day, tag IS NULL AS no_tag, \
                day IS NULL AS no_day, n FROM {} ORDER BY tag, day";
    let written = lake.query(&read.replace("{}", "curated.odd_partitions"));
    let expected = lake.query(&read.replace("{}", &format!("({select}) AS s")));
    assert_eq!(written, expected);
    assert_eq!(
        lake.query(
            "SELECT count(*) AS n FROM curated.odd_partitions WHERE tag IS NULL AND day IS NULL"
        ),
        vec![serde_json::json!({"n": 1})],
        "NULL partitions filter as NULL"
    );
    let table = lake.path().join("curated/odd_partitions");
    assert!(table.join("tag=a%2Fb").is_dir(), "'/' encoded once");
    assert!(
        table
            .join("tag=__HIVE_DEFAULT_PARTITION__/day=__HIVE_DEFAULT_PARTITION__")
            .is_dir(),
        "NULL is spelled the way Hive, Athena and Spark read it"
    );
    assert!(table.join("tag=/day=2024-02-29").is_dir(), "'' stays ''");
}

#[test]
fn text_output_has_no_colours_off_a_terminal_and_says_when_a_result_is_empty() {
    let lake = TestLake::with_fixture();
    // stderr is a pipe here: the run's log lines (-v) carry no ANSI escapes.
    let output = lake.lakejob(&["-v", "query", "SELECT 1 AS a WHERE false"]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "(no rows)");
    let run = lake.lakejob(&["-v", "run", "transaction_etl"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!stderr.is_empty() && !stderr.contains('\u{1b}'), "{stderr}");
}
