//! Bad job files fail before any data is written, with messages that name the field.

use std::path::Path;

use crate::support::{TestLake, workspace};

const SHIPPED: &str = "jobs/definitions/transaction_etl.yaml";

/// Writes the shipped job with `edit` applied into `<lake>/jobs/`.
fn job_with(lake: &TestLake, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string(workspace().join(SHIPPED)).expect("shipped job");
    let folder = lake.path().join("jobs");
    std::fs::create_dir_all(&folder).expect("jobs folder");
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit must change the job");
    std::fs::write(folder.join("transaction_etl.yaml"), edited).expect("write job");
    folder
}

fn run_with_jobs(lake: &TestLake, folder: &Path) -> (i32, String) {
    let output = lake.lakejob(&[
        "run",
        "transaction_etl",
        "--date",
        "2025-01-15",
        "--jobs",
        &folder.display().to_string(),
    ]);
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn assert_nothing_written(lake: &TestLake) {
    for zone in ["processed", "quarantine"] {
        assert!(
            !lake.path().join(zone).exists(),
            "{zone} was written despite a bad job"
        );
    }
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| t.replace("  partition_by:", "  partiton_by:"));
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("transaction_etl.yaml") && stderr.contains("unknown field `partiton_by`"),
        "{stderr}"
    );
    assert!(stderr.contains("line"), "{stderr}");
    assert_nothing_written(&lake);
}

#[test]
fn a_missing_source_is_named() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| {
        t.replacen(
            "source:\n  name: transactions",
            "sauce:\n  name: transactions",
            1,
        )
    });
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("sauce") || stderr.contains("missing field `source`"),
        "{stderr}"
    );
    assert_nothing_written(&lake);
}

#[test]
fn every_semantic_problem_is_reported_at_once() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| {
        t.replace(
            "type: \"decimal(12,2)\", nullable: false }\n    - { name: discount",
            "type: \"decimel(12,2)\", nullable: false }\n    - { name: discount",
        )
        .replace("expr: \"quantity < 0\"", "expr: \"quantity <<< 0\"")
        .replace(
            "partition_by: [year, month, day]",
            "partition_by: [year, month, hour]",
        )
    });
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    for expected in [
        "source.columns[5] (unit_price).type: unknown type 'decimel(12,2)'",
        "steps[2].derive[3] (is_return)",
        "target.partition_by: 'hour' is not an output column",
    ] {
        assert!(
            stderr.contains(expected),
            "missing «{expected}» in:\n{stderr}"
        );
    }
    assert_nothing_written(&lake);

    // `lakejob validate` reports the same, for the file and the shipped jobs alike.
    let output = lake.lakejob(&["validate", &folder.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("error")).count(),
        3,
        "{stdout}"
    );
    let shipped = lake.lakejob(&["validate"]);
    assert!(
        shipped.status.success(),
        "{}",
        String::from_utf8_lossy(&shipped.stdout)
    );
}

#[test]
fn parquet_targets_write_hive_partitions_and_refuse_merge() {
    let lake = TestLake::with_fixture();
    let folder = job_with(&lake, |t| t.replace("format: delta\n", "format: parquet\n"));
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("target.mode: merge needs format delta"),
        "{stderr}"
    );

    let folder = job_with(&lake, |t| {
        t.replace("format: delta\n", "format: parquet\n").replace(
            "  mode: merge\n  key: [transaction_id]\n",
            "  mode: overwrite_partitions\n",
        )
    });
    let count = || lake.query("SELECT count(*) AS n FROM processed.transactions")[0]["n"].clone();
    let (code, stderr) = run_with_jobs(&lake, &folder);
    assert_eq!(code, 0, "{stderr}");
    let first = count();
    let rerun = lake.lakejob(&[
        "run",
        "transaction_etl",
        "--date",
        "2025-01-15",
        "--reprocess",
        "--jobs",
        &folder.display().to_string(),
    ]);
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(count(), first, "a re-run replaces the partitions it writes");
    assert!(
        lake.path()
            .join("processed/transactions/year=2025/month=1/day=15")
            .is_dir()
    );
    let seen = crate::support::run_python(&format!(
        "import duckdb\n\
         print(duckdb.sql(\"SELECT count(*), sum(amount_usd) FROM read_parquet('{}/**/*.parquet', hive_partitioning=true) WHERE day = 15\").fetchall()[0])",
        lake.path().join("processed/transactions").display()
    ));
    let ours = lake.query("SELECT count(*) AS n, CAST(sum(amount_usd) AS VARCHAR) AS total FROM processed.transactions WHERE day = 15");
    assert_eq!(
        seen,
        format!(
            "({}, Decimal('{}'))",
            ours[0]["n"],
            ours[0]["total"].as_str().unwrap_or_default()
        )
    );
}
