//! `lakejob pipeline run daily`: every stage on the fixture, curated numbers checked against
//! DuckDB over the raw files, a failing stage stopping its dependants, and a re-run reading
//! nothing new.

use std::path::Path;

use serde_json::{Value, json};

use crate::golden::compare_with_golden;
use crate::support::{TestLake, run_python, workspace};

/// `lakejob pipeline run daily --jobs <folder>`: its exit code and JSON summary.
fn daily_with_jobs(lake: &TestLake, jobs: &Path) -> (Option<i32>, Value) {
    let folder = jobs.display().to_string();
    let output = lake.lakejob(&[
        "pipeline", "run", "daily", "--output", "json", "--jobs", &folder,
    ]);
    let summary = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), summary)
}

fn stage_statuses(summary: &Value) -> Vec<(String, String)> {
    summary["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["stage"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_daily_pipeline_fills_the_curated_zone_with_numbers_duckdb_agrees_with() {
    let lake = TestLake::with_fixture();
    let summary = lake.json(&["pipeline", "run", "daily"]);
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert!(
        stage_statuses(&summary)
            .iter()
            .all(|(_, status)| status == "succeeded")
    );

    let ours = lake.query(
        "SELECT CAST(sum(revenue_usd) AS VARCHAR) AS revenue, sum(units) AS units, sum(returns) AS returns FROM curated.sales_daily",
    );
    // DuckDB applies docs/data.md's rules to the raw CSV by itself.
    let raw = workspace().join("sample-data/fixtures/lake");
    let theirs = run_python(&format!(
        "import duckdb\n\
         print(duckdb.sql(\"\"\"\n\
         WITH raw AS (SELECT * FROM read_csv('{raw}/raw/transactions/*/*.csv', all_varchar=true, header=true, ignore_errors=true)),\n\
         typed AS (SELECT DISTINCT transaction_id, order_id, NULLIF(trim(customer_id), '') AS customer_id, trim(product_id) AS product_id, TRY_CAST(quantity AS BIGINT) AS q, TRY_CAST(unit_price AS DECIMAL(12,2)) AS p,\n\
                          TRY_CAST(discount AS DECIMAL(12,2)) AS d, upper(trim(currency)) AS currency, lower(trim(status)) AS status,\n\
                          TRY_CAST(event_time AS TIMESTAMPTZ) AS t, lower(trim(payment_method)) AS pm, upper(trim(country)) AS country\n\
                   FROM raw),\n\
         valid AS (SELECT * FROM typed WHERE q IS NOT NULL AND q <> 0 AND p IS NOT NULL AND p >= 0 AND d IS NOT NULL AND d >= 0\n\
                     AND NOT (q > 0 AND d > q * p) AND t IS NOT NULL AND currency IN ('USD','EUR','GBP','INR')\n\
                     AND status IN ('completed','pending','cancelled','refunded') AND pm IN ('card','paypal','upi','cod','gift_card')\n\
                     AND regexp_full_match(country, '[A-Z]{{2}}') AND regexp_full_match(transaction_id, 'T[0-9]{{12}}')),\n\
         fx AS (SELECT * FROM read_csv('{raw}/reference/fx_rates.csv', header=true, columns={{'currency': 'VARCHAR', 'rate': 'DECIMAL(18,6)'}})),\n\
         usd AS (SELECT v.*, CAST(CAST(CAST(q * p AS DECIMAL(14,2)) - d AS DECIMAL(14,2)) * fx.rate AS DECIMAL(16,2)) AS amount_usd\n\
                 FROM valid v JOIN fx USING (currency) WHERE status <> 'cancelled'),\n\
         products AS (SELECT DISTINCT product_id FROM read_json('{raw}/raw/products/*/*.jsonl', format='newline_delimited', ignore_errors=true,\n\
                        columns={{'product_id': 'VARCHAR', 'price': 'DOUBLE'}}) WHERE product_id IS NOT NULL AND price >= 0)\n\
         SELECT sum(amount_usd), sum(CASE WHEN q > 0 THEN q ELSE 0 END), count(*) FILTER (q < 0),\n\
                count(DISTINCT customer_id), sum(amount_usd) FILTER (customer_id IS NOT NULL),\n\
                sum(CASE WHEN q > 0 THEN q ELSE 0 END) FILTER (product_id IN (SELECT product_id FROM products)),\n\
                sum(amount_usd) FILTER (product_id IN (SELECT product_id FROM products)) FROM usd\"\"\").fetchall()[0])",
        raw = raw.display()
    ));
    let customers = lake.query(
        "SELECT count(*) AS n, CAST(sum(lifetime_value_usd) AS VARCHAR) AS value FROM curated.customer_summary",
    );
    let products = lake.query(
        "SELECT sum(units_sold) AS units, CAST(sum(revenue_usd) AS VARCHAR) AS revenue FROM curated.product_performance",
    );
    assert_eq!(
        theirs,
        format!(
            "(Decimal('{}'), {}, {}, {}, Decimal('{}'), {}, Decimal('{}'))",
            ours[0]["revenue"].as_str().unwrap(),
            ours[0]["units"],
            ours[0]["returns"],
            customers[0]["n"],
            customers[0]["value"].as_str().unwrap(),
            products[0]["units"],
            products[0]["revenue"].as_str().unwrap()
        )
    );

    let performance = lake.query("SELECT product_id, units_sold, views, review_count FROM curated.product_performance ORDER BY product_id");
    assert_eq!(
        performance[0],
        json!({"product_id": "P000001", "units_sold": 5, "views": 1, "review_count": 1})
    );
    let customers =
        lake.query("SELECT count(*) AS n FROM curated.customer_summary WHERE orders < 1");
    assert_eq!(customers[0]["n"], 0);

    // Every table the pipeline writes beyond the source jobs' own golden files.
    for (table, order) in [
        ("processed.clickstream_events", "event_id"),
        ("processed.sessions", "session_id"),
        ("curated.product_ratings", "product_id"),
        ("curated.traffic_windows", "window_size, window_start"),
        ("curated.funnel_daily", "event_date"),
        ("curated.sales_daily", "date, department, category, country"),
        ("curated.product_performance", "product_id"),
        ("curated.customer_summary", "customer_id"),
    ] {
        compare_with_golden(
            table,
            &lake.query(&format!("SELECT * FROM {table} ORDER BY {order}")),
        );
    }

    // Every shipped analytical query runs on the curated tables and returns rows.
    for name in NAMED_QUERIES {
        let rows = lake.query_named(name);
        assert!(!rows.is_empty(), "{name} returned nothing");
    }

    // The same day again: source jobs find nothing new to read.
    let again = lake.json(&["pipeline", "run", "daily"]);
    assert_eq!(again["status"], "succeeded");
    for stage in again["stages"].as_array().unwrap() {
        let first_job = &stage["jobs"][0];
        if first_job["files_skipped"].as_u64().unwrap_or(0) > 0 {
            assert_eq!(first_job["rows_in"], 0, "{first_job}");
        }
    }
}

#[test]
fn a_stage_that_fails_its_gate_stops_the_stages_after_it() {
    let lake = TestLake::with_fixture();
    let jobs = lake.with_edited_job("reviews_etl", |t| {
        t.replace(
            "check: { kind: row_count, min: 1 }\n      severity: warn",
            "check: { kind: row_count, min: 1000 }",
        )
    });
    let (code, summary) = daily_with_jobs(&lake, &jobs);
    assert_eq!(code, Some(3), "{summary}");
    let statuses = stage_statuses(&summary);
    assert_eq!(
        statuses,
        [
            ("product_enrichment", "succeeded"),
            ("transaction_etl", "succeeded"),
            ("reviews_etl", "quality_failed"),
            ("clickstream_aggregation", "succeeded"),
            ("master_data_merge", "skipped")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let reviews = &summary["stages"][2];
    assert!(
        reviews["reason"]
            .as_str()
            .unwrap()
            .contains("job reviews_etl: quality gate failed"),
        "{reviews}"
    );
    assert_eq!(
        summary["stages"][4]["reason"],
        "stage reviews_etl did not succeed"
    );
    assert!(
        !lake.path().join("curated/sales_daily").exists(),
        "a skipped stage writes nothing"
    );
    // The failed rule is on record with what was observed, next to every other run's rules.
    let failed = lake.query(
        "SELECT rule, observed, threshold FROM lakejob.quality_results WHERE job = 'reviews_etl' AND NOT passed",
    );
    assert_eq!(
        failed,
        [json!({"rule": "some reviews arrived", "observed": 4.0, "threshold": ">= 1000"})]
    );
    let jobs = lake.query("SELECT count(DISTINCT job) AS n FROM lakejob.quality_results");
    assert_eq!(
        jobs[0]["n"], 7,
        "every job that ran has its rows, however the pipeline raced"
    );
    assert!(
        !lake.path().join("processed/reviews").exists(),
        "below the gate nothing is written"
    );
}

/// The shipped analytical queries, as the README lists them.
const NAMED_QUERIES: [&str; 5] = [
    "revenue_by_day_and_department",
    "top_products",
    "conversion_funnel",
    "rating_vs_sales",
    "customer_cohorts",
];

#[test]
fn a_stage_whose_job_errors_on_bad_input_is_failed_with_the_reason_and_exit_2() {
    let lake = TestLake::with_fixture();
    let jobs = lake.with_edited_job("funnel_daily", |t| {
        t.replace("processed.clickstream_events", "processed.nowhere")
    });
    let (code, summary) = daily_with_jobs(&lake, &jobs);
    assert_eq!(code, Some(2), "a retry would fail the same way: {summary}");
    let clickstream = &summary["stages"][3];
    assert_eq!(clickstream["status"], "failed");
    let reason = clickstream["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("job funnel_daily:") && reason.contains("nowhere"),
        "{reason}"
    );
    let jobs = clickstream["jobs"].as_array().unwrap();
    assert_eq!(
        jobs.len(),
        4,
        "the jobs before it ran and are reported, then the failed one"
    );
    assert_eq!(jobs[3]["job"], "funnel_daily");
    assert_eq!(jobs[3]["status"], "failed");
    assert_eq!(jobs[3]["error"]["class"], "bad_input", "{}", jobs[3]);
    assert_eq!(summary["stages"][4]["status"], "skipped");
}

#[test]
fn a_pipeline_step_runs_by_its_name() {
    let lake = TestLake::with_fixture();
    let summary = lake.json(&["run", "clickstream_aggregation"]);
    assert_eq!(
        (&summary["pipeline"], &summary["status"]),
        (&json!("daily.clickstream_aggregation"), &json!("succeeded")),
        "{summary}"
    );
    let jobs: Vec<&str> = summary["stages"][0]["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["job"].as_str().unwrap())
        .collect();
    assert_eq!(
        jobs,
        [
            "clickstream_events",
            "sessions",
            "traffic_windows",
            "funnel_daily"
        ]
    );
    let unknown = lake.lakejob(&["run", "no_such_step"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no job named 'no_such_step'"));
}

#[test]
fn catalog_sync_registers_what_the_lake_holds_and_a_dry_run_changes_nothing() {
    let lake = TestLake::with_fixture();
    lake.json(&["pipeline", "run", "daily"]);
    let registered = |lake: &TestLake| lake.json(&["tables"]).as_array().unwrap().len();
    let before = registered(&lake);
    let ledger_partitions =
        lake.json(&["describe", "processed.transactions"])["partitions"].clone();
    // The catalog is lost; the data is not.
    std::fs::remove_dir_all(lake.path().join("_lakejob/catalog")).unwrap();

    let planned = lake.json(&["catalog", "sync", "--dry-run"]);
    assert_eq!(planned["dry_run"], true);
    assert_eq!(planned["tables_found"], before, "{planned}");
    let changes = planned["changes"].as_array().unwrap();
    assert!(
        changes.contains(&json!({"change": "create_table", "table": "processed.transactions"})),
        "{planned}"
    );
    assert!(changes.contains(&json!({
        "change": "add_partitions",
        "table": "processed.transactions",
        "partitions": ledger_partitions
    })));
    assert!(
        !lake.path().join("_lakejob/catalog").exists(),
        "a dry run writes nothing"
    );

    let applied = lake.json(&["catalog", "sync"]);
    assert_eq!(applied["changes"], planned["changes"]);
    assert_eq!(registered(&lake), before);
    let count = lake.query("SELECT count(*) AS n FROM curated.sales_daily");
    assert!(count[0]["n"].as_u64().unwrap() > 0);
    let again = lake.json(&["catalog", "sync", "--dry-run"]);
    assert_eq!(again["changes"], json!([]), "in sync: nothing to do");
}

#[test]
fn a_pipeline_of_your_own_in_the_jobs_folder_is_listed_validated_rendered_and_run() {
    let lake = TestLake::with_fixture();
    let jobs = lake.path().join("jobs");
    std::fs::create_dir_all(jobs.join("pipelines")).unwrap();
    std::fs::write(
        jobs.join("pipelines/mine.yaml"),
        "name: mine\nstages:\n  - name: products\n    jobs: [product_enrichment]\n  \
         - name: sales\n    after: [products]\n    jobs: [transaction_etl]\n",
    )
    .unwrap();
    // Recognised by its content beside the jobs.
    std::fs::write(
        jobs.join("reviews_only.yaml"),
        "name: reviews_only\nstages:\n  - name: reviews_step\n    jobs: [reviews_etl, product_ratings]\n",
    )
    .unwrap();

    let listed = lake.json(&["pipelines"]);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["daily", "mine", "reviews_only"], "{listed}");
    assert!(lake.lakejob(&["jobs"]).status.success());
    let validated = lake.lakejob(&["validate"]);
    assert!(validated.status.success(), "{validated:?}");
    let shipped = workspace().join("jobs/pipelines/daily.yaml");
    let validated = lake.lakejob(&["validate", &shipped.display().to_string()]);
    assert!(validated.status.success(), "{validated:?}");

    let rendered = lake.lakejob(&["pipeline", "render", "mine"]);
    assert!(rendered.status.success(), "{rendered:?}");
    let asl: Value = serde_json::from_slice(&rendered.stdout).unwrap();
    assert!(asl["States"].is_object(), "{asl}");

    let run = lake.json(&["pipeline", "run", "mine", "--date", "2025-01-15"]);
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["stages"].as_array().unwrap().len(), 2, "{run}");
    let stage = lake.json(&["run", "reviews_step"]);
    assert_eq!(stage["status"], "succeeded", "{stage}");

    let unknown = lake.lakejob(&["pipeline", "run", "nope"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr)
            .contains("no pipeline named 'nope'; known pipelines: daily, mine, reviews_only"),
        "{unknown:?}"
    );
    std::fs::write(
        jobs.join("pipelines/broken.yaml"),
        "name: broken\nstages:\n  - name: one\n    jobs: [no_such_job]\n",
    )
    .unwrap();
    let invalid = lake.lakejob(&["validate"]);
    assert_eq!(invalid.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&invalid.stdout);
    assert!(
        stdout.contains("broken.yaml: pipeline broken: stages[0].jobs[0]"),
        "{stdout}"
    );
}
