//! Incremental query jobs: day by day over 30 days, recomputing only the last days, the
//! clickstream tables come out as one full recompute makes them, late events and sessions over
//! midnight included.

use serde_json::Value;

use crate::support::TestLake;

/// Every row of a table, as sorted lines of JSON.
fn rows(lake: &TestLake, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = lake
        .query(&format!("SELECT * FROM {table}"))
        .iter()
        .map(Value::to_string)
        .collect();
    rows.sort();
    rows
}

const TABLES: [&str; 3] = [
    "processed.sessions",
    "curated.traffic_windows",
    "curated.funnel_daily",
];

#[test]
fn incremental_days_equal_one_full_recompute_table_for_table() {
    let lake = TestLake::new();
    lake.json(&["sample", "generate", "--scale", "0.005", "--days", "30"]);
    for day in 1..=30 {
        let date = format!("2025-01-{day:02}");
        let stage = lake.json(&["run", "clickstream_aggregation", "--date", &date]);
        assert_eq!(stage["status"], "succeeded", "{stage}");
        let sessions = &stage["stages"][0]["jobs"][1];
        assert_eq!(sessions["job"], "sessions", "{stage}");
        // The first day builds the table; later days recompute from two days before theirs.
        let expected = match day {
            1 => Value::Null,
            2 => "2024-12-31".into(),
            _ => format!("2025-01-{:02}", day - 2).into(),
        };
        assert_eq!(sessions["recomputed_from"], expected, "{sessions}");
    }
    // What makes incremental runs hard is in the data: late events and sessions over midnight.
    let late = std::fs::read_to_string(
        lake.path()
            .join("raw/clickstream/date=2025-01-06/clickstream_2025-01-05_late.jsonl"),
    )
    .unwrap();
    assert!(late.lines().count() > 0);
    let over_midnight = lake.query(
        "SELECT count(*) AS n FROM processed.sessions WHERE CAST(session_end AS DATE) > session_date",
    );
    assert!(
        over_midnight[0]["n"].as_i64().unwrap() > 0,
        "{over_midnight:?}"
    );

    let incremental: Vec<Vec<String>> = TABLES.iter().map(|t| rows(&lake, t)).collect();
    for job in ["sessions", "traffic_windows", "funnel_daily"] {
        let full = lake.json(&["run", job, "--full-refresh"]);
        assert!(full.get("recomputed_from").is_none(), "{full}");
    }
    for (table, incremental) in TABLES.iter().zip(incremental) {
        let full = rows(&lake, table);
        assert!(!full.is_empty(), "{table}");
        assert_eq!(incremental, full, "{table}");
    }
}

#[test]
fn incremental_declarations_are_checked_at_once() {
    let lake = TestLake::with_own_jobs();
    std::fs::write(
        lake.path().join("jobs/daily_views.yaml"),
        "name: daily_views\n\
         query: SELECT event_date, count(*) AS views FROM processed.clickstream_events GROUP BY event_date\n\
         incremental:\n  date: event_date\n  inputs:\n    - { table: processed.sessions, date: session_date }\n    - { table: clickstream_events, date: event_date }\n\
         target: { zone: curated, table: daily_views, format: parquet, mode: overwrite }\n",
    )
    .unwrap();
    let output = lake.lakejob(&["validate"]);
    let errors = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(2), "{errors}");
    for expected in [
        "incremental: an incremental job writes format delta with mode overwrite",
        "incremental.date: the target must be partitioned by event_date",
        "incremental.inputs[0].table: the query does not read processed.sessions",
        "incremental.inputs[1].table: 'clickstream_events' is not a table as the query names it",
    ] {
        assert!(errors.contains(expected), "{expected} not in {errors}");
    }
}
