//! Storage faults between lakejob and S3: moto behind scripts/aws_proxy.py, which answers 503
//! SlowDown, delays responses or stops altogether. Transient faults are retried with backoff to
//! the clean result; lasting ones fail the run as retryable (exit 1) within the retry timeout,
//! with the lake as it was before the run, and the next run finishes the work.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::aws::{AwsProxy, S3Lake};
use crate::support::assert_retryable;

const JOB: &str = "product_enrichment";

/// A lake on S3 (embedded catalog, so every call is a storage call) with the fixture's products.
fn products_lake() -> S3Lake {
    let lake = S3Lake::with_local_catalog();
    lake.ingest(&["products"]);
    lake
}

/// Runs the job through `proxy`; its output.
fn run_through(lake: &S3Lake, proxy: &AwsProxy, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["run", JOB, "--output", "json"];
    args.extend(extra);
    lake.command_at(&proxy.url, &args)
        .output()
        .expect("lakejob runs")
}

/// The lake after a fault-free run through the proxy, and the requests that run made in order.
fn clean_run() -> (Value, Vec<String>) {
    let lake = products_lake();
    let requests = lake.scratch().join("requests.log");
    let proxy = AwsProxy::start(
        lake.scratch(),
        &["--requests", &requests.display().to_string()],
    );
    let output = run_through(&lake, &proxy, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let made = std::fs::read_to_string(requests).expect("the proxy lists its requests");
    (lake.state(), made.lines().map(str::to_string).collect())
}

#[test]
fn slow_responses_and_503s_are_retried_to_the_clean_result() {
    let (expected, _) = clean_run();
    let lake = products_lake();
    let proxy = AwsProxy::start(lake.scratch(), &["--fail-every", "3", "--delay", "0.02"]);
    let output = run_through(&lake, &proxy, &[]);
    assert!(
        output.status.success(),
        "one request in three failing is retried: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).expect("JSON summary");
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(lake.state(), expected);
}

/// A run that cannot reach storage for good: exit 1 (retryable) naming the storage failure,
/// within the retry timeout plus start-up, and nothing of it in the lake.
fn assert_failed_cleanly(output: &std::process::Output, took: Duration) {
    assert_retryable(output, &["storage", "S3", "object store"]);
    assert!(took < Duration::from_secs(60), "gave up after {took:?}");
}

#[test]
fn storage_gone_mid_run_fails_retryably_and_leaves_the_lake_as_it_was() {
    let (expected, requests) = clean_run();
    let lake = products_lake();
    let before = lake.state();
    let bounded = ["--storage-retry-timeout", "3"];

    // Every response a 503: retried with backoff until the retry timeout, then a clean failure.
    let proxy = AwsProxy::start(lake.scratch(), &["--fail-every", "1"]);
    let started = Instant::now();
    let output = run_through(&lake, &proxy, &bounded);
    assert_failed_cleanly(&output, started.elapsed());
    drop(proxy);
    assert_eq!(lake.state(), before, "after lasting 503s");

    // The server gone right after the run wrote its first data file, before it could commit.
    // Matched by what the request is, not by how many came before it: concurrent requests
    // come in another order from run to run.
    let data_file = r"^PUT .*/processed/products/[^?]*\.parquet";
    assert!(
        requests.iter().any(|r| r.starts_with("PUT ")
            && r.contains("/processed/products/")
            && r.contains(".parquet")),
        "the clean run wrote no data file: {requests:?}"
    );
    let proxy = AwsProxy::start(lake.scratch(), &["--stop-after-matching", data_file]);
    let started = Instant::now();
    let output = run_through(&lake, &proxy, &bounded);
    assert_failed_cleanly(&output, started.elapsed());
    assert_eq!(lake.state(), before, "after the server stopped mid-run");

    // Storage back: the next run does the work, as if nothing had happened.
    let again = lake.json(&["run", JOB]);
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(lake.state(), expected);
}
