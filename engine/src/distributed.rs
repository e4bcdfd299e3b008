//! Plan leaves that carry everything they read, so a plan can be serialised and run on another
//! machine (a cluster's executor): raw files typed with reject routing ([`RawFilesTable`]), and
//! a Delta table's current files ([`DeltaFilesTable`]). A local run reads raw files directly and
//! Delta tables through delta-rs; these leaves are for plans that leave the process.

use std::collections::HashMap;
use std::fmt;
use std::io::Cursor;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::Session;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, ScalarValue, Statistics};
use datafusion::datasource::TableProvider;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchReceiverStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    SendableRecordBatchStream,
};
use deltalake::DeltaTable;
use object_store::path::Path as ObjectPath;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::Sender;
use url::Url;

use crate::error::{EngineError, Result};
use crate::lake::Lake;
use crate::reader::{ColumnSpec, FileRead, RejectRule, SourceFormat, SourceReader};
use crate::session::{SessionOptions, new_session};

type DfResult<T> = std::result::Result<T, DataFusionError>;

fn external(error: EngineError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// The `scheme://authority` part of a URL, which names the object store that serves it.
fn store_url(url: &Url) -> DfResult<ObjectStoreUrl> {
    ObjectStoreUrl::parse(format!("{}://{}", url.scheme(), url.authority()))
}

/// A scan of raw files with the reader a job declares, as it travels to an executor. Rejected
/// rows and whole-file failures cannot travel with the typed rows, so each file's outcome is
/// left in the lake under `outcomes`, where the run that planned the scan collects it
/// ([`collect_outcomes`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawScan {
    /// The lake's root URL, ending in `/` (`file:///data/lake/`, `s3://bucket/prefix/`).
    pub lake: Url,
    /// The files, relative to the lake root.
    pub files: Vec<String>,
    /// The declared columns.
    pub columns: Vec<ColumnSpec>,
    /// The declared reject rules.
    pub rules: Vec<RejectRule>,
    /// How the files are written.
    pub format: SourceFormat,
    /// Where each file's outcome is left, relative to the lake root. Without it the files must
    /// be whole (a reference table): a rejected row or an unreadable file fails the scan.
    pub outcomes: Option<String>,
    /// How many partitions the files are spread over.
    pub partitions: usize,
    /// The most bytes a compressed file may inflate to.
    #[serde(default = "most_inflated_bytes")]
    pub max_inflated_bytes: u64,
}

fn most_inflated_bytes() -> u64 {
    crate::reader::MAX_DECOMPRESSED_BYTES
}

impl RawScan {
    fn reader(&self) -> Result<SourceReader> {
        let ctx = new_session(&SessionOptions::default())?;
        SourceReader::new(&self.columns, &self.rules, self.format.clone(), &ctx)
            .map(|reader| reader.with_max_inflated_bytes(self.max_inflated_bytes))
            .map_err(|problems| EngineError::Declaration {
                context: "a distributed raw-file scan".into(),
                reason: problems.join("; "),
            })
    }

    fn outcome_path(&self, index: usize, extension: &str) -> Option<String> {
        self.outcomes
            .as_ref()
            .map(|prefix| format!("{}/{index:06}.{extension}", prefix.trim_end_matches('/')))
    }
}

/// What reading one file made, apart from its typed rows.
#[derive(Debug, Serialize, Deserialize)]
struct FileOutcome {
    file: String,
    rows: u64,
    rejected_rows: u64,
    file_error: Option<String>,
}

/// Raw files as a table: their typed rows. See [`RawScan`] for where rejects go.
#[derive(Debug)]
pub struct RawFilesTable {
    scan: RawScan,
    reader: Arc<SourceReader>,
}

impl RawFilesTable {
    /// The table of `scan`'s files; fails when the declaration does not compile.
    pub fn try_new(scan: RawScan) -> Result<Self> {
        let reader = Arc::new(scan.reader()?);
        Ok(Self { scan, reader })
    }

    /// What the table reads.
    pub fn scan(&self) -> &RawScan {
        &self.scan
    }
}

#[async_trait]
impl TableProvider for RawFilesTable {
    fn schema(&self) -> SchemaRef {
        self.reader.typed_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(RawScanExec::with_reader(
            self.scan.clone(),
            Arc::clone(&self.reader),
            projection.cloned(),
        )?))
    }
}

/// Reads a [`RawScan`]'s files, a partition's share each (file `i` in partition
/// `i % partitions`), and yields their typed rows.
#[derive(Debug)]
pub struct RawScanExec {
    scan: RawScan,
    /// Compiled once for the node; every partition's task reads with it.
    reader: Arc<SourceReader>,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl RawScanExec {
    /// The scan, keeping the columns at `projection` (all without one).
    pub fn try_new(scan: RawScan, projection: Option<Vec<usize>>) -> DfResult<Self> {
        let reader = Arc::new(scan.reader().map_err(external)?);
        Self::with_reader(scan, reader, projection)
    }

    fn with_reader(
        scan: RawScan,
        reader: Arc<SourceReader>,
        projection: Option<Vec<usize>>,
    ) -> DfResult<Self> {
        let typed = reader.typed_schema();
        let schema = match &projection {
            Some(indices) => Arc::new(typed.project(indices)?),
            None => typed,
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(scan.partitions.max(1)),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Self {
            scan,
            reader,
            projection,
            schema,
            properties: Arc::new(properties),
        })
    }

    /// What it reads.
    pub fn scan(&self) -> &RawScan {
        &self.scan
    }

    /// The columns it keeps.
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }
}

impl DisplayAs for RawScanExec {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "RawScanExec: files={}, partitions={}, rejects={}",
            self.scan.files.len(),
            self.scan.partitions.max(1),
            self.scan.outcomes.as_deref().unwrap_or("fail the scan")
        )
    }
}

impl ExecutionPlan for RawScanExec {
    fn name(&self) -> &'static str {
        "RawScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let store = context
            .runtime_env()
            .object_store(store_url(&self.scan.lake)?)?;
        let lake = Lake::on_store(self.scan.lake.clone(), store).map_err(external)?;
        let reader = Arc::clone(&self.reader);
        let scan = Arc::new(self.scan.clone());
        let projection = self.projection.clone();
        let mine: Vec<usize> = (partition..scan.files.len())
            .step_by(scan.partitions.max(1))
            .collect();
        // A file's rows flow on batch by batch while it is read; the bounded channel holds
        // the reader back when the plan above is slower, so a partition holds one file's bytes
        // and a few batches, whatever the file's size.
        let mut builder = RecordBatchReceiverStream::builder(Arc::clone(&self.schema), 2);
        let sender = builder.tx();
        builder.spawn(async move {
            for index in mine {
                let file = FileScan {
                    lake: lake.clone(),
                    reader: Arc::clone(&reader),
                    scan: Arc::clone(&scan),
                    index,
                };
                file.read(sender.clone(), projection.clone())
                    .await
                    .map_err(external)?;
            }
            Ok(())
        });
        Ok(builder.build())
    }
}

/// One file of a scan, read on a partition's task.
struct FileScan {
    lake: Lake,
    reader: Arc<SourceReader>,
    scan: Arc<RawScan>,
    index: usize,
}

impl FileScan {
    /// Reads the file as its bytes arrive, sending its typed rows (with `projection`'s
    /// columns) on as they are made, and leaves its outcome in the lake.
    async fn read(
        self,
        sender: Sender<DfResult<RecordBatch>>,
        projection: Option<Vec<usize>>,
    ) -> Result<()> {
        let FileScan {
            lake,
            reader,
            scan,
            index,
        } = self;
        let file = scan.files.get(index).cloned().unwrap_or_default();
        let bytes = lake.read_stream(&file).await?;
        let path = file.clone();
        let read = tokio::task::spawn_blocking(move || {
            reader.read_each(&path, Box::new(bytes), &mut |batch| {
                let batch = match &projection {
                    Some(indices) => batch.project(indices).map_err(|e| {
                        EngineError::datafusion("projecting the raw rows")(e.into())
                    })?,
                    None => batch,
                };
                sender
                    .blocking_send(Ok(batch))
                    .map_err(|_| EngineError::Task("the plan stopped reading the raw rows".into()))
            })
        })
        .await
        .map_err(|e| EngineError::Task(e.to_string()))??;
        leave_outcome(&lake, &scan, index, read).await
    }
}

/// Leaves what reading file `index` of the scan made (its counts, rejected rows and any
/// file error) in the lake; without an outcome folder, fails on any rejected row.
async fn leave_outcome(lake: &Lake, scan: &RawScan, index: usize, read: FileRead) -> Result<()> {
    let FileRead {
        file,
        rows,
        rejected_rows,
        rejects,
        file_error,
        ..
    } = read;
    let (Some(outcome), Some(rejects_path)) = (
        scan.outcome_path(index, "json"),
        scan.outcome_path(index, "arrow"),
    ) else {
        let problem = file_error.or_else(|| {
            (rejected_rows > 0)
                .then(|| format!("{rejected_rows} row(s) do not match the declared columns"))
        });
        return match problem {
            Some(reason) => Err(EngineError::Declaration {
                context: file,
                reason,
            }),
            None => Ok(()),
        };
    };
    if let Some(schema) = rejects.first().map(RecordBatch::schema) {
        let bytes = ipc_bytes(&schema, &rejects).map_err(EngineError::datafusion(format!(
            "keeping the rejected rows of {file}"
        )))?;
        lake.write(&rejects_path, bytes).await?;
    }
    let summary = FileOutcome {
        file,
        rows,
        rejected_rows,
        file_error,
    };
    let json = serde_json::to_vec(&summary).map_err(|e| EngineError::Task(e.to_string()))?;
    lake.write(&outcome, Bytes::from(json)).await
}

fn ipc_bytes(schema: &SchemaRef, batches: &[RecordBatch]) -> DfResult<Bytes> {
    let mut buffer = Vec::new();
    let mut writer = FileWriter::try_new(&mut buffer, schema)?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    drop(writer);
    Ok(Bytes::from(buffer))
}

/// What each file of a finished scan made, in the scan's file order, with the rejected rows
/// and no typed rows (those went through the plan). Removes the outcomes from the lake.
pub async fn collect_outcomes(lake: &Lake, scan: &RawScan) -> Result<Vec<FileRead>> {
    let mut reads = Vec::with_capacity(scan.files.len());
    for index in 0..scan.files.len() {
        let (Some(outcome), Some(rejects_path)) = (
            scan.outcome_path(index, "json"),
            scan.outcome_path(index, "arrow"),
        ) else {
            return Ok(Vec::new());
        };
        let summary: FileOutcome = serde_json::from_slice(&lake.read(&outcome).await?)
            .map_err(|e| EngineError::Task(format!("{outcome}: {e}")))?;
        let rejects = if summary.rejected_rows > 0 {
            let bytes = lake.read(&rejects_path).await?;
            FileReader::try_new(Cursor::new(bytes), None)
                .and_then(|batches| batches.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(|e| EngineError::Task(format!("{rejects_path}: {e}")))?
        } else {
            Vec::new()
        };
        reads.push(FileRead {
            file: summary.file,
            rows: summary.rows,
            rejected_rows: summary.rejected_rows,
            valid: Vec::new(),
            rejects,
            file_error: summary.file_error,
        });
    }
    if let Some(prefix) = &scan.outcomes {
        lake.delete_prefix(prefix).await?;
    }
    Ok(reads)
}

/// One data file of a Delta table's current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaFile {
    /// Its path relative to the table root, as the Delta log writes it (URL-encoded).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its partition values, in the order of [`DeltaFiles::partition_columns`].
    pub partition_values: Vec<Option<String>>,
    /// Its rows, when its statistics say: the planner sizes joins by them.
    #[serde(default)]
    pub rows: Option<u64>,
}

/// A Delta table's current files, read from its log when the plan was made: the table as of
/// that version, readable by any Parquet reader that can reach the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaFiles {
    /// The table's name, for messages.
    pub table: String,
    /// The table's root URL, ending in `/`.
    pub root: Url,
    /// The partition columns, in the table's order.
    pub partition_columns: Vec<String>,
    /// The files.
    pub files: Vec<DeltaFile>,
}

/// A Delta table as a plain Parquet scan of its current files, so the plan can be serialised.
#[derive(Debug)]
pub struct DeltaFilesTable {
    files: DeltaFiles,
    schema: SchemaRef,
}

impl DeltaFilesTable {
    /// The current version of the table at `location`.
    pub async fn open(name: &str, location: &Url) -> Result<Self> {
        let table = DeltaTable::try_from_url(location.clone())
            .await
            .map_err(EngineError::delta(name))?;
        let state = table.snapshot().map_err(EngineError::delta(name))?;
        let protocol = state.protocol();
        if protocol
            .reader_features()
            .is_some_and(|features| !features.is_empty())
        {
            return Err(EngineError::Declaration {
                context: format!("table {name}"),
                reason: format!(
                    "it uses Delta reader features ({:?}) a plain Parquet scan cannot honour; run the job on the local engine",
                    protocol.reader_features()
                ),
            });
        }
        let partition_columns = state.metadata().partition_columns().to_vec();
        let files = state
            .log_data()
            .iter()
            .map(|file| {
                let values = file.partition_values_map();
                DeltaFile {
                    path: file.path().into_owned(),
                    size: u64::try_from(file.size()).unwrap_or_default(),
                    partition_values: partition_columns
                        .iter()
                        .map(|column| values.get(column).cloned().flatten())
                        .collect(),
                    rows: file.num_records().and_then(|n| u64::try_from(n).ok()),
                }
            })
            .collect();
        let mut root = table.table_url().clone();
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        Ok(Self {
            schema: state.snapshot().arrow_schema(),
            files: DeltaFiles {
                table: name.to_string(),
                root,
                partition_columns,
                files,
            },
        })
    }

    /// The table over `files` with the given (whole) schema.
    pub fn new(files: DeltaFiles, schema: SchemaRef) -> Self {
        Self { files, schema }
    }

    /// What it reads.
    pub fn files(&self) -> &DeltaFiles {
        &self.files
    }
}

impl DeltaFilesTable {
    /// The rows and bytes of the files, as the planner sizes the scan by (a join builds its
    /// hash table from its smaller side): exact rows when every file's statistics say.
    fn statistics_of_files(
        &self,
        file_schema: &Schema,
        partition_fields: &[FieldRef],
    ) -> Statistics {
        let rows: Option<u64> = self.files.files.iter().map(|file| file.rows).sum();
        let bytes: u64 = self.files.files.iter().map(|file| file.size).sum();
        let mut statistics = Statistics::new_unknown(&Schema::new(
            file_schema
                .fields()
                .iter()
                .chain(partition_fields)
                .cloned()
                .collect::<Vec<_>>(),
        ));
        statistics.num_rows = match rows.and_then(|n| usize::try_from(n).ok()) {
            Some(rows) => Precision::Exact(rows),
            None => Precision::Absent,
        };
        statistics.total_byte_size = usize::try_from(bytes)
            .map(Precision::Inexact)
            .unwrap_or(Precision::Absent);
        statistics
    }
}

#[async_trait]
impl TableProvider for DeltaFilesTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let partitioned: Vec<&String> = self.files.partition_columns.iter().collect();
        let (partition_fields, data_fields): (Vec<FieldRef>, Vec<FieldRef>) = self
            .schema
            .fields()
            .iter()
            .cloned()
            .partition(|field| partitioned.contains(&field.name()));
        // Partition values come in the log's column order.
        let partition_fields: Vec<FieldRef> = self
            .files
            .partition_columns
            .iter()
            .filter_map(|name| partition_fields.iter().find(|f| f.name() == name).cloned())
            .collect();
        // The scan lays out data columns, then partition columns; the table's order may differ.
        let scan_order: HashMap<&str, usize> = data_fields
            .iter()
            .chain(&partition_fields)
            .enumerate()
            .map(|(index, field)| (field.name().as_str(), index))
            .collect();
        let wanted: Vec<usize> = match projection {
            Some(indices) => indices.clone(),
            None => (0..self.schema.fields().len()).collect(),
        };
        let scan_projection = wanted
            .iter()
            .map(|&index| {
                let name = self.schema.field(index).name().as_str();
                scan_order.get(name).copied().ok_or_else(|| {
                    DataFusionError::Plan(format!("{}: no column {name}", self.files.table))
                })
            })
            .collect::<DfResult<Vec<usize>>>()?;

        let mut groups: Vec<Vec<PartitionedFile>> =
            vec![Vec::new(); state.config().target_partitions().max(1)];
        for (index, file) in self.files.files.iter().enumerate() {
            let url = self.files.root.join(&file.path).map_err(|e| {
                DataFusionError::Plan(format!(
                    "{}: bad file path {}: {e}",
                    self.files.table, file.path
                ))
            })?;
            let location = ObjectPath::from_url_path(url.path())
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
            let values = partition_fields
                .iter()
                .zip(&file.partition_values)
                .map(|(field, value)| match value {
                    Some(text) => ScalarValue::try_from_string(text.clone(), field.data_type()),
                    None => ScalarValue::try_from(field.data_type()),
                })
                .collect::<DfResult<Vec<_>>>()?;
            let slot = index % groups.len();
            if let Some(group) = groups.get_mut(slot) {
                group.push(
                    PartitionedFile::new(location.to_string(), file.size)
                        .with_partition_values(values),
                );
            }
        }
        groups.retain(|group| !group.is_empty());

        let file_schema = Arc::new(Schema::new(data_fields));
        let statistics = self.statistics_of_files(&file_schema, &partition_fields);
        let source = Arc::new(ParquetSource::new(
            TableSchema::builder(file_schema)
                .with_table_partition_cols(partition_fields)
                .build(),
        ));
        let config = FileScanConfigBuilder::new(store_url(&self.files.root)?, source)
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .with_statistics(statistics)
            .with_projection_indices(Some(scan_projection))?
            .with_limit(limit)
            .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
