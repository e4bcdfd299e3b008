//! How the lakejob process takes memory from the OS (`tune_memory` in `cli/src/main.rs`).

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{TestLake, workspace};

/// `THP_enabled` of a lakejob process started with `env`, read while it waits on a job file
/// that is a FIFO: opening the FIFO's write end returns once lakejob has opened it, past its
/// start.
fn huge_pages_allowed(lake: &TestLake, env: &[(&str, &str)]) -> String {
    let fifo = lake.path().join("job.yaml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let fifo_arg = fifo.display().to_string();
    let mut command = lake.command(&["validate", &fifo_arg]);
    command
        .env_remove("MIMALLOC_ALLOW_THP")
        .envs(env.iter().copied())
        .stdout(Stdio::null());
    let mut child = command.spawn().expect("lakejob starts");
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .expect("lakejob opens the job file");
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .expect("the process's status");
    let job = std::fs::read(workspace().join("jobs/definitions/transaction_etl.yaml"))
        .expect("a shipped job");
    writer.write_all(&job).expect("the job file is written");
    drop(writer);
    assert!(child.wait().expect("lakejob ends").success());
    std::fs::remove_file(&fifo).expect("the FIFO is removed");
    status
        .lines()
        .find_map(|line| line.strip_prefix("THP_enabled:"))
        .map(|value| value.trim().to_string())
        .unwrap_or_else(|| panic!("no THP_enabled in {status}"))
}

#[test]
fn the_process_takes_small_pages_unless_mimalloc_allow_thp_says_otherwise() {
    let lake = TestLake::new();
    assert_eq!(huge_pages_allowed(&lake, &[]), "0");
    assert_eq!(
        huge_pages_allowed(&lake, &[("MIMALLOC_ALLOW_THP", "1")]),
        "1"
    );
}
