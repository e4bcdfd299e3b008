//! Clickstream: events deduplicated across files, sessions with a 30-minute gap (late and
//! out-of-order events, sessions over midnight), windows and the funnel, checked against
//! DuckDB sessionising the raw JSON on its own.

use serde_json::{Value, json};

use crate::support::{TestLake, row_counts, run_python, workspace};

fn run(lake: &TestLake, args: &[&str]) -> Value {
    let summary = lake.json(args);
    assert_eq!(summary["status"], "succeeded", "{args:?}: {summary}");
    summary
}

fn sessions(lake: &TestLake) -> Vec<String> {
    lake.query(
        "SELECT visitor_id, to_char(session_start, '%Y-%m-%d %H:%M:%S') AS s, to_char(session_end, '%Y-%m-%d %H:%M:%S') AS e, \
         events, product_views, converted FROM processed.sessions ORDER BY visitor_id, session_start",
    )
    .iter()
    .map(|r| format!("{} {} {} {} {} {}", r["visitor_id"].as_str().unwrap(), r["s"].as_str().unwrap(), r["e"].as_str().unwrap(), r["events"], r["product_views"], r["converted"]))
    .collect()
}

#[test]
fn sessions_follow_late_events_across_midnight_and_match_duckdb() {
    let lake = TestLake::with_fixture();
    let first = run(
        &lake,
        &["run", "clickstream_events", "--date", "2025-01-15"],
    );
    assert_eq!(row_counts(&first), [11, 7, 3, 1], "{first}");
    let reasons: Vec<Value> = lake
        .query("SELECT _reject_reason FROM quarantine.clickstream ORDER BY _line")
        .into_iter()
        .map(|r| r["_reject_reason"].clone())
        .collect();
    assert_eq!(
        reasons[0],
        "event_type: 'teleport' is not one of add_to_cart, checkout_start, page_view, product_view, purchase, remove_from_cart"
    );
    assert_eq!(reasons[1], "visitor: neither user_id nor anonymous_id");
    assert!(
        reasons[2]
            .as_str()
            .unwrap()
            .starts_with("the line is not valid JSON"),
        "{reasons:?}"
    );

    run(&lake, &["run", "sessions"]);
    assert_eq!(
        sessions(&lake),
        [
            "A00000002 2025-01-15 23:50:00 2025-01-15 23:58:00 2 1 false",
            "C00000001 2025-01-15 10:00:00 2025-01-15 10:45:00 4 1 true",
            "C00000001 2025-01-15 11:30:00 2025-01-15 11:30:00 1 0 false",
        ]
    );

    // The next day's file brings a late event of the 15th and continues a session past midnight.
    run(&lake, &["run", "clickstream_events"]);
    run(&lake, &["run", "sessions"]);
    let ours = sessions(&lake);
    assert_eq!(
        ours,
        [
            "A00000002 2025-01-15 23:50:00 2025-01-16 00:10:00 4 1 false",
            "C00000001 2025-01-15 10:00:00 2025-01-15 10:45:00 4 1 true",
            "C00000001 2025-01-15 11:30:00 2025-01-15 11:50:00 2 0 false",
            "C00000003 2025-01-16 09:00:00 2025-01-16 09:00:00 1 0 false",
        ]
    );

    // DuckDB, from the raw files, with docs/data.md's rules and the same 30-minute gap.
    let raw = workspace().join("sample-data/fixtures/lake/raw/clickstream");
    let theirs = run_python(&format!(
        "import duckdb\n\
         rows = duckdb.sql(\"\"\"\n\
         WITH raw AS (SELECT * FROM read_json('{}/*/*.jsonl', format='newline_delimited', ignore_errors=true,\n\
              columns={{'event_id': 'VARCHAR', 'user_id': 'VARCHAR', 'anonymous_id': 'VARCHAR', 'event_type': 'VARCHAR', 'event_time': 'VARCHAR'}})),\n\
         valid AS (SELECT DISTINCT event_id, coalesce(user_id, anonymous_id) AS visitor, lower(event_type) AS event_type,\n\
                          CAST(event_time AS TIMESTAMP) AS t FROM raw\n\
                   WHERE coalesce(user_id, anonymous_id) IS NOT NULL AND event_time IS NOT NULL\n\
                     AND lower(event_type) IN ('page_view','product_view','add_to_cart','remove_from_cart','checkout_start','purchase')),\n\
         gaps AS (SELECT *, CASE WHEN t - lag(t) OVER (PARTITION BY visitor ORDER BY t, event_id) <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END AS starts FROM valid),\n\
         numbered AS (SELECT *, sum(starts) OVER (PARTITION BY visitor ORDER BY t, event_id) AS n FROM gaps)\n\
         SELECT visitor, strftime(min(t), '%Y-%m-%d %H:%M:%S'), strftime(max(t), '%Y-%m-%d %H:%M:%S'), count(*),\n\
                count(*) FILTER (event_type = 'product_view'), bool_or(event_type = 'purchase')\n\
         FROM numbered GROUP BY visitor, n ORDER BY visitor, min(t)\"\"\").fetchall()\n\
         for r in rows: print(r[0], r[1], r[2], r[3], r[4], str(r[5]).lower())",
        raw.display()
    ));
    assert_eq!(ours.join("\n"), theirs);

    // Windows and funnel come from the same tables.
    run(&lake, &["run", "traffic_windows"]);
    let hours = lake.query(
        "SELECT to_char(window_start, '%H:%M') AS w, events, unique_visitors, sessions, converted_sessions, conversion_rate \
         FROM curated.traffic_windows WHERE window_size = '1 hour' AND CAST(window_start AS DATE) = DATE '2025-01-15' ORDER BY window_start",
    );
    assert_eq!(
        hours,
        [
            json!({"w": "10:00", "events": 4, "unique_visitors": 1, "sessions": 1, "converted_sessions": 1, "conversion_rate": 1.0}),
            json!({"w": "11:00", "events": 2, "unique_visitors": 1, "sessions": 1, "converted_sessions": 0, "conversion_rate": 0.0}),
            json!({"w": "23:00", "events": 2, "unique_visitors": 1, "sessions": 1, "converted_sessions": 0, "conversion_rate": 0.0}),
        ]
    );
    let five = lake.query("SELECT count(*) AS n, sum(events) AS events FROM curated.traffic_windows WHERE window_size = '5 minutes'");
    assert_eq!(five[0], json!({"n": 10, "events": 11}));
    // Each window size counts every valid, distinct event once, as DuckDB counts them from raw.
    let valid_events = run_python(&format!(
        "import duckdb\n\
         print(duckdb.sql(\"\"\"SELECT count(DISTINCT event_id) FROM read_json('{}/*/*.jsonl', format='newline_delimited', ignore_errors=true,\n\
              columns={{'event_id': 'VARCHAR', 'user_id': 'VARCHAR', 'anonymous_id': 'VARCHAR', 'event_type': 'VARCHAR', 'event_time': 'VARCHAR'}})\n\
         WHERE coalesce(user_id, anonymous_id) IS NOT NULL AND TRY_CAST(event_time AS TIMESTAMP) IS NOT NULL\n\
           AND lower(event_type) IN ('page_view','product_view','add_to_cart','remove_from_cart','checkout_start','purchase')\"\"\").fetchall()[0][0])",
        raw.display()
    ));
    let per_size = lake.query("SELECT window_size, sum(events) AS events FROM curated.traffic_windows GROUP BY window_size ORDER BY window_size");
    for size in per_size {
        assert_eq!(size["events"].to_string(), valid_events, "{size}");
    }

    run(&lake, &["run", "funnel_daily"]);
    let funnel = lake.query("SELECT * FROM curated.funnel_daily ORDER BY event_date");
    assert_eq!(
        funnel[0],
        json!({"event_date": "2025-01-15", "page_view": 2, "product_view": 2, "add_to_cart": 1, "checkout_start": 0, "purchase": 1, "view_to_purchase": 0.5})
    );
}
