//! Running the binary against a lake in a temporary folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A temporary lake and the commands that use it.
pub struct TestLake {
    pub dir: tempfile::TempDir,
    /// Whether its commands run with the jobs in `<lake>/jobs/` (`LAKEJOB_JOBS`).
    own_jobs: bool,
    /// Whether those are the shipped source jobs, tolerant.
    tolerant_jobs: bool,
}

impl TestLake {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary folder"),
            own_jobs: false,
            tolerant_jobs: false,
        }
    }

    /// A lake whose commands run with the jobs its test writes into `<lake>/jobs/`.
    pub fn with_own_jobs() -> Self {
        let lake = Self::new();
        std::fs::create_dir_all(lake.path().join("jobs")).expect("jobs folder");
        Self {
            own_jobs: true,
            ..lake
        }
    }

    /// A lake holding a copy of the checked-in fixture, run with the shipped source jobs
    /// tolerating any share of bad input (`<lake>/jobs/`, passed as `LAKEJOB_JOBS`): the
    /// fixture packs every kind of dirt into a few dozen rows, far above the default
    /// tolerance, which tests of their own check.
    pub fn with_fixture() -> Self {
        let lake = Self::new();
        copy_dir(&workspace().join("sample-data/fixtures/lake"), lake.path());
        lake.write_tolerant_jobs()
    }

    fn write_tolerant_jobs(mut self) -> Self {
        self.tolerant_jobs = true;
        self.own_jobs = true;
        let folder = self.path().join("jobs");
        std::fs::create_dir_all(&folder).expect("jobs folder");
        for job in [
            "transaction_etl",
            "clickstream_events",
            "product_enrichment",
            "reviews_etl",
        ] {
            let shipped = workspace().join(format!("jobs/definitions/{job}.yaml"));
            let text = std::fs::read_to_string(shipped).expect("shipped job");
            std::fs::write(folder.join(format!("{job}.yaml")), tolerant(&text)).expect("write job");
        }
        self
    }

    /// Writes the shipped job `job` (tolerant, in a lake whose jobs are) with `edit` applied
    /// into `<lake>/jobs/`, the folder to pass as `--jobs`.
    pub fn with_edited_job(&self, job: &str, edit: impl Fn(String) -> String) -> PathBuf {
        let shipped = workspace().join(format!("jobs/definitions/{job}.yaml"));
        let mut text = std::fs::read_to_string(shipped).expect("shipped job");
        if self.tolerant_jobs {
            text = tolerant(&text);
        }
        let folder = self.path().join("jobs");
        std::fs::create_dir_all(&folder).expect("jobs folder");
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit must change the job");
        std::fs::write(folder.join(format!("{job}.yaml")), edited).expect("write job");
        folder
    }

    /// An empty lake with only the fixture's reference tables, run with the tolerant jobs
    /// of [`TestLake::with_fixture`].
    pub fn with_references() -> Self {
        let lake = Self::new();
        copy_dir(
            &workspace().join("sample-data/fixtures/lake/reference"),
            &lake.path().join("reference"),
        );
        lake.write_tolerant_jobs()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Whether no run of `job` is left to finish (no record under `_lakejob/pending/<job>/`)
    /// and none left staged files (under `_lakejob/staging/<job>/`).
    pub fn nothing_pending(&self, job: &str) -> bool {
        let empty = |folder: &str| {
            let folder = self.path().join(folder).join(job);
            std::fs::read_dir(folder).map_or(true, |mut entries| entries.next().is_none())
        };
        empty("_lakejob/pending") && empty("_lakejob/staging")
    }

    /// `lakejob <args>` on this lake, ready to start.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_lakejob"));
        command
            .args(args)
            .env("LAKEJOB_LAKE", self.path())
            .env_remove("LAKEJOB_JOBS")
            .env_remove("LAKEJOB_FAILPOINT")
            .env_remove("RUST_LOG");
        if self.own_jobs {
            command.env("LAKEJOB_JOBS", self.path().join("jobs"));
        }
        command
    }

    /// Runs `lakejob <args>` on this lake.
    pub fn lakejob(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("lakejob runs")
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.lakejob(&all);
        assert!(
            output.status.success(),
            "lakejob {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    /// The rows of a shipped named query, as JSON objects.
    pub fn query_named(&self, name: &str) -> Vec<Value> {
        match self.json(&["query", "--named", name]) {
            Value::Array(rows) => rows,
            other => panic!("query {name} printed {other}"),
        }
    }

    /// The rows of a query, as JSON objects.
    pub fn query(&self, sql: &str) -> Vec<Value> {
        match self.json(&["query", sql]) {
            Value::Array(rows) => rows,
            other => panic!("query printed {other}"),
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// The Python with deltalake, pyarrow and duckdb that `scripts/test` installs.
/// A job file whose source tolerates any share of bad input: a `tolerance` line closes its
/// `source:` block, so edits of the block's other lines still apply.
fn tolerant(job: &str) -> String {
    let mut out = String::new();
    let mut in_source = false;
    for line in job.lines() {
        if in_source && !line.is_empty() && !line.starts_with([' ', '#']) {
            out.push_str("  tolerance: { rejected_rows: 1, unreadable_files: 1 }\n");
            in_source = false;
        }
        in_source |= line == "source:";
        out.push_str(line);
        out.push('\n');
    }
    out
}

pub fn python() -> String {
    std::env::var("LAKEJOB_PYTHON").unwrap_or_else(|_| {
        let venv = workspace().join(".venv/bin/python");
        if venv.exists() {
            venv.display().to_string()
        } else {
            "python3".into()
        }
    })
}

/// Runs a Python snippet (an independent reader) and returns what it prints.
pub fn run_python(code: &str) -> String {
    // deltalake's native threads can abort the interpreter while it tears down ("terminate
    // called without an active exception"), after the answer is printed: leave without the
    // teardown once the output is flushed.
    let code = format!("{code}\nimport os, sys\nsys.stdout.flush()\nos._exit(0)\n");
    let output = Command::new(python())
        .args(["-c", &code])
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "the independent reader failed (run scripts/test, which installs deltalake, pyarrow and duckdb): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The whole lake as users see it, read by deltalake (Python), not by lakejob: every catalogued
/// table's rows (sorted; without the id of the run that wrote a quarantined row) and registered
/// partitions, and the file ledger. Fails if a table references a file that is not there or
/// registers a partition twice.
pub fn lake_state(lake: &TestLake) -> Value {
    let root = lake.path().display().to_string();
    lake_state_at(lake.path(), &root)
}

/// [`lake_state`] of a lake copied to `dir` from `url`, where its catalog says its tables are.
pub fn lake_state_at(dir: &Path, url: &str) -> Value {
    let dump = run_python(&format!(
        r#"
import glob, json, os
from deltalake import DeltaTable
state = {{}}
for doc in sorted(glob.glob("{lake}/_lakejob/catalog/*/*.json")):
    entry = json.load(open(doc))
    name = "{{database}}.{{table}}".format(**entry["definition"]["name"])
    if name.startswith("lakejob.") and name != "lakejob.file_ledger":
        continue  # run history: a killed run is rightly part of it
    partitions = [tuple(p) for p in entry["partitions"]]
    assert len(set(partitions)) == len(partitions), name + " registers a partition twice"
    table = DeltaTable(entry["definition"]["location"].replace("{url}", "{lake}", 1))
    missing = [u for u in table.file_uris() if not os.path.exists(u.removeprefix("file://"))]
    assert not missing, "{{}} references missing files {{}}".format(name, missing)
    rows = table.to_pyarrow_table().to_pylist()
    if name == "lakejob.file_ledger":
        keep = ["md5", "lake_path", "status", "processed_by"]
        rows = [{{k: sorted(r[k]) if k == "processed_by" else r[k] for k in keep}} for r in rows]
    rows = sorted(json.dumps({{k: str(v) for k, v in r.items() if k != "_run_id"}}, sort_keys=True) for r in rows)
    state[name] = {{"rows": rows, "partitions": sorted(partitions)}}
print(json.dumps(state))
"#,
        lake = dir.display()
    ));
    serde_json::from_str(&dump).unwrap()
}

/// A process that failed as retryable (exit 1) and said why in words containing one of
/// `mentions`.
pub fn assert_retryable(output: &Output, mentions: &[&str]) {
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "a retryable failure: {said}");
    assert!(
        mentions.iter().any(|m| said.contains(m)),
        "the message must say one of {mentions:?}: {said}"
    );
}

/// A run summary's row accounting: in, out, rejected, duplicate.
pub fn row_counts(summary: &Value) -> [u64; 4] {
    ["rows_in", "rows_out", "rows_rejected", "rows_duplicate"].map(|field| {
        summary[field]
            .as_u64()
            .unwrap_or_else(|| panic!("no {field} in {summary}"))
    })
}
