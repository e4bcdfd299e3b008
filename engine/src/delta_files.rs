//! The data files of a new partitioned Delta table, written one table partition at a time.
//!
//! delta-rs' write hash-repartitions every row on the partition columns, splits each batch by
//! partition value (two copies of every row), and keeps every partition's file open until the
//! end, so a first load held all its encoded row groups at once: the write grew the process by
//! more than the rows it wrote. Rows here mostly arrive clustered by partition (a raw file
//! holds a day), so batches are cut into slices without copying, and each partition's file is
//! encoded, uploaded and dropped before the next, as many at once as the session has cores.
//! The files, their statistics and their Add actions are delta-rs' own (`DeltaWriter`).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::{SortColumn, lexsort_to_indices, partition, take_record_batch};
use datafusion::arrow::error::ArrowError;
use datafusion::common::ScalarValue;
use delta_kernel::expressions::Scalar;
use deltalake::DeltaTableError;
use deltalake::datafile::writer::{DeltaWriter, WriterConfig};
use deltalake::kernel::Add;
use deltalake::kernel::scalars::ScalarExt;
use deltalake::logstore::ObjectStoreRef;
use futures::{StreamExt, TryStreamExt};
use indexmap::IndexMap;

use crate::error::{EngineError, Result};

/// A batch whose partition values change more often than this is sorted by them and then cut:
/// slicing a shuffled batch would hand the writers thousands of tiny slices.
const MAX_UNSORTED_RUNS: usize = 16;

/// The rows of one table partition.
#[derive(Debug)]
pub(crate) struct TablePartition {
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
            index_of.insert(key, partitions.len());
            partitions.push(TablePartition {
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

/// Writes each partition's rows to its own files under the table (`store` is rooted there),
/// `concurrency` partitions at once, each on its own task so the encoding runs on every core.
/// Returns the files' Add actions, with delta-rs' statistics.
pub(crate) async fn write_partition_files(
    store: ObjectStoreRef,
    config: WriterConfig,
    partitions: Vec<TablePartition>,
    concurrency: usize,
) -> std::result::Result<Vec<Add>, DeltaTableError> {
    let written: Vec<Vec<Add>> = futures::stream::iter(partitions)
        .map(|TablePartition { values, batches }| {
            let mut writer = DeltaWriter::new(Arc::clone(&store), config.clone());
            tokio::spawn(async move {
                for batch in batches {
                    if let Err(error) = writer.write_partition(batch, &values).await {
                        // Abort the partition's upload rather than leave its parts behind.
                        let _ = writer.abort().await;
                        return Err(error);
                    }
                }
                writer.close().await
            })
        })
        .buffer_unordered(concurrency.max(1))
        .map(|joined| {
            joined.unwrap_or_else(|e| Err(DeltaTableError::Generic(format!("writer task: {e}"))))
        })
        .try_collect()
        .await?;
    Ok(written.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    use super::*;

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
