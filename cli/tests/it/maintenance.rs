//! `lakejob maintain`: compaction, vacuum, checkpoints and record expiry change no row, leave
//! one file per partition and no file no version references.

use crate::support::{TestLake, run_python};

/// For a Delta table folder: whether the Parquet files on disk are exactly the live ones
/// (read by the deltalake package, not by lakejob), and the most live files in one folder.
fn files_on_disk_and_live(table: &std::path::Path) -> (bool, u64) {
    let answer = run_python(&format!(
        "import glob, os\n\
         from urllib.parse import unquote, urlparse\n\
         from deltalake import DeltaTable\n\
         path = {:?}\n\
         live = {{os.path.normpath(unquote(urlparse(u).path)) for u in DeltaTable(path).file_uris()}}\n\
         disk = {{os.path.normpath(p) for p in glob.glob(path + '/**/*.parquet', recursive=True) if '/_delta_log/' not in p}}\n\
         folders = {{}}\n\
         for f in live:\n    folders[os.path.dirname(f)] = folders.get(os.path.dirname(f), 0) + 1\n\
         print(live == disk, max(folders.values()))",
        table.display().to_string()
    ));
    let (same, most) = answer.split_once(' ').unwrap();
    (same == "True", most.parse().unwrap())
}

#[test]
fn maintain_compacts_vacuums_and_checkpoints_without_changing_a_row() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "product_enrichment", "--date", "2025-01-15"]);
    lake.json(&["run", "product_enrichment", "--date", "2025-01-16"]);
    lake.json(&["run", "transaction_etl"]);
    lake.json(&["run", "transaction_etl", "--reprocess"]);
    let tables = [
        ("processed.products", "processed/products"),
        ("processed.transactions", "processed/transactions"),
    ];
    let rows = |table: &str| lake.query(&format!("SELECT * FROM {table} ORDER BY 1"));
    let before: Vec<_> = tables.iter().map(|(t, _)| rows(t)).collect();
    let ledger = || {
        lake.query(
            "SELECT md5, lake_path, status, processed_by FROM lakejob.file_ledger ORDER BY md5",
        )
    };
    let ledger_before = ledger();
    let stale = |folder: &str| !files_on_disk_and_live(&lake.path().join(folder)).0;
    assert!(
        stale("processed/products"),
        "a merge that updates rows leaves the files it replaced behind"
    );

    let refused = lake.lakejob(&["maintain", "--retention", "1h"]);
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));

    let dry = lake.json(&["maintain", "--retention", "0s", "--force", "--dry-run"]);
    let products = dry["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "processed.products")
        .unwrap();
    assert!(products["files_vacuumed"].as_u64().unwrap() > 0, "{dry}");
    assert!(stale("processed/products"), "a dry run removes nothing");

    let done = lake.json(&[
        "maintain",
        "--retention",
        "0s",
        "--force",
        "--keep-records",
        "0s",
    ]);
    assert!(done["records_expired"].as_u64().unwrap() > 0, "{done}");
    for ((table, folder), before) in tables.iter().zip(&before) {
        assert_eq!(&rows(table), before, "{table} keeps its rows");
        let (same, most) = files_on_disk_and_live(&lake.path().join(folder));
        assert!(
            same,
            "{table}: a file on disk that no version references: {done}"
        );
        assert_eq!(most, 1, "{table}: one file per partition");
        let log = lake.path().join(folder).join("_delta_log");
        let checkpointed = std::fs::read_dir(&log).unwrap().flatten().any(|f| {
            f.file_name()
                .to_string_lossy()
                .ends_with(".checkpoint.parquet")
        });
        assert!(checkpointed, "{table}: a checkpoint");
        let commits = std::fs::read_dir(&log)
            .unwrap()
            .flatten()
            .filter(|f| f.file_name().to_string_lossy().ends_with(".json"))
            .count();
        assert_eq!(
            commits, 1,
            "{table}: the log before the checkpoint is past --keep-records: {done}"
        );
    }
    let runs = lake.path().join("_lakejob/runs");
    let left = walk_files(&runs);
    assert_eq!(left, 0, "run records past their retention are gone");
    // The ledger's documents are folded into one snapshot, which answers as they did.
    assert!(
        done["ledger_documents_compacted"].as_u64().unwrap() > 0,
        "{done}"
    );
    let loose = walk_files(&lake.path().join("_lakejob/ledger/files"))
        + walk_files(&lake.path().join("_lakejob/ledger/processed"));
    assert_eq!(loose, 0, "every ledger document folded: {done}");
    let skipped = lake.json(&["run", "transaction_etl"]);
    assert_eq!(skipped["files_ingested"], 0, "already processed: {skipped}");
    assert_eq!(
        ledger(),
        ledger_before,
        "the ledger table, rebuilt from the snapshot"
    );
    // The lake still runs: the next run of a maintained table works.
    let again = lake.json(&["run", "transaction_etl", "--reprocess"]);
    assert_eq!(again["status"], "succeeded", "{again}");
    assert_eq!(rows("processed.transactions"), before[1]);
}

fn walk_files(folder: &std::path::Path) -> usize {
    std::fs::read_dir(folder).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

#[test]
fn a_table_keeps_the_retention_its_job_declares() {
    let lake = TestLake::with_fixture();
    let jobs = lake.with_edited_job("product_enrichment", |text| {
        text.replace(
            "target:\n",
            "target:\n  maintenance: { retention: 30d, target_file_size: 64MB }\n",
        )
    });
    let jobs = jobs.display().to_string();
    for date in ["2025-01-15", "2025-01-16"] {
        lake.json(&["--jobs", &jobs, "run", "product_enrichment", "--date", date]);
    }
    let done = lake.json(&["--jobs", &jobs, "maintain", "--retention", "0s", "--force"]);
    let products = done["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "processed.products")
        .unwrap();
    assert_eq!(products["files_vacuumed"], 0, "30 days, not 0: {done}");
    assert!(!files_on_disk_and_live(&lake.path().join("processed/products")).0);

    let short = lake.with_edited_job("product_enrichment", |text| {
        text.replace("target:\n", "target:\n  maintenance: { retention: 1d }\n")
    });
    let output = lake.lakejob(&["validate", &short.display().to_string()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("target.maintenance: retention: 1d is under 7 days")
    );
}
