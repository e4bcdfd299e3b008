//! transaction_etl end to end on generated data: accounting, idempotence, and an independent
//! reader agreeing with our own.

use serde_json::Value;

use crate::support::{TestLake, run_python};

fn number(value: &Value) -> u64 {
    value
        .as_u64()
        .unwrap_or_else(|| panic!("not a count: {value}"))
}

/// The sum of a decimal column as text, as our query engine prints it.
pub(crate) fn sum_text(lake: &TestLake, sql: &str) -> String {
    let rows = lake.query(sql);
    match &rows[0]["total"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn a_generated_day_is_accounted_for_idempotent_and_readable_by_deltalake() {
    let lake = TestLake::new();
    let generated = lake.json(&["sample", "generate", "--scale", "0.003", "--days", "3"]);
    assert_eq!(number(&generated["records"]["transactions"]), 3000);

    let first = lake.json(&["run", "transaction_etl", "--date", "2025-01-02"]);
    assert_eq!(first["status"], "succeeded", "{first}");
    let (rows_in, out, rejected, duplicate) = (
        number(&first["rows_in"]),
        number(&first["rows_out"]),
        number(&first["rows_rejected"]),
        number(&first["rows_duplicate"]),
    );
    assert_eq!(rows_in, 1000, "one day of three at scale 0.003");
    assert_eq!(rows_in, out + rejected + duplicate);
    assert!(
        duplicate > 0 && rejected > 0,
        "the generator injects both: {first}"
    );
    assert_eq!(number(&first["files_ingested"]), 1);

    let count = |sql: &str| number(&lake.query(sql)[0]["n"]);
    assert_eq!(
        count("SELECT count(*) AS n FROM processed.transactions"),
        out
    );
    assert_eq!(
        count("SELECT count(DISTINCT transaction_id) AS n FROM processed.transactions"),
        out
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM quarantine.transactions"),
        rejected
    );
    let sum_sql = "SELECT CAST(sum(amount_usd) AS VARCHAR) AS total FROM processed.transactions";
    let total = sum_text(&lake, sum_sql);

    // The same date again: its file was processed, so nothing is read.
    let skipped = lake.json(&["run", "transaction_etl", "--date", "2025-01-02"]);
    assert_eq!(
        (
            number(&skipped["rows_in"]),
            number(&skipped["files_skipped"])
        ),
        (0, 1),
        "{skipped}"
    );

    // The same inputs again, forced: nothing changes.
    let again = lake.json(&[
        "run",
        "transaction_etl",
        "--date",
        "2025-01-02",
        "--reprocess",
    ]);
    for field in ["rows_in", "rows_out", "rows_rejected", "rows_duplicate"] {
        assert_eq!(again[field], first[field], "{field}");
    }
    assert_eq!(again["tables"][0]["rows_inserted"], 0, "{again}");
    assert_eq!(again["tables"][0]["rows_updated"], 0, "{again}");
    assert_eq!(
        count("SELECT count(*) AS n FROM processed.transactions"),
        out
    );
    assert_eq!(
        count("SELECT count(*) AS n FROM quarantine.transactions"),
        rejected
    );
    assert_eq!(sum_text(&lake, sum_sql), total);

    // An independent reader (delta-rs through Python, as Athena or Spark would) agrees.
    let table = lake.path().join("processed/transactions");
    let seen = run_python(&format!(
        "import deltalake, pyarrow.compute as pc\n\
         t = deltalake.DeltaTable({table:?}).to_pyarrow_table()\n\
         print(t.num_rows, pc.sum(t['amount_usd']).as_py(), t.schema.field('event_time').type)",
        table = table.display().to_string()
    ));
    assert_eq!(seen, format!("{out} {total} timestamp[us, tz=UTC]"));

    // Another date adds to the table; the first date's rows stay.
    let second = lake.json(&["run", "transaction_etl", "--date", "2025-01-03"]);
    assert_eq!(
        count("SELECT count(*) AS n FROM processed.transactions"),
        out + number(&second["rows_out"])
    );
    let tables = lake.json(&["tables"]);
    let names: Vec<&str> = tables
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["table"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "lakejob.file_ledger",
            "lakejob.quality_results",
            "processed.transactions",
            "quarantine.transactions"
        ]
    );
}

#[test]
fn generation_is_byte_identical_for_a_seed() {
    let (a, b) = (TestLake::new(), TestLake::new());
    for lake in [&a, &b] {
        lake.json(&[
            "sample", "generate", "--scale", "0.001", "--days", "2", "--seed", "7",
        ]);
    }
    let file = "raw/reviews/date=2025-01-02/reviews_2025-01-02.csv";
    let read = |lake: &TestLake| std::fs::read(lake.path().join(file)).expect("generated file");
    assert_eq!(read(&a), read(&b));
}

#[test]
fn debug_logging_shows_the_executed_plans_and_the_raw_files_are_parsed_once() {
    let lake = TestLake::new();
    lake.json(&["sample", "generate", "--scale", "0.003", "--days", "1"]);
    let output = lake.lakejob(&["-vv", "--output", "json", "run", "transaction_etl"]);
    assert!(output.status.success(), "{output:?}");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("plan executed") && log.contains("output_rows="),
        "the executed plan with its metrics: {log}"
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("the run's JSON summary");
    assert!(
        summary["rows_duplicate"].as_u64().unwrap_or(0) > 0,
        "the sample repeats keys: {summary}"
    );
    // The raw files are parsed once, into staged rows that dedupe reads again to find the
    // repeated keys; only those keys' rows are ranked (an aggregate, which can spill).
    assert_eq!(log.matches("RawScanExec:").count(), 1, "{log}");
    assert!(log.contains("first_value"), "{log}");
}

#[test]
fn a_feed_without_repeated_keys_keeps_every_row_and_dedupe_joins_nothing() {
    let lake = TestLake::new();
    lake.json(&["sample", "generate", "--scale", "0.001", "--days", "1"]);
    let raw = lake.path().join("raw/transactions");
    std::fs::remove_dir_all(&raw).expect("generated transactions");
    let day = raw.join("date=2025-01-01");
    std::fs::create_dir_all(&day).expect("raw folder");
    let rows: String = (1..=3)
        .map(|i| {
            format!("T{i:012},O{i:010},C00000001,P000001,1,10.00,0.00,USD,card,completed,US,2025-01-01T10:0{i}:00Z\n")
        })
        .collect();
    std::fs::write(
        day.join("transactions_2025-01-01.csv"),
        format!("transaction_id,order_id,customer_id,product_id,quantity,unit_price,discount,currency,payment_method,status,country,event_time\n{rows}"),
    )
    .expect("raw file");
    let output = lake.lakejob(&["-vv", "--output", "json", "run", "transaction_etl"]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("plan executed"), "{log}");
    assert!(!log.contains("HashJoinExec"), "{log}");
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["rows_in"], 3, "{summary}");
    assert_eq!(summary["rows_out"], 3, "{summary}");
    assert_eq!(summary["rows_duplicate"], 0, "{summary}");
}

#[test]
fn query_output_keeps_nulls_says_no_rows_and_survives_a_closed_pipe() {
    let lake = TestLake::new();
    let rows = lake.json(&["query", "SELECT 1 AS a, CAST(NULL AS VARCHAR) AS b"]);
    assert_eq!(rows, serde_json::json!([{"a": 1, "b": null}]));
    let none = lake.lakejob(&["query", "SELECT 1 AS a WHERE false"]);
    let text = String::from_utf8_lossy(&none.stdout);
    assert!(none.status.success() && !text.contains("++"), "{text}");
    // A reader that stops early (`| head`) ends the output without a panic (exit 101).
    let mut child = lake
        .command(&["query", "SELECT * FROM generate_series(1, 300000)"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
