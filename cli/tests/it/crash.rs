//! A process killed with SIGKILL at any failpoint of a run or an ingest leaves a lake that the
//! next run brings to exactly the state of a clean run.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{TestLake, workspace};

/// Starts `lakejob <args>` stopped at `point`, waits until it gets there, and kills it.
fn kill_at(lake: &TestLake, point: &str, args: &[&str]) {
    let mut child = lake
        .command(args)
        .env("LAKEJOB_FAILPOINT", point)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    let wanted = format!("failpoint {point} reached");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains(&wanted) {
                let _ = sender.send(());
            }
        }
    });
    let reached = receiver.recv_timeout(Duration::from_secs(300));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        reached.is_ok(),
        "{args:?} never reached failpoint {point} (exit {status})"
    );
}

/// Everything a run leaves that users see: target rows, quarantined rows (without the id of
/// the run that wrote them) and the ledger.
fn state(lake: &TestLake) -> Vec<Vec<Value>> {
    vec![
        lake.query("SELECT * FROM processed.transactions ORDER BY transaction_id"),
        lake.query(
            "SELECT * EXCEPT (_run_id) FROM quarantine.transactions ORDER BY _source_file, _line",
        ),
        lake.query(
            "SELECT md5, lake_path, status, array_to_string(processed_by, ',') AS jobs \
             FROM lakejob.file_ledger ORDER BY lake_path",
        ),
    ]
}

#[test]
fn a_run_killed_at_any_point_is_finished_by_the_next_run() {
    let clean = TestLake::with_fixture();
    clean.json(&["run", "transaction_etl"]);
    let expected = state(&clean);
    assert!(!expected[0].is_empty() && !expected[1].is_empty());
    for point in [
        "before_target_commit",
        "after_target_commit",
        "after_quarantine_commit",
        "after_ledger_marks",
    ] {
        let lake = TestLake::with_fixture();
        kill_at(&lake, point, &["run", "transaction_etl"]);
        let next = lake.json(&["run", "transaction_etl"]);
        assert_eq!(next["status"], "succeeded", "{point}: {next}");
        assert_eq!(state(&lake), expected, "after a kill at {point}");
    }
}

#[test]
fn an_ingest_killed_at_any_point_is_finished_by_the_next_ingest() {
    let file = workspace().join("sample-data/fixtures/lake/raw/transactions/date=2025-01-15");
    let folder = file.display().to_string();
    let clean = TestLake::with_references();
    clean.json(&["ingest", "transactions", &folder]);
    clean.json(&["run", "transaction_etl"]);
    let expected = state(&clean);
    for point in ["ingest_before_claim", "ingest_after_claim"] {
        let lake = TestLake::with_references();
        kill_at(&lake, point, &["ingest", "transactions", &folder]);
        let report = lake.json(&["ingest", "transactions", &folder]);
        assert_eq!(report["files_ingested"], 1, "{point}: {report}");
        lake.json(&["run", "transaction_etl"]);
        assert_eq!(state(&lake), expected, "after a kill at {point}");
    }
}
