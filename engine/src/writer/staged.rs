//! Rows staged as a Delta table's own data files: streamed into the table's folder, where its
//! log does not name them yet, so no reader sees them. A run gates on them, and its commit
//! adds them to the log (removing, in the same commit, the files they replace) without
//! encoding a row again. Writes that rewrite what they meet (a merge into an existing table,
//! a replace-where) stage in a folder of their own instead and write from there.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::ScalarValue;
use datafusion::prelude::DataFrame;
use deltalake::DeltaTable;
use deltalake::kernel::{Add, Remove, normalize_for_delta};
use deltalake::protocol::{DeltaOperation, SaveMode};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};

use super::{
    TableWrite, WriteMetrics, WriteMode, distinct_partitions, file_config, file_properties,
    has_delta_log, utc_microsecond_schema, with_utc_microsecond_timestamps,
};
use crate::catalog::{Catalog, TableFormat};
use crate::delta_files::{FileSettings, write_data_files};
use crate::distributed::{DeltaFile, DeltaFiles, DeltaFilesTable};
use crate::error::{EngineError, Result};
use crate::lake::Lake;
use crate::staging::StagedRows;

/// Rows staged as data files of a Delta table that its log does not name yet.
#[derive(Debug)]
pub struct StagedFiles {
    /// The staged files as a table: their data columns, then their partition columns.
    pub frame: DataFrame,
    /// The rows staged.
    pub rows: u64,
    /// The rows' schema, in the output's column order.
    schema: SchemaRef,
    adds: Vec<Add>,
    record: StagedRecord,
}

/// The files a run staged in a table, kept in the run's staging folder: whatever becomes of
/// the run, those its log never took are removed ([`Self::remove_unpublished`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedRecord {
    /// The table's folder, relative to the lake root.
    pub table: String,
    /// The files, relative to the table's folder, as its log would name them.
    pub files: Vec<String>,
}

impl StagedRecord {
    /// Deletes the recorded files the table's current version does not hold: a run that
    /// failed, did not pass its gate or was killed before its commit leaves nothing behind.
    /// Returns how many were deleted.
    pub async fn remove_unpublished(&self, lake: &Lake) -> Result<usize> {
        let live = live_files(lake, &self.table).await?;
        let mut removed = 0;
        for file in self.files.iter().filter(|file| !live.contains(*file)) {
            let path = ObjectPath::from_url_path(file).map_err(|e| {
                EngineError::Task(format!("staged file {file} of {}: {e}", self.table))
            })?;
            lake.delete(&format!("{}/{path}", self.table)).await?;
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(table = %self.table, files = removed, "staged files no commit took were removed");
        }
        // A table this run was to create leaves no folder behind, nor an empty zone.
        if live.is_empty() && !lake.has_objects(&self.table).await? {
            lake.delete_folder(&self.table).await?;
            if let Some((zone, _)) = self.table.split_once('/')
                && !lake.has_objects(zone).await?
            {
                lake.delete_folder(zone).await?;
            }
        }
        Ok(removed)
    }
}

/// The data files of the table's current version (none before it exists), as its log names
/// them.
async fn live_files(lake: &Lake, table: &str) -> Result<HashSet<String>> {
    if !has_delta_log(lake, table).await? {
        return Ok(HashSet::new());
    }
    let loaded = DeltaTable::try_from_url(lake.url_of(table)?)
        .await
        .map_err(EngineError::delta(table))?;
    let snapshot = loaded.snapshot().map_err(EngineError::delta(table))?;
    Ok(snapshot
        .log_data()
        .iter()
        .map(|file| file.path().into_owned())
        .collect())
}

/// Rows a run staged: in a folder of its own, or as the target's data files.
#[derive(Debug)]
pub enum Staged {
    /// In the run's staging folder: the write copies them into the table.
    Folder(StagedRows),
    /// In the target's folder: the commit adds them.
    Table(StagedFiles),
}

impl Staged {
    /// The staged rows as a table.
    pub fn frame(&self) -> &DataFrame {
        match self {
            Staged::Folder(staged) => &staged.frame,
            Staged::Table(staged) => &staged.frame,
        }
    }

    /// The rows' schema, in the output's column order.
    pub fn schema(&self) -> SchemaRef {
        match self {
            Staged::Folder(staged) => Arc::new(staged.frame.schema().as_arrow().clone()),
            Staged::Table(staged) => Arc::clone(&staged.schema),
        }
    }

    /// How many rows were staged.
    pub fn rows(&self) -> u64 {
        match self {
            Staged::Folder(staged) => staged.rows,
            Staged::Table(staged) => staged.rows,
        }
    }

    /// The files staged in a table, to be removed unless committed.
    pub fn record(&self) -> Option<&StagedRecord> {
        match self {
            Staged::Folder(_) => None,
            Staged::Table(staged) => Some(&staged.record),
        }
    }
}

impl TableWrite<'_> {
    /// Whether rows of `schema` can be staged as the table's own files: a Delta write that
    /// only adds files and removes whole ones (append, overwrite, overwrite of partitions, a
    /// merge into a table yet to be created) of columns Delta stores as they are.
    pub async fn stages_in_table(&self, schema: &SchemaRef) -> Result<bool> {
        let schema = utc_microsecond_schema(schema);
        if self.format != TableFormat::Delta || !Arc::ptr_eq(&normalize_for_delta(&schema), &schema)
        {
            return Ok(false);
        }
        Ok(match self.mode {
            WriteMode::Append | WriteMode::Overwrite | WriteMode::OverwritePartitions => true,
            WriteMode::Merge { .. } => !self.has_delta_log().await?,
            WriteMode::ReplaceWhere(_) => false,
        })
    }

    /// The record of files staged in this write's table, none yet: kept before staging, it
    /// lets a failed staging remove the folders it made.
    pub fn staging_record(&self) -> StagedRecord {
        StagedRecord {
            table: self.relative_path(),
            files: Vec::new(),
        }
    }

    /// Runs the rows' plan, streaming them into data files in the table's folder that its
    /// log does not name (see [`Self::stages_in_table`]); [`Self::execute_staged`] commits
    /// them. Each output partition of the plan writes its own files, judged for dictionary
    /// encoding by its first batch.
    pub async fn stage(&self, rows: DataFrame) -> Result<StagedFiles> {
        let rows = with_utc_microsecond_timestamps(rows)?;
        let schema: SchemaRef = Arc::new(rows.schema().as_arrow().clone());
        self.check_declaration(&schema)?;
        let table = self.open_delta().await?;
        let key = self.merge_key().to_vec();
        let partition_columns = self.partition_columns.clone();
        // Files take the schema of the batches as they come (the plan's may say a column
        // is never null where its batches do not).
        let settings: FileSettings = Arc::new(move |sample: &RecordBatch| {
            let properties = file_properties(&key, std::slice::from_ref(sample));
            file_config(&sample.schema(), &partition_columns, properties)
        });
        let adds = write_data_files(
            table.object_store(),
            settings,
            &self.partition_columns,
            rows,
            &self.name.to_string(),
        )
        .await?;
        let rows = adds
            .iter()
            .map(|add| add.get_stats().ok().flatten().map_or(0, |s| s.num_records))
            .sum::<i64>();
        let record = StagedRecord {
            files: adds.iter().map(|add| add.path.clone()).collect(),
            ..self.staging_record()
        };
        let frame = self.staged_frame(&schema, &adds)?;
        Ok(StagedFiles {
            frame,
            rows: u64::try_from(rows).unwrap_or_default(),
            schema,
            adds,
            record,
        })
    }

    /// The staged files as a table, read as Parquet with their partition values.
    fn staged_frame(&self, schema: &SchemaRef, adds: &[Add]) -> Result<DataFrame> {
        let mut root = self.lake.url_of(&self.relative_path())?;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        let files = DeltaFiles {
            table: self.name.to_string(),
            root,
            partition_columns: self.partition_columns.clone(),
            files: adds
                .iter()
                .map(|add| DeltaFile {
                    rows: add
                        .get_stats()
                        .ok()
                        .flatten()
                        .and_then(|stats| u64::try_from(stats.num_records).ok()),
                    path: add.path.clone(),
                    size: u64::try_from(add.size).unwrap_or_default(),
                    partition_values: self
                        .partition_columns
                        .iter()
                        .map(|column| add.partition_values.get(column).cloned().flatten())
                        .collect(),
                })
                .collect(),
        };
        let table = DeltaFilesTable::new(files, Arc::clone(schema));
        self.ctx
            .read_table(Arc::new(table))
            .map_err(EngineError::datafusion(format!(
                "reading the rows staged for {}",
                self.name
            )))
    }

    /// Publishes staged rows: staged files are committed as they are when the table's mode
    /// allows (else they are the source of the write), rows staged in a folder are written.
    /// Then the table and its partitions are registered, as [`Self::execute`] does.
    pub async fn execute_staged(
        self,
        staged: Staged,
        catalog: &dyn Catalog,
    ) -> Result<WriteMetrics> {
        let staged = match staged {
            Staged::Folder(staged) => return self.execute(staged.frame, catalog).await,
            Staged::Table(staged) => staged,
        };
        let partitions = distinct_partitions(&staged.frame, &self.partition_columns).await?;
        let mut metrics = self.metrics(staged.rows, &partitions);
        let schema = Arc::clone(&staged.schema);
        self.write_delta(
            &schema,
            staged.frame.clone(),
            Some(&staged),
            &partitions,
            &mut metrics,
        )
        .await?;
        self.register(&schema, metrics, catalog).await
    }

    /// Commits the staged files to `table` (creating it if it has no version) with the
    /// removal of what the write's mode replaces; returns the version, or `None` for a merge
    /// into an existing table, which must compare rows (the staged files are then its source).
    pub(super) async fn commit_staged(
        &self,
        table: &DeltaTable,
        schema: &SchemaRef,
        staged: &StagedFiles,
        partitions: &[Vec<ScalarValue>],
        added: &[String],
    ) -> Result<Option<u64>> {
        let name = self.name.to_string();
        let adds = staged.adds.clone();
        if table.version().is_none() {
            let created = self.create_with(table.clone(), schema, adds).await?;
            return Ok(created.version());
        }
        let (mode, removes, predicate) = match &self.mode {
            WriteMode::Append => (SaveMode::Append, self.replaced_files(table).await?, None),
            WriteMode::Overwrite => (
                SaveMode::Overwrite,
                self.live_removes(table, |_| true).await?,
                None,
            ),
            WriteMode::OverwritePartitions => {
                let replaced: HashSet<Vec<Option<String>>> =
                    adds.iter().map(|add| self.partition_key(add)).collect();
                let removes = self
                    .live_removes(table, |remove| replaced.contains(&self.remove_key(remove)))
                    .await?;
                let predicate = self
                    .partition_predicate(partitions)
                    .map(|p| deltalake::delta_datafusion::expr::fmt_expr_to_sql(&p))
                    .transpose()
                    .map_err(EngineError::delta(&name))?;
                (SaveMode::Overwrite, removes, predicate)
            }
            WriteMode::Merge { .. } | WriteMode::ReplaceWhere(_) => return Ok(None),
        };
        tracing::debug!(table = %name, added = adds.len(), removed = removes.len(), "committing the staged files");
        let operation = DeltaOperation::Write {
            mode,
            partition_by: Some(self.partition_columns.clone()),
            predicate,
        };
        let version = self
            .commit_files(table, schema, (adds, removes), added, operation)
            .await?;
        Ok(Some(version))
    }

    /// The files an append replaces: those the replaced transactions added.
    async fn replaced_files(&self, table: &DeltaTable) -> Result<Vec<Remove>> {
        if self.replacing.is_empty() {
            return Ok(Vec::new());
        }
        self.files_added_by_replaced(table).await
    }

    /// The table's live files that `keep` selects, as removals.
    async fn live_removes(
        &self,
        table: &DeltaTable,
        keep: impl Fn(&Remove) -> bool,
    ) -> Result<Vec<Remove>> {
        let name = self.name.to_string();
        let removes: Vec<Remove> = table
            .snapshot()
            .map_err(EngineError::delta(&name))?
            .snapshot()
            .file_views(table.log_store().as_ref(), None)
            .map_ok(|file| file.remove_action(true))
            .try_collect()
            .await
            .map_err(EngineError::delta(&name))?;
        Ok(removes.into_iter().filter(|remove| keep(remove)).collect())
    }

    /// A staged file's partition values, in partition-column order.
    fn partition_key(&self, add: &Add) -> Vec<Option<String>> {
        self.partition_columns
            .iter()
            .map(|column| add.partition_values.get(column).cloned().flatten())
            .collect()
    }

    /// A live file's partition values, in partition-column order.
    fn remove_key(&self, remove: &Remove) -> Vec<Option<String>> {
        let values = remove.partition_values.as_ref();
        self.partition_columns
            .iter()
            .map(|column| values.and_then(|v| v.get(column).cloned().flatten()))
            .collect()
    }
}
