//! Ways out of states a user can get into: releasing files the ledger holds as rejected or
//! unreadable, so a fixed job takes them again. Each operation can be tried with `dry_run`
//! and is recorded under `_lakejob/operations/`.

use chrono::{DateTime, Utc};
use lakejob_engine::ledger::{FileLedger, FileRecord, FileStatus};
use lakejob_engine::{Catalog, Clock, Lake, STATE_DIR, new_session};
use serde::Serialize;

use crate::JobsError;

/// Releases files from the ledger: a file rejected at ingest is forgotten, so the next
/// `ingest` checks it again; a file a job skipped as unreadable loses that job's mark, so the
/// job's next run reads it again. A file whose rows a job published is left as it is: `run
/// --reprocess` reads it again and replaces those rows.
#[derive(Debug)]
pub struct Release<'a> {
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

impl<'a> Release<'a> {
    /// A release in `lake`.
    pub fn new(lake: &'a Lake, clock: &'a dyn Clock) -> Self {
        Self {
            lake,
            clock,
            dry_run: false,
        }
    }

    /// Reports what would be released without changing anything.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Releases each file, named by its MD5, its path in the lake or the path it was ingested
    /// from. A name the ledger does not know is an error, and nothing is changed.
    pub async fn execute(
        self,
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
            metrics.files.push(self.release(&ledger, record).await?);
        }
        if !self.dry_run {
            self.record(&metrics).await?;
            let ctx = new_session(&Default::default()).map_err(engine)?;
            ledger.publish(&ctx, catalog).await.map_err(engine)?;
        }
        Ok(metrics)
    }

    async fn release(
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

    async fn record(&self, metrics: &ReleaseMetrics) -> Result<(), JobsError> {
        let path = format!(
            "{STATE_DIR}/operations/{}-release-{}.json",
            metrics.at.format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let json =
            serde_json::to_vec_pretty(metrics).map_err(|e| JobsError::Summary(e.to_string()))?;
        self.lake.write(&path, json.into()).await.map_err(engine)
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
