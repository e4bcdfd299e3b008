//! Writers of tables: Delta (append, overwrite of partitions, merge on a key) and Hive-style
//! partitioned Parquet (append, overwrite of partitions). Each write is one operation that
//! reports what it did.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, col, lit, when};
use datafusion::logical_expr::{LogicalPlan, cast as cast_expr};
use datafusion::prelude::{DataFrame, SessionContext};
use delta_kernel::table_properties::TableProperties;
use deltalake::datafile::writer::WriterConfig;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{
    Action, Add, MetadataExt, Remove, StructType, Transaction, normalize_for_delta,
};
use deltalake::logstore::LogStore;
use deltalake::operations::write::SchemaMode;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::WriterProperties;
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::DeltaOperation;
use deltalake::protocol::SaveMode;
use deltalake::table::config::TablePropertiesExt;
use deltalake::{DeltaTable, DeltaTableError};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;

use crate::catalog::{
    Catalog, NULL_PARTITION_VALUE, PartitionValues, TableDefinition, TableFormat, TableName,
};
use crate::delta_files::{FileSettings, write_data_files};
use crate::error::{EngineError, Result};
use crate::failpoint::failpoint;
use crate::lake::{Lake, STATE_DIR, object_path};

mod staged;

pub use staged::{Staged, StagedFiles, StagedRecord};

/// Rows per row group of a table's data files: a writer holds one row group's encoded pages
/// per open file, so this bounds a write's memory whatever its size.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// Commits a write tries when it loses a race it can safely retry (creation, append).
const COMMIT_ATTEMPTS: u32 = 5;

/// How new rows meet the rows a table already has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteMode {
    /// Add the rows.
    Append,
    /// Replace every partition the new rows fall in (and any listed in
    /// [`TableWrite::replacing_partitions`]); other partitions stay.
    OverwritePartitions,
    /// Upsert on a key (Delta only): a row whose key exists replaces it when it differs, a
    /// new key is inserted. Re-writing the same rows changes nothing.
    Merge {
        /// The key columns.
        key: Vec<String>,
        /// A SQL condition over `source.` and `target.` columns a matched row must also meet
        /// to be replaced (e.g. only newer versions win).
        update_when: Option<String>,
    },
    /// Replace the rows matching a predicate, in one commit (Delta only).
    ReplaceWhere(Expr),
    /// Replace every row of the table.
    Overwrite,
}

/// What a write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WriteMetrics {
    /// `zone.table`.
    pub table: String,
    /// `delta` or `parquet`.
    pub format: String,
    /// The Delta version committed (none for Parquet).
    pub version: Option<i64>,
    /// Rows handed to the write.
    pub rows_written: u64,
    /// Rows that were new to the table (merge), or all rows written (append, overwrite).
    pub rows_inserted: u64,
    /// Rows that replaced a differing row with the same key (merge).
    pub rows_updated: u64,
    /// Partitions the rows fall in, as text values in partition-column order.
    pub partitions: Vec<PartitionValues>,
    /// Nullable columns the output has and the table had not: the write added them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns_added: Vec<String>,
    /// The table already held this write's transaction (an interrupted run committed it):
    /// nothing was written again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_committed: bool,
}

/// One write of rows to a table of the lake, registered in the catalog afterwards.
pub struct TableWrite<'a> {
    lake: &'a Lake,
    ctx: &'a SessionContext,
    name: TableName,
    format: TableFormat,
    partition_columns: Vec<String>,
    required_columns: Vec<String>,
    mode: WriteMode,
    description: Option<String>,
    path: Option<String>,
    transaction: Option<String>,
    replacing: Vec<String>,
}

impl std::fmt::Debug for TableWrite<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableWrite")
            .field("table", &self.name)
            .field("format", &self.format)
            .field("partition_columns", &self.partition_columns)
            .field("mode", &self.mode)
            .field("path", &self.path)
            .field("transaction", &self.transaction)
            .field("replacing", &self.replacing)
            .finish_non_exhaustive()
    }
}

impl<'a> TableWrite<'a> {
    /// A write to `<lake>/<database>/<table>/`.
    pub fn new(
        lake: &'a Lake,
        ctx: &'a SessionContext,
        name: TableName,
        format: TableFormat,
    ) -> Self {
        Self {
            lake,
            ctx,
            name,
            format,
            partition_columns: Vec::new(),
            required_columns: Vec::new(),
            mode: WriteMode::Append,
            description: None,
            path: None,
            transaction: None,
            replacing: Vec::new(),
        }
    }

    /// Stores the table at this folder of the lake instead of `<database>/<table>`.
    pub fn at_path(mut self, relative: impl Into<String>) -> Self {
        self.path = Some(relative.into());
        self
    }

    /// Partition columns, in path order.
    pub fn with_partition_columns(mut self, columns: Vec<String>) -> Self {
        self.partition_columns = columns;
        self
    }

    /// Columns the catalog describes as never null, whatever the plan's schema says (a
    /// source's `nullable: false` columns, which lose that mark through dedupes and joins).
    pub fn with_required_columns(mut self, columns: Vec<String>) -> Self {
        self.required_columns = columns;
        self
    }

    /// How the rows meet existing rows.
    pub fn with_mode(mut self, mode: WriteMode) -> Self {
        self.mode = mode;
        self
    }

    /// What the table holds, for the catalog.
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Makes the write idempotent: the commit records `id` (a Delta transaction identifier, or
    /// a marker in the lake's state folder for Parquet), and a write whose table already holds
    /// it commits nothing, so a retried run never adds a second copy.
    pub fn with_transaction(mut self, id: impl Into<String>) -> Self {
        self.transaction = Some(id.into());
        self
    }

    /// In append mode, the rows that earlier writes with these transaction identifiers
    /// appended are removed in the same commit as the new rows are added: reading the same
    /// input again replaces what it gave the first time instead of adding it twice.
    pub fn replacing_transactions(mut self, ids: Vec<String>) -> Self {
        self.replacing = ids;
        self
    }

    fn relative_path(&self) -> String {
        self.path
            .clone()
            .unwrap_or_else(|| format!("{}/{}", self.name.database, self.name.table))
    }

    /// Writes rows held in memory (a ledger, rule outcomes, rejected rows): see
    /// [`Self::execute`].
    pub async fn execute_batches(
        self,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        catalog: &dyn Catalog,
    ) -> Result<WriteMetrics> {
        let rows = MemTable::try_new(schema, vec![batches])
            .and_then(|table| self.ctx.read_table(Arc::new(table)))
            .map_err(EngineError::datafusion(format!("writing {}", self.name)))?;
        self.execute(rows, catalog).await
    }

    /// Writes the rows, streamed from their plan (staged files, for a run's output), then
    /// registers the table and its partitions in the catalog. The data commit comes first: a
    /// crash before registration leaves a table the next run registers.
    pub async fn execute(self, rows: DataFrame, catalog: &dyn Catalog) -> Result<WriteMetrics> {
        let rows = with_utc_microsecond_timestamps(rows)?;
        let schema: SchemaRef = Arc::new(rows.schema().as_arrow().clone());
        self.check_declaration(&schema)?;
        let rows_written = rows
            .clone()
            .count()
            .await
            .map_err(EngineError::datafusion(format!(
                "counting the rows to write to {}",
                self.name
            )))? as u64;
        let partitions = distinct_partitions(&rows, &self.partition_columns).await?;
        let mut metrics = self.metrics(rows_written, &partitions);
        match self.format {
            TableFormat::Delta => {
                self.write_delta(&schema, rows, None, &partitions, &mut metrics)
                    .await?
            }
            TableFormat::Parquet => self.write_parquet(rows, &mut metrics).await?,
        }
        self.register(&schema, metrics, catalog).await
    }

    /// Metrics of a write of `rows` rows into `partitions`, before it is done.
    fn metrics(&self, rows: u64, partitions: &[Vec<ScalarValue>]) -> WriteMetrics {
        WriteMetrics {
            table: self.name.to_string(),
            format: self.format.to_string(),
            rows_written: rows,
            rows_inserted: rows,
            partitions: partitions.iter().map(|p| partition_text(p)).collect(),
            ..WriteMetrics::default()
        }
    }

    /// Registers the table written and its partitions in the catalog.
    async fn register(
        &self,
        schema: &SchemaRef,
        metrics: WriteMetrics,
        catalog: &dyn Catalog,
    ) -> Result<WriteMetrics> {
        failpoint("table_committed");
        let location = self.lake.url_of(&self.relative_path())?;
        let mut definition = TableDefinition::from_schema(
            self.name.clone(),
            location.to_string(),
            self.format,
            schema,
            self.partition_columns.clone(),
            self.description.clone(),
        );
        for column in &mut definition.columns {
            if self.required_columns.contains(&column.name) {
                column.nullable = false;
            }
        }
        catalog.upsert_table(&definition).await?;
        catalog
            .add_partitions(&self.name, &metrics.partitions)
            .await?;
        failpoint("table_registered");
        Ok(metrics)
    }

    /// Whether the table can take rows of `schema` in this write's mode, checked without
    /// writing: a run checks every table it writes before its first commit, so a table that
    /// refuses its rows fails the run with nothing published.
    pub async fn check(&self, schema: &SchemaRef) -> Result<()> {
        let schema = utc_microsecond_schema(schema);
        self.check_declaration(&schema)?;
        if self.format == TableFormat::Parquet || !self.has_delta_log().await? {
            return Ok(());
        }
        let table = self.open_delta().await?;
        self.added_columns(&table, &schema)?;
        let existing = table
            .snapshot()
            .map_err(EngineError::delta(&self.name.to_string()))?
            .metadata()
            .partition_columns()
            .to_vec();
        if existing != self.partition_columns {
            return Err(EngineError::Declaration {
                context: format!("target {}", self.name),
                reason: format!(
                    "the table is partitioned by [{}] but the write by [{}]; keep the table's partition columns or write to a new table",
                    existing.join(", "),
                    self.partition_columns.join(", ")
                ),
            });
        }
        Ok(())
    }

    /// What the write declares must fit its rows and format.
    fn check_declaration(&self, schema: &SchemaRef) -> Result<()> {
        let refuse = |reason: String| EngineError::Declaration {
            context: format!("target {}", self.name),
            reason,
        };
        if let Some(column) = self
            .partition_columns
            .iter()
            .find(|column| schema.field_with_name(column).is_err())
        {
            return Err(refuse(format!(
                "partition column '{column}' is not in the output"
            )));
        }
        if self.format == TableFormat::Parquet
            && matches!(
                self.mode,
                WriteMode::Merge { .. } | WriteMode::ReplaceWhere(_)
            )
        {
            return Err(refuse("merge and replace-where need format delta".into()));
        }
        Ok(())
    }

    /// The commit's properties: the write's transaction identifier, if it has one. Expired
    /// log entries are left to `lakejob maintain`: cleaning after a commit lists the whole
    /// log, a cost every run would pay again.
    fn commit_properties(&self) -> CommitProperties {
        let properties = CommitProperties::default().with_cleanup_expired_logs(Some(false));
        match &self.transaction {
            Some(id) => properties.with_application_transaction(Transaction::new(id, 0)),
            None => properties,
        }
    }

    /// Whether `table` already holds this write's transaction.
    async fn holds_transaction(&self, table: &DeltaTable) -> Result<bool> {
        let (Some(id), Some(_)) = (&self.transaction, table.version()) else {
            return Ok(false);
        };
        let name = self.name.to_string();
        let version = table
            .snapshot()
            .map_err(EngineError::delta(&name))?
            .transaction_version(table.log_store().as_ref(), id)
            .await
            .map_err(EngineError::delta(&name))?;
        Ok(version.is_some())
    }

    /// Writes `rows` in the write's mode, or commits them as they were `staged` when the mode
    /// allows (see [`Self::stage`]).
    async fn write_delta(
        &self,
        schema: &SchemaRef,
        rows: DataFrame,
        staged: Option<&StagedFiles>,
        partitions: &[Vec<ScalarValue>],
        metrics: &mut WriteMetrics,
    ) -> Result<()> {
        let mut attempt = 1;
        loop {
            let table = self.open_delta().await?;
            if self.holds_transaction(&table).await? {
                tracing::info!(table = %self.name, "the table already holds this run's commit; nothing is written again");
                metrics.version = table.version().and_then(|v| i64::try_from(v).ok());
                metrics.rows_inserted = 0;
                metrics.already_committed = true;
                return Ok(());
            }
            // A write that loses a commit race can simply commit again on a fresh snapshot when
            // it created the table (the winner made it: now it writes to an existing one) or
            // appends (its rows depend on nothing it read). Other modes read what they replace,
            // so their conflicts are reported, never retried blindly.
            let retryable = table.version().is_none() || self.mode == WriteMode::Append;
            match self
                .commit_delta(table, schema, (rows.clone(), staged), partitions, metrics)
                .await
            {
                Err(EngineError::Delta { source, .. })
                    if retryable
                        && attempt < COMMIT_ATTEMPTS
                        && matches!(*source, deltalake::DeltaTableError::Transaction { .. }) =>
                {
                    tracing::debug!(table = %self.name, attempt, error = %source, "lost a commit race; committing again");
                    attempt += 1;
                }
                Err(EngineError::Delta { table, source })
                    if matches!(*source, deltalake::DeltaTableError::Transaction { .. }) =>
                {
                    return Err(EngineError::CommitConflict { table, source });
                }
                outcome => return outcome,
            }
        }
    }

    /// The table at this write's location, loaded if it has a log; a missing folder is a
    /// table yet to be created, not an error.
    async fn open_delta(&self) -> Result<DeltaTable> {
        let name = self.name.to_string();
        let location = self.lake.url_of(&self.relative_path())?;
        let mut table = deltalake::DeltaTableBuilder::from_url(location)
            .and_then(|builder| builder.build())
            .map_err(EngineError::delta(&name))?;
        if self.has_delta_log().await? {
            table.load().await.map_err(EngineError::delta(&name))?;
        }
        Ok(table)
    }

    /// Whether this write's table exists (see [`has_delta_log`]).
    async fn has_delta_log(&self) -> Result<bool> {
        has_delta_log(self.lake, &self.relative_path()).await
    }

    async fn commit_delta(
        &self,
        table: DeltaTable,
        schema: &SchemaRef,
        (rows, staged): (DataFrame, Option<&StagedFiles>),
        partitions: &[Vec<ScalarValue>],
        metrics: &mut WriteMetrics,
    ) -> Result<()> {
        let name = self.name.to_string();
        let exists = table.version().is_some();
        let added = if exists {
            self.added_columns(&table, schema)?
        } else {
            Vec::new()
        };
        if let Some(staged) = staged
            && let Some(version) = self
                .commit_staged(&table, schema, staged, partitions, &added)
                .await?
        {
            metrics.version = i64::try_from(version).ok();
            metrics.columns_added = added;
            return Ok(());
        }
        let evolve = !added.is_empty();
        let session = Arc::new(self.ctx.state());
        let properties = self.writer_properties(&rows).await?;
        if !exists && self.creates_from_own_files(schema) {
            let table = self
                .create_from_files(table, schema, rows, properties)
                .await?;
            metrics.version = table.version().and_then(|v| i64::try_from(v).ok());
            return Ok(());
        }
        if exists && self.mode == WriteMode::Append && !self.replacing.is_empty() {
            let written = self
                .append_replacing(&table, schema, rows, properties, &added)
                .await?;
            metrics.version = i64::try_from(written).ok();
            metrics.columns_added = added;
            return Ok(());
        }
        let rows = rows.logical_plan().clone();
        let write = |table: DeltaTable, mode: SaveMode| {
            let write = table
                .write(Vec::new())
                .with_input_plan(rows.clone())
                .with_save_mode(mode)
                .with_session_state(Arc::clone(&session) as _)
                .with_writer_properties(properties.clone())
                .with_commit_properties(self.commit_properties());
            if evolve {
                write.with_schema_mode(SchemaMode::Merge)
            } else {
                write
            }
        };
        let table = match (&self.mode, exists) {
            (WriteMode::Merge { key, update_when }, true) => {
                let (table, merged) = self
                    .merge(
                        table,
                        key,
                        update_when.as_deref(),
                        rows.clone(),
                        &added,
                        properties.clone(),
                    )
                    .await?;
                metrics.rows_inserted = merged.num_target_rows_inserted as u64;
                metrics.rows_updated = merged.num_target_rows_updated as u64;
                table
            }
            (WriteMode::OverwritePartitions, true) => match self.partition_predicate(partitions) {
                Some(predicate) => write(table, SaveMode::Overwrite)
                    .with_replace_where(predicate)
                    .await
                    .map_err(EngineError::delta(&name))?,
                None => table,
            },
            (WriteMode::ReplaceWhere(predicate), true) => write(table, SaveMode::Overwrite)
                .with_replace_where(predicate.clone())
                .await
                .map_err(EngineError::delta(&name))?,
            (WriteMode::Overwrite, true) => write(table, SaveMode::Overwrite)
                .await
                .map_err(EngineError::delta(&name))?,
            (WriteMode::Append, true) => write(table, SaveMode::Append)
                .await
                .map_err(EngineError::delta(&name))?,
            // Creation names the table and its partitioning; appends to an existing table must
            // not, or they commit a metadata change that fails every concurrent writer. A
            // creation that finds the table made meanwhile must fail, not let delta-rs commit
            // it on top of the winner's version as a blind append (its rows twice, in a merge
            // table): `execute` then writes again in the table's mode.
            (_, false) => write(table, SaveMode::Append)
                .with_partition_columns(self.partition_columns.clone())
                .with_table_name(&self.name.table)
                .with_commit_properties(self.commit_properties().with_max_retries(0))
                .await
                .map_err(EngineError::delta(&name))?,
        };
        metrics.version = table.version().and_then(|v| i64::try_from(v).ok());
        metrics.columns_added = added;
        Ok(())
    }

    /// A new partitioned table is created from data files this write encodes itself
    /// ([`crate::delta_files`]) when its schema needs no conversion for Delta; delta-rs'
    /// write copies every row twice on the way.
    fn creates_from_own_files(&self, schema: &SchemaRef) -> bool {
        !self.partition_columns.is_empty() && Arc::ptr_eq(&normalize_for_delta(schema), schema)
    }

    /// How the data files of this write are encoded (see [`file_config`]).
    fn writer_config(&self, schema: &SchemaRef, properties: WriterProperties) -> WriterConfig {
        file_config(schema, &self.partition_columns, properties)
    }

    /// Streams the rows into data files under `table`, not yet in its log; returns their
    /// Add actions.
    async fn write_files(
        &self,
        table: &DeltaTable,
        schema: &SchemaRef,
        rows: DataFrame,
        properties: WriterProperties,
    ) -> Result<Vec<Add>> {
        let config = self.writer_config(schema, properties);
        let settings: FileSettings = Arc::new(move |_: &RecordBatch| config.clone());
        write_data_files(
            table.object_store(),
            settings,
            &self.partition_columns,
            rows,
            &self.name.to_string(),
        )
        .await
    }

    /// Appends the rows and removes, in the same commit, the live files that the commits of
    /// [`Self::replacing_transactions`] added. Returns the version committed.
    async fn append_replacing(
        &self,
        table: &DeltaTable,
        schema: &SchemaRef,
        rows: DataFrame,
        properties: WriterProperties,
        added: &[String],
    ) -> Result<u64> {
        let removes = self.files_added_by_replaced(table).await?;
        let adds = self.write_files(table, schema, rows, properties).await?;
        tracing::info!(table = %self.name, removed = removes.len(), added = adds.len(), "rows of the earlier processing of the same input are replaced");
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(self.partition_columns.clone()),
            predicate: None,
        };
        self.commit_files(table, schema, (adds, removes), added, operation)
            .await
    }

    /// Commits data files already written (`adds`) with the removal of `removes`, in one
    /// commit; the table's schema evolves by the `added` columns. Returns the version.
    async fn commit_files(
        &self,
        table: &DeltaTable,
        schema: &SchemaRef,
        (adds, removes): (Vec<Add>, Vec<Remove>),
        added: &[String],
        operation: DeltaOperation,
    ) -> Result<u64> {
        let name = self.name.to_string();
        let snapshot = table.snapshot().map_err(EngineError::delta(&name))?;
        let mut actions: Vec<Action> = adds
            .into_iter()
            .map(Action::Add)
            .chain(removes.into_iter().map(Action::Remove))
            .collect();
        if !added.is_empty() {
            let columns: StructType = Arc::clone(schema)
                .try_into_kernel()
                .map_err(|e| EngineError::delta(&name)(e.into()))?;
            let metadata = snapshot
                .metadata()
                .clone()
                .with_schema(&columns)
                .map_err(|e| EngineError::delta(&name)(e.into()))?;
            actions.push(Action::Metadata(metadata));
        }
        let committed = CommitBuilder::from(self.commit_properties())
            .with_actions(actions)
            .build(Some(snapshot), table.log_store(), operation)
            .await
            .map_err(EngineError::delta(&name))?;
        Ok(committed.version())
    }

    /// The live files that the commits of the replaced transactions added, as removals. The
    /// log is read from the newest commit back until every one is found.
    async fn files_added_by_replaced(&self, table: &DeltaTable) -> Result<Vec<Remove>> {
        let name = self.name.to_string();
        let log_store = table.log_store();
        let mut wanted: HashSet<&str> = self.replacing.iter().map(String::as_str).collect();
        let mut added: HashSet<String> = HashSet::new();
        let mut next = table.version();
        while let Some(version) = next.filter(|_| !wanted.is_empty()) {
            let entry = log_store
                .read_commit_entry(version)
                .await
                .map_err(EngineError::delta(&name))?;
            let Some(entry) = entry else { break };
            let commit = CommitEntry::parse(&entry)
                .map_err(|e| EngineError::delta(&name)(DeltaTableError::Generic(e.to_string())))?;
            if commit
                .transactions
                .iter()
                .any(|id| wanted.remove(id.as_str()))
            {
                added.extend(commit.added);
            }
            next = version.checked_sub(1);
        }
        if !wanted.is_empty() {
            let mut missing: Vec<&str> = wanted.into_iter().collect();
            missing.sort_unstable();
            return Err(self.unreplaceable(&missing));
        }
        table
            .snapshot()
            .map_err(EngineError::delta(&name))?
            .snapshot()
            .file_views(log_store.as_ref(), None)
            .try_filter_map(|file| {
                let replaced = added.contains(file.path().as_ref());
                std::future::ready(Ok(replaced.then(|| file.remove_action(true))))
            })
            .try_collect()
            .await
            .map_err(EngineError::delta(&name))
    }

    /// Writes the rows' data files, then creates the table with them (see
    /// [`Self::create_with`]).
    async fn create_from_files(
        &self,
        table: DeltaTable,
        schema: &SchemaRef,
        rows: DataFrame,
        properties: WriterProperties,
    ) -> Result<DeltaTable> {
        let adds = self.write_files(&table, schema, rows, properties).await?;
        self.create_with(table, schema, adds).await
    }

    /// Creates the table with data files already written, in one commit (version 0). A
    /// creation that finds the table made meanwhile reports a lost race, which `write_delta`
    /// retries on the existing table.
    async fn create_with(
        &self,
        table: DeltaTable,
        schema: &SchemaRef,
        adds: Vec<Add>,
    ) -> Result<DeltaTable> {
        let name = self.name.to_string();
        let columns: StructType = Arc::clone(schema)
            .try_into_kernel()
            .map_err(|e| EngineError::delta(&name)(e.into()))?;
        let created = table
            .create()
            .with_columns(columns.fields().cloned())
            .with_partition_columns(self.partition_columns.clone())
            .with_table_name(&self.name.table)
            .with_actions(adds.into_iter().map(Action::Add))
            .with_commit_properties(self.commit_properties().with_max_retries(0))
            .await;
        match created {
            Ok(table) => Ok(table),
            Err(_) if self.has_delta_log().await? => {
                Err(EngineError::delta(&name)(DeltaTableError::Transaction {
                    source: TransactionError::VersionAlreadyExists(0),
                }))
            }
            Err(e) => Err(EngineError::delta(&name)(e)),
        }
    }

    /// The columns this output adds to the existing table, which then evolves; refuses an
    /// output that drops a column, changes one's type or adds one that may not be null, since
    /// the table's rows could not keep their meaning.
    fn added_columns(&self, table: &DeltaTable, output: &SchemaRef) -> Result<Vec<String>> {
        let name = self.name.to_string();
        let existing = table
            .snapshot()
            .map_err(EngineError::delta(&name))?
            .schema();
        let output: StructType = Arc::clone(output)
            .try_into_kernel()
            .map_err(|e| EngineError::delta(&name)(e.into()))?;
        let change = SchemaChange::between(&existing, &output);
        if change.problems.is_empty() {
            if !change.added.is_empty() {
                tracing::info!(table = %name, columns = %change.added.join(", "), "new nullable columns: the table evolves");
            }
            Ok(change.added)
        } else {
            Err(EngineError::SchemaChange {
                table: name,
                problems: change.problems,
            })
        }
    }

    async fn merge(
        &self,
        table: DeltaTable,
        key: &[String],
        update_when: Option<&str>,
        rows: LogicalPlan,
        added: &[String],
        properties: WriterProperties,
    ) -> Result<(DeltaTable, deltalake::operations::merge::MergeMetrics)> {
        let name = self.name.to_string();
        let columns: Vec<String> = rows
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let source = DataFrame::new(self.ctx.state(), rows);
        // Partition columns join the key so the merge only reads the partitions it touches.
        let matching: Vec<String> = key
            .iter()
            .chain(self.partition_columns.iter())
            .map(|c| format!("target.{} = source.{}", quoted(c), quoted(c)))
            .collect();
        let changed = columns
            .iter()
            .map(|c| {
                if added.contains(c) {
                    // The target has no such column yet: a value is a change.
                    format!("(source.{} IS NOT NULL)", quoted(c))
                } else {
                    format!(
                        "(target.{} IS DISTINCT FROM source.{})",
                        quoted(c),
                        quoted(c)
                    )
                }
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        // A matched row is replaced only when it differs (re-runs change nothing) and, if the
        // job says so, only by a newer version.
        let changed = match update_when {
            Some(condition) => format!("({changed}) AND ({condition})"),
            None => changed,
        };
        table
            .merge(source, matching.join(" AND "))
            .with_source_alias("source")
            .with_target_alias("target")
            .with_session_state(Arc::new(self.ctx.state()))
            .with_writer_properties(properties)
            .with_commit_properties(self.commit_properties())
            .with_merge_schema(!added.is_empty())
            .when_matched_update(|update| {
                columns
                    .iter()
                    .fold(update.predicate(changed.as_str()), |u, c| {
                        u.update(quoted(c), format!("source.{}", quoted(c)))
                    })
            })
            .and_then(|merge| {
                merge.when_not_matched_insert(|insert| {
                    columns.iter().fold(insert, |i, c| {
                        i.set(quoted(c), format!("source.{}", quoted(c)))
                    })
                })
            })
            .map_err(EngineError::delta(&name))?
            .await
            .map_err(EngineError::delta(&name))
    }

    /// Parquet settings of the data files, judged on a sample of the rows (see
    /// [`file_properties`]).
    async fn writer_properties(&self, rows: &DataFrame) -> Result<WriterProperties> {
        let sampling = || EngineError::datafusion("sampling the rows to write");
        let sample = rows
            .clone()
            .limit(0, Some(CARDINALITY_SAMPLE_ROWS))
            .map_err(sampling())?
            .collect()
            .await
            .map_err(sampling())?;
        Ok(file_properties(self.merge_key(), &sample))
    }

    /// The merge's key columns (none for other modes).
    fn merge_key(&self) -> &[String] {
        match &self.mode {
            WriteMode::Merge { key, .. } => key,
            _ => &[],
        }
    }

    /// `(p1 = v1 AND p2 = v2) OR ...` over the given (distinct) partitions; `None` when there
    /// are none.
    fn partition_predicate(&self, partitions: &[Vec<ScalarValue>]) -> Option<Expr> {
        partitions
            .iter()
            .filter_map(|values| {
                self.partition_columns
                    .iter()
                    .zip(values)
                    .map(|(column, value)| col(quoted(column)).eq(lit(value.clone())))
                    .reduce(Expr::and)
            })
            .reduce(Expr::or)
    }

    /// The object whose presence says a Parquet table holds this write's transaction: Parquet
    /// has no log, so the marker lives in the lake's state folder, where readers never look.
    fn parquet_marker(&self) -> Option<String> {
        self.transaction
            .as_ref()
            .map(|id| format!("{STATE_DIR}/commits/{}/{id}.json", self.relative_path()))
    }

    /// The files the Parquet writes of the replaced transactions placed, from their markers.
    async fn parquet_files_of_replaced(&self) -> Result<Vec<String>> {
        let mut files = Vec::new();
        for id in &self.replacing {
            let marker = format!("{STATE_DIR}/commits/{}/{id}.json", self.relative_path());
            let record: serde_json::Value = match self.lake.read(&marker).await {
                Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
                Err(_) => serde_json::Value::Null,
            };
            let Some(placed) = record.get("files").and_then(|f| f.as_array()) else {
                return Err(self.unreplaceable(&[id.as_str()]));
            };
            files.extend(placed.iter().filter_map(|f| f.as_str().map(str::to_string)));
        }
        Ok(files)
    }

    /// Earlier writes whose rows cannot be found to be replaced.
    fn unreplaceable(&self, ids: &[&str]) -> EngineError {
        EngineError::Declaration {
            context: format!("target {}", self.name),
            reason: format!(
                "the rows appended by {} cannot be found (written before lakejob recorded its writes, or past the table's log retention), so reading their input again would add them twice; rewrite the table with mode overwrite_partitions, or delete it and run again",
                ids.join(", ")
            ),
        }
    }

    /// Partition columns as the text of their folder names. DataFusion's writer spells a NULL
    /// as an empty string (text) or the type's zero (a date's 1970-01-01), so NULLs take
    /// Hive's name first; the files themselves do not hold partition columns.
    fn with_partition_text(&self, rows: DataFrame) -> Result<DataFrame> {
        self.partition_columns
            .iter()
            .try_fold(rows, |rows, column| {
                let value = Expr::Column(datafusion::common::Column::from_name(column));
                let text = when(value.clone().is_null(), lit(NULL_PARTITION_VALUE))
                    .otherwise(cast_expr(value, DataType::Utf8))
                    .map_err(EngineError::datafusion(format!("writing {}", self.name)))?;
                rows.with_column(column, text)
                    .map_err(EngineError::datafusion(format!("writing {}", self.name)))
            })
    }

    async fn write_parquet(&self, rows: DataFrame, metrics: &mut WriteMetrics) -> Result<()> {
        let marker = self.parquet_marker();
        if let Some(marker) = &marker
            && self.lake.exists(marker).await?
        {
            tracing::info!(table = %self.name, "the table already holds this run's files; nothing is written again");
            metrics.rows_inserted = 0;
            metrics.already_committed = true;
            return Ok(());
        }
        let name = self.name.to_string();
        let table_path = self.relative_path();
        // Hidden from readers by its leading `_`, and one folder per write, removed whole.
        let staging = format!("{table_path}/_staging-{}", uuid::Uuid::new_v4());
        let staging_url = self.lake.url_of(&staging)?;
        let options =
            DataFrameWriteOptions::new().with_partition_by(self.partition_columns.clone());
        self.with_partition_text(rows)?
            .write_parquet(staging_url.as_str(), options, None)
            .await
            .map_err(EngineError::datafusion(format!("writing {name}")))?;
        // Move the staged files into place, partition by partition. Overwrite first empties
        // each partition the new files land in.
        let store = self.lake.store();
        let staged = self.lake.list(&staging).await?;
        // Paths taken as the store lists them: a partition value's encoded `/` or `%` is
        // encoded once, as DataFusion wrote it, never again.
        let staged: Vec<(ObjectPath, String)> = staged
            .into_iter()
            .filter_map(|o| {
                let relative = o
                    .location
                    .as_ref()
                    .strip_prefix(&staging)?
                    .trim_start_matches('/')
                    .to_string();
                Some((o.location, relative))
            })
            .collect();
        let staged_dirs: BTreeSet<String> = staged
            .iter()
            .map(|(_, relative)| {
                relative
                    .rsplit_once('/')
                    .map_or(String::new(), |(dir, _)| dir.to_string())
            })
            .collect();
        if self.mode == WriteMode::Overwrite {
            for old in self.lake.list(&table_path).await? {
                let path = old.location.as_ref();
                if path.ends_with(".parquet") && !path.contains("/_staging-") {
                    delete(store.as_ref(), &old.location).await?;
                }
            }
        }
        if self.mode == WriteMode::OverwritePartitions {
            for dir in &staged_dirs {
                let prefix = if dir.is_empty() {
                    table_path.clone()
                } else {
                    format!("{table_path}/{dir}")
                };
                for old in self.lake.list(&prefix).await? {
                    let path = old.location.as_ref();
                    let direct_child = path
                        .strip_prefix(&prefix)
                        .is_some_and(|rest| !rest.trim_start_matches('/').contains('/'));
                    if direct_child && path.ends_with(".parquet") {
                        delete(store.as_ref(), &old.location).await?;
                    }
                }
            }
        }
        let replaced = self.parquet_files_of_replaced().await?;
        let mut placed = Vec::new();
        for (location, relative) in staged {
            let path = format!("{table_path}/{relative}");
            store
                .rename(&location, &object_path(&path))
                .await
                .map_err(EngineError::storage(path.as_str()))?;
            placed.push(path);
        }
        self.lake.delete_folder(&staging).await?;
        for file in replaced {
            self.lake.delete(&file).await?;
        }
        if let Some(marker) = marker {
            let record = serde_json::json!({
                "table": name,
                "transaction": self.transaction,
                "files": placed,
            });
            self.lake
                .write(&marker, bytes::Bytes::from(record.to_string()))
                .await?;
        }
        Ok(())
    }
}

/// Whether the table at `table` (relative to the lake root) has a Delta log, i.e. exists. A
/// checkpoint's pointer answers with one request; listing the log (a table never
/// checkpointed) reads a page of its entries, on a local disk a `stat` of each.
async fn has_delta_log(lake: &Lake, table: &str) -> Result<bool> {
    let log = format!("{table}/_delta_log");
    Ok(lake.exists(&format!("{log}/_last_checkpoint")).await? || lake.has_objects(&log).await?)
}

/// Every timestamp as microseconds in UTC: Delta stores no finer unit, and a time zone keeps
/// the table off the timestampNtz feature that Athena cannot read.
fn utc_microsecond_schema(schema: &SchemaRef) -> SchemaRef {
    let wanted = crate::types::timestamp_type();
    if !schema
        .fields()
        .iter()
        .any(|f| is_other_timestamp(f.data_type()))
    {
        return Arc::clone(schema);
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if is_other_timestamp(f.data_type()) {
                f.as_ref().clone().with_data_type(wanted.clone())
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn is_other_timestamp(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Timestamp(..)) && *data_type != crate::types::timestamp_type()
}

/// The rows with [`utc_microsecond_schema`]'s timestamps, converted as they stream.
fn with_utc_microsecond_timestamps(rows: DataFrame) -> Result<DataFrame> {
    let schema: SchemaRef = Arc::new(rows.schema().as_arrow().clone());
    if Arc::ptr_eq(&utc_microsecond_schema(&schema), &schema) {
        return Ok(rows);
    }
    let wanted = crate::types::timestamp_type();
    let columns: Vec<Expr> = schema
        .fields()
        .iter()
        .map(|field| {
            let column = col(quoted(field.name()));
            if is_other_timestamp(field.data_type()) {
                cast_expr(column, wanted.clone()).alias(field.name())
            } else {
                column
            }
        })
        .collect();
    rows.select(columns).map_err(EngineError::datafusion(
        "converting timestamps to microseconds UTC",
    ))
}

/// Rows sampled to judge a column's cardinality: enough to tell keys and timestamps from
/// repeating values, few enough to cost nothing next to the write.
const CARDINALITY_SAMPLE_ROWS: usize = 8192;

/// Parquet settings of data files holding rows like `sample`: snappy, as delta-rs writes by
/// default, and no dictionary for a merge `key` or a column whose values are nearly all
/// distinct: building a dictionary only to abandon it was a twentieth of a clickstream load,
/// and a dictionary of distinct values saves nothing. A sample that cannot be judged keeps
/// every dictionary.
fn file_properties(key: &[String], sample: &[RecordBatch]) -> WriterProperties {
    let near_unique = near_unique_columns(sample).unwrap_or_default();
    key.iter()
        .chain(&near_unique)
        .fold(
            WriterProperties::builder()
                .set_compression(Compression::SNAPPY)
                .set_max_row_group_row_count(Some(ROW_GROUP_ROWS)),
            |builder, column| {
                builder.set_column_dictionary_enabled(ColumnPath::from(column.as_str()), false)
            },
        )
        .build()
}

/// How the data files of a table are encoded: delta-rs' defaults for file size and
/// statistics, with the given Parquet settings.
fn file_config(
    schema: &SchemaRef,
    partition_columns: &[String],
    properties: WriterProperties,
) -> WriterConfig {
    let defaults = TableProperties::default();
    WriterConfig::new(
        Arc::clone(schema),
        partition_columns.to_vec(),
        Some(properties),
        Some(defaults.target_file_size()),
        None,
        defaults.num_indexed_cols(),
        None,
    )
}

/// Fewer values than this in a sample tell nothing of a column's cardinality.
const MIN_JUDGED_VALUES: usize = 1000;

/// Columns at least nine in ten of whose sampled values are distinct (by hash), among the
/// values present (a column that is mostly NULL, such as a product on page views, is judged by
/// the rows that have one), in samples of at least a thousand values; a dictionary of them
/// would be abandoned or save nothing.
fn near_unique_columns(batches: &[RecordBatch]) -> datafusion::error::Result<Vec<String>> {
    let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    let sample = first.slice(0, first.num_rows().min(CARDINALITY_SAMPLE_ROWS));
    if sample.num_rows() < MIN_JUDGED_VALUES {
        return Ok(Vec::new());
    }
    let state = RandomState::with_seed(0);
    let mut hashes = vec![0; sample.num_rows()];
    let mut near_unique = Vec::new();
    for (field, column) in sample.schema().fields().iter().zip(sample.columns()) {
        if field.data_type() == &DataType::Boolean {
            continue;
        }
        create_hashes([column], &state, &mut hashes)?;
        let (present, distinct): (usize, HashSet<u64>) = match column.logical_nulls() {
            Some(nulls) => (
                nulls.len() - nulls.null_count(),
                nulls.valid_indices().map(|row| hashes[row]).collect(),
            ),
            None => (hashes.len(), hashes.iter().copied().collect()),
        };
        if present >= MIN_JUDGED_VALUES && distinct.len() * 10 >= present * 9 {
            near_unique.push(field.name().clone());
        }
    }
    Ok(near_unique)
}

async fn delete(store: &dyn ObjectStore, path: &ObjectPath) -> Result<()> {
    store
        .delete(path)
        .await
        .map_err(EngineError::storage(path.to_string()))
}

/// Quotes an identifier for SQL text when it needs it.
fn quoted(name: &str) -> String {
    if name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The distinct partition values in the rows, sorted (a vectorised group-by over the
/// partition columns only).
async fn distinct_partitions(
    rows: &DataFrame,
    columns: &[String],
) -> Result<Vec<Vec<ScalarValue>>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let error = || EngineError::datafusion("finding the partitions written");
    let groups: Vec<Expr> = columns.iter().map(|c| col(quoted(c))).collect();
    let distinct = rows
        .clone()
        .aggregate(groups, vec![])
        .map_err(error())?
        .collect()
        .await
        .map_err(error())?;
    let mut partitions = Vec::new();
    for batch in &distinct {
        for row in 0..batch.num_rows() {
            let values = batch
                .columns()
                .iter()
                .map(|array| ScalarValue::try_from_array(array, row))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(EngineError::datafusion("reading partition values"))?;
            partitions.push(values);
        }
    }
    partitions.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok(partitions)
}

/// Partition values as text, the way Hive paths and catalogs spell them.
fn partition_text(values: &[ScalarValue]) -> PartitionValues {
    values
        .iter()
        .map(|v| {
            if v.is_null() {
                NULL_PARTITION_VALUE.to_string()
            } else {
                v.to_string()
            }
        })
        .collect()
}

/// What one commit of a Delta log did, as far as replacing its rows needs: the transaction
/// identifiers it recorded and the files it added (paths decoded, as snapshots give them).
#[derive(Debug, Default, PartialEq, Eq)]
struct CommitEntry {
    transactions: Vec<String>,
    added: Vec<String>,
}

impl CommitEntry {
    fn parse(entry: &[u8]) -> std::result::Result<Self, serde_json::Error> {
        let mut commit = CommitEntry::default();
        for line in entry.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            let action: serde_json::Value = serde_json::from_slice(line)?;
            if let Some(id) = action.pointer("/txn/appId").and_then(|v| v.as_str()) {
                commit.transactions.push(id.to_string());
            }
            if let Some(path) = action.pointer("/add/path").and_then(|v| v.as_str()) {
                let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
                commit.added.push(decoded.into_owned());
            }
        }
        Ok(commit)
    }
}

/// How an output's columns differ from those of the table it goes into, by name.
#[derive(Debug, Default)]
struct SchemaChange {
    /// Nullable columns only the output has.
    added: Vec<String>,
    /// Differences a table cannot evolve through, each said for a person.
    problems: Vec<String>,
}

impl SchemaChange {
    fn between(table: &StructType, output: &StructType) -> Self {
        let mut change = SchemaChange::default();
        for field in output.fields() {
            match table.field(field.name()) {
                Some(existing) if existing.data_type() != field.data_type() => {
                    change.problems.push(format!(
                        "column {} changes type from {} to {}",
                        field.name(),
                        existing.data_type(),
                        field.data_type()
                    ))
                }
                Some(_) => {}
                None if field.is_nullable() => change.added.push(field.name().clone()),
                None => change.problems.push(format!(
                    "new column {} may not be null, but the rows the table has carry no value for it",
                    field.name()
                )),
            }
        }
        for field in table.fields() {
            if output.field(field.name()).is_none() {
                change.problems.push(format!(
                    "column {} is in the table but not in the output",
                    field.name()
                ));
            }
        }
        change
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{
        Array, AsArray, BooleanArray, Int64Array, StringArray, TimestampNanosecondArray,
    };
    use datafusion::arrow::datatypes::{TimeUnit, TimestampMicrosecondType};

    #[test]
    fn columns_of_nearly_distinct_values_are_written_without_a_dictionary() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("at", DataType::Int64, false),
            Field::new("status", DataType::Utf8, false),
            Field::new("customer", DataType::Int64, false),
            Field::new("flag", DataType::Boolean, false),
            Field::new("product", DataType::Utf8, true),
        ]));
        let rows = |count: i64| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from_iter_values(
                        (0..count).map(|i| format!("T{i:08}")),
                    )),
                    // One value in twenty repeats the one before: still nine in ten distinct.
                    Arc::new(Int64Array::from_iter_values(
                        (0..count).map(|i| if i % 20 == 1 { i - 1 } else { i }),
                    )),
                    Arc::new(StringArray::from_iter_values(
                        (0..count).map(|i| ["paid", "refunded"][i as usize % 2]),
                    )),
                    Arc::new(Int64Array::from_iter_values((0..count).map(|i| i % 700))),
                    Arc::new(BooleanArray::from_iter(
                        (0..count).map(|i| Some(i % 2 == 0)),
                    )),
                    // Distinct where present, on one row in three.
                    Arc::new(StringArray::from_iter(
                        (0..count).map(|i| (i % 3 == 0).then(|| format!("P{i}"))),
                    )),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let judged = |count| near_unique_columns(&[rows(count)]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            judged(5000),
            vec!["id".to_string(), "at".to_string(), "product".to_string()]
        );
        // Too few values to judge (the products of 2,500 rows are 834): dictionaries kept.
        assert_eq!(judged(2500), vec!["id".to_string(), "at".to_string()]);
        assert_eq!(judged(500), Vec::<String>::new());
    }

    #[tokio::test]
    async fn timestamps_are_written_as_microseconds_in_utc() -> Result<()> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("at", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(TimestampNanosecondArray::from(vec![
                    Some(1_500_000_123),
                    None,
                ])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .map_err(|e| EngineError::datafusion("test batch")(e.into()))?;
        let rows = SessionContext::new()
            .read_batch(batch)
            .map(with_utc_microsecond_timestamps)
            .map_err(EngineError::datafusion("test rows"))??;
        let normalised: SchemaRef = Arc::new(rows.schema().as_arrow().clone());
        let batches = rows
            .collect()
            .await
            .map_err(EngineError::datafusion("converting"))?;
        assert_eq!(
            normalised.field(0).data_type(),
            &crate::types::timestamp_type()
        );
        assert_eq!(normalised.field(1).data_type(), &DataType::Int64);
        let at = batches[0]
            .column(0)
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!((at.value(0), at.is_null(1)), (1_500_000, true));
        Ok(())
    }

    /// A catalog that accepts every registration and remembers none.
    #[derive(Debug)]
    struct NoCatalog;

    #[async_trait::async_trait]
    impl Catalog for NoCatalog {
        async fn upsert_table(&self, _: &TableDefinition) -> Result<()> {
            Ok(())
        }
        async fn add_partitions(&self, _: &TableName, _: &[PartitionValues]) -> Result<usize> {
            Ok(0)
        }
        async fn remove_partitions(&self, _: &TableName, _: &[PartitionValues]) -> Result<usize> {
            Ok(0)
        }
        async fn drop_table(&self, _: &TableName) -> Result<bool> {
            Ok(false)
        }
        async fn table(&self, _: &TableName) -> Result<Option<crate::catalog::CatalogTable>> {
            Ok(None)
        }
        async fn tables(&self) -> Result<Vec<TableName>> {
            Ok(Vec::new())
        }
    }

    /// A run's output staged as the table's own files: the planner knows their rows (a join
    /// builds on its smaller side), a stage never committed is removed with the folders it
    /// made, and a committed one is the table's files as they are.
    #[tokio::test]
    async fn staged_files_are_sized_for_the_planner_committed_as_they_are_or_removed() -> Result<()>
    {
        use datafusion::common::stats::Precision;
        use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        let ctx = crate::session::new_session(&crate::session::SessionOptions::default())?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("p", DataType::Int64, false),
        ]));
        let rows = |from: i64| {
            let n: Vec<i64> = (from..from + 100).collect();
            let p: Vec<i64> = n.iter().map(|n| n % 3).collect();
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(Int64Array::from(n)), Arc::new(Int64Array::from(p))],
            )
            .map_err(|e| EngineError::datafusion("test rows")(e.into()))
            .and_then(|batch| {
                ctx.read_batch(batch)
                    .map_err(EngineError::datafusion("test rows"))
            })
        };
        let write = || {
            TableWrite::new(
                &lake,
                &ctx,
                TableName::new("processed", "t"),
                TableFormat::Delta,
            )
            .with_partition_columns(vec!["p".into()])
            .with_mode(WriteMode::OverwritePartitions)
        };
        assert!(write().stages_in_table(&schema).await?);
        let staged = write().stage(rows(0)?).await?;
        assert_eq!(staged.rows, 100);
        let plan = staged
            .frame
            .clone()
            .create_physical_plan()
            .await
            .map_err(EngineError::datafusion("planning"))?;
        // As the planner's join selection asks.
        let statistics = StatisticsContext::new()
            .compute(plan.as_ref(), &StatisticsArgs::new())
            .map_err(EngineError::datafusion("statistics"))?;
        assert_eq!(
            statistics.num_rows,
            Precision::Exact(100),
            "joins are sized by it"
        );
        let staged = Staged::Table(staged);
        let record = staged
            .record()
            .cloned()
            .ok_or_else(|| EngineError::Task("no record".into()))?;
        assert_eq!(record.remove_unpublished(&lake).await?, record.files.len());
        assert!(!dir.path().join("processed").exists(), "nothing is left");
        // The second write replaces the partitions the first wrote; records of committed
        // files remove nothing.
        for from in [0, 1000] {
            let staged = Staged::Table(write().stage(rows(from)?).await?);
            let record = staged.record().cloned();
            write().execute_staged(staged, &NoCatalog).await?;
            if let Some(record) = record {
                assert_eq!(record.remove_unpublished(&lake).await?, 0);
            }
        }
        let table = deltalake::open_table(lake.url_of("processed/t")?)
            .await
            .map_err(EngineError::delta("processed.t"))?;
        let live: usize = table
            .snapshot()
            .map_err(EngineError::delta("processed.t"))?
            .log_data()
            .iter()
            .filter_map(|file| file.num_records())
            .sum();
        assert_eq!(
            live, 100,
            "the second write replaced the first's partitions"
        );
        Ok(())
    }

    /// Jobs of a pipeline append to shared tables (`lakejob.quality_results`) at once, the
    /// first of them creating it: the write itself settles who creates it, not the caller.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn first_appends_at_once_all_land() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        let catalog = NoCatalog;
        let ctx = crate::session::new_session(&crate::session::SessionOptions::default())?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("p", DataType::Int64, false),
        ]));
        let batch = |n: i64| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(Int64Array::from(vec![n])),
                    Arc::new(Int64Array::from(vec![n % 2])),
                ],
            )
            .map_err(|e| EngineError::datafusion("test batch")(e.into()))
        };
        // Unpartitioned (delta-rs' write) and partitioned (files written here, then created).
        for (table, partition_columns) in [("log", vec![]), ("partitioned_log", vec!["p".into()])] {
            let write = |n: i64| {
                let (lake, ctx, catalog, schema) = (&lake, &ctx, &catalog, Arc::clone(&schema));
                let partition_columns = partition_columns.clone();
                async move {
                    TableWrite::new(
                        lake,
                        ctx,
                        TableName::new("lakejob", table),
                        TableFormat::Delta,
                    )
                    .with_partition_columns(partition_columns)
                    .with_mode(WriteMode::Append)
                    .execute_batches(schema, vec![batch(n)?], catalog)
                    .await
                }
            };
            let writes: Vec<_> = (0..8).map(write).collect();
            for written in futures::future::join_all(writes).await {
                written?;
            }
            let table = deltalake::open_table(lake.url_of(&format!("lakejob/{table}"))?)
                .await
                .map_err(EngineError::delta("lakejob.log"))?;
            assert_eq!(
                table.version(),
                Some(7),
                "one creates the table, the others append to it"
            );
            let files = table
                .snapshot()
                .map_err(EngineError::delta("lakejob.log"))?
                .log_data()
                .num_files();
            assert_eq!(files, 8, "every write's file is in the table");
        }
        Ok(())
    }

    #[test]
    fn a_commit_entry_gives_its_transactions_and_its_added_files_decoded() {
        let entry = concat!(
            r#"{"commitInfo":{"operation":"WRITE"}}"#,
            "\n",
            r#"{"txn":{"appId":"lakejob-t-run1","version":0}}"#,
            "\n",
            r#"{"add":{"path":"city=S%C3%A3o%20Paulo/part-1.parquet","size":1}}"#,
            "\n",
            r#"{"remove":{"path":"old.parquet"}}"#,
            "\n"
        );
        assert_eq!(
            CommitEntry::parse(entry.as_bytes()).ok(),
            Some(CommitEntry {
                transactions: vec!["lakejob-t-run1".into()],
                added: vec!["city=São Paulo/part-1.parquet".into()],
            })
        );
    }
}
