//! A process killed with SIGKILL at any failpoint of a run, an ingest or the daily pipeline
//! leaves a lake that the next run brings to exactly the state of a clean run.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{TestLake, lake_state, workspace};

/// The points of a run between its commits: before the first, after each, after the ledger.
const COMMIT_POINTS: [&str; 4] = [
    "before_target_commit",
    "after_target_commit",
    "after_quarantine_commit",
    "after_ledger_marks",
];

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
    for point in COMMIT_POINTS {
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

/// How many Parquet data files a table's folder holds, in any partition folder.
fn data_files(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| match entry.path() {
                    path if path.is_dir() => data_files(&path),
                    path => usize::from(path.extension().is_some_and(|e| e == "parquet")),
                })
                .sum()
        })
        .unwrap_or_default()
}

/// `transaction_etl` with its target written another way, as a job folder for `--jobs`.
fn transaction_etl_writing(lake: &TestLake, mode: &str, format: &str) -> String {
    lake.with_edited_job("transaction_etl", |text| {
        text.replace(
            "  format: delta\n  partition_by: [year, month, day]\n  mode: merge\n  key: [transaction_id]\n",
            &format!("  format: {format}\n  partition_by: [year, month, day]\n  mode: {mode}\n"),
        )
    })
    .display()
    .to_string()
}

#[test]
fn a_run_killed_between_its_commits_is_finished_without_a_second_copy_in_every_write_mode() {
    for (mode, format) in [
        ("append", "delta"),
        ("overwrite_partitions", "delta"),
        ("overwrite", "delta"),
        ("append", "parquet"),
    ] {
        let clean = TestLake::with_fixture();
        let jobs = transaction_etl_writing(&clean, mode, format);
        clean.json(&["run", "transaction_etl", "--jobs", &jobs]);
        let expected = state(&clean);
        let expected_files = data_files(&clean.path().join("processed/transactions"));
        assert!(!expected[0].is_empty() && !expected[1].is_empty());
        for point in COMMIT_POINTS {
            let lake = TestLake::with_fixture();
            let jobs = transaction_etl_writing(&lake, mode, format);
            kill_at(&lake, point, &["run", "transaction_etl", "--jobs", &jobs]);
            let next = lake.json(&["run", "transaction_etl", "--jobs", &jobs]);
            let context = format!("{mode} {format}, killed at {point}");
            assert_eq!(next["status"], "succeeded", "{context}: {next}");
            assert_eq!(
                next["finished_runs"].as_array().map(Vec::len),
                Some(1),
                "{context}: the interrupted run is finished first: {next}"
            );
            assert_eq!(state(&lake), expected, "{context}");
            let again = lake.json(&["run", "transaction_etl", "--jobs", &jobs]);
            assert!(again.get("finished_runs").is_none(), "{context}: {again}");
            assert_eq!(state(&lake), expected, "{context}, run once more");
            assert!(
                lake.nothing_pending("transaction_etl"),
                "{context}: the record of the interrupted run is left behind"
            );
            let staged: Vec<_> = std::fs::read_dir(lake.path().join("processed/transactions"))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("_staging"))
                .collect();
            assert!(
                staged.is_empty(),
                "{context}: staging left behind: {staged:?}"
            );
            assert_eq!(
                data_files(&lake.path().join("processed/transactions")),
                expected_files,
                "{context}: files staged in the table and never committed are removed"
            );
        }
    }
}

#[test]
fn a_quarantine_table_that_refuses_the_rejects_leaves_the_new_target_unwritten() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "transaction_etl"]);
    // The same source read without its country column, into a new table: the quarantine
    // table, made with a country column, cannot take these rejects.
    let jobs = lake
        .with_edited_job("transaction_etl", |text| {
            text.replace(
                "    - { name: country, type: string, nullable: false, case: upper, pattern: \"[A-Z]{2}\" }\n",
                "",
            )
            .replace("status, country, event_time", "status, event_time")
            .replace("  table: transactions\n", "  table: transactions_v2\n")
        })
        .display()
        .to_string();
    let output = lake.lakejob(&["run", "transaction_etl", "--reprocess", "--jobs", &jobs]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("quarantine.transactions") && stderr.contains("country"),
        "{stderr}"
    );
    assert!(
        !lake.path().join("processed/transactions_v2").exists(),
        "the target was written although the run failed"
    );
    assert!(lake.nothing_pending("transaction_etl"));
    // Run as shipped again, the job is as it was.
    let next = lake.json(&["run", "transaction_etl"]);
    assert_eq!(next["status"], "succeeded", "{next}");
}

#[test]
fn reprocessing_an_append_target_replaces_its_rows_instead_of_adding_them_again() {
    for format in ["delta", "parquet"] {
        let lake = TestLake::with_fixture();
        let jobs = transaction_etl_writing(&lake, "append", format);
        let first = lake.json(&["run", "transaction_etl", "--jobs", &jobs]);
        let expected = state(&lake);
        for attempt in 1..=2 {
            let again = lake.json(&["run", "transaction_etl", "--reprocess", "--jobs", &jobs]);
            assert_eq!(again["status"], "succeeded", "{format} #{attempt}: {again}");
            assert_eq!(again["rows_out"], first["rows_out"], "{format} #{attempt}");
            assert_eq!(
                state(&lake),
                expected,
                "{format}, reprocessed {attempt} time(s)"
            );
        }
    }
}
