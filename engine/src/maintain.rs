//! `lakejob maintain`: keeps a lake's cost flat as it ages. For each Delta table it compacts
//! small files (delta-rs optimize, partition by partition, up to a target file size), vacuums
//! data files no version within the retention needs (files a crashed run left unreferenced
//! included), and writes a checkpoint so reading the log starts there, removing the log
//! entries before it older than the record retention; then it expires run records, quality
//! reports and operation records older than their retention, and folds the file ledger's
//! documents into its snapshot. A dry run only reports.
//!
//! Concurrent runs stay safe: a run writes its data files into a table's folder before its
//! commit names them, and vacuum only removes files older than the retention (7 days by
//! default; less is refused without `force`, since it could remove the files of a run still
//! committing).

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::time::Duration;

use serde::Serialize;
use url::Url;

use crate::catalog::{Catalog, TableFormat, TableName};
use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::lake::{Lake, STATE_DIR};
use crate::ledger::FileLedger;

/// Deleted files stay this long unless `force` allows less: a run commits within it.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 86_400);
/// Run records, quality reports and operation records stay this long.
pub const DEFAULT_RECORD_RETENTION: Duration = Duration::from_secs(30 * 86_400);
/// The size compaction writes files up to.
pub const DEFAULT_TARGET_FILE_SIZE: u64 = 128 << 20;

/// The folders of `_lakejob/` whose documents expire: one per run, report or operation.
const EXPIRING: [&str; 3] = ["runs", "reports", "operations"];

/// A table's own policy, where it differs from the operation's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TablePolicy {
    /// The size compaction writes its files up to.
    pub target_file_size: Option<u64>,
    /// How long its removed files stay.
    pub retention: Option<Duration>,
}

/// Maintains the tables of a lake.
#[derive(Debug)]
pub struct Maintain<'a> {
    lake: &'a Lake,
    catalog: &'a dyn Catalog,
    clock: &'a dyn Clock,
    tables: Vec<TableName>,
    policies: BTreeMap<TableName, TablePolicy>,
    retention: Duration,
    record_retention: Duration,
    target_file_size: u64,
    dry_run: bool,
    force: bool,
}

/// What maintenance did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MaintainMetrics {
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// Each Delta table maintained.
    pub tables: Vec<TableMaintenance>,
    /// Parquet tables, which have no log to compact or vacuum by: left as they are.
    pub parquet_tables_skipped: Vec<String>,
    /// Run records, reports and operation records removed for their age.
    pub records_expired: usize,
    /// Ledger documents folded into the ledger's snapshot (and removed).
    pub ledger_documents_compacted: usize,
}

/// What maintenance did to one Delta table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TableMaintenance {
    /// The table.
    pub table: String,
    /// Live data files before.
    pub files_before: usize,
    /// Small files compaction replaced (in a dry run: small files sharing a partition).
    pub files_compacted: u64,
    /// Files compaction wrote.
    pub files_written: u64,
    /// Files vacuum removed (or would).
    pub files_vacuumed: usize,
    /// The version a checkpoint was written for.
    pub checkpoint: Option<u64>,
    /// Log entries before the checkpoint older than the record retention, removed.
    pub log_entries_expired: usize,
}

impl<'a> Maintain<'a> {
    /// Maintenance of every table the catalog lists, with the default retentions.
    pub fn new(lake: &'a Lake, catalog: &'a dyn Catalog, clock: &'a dyn Clock) -> Self {
        Self {
            lake,
            catalog,
            clock,
            tables: Vec::new(),
            policies: BTreeMap::new(),
            retention: DEFAULT_RETENTION,
            record_retention: DEFAULT_RECORD_RETENTION,
            target_file_size: DEFAULT_TARGET_FILE_SIZE,
            dry_run: false,
            force: false,
        }
    }

    /// Only these tables (all when empty).
    pub fn with_tables(mut self, tables: Vec<TableName>) -> Self {
        self.tables = tables;
        self
    }

    /// Tables' own policies (from their jobs), which win over the operation's options.
    pub fn with_policies(mut self, policies: BTreeMap<TableName, TablePolicy>) -> Self {
        self.policies = policies;
        self
    }

    /// How long removed data files are kept for readers of older versions and running jobs.
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// How long run records, reports and operation records are kept.
    pub fn with_record_retention(mut self, retention: Duration) -> Self {
        self.record_retention = retention;
        self
    }

    /// The size compaction writes files up to.
    pub fn with_target_file_size(mut self, bytes: u64) -> Self {
        self.target_file_size = bytes;
        self
    }

    /// Reports what would be done, changing nothing.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Allows a retention under [`DEFAULT_RETENTION`].
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Maintains each table, then expires old records and compacts the file ledger.
    pub async fn execute(self) -> Result<MaintainMetrics> {
        if self.retention < DEFAULT_RETENTION && !self.force {
            return Err(EngineError::Declaration {
                context: "maintenance".into(),
                reason: format!(
                    "a retention of {}s is under the default of 7 days: a run still committing could lose its files, and readers of older versions theirs; --force allows it when nothing else runs",
                    self.retention.as_secs()
                ),
            });
        }
        let mut metrics = MaintainMetrics {
            dry_run: self.dry_run,
            ..MaintainMetrics::default()
        };
        for name in self.chosen_tables().await? {
            let Some(table) = self.catalog.table(&name).await? else {
                return Err(EngineError::TableNotFound(name.to_string()));
            };
            match table.definition.format {
                TableFormat::Delta => {
                    let location = Url::parse(&table.definition.location).map_err(|e| {
                        EngineError::Declaration {
                            context: format!("maintaining {name}"),
                            reason: format!("the catalog's location is not a URL: {e}"),
                        }
                    })?;
                    metrics
                        .tables
                        .push(self.maintain_delta(&name, location).await?);
                }
                TableFormat::Parquet => metrics.parquet_tables_skipped.push(name.to_string()),
            }
        }
        metrics.records_expired = self.expire_records().await?;
        metrics.ledger_documents_compacted = FileLedger::new(self.lake.clone())
            .compact(self.dry_run)
            .await?;
        Ok(metrics)
    }

    async fn chosen_tables(&self) -> Result<Vec<TableName>> {
        if self.tables.is_empty() {
            self.catalog.tables().await
        } else {
            Ok(self.tables.clone())
        }
    }

    async fn maintain_delta(&self, name: &TableName, location: Url) -> Result<TableMaintenance> {
        let label = name.to_string();
        let delta = |source| EngineError::Delta {
            table: label.clone(),
            source: Box::new(source),
        };
        let table = deltalake::open_table(location.clone())
            .await
            .map_err(delta)?;
        let files: Vec<String> = table.get_file_uris().map_err(delta)?.collect();
        let mut done = TableMaintenance {
            table: label.clone(),
            files_before: files.len(),
            ..TableMaintenance::default()
        };
        let policy = self.policies.get(name).copied().unwrap_or_default();
        let retention = policy.retention.unwrap_or(self.retention);
        let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        if self.dry_run {
            done.files_compacted = small_files_sharing_a_partition(&files) as u64;
            let (_, vacuumed) = self
                .vacuum(table, retention)
                .with_dry_run(true)
                .await
                .map_err(delta)?;
            done.files_vacuumed = vacuumed.files_deleted.len();
            return Ok(done);
        }
        let target = policy.target_file_size.unwrap_or(self.target_file_size);
        let target = NonZeroU64::new(target).unwrap_or(NonZeroU64::MIN);
        let (table, optimized) = table
            .optimize()
            .with_target_size(target)
            .await
            .map_err(delta)?;
        done.files_compacted = optimized.num_files_removed;
        done.files_written = optimized.num_files_added;
        let (table, vacuumed) = self.vacuum(table, retention).await.map_err(delta)?;
        done.files_vacuumed = vacuumed.files_deleted.len();
        deltalake::checkpoints::create_checkpoint(&table, None)
            .await
            .map_err(delta)?;
        done.checkpoint = table.version();
        // The log before the checkpoint is history kept for time travel (`lakejob restore`)
        // as long as run records: 30 days, Delta's own default log retention.
        let cutoff = self.clock.now()
            - chrono::Duration::from_std(self.record_retention).unwrap_or(chrono::Duration::MAX);
        if let Some(version) = table.version() {
            done.log_entries_expired = deltalake::checkpoints::cleanup_expired_logs_for(
                version,
                table.log_store().as_ref(),
                cutoff.timestamp_millis(),
                None,
            )
            .await
            .map_err(delta)?;
        }
        tracing::info!(table = %label, compacted = done.files_compacted, written = done.files_written, vacuumed = done.files_vacuumed, "table maintained");
        Ok(done)
    }

    /// A full vacuum (files no version references, a crashed run's included) of what is
    /// older than `retention`; under the table's own minimum only with `force`.
    fn vacuum(
        &self,
        table: deltalake::DeltaTable,
        retention: chrono::Duration,
    ) -> deltalake::operations::vacuum::VacuumBuilder {
        table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(!self.force)
            .with_mode(deltalake::operations::vacuum::VacuumMode::Full)
    }

    /// Removes run records, reports and operation records older than the record retention.
    async fn expire_records(&self) -> Result<usize> {
        let cutoff = self.clock.now()
            - chrono::Duration::from_std(self.record_retention).unwrap_or(chrono::Duration::MAX);
        let mut expired = 0;
        for folder in EXPIRING {
            for object in self.lake.list(&format!("{STATE_DIR}/{folder}")).await? {
                if object.last_modified < cutoff {
                    if !self.dry_run {
                        self.lake.delete(object.location.as_ref()).await?;
                    }
                    expired += 1;
                }
            }
        }
        Ok(expired)
    }
}

/// Files in partitions that hold more than one: what compaction would merge.
fn small_files_sharing_a_partition(files: &[String]) -> usize {
    let mut per_partition: BTreeMap<&str, usize> = BTreeMap::new();
    for file in files {
        let folder = file.rsplit_once('/').map_or("", |(folder, _)| folder);
        *per_partition.entry(folder).or_default() += 1;
    }
    per_partition.values().filter(|n| **n > 1).sum()
}
