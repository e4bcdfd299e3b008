//! Schemas that change under a running lake. Declared behaviour: a source file may lack a
//! nullable column (read as null) and may carry extra ones (ignored); a table evolves by new
//! nullable columns; a dropped column or a changed type fails the run (exit 2) with the table
//! untouched, never a silent rewrite.

use serde_json::Value;

use crate::support::{TestLake, run_python};

/// processed.reviews as delta-rs (Python) reads it: version, column names and rows.
fn reviews(lake: &TestLake) -> Value {
    let dump = run_python(&format!(
        "import json\nfrom deltalake import DeltaTable\n\
         t = DeltaTable({:?})\n\
         rows = t.to_pyarrow_table().to_pylist()\n\
         print(json.dumps({{'version': t.version(), 'columns': [f.name for f in t.schema().fields],\n\
                           'rows': sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)}}))",
        lake.path().join("processed/reviews").display().to_string()
    ));
    serde_json::from_str(&dump).expect("JSON from Python")
}

#[test]
fn a_table_gains_nullable_columns_and_refuses_dropped_or_retyped_ones() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "reviews_etl"]);
    let before = reviews(&lake);

    // A new nullable column: the table evolves, the older rows get their value on the merge.
    let jobs = lake.with_edited_job("reviews_etl", |text| {
        text.replace(
            "      - { name: review_date, expr: \"CAST(review_time AS DATE)\" }",
            "      - { name: review_date, expr: \"CAST(review_time AS DATE)\" }\n      \
             - { name: title_length, expr: \"CAST(character_length(title) AS INT)\" }",
        )
        .replace(
            "helpful_votes, review_date]",
            "helpful_votes, review_date, title_length]",
        )
    });
    let jobs = jobs.display().to_string();
    let evolved = lake.json(&["run", "reviews_etl", "--reprocess", "--jobs", &jobs]);
    assert_eq!(evolved["status"], "succeeded", "{evolved}");
    assert_eq!(
        evolved["tables"][0]["columns_added"],
        serde_json::json!(["title_length"]),
        "{evolved}"
    );
    let after = reviews(&lake);
    assert!(
        after["columns"]
            .as_array()
            .unwrap()
            .contains(&"title_length".into()),
        "{after}"
    );
    assert_eq!(
        after["rows"].as_array().unwrap().len(),
        before["rows"].as_array().unwrap().len()
    );
    let lengths = lake.json(&[
        "query",
        "SELECT count(*) AS n FROM processed.reviews WHERE title IS NOT NULL AND title_length IS NULL",
        "--jobs",
        &jobs,
    ]);
    assert_eq!(lengths[0]["n"], 0, "every row has its new value: {lengths}");

    // A widened type and a dropped column: refused, the table as it was.
    let refused = |edit: &dyn Fn(String) -> String, said: &str| {
        let other = TestLake::with_references();
        let jobs = other.with_edited_job("reviews_etl", edit);
        let output = lake
            .command(&[
                "run",
                "reviews_etl",
                "--reprocess",
                "--jobs",
                &jobs.display().to_string(),
            ])
            .output()
            .expect("lakejob runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "a retry fails the same way: {stderr}"
        );
        assert!(stderr.contains(said), "{stderr}");
        assert!(stderr.contains("processed.reviews"), "{stderr}");
        assert_eq!(reviews(&lake), after, "the table is untouched");
    };
    refused(
        &|text| {
            text.replace(
                "      - { name: review_date,",
                "      - { name: helpful_votes, expr: \"CAST(helpful_votes AS DOUBLE)\" }\n      - { name: review_date,",
            )
        },
        "column helpful_votes changes type from long to double",
    );
    refused(
        &|text| text.replace("helpful_votes, review_date]", "review_date]"),
        "column title_length is in the table but not in the output",
    );
}

#[test]
fn a_source_file_without_a_nullable_column_is_read_with_nulls() {
    let lake = TestLake::with_fixture();
    let incoming = lake.path().join("incoming");
    std::fs::create_dir_all(&incoming).unwrap();
    // An older export: no title column, and an extra column the job does not declare.
    std::fs::write(
        incoming.join("reviews-old-export.csv"),
        "review_id,product_id,customer_id,rating,body,review_time,verified_purchase,helpful_votes,legacy_flag\n\
         R9999999999,P000001,C000001,4,Fine.,2025-01-15T10:00:00Z,true,0,x\n",
    )
    .unwrap();
    let ingested = lake.json(&[
        "ingest",
        "reviews",
        &incoming.display().to_string(),
        "--date",
        "2025-01-15",
    ]);
    assert_eq!(ingested["files_ingested"], 1, "{ingested}");
    let run = lake.json(&["run", "reviews_etl"]);
    assert_ne!(run["status"], "failed", "{run}");
    let row = lake.json(&[
        "query",
        "SELECT title, body FROM processed.reviews WHERE review_id = 'R9999999999'",
    ]);
    assert_eq!(
        row,
        serde_json::json!([{"title": null, "body": "Fine."}]),
        "title is null"
    );

    // A file without a column that may not be null is refused whole, with the reason.
    std::fs::write(
        incoming.join("reviews-no-rating.csv"),
        "review_id,product_id,review_time,verified_purchase,helpful_votes\n\
         R9999999998,P000001,2025-01-15T10:00:00Z,true,0\n",
    )
    .unwrap();
    let output = lake
        .command(&[
            "ingest",
            "reviews",
            &incoming.join("reviews-no-rating.csv").display().to_string(),
            "--date",
            "2025-01-15",
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        said.contains("lacks the declared column(s) rating, which may not be null"),
        "{said}"
    );
}
