//! Runs stream: an input several times larger than the memory limit is read, transformed,
//! staged and committed by spilling, never by holding it.

use crate::support::{TestLake, lake_state};

/// The clickstream jobs over 252 MB of raw events, each under an 88 MB limit (a 66 MB pool):
/// the sessions' sorts spill, and every table equals the one unlimited runs write, row for
/// row. (With a 48 MB pool the sort's merge of its spilled runs, which cannot spill,
/// sometimes ran out: see `EngineError::MemoryLimit`.)
#[test]
fn jobs_over_an_input_several_times_their_memory_limit_spill_to_the_same_tables() {
    let (limited, unlimited) = (TestLake::new(), TestLake::new());
    for lake in [&limited, &unlimited] {
        lake.json(&["sample", "generate", "--scale", "0.6", "--days", "2"]);
    }
    let clickstream: u64 = std::fs::read_dir(limited.path().join("raw/clickstream"))
        .unwrap()
        .flat_map(|day| std::fs::read_dir(day.unwrap().path()).unwrap())
        .map(|file| file.unwrap().metadata().unwrap().len())
        .sum();
    assert!(clickstream > (5 * 88 / 2) << 20, "{clickstream} bytes");

    let mut spilled = false;
    for job in ["clickstream_events", "sessions", "traffic_windows"] {
        let output = limited.lakejob(&[
            "-vv",
            "--output",
            "json",
            "--memory-limit",
            "88MB",
            "run",
            job,
        ]);
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{job}: {log}");
        spilled |= log
            .split("spill_count=")
            .skip(1)
            .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit() && c != '0'));
        unlimited.json(&["run", job]);
    }
    assert!(spilled, "an operator spilled under the limit");

    let (limited, unlimited) = (lake_state(&limited), lake_state(&unlimited));
    let tables = unlimited.as_object().unwrap();
    assert!(tables.contains_key("processed.sessions"), "{tables:?}");
    for (table, state) in tables {
        assert_eq!(&limited[table], state, "{table}");
    }
}

/// Every session of a query job draws on the run's pool: a query that makes many times its
/// limit in rows (`generate_series`, `repeat`) streams them into its table, and its sort
/// spills instead of growing.
#[test]
fn a_query_job_generating_rows_streams_and_spills_under_its_limit() {
    let lake = TestLake::new();
    let folder = lake.path().join("generated-jobs");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("generated.yaml"),
        "name: generated\n\
         query: SELECT v, repeat('x', 64) AS pad FROM generate_series(1, 3000000) AS t(v) ORDER BY v DESC\n\
         target:\n  zone: curated\n  table: generated\n  format: delta\n  mode: overwrite\n",
    )
    .unwrap();
    let output = lake.lakejob(&[
        "-vv",
        "--output",
        "json",
        "--memory-limit",
        "64MB",
        "run",
        "generated",
        "--jobs",
        &folder.display().to_string(),
    ]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert!(
        log.split("spill_count=")
            .skip(1)
            .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit() && c != '0')),
        "the sort spilled"
    );
    let written = lake.query("SELECT count(*) AS n, max(v) AS top FROM curated.generated");
    assert_eq!(written[0]["n"], 3_000_000);
    assert_eq!(written[0]["top"], 3_000_000);
}
