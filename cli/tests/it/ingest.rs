//! `lakejob ingest` and incremental runs: content-addressed dedupe through the file ledger,
//! validation at the door, and files dropped straight into raw/.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::support::{TestLake, workspace};

const HEADER: &str = "transaction_id,order_id,customer_id,product_id,quantity,unit_price,discount,currency,payment_method,status,country,event_time\n";

fn fixture_csv() -> PathBuf {
    workspace().join(
        "sample-data/fixtures/lake/raw/transactions/date=2025-01-15/transactions_2025-01-15.csv",
    )
}

/// Files under a folder of the lake, relative to it, sorted.
fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    found.sort();
    found
}

fn outcomes(report: &Value) -> Vec<(String, String)> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = Path::new(f["file"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (name, f["outcome"].as_str().unwrap().to_string())
        })
        .collect()
}

/// `lakejob ingest <source> <path> --date 2025-01-15`, as JSON.
fn ingest_on_day(lake: &TestLake, source: &str, path: &Path) -> Value {
    ingest_report(
        lake,
        &[source, &path.display().to_string(), "--date", "2025-01-15"],
    )
}

/// `lakejob ingest <args>` as JSON, checking the exit code scripts rely on: 2 when a file
/// was rejected, else 1 when one was not taken, else 0.
fn ingest_report(lake: &TestLake, args: &[&str]) -> Value {
    let mut all = vec!["ingest"];
    all.extend(args);
    all.extend(["--output", "json"]);
    let output = lake.lakejob(&all);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let skipped = outcomes(&report).iter().any(|(_, o)| o == "skipped");
    let expected = match (report["files_rejected"].as_u64(), skipped) {
        (Some(rejected), _) if rejected > 0 => 2,
        (_, true) => 1,
        _ => 0,
    };
    assert_eq!(output.status.code(), Some(expected), "{report}");
    report
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let output = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child.stdin.take().unwrap().write_all(bytes)?;
            child.wait_with_output()
        })
        .expect("gzip runs");
    output.stdout
}

#[test]
fn content_is_ingested_once_and_bad_files_are_quarantined_with_reasons() {
    let lake = TestLake::with_references();
    let incoming = tempfile::tempdir().unwrap();
    let dir = incoming.path();
    let good = std::fs::read(fixture_csv()).unwrap();
    std::fs::write(dir.join("a.csv"), &good).unwrap();
    std::fs::write(dir.join("b_same_bytes.csv"), &good).unwrap();
    std::fs::write(dir.join("c_empty.csv"), b"").unwrap();
    std::fs::write(dir.join("d_header_only.csv"), HEADER).unwrap();
    std::fs::write(dir.join("e_other_header.csv"), "id,amount\n1,2\n").unwrap();
    let whole = gzip(&good);
    std::fs::write(dir.join("f_truncated.csv.gz"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(
        dir.join("g_binary.csv"),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01",
    )
    .unwrap();
    std::fs::write(dir.join("h_whole.csv.gz"), gzip(HEADER.as_bytes())).unwrap();

    let report = ingest_on_day(&lake, "transactions", dir);
    assert_eq!(
        outcomes(&report),
        [
            ("a.csv", "ingested"),
            ("b_same_bytes.csv", "duplicate"),
            ("c_empty.csv", "rejected"),
            ("d_header_only.csv", "rejected"),
            ("e_other_header.csv", "rejected"),
            ("f_truncated.csv.gz", "rejected"),
            ("g_binary.csv", "rejected"),
            ("h_whole.csv.gz", "rejected"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let reasons: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap_or(""))
        .collect();
    assert!(
        reasons[1].contains("same content") && reasons[1].contains("a.csv"),
        "{}",
        reasons[1]
    );
    assert_eq!(reasons[2], "the file is empty");
    assert_eq!(reasons[3], "the file has a header but no rows");
    assert!(
        reasons[4].contains("lacks the declared column(s) transaction_id"),
        "{}",
        reasons[4]
    );
    assert!(
        reasons[5].contains("not a whole gzip file"),
        "{}",
        reasons[5]
    );
    assert!(reasons[6].contains("binary"), "{}", reasons[6]);
    assert_eq!(reasons[7], "the file has a header but no rows");
    assert_eq!(
        (
            report["files_ingested"].as_u64(),
            report["files_rejected"].as_u64()
        ),
        (Some(1), Some(6))
    );

    assert_eq!(
        files_under(&lake.path().join("raw")),
        ["transactions/date=2025-01-15/a.csv"]
    );
    assert_eq!(
        files_under(
            &lake
                .path()
                .join("quarantine/files/transactions/date=2025-01-15")
        )
        .len(),
        6
    );

    // The same bytes re-sent a day later under another name are skipped.
    let later = dir.join("date=2025-01-16");
    std::fs::create_dir_all(&later).unwrap();
    std::fs::write(later.join("resent.csv"), &good).unwrap();
    let again = lake.json(&[
        "ingest",
        "transactions",
        &later.join("resent.csv").display().to_string(),
    ]);
    assert_eq!(
        outcomes(&again),
        [("resent.csv".to_string(), "duplicate".to_string())]
    );
    assert_eq!(files_under(&lake.path().join("raw")).len(), 1);

    // A glob pattern works, and a run then reads exactly the landed file.
    let by_glob = lake.json(&[
        "ingest",
        "transactions",
        &format!("{}/a*.csv", dir.display()),
    ]);
    assert_eq!(
        outcomes(&by_glob),
        [("a.csv".to_string(), "duplicate".to_string())]
    );

    // The ledger is a table like any other.
    let ledger = lake.query(
        "SELECT status, count(*) AS n FROM lakejob.file_ledger GROUP BY status ORDER BY status",
    );
    assert_eq!(
        ledger,
        [
            serde_json::json!({"status": "ingested", "n": 1}),
            serde_json::json!({"status": "rejected", "n": 6})
        ]
    );
}

#[test]
fn two_ingests_at_once_land_one_copy() {
    let lake = TestLake::new();
    let incoming = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture_csv()).unwrap();
    for i in 0..6 {
        // Distinct content per file: append a unique valid row.
        let mut bytes = good.clone();
        bytes.extend_from_slice(format!("T9999999999{i:02},O0000000001,C00000001,P000001,1,1.00,0.00,USD,card,completed,US,2025-01-15T10:00:00Z\n").as_bytes());
        std::fs::write(incoming.path().join(format!("part-{i}.csv")), bytes).unwrap();
    }
    let folder = incoming.path().display().to_string();
    let children: Vec<_> = (0..2)
        .map(|_| {
            lake.command(&[
                "ingest",
                "transactions",
                &folder,
                "--date",
                "2025-01-15",
                "--output",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let reports: Vec<Value> = children
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect();
    let landed: u64 = reports
        .iter()
        .map(|r| r["files_ingested"].as_u64().unwrap())
        .sum();
    assert_eq!(
        landed, 6,
        "each content lands exactly once across both processes: {reports:?}"
    );
    assert_eq!(
        files_under(&lake.path().join("raw/transactions/date=2025-01-15")).len(),
        6
    );
    assert!(
        files_under(&lake.path().join("_lakejob/ingest")).is_empty(),
        "no staged copy is left behind"
    );
}

#[test]
fn a_file_that_grows_while_read_is_not_taken() {
    let lake = TestLake::new();
    let incoming = tempfile::tempdir().unwrap();
    let path = incoming.path().join("growing.csv");
    let row = "T000000000001,O0000000001,C00000001,P000001,2,10.00,0.00,USD,card,completed,US,2025-01-15T10:00:00Z\n";
    std::fs::write(&path, HEADER.to_string() + &row.repeat(200_000)).unwrap();
    let writer_path = path.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_writer = std::sync::Arc::clone(&stop);
    let writer = std::thread::spawn(move || {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(writer_path)
            .unwrap();
        while !stop_writer.load(std::sync::atomic::Ordering::Relaxed) {
            file.write_all(row.as_bytes()).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(20));
    let report = ingest_on_day(&lake, "transactions", &path);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(
        outcomes(&report),
        [("growing.csv".to_string(), "skipped".to_string())]
    );
    let reason = report["files"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("changed while it was read"), "{reason}");
    assert!(!lake.path().join("raw").exists(), "nothing landed");
    // Once complete, the same file is taken.
    let report = ingest_on_day(&lake, "transactions", &path);
    assert_eq!(
        outcomes(&report),
        [("growing.csv".to_string(), "ingested".to_string())]
    );
}

#[test]
fn runs_read_only_new_files_and_skip_copies_dropped_into_raw() {
    let lake = TestLake::with_fixture();
    let first = lake.json(&["run", "transaction_etl"]);
    assert_eq!(
        (first["files_ingested"].as_u64(), first["rows_in"].as_u64()),
        (Some(1), Some(75))
    );
    let count = || {
        lake.query("SELECT count(*) AS n FROM processed.transactions")[0]["n"]
            .as_u64()
            .unwrap()
    };
    let rows = count();

    // Nothing new: nothing read, nothing written, and the summary says why.
    let again = lake.json(&["run", "transaction_etl"]);
    assert_eq!(
        (again["rows_in"].as_u64(), again["files_skipped"].as_u64()),
        (Some(0), Some(1))
    );
    assert!(
        again["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("already processed by transaction_etl"),
        "{again}"
    );
    assert_eq!(again["tables"], serde_json::json!([]));

    // A copy under another name, dropped straight into raw/, is hashed and skipped.
    let copy = lake
        .path()
        .join("raw/transactions/date=2025-01-16/copy.csv");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(fixture_csv(), &copy).unwrap();
    // A new file for the same date as the first one is read alone; the first one's
    // quarantined rows stay.
    let extra = lake
        .path()
        .join("raw/transactions/date=2025-01-15/late.csv");
    std::fs::write(&extra, format!("{HEADER}T000000000100,O0000000100,C00000100,P000100,1,5.00,0.00,USD,card,completed,US,2025-01-15T20:00:00Z\nT000000000101,O0000000100,C00000100,P000100,0,5.00,0.00,USD,card,completed,US,2025-01-15T20:00:00Z\n")).unwrap();
    let third = lake.json(&["run", "transaction_etl"]);
    assert_eq!(
        (
            third["files_ingested"].as_u64(),
            third["rows_in"].as_u64(),
            third["rows_rejected"].as_u64()
        ),
        (Some(1), Some(2), Some(1))
    );
    let reasons: Vec<&str> = third["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("same content") && r.contains("transactions_2025-01-15.csv")),
        "{reasons:?}"
    );
    assert_eq!(count(), rows + 1);
    let quarantined = lake.query("SELECT count(*) AS n FROM quarantine.transactions")[0]["n"]
        .as_u64()
        .unwrap();
    assert_eq!(quarantined, first["rows_rejected"].as_u64().unwrap() + 1);

    // --reprocess reads everything again and changes nothing.
    let forced = lake.json(&["run", "transaction_etl", "--reprocess"]);
    assert_eq!(forced["rows_in"].as_u64(), Some(77));
    assert_eq!(forced["tables"][0]["rows_inserted"], 0);
    assert_eq!(count(), rows + 1);
    assert_eq!(
        lake.query("SELECT count(*) AS n FROM quarantine.transactions")[0]["n"]
            .as_u64()
            .unwrap(),
        quarantined
    );

    // The ledger table says which job processed what.
    let ledger = lake.query("SELECT lake_path, array_to_string(processed_by, ',') AS jobs FROM lakejob.file_ledger ORDER BY lake_path");
    let listed: Vec<(String, String)> = ledger
        .iter()
        .map(|r| {
            (
                r["lake_path"].as_str().unwrap().to_string(),
                r["jobs"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (
                "raw/transactions/date=2025-01-15/late.csv".to_string(),
                "transaction_etl".to_string()
            ),
            (
                "raw/transactions/date=2025-01-15/transactions_2025-01-15.csv".to_string(),
                "transaction_etl".to_string()
            ),
        ]
    );
}

#[test]
fn json_lines_sources_are_checked_line_by_line() {
    let lake = TestLake::with_references();
    let incoming = tempfile::tempdir().unwrap();
    let products = workspace()
        .join("sample-data/fixtures/lake/raw/products/date=2025-01-15/products_2025-01-15.jsonl");
    std::fs::copy(&products, incoming.path().join("a.jsonl")).unwrap();
    std::fs::write(incoming.path().join("b.jsonl"), "id,name\n1,a\n").unwrap();
    std::fs::write(
        incoming.path().join("c.jsonl.gz"),
        gzip(&std::fs::read(&products).unwrap()),
    )
    .unwrap();
    let report = ingest_on_day(&lake, "products", incoming.path());
    assert_eq!(
        outcomes(&report),
        [
            ("a.jsonl", "ingested"),
            ("b.jsonl", "rejected"),
            ("c.jsonl.gz", "ingested")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        report["files"][1]["reason"]
            .as_str()
            .unwrap()
            .contains("no line is a JSON object"),
        "{report}"
    );
    // The gzip copy holds the same lines in other bytes: a run reads both files; the merge
    // keeps one row per product.
    let run = lake.json(&["run", "product_enrichment"]);
    assert_eq!(
        (run["files_ingested"].as_u64(), run["rows_out"].as_u64()),
        (Some(2), Some(4)),
        "{run}"
    );
}

#[test]
fn a_file_above_the_sources_size_limit_is_not_taken() {
    let lake = TestLake::with_references();
    let jobs = lake.with_edited_job("transaction_etl", |t| {
        t.replace("    type: csv\n", "    type: csv\n  max_file_size: 1KB\n")
    });
    let report = ingest_report(
        &lake,
        &[
            "transactions",
            &fixture_csv().display().to_string(),
            "--jobs",
            &jobs.display().to_string(),
        ],
    );
    assert_eq!(
        outcomes(&report),
        [(
            "transactions_2025-01-15.csv".to_string(),
            "skipped".to_string()
        )]
    );
    let reason = report["files"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("above the source's limit of 1024 bytes"),
        "{reason}"
    );
    assert!(!lake.path().join("raw").exists(), "nothing landed");
}

#[test]
fn a_fifo_in_an_ingested_folder_is_refused_not_waited_on() {
    let lake = TestLake::with_references();
    let folder = lake.path().join("incoming");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(fixture_csv(), folder.join("a.csv")).unwrap();
    let fifo = folder.join("b.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let mut child = lake
        .command(&["ingest", "transactions", &folder.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("ingest waits forever on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("b.csv") && stderr.contains("not a regular file"),
        "{stderr}"
    );
    assert!(
        !lake.path().join("raw/transactions").exists(),
        "nothing landed"
    );
}

#[test]
fn a_raw_file_rewritten_in_place_is_read_again() {
    let lake = TestLake::with_fixture();
    let first = lake.json(&["run", "transaction_etl"]);
    let raw = lake
        .path()
        .join("raw/transactions/date=2025-01-15/transactions_2025-01-15.csv");
    let mut file = std::fs::OpenOptions::new().append(true).open(&raw).unwrap();
    writeln!(
        file,
        "T000000000999,O0000000999,C00000001,P000001,1,10.00,0.00,USD,card,completed,US,2025-01-15T10:00:00Z"
    )
    .unwrap();
    drop(file);
    let second = lake.json(&["run", "transaction_etl"]);
    assert_eq!(second["files_ingested"], 1, "{second}");
    assert_eq!(
        second["rows_in"].as_u64(),
        first["rows_in"].as_u64().map(|n| n + 1),
        "{second}"
    );
    let added = lake.query(
        "SELECT count(*) AS n FROM processed.transactions WHERE transaction_id = 'T000000000999'",
    );
    assert_eq!(added[0]["n"], 1);
    // Unchanged since, it is not read a third time.
    let third = lake.json(&["run", "transaction_etl"]);
    assert_eq!(third["files_ingested"], 0, "{third}");
}

#[test]
fn a_date_folder_linked_outside_the_lake_is_not_read() {
    let lake = TestLake::with_fixture();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(
        elsewhere.path().join("secret.csv"),
        format!("{HEADER}T000000000777,O0000000777,C00000001,P000001,1,10.00,0.00,USD,card,completed,US,2025-01-16T10:00:00Z\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        elsewhere.path(),
        lake.path().join("raw/transactions/date=2025-01-16"),
    )
    .unwrap();
    let summary = lake.json(&["run", "transaction_etl"]);
    assert_eq!(
        summary["rows_in"], 75,
        "only the lake's own file: {summary}"
    );
    let skipped = summary["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("date=2025-01-16/secret.csv"))
            && s["reason"]
                .as_str()
                .is_some_and(|r| r.contains("outside the lake"))),
        "{summary}"
    );
    let read = lake.query(
        "SELECT count(*) AS n FROM processed.transactions WHERE transaction_id = 'T000000000777'",
    );
    assert_eq!(read[0]["n"], 0);
}

fn transaction_row(id: u32, date: &str) -> String {
    format!(
        "{HEADER}T{id:012},O0000000800,C00000001,P000001,1,10.00,0.00,USD,card,completed,US,{date}T10:00:00Z\n"
    )
}

#[test]
fn raw_files_named_with_any_character_are_read_and_the_unreadable_are_named() {
    let lake = TestLake::with_fixture();
    let day = lake.path().join("raw/transactions/date=2025-01-16");
    std::fs::create_dir_all(&day).unwrap();
    let names = [
        "Café.csv",
        "São Paulo.csv",
        "100%.csv",
        "a*b?.csv",
        "back\\slash.csv",
        "50%25off.csv",
    ];
    for (id, name) in (800..).zip(names) {
        std::fs::write(day.join(name), transaction_row(id, "2025-01-16")).unwrap();
    }
    // A name a local store takes for an unfinished upload, or with a control character it
    // cannot address, cannot be read: each is named in the summary, and every other file is
    // read, a date folder holding a link loop included.
    std::fs::write(day.join("x.csv#1"), transaction_row(899, "2025-01-16")).unwrap();
    std::fs::write(
        day.join("tab\tname.csv"),
        transaction_row(897, "2025-01-16"),
    )
    .unwrap();
    let looped = lake.path().join("raw/transactions/date=2025-01-17");
    std::fs::create_dir_all(&looped).unwrap();
    std::fs::write(looped.join("t.csv"), transaction_row(898, "2025-01-17")).unwrap();
    std::os::unix::fs::symlink("..", looped.join("loop")).unwrap();
    let summary = lake.json(&["run", "transaction_etl"]);
    assert_eq!(summary["rows_in"], 75 + 6 + 1, "{summary}");
    let skipped = summary["skipped"].as_array().unwrap();
    let reason_of = |end: &str| {
        skipped
            .iter()
            .find(|s| s["file"].as_str().is_some_and(|f| f.ends_with(end)))
            .and_then(|s| s["reason"].as_str())
            .unwrap_or_else(|| panic!("{end} is not named: {summary}"))
            .to_string()
    };
    assert!(reason_of("x.csv#1").contains("rename it"));
    assert!(reason_of("tab\tname.csv").contains("control character"));
    let read = lake.query(
        "SELECT count(*) AS n FROM processed.transactions WHERE transaction_id BETWEEN 'T000000000800' AND 'T000000000899'",
    );
    assert_eq!(read[0]["n"], 7);
    let files = lake.query(
        "SELECT lake_path FROM lakejob.file_ledger WHERE lake_path LIKE '%date=2025-01-16%'",
    );
    assert!(
        files.iter().any(|f| f["lake_path"]
            .as_str()
            .is_some_and(|f| f.ends_with("/Café.csv"))),
        "the ledger names files as they are named: {files:?}"
    );
    // Nothing is read twice, and later runs still succeed.
    let again = lake.json(&["run", "transaction_etl"]);
    assert_eq!(again["files_ingested"], 0, "{again}");
}

#[test]
fn ingest_lands_a_file_under_its_own_name_and_refuses_a_name_it_could_not_read() {
    let lake = TestLake::with_references();
    let folder = lake.path().join("incoming");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("São Paulo.csv"),
        transaction_row(800, "2025-01-15"),
    )
    .unwrap();
    std::fs::write(folder.join("y.csv#2"), transaction_row(801, "2025-01-15")).unwrap();
    let report = ingest_on_day(&lake, "transactions", &folder);
    let mut seen = outcomes(&report);
    seen.sort();
    assert_eq!(
        seen,
        [
            ("São Paulo.csv".to_string(), "ingested".to_string()),
            ("y.csv#2".to_string(), "skipped".to_string())
        ],
        "{report}"
    );
    assert!(
        lake.path()
            .join("raw/transactions/date=2025-01-15/São Paulo.csv")
            .is_file()
    );
    let summary = lake.json(&["run", "transaction_etl"]);
    assert_eq!(summary["rows_in"], 1, "{summary}");
}

#[test]
fn a_source_bounds_how_far_its_compressed_files_may_inflate() {
    let lake = TestLake::with_fixture();
    let jobs = lake.with_edited_job("transaction_etl", |t| {
        t.replacen(
            "  name: transactions\n",
            "  name: transactions\n  max_inflated_size: 1MB\n",
            1,
        )
    });
    let mut csv = HEADER.to_string();
    for id in 0..20_000u32 {
        csv.push_str(&format!(
            "T{:012},O0000000800,C00000001,P000001,1,10.00,0.00,USD,card,completed,US,2025-01-16T10:00:00Z\n",
            900_000 + id
        ));
    }
    let day = lake.path().join("raw/transactions/date=2025-01-16");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join("big.csv.gz"), gzip(csv.as_bytes())).unwrap();
    let summary = lake.json(&[
        "run",
        "transaction_etl",
        "--jobs",
        &jobs.display().to_string(),
    ]);
    let skipped = summary["skipped"].as_array().unwrap();
    assert!(
        skipped.iter().any(|s| s["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("big.csv.gz"))
            && s["reason"]
                .as_str()
                .is_some_and(|r| r.contains("inflates to more than 1048576 bytes"))),
        "{summary}"
    );
    // The other file's 75 rows, and the big file's rows up to the limit, not past it.
    let rows_in = summary["rows_in"].as_u64().unwrap();
    assert!((76..20_075).contains(&rows_in), "{summary}");
}
