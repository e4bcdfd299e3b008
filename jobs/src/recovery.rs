//! Ways out of states a user can get into: releasing files the ledger holds as rejected or
//! unreadable, so a fixed job takes them again; dropping a table; restoring a Delta table to
//! an earlier version. Each operation can be tried with `dry_run` and is recorded under
//! `_lakejob/operations/`.

use chrono::{DateTime, Utc};
use lakejob_engine::history::{RestoreMetrics, restore_delta};
use lakejob_engine::ledger::{FileLedger, FileRecord, FileStatus};
use lakejob_engine::{
    Catalog, CatalogSync, Clock, EngineError, Lake, STATE_DIR, SessionOptions, TableFormat,
    TableName, Zone, new_session,
};
use serde::Serialize;

use crate::JobsError;

/// The ways out, in a lake: each can be tried as a dry run, and each change is recorded.
#[derive(Debug)]
pub struct Recovery<'a> {
    lake: &'a Lake,
    clock: &'a dyn Clock,
    dry_run: bool,
}

/// What a release did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleaseMetrics {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// Each file asked for, and what became of it.
    pub files: Vec<ReleasedFile>,
}

/// One file asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReleasedFile {
    /// The MD5 of its content.
    pub md5: String,
    /// Where the lake holds it.
    pub lake_path: String,
    /// What was released: the ingest rejection, and the jobs whose skip was forgotten.
    pub released: Vec<String>,
    /// What was kept, and how to read it again.
    pub kept: Vec<String>,
}

impl<'a> Recovery<'a> {
    /// The recovery operations of `lake`.
    pub fn new(lake: &'a Lake, clock: &'a dyn Clock) -> Self {
        Self {
            lake,
            clock,
            dry_run: false,
        }
    }

    /// Reports what would be done without changing anything.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Releases files from the ledger: a file rejected at ingest is forgotten, so the next
    /// `ingest` checks it again; a file a job skipped as unreadable loses that job's mark, so
    /// the job's next run reads it again. A file whose rows a job published is left as it is:
    /// `run --reprocess` reads it again and replaces those rows. Files are named by MD5, path
    /// in the lake or the path they were ingested from; a name the ledger does not know is an
    /// error, and nothing is changed.
    pub async fn release(
        &self,
        files: &[String],
        catalog: &dyn Catalog,
    ) -> Result<ReleaseMetrics, JobsError> {
        let ledger = FileLedger::new(self.lake.clone());
        let records = ledger.records().await.map_err(engine)?;
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for name in files {
            match records.iter().find(|r| names(r, name)) {
                Some(record) => found.push(record),
                None => unknown.push(name.clone()),
            }
        }
        if !unknown.is_empty() {
            return Err(JobsError::UnknownFiles { names: unknown });
        }
        let mut metrics = ReleaseMetrics {
            dry_run: self.dry_run,
            at: self.clock.now(),
            files: Vec::new(),
        };
        for record in found {
            metrics
                .files
                .push(self.release_file(&ledger, record).await?);
        }
        if !self.dry_run {
            record(self.lake, "release", metrics.at, &metrics).await?;
            let ctx = new_session(&Default::default()).map_err(engine)?;
            ledger.publish(&ctx, catalog).await.map_err(engine)?;
        }
        Ok(metrics)
    }

    async fn release_file(
        &self,
        ledger: &FileLedger,
        record: &FileRecord,
    ) -> Result<ReleasedFile, JobsError> {
        let mut file = ReleasedFile {
            md5: record.md5.clone(),
            lake_path: record.lake_path.clone(),
            released: Vec::new(),
            kept: Vec::new(),
        };
        for (job, mark) in ledger.marks_of(&record.md5).await.map_err(engine)? {
            match mark.skipped_reason {
                Some(reason) => {
                    if !self.dry_run {
                        ledger.unmark(&job, &record.md5).await.map_err(engine)?;
                    }
                    file.released.push(format!("skipped by {job} ({reason})"));
                }
                None => file.kept.push(format!(
                    "processed by {job} in run {}: `lakejob run {job} --reprocess --date {}` reads it again and replaces its rows",
                    mark.run_id, record.raw_date
                )),
            }
        }
        if record.status == FileStatus::Rejected {
            if !self.dry_run {
                ledger.forget(&record.md5).await.map_err(engine)?;
            }
            file.released.push(format!(
                "rejected at ingest ({}); ingest it again: `lakejob ingest {} {}`",
                record.reason.as_deref().unwrap_or("no reason recorded"),
                record.source,
                self.lake.object_url(&record.lake_path).map_or_else(
                    |_| record.lake_path.clone(),
                    |url| url
                        .to_file_path()
                        .map_or_else(|_| url.to_string(), |p| p.display().to_string())
                )
            ));
        }
        Ok(file)
    }
}

/// Keeps what an operation did under `_lakejob/operations/`, named by its time and kind.
async fn record(
    lake: &Lake,
    kind: &str,
    at: DateTime<Utc>,
    metrics: &impl Serialize,
) -> Result<(), JobsError> {
    let path = format!(
        "{STATE_DIR}/operations/{}-{kind}-{}.json",
        at.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let json = serde_json::to_vec_pretty(metrics).map_err(|e| JobsError::Summary(e.to_string()))?;
    lake.write(&path, json.into()).await.map_err(engine)
}

/// What a drop did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DropMetrics {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// The table.
    pub table: String,
    /// Its folder in the lake.
    pub path: String,
    /// Files under it, removed.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Whether the catalog listed it.
    pub catalog_entry: bool,
}

impl Recovery<'_> {
    /// Drops a table: its files and its catalog entry. The raw files it was built from stay
    /// in the lake and in the ledger, so `lakejob run <job> --reprocess` builds it again.
    /// lakejob's own tables (`lakejob.*`) are not dropped; a table with neither files nor a
    /// catalog entry is an error.
    pub async fn drop_table(
        &self,
        table: &TableName,
        catalog: &dyn Catalog,
    ) -> Result<DropMetrics, JobsError> {
        let refused = |reason: String| JobsError::Engine {
            job: format!("drop {table}"),
            source: EngineError::Declaration {
                context: format!("dropping {table}"),
                reason,
            },
        };
        let zone: Zone = table.database.parse().map_err(|e: String| refused(e))?;
        if !matches!(zone, Zone::Processed | Zone::Curated | Zone::Quarantine) {
            return Err(refused(format!(
                "only tables of processed, curated and quarantine can be dropped, not {zone}"
            )));
        }
        let path = Lake::table_path(zone, &table.table);
        let files = self.lake.list(&path).await.map_err(engine)?;
        let catalog_entry = catalog.table(table).await.map_err(engine)?.is_some();
        if files.is_empty() && !catalog_entry {
            return Err(JobsError::Engine {
                job: format!("drop {table}"),
                source: EngineError::TableNotFound(table.to_string()),
            });
        }
        let metrics = DropMetrics {
            dry_run: self.dry_run,
            at: self.clock.now(),
            table: table.to_string(),
            files: files.len(),
            bytes: files.iter().map(|f| f.size).sum(),
            path,
            catalog_entry,
        };
        if !self.dry_run {
            // The entry first: a crash between leaves files no query names, which a second
            // drop removes, never an entry pointing at missing files.
            catalog.drop_table(table).await.map_err(engine)?;
            self.lake
                .delete_folder(&metrics.path)
                .await
                .map_err(engine)?;
            record(self.lake, "drop", metrics.at, &metrics).await?;
        }
        Ok(metrics)
    }
}

/// What a restore did (or would do), and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreSummary {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// When.
    pub at: DateTime<Utc>,
    /// The versions and files.
    #[serde(flatten)]
    pub restore: RestoreMetrics,
}

impl Recovery<'_> {
    /// Restores a Delta table in the catalog to an earlier version, as a new commit, and
    /// brings the catalog's partitions to what that version holds.
    pub async fn restore(
        &self,
        table: &TableName,
        version: u64,
        catalog: &dyn Catalog,
    ) -> Result<RestoreSummary, JobsError> {
        let failed = |source| JobsError::Engine {
            job: format!("restore {table}"),
            source,
        };
        let entry = catalog
            .table(table)
            .await
            .map_err(failed)?
            .ok_or_else(|| failed(EngineError::TableNotFound(table.to_string())))?;
        if entry.definition.format != TableFormat::Delta {
            return Err(failed(EngineError::Declaration {
                context: format!("restoring {table}"),
                reason: "only Delta tables keep earlier versions; a Parquet table has none".into(),
            }));
        }
        let location = url::Url::parse(&entry.definition.location).map_err(|e| {
            failed(EngineError::Declaration {
                context: format!("restoring {table}"),
                reason: format!("the catalog's location is not a URL: {e}"),
            })
        })?;
        let restore = restore_delta(&table.to_string(), &location, version, self.dry_run)
            .await
            .map_err(failed)?;
        let summary = RestoreSummary {
            dry_run: self.dry_run,
            at: self.clock.now(),
            restore,
        };
        if !self.dry_run {
            let ctx = new_session(&SessionOptions::default()).map_err(failed)?;
            CatalogSync::new(self.lake, catalog, &ctx)
                .execute()
                .await
                .map_err(failed)?;
            record(self.lake, "restore", summary.at, &summary).await?;
        }
        Ok(summary)
    }
}

/// Whether `name` names the content of `record`.
fn names(record: &FileRecord, name: &str) -> bool {
    record.md5 == name.to_ascii_lowercase()
        || record.lake_path == name
        || record.original_path == name
}

fn engine(source: lakejob_engine::EngineError) -> JobsError {
    JobsError::Ledger { source }
}
