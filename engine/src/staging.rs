//! Staged rows: a plan's output streamed into Parquet files under the lake's state folder,
//! where no reader of a table looks. A run stages what it will publish, gates on the staged
//! files and commits from them, so no phase holds the rows in memory: each output partition is
//! encoded as it arrives and uploaded in parts.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::parquet::arrow::AsyncArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{SendableRecordBatchStream, execute_stream_partitioned};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use futures::StreamExt;
use object_store::ObjectStore;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;

use crate::error::{EngineError, Result};
use crate::lake::{Lake, object_path};

/// Rows of a row group: a partition's writer holds one row group's encoded pages at a time.
const STAGED_ROW_GROUP_ROWS: usize = 128 * 1024;

/// Rows staged in a folder of the lake, and the frame that reads them back.
#[derive(Debug)]
pub struct StagedRows {
    /// The staged files as a table.
    pub frame: DataFrame,
    /// The rows staged.
    pub rows: u64,
    /// The folder, relative to the lake root.
    pub folder: String,
}

/// Runs `rows` and streams every output partition into its own Parquet file under `folder`,
/// which is emptied first (a finishing run stages again where it staged before). `doing` names
/// the work for error messages. Returns the staged rows, read back through `ctx`.
pub async fn stage_rows(
    lake: &Lake,
    ctx: &SessionContext,
    rows: DataFrame,
    folder: &str,
    doing: &str,
) -> Result<StagedRows> {
    lake.delete_folder(folder).await?;
    let task = Arc::new(rows.task_ctx());
    let plan = rows
        .create_physical_plan()
        .await
        .map_err(EngineError::datafusion(doing))?;
    let streams = execute_stream_partitioned(Arc::clone(&plan), task)
        .map_err(EngineError::datafusion(doing))?;
    let schema = streams.first().map(|stream| stream.schema());
    let mut writers = tokio::task::JoinSet::new();
    for (index, stream) in streams.into_iter().enumerate() {
        let path = object_path(&format!("{folder}/part-{index:04}.parquet"));
        writers.spawn(write_stream(lake.store(), path, stream, doing.to_string()));
    }
    let mut staged = 0;
    while let Some(written) = writers.join_next().await {
        staged += written.map_err(|e| EngineError::Task(e.to_string()))??;
    }
    // With RUST_LOG=lakejob_engine=debug (`-vv`), what each operator did and how long it took.
    tracing::debug!(doing, plan = %DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true), "plan executed");
    let Some(schema) = schema else {
        return Err(EngineError::Task(format!(
            "{doing}: the plan has no partitions"
        )));
    };
    let url = lake.url_of(folder)?;
    let options = ParquetReadOptions::default().schema(&schema);
    let frame = ctx
        .read_parquet(url.as_str(), options)
        .await
        .map_err(EngineError::datafusion(format!(
            "{doing}: reading the staged rows"
        )))?;
    Ok(StagedRows {
        frame,
        rows: staged,
        folder: folder.to_string(),
    })
}

/// Writes one partition's stream to `path`; returns its rows. A stream with no rows still
/// leaves a file with the schema, so the staged table has one.
async fn write_stream(
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    mut stream: SendableRecordBatchStream,
    doing: String,
) -> Result<u64> {
    let schema: SchemaRef = stream.schema();
    // Staged files are read once or twice and deleted: no dictionaries (interning every
    // value of a near-unique key cost more than the rest of the write) and no statistics
    // (nothing prunes them), only fast compression.
    let properties = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(STAGED_ROW_GROUP_ROWS))
        .build();
    let failed = |e: datafusion::parquet::errors::ParquetError| {
        EngineError::Task(format!("staging rows in {path}: {e}"))
    };
    let sink = BufWriter::new(store, path.clone());
    let mut writer = AsyncArrowWriter::try_new(sink, schema, Some(properties)).map_err(failed)?;
    let mut rows = 0;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(EngineError::datafusion(doing.as_str()))?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).await.map_err(failed)?;
    }
    writer.close().await.map_err(failed)?;
    Ok(rows)
}
