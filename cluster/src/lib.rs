//! lakejob on Apache DataFusion Ballista: a [`Cluster`] whose sessions send plans to a Ballista
//! scheduler, the codecs that carry lakejob's plan leaves (raw files with reject routing, a
//! Delta table's current files) to the scheduler and executors, and the two processes
//! themselves, which must carry those codecs (the stock Ballista binaries do not).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, TableReference};
use datafusion::datasource::TableProvider;
use datafusion::execution::{FunctionRegistry, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use lakejob_engine::EngineError;
use lakejob_engine::distributed::{
    DeltaFiles, DeltaFilesTable, RawFilesTable, RawScan, RawScanExec,
};
use lakejob_engine::functions::{register_functions, window_functions};
use lakejob_engine::session::{Cluster, SessionOptions, runtime_env};
use serde::{Deserialize, Serialize};
use url::Url;

type DfResult<T> = std::result::Result<T, DataFusionError>;

/// Errors of the cluster processes and addresses.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A scheduler address that is not `df://host[:port]`.
    #[error("scheduler address {address}: {reason}")]
    Address {
        /// The address as given.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The scheduler process failed.
    #[error("Ballista scheduler on {bind}: {source}")]
    Scheduler {
        /// Where it listens.
        bind: SocketAddr,
        /// Ballista's error.
        source: ballista_core::error::BallistaError,
    },
    /// The executor process failed.
    #[error("Ballista executor on {bind} (scheduler {scheduler}): {source}")]
    Executor {
        /// Where it listens.
        bind: String,
        /// The scheduler it serves.
        scheduler: String,
        /// Ballista's error.
        source: ballista_core::error::BallistaError,
    },
    /// Setting up the process's DataFusion runtime failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The default port of a Ballista scheduler.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// A Ballista cluster reached through its scheduler.
#[derive(Debug, Clone)]
pub struct BallistaEngine {
    url: Url,
}

impl BallistaEngine {
    /// The cluster whose scheduler is at `address` (`df://host:50050`).
    pub fn new(address: &str) -> Result<Self, ClusterError> {
        let invalid = |reason: &str| ClusterError::Address {
            address: address.to_string(),
            reason: reason.to_string(),
        };
        let url = Url::parse(address).map_err(|e| invalid(&e.to_string()))?;
        if url.scheme() != "df" {
            return Err(invalid("write it as df://host:port"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(invalid("it names no host"));
        }
        Ok(Self { url })
    }
}

#[async_trait::async_trait]
impl Cluster for BallistaEngine {
    async fn session(&self, config: SessionConfig) -> lakejob_engine::Result<SessionContext> {
        let config = config
            .upgrade_for_ballista()
            .with_ballista_logical_extension_codec(Arc::new(LakejobLogicalCodec::default()))
            .with_ballista_physical_extension_codec(Arc::new(LakejobPhysicalCodec::default()));
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features()
            .build();
        let context = SessionContext::remote_with_state(self.url.as_str(), state)
            .await
            .map_err(EngineError::datafusion(format!(
                "connecting to the Ballista scheduler at {}",
                self.url
            )))?;
        register_functions(&context);
        Ok(context)
    }

    fn address(&self) -> String {
        self.url.to_string()
    }
}

// Each lakejob node is JSON behind a tag; anything else is Ballista's or DataFusion's.
const RAW_FILES: &[u8] = b"lakejob.raw_files:";
const DELTA_FILES: &[u8] = b"lakejob.delta_files:";
const RAW_SCAN: &[u8] = b"lakejob.raw_scan:";

fn encode_json(tag: &[u8], value: &impl Serialize, buf: &mut Vec<u8>) -> DfResult<()> {
    buf.extend_from_slice(tag);
    serde_json::to_writer(buf, value).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn decode_json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> DfResult<T> {
    serde_json::from_slice(body).map_err(|e| DataFusionError::External(Box::new(e)))
}

fn engine_error(error: EngineError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// Ballista's logical codec, plus lakejob's table providers.
#[derive(Debug, Default)]
pub struct LakejobLogicalCodec {
    ballista: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LakejobLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> DfResult<Extension> {
        self.ballista.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> DfResult<()> {
        self.ballista.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn TableProvider>> {
        if let Some(body) = buf.strip_prefix(RAW_FILES) {
            let scan: RawScan = decode_json(body)?;
            Ok(Arc::new(
                RawFilesTable::try_new(scan).map_err(engine_error)?,
            ))
        } else if let Some(body) = buf.strip_prefix(DELTA_FILES) {
            let files: DeltaFiles = decode_json(body)?;
            Ok(Arc::new(DeltaFilesTable::new(files, schema)))
        } else {
            self.ballista
                .try_decode_table_provider(buf, table_ref, schema, ctx)
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> DfResult<()> {
        if let Some(raw) = node.downcast_ref::<RawFilesTable>() {
            encode_json(RAW_FILES, raw.scan(), buf)
        } else if let Some(delta) = node.downcast_ref::<DeltaFilesTable>() {
            encode_json(DELTA_FILES, delta.files(), buf)
        } else {
            self.ballista
                .try_encode_table_provider(table_ref, node, buf)
                .map_err(|e| {
                    DataFusionError::NotImplemented(format!(
                        "table {table_ref} cannot be sent to the cluster ({e}); run this job on the local engine"
                    ))
                })
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> DfResult<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.ballista.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> DfResult<()> {
        self.ballista.try_encode_file_format(buf, node)
    }
}

/// A [`RawScanExec`] on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct RawScanWire {
    scan: RawScan,
    projection: Option<Vec<usize>>,
}

/// Ballista's physical codec, plus lakejob's raw-file scan.
#[derive(Debug, Default)]
pub struct LakejobPhysicalCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for LakejobPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match buf.strip_prefix(RAW_SCAN) {
            Some(body) => {
                let wire: RawScanWire = decode_json(body)?;
                Ok(Arc::new(RawScanExec::try_new(wire.scan, wire.projection)?))
            }
            None => self.ballista.try_decode(buf, inputs, ctx, converter),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        converter: &dyn PhysicalProtoConverterExtension,
    ) -> DfResult<()> {
        match node.downcast_ref::<RawScanExec>() {
            Some(scan) => {
                let wire = RawScanWire {
                    scan: scan.scan().clone(),
                    projection: scan.projection().map(<[usize]>::to_vec),
                };
                encode_json(RAW_SCAN, &wire, buf)
            }
            None => self.ballista.try_encode(node, buf, converter),
        }
    }
}

/// Runs a Ballista scheduler on `bind` until the process is stopped. `external_host` is the
/// name executors and clients reach it by.
pub async fn run_scheduler(bind: SocketAddr, external_host: &str) -> Result<(), ClusterError> {
    let failed = |source| ClusterError::Scheduler { bind, source };
    let runtime = runtime_env(&SessionOptions::default())?;
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        bind_port: bind.port(),
        external_host: external_host.to_string(),
        override_logical_codec: Some(Arc::new(LakejobLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(LakejobPhysicalCodec::default())),
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(move |config| {
        let state = ballista_core::utils::default_session_builder(config)?;
        let mut state = SessionStateBuilder::new_from_existing(state)
            .with_runtime_env(Arc::clone(&runtime))
            .build();
        for function in window_functions() {
            state.register_udwf(function)?;
        }
        Ok(state)
    }));
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(failed)?;
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(failed)
}

/// Where an executor listens and whom it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// The scheduler's host.
    pub scheduler_host: String,
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The address to listen on.
    pub bind_host: String,
    /// The name the scheduler, other executors and clients reach it by; when `None`, the
    /// scheduler uses the address the executor registered from (right on ECS, where a task's
    /// address is known only once it runs).
    pub external_host: Option<String>,
    /// The Arrow Flight port (shuffle reads and results).
    pub flight_port: u16,
    /// The gRPC port (tasks from the scheduler).
    pub grpc_port: u16,
    /// Tasks run at once.
    pub task_slots: usize,
    /// Where shuffle files go; a temporary folder when `None`.
    pub work_dir: Option<String>,
    /// Memory (for all its tasks together) and parallelism of its sessions.
    pub session: SessionOptions,
}

/// Runs a Ballista executor until the process is stopped or the scheduler tells it to.
pub async fn run_executor(options: ExecutorOptions) -> Result<(), ClusterError> {
    let runtime = runtime_env(&options.session)?;
    let config = ExecutorProcessConfig {
        bind_host: options.bind_host.clone(),
        external_host: options.external_host.clone(),
        port: options.flight_port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        scheduler_connect_timeout_seconds: 30,
        vcores: options.task_slots.max(1),
        work_dir: options.work_dir.clone(),
        override_logical_codec: Some(Arc::new(LakejobLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(LakejobPhysicalCodec::default())),
        override_function_registry: Some(Arc::new(function_registry())),
        override_runtime_producer: Some(Arc::new(move |_config: &SessionConfig| {
            Ok(Arc::clone(&runtime))
        })),
        ..ExecutorProcessConfig::default()
    };
    start_executor_process(Arc::new(config))
        .await
        .map_err(|source| ClusterError::Executor {
            bind: format!("{}:{}", options.bind_host, options.flight_port),
            scheduler: format!("{}:{}", options.scheduler_host, options.scheduler_port),
            source,
        })
}

/// DataFusion's functions and lakejob's, for the executors to decode plans with.
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for function in window_functions() {
        registry
            .window_functions
            .insert(function.name().to_string(), function);
    }
    registry
}
