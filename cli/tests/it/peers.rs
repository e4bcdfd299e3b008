//! The peers lakebench measures lakejob against (benches/peers/) count for nothing unless
//! they do the same work: each must find the same rows in, out, rejected and dropped, and the
//! same totals, as lakejob on the same files.

use std::path::Path;

use serde_json::Value;

use crate::support::{TestLake, python, workspace};
use crate::transaction_etl::sum_text;

/// Spark (AWS Glue's engine) is a peer for transaction_etl only.
const PEERS: [&str; 2] = ["duckdb", "polars"];
const TRANSACTION_PEERS: [&str; 3] = ["duckdb", "polars", "spark"];

/// Runs `benches/peers/<workload>_<peer>.py` on the lake and returns what it printed.
fn run_peer(workload: &str, peer: &str, lake: &Path) -> Value {
    let out = tempfile::tempdir().unwrap();
    let script = workspace().join(format!("benches/peers/{workload}_{peer}.py"));
    let run = std::process::Command::new(python())
        .arg(&script)
        .arg(lake)
        .arg(out.path())
        .output()
        .expect("the peer runs");
    assert!(
        run.status.success(),
        "{}: {}",
        script.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    serde_json::from_slice(&run.stdout).expect("the peer prints JSON")
}

fn count(lake: &TestLake, sql: &str) -> Value {
    lake.query(sql)[0]["n"].clone()
}

#[test]
fn the_transaction_etl_peers_keep_lakejobs_rules() {
    let lake = TestLake::new();
    lake.json(&["sample", "generate", "--scale", "0.003", "--days", "3"]);
    let ours = lake.json(&["run", "transaction_etl"]);
    let amount = sum_text(
        &lake,
        "SELECT CAST(sum(amount_usd) AS VARCHAR) AS total FROM processed.transactions",
    );
    for peer in TRANSACTION_PEERS {
        let theirs = run_peer("transaction_etl", peer, lake.path());
        for field in ["rows_in", "rows_out", "rows_rejected", "rows_duplicate"] {
            assert_eq!(
                theirs[field], ours[field],
                "{peer} {field}: {theirs} vs {ours}"
            );
        }
        assert_eq!(
            theirs["amount_usd"].as_str(),
            Some(amount.as_str()),
            "{peer}"
        );
    }
}

#[test]
fn the_sessionisation_peers_keep_lakejobs_rules() {
    let lake = TestLake::new();
    lake.json(&["sample", "generate", "--scale", "0.002", "--days", "2"]);
    let events = lake.json(&["run", "clickstream_events"]);
    for job in ["sessions", "traffic_windows"] {
        let run = lake.json(&["run", job]);
        assert_eq!(run["status"], "succeeded", "{run}");
    }
    let ours = [
        ("rows_in", events["rows_in"].clone()),
        ("rows_rejected", events["rows_rejected"].clone()),
        ("events", events["rows_out"].clone()),
        (
            "sessions",
            count(&lake, "SELECT count(*) AS n FROM processed.sessions"),
        ),
        (
            "converted_sessions",
            count(
                &lake,
                "SELECT count(*) AS n FROM processed.sessions WHERE converted",
            ),
        ),
        (
            "windows",
            count(&lake, "SELECT count(*) AS n FROM curated.traffic_windows"),
        ),
        (
            "window_sessions",
            count(
                &lake,
                "SELECT sum(sessions) AS n FROM curated.traffic_windows",
            ),
        ),
    ];
    for peer in PEERS {
        let theirs = run_peer("sessionisation", peer, lake.path());
        for (field, value) in &ours {
            assert_eq!(&theirs[field], value, "{peer} {field}: {theirs}");
        }
    }
}
