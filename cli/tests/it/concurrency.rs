//! Processes racing on one lake: whichever commits first, the lake ends as a clean sequential
//! run leaves it, never corrupt or duplicated; a run that loses says so (exit 1, retryable) and
//! running it again succeeds.

use std::process::{Output, Stdio};

use crate::support::{TestLake, assert_retryable, lake_state, workspace};

/// Runs every command at once (each a separate `lakejob` process) and waits for all.
fn at_once(lake: &TestLake, commands: &[&[&str]]) -> Vec<Output> {
    let children: Vec<_> = commands
        .iter()
        .map(|args| {
            lake.command(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect()
}

/// A racer either succeeded, or failed as retryable with a message naming the race, in which
/// case running `retry` again succeeds. Returns how many lost.
fn losers_retried(lake: &TestLake, outputs: &[Output], retry: &[&str]) -> usize {
    let mut losers = 0;
    for output in outputs {
        if output.status.success() {
            continue;
        }
        losers += 1;
        assert_retryable(output, &["another run committed to it first"]);
        let again = lake.json(retry);
        assert_eq!(again["status"], "succeeded", "the retry: {again}");
    }
    losers
}

#[test]
fn two_runs_of_one_job_at_once_end_as_one_run() {
    let clean = TestLake::with_fixture();
    clean.json(&["run", "transaction_etl"]);
    let expected = lake_state(&clean);
    // Who wins, and where the loser notices, depends on timing: race a few times.
    for round in 0..3 {
        let lake = TestLake::with_fixture();
        let run: &[&str] = &["run", "transaction_etl", "--date", "2025-01-15"];
        let outputs = at_once(&lake, &[run, run]);
        losers_retried(&lake, &outputs, run);
        assert_eq!(lake_state(&lake), expected, "round {round}");
    }
}

#[test]
fn two_jobs_writing_different_tables_at_once_both_succeed() {
    let clean = TestLake::with_fixture();
    clean.json(&["run", "transaction_etl"]);
    clean.json(&["run", "clickstream_events"]);
    let expected = lake_state(&clean);
    let lake = TestLake::with_fixture();
    let outputs = at_once(
        &lake,
        &[&["run", "transaction_etl"], &["run", "clickstream_events"]],
    );
    for output in &outputs {
        assert!(
            output.status.success(),
            "jobs on different tables must not conflict: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(lake_state(&lake), expected);
}

#[test]
fn an_ingest_during_a_run_is_read_by_the_next_run() {
    let folder = |date: &str| {
        workspace()
            .join(format!(
                "sample-data/fixtures/lake/raw/products/date={date}"
            ))
            .display()
            .to_string()
    };
    let (first, second) = (folder("2025-01-15"), folder("2025-01-16"));
    let clean = TestLake::with_references();
    clean.json(&["ingest", "products", &first]);
    clean.json(&["ingest", "products", &second]);
    clean.json(&["run", "product_enrichment"]);
    let expected = lake_state(&clean);

    let lake = TestLake::with_references();
    lake.json(&["ingest", "products", &first]);
    let outputs = at_once(
        &lake,
        &[
            &["run", "product_enrichment"],
            &["ingest", "products", &second],
        ],
    );
    for output in &outputs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let next = lake.json(&["run", "product_enrichment"]);
    assert_eq!(next["status"], "succeeded", "{next}");
    assert_eq!(lake_state(&lake), expected);
}
