//! product_enrichment (JSON Lines, merge where only newer versions win) and reviews_etl
//! (RFC 4180 with multi-line quoted text) on the checked-in fixture, against golden outputs.

use serde_json::{Value, json};

use crate::golden::compare_with_golden;
use crate::support::{TestLake, row_counts, run_python};

#[test]
fn product_enrichment_keeps_the_latest_version_and_quarantines_broken_lines() {
    let lake = TestLake::with_fixture();
    let first = lake.json(&["run", "product_enrichment", "--date", "2025-01-15"]);
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(row_counts(&first), [56, 51, 4, 1], "{first}");

    let quarantine = lake.query(
        "SELECT _line, product_id, price, _reject_reason, _raw_record IS NOT NULL AS kept_raw \
         FROM quarantine.products ORDER BY _line",
    );
    let reasons: Vec<&str> = quarantine
        .iter()
        .map(|r| r["_reject_reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].starts_with("the line is not valid JSON: EOF while parsing"),
        "{reasons:?}"
    );
    assert_eq!(
        reasons[1..],
        [
            "product_id: required value is missing",
            "price: negative price",
            "the line is not a JSON object"
        ]
    );
    assert!(
        quarantine
            .iter()
            .all(|r| r["kept_raw"] == true || r["_reject_reason"] == "price: negative price")
    );
    compare_with_golden("quarantine.products", &quarantine);

    let products = lake.query("SELECT * FROM processed.products ORDER BY product_id");
    compare_with_golden("processed.products", &products);
    let p1 = &products[0];
    assert_eq!(
        (&p1["price"], &p1["stock_quantity"], &p1["department"]),
        (&json!(79.99), &json!(100), &json!("Footwear"))
    );
    assert_eq!(
        (&products[1]["currency"], &products[1]["stock_status"]),
        (&json!("USD"), &json!("out_of_stock"))
    );
    assert_eq!(products[2]["stock_status"], "low");

    // The next day: a stale re-send of P000001 must not regress it; P000003 moves on.
    let second = lake.json(&["run", "product_enrichment", "--date", "2025-01-16"]);
    assert_eq!(
        (
            &second["tables"][0]["rows_inserted"],
            &second["tables"][0]["rows_updated"]
        ),
        (&json!(0), &json!(1)),
        "{second}"
    );
    let prices = lake.query("SELECT product_id, CAST(price AS VARCHAR) AS price, stock_status FROM processed.products ORDER BY product_id");
    assert_eq!(prices[0]["price"], "79.99", "an older version never wins");
    assert_eq!(
        (&prices[2]["price"], &prices[2]["stock_status"]),
        (&json!("11.00"), &json!("in_stock"))
    );

    // delta-rs reads the same table.
    let seen = run_python(&format!(
        "import deltalake, pyarrow.compute as pc\n\
         t = deltalake.DeltaTable({:?}).to_pyarrow_table()\n\
         print(t.num_rows, pc.sum(t['stock_value']).as_py())",
        lake.path().join("processed/products").display().to_string()
    ));
    let ours = lake.query(
        "SELECT count(*) AS n, CAST(sum(stock_value) AS VARCHAR) AS total FROM processed.products",
    );
    assert_eq!(
        seen,
        format!("{} {}", ours[0]["n"], ours[0]["total"].as_str().unwrap())
    );
}

#[test]
fn reviews_etl_cleans_multiline_text_and_rejects_out_of_range_rows() {
    let lake = TestLake::with_fixture();
    let summary = lake.json(&["run", "reviews_etl", "--date", "2025-01-15"]);
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(row_counts(&summary), [9, 4, 4, 1], "{summary}");
    let quarantine = lake
        .query("SELECT _line, review_id, _reject_reason FROM quarantine.reviews ORDER BY _line");
    let reasons: Vec<&str> = quarantine
        .iter()
        .map(|r| r["_reject_reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "rating: outside 1 to 5",
            "rating: outside 1 to 5",
            "verified_purchase: 'maybe' is not a valid boolean",
            "helpful_votes: negative",
        ]
    );
    compare_with_golden("quarantine.reviews", &quarantine);

    let reviews = lake.query("SELECT * FROM processed.reviews ORDER BY review_id");
    compare_with_golden("processed.reviews", &reviews);
    let multiline = &reviews[1];
    assert!(
        multiline["body"]
            .as_str()
            .unwrap()
            .contains("kaufen.\n\nBattery lasts ~3 days, \"as promised\"")
    );
    assert_eq!(
        reviews[2]["body"], "期待以上でした。[0m",
        "control characters are stripped"
    );
    assert_eq!(
        (&reviews[2]["title"], &reviews[2]["customer_id"]),
        (&json!("Meh"), &Value::Null)
    );
    // Length counts characters, not bytes.
    assert_eq!(
        (
            &reviews[3]["body_length"],
            &reviews[3]["word_count"],
            &reviews[3]["title"]
        ),
        (&json!(1), &json!(1), &Value::Null)
    );
    assert_eq!(reviews[0]["word_count"], 7);
}

#[test]
fn product_ratings_match_duckdb_over_the_raw_file() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "reviews_etl"]);
    let first = lake.json(&["run", "product_ratings"]);
    assert_eq!(
        (&first["status"], &first["rows_out"]),
        (&json!("succeeded"), &json!(3)),
        "{first}"
    );
    // A second run recomputes the whole table: same rows, not twice as many.
    lake.json(&["run", "product_ratings"]);
    let ours = lake.query(
        "SELECT product_id, CAST(average_rating AS VARCHAR) AS average, reviews, rating_1, rating_5, \
         CAST(round(verified_share, 4) AS VARCHAR) AS verified FROM curated.product_ratings ORDER BY product_id",
    );
    let ours: Vec<String> = ours
        .iter()
        .map(|r| {
            format!(
                "{} {} {} {} {} {}",
                r["product_id"].as_str().unwrap(),
                r["average"].as_str().unwrap(),
                r["reviews"],
                r["rating_1"],
                r["rating_5"],
                r["verified"].as_str().unwrap()
            )
        })
        .collect();
    // DuckDB applies docs/data.md's rules to the raw CSV on its own: valid rating, boolean and
    // votes, one row per review_id.
    let raw = crate::support::workspace()
        .join("sample-data/fixtures/lake/raw/reviews/date=2025-01-15/reviews_2025-01-15.csv");
    let theirs = run_python(&format!(
        "import duckdb\n\
         rows = duckdb.sql(\"\"\"\n\
           WITH raw AS (SELECT * FROM read_csv('{}', all_varchar=true, header=true)),\n\
           valid AS (SELECT DISTINCT review_id, product_id, CAST(rating AS INT) AS rating, verified_purchase = 'true' AS verified\n\
                     FROM raw WHERE TRY_CAST(rating AS INT) BETWEEN 1 AND 5 AND verified_purchase IN ('true', 'false')\n\
                       AND TRY_CAST(helpful_votes AS BIGINT) >= 0)\n\
           SELECT product_id, CAST(avg(rating) AS DECIMAL(4,2)), count(*), count(*) FILTER (rating = 1), count(*) FILTER (rating = 5),\n\
                  round(avg(CASE WHEN verified THEN 1.0 ELSE 0.0 END), 4)\n\
           FROM valid GROUP BY product_id ORDER BY product_id\"\"\").fetchall()\n\
         for r in rows: print(r[0], r[1], r[2], r[3], r[4], float(r[5]))",
        raw.display()
    ));
    assert_eq!(ours.join("\n"), theirs);
}
