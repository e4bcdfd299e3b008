//! The DataFusion session every job and query runs in.

use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use deltalake::delta_datafusion::planner::DeltaPlanner;

use crate::error::{EngineError, Result};

/// How many of the largest memory consumers an out-of-memory error names.
const CONSUMERS_NAMED: NonZeroUsize = match NonZeroUsize::new(5) {
    Some(n) => n,
    None => NonZeroUsize::MIN,
};

/// How a session uses the machine.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// Memory the process may hold; unbounded when `None`. DataFusion's operators spill to
    /// disk beyond their pool, [`pool_size`] of it; every session made from these options (or
    /// a clone of them: the jobs of a pipeline, which run at once) shares that one pool, so
    /// the limit bounds the process, not each job.
    pub memory_limit: Option<u64>,
    /// The pool under `memory_limit`, made by the first session that needs it.
    pub shared_pool: Arc<OnceLock<Arc<dyn MemoryPool>>>,
    /// Parallel partitions; the number of cores when `None`.
    pub target_partitions: Option<usize>,
    /// Where jobs' plans run: this process when `None`, else a cluster.
    pub cluster: Option<Arc<dyn Cluster>>,
}

/// A cluster that runs plans: its scheduler takes a plan, splits it into stages and hands
/// them to executors, which read the lake themselves. Plans sent there may only contain
/// leaves that serialise: see [`crate::distributed`].
#[async_trait::async_trait]
pub trait Cluster: std::fmt::Debug + Send + Sync {
    /// A session whose queries run on the cluster, configured as a local one would be.
    async fn session(&self, config: SessionConfig) -> Result<SessionContext>;
    /// Where the cluster is, for messages (`df://scheduler:50050`).
    fn address(&self) -> String;
}

impl SessionOptions {
    /// Parallelism in effect.
    pub fn parallelism(&self) -> usize {
        self.target_partitions.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        })
    }
}

/// The configuration every session starts from, local or on a cluster.
pub fn session_config(options: &SessionOptions) -> SessionConfig {
    let config = SessionConfig::new()
        .with_target_partitions(options.parallelism())
        .with_information_schema(true)
        .set_str("datafusion.execution.time_zone", "UTC");
    match options.memory_limit {
        // Each sorting partition sets aside this much to merge what it spilled; DataFusion's
        // 10 MB per partition would take most of a small limit before any row is sorted.
        Some(limit) => {
            let share = pool_size(limit) / (8 * options.parallelism().max(1) as u64);
            config.with_sort_spill_reservation_bytes(
                usize::try_from(share.min(DEFAULT_SORT_SPILL_RESERVATION)).unwrap_or(0),
            )
        }
        None => config,
    }
}

/// DataFusion's default merge reservation of a sorting partition.
const DEFAULT_SORT_SPILL_RESERVATION: u64 = 10 * 1024 * 1024;

/// The share of `--memory-limit`, in percent, left outside DataFusion's memory pool for what
/// the pool does not account: the raw files being parsed, the encoders of the staged files,
/// delta-rs' commit state and the allocator's slack. A quarter: transaction_etl at scale 20
/// held about 230 MB outside the pool while a quality rule's grouping filled a 1 GB pool.
const OUTSIDE_POOL_PERCENT: u64 = 25;

/// The memory DataFusion's operators may hold, under a process limit of `limit` bytes,
/// before they spill.
fn pool_size(limit: u64) -> u64 {
    limit - limit / 100 * OUTSIDE_POOL_PERCENT
}

/// A session whose plans run where `options` say: on the cluster, or here.
pub async fn plan_session(options: &SessionOptions) -> Result<SessionContext> {
    match &options.cluster {
        Some(cluster) => cluster.session(session_config(options)).await,
        None => new_session(options),
    }
}

/// The runtime a session runs in: the memory pool under the limit, and the object stores of
/// the lakes this process opened.
pub fn runtime_env(options: &SessionOptions) -> Result<Arc<RuntimeEnv>> {
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = options.memory_limit {
        // Fair shares, not first come first served: each spilling operator (a sort per
        // partition, a grouping) spills at its share of what the operators that cannot spill
        // leave, so one sorter that kept everything in memory cannot starve another's merge.
        let limit = usize::try_from(pool_size(limit)).unwrap_or(usize::MAX);
        let pool = options.shared_pool.get_or_init(|| {
            Arc::new(TrackConsumersPool::new(
                FairSpillPool::new(limit),
                CONSUMERS_NAMED,
            ))
        });
        runtime = runtime.with_memory_pool(Arc::clone(pool));
    }
    let runtime = runtime
        .build_arc()
        .map_err(EngineError::datafusion("creating the session"))?;
    for (origin, store) in crate::remote::registered() {
        runtime.register_object_store(&origin, store);
    }
    Ok(runtime)
}

/// A new session: all cores, UTC, spilling under the memory limit.
pub fn new_session(options: &SessionOptions) -> Result<SessionContext> {
    let config = session_config(options);
    let runtime = runtime_env(options)?;
    // Delta's planner knows the plan nodes of Delta writes and merges, and plans everything
    // else as DataFusion does, so one session serves queries and commits alike.
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_query_planner(DeltaPlanner::new())
        .build();
    let context = SessionContext::new_with_state(state);
    crate::functions::register_functions(&context);
    Ok(context)
}

/// Parses a size such as `2GB`, `512MiB`, `1.5G` or `1000000` (bytes).
pub fn parse_byte_size(text: &str) -> std::result::Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size; write e.g. 2GB, 512MB or 1073741824"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{text}'; use B, KB, MB, GB or TB"
            ));
        }
    };
    let bytes = number * multiplier as f64;
    if bytes < 1.0 || !bytes.is_finite() {
        return Err(format!("'{text}' is not a positive size"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_byte_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_byte_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_byte_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_byte_size("1000"), Ok(1000));
        assert!(parse_byte_size("lots").is_err());
        assert!(parse_byte_size("2XB").is_err());
        assert!(parse_byte_size("0").is_err());
    }
}
