//! Runs stream: an input several times larger than the memory limit is read, transformed,
//! staged and committed by spilling, never by holding it.

use crate::support::{TestLake, lake_state};

/// The daily pipeline over 126 MB of clickstream under a 32 MB limit: the sessions' sorts
/// spill, and every table equals the one an unlimited run writes, row for row.
#[test]
fn a_pipeline_over_an_input_several_times_its_memory_limit_spills_to_the_same_tables() {
    let (limited, unlimited) = (TestLake::new(), TestLake::new());
    for lake in [&limited, &unlimited] {
        lake.json(&["sample", "generate", "--scale", "0.3", "--days", "2"]);
    }
    let clickstream: u64 = std::fs::read_dir(limited.path().join("raw/clickstream"))
        .unwrap()
        .flat_map(|day| std::fs::read_dir(day.unwrap().path()).unwrap())
        .map(|file| file.unwrap().metadata().unwrap().len())
        .sum();
    assert!(clickstream > (3 * 32) << 20, "{clickstream} bytes");

    let output = limited.lakejob(&[
        "-vv",
        "--output",
        "json",
        "--memory-limit",
        "32MB",
        "pipeline",
        "run",
        "daily",
    ]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    let spilled = log
        .split("spill_count=")
        .skip(1)
        .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit() && c != '0'));
    assert!(spilled, "an operator spilled under the limit");
    unlimited.json(&["pipeline", "run", "daily"]);

    let (limited, unlimited) = (lake_state(&limited), lake_state(&unlimited));
    let tables = unlimited.as_object().unwrap();
    assert!(tables.contains_key("processed.sessions"), "{tables:?}");
    for (table, state) in tables {
        assert_eq!(&limited[table], state, "{table}");
    }
}
