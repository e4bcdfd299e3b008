//! The same jobs on an Apache DataFusion Ballista cluster: a scheduler and two executors, each a
//! `lakejob cluster` process of its own on 127.0.0.1, with the lake on S3 (moto). Every table
//! they make is compared, by delta-rs' Python reader, with a local run over the same files.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::aws::{S3Lake, endpoint};
use crate::support::row_counts;

/// A free port on 127.0.0.1 (free when asked; the process that binds it next gets it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, what: &str, children: &mut [Child]) {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        for child in children.iter_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("a cluster process ended ({status}) before the {what} listened on {port}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "the {what} never listened on {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and two executors (one task slot each), stopped when dropped.
struct Cluster {
    processes: Vec<Child>,
    scheduler: String,
}

impl Cluster {
    fn start(lake: &S3Lake) -> Self {
        let endpoint = endpoint();
        let spawn = |args: &[&str]| -> Child {
            let mut command: Command = lake.command_at(&endpoint, args);
            command
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("lakejob cluster starts")
        };
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let mut processes = vec![spawn(&["cluster", "scheduler", "--bind", &bind])];
        wait_for_port(port, "scheduler", &mut processes);
        let mut executor_ports = Vec::new();
        for _ in 0..2 {
            let (flight, grpc) = (free_port(), free_port());
            let work = lake.scratch().join(format!("executor-{flight}"));
            std::fs::create_dir_all(&work).expect("executor work folder");
            processes.push(spawn(&[
                "cluster",
                "executor",
                "--scheduler-address",
                &bind,
                "--flight-port",
                &flight.to_string(),
                "--grpc-port",
                &grpc.to_string(),
                "--task-slots",
                "1",
                "--work-dir",
                &work.display().to_string(),
            ]));
            executor_ports.push(flight);
        }
        for flight in executor_ports {
            wait_for_port(flight, "executor", &mut processes);
        }
        // Executors register with the scheduler right after they listen.
        std::thread::sleep(Duration::from_secs(2));
        Self {
            processes,
            scheduler: format!("df://{bind}"),
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

/// A lake on S3 with the fixture's transactions and clickstream.
fn lake() -> S3Lake {
    let lake = S3Lake::with_local_catalog();
    lake.ingest(&["transactions", "clickstream"]);
    lake
}

/// Row accounting of each job a summary (a job's or a stage's) reports, by job.
fn accounting(summary: &Value) -> Vec<(String, [u64; 4])> {
    let runs: Vec<&Value> = match summary["stages"].as_array() {
        Some(stages) => stages
            .iter()
            .flat_map(|stage| stage["runs"].as_array().into_iter().flatten())
            .collect(),
        None => vec![summary],
    };
    runs.into_iter()
        .map(|run| {
            (
                run["job"].as_str().unwrap_or("").to_string(),
                row_counts(run),
            )
        })
        .collect()
}

#[test]
fn transaction_etl_and_clickstream_aggregation_on_ballista_equal_the_local_engine() {
    let local = lake();
    let distributed = lake();
    let cluster = Cluster::start(&distributed);
    let on_cluster = ["--engine", "ballista", "--scheduler", &cluster.scheduler];

    for job in ["transaction_etl", "clickstream_aggregation"] {
        let here = local.json(&["run", job]);
        let mut args = vec!["run", job];
        args.extend(on_cluster);
        let there = distributed.json(&args);
        assert_eq!(there["status"], "succeeded", "{job} on Ballista: {there}");
        assert_eq!(
            accounting(&there),
            accounting(&here),
            "{job}: the same rows in, out, rejected and duplicate"
        );
    }
    let local_state = local.state();
    let distributed_state = distributed.state();
    for table in [
        "processed.transactions",
        "quarantine.transactions",
        "processed.clickstream_events",
        "processed.sessions",
        "curated.traffic_windows",
        "curated.funnel_daily",
    ] {
        let rows = &distributed_state[table]["rows"];
        assert!(
            rows.as_array().is_some_and(|r| !r.is_empty()),
            "{table} has rows"
        );
        assert_eq!(
            distributed_state[table], local_state[table],
            "{table}: Ballista's rows and partitions equal the local engine's"
        );
    }
    assert_eq!(distributed_state, local_state, "the whole lake is the same");

    // A query over the Delta tables, planned into stages and shuffled by the cluster.
    let sql = "SELECT country, count(*) AS lines, sum(amount_usd) AS revenue \
               FROM processed.transactions GROUP BY country ORDER BY country";
    let mut args = vec!["query", sql, "--engine", "ballista"];
    args.extend(&on_cluster[2..]);
    assert_eq!(distributed.json(&args), local.json(&["query", sql]));

    // The executors' per-file outcomes were collected and removed.
    let staged = distributed.list("_lakejob/staging/");
    assert!(staged.is_empty(), "staging left behind: {staged:?}");
}

/// `lakejob run transaction_etl --engine ballista --scheduler <scheduler>` on `lake`.
fn run_transactions_on(lake: &S3Lake, scheduler: &str) -> std::process::Output {
    let args = [
        "run",
        "transaction_etl",
        "--engine",
        "ballista",
        "--scheduler",
        scheduler,
    ];
    lake.command_at(&endpoint(), &args)
        .output()
        .expect("lakejob runs")
}

#[test]
fn an_unreachable_scheduler_fails_the_run_as_retryable_and_names_it() {
    let lake = S3Lake::with_local_catalog();
    lake.ingest(&["transactions"]);
    let scheduler = format!("df://127.0.0.1:{}", free_port());
    let output = run_transactions_on(&lake, &scheduler);
    crate::support::assert_retryable(&output, &[&scheduler["df://".len()..]]);
}

#[test]
fn a_scheduler_address_that_is_not_df_is_bad_input() {
    let lake = S3Lake::with_local_catalog();
    let output = run_transactions_on(&lake, "http://127.0.0.1:50050");
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{said}");
    assert!(said.contains("df://host:port"), "{said}");
}
