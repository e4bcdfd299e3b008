//! Finding the rows whose key repeats from their keys' 64-bit hashes, sorted, instead of a
//! grouping aggregate over every key. A feed's keys are nearly all distinct, and grouping
//! millions of distinct strings (hash table, key copies, repartitioning) cost a clickstream load
//! two seconds of CPU for its dedupe and its uniqueness rule; sorting their hashes costs a tenth
//! of that.

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray, BooleanBufferBuilder, RecordBatch};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::hash_utils::{RandomState, create_hashes};
use datafusion::error::Result;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryPool};
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::DataFrame;
use futures::StreamExt;

/// What a scan of keys found.
#[derive(Debug)]
pub enum KeyScan {
    /// Rows scanned, and the keys of every row whose key hashes like an earlier row's. A key
    /// that occurs more than once is always among them (from its second row on); a distinct
    /// key is among them only when its hash collides with another's, which the caller's exact
    /// step must tolerate. Empty: every key is distinct.
    Scanned {
        rows: usize,
        repeated: Vec<RecordBatch>,
        schema: SchemaRef,
    },
    /// The hashes and the keys held for the repeats would pass the session's memory limit:
    /// use an exact aggregate, which can spill, instead.
    OverMemoryLimit,
}

/// Scans the rows of `keys` (a frame of the key columns only, which it runs twice when a
/// hash repeats). The first pass keeps only each row's 64-bit hash, so its memory is eight
/// bytes a row; the keys of the rows whose hash repeats are picked out by a second pass.
pub async fn scan_keys(keys: DataFrame) -> Result<KeyScan> {
    let task = Arc::new(keys.task_ctx());
    let reservation = MemoryConsumer::new("repeated keys").register(task.memory_pool());
    let state = seeded_state();
    let plan = keys.clone().create_physical_plan().await?;
    let schema = plan.schema();
    let mut stream = execute_stream(plan, Arc::clone(&task))?;
    let (mut hashes, mut batch_hashes) = (Vec::new(), Vec::new());
    while let Some(batch) = stream.next().await {
        hash_rows(batch?.columns(), &state, &mut batch_hashes)?;
        hashes.extend_from_slice(&batch_hashes);
        if reservation
            .try_resize(hashes.capacity() * size_of::<u64>())
            .is_err()
        {
            return Ok(KeyScan::OverMemoryLimit);
        }
    }
    let rows = hashes.len();
    // Sorted, equal hashes sit together. Sorting streams through memory; probing a set of
    // millions of hashes missed the cache on nearly every row and took about three times as
    // long.
    hashes.sort_unstable();
    let repeated_hashes: HashSet<u64> = hashes
        .windows(2)
        .filter(|pair| pair[0] == pair[1])
        .map(|pair| pair[0])
        .collect();
    drop(hashes);
    reservation.free();
    let mut repeated = Vec::new();
    if !repeated_hashes.is_empty() {
        let mut stream = execute_stream(keys.create_physical_plan().await?, task)?;
        let mut first_seen = HashSet::new();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            hash_rows(batch.columns(), &state, &mut batch_hashes)?;
            // Every row of a repeated hash but its first.
            let again: BooleanArray = batch_hashes
                .iter()
                .map(|hash| Some(repeated_hashes.contains(hash) && !first_seen.insert(*hash)))
                .collect();
            if again.true_count() > 0 {
                repeated.push(filter_record_batch(&batch, &again)?);
            }
        }
    }
    Ok(KeyScan::Scanned {
        rows,
        repeated,
        schema,
    })
}

/// A seed per scan: which keys collide cannot be chosen by whoever writes the data.
fn seeded_state() -> RandomState {
    RandomState::with_seed(std::collections::hash_map::RandomState::new().hash_one(0))
}

/// The hash of each row's key, into `hashes`.
fn hash_rows(key: &[ArrayRef], state: &RandomState, hashes: &mut Vec<u64>) -> Result<()> {
    let rows = key.first().map_or(0, |column| column.len());
    hashes.clear();
    hashes.resize(rows, 0);
    create_hashes(key, state, hashes)?;
    Ok(())
}

/// The rows of `batches` (in memory already) whose key, the columns at `key`, hashes like
/// another row's: every row of a key that occurs more than once, its first included, and the
/// rows of a distinct key whose hash collides with another's. One mask per batch; `None` when
/// the hashes would pass the memory limit of `pool`.
pub fn rows_of_repeated_keys(
    batches: &[RecordBatch],
    key: &[usize],
    pool: &Arc<dyn MemoryPool>,
) -> Result<Option<Vec<BooleanArray>>> {
    let reservation = MemoryConsumer::new("repeated keys").register(pool);
    let mut hashed = KeyHashes::new();
    for batch in batches {
        hashed.add(batch.project(key)?.columns())?;
        if reservation.try_resize(hashed.bytes()).is_err() {
            return Ok(None);
        }
    }
    let repeated = hashed.repeats();
    let mut first = 0;
    let masks = batches
        .iter()
        .map(|batch| {
            first += batch.num_rows();
            BooleanArray::new(
                repeated.slice(first - batch.num_rows(), batch.num_rows()),
                None,
            )
        })
        .collect();
    Ok(Some(masks))
}

/// The hash of every row's key with the row's number, counted across batches.
struct KeyHashes {
    state: RandomState,
    hashed: Vec<(u64, usize)>,
    hashes: Vec<u64>,
}

impl KeyHashes {
    fn new() -> Self {
        Self {
            state: seeded_state(),
            hashed: Vec::new(),
            hashes: Vec::new(),
        }
    }

    /// Hashes the next rows' keys.
    fn add(&mut self, key: &[ArrayRef]) -> Result<()> {
        hash_rows(key, &self.state, &mut self.hashes)?;
        let first = self.hashed.len();
        self.hashed.extend(
            self.hashes
                .iter()
                .enumerate()
                .map(|(i, hash)| (*hash, first + i)),
        );
        Ok(())
    }

    /// Memory the hashes hold.
    fn bytes(&self) -> usize {
        self.hashed.capacity() * size_of::<(u64, usize)>()
    }

    /// A bit per row, set on every row whose hash another row shares.
    fn repeats(mut self) -> BooleanBuffer {
        self.hashed.sort_unstable();
        let mut marked = BooleanBufferBuilder::new(self.hashed.len());
        marked.append_n(self.hashed.len(), false);
        for pair in self.hashed.windows(2) {
            if pair[0].0 == pair[1].0 {
                marked.set_bit(pair[0].1, true);
                marked.set_bit(pair[1].1, true);
            }
        }
        marked.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    fn frame(ctx: &SessionContext, ids: Vec<Option<&str>>, days: Vec<i64>) -> DataFrame {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("day", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(Int64Array::from(days)),
            ],
        );
        batch
            .and_then(|b| Ok(ctx.read_batch(b)?))
            .unwrap_or_else(|e| panic!("test frame: {e}"))
    }

    fn repeated_ids(scan: KeyScan) -> (usize, Vec<Option<String>>) {
        let KeyScan::Scanned { rows, repeated, .. } = scan else {
            panic!("unexpectedly over the memory limit");
        };
        let ids = repeated
            .iter()
            .flat_map(|b| {
                let ids = b.column(0).as_string::<i32>();
                (0..ids.len())
                    .map(|i| ids.is_valid(i).then(|| ids.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        (rows, ids)
    }

    #[tokio::test]
    async fn finds_every_repeat_of_a_key_from_its_second_row_and_nulls_as_one_key() {
        let ctx = SessionContext::new();
        let ids = vec![
            Some("a"),
            Some("b"),
            Some("a"),
            None,
            Some("c"),
            None,
            Some("a"),
        ];
        let keys = frame(&ctx, ids, vec![1, 1, 1, 1, 1, 1, 2])
            .select_columns(&["id"])
            .unwrap_or_else(|e| panic!("{e}"));
        let scan = scan_keys(keys).await.unwrap_or_else(|e| panic!("{e}"));
        let (rows, ids) = repeated_ids(scan);
        assert_eq!(rows, 7);
        assert_eq!(ids, vec![Some("a".into()), None, Some("a".into())]);
    }

    #[test]
    fn rows_in_memory_are_marked_by_place_first_row_of_a_repeated_key_included() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("day", DataType::Int64, false),
        ]));
        let batch = |ids: Vec<Option<&str>>| {
            let days = Int64Array::from(vec![1; ids.len()]);
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![Arc::new(StringArray::from(ids)), Arc::new(days)],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let rows = [
            batch(vec![Some("a"), Some("b"), None]),
            batch(vec![Some("c"), None, Some("a")]),
        ];
        let pool = SessionContext::new().task_ctx().memory_pool().clone();
        let masks = rows_of_repeated_keys(&rows, &[0], &pool)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("unexpectedly over the memory limit"));
        let marked: Vec<Vec<bool>> = masks.iter().map(|m| m.values().iter().collect()).collect();
        assert_eq!(marked, [[true, false, true], [false, true, true]]);

        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(16, 1.0)
            .build_arc()
            .unwrap_or_else(|e| panic!("{e}"));
        let small = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let over = rows_of_repeated_keys(&rows, &[0], small.task_ctx().memory_pool())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(over.is_none());
    }

    #[tokio::test]
    async fn a_key_of_several_columns_repeats_only_when_all_of_them_do() {
        let ctx = SessionContext::new();
        let ids = vec![Some("a"), Some("a"), Some("a")];
        let scan = scan_keys(frame(&ctx, ids, vec![1, 2, 1]))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let (rows, ids) = repeated_ids(scan);
        assert_eq!((rows, ids), (3, vec![Some("a".into())]));
    }

    #[tokio::test]
    async fn distinct_keys_repeat_nothing_and_a_tiny_memory_limit_says_so() {
        let ctx = SessionContext::new();
        let ids: Vec<String> = (0..5000).map(|i| format!("E{i:011}")).collect();
        let keys = || {
            frame(
                &ctx,
                ids.iter().map(|i| Some(i.as_str())).collect(),
                vec![1; ids.len()],
            )
        };
        let scan = scan_keys(keys()).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(repeated_ids(scan), (5000, vec![]));

        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(16 * 1024, 1.0)
            .build_arc()
            .unwrap_or_else(|e| panic!("{e}"));
        let small = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let keys = frame(
            &small,
            ids.iter().map(|i| Some(i.as_str())).collect(),
            vec![1; ids.len()],
        );
        let scan = scan_keys(keys).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(scan, KeyScan::OverMemoryLimit), "{scan:?}");
    }
}
