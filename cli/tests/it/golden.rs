//! Golden outputs over the checked-in fixture: every dirty-row kind of docs/data.md lands in
//! quarantine with its reason, file and line; the clean rows come out as expected.
//! Refresh the expected files with `LAKEJOB_BLESS=1 cargo test golden`.

use std::path::Path;

use serde_json::Value;

use crate::support::{TestLake, workspace};

pub fn compare_with_golden(name: &str, rows: &[Value]) {
    let path = workspace()
        .join("sample-data/fixtures/expected")
        .join(format!("{name}.jsonl"));
    let actual: String = rows.iter().map(|row| format!("{row}\n")).collect();
    if std::env::var_os("LAKEJOB_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden folder"))
            .expect("create golden folder");
        std::fs::write(&path, &actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; create it with LAKEJOB_BLESS=1", path.display()));
    assert!(
        expected == actual,
        "{name} differs from {}:\n--- expected\n{expected}\n--- actual\n{actual}",
        Path::new(&path).display()
    );
}

#[test]
fn transaction_etl_on_the_fixture_matches_the_golden_outputs() {
    let lake = TestLake::with_fixture();
    let summary = lake.json(&["run", "transaction_etl", "--date", "2025-01-15"]);
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(
        (
            &summary["rows_in"],
            &summary["rows_out"],
            &summary["rows_rejected"],
            &summary["rows_duplicate"]
        ),
        (
            &Value::from(75),
            &Value::from(65),
            &Value::from(9),
            &Value::from(1)
        )
    );

    let quarantine = lake.query(
        "SELECT _line, transaction_id, unit_price, event_time, _reject_reason, _source_file, raw_date \
         FROM quarantine.transactions ORDER BY _line",
    );
    let reasons: Vec<&str> = quarantine
        .iter()
        .filter_map(|r| r["_reject_reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "quantity: 0 is not a valid quantity",
            "unit_price: 'N/A' is not a valid decimal(12,2)",
            "unit_price: required value is missing",
            "unit_price: '12,50' is not a valid decimal(12,2)",
            "event_time: 'not a timestamp' is not an RFC 3339 timestamp",
            "event_time: '2025-13-45T99:00:00Z' is not an RFC 3339 timestamp",
            "currency: 'JPY' is not one of EUR, GBP, INR, USD",
            "discount: outside 0 to quantity * unit_price",
            "the row has 11 fields, the header has 12",
        ]
    );
    compare_with_golden("quarantine.transactions", &quarantine);

    let processed = lake.query("SELECT * FROM processed.transactions ORDER BY transaction_id");
    let normalised = &processed[1];
    assert_eq!(
        (
            &normalised["currency"],
            &normalised["payment_method"],
            &normalised["status"]
        ),
        (
            &Value::from("EUR"),
            &Value::from("paypal"),
            &Value::from("completed")
        )
    );
    assert!(
        processed[2]["customer_id"].is_null(),
        "guest checkout stays null"
    );
    assert_eq!(processed[2]["is_return"], true);
    let late = processed
        .iter()
        .find(|r| r["transaction_id"] == "T000000000014")
        .expect("late row");
    assert_eq!(
        (&late["day"], &late["amount_usd"]),
        (&Value::from(14), &Value::from(8.0))
    );
    compare_with_golden("processed.transactions", &processed);

    let described = lake.json(&["describe", "processed.transactions"]);
    assert_eq!(
        described["definition"]["partition_columns"],
        serde_json::json!(["year", "month", "day"])
    );
    assert_eq!(
        described["partitions"],
        serde_json::json!([["2025", "1", "14"], ["2025", "1", "15"]])
    );
}
