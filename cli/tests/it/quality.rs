//! Quality gates on real runs: a corrupted day held back with a message that says what is wrong,
//! rule history feeding relative rules and the report's trend, and broken rules caught before
//! any data is read.

use std::path::Path;

use serde_json::Value;

use crate::support::TestLake;

/// Gives every tenth data row of a transactions CSV a product id no product has; returns how
/// many rows were changed.
fn inject_orphan_products(file: &Path) -> usize {
    let text = std::fs::read_to_string(file).expect("raw transactions");
    let mut changed = 0;
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(index, line)| {
            // The product id is the only field that is `P` and six digits.
            let position = line.match_indices(",P").find(|(at, _)| {
                line.get(at + 2..at + 9).is_some_and(|id| {
                    id[..6].bytes().all(|b| b.is_ascii_digit()) && id.ends_with(',')
                })
            });
            match position {
                Some((at, _)) if index > 0 && index % 10 == 0 => {
                    changed += 1;
                    format!("{},P999999{}", &line[..at], &line[at + 8..])
                }
                _ => line.to_string(),
            }
        })
        .collect();
    std::fs::write(file, lines.join("\n") + "\n").expect("rewrite raw file");
    changed
}

fn rule<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["quality"]["rules"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["rule"] == name))
        .unwrap_or_else(|| panic!("no rule '{name}' in {summary}"))
}

#[test]
fn a_day_with_ten_percent_orphan_products_fails_the_gate_and_publishes_nothing() {
    let lake = TestLake::new();
    lake.json(&["sample", "generate", "--scale", "0.003", "--days", "3"]);
    lake.json(&["run", "product_enrichment"]);
    let first = lake.json(&["run", "transaction_etl", "--date", "2025-01-01"]);
    assert_eq!(first["status"], "succeeded", "{first}");
    let orphans = rule(&first, "orphan product ids stay rare");
    assert_eq!(orphans["outcome"], "passed", "{orphans}");
    assert!(orphans["observed"].as_f64().unwrap() > 0.995);

    let raw = lake
        .path()
        .join("raw/transactions/date=2025-01-02/transactions_2025-01-02.csv");
    assert!(inject_orphan_products(&raw) > 90);
    let output = lake.lakejob(&[
        "run",
        "transaction_etl",
        "--date",
        "2025-01-02",
        "--output",
        "json",
    ]);
    assert_eq!(output.status.code(), Some(3), "exit 3: the gate held");
    let second: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(second["status"], "quality_failed");
    let failures = second["quality"]["failed_rules"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    let message = failures[0].as_str().unwrap();
    assert!(
        message.starts_with("orphan product ids stay rare: observed 0.")
            && message.contains("wanted >= 0.995 (10.")
            && message.contains("% of product_id values are not in processed.products.product_id"),
        "{message}"
    );
    let orphans = rule(&second, "orphan product ids stay rare")["observed"]
        .as_f64()
        .unwrap();
    assert!(
        (0.88..0.91).contains(&orphans),
        "about 10% orphans: {orphans}"
    );
    // The previous published run is the baseline of the relative rule.
    let swing = rule(&second, "row count within 50% of the previous run");
    assert_eq!(
        swing["threshold"],
        format!("within 50% of {} (previous run)", first["rows_out"]),
        "{swing}"
    );

    let published = lake.query(
        "SELECT count(*) AS n FROM processed.transactions WHERE event_date = DATE '2025-01-02'",
    );
    assert_eq!(published[0]["n"], 0, "the curated zone is not updated");
    // Nothing was staged for a commit: no record of a run to finish, no staged files.
    assert!(lake.nothing_pending("transaction_etl"));
    let staged = std::fs::read_dir(lake.path().join("processed/transactions"))
        .unwrap()
        .filter(|entry| {
            let entry = entry.as_ref().unwrap();
            entry.file_name().to_string_lossy().starts_with("_staging")
        })
        .count();
    assert_eq!(staged, 0, "a failed gate leaves no staged file");
    let recorded = lake.query(
        "SELECT outcome, detail FROM lakejob.quality_results \
         WHERE rule = 'orphan product ids stay rare' ORDER BY evaluated_at",
    );
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1]["outcome"], "failed");

    // The HTML report names the failure and draws both runs.
    let html_url = second["quality"]["report"]["html"].as_str().unwrap();
    let html = std::fs::read_to_string(html_url.trim_start_matches("file://")).expect("report");
    assert!(html.contains("gate failed") && html.contains("orphan product ids stay rare"));
    assert_eq!(html.matches("<circle").count(), 4, "two runs in two charts");
    let json_url = second["quality"]["report"]["json"].as_str().unwrap();
    let json: Value = serde_json::from_slice(
        &std::fs::read(json_url.trim_start_matches("file://")).expect("JSON report"),
    )
    .unwrap();
    assert_eq!(json["quality"]["score"], second["quality"]["score"]);

    // The text summary says the same to a person, and the files stay unprocessed: fixing the
    // day and running again publishes it.
    let text = lake.lakejob(&["run", "transaction_etl", "--date", "2025-01-02"]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("orphan product ids stay rare: observed 0.") && stdout.contains(".html"),
        "{stdout}"
    );
}

#[test]
fn quality_check_evaluates_a_tables_rules_on_demand_with_freshness_at_a_date_or_now() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "reviews_etl"]);
    let report = lake.json(&[
        "quality",
        "check",
        "processed.reviews",
        "--date",
        "2025-01-15",
    ]);
    assert_eq!(
        (&report["passed"], &report["score"]),
        (&serde_json::json!(true), &serde_json::json!(1.0)),
        "{report}"
    );
    assert_eq!(report["rules"].as_array().unwrap().len(), 6);
    let now = lake.lakejob(&["quality", "check", "processed.reviews"]);
    assert_eq!(
        now.status.code(),
        Some(3),
        "2025's reviews are not fresh today"
    );
    let stdout = String::from_utf8_lossy(&now.stdout);
    assert!(
        stdout.contains("FAIL the newest review is at most 36 hours old")
            && stdout.contains("hours old"),
        "{stdout}"
    );
    let unknown = lake.lakejob(&["quality", "check", "processed.nothing"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no job writes processed.nothing"));
    let not_written = lake.lakejob(&["quality", "check", "processed.products"]);
    assert_eq!(
        not_written.status.code(),
        Some(2),
        "the job exists, its table does not yet"
    );
}

#[test]
fn a_rule_on_a_missing_column_or_table_fails_validation_not_the_run() {
    let lake = TestLake::with_fixture();
    let folder = lake.with_edited_job("transaction_etl", |t| {
        t.replace(
            "column: product_id, table: processed.products",
            "column: product_key, table: products",
        )
        .replace("column: amount_usd }", "column: amount_eur }")
    });
    let output = lake.lakejob(&["validate", "--jobs", &folder.display().to_string()]);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{printed}");
    for wanted in [
        "quality.rules[4]: quality rule 'orphan product ids stay rare': check.table: 'products' is not a table name",
        "quality.rules[1]: quality rule 'every row has a USD amount' cannot be evaluated: Schema error: No field named amount_eur",
    ] {
        assert!(printed.contains(wanted), "{wanted}: {printed}");
    }
    assert!(!lake.path().join("processed").exists());
}
