//! The file ledger: which raw files the lake holds, by content (MD5), and which jobs have
//! processed them.
//!
//! A content is first recorded in one small JSON document, `_lakejob/ledger/files/<md5>.json`,
//! created with a conditional put (create-if-absent), so two processes landing the same bytes
//! at once agree on exactly one winner; a job's processing of it in one document under
//! `_lakejob/ledger/processed/<job>/<md5>.json`, written after the job's data commit.
//! `lakejob maintain` folds those documents into a snapshot (see [`compacted`]), so what a
//! run reads is one object plus the documents of the days since. The Delta table
//! `lakejob.file_ledger` is a projection of the whole for SQL (local or Athena), rebuilt after
//! each ingest and run, so a crash before the rebuild loses nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, Date32Array, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};
use md5::{Digest, Md5};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, TableFormat, TableName};
use crate::error::{EngineError, Result};
use crate::lake::{Lake, STATE_DIR, object_path};
use crate::types::UTC;
use crate::writer::{TableWrite, WriteMetrics, WriteMode};

mod compacted;
use compacted::Snapshot;

/// Tries at publishing the ledger table when concurrent runs race for the commit.
const PUBLISH_ATTEMPTS: u32 = 5;
/// Objects read or written at once when the ledger touches many documents.
const CONCURRENCY: usize = 16;

/// Whether a file entered the raw zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStatus {
    /// Landed in `raw/`.
    Ingested,
    /// Failed validation; kept under `quarantine/files/` with the reason.
    Rejected,
}

impl FileStatus {
    /// The name used in the ledger table.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Ingested => "ingested",
            FileStatus::Rejected => "rejected",
        }
    }
}

/// What the ledger knows of one content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// MD5 of the bytes, lower-case hex.
    pub md5: String,
    /// Size in bytes.
    pub size: u64,
    /// The source (`transactions`, ...).
    pub source: String,
    /// Where the file came from, as given to `ingest` (or its raw path when it was found
    /// in `raw/` directly).
    pub original_path: String,
    /// Where it is in the lake: under `raw/` when ingested, `quarantine/files/` when rejected.
    pub lake_path: String,
    /// The raw date folder it belongs to.
    pub raw_date: NaiveDate,
    /// When it was first seen.
    pub ingested_at: DateTime<Utc>,
    /// Ingested or rejected.
    pub status: FileStatus,
    /// Why it was rejected.
    pub reason: Option<String>,
}

/// A job's processing of one content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedMark {
    /// The job.
    pub job: String,
    /// The run that committed its rows.
    pub run_id: String,
    /// When.
    pub processed_at: DateTime<Utc>,
    /// Why the file gave no rows, when it could not be read.
    pub skipped_reason: Option<String>,
}

/// The outcome of claiming a content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This process recorded it first.
    New,
    /// The ledger already had it (from an earlier run, or a process that won the race).
    Existing(FileRecord),
}

/// Ranged reads this large keep hashing streamed (bounded memory) without a hop per small
/// chunk: a local store's plain stream hands out 8 KiB chunks, each a trip through the
/// blocking pool, which cost more than the hashing itself.
const HASH_RANGE: u64 = 8 * 1024 * 1024;

/// MD5 (hex) and size of an object, streamed: the file is never whole in memory, and the next
/// range is fetched while this one is hashed.
pub async fn md5_of(store: &dyn ObjectStore, path: &ObjectPath) -> Result<(String, u64)> {
    let size = store
        .head(path)
        .await
        .map_err(EngineError::storage(path.as_ref()))?
        .size;
    let ranges = (0..size)
        .step_by(HASH_RANGE as usize)
        .map(|start| start..(start + HASH_RANGE).min(size));
    let mut chunks = futures::stream::iter(ranges)
        .map(|range| store.get_range(path, range))
        .buffered(2);
    let mut hasher = Md5::new();
    while let Some(chunk) = chunks.next().await {
        hasher.update(&chunk.map_err(EngineError::storage(path.as_ref()))?);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// The ledger of a lake.
#[derive(Debug, Clone)]
pub struct FileLedger {
    lake: Lake,
    /// The newest snapshot this process read.
    snapshot_cache: Arc<Mutex<Option<Arc<Snapshot>>>>,
}

impl FileLedger {
    /// The ledger of `lake`.
    pub fn new(lake: Lake) -> Self {
        Self {
            lake,
            snapshot_cache: Arc::default(),
        }
    }

    /// The catalog name of the ledger's table.
    pub fn table_name() -> TableName {
        TableName::new("lakejob", "file_ledger")
    }

    fn files_prefix() -> String {
        format!("{STATE_DIR}/ledger/files")
    }

    fn record_path(md5: &str) -> String {
        format!("{}/{md5}.json", Self::files_prefix())
    }

    fn processed_prefix(job: &str) -> String {
        format!("{STATE_DIR}/ledger/processed/{job}")
    }

    /// Records a content unless the ledger has it already; atomic across processes. The
    /// document is created only if absent; one created where a compaction had just removed
    /// the content's own is withdrawn, the snapshot's record winning.
    pub async fn claim(&self, record: &FileRecord) -> Result<Claim> {
        let path = Self::record_path(&record.md5);
        let json =
            serde_json::to_vec_pretty(record).map_err(|e| EngineError::Task(e.to_string()))?;
        let options = PutOptions::from(PutMode::Create);
        let store = self.lake.store();
        match store
            .put_opts(&object_path(&path), PutPayload::from(json), options)
            .await
        {
            Ok(_) => match self.snapshot().await?.state.records.get(&record.md5) {
                Some(existing) => {
                    self.lake.delete(&path).await?;
                    Ok(Claim::Existing(existing.clone()))
                }
                None => Ok(Claim::New),
            },
            Err(object_store::Error::AlreadyExists { .. }) => match self.record(&record.md5).await?
            {
                Some(existing) => Ok(Claim::Existing(existing)),
                None => Err(EngineError::Lake {
                    location: self.lake.location().to_string(),
                    reason: format!(
                        "the ledger's record of md5 {} was removed while it was claimed (a `lakejob release` at the same moment?); run again",
                        record.md5
                    ),
                }),
            },
            Err(e) => Err(EngineError::storage(path)(e)),
        }
    }

    /// The record of one content, if any.
    pub async fn record(&self, md5: &str) -> Result<Option<FileRecord>> {
        let path = Self::record_path(md5);
        match self.lake.read(&path).await {
            Ok(bytes) => Ok(Some(self.parse(&path, &bytes)?)),
            Err(EngineError::Storage {
                source: object_store::Error::NotFound { .. },
                ..
            }) => Ok(self.snapshot().await?.state.records.get(md5).cloned()),
            Err(e) => Err(e),
        }
    }

    /// Every record, sorted by lake path.
    pub async fn records(&self) -> Result<Vec<FileRecord>> {
        let loose = self.loose_records().await?;
        let mut records = self.snapshot().await?.state.records.clone();
        for document in loose {
            records
                .entry(document.value.md5.clone())
                .or_insert(document.value);
        }
        let mut records: Vec<FileRecord> = records.into_values().collect();
        records.sort_by(|a, b| a.lake_path.cmp(&b.lake_path));
        Ok(records)
    }

    /// What `job` has processed, by MD5.
    pub async fn processed_by(&self, job: &str) -> Result<HashMap<String, ProcessedMark>> {
        let mut marks = self.marks(Some(job)).await?;
        Ok(marks.remove(job).unwrap_or_default().into_iter().collect())
    }

    /// The marks of one job, or of every job: by job, then MD5. A mark written since the last
    /// compaction (a reprocessing run's) wins over the snapshot's.
    async fn marks(
        &self,
        job: Option<&str>,
    ) -> Result<BTreeMap<String, BTreeMap<String, ProcessedMark>>> {
        let loose = self.loose_marks(job).await?;
        let snapshot = self.snapshot().await?;
        let mut marks = match job {
            Some(job) => snapshot
                .state
                .processed
                .get_key_value(job)
                .map(|(job, marks)| (job.clone(), marks.clone()))
                .into_iter()
                .collect(),
            None => snapshot.state.processed.clone(),
        };
        for document in loose {
            let (job, md5, mark) = document.value;
            marks.entry(job).or_default().insert(md5, mark);
        }
        Ok(marks)
    }

    /// Records that `job` processed these contents (after its data commit).
    pub async fn mark_processed(
        &self,
        job: &str,
        marks: impl IntoIterator<Item = (String, ProcessedMark)>,
    ) -> Result<()> {
        let prefix = Self::processed_prefix(job);
        futures::stream::iter(marks)
            .map(|(md5, mark)| {
                let path = format!("{prefix}/{md5}.json");
                async move {
                    let json = serde_json::to_vec_pretty(&mark)
                        .map_err(|e| EngineError::Task(e.to_string()))?;
                    self.lake.write(&path, Bytes::from(json)).await
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Every job's mark on one content, by job.
    pub async fn marks_of(&self, md5: &str) -> Result<Vec<(String, ProcessedMark)>> {
        Ok(self
            .marks(None)
            .await?
            .into_iter()
            .filter_map(|(job, mut marks)| Some((job, marks.remove(md5)?)))
            .collect())
    }

    /// Forgets that `job` processed a content, so its next run reads it again.
    pub async fn unmark(&self, job: &str, md5: &str) -> Result<()> {
        self.lake
            .delete(&format!("{}/{md5}.json", Self::processed_prefix(job)))
            .await?;
        self.edit_snapshot(|state| {
            state
                .processed
                .get_mut(job)
                .is_some_and(|marks| marks.remove(md5).is_some())
        })
        .await
    }

    /// Forgets a content, so the next ingest (or run finding it in `raw/`) takes it as new.
    pub async fn forget(&self, md5: &str) -> Result<()> {
        self.lake.delete(&Self::record_path(md5)).await?;
        self.edit_snapshot(|state| state.records.remove(md5).is_some())
            .await
    }

    /// Rewrites the `lakejob.file_ledger` table from the ledger documents and registers it.
    /// Another run may publish at the same moment: the loser of the Delta commit reads the
    /// documents again (they now hold both runs' files) and retries.
    pub async fn publish(
        &self,
        ctx: &SessionContext,
        catalog: &dyn Catalog,
    ) -> Result<WriteMetrics> {
        let mut attempt = 1;
        loop {
            match self.publish_once(ctx, catalog).await {
                Err(error @ (EngineError::Delta { .. } | EngineError::CommitConflict { .. }))
                    if attempt < PUBLISH_ATTEMPTS =>
                {
                    tracing::debug!(attempt, error = %error, "the ledger table moved; publishing again");
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    async fn publish_once(
        &self,
        ctx: &SessionContext,
        catalog: &dyn Catalog,
    ) -> Result<WriteMetrics> {
        let records = self.records().await?;
        let mut processed: HashMap<String, Vec<String>> = HashMap::new();
        for (job, marks) in self.marks(None).await? {
            for md5 in marks.into_keys() {
                processed.entry(md5).or_default().push(job.clone());
            }
        }
        let batch = ledger_batch(&records, &processed)?;
        TableWrite::new(&self.lake, ctx, Self::table_name(), TableFormat::Delta)
            .at_path(format!("{STATE_DIR}/file_ledger"))
            .with_mode(WriteMode::Overwrite)
            .with_description(
                "every file the lake has seen, by MD5: where it landed and which jobs processed it",
            )
            .execute_batches(batch.schema(), vec![batch], catalog)
            .await
    }
}

/// The schema of `lakejob.file_ledger`.
pub fn ledger_schema() -> SchemaRef {
    let item = Arc::new(Field::new("item", DataType::Utf8, true));
    Arc::new(Schema::new(vec![
        Field::new("md5", DataType::Utf8, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("source", DataType::Utf8, false),
        Field::new("original_path", DataType::Utf8, false),
        Field::new("lake_path", DataType::Utf8, false),
        Field::new("raw_date", DataType::Date32, false),
        Field::new("ingested_at", crate::types::timestamp_type(), false),
        Field::new("status", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, true),
        Field::new("processed_by", DataType::List(item), false),
    ]))
}

fn ledger_batch(
    records: &[FileRecord],
    processed: &HashMap<String, Vec<String>>,
) -> Result<RecordBatch> {
    let strings = |f: &dyn Fn(&FileRecord) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(records.iter().map(f)))
    };
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let mut jobs = ListBuilder::new(StringBuilder::new());
    for record in records {
        for job in processed.get(&record.md5).into_iter().flatten() {
            jobs.values().append_value(job);
        }
        jobs.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| &r.md5),
        Arc::new(UInt64Array::from_iter_values(
            records.iter().map(|r| r.size),
        )),
        strings(&|r| &r.source),
        strings(&|r| &r.original_path),
        strings(&|r| &r.lake_path),
        Arc::new(Date32Array::from_iter_values(
            records
                .iter()
                .map(|r| (r.raw_date - epoch).num_days() as i32),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                records.iter().map(|r| r.ingested_at.timestamp_micros()),
            )
            .with_timezone(UTC),
        ),
        strings(&|r| r.status.as_str()),
        Arc::new(StringArray::from_iter(
            records.iter().map(|r| r.reason.as_deref()),
        )),
        Arc::new(jobs.finish()),
    ];
    RecordBatch::try_new(ledger_schema(), columns)
        .map_err(|e| EngineError::datafusion("building the ledger table")(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(md5: &str, path: &str) -> FileRecord {
        FileRecord {
            md5: md5.into(),
            size: 3,
            source: "transactions".into(),
            original_path: format!("/incoming/{path}"),
            lake_path: format!("raw/transactions/date=2025-01-15/{path}"),
            raw_date: NaiveDate::from_ymd_opt(2025, 1, 15).unwrap_or_default(),
            ingested_at: DateTime::<Utc>::UNIX_EPOCH,
            status: FileStatus::Ingested,
            reason: None,
        }
    }

    #[tokio::test]
    async fn a_content_is_claimed_once_and_marks_are_per_job() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        let ledger = FileLedger::new(lake.clone());
        let first = record("aa", "a.csv");
        assert_eq!(ledger.claim(&first).await?, Claim::New);
        assert_eq!(
            ledger.claim(&record("aa", "copy.csv")).await?,
            Claim::Existing(first.clone())
        );
        assert_eq!(ledger.records().await?, vec![first]);
        let mark = ProcessedMark {
            job: "transaction_etl".into(),
            run_id: "r1".into(),
            processed_at: DateTime::<Utc>::UNIX_EPOCH,
            skipped_reason: None,
        };
        ledger
            .mark_processed("transaction_etl", [("aa".to_string(), mark.clone())])
            .await?;
        assert_eq!(
            ledger.processed_by("transaction_etl").await?.get("aa"),
            Some(&mark)
        );
        assert!(ledger.processed_by("reviews_etl").await?.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn compaction_folds_the_documents_and_changes_no_answer() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        let ledger = FileLedger::new(lake.clone());
        let mark = |run: &str| ProcessedMark {
            job: "transaction_etl".into(),
            run_id: run.into(),
            processed_at: DateTime::<Utc>::UNIX_EPOCH,
            skipped_reason: None,
        };
        for (md5, name) in [("aa", "a.csv"), ("bb", "b.csv")] {
            ledger.claim(&record(md5, name)).await?;
            ledger
                .mark_processed("transaction_etl", [(md5.to_string(), mark("r1"))])
                .await?;
        }
        let before = (
            ledger.records().await?,
            ledger.processed_by("transaction_etl").await?,
        );
        assert_eq!(ledger.compact(true).await?, 4, "a dry run counts");
        assert_eq!(lake.list(&FileLedger::files_prefix()).await?.len(), 2);
        assert_eq!(ledger.compact(false).await?, 4);
        let loose = lake.list(&format!("{STATE_DIR}/ledger/files")).await?.len()
            + lake
                .list(&format!("{STATE_DIR}/ledger/processed"))
                .await?
                .len();
        assert_eq!(loose, 0, "folded documents are removed");
        // A fresh ledger (another process) reads the same from the snapshot.
        let fresh = FileLedger::new(lake.clone());
        assert_eq!(
            (
                fresh.records().await?,
                fresh.processed_by("transaction_etl").await?
            ),
            before
        );
        // A copy of a folded content is a duplicate, and leaves no document behind.
        assert_eq!(
            fresh.claim(&record("aa", "copy.csv")).await?,
            Claim::Existing(record("aa", "a.csv"))
        );
        assert!(lake.list(&FileLedger::files_prefix()).await?.is_empty());
        assert_eq!(fresh.record("bb").await?, Some(record("bb", "b.csv")));
        // A newer mark wins over the snapshot's; release forgets folded entries.
        fresh
            .mark_processed("transaction_etl", [("bb".to_string(), mark("r2"))])
            .await?;
        assert_eq!(
            fresh.marks_of("bb").await?,
            vec![("transaction_etl".into(), mark("r2"))]
        );
        fresh.unmark("transaction_etl", "aa").await?;
        fresh.forget("aa").await?;
        assert!(
            !ledger
                .processed_by("transaction_etl")
                .await?
                .contains_key("aa")
        );
        assert_eq!(ledger.record("aa").await?, None);
        assert_eq!(ledger.claim(&record("aa", "again.csv")).await?, Claim::New);
        assert_eq!(ledger.compact(false).await?, 2);
        assert_eq!(
            lake.list(&format!("{STATE_DIR}/ledger/compacted"))
                .await?
                .len(),
            1,
            "older snapshots are removed"
        );
        Ok(())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_content_claimed_again_while_compacted_stays_claimed_once() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        let ledger = FileLedger::new(lake.clone());
        let contents: Vec<String> = (0..40).map(|i| format!("{i:032x}")).collect();
        for md5 in &contents {
            ledger.claim(&record(md5, &format!("{md5}.csv"))).await?;
        }
        let compacting = tokio::spawn({
            let ledger = FileLedger::new(lake.clone());
            async move { ledger.compact(false).await }
        });
        let mut claims = Vec::new();
        for md5 in &contents {
            let ledger = FileLedger::new(lake.clone());
            let copy = record(md5, "copy.csv");
            claims.push(tokio::spawn(async move { ledger.claim(&copy).await }));
        }
        for (md5, claim) in contents.iter().zip(claims) {
            let claim = claim
                .await
                .map_err(|e| EngineError::Task(e.to_string()))??;
            assert_eq!(claim, Claim::Existing(record(md5, &format!("{md5}.csv"))));
        }
        compacting
            .await
            .map_err(|e| EngineError::Task(e.to_string()))??;
        ledger.compact(false).await?;
        let records = ledger.records().await?;
        assert_eq!(records.len(), contents.len());
        assert!(records.iter().all(|r| !r.lake_path.ends_with("copy.csv")));
        Ok(())
    }

    #[tokio::test]
    async fn md5_streams_the_object() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        lake.write("x.txt", Bytes::from_static(b"hello")).await?;
        let (md5, size) = md5_of(lake.store().as_ref(), &ObjectPath::from("x.txt")).await?;
        assert_eq!(
            (md5.as_str(), size),
            ("5d41402abc4b2a76b9719d911017c592", 5)
        );
        Ok(())
    }

    #[tokio::test]
    async fn md5_over_several_ranges_and_of_nothing_match_the_whole() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        let large: Vec<u8> = (0..2 * HASH_RANGE + 7).map(|i| (i % 251) as u8).collect();
        for (name, contents) in [("large.bin", large), ("empty.bin", Vec::new())] {
            let whole = hex::encode(Md5::digest(&contents));
            lake.write(name, Bytes::from(contents.clone())).await?;
            let hashed = md5_of(lake.store().as_ref(), &ObjectPath::from(name)).await?;
            assert_eq!(hashed, (whole, contents.len() as u64), "{name}");
        }
        Ok(())
    }
}
