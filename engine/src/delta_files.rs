//! The data files of a Delta table, streamed from a plan's output partitions.
//!
//! delta-rs' write hash-repartitions every row on the partition columns and splits each batch
//! by partition value (two copies of every row). Rows here mostly arrive clustered by
//! partition (a raw file holds a day), so batches are cut into slices without copying and
//! handed to delta-rs' own writer (`DeltaWriter`: its files, statistics and Add actions), one
//! per output partition of the plan, as many at once as the session has cores.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{SortColumn, lexsort_to_indices, partition, take_record_batch};
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{SendableRecordBatchStream, execute_stream_partitioned};
use datafusion::prelude::DataFrame;
use delta_kernel::expressions::Scalar;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::Add;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::logstore::ObjectStoreRef;
use futures::StreamExt;
use indexmap::IndexMap;
use object_store::ObjectStoreExt;

use crate::error::{EngineError, Result};
use crate::lake::object_path;

/// A batch whose partition values change more often than this is sorted by them and then cut:
/// slicing a shuffled batch would hand the writers thousands of tiny slices.
const MAX_UNSORTED_RUNS: usize = 16;

/// The rows of one table partition.
#[derive(Debug)]
pub(crate) struct TablePartition {
    /// The partition's values, in column order, as DataFusion holds them.
    pub key: Vec<ScalarValue>,
    /// The partition's values, by partition column, as Delta records them.
    pub values: IndexMap<String, Scalar>,
    /// Its rows, partition columns included.
    pub batches: Vec<RecordBatch>,
}

/// The rows grouped by the values of `columns`, partitions in order of first appearance. A
/// batch is cut into slices of equal values (no copy); one whose values change more than
/// [`MAX_UNSORTED_RUNS`] times is sorted by them first.
pub(crate) fn split_by_partition(
    batches: Vec<RecordBatch>,
    columns: &[String],
    table: &str,
) -> Result<Vec<TablePartition>> {
    let failed = |reason: String| EngineError::Declaration {
        context: format!("target {table}"),
        reason,
    };
    let mut partitions: Vec<TablePartition> = Vec::new();
    let mut index_of: HashMap<Vec<ScalarValue>, usize> = HashMap::new();
    for batch in batches {
        if batch.num_rows() == 0 {
            continue;
        }
        let Runs { batch, keys, runs } =
            Runs::of(batch, columns).map_err(|e| failed(e.to_string()))?;
        for run in runs {
            let key = keys
                .iter()
                .map(|array| ScalarValue::try_from_array(array, run.start))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| failed(e.to_string()))?;
            let slice = batch.slice(run.start, run.len());
            if let Some(&index) = index_of.get(&key) {
                partitions[index].batches.push(slice);
                continue;
            }
            let values = columns
                .iter()
                .zip(&keys)
                .map(|(name, array)| {
                    Scalar::from_array(array.as_ref(), run.start)
                        .map(|value| (name.clone(), value))
                        .ok_or_else(|| {
                            failed(format!(
                                "partition column '{name}' has type {}, which Delta cannot partition by",
                                array.data_type()
                            ))
                        })
                })
                .collect::<Result<IndexMap<_, _>>>()?;
            index_of.insert(key.clone(), partitions.len());
            partitions.push(TablePartition {
                key,
                values,
                batches: vec![slice],
            });
        }
    }
    Ok(partitions)
}

/// A batch cut into runs of equal partition values.
struct Runs {
    /// The batch, sorted by its partition values when they changed more than
    /// [`MAX_UNSORTED_RUNS`] times.
    batch: RecordBatch,
    /// Its partition columns.
    keys: Vec<ArrayRef>,
    /// Its runs of equal partition values.
    runs: Vec<Range<usize>>,
}

impl Runs {
    fn of(batch: RecordBatch, columns: &[String]) -> std::result::Result<Self, ArrowError> {
        let keys = partition_arrays(&batch, columns)?;
        let runs = partition(&keys)?;
        if runs.len() <= MAX_UNSORTED_RUNS {
            let runs = runs.ranges();
            return Ok(Self { batch, keys, runs });
        }
        let sort: Vec<SortColumn> = keys
            .into_iter()
            .map(|values| SortColumn {
                values,
                options: None,
            })
            .collect();
        let batch = take_record_batch(&batch, &lexsort_to_indices(&sort, None)?)?;
        let keys = partition_arrays(&batch, columns)?;
        let runs = partition(&keys)?.ranges();
        Ok(Self { batch, keys, runs })
    }
}

/// The batch's partition columns, in order.
fn partition_arrays(
    batch: &RecordBatch,
    columns: &[String],
) -> std::result::Result<Vec<ArrayRef>, ArrowError> {
    columns
        .iter()
        .map(|name| {
            batch.column_by_name(name).cloned().ok_or_else(|| {
                ArrowError::SchemaError(format!("partition column '{name}' is not in the output"))
            })
        })
        .collect()
}

/// Streams the rows into the table's data files (`store` is rooted at the table), each
/// output partition of the plan on its own task so the encoding runs on every core. A batch
/// is split by partition value as it arrives (slices, no copy) and written to its table
/// partition's open file, at most [`OPEN_PARTITIONS_PER_STREAM`] open per task. Returns the
/// files' Add actions, with delta-rs' statistics. `settings` chooses how a stream's files are
/// encoded from its first batch (the writer judges its columns' cardinality by it).
pub(crate) async fn write_data_files(
    store: ObjectStoreRef,
    settings: FileSettings,
    columns: &[String],
    rows: DataFrame,
    table: &str,
) -> Result<Vec<Add>> {
    let task = Arc::new(rows.task_ctx());
    let plan = rows
        .create_physical_plan()
        .await
        .map_err(EngineError::datafusion(format!("writing {table}")))?;
    let streams = execute_stream_partitioned(Arc::clone(&plan), task)
        .map_err(EngineError::datafusion(format!("writing {table}")))?;
    let mut writers = tokio::task::JoinSet::new();
    for stream in streams {
        let files = OpenFiles {
            store: Arc::clone(&store),
            settings: Arc::clone(&settings),
            config: None,
            open: IndexMap::new(),
            adds: Vec::new(),
        };
        writers.spawn(write_stream(
            files,
            stream,
            columns.to_vec(),
            table.to_string(),
        ));
    }
    let mut adds = Vec::new();
    let mut failed = None;
    while let Some(written) = writers.join_next().await {
        match written.map_err(|e| EngineError::Task(e.to_string())) {
            Ok(Ok(written)) => adds.extend(written),
            Ok(Err(error)) | Err(error) => {
                failed.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failed {
        // The other streams' files, and those a failed stream had closed, are nobody's.
        for add in adds {
            if let Err(e) = store.delete(&object_path(&add.path)).await {
                tracing::warn!(table, file = %add.path, error = %e, "a data file of a failed write was left behind");
            }
        }
        return Err(error);
    }
    // With RUST_LOG=lakejob_engine=debug (`-vv`), what each operator did and how long it took.
    tracing::debug!(doing = %format!("writing {table}"), plan = %DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true), "plan executed");
    Ok(adds)
}

/// Writes one stream's rows, a writer per table partition, at most
/// [`OPEN_PARTITIONS_PER_STREAM`] open; an error aborts their uploads rather than leave their
/// parts behind.
async fn write_stream(
    mut files: OpenFiles,
    mut stream: SendableRecordBatchStream,
    columns: Vec<String>,
    table: String,
) -> Result<Vec<Add>> {
    let written: Result<()> = async {
        let mut first_schema = None;
        while let Some(batch) = stream.next().await {
            let mut batch = batch.map_err(EngineError::datafusion(format!("writing {table}")))?;
            // A plan's batches may differ from each other in what they say may be null; a
            // file takes the first batch's schema.
            match &first_schema {
                None => {
                    files.config = Some((files.settings)(&batch));
                    first_schema = Some(batch.schema());
                }
                Some(schema) if *schema != batch.schema() => {
                    batch = batch
                        .with_schema(Arc::clone(schema))
                        .map_err(|e| EngineError::Task(format!("writing {table}: {e}")))?;
                }
                Some(_) => {}
            }
            if columns.is_empty() {
                files.write(Vec::new(), None, batch, &table).await?;
                continue;
            }
            for partition in split_by_partition(vec![batch], &columns, &table)? {
                for slice in partition.batches {
                    files
                        .write(
                            partition.key.clone(),
                            Some(&partition.values),
                            slice,
                            &table,
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }
    .await;
    match written {
        Ok(()) => files.close_all(&table).await,
        Err(error) => {
            for (_, writer) in files.open {
                let _ = writer.abort().await;
            }
            for add in files.adds {
                let _ = files.store.delete(&object_path(&add.path)).await;
            }
            Err(error)
        }
    }
}

/// Table partitions a stream keeps a file open for. Each open file holds its row group being
/// encoded and its upload buffer (about 5 MB) until it is closed, so a write into 30 day
/// partitions, each open to the end, held a gigabyte; rows mostly arrive clustered by
/// partition, so the file least recently written to is done and closing it costs nothing.
/// Rows in no order of their partitions make more, smaller files, which `lakejob maintain`
/// compacts.
const OPEN_PARTITIONS_PER_STREAM: usize = 4;

/// How a stream's data files are encoded, chosen from its first batch.
pub(crate) type FileSettings = Arc<dyn Fn(&RecordBatch) -> WriterConfig + Send + Sync>;

/// The files a stream has open, by partition values, least recently written first.
struct OpenFiles {
    /// The table's store and file settings, for each new file.
    store: ObjectStoreRef,
    settings: FileSettings,
    /// The settings chosen from the stream's first batch.
    config: Option<WriterConfig>,
    open: IndexMap<Vec<ScalarValue>, DeltaWriter>,
    adds: Vec<Add>,
}

impl OpenFiles {
    /// Writes `rows` into the partition's open file, opening one (and closing the least
    /// recently written one, when too many are open) if needed.
    async fn write(
        &mut self,
        key: Vec<ScalarValue>,
        values: Option<&IndexMap<String, Scalar>>,
        rows: RecordBatch,
        table: &str,
    ) -> Result<()> {
        let mut writer = match self.open.shift_remove(&key) {
            Some(writer) => writer,
            None => {
                if self.open.len() >= OPEN_PARTITIONS_PER_STREAM
                    && let Some((_, done)) = self.open.shift_remove_index(0)
                {
                    self.adds
                        .extend(done.close().await.map_err(EngineError::delta(table))?);
                }
                let config = match &self.config {
                    Some(config) => config.clone(),
                    None => (self.settings)(&rows),
                };
                DeltaWriter::new(Arc::clone(&self.store), config)
            }
        };
        let written = match values {
            Some(values) => writer.write_partition(rows, values).await,
            None => writer.write(&rows).await,
        };
        self.open.insert(key, writer);
        written.map_err(EngineError::delta(table))
    }

    /// Closes every open file; the Add actions of every file written.
    async fn close_all(mut self, table: &str) -> Result<Vec<Add>> {
        for (_, writer) in self.open {
            self.adds
                .extend(writer.close().await.map_err(EngineError::delta(table))?);
        }
        Ok(self.adds)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::prelude::{SessionConfig, SessionContext};
    use delta_kernel::table_properties::TableProperties;
    use deltalake::table::config::TablePropertiesExt;

    use super::*;

    #[tokio::test]
    async fn rows_in_no_order_of_their_partitions_are_all_written_with_few_files_open() {
        let folder = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store: ObjectStoreRef = Arc::new(
            object_store::local::LocalFileSystem::new_with_prefix(folder.path())
                .unwrap_or_else(|e| panic!("{e}")),
        );
        // Ten partitions, each batch visiting all of them: more than a stream keeps open.
        let days: Vec<i32> = (0..10).collect();
        let name_list: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        let names: Vec<&str> = name_list.iter().map(String::as_str).collect();
        let batches: Vec<RecordBatch> = (0..6).map(|_| batch(&days, &names)).collect();
        let schema = batches[0].schema();
        let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
        let rows = ctx.read_batches(batches).unwrap_or_else(|e| panic!("{e}"));
        let config = WriterConfig::new(
            Arc::clone(&schema),
            vec!["day".to_string()],
            None,
            None,
            None,
            TableProperties::default().num_indexed_cols(),
            None,
        );
        let settings: FileSettings = Arc::new(move |_: &RecordBatch| config.clone());
        let adds = write_data_files(store, settings, &["day".to_string()], rows, "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rows_per_day: HashMap<String, i64> = HashMap::new();
        for add in &adds {
            let day = add.partition_values["day"].clone().unwrap_or_default();
            let stats = add.get_stats().ok().flatten().map_or(0, |s| s.num_records);
            *rows_per_day.entry(day).or_default() += stats;
            assert!(folder.path().join(&add.path).exists(), "{}", add.path);
        }
        assert_eq!(rows_per_day.len(), 10);
        assert!(
            rows_per_day.values().all(|rows| *rows == 6),
            "{rows_per_day:?}"
        );
        assert!(
            adds.len() > 10,
            "partitions closed to stay under the open files: {}",
            adds.len()
        );
    }

    fn batch(days: &[i32], names: &[&str]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Int32, true),
            Field::new("name", DataType::Utf8, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int32Array::from(days.to_vec())),
            Arc::new(StringArray::from(names.to_vec())),
        ];
        RecordBatch::try_new(schema, columns).unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(partition: &TablePartition) -> Vec<String> {
        partition
            .batches
            .iter()
            .flat_map(|b| {
                let names = b.column(1).as_any().downcast_ref::<StringArray>().cloned();
                names
                    .into_iter()
                    .flat_map(|a| a.iter().flatten().map(str::to_string).collect::<Vec<_>>())
            })
            .collect()
    }

    #[test]
    fn clustered_rows_are_sliced_and_shuffled_rows_sorted_into_the_same_partitions() {
        let clustered_days = [1, 1, 2, 2, 2, 1];
        let many_runs: Vec<i32> = (0..40).map(|i| i % 2 + 1).collect();
        let many_names: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        let many_refs: Vec<&str> = many_names.iter().map(String::as_str).collect();
        let batches = vec![
            batch(&clustered_days, &["a", "b", "c", "d", "e", "f"]),
            batch(&many_runs, &many_refs),
        ];
        let partitions = split_by_partition(batches, &["day".to_string()], "t")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(partitions.len(), 2);
        assert_eq!(partitions[0].values["day"], Scalar::Integer(1));
        assert_eq!(partitions[1].values["day"], Scalar::Integer(2));
        // The clustered batch is cut into 3 slices, no copy; the shuffled one sorted, then cut.
        let first = names(&partitions[0]);
        assert_eq!(&first[..3], ["a", "b", "f"]);
        assert_eq!(first.len(), 3 + 20);
        assert!(first[3..].iter().all(|n| {
            let i: usize = n[1..].parse().unwrap_or(usize::MAX);
            i.is_multiple_of(2)
        }));
        let second = names(&partitions[1]);
        assert_eq!(&second[..3], ["c", "d", "e"]);
        assert_eq!(second.len(), 3 + 20);
    }

    #[test]
    fn a_null_partition_value_is_a_partition_of_its_own() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("day", DataType::Int32, true),
            Field::new("name", DataType::Utf8, false),
        ]));
        let rows = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(vec![Some(1), None, None])),
                Arc::new(StringArray::from(vec!["a", "b", "c"])),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let partitions = split_by_partition(vec![rows], &["day".to_string()], "t")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(partitions.len(), 2);
        assert!(partitions[1].values["day"].is_null());
        assert_eq!(names(&partitions[1]), ["b", "c"]);
    }
}
