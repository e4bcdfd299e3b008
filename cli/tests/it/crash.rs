//! A process killed with SIGKILL at any failpoint of a run, an ingest or the daily pipeline
//! leaves a lake that the next run brings to exactly the state of a clean run.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{TestLake, lake_state, workspace};

/// Starts `lakejob <args>` stopped at `point` (a failpoint's name, or `#N` for the N-th one
/// passed), waits until it gets there, and kills it.
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
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            // Only the wanted point stops the process.
            if line.starts_with("failpoint ") && line.contains(" reached (#") {
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

#[test]
fn a_daily_pipeline_killed_at_twenty_moments_is_finished_by_the_next_run() {
    const KILLS: usize = 20;
    let clean = TestLake::with_fixture();
    let counted = clean
        .command(&["pipeline", "run", "daily"])
        .env("LAKEJOB_FAILPOINT", "count")
        .output()
        .unwrap();
    assert!(counted.status.success());
    let passed = String::from_utf8_lossy(&counted.stderr)
        .lines()
        .filter(|line| line.starts_with("failpoint ") && line.contains(" passed (#"))
        .count();
    assert!(
        passed >= KILLS,
        "the pipeline passes only {passed} failpoints"
    );
    let expected = lake_state(&clean);
    assert!(
        expected["curated.sales_daily"]["rows"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
    );
    // Evenly spread over the run, from early in the first stage to the last point passed.
    let moments: Vec<usize> = (1..=KILLS).map(|i| i * passed / KILLS).collect();
    std::thread::scope(|scope| {
        for share in moments.chunks(KILLS / 2) {
            let expected = &expected;
            scope.spawn(move || {
                for moment in share {
                    let lake = TestLake::with_fixture();
                    kill_at(&lake, &format!("#{moment}"), &["pipeline", "run", "daily"]);
                    let next = lake.json(&["pipeline", "run", "daily"]);
                    assert_eq!(
                        next["status"], "succeeded",
                        "after a kill at #{moment}: {next}"
                    );
                    assert_eq!(
                        &lake_state(&lake),
                        expected,
                        "after a kill at #{moment} of {passed}"
                    );
                }
            });
        }
    });
}
