//! `lakejob`: parses the command line, calls the library, prints, and maps errors to exit
//! codes (0 success, 2 bad input or configuration, 3 quality gate failed, 1 anything else).

mod commands;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand, ValueEnum};
use lakejob_aws::{AwsError, GlueCatalog, TaskCallback, TaskToken};
use lakejob_catalog::LocalCatalog;
use lakejob_engine::{Catalog, Cluster, EngineError, ExitClass, Lake, parse_byte_size};
use lakejob_jobs::{JobsError, job_file_texts, parse_duration, validate_files};
use lakejob_sample_data::{GenerateError, GenerateOptions};

use commands::Context;
use output::Printer;

// Jobs allocate and free millions of short strings across threads; glibc's allocator spent a
// fifth of a run in malloc/free and kept freed memory (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (`mimalloc.h`): how long freed memory waits before it is
/// returned to the OS.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How the process takes memory from the OS; each setting yields to mimalloc's variable for it.
///
/// - Without a memory limit, freed memory waits ten seconds, not mimalloc's one, before it
///   goes back to the OS: memory given back had to be faulted in and zeroed again, a tenth of
///   transaction_etl's time here. Under `--memory-limit` it goes back at once: a streaming run
///   frees batches all along, and ten seconds of them held grew the process with the length
///   of the run (transaction_etl at 32 MB: 312 and 520 MB peak over 30 and 98 MB of input, 235
///   and 274 MB purging at once). `MIMALLOC_PURGE_DELAY` decides instead.
/// - Memory comes in 4 KiB pages, not transparent huge pages. A job touches most of its memory
///   once: in 2 MiB pages it touched 80 to 100 MB more, and on a VM whose host had taken idle
///   memory back, faulting them in doubled the system time (transaction_etl 1.79 s -> 1.52 s,
///   clickstream_events 2.89 s -> 2.60 s). What mimalloc does for `MIMALLOC_ALLOW_THP=0`;
///   `MIMALLOC_ALLOW_THP` decides instead. See BENCHMARKS.md for both.
#[allow(unsafe_code)]
fn tune_memory(memory_limit: Option<u64>) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        let delay_ms = if memory_limit.is_some() { 0 } else { 10_000 };
        // SAFETY: sets one integer option, before any other thread exists; mimalloc accepts
        // any value for it.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, delay_ms) };
    }
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // SAFETY: sets a flag of this process that later page faults read; no memory is
        // touched. A kernel without it returns an error and the process keeps huge pages.
        let _ = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    }
}

/// Three minutes, object_store's default: long enough to ride out an S3 hiccup, short enough
/// that a Step Functions retry takes over from a lasting outage.
const DEFAULT_STORAGE_RETRY_SECONDS: u64 = 180;

/// YAML-declared data-lake jobs on Apache DataFusion: raw -> processed -> curated, as Delta or
/// Parquet, with quarantine, a catalog and quality gates.
#[derive(Debug, Parser)]
#[command(name = "lakejob", version, about)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// The lake: a local folder, or s3://bucket/prefix.
    #[arg(long, global = true, env = "LAKEJOB_LAKE", default_value = "./lake")]
    lake: String,
    /// The catalog tables are registered in.
    #[arg(long, global = true, env = "LAKEJOB_CATALOG", value_enum, default_value_t = CatalogKind::Local)]
    catalog: CatalogKind,
    /// With --catalog glue: the prefix of the Glue databases (`<prefix>processed`, ...).
    #[arg(
        long,
        global = true,
        env = "LAKEJOB_GLUE_DATABASE_PREFIX",
        default_value = "lakejob_"
    )]
    glue_database_prefix: String,
    /// With --catalog glue: Athena partition projection on Parquet tables partitioned by dates.
    #[arg(long, global = true, env = "LAKEJOB_GLUE_PARTITION_PROJECTION")]
    glue_partition_projection: bool,
    /// A folder of job files that add to or override the shipped jobs.
    #[arg(long, global = true, env = "LAKEJOB_JOBS")]
    jobs: Option<PathBuf>,
    /// How results are printed.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    output: OutputFormat,
    /// Memory the process may hold, e.g. 2GB: sorts, groupings and joins spill to disk beyond
    /// three quarters of it; the last quarter is for the files being read and written.
    #[arg(long, global = true, env = "LAKEJOB_MEMORY_LIMIT", value_parser = parse_byte_size)]
    memory_limit: Option<u64>,
    /// How long a failed storage request (S3 5xx, throttling, a lost connection) is retried,
    /// with exponential backoff, before the run fails as retryable; in seconds.
    #[arg(
        long,
        global = true,
        env = "LAKEJOB_STORAGE_RETRY_TIMEOUT",
        default_value_t = DEFAULT_STORAGE_RETRY_SECONDS
    )]
    storage_retry_timeout: u64,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors in the log.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// A Step Functions task token: the run's JSON summary goes back with SendTaskSuccess, or
    /// SendTaskFailure with the exit class (lakejob.Retryable, lakejob.BadInput,
    /// lakejob.QualityFailed). Never printed.
    #[arg(
        long,
        global = true,
        env = "LAKEJOB_TASK_TOKEN",
        hide_env_values = true
    )]
    task_token: Option<String>,
    /// Also write each job run's metrics as CloudWatch embedded-metric lines on stderr.
    #[arg(long, global = true, env = "LAKEJOB_METRICS", value_enum)]
    metrics: Option<MetricsFormat>,
    /// With --engine ballista: the Ballista scheduler, as df://host:port.
    #[arg(
        long,
        global = true,
        env = "LAKEJOB_SCHEDULER",
        default_value = "df://localhost:50050"
    )]
    scheduler: String,
}

/// Where a job's plan runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Engine {
    /// DataFusion in this process.
    Local,
    /// An Apache DataFusion Ballista cluster (--scheduler); quality, writes and commits stay
    /// in this process.
    Ballista,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MetricsFormat {
    /// CloudWatch embedded metric format.
    Emf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CatalogKind {
    /// The embedded catalog under <lake>/_lakejob/catalog/.
    Local,
    /// The AWS Glue Data Catalog of the account and region of the AWS configuration.
    Glue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    /// For people.
    Text,
    /// One JSON document on stdout.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sample data.
    Sample {
        #[command(subcommand)]
        command: SampleCommand,
    },
    /// Run one job.
    Run(RunArgs),
    /// Land files in the raw zone, skipping content the lake already holds (by MD5).
    Ingest(IngestArgs),
    /// Infer a job for a source of your own from sample files (CSV or JSON Lines, plain or
    /// .gz): format, delimiter, header, encoding, column types, timestamp and date formats,
    /// decimal separators, null spellings and a candidate key. Writes
    /// <jobs folder>/<source>_etl.yaml (--jobs, else ./jobs), commented, ready to validate
    /// and run.
    Init(InitArgs),
    /// Release files from the ledger so a fixed job takes them again: a file rejected at
    /// ingest is forgotten (ingest it again), a file a job skipped as unreadable is read by
    /// the job's next run. Recorded under `_lakejob/operations/`.
    Release(ReleaseArgs),
    /// Drop a table: its files and its catalog entry (processed, curated or quarantine). The
    /// raw files stay, so `lakejob run <job> --reprocess` builds it again. Recorded under
    /// `_lakejob/operations/`.
    Drop(DropArgs),
    /// Restore a Delta table to an earlier version, as a new commit (so it can be undone),
    /// and bring the catalog's partitions to match. Recorded under `_lakejob/operations/`.
    Restore(RestoreArgs),
    /// Keep the lake's cost flat as it ages: compact each Delta table's small files, vacuum
    /// files no version within the retention needs, write a checkpoint, expire run records,
    /// reports and operation records, and fold the file ledger's documents into its
    /// snapshot. Parquet tables are left as they are.
    Maintain(MaintainArgs),
    /// The catalog.
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// Data quality.
    Quality {
        #[command(subcommand)]
        command: QualityCommand,
    },
    /// Pipelines: graphs of jobs.
    Pipeline {
        #[command(subcommand)]
        command: PipelineCommand,
    },
    /// Check job files and report every problem.
    Validate(ValidateArgs),
    /// List the jobs.
    Jobs,
    /// List the pipelines: the shipped ones and those in --jobs.
    Pipelines,
    /// List the tables in the catalog.
    Tables,
    /// Show a table's columns, format, location and partitions.
    Describe(DescribeArgs),
    /// Ballista scheduler and executor processes for `--engine ballista`.
    #[cfg(feature = "ballista")]
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// Run SQL over the catalog's tables.
    Query(QueryArgs),
}

/// The arguments of `lakejob run`.
#[derive(Debug, Args)]
struct RunArgs {
    /// The job's name (`lakejob jobs` lists them).
    job: String,
    /// Only the raw files of this date (YYYY-MM-DD); all dates when absent.
    #[arg(long)]
    date: Option<NaiveDate>,
    /// Read files the job has already processed too (the write is idempotent).
    #[arg(long)]
    reprocess: bool,
    /// An incremental query job recomputes every day, not only its latest ones.
    #[arg(long)]
    full_refresh: bool,
    /// Where the job's plan runs.
    #[arg(long, value_enum, env = "LAKEJOB_ENGINE", default_value_t = Engine::Local)]
    engine: Engine,
}

/// The arguments of `lakejob ingest`.
#[derive(Debug, Args)]
struct IngestArgs {
    /// The source, e.g. transactions (a job must read it).
    source: String,
    /// Files, folders (read recursively) or glob patterns such as 'incoming/*.csv'.
    #[arg(required = true)]
    paths: Vec<String>,
    /// The raw date folder; otherwise a date=YYYY-MM-DD folder in the file's path, otherwise today (UTC).
    #[arg(long)]
    date: Option<NaiveDate>,
}

/// The arguments of `lakejob init`.
#[derive(Debug, Args)]
struct InitArgs {
    /// The source's name: lower case letters, digits and _; its files land in raw/<source>.
    source: String,
    /// Sample files; the start of each (4 MB) is read.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print the job instead of writing it.
    #[arg(long)]
    print: bool,
    /// Replace a job file that is already there.
    #[arg(long)]
    force: bool,
}

/// The arguments of `lakejob release`.
#[derive(Debug, Args)]
struct ReleaseArgs {
    /// Files, each by MD5, path in the lake or the path it was ingested from.
    #[arg(required = true)]
    files: Vec<String>,
    /// Show what would be released, changing nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The arguments of `lakejob drop`.
#[derive(Debug, Args)]
struct DropArgs {
    /// The table, as database.table.
    table: String,
    /// Show what would be removed, changing nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The arguments of `lakejob restore`.
#[derive(Debug, Args)]
struct RestoreArgs {
    /// The table, as database.table.
    table: String,
    /// The version whose contents the table gets again.
    #[arg(long)]
    version: u64,
    /// Show what would change, changing nothing.
    #[arg(long)]
    dry_run: bool,
}

/// The arguments of `lakejob maintain`.
#[derive(Debug, Args)]
struct MaintainArgs {
    /// Only these tables (database.table); all when none is named.
    #[arg(long = "table")]
    tables: Vec<String>,
    /// How long removed data files stay for older versions and running jobs; under 7d
    /// needs --force.
    #[arg(long, default_value = "7d", value_parser = parse_duration)]
    retention: std::time::Duration,
    /// How long run records, reports and operation records stay, and the Delta log entries
    /// before a table's checkpoint (the versions `lakejob restore` can go back to).
    #[arg(long, default_value = "30d", value_parser = parse_duration)]
    keep_records: std::time::Duration,
    /// The size compaction writes files up to, e.g. 128MB.
    #[arg(long, default_value = "128MB", value_parser = parse_byte_size)]
    target_file_size: u64,
    /// Show what would be done, changing nothing.
    #[arg(long)]
    dry_run: bool,
    /// Allow a retention under 7 days (only when no job runs meanwhile).
    #[arg(long)]
    force: bool,
}

/// The arguments of `lakejob validate`.
#[derive(Debug, Args)]
struct ValidateArgs {
    /// Job files or folders; the shipped jobs and --jobs when absent.
    paths: Vec<PathBuf>,
}

/// The arguments of `lakejob describe`.
#[derive(Debug, Args)]
struct DescribeArgs {
    /// The table, as database.table.
    table: String,
}

/// The arguments of `lakejob query`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["sql", "named"])))]
struct QueryArgs {
    /// The SQL, e.g. "SELECT count(*) FROM processed.transactions".
    sql: Option<String>,
    /// A shipped analytical query instead: revenue_by_day_and_department, top_products,
    /// conversion_funnel, rating_vs_sales, customer_cohorts.
    #[arg(long)]
    named: Option<String>,
    /// Where the query runs: here or on a Ballista cluster over the catalog's tables, or
    /// on Amazon Athena.
    #[arg(long, value_enum, default_value_t = QueryEngine::Local)]
    engine: QueryEngine,
    /// Athena: the workgroup.
    #[arg(long, env = "LAKEJOB_ATHENA_WORKGROUP")]
    workgroup: Option<String>,
    /// Athena: where results are written (s3://bucket/prefix/), unless the workgroup says.
    #[arg(long, env = "LAKEJOB_ATHENA_OUTPUT")]
    output_location: Option<String>,
    /// Athena: the database unqualified table names resolve in.
    #[arg(long)]
    database: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum QueryEngine {
    /// DataFusion in this process.
    Local,
    /// Amazon Athena, with the AWS configuration's account and region.
    Athena,
    /// An Apache DataFusion Ballista cluster (--scheduler).
    Ballista,
}

/// The Ballista processes, carrying lakejob's plan nodes.
#[cfg(feature = "ballista")]
#[derive(Debug, Subcommand)]
enum ClusterCommand {
    /// Run a scheduler: it takes plans from `lakejob run --engine ballista` and hands their
    /// stages to executors.
    Scheduler {
        /// The address to listen on.
        #[arg(long, default_value = "0.0.0.0:50050")]
        bind: std::net::SocketAddr,
        /// The name executors and clients reach it by; the bind address when absent.
        #[arg(long)]
        external_host: Option<String>,
    },
    /// Run an executor: it reads the lake (--lake), runs stages and serves their shuffle
    /// output and results.
    Executor {
        /// The scheduler, as host:port.
        #[arg(long = "scheduler-address", default_value = "localhost:50050")]
        scheduler_address: String,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        bind_host: String,
        /// The name others reach it by; the address it registers from when absent.
        #[arg(long)]
        external_host: Option<String>,
        /// The Arrow Flight port (shuffle reads and results).
        #[arg(long, default_value_t = 50051)]
        flight_port: u16,
        /// The gRPC port (tasks from the scheduler).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once; the number of cores when absent.
        #[arg(long)]
        task_slots: Option<usize>,
        /// Where shuffle files go; a temporary folder when absent.
        #[arg(long)]
        work_dir: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    /// Register the lake's tables and partitions that the catalog misses, update changed
    /// tables, and forget partitions whose data is gone.
    Sync {
        /// Print the changes without making them.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum QualityCommand {
    /// Evaluate the rules of the job that writes a table over what the table holds now.
    Check {
        /// The table, as database.table.
        table: String,
        /// Measure freshness at the end of this date instead of now.
        #[arg(long)]
        date: Option<NaiveDate>,
    },
}

#[derive(Debug, Subcommand)]
enum PipelineCommand {
    /// Run a pipeline: independent stages at once, each stage's jobs in order.
    Run {
        /// The pipeline, e.g. daily.
        pipeline: String,
        /// Source jobs read only this date's raw files; all new files when absent.
        #[arg(long)]
        date: Option<NaiveDate>,
        /// Incremental query jobs recompute every day, not only their latest ones.
        #[arg(long)]
        full_refresh: bool,
        /// Where the jobs' plans run.
        #[arg(long, value_enum, env = "LAKEJOB_ENGINE", default_value_t = Engine::Local)]
        engine: Engine,
    },
    /// Print a pipeline as another system's definition: an AWS Step Functions state machine.
    Render {
        /// The pipeline, e.g. daily.
        pipeline: String,
        /// What to render.
        #[arg(long, value_enum, default_value_t = RenderFormat::Asl)]
        format: RenderFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RenderFormat {
    /// Amazon States Language JSON, with @@placeholders@@ for Terraform to fill.
    Asl,
}

#[derive(Debug, Subcommand)]
enum SampleCommand {
    /// Write the seeded sample raw zone and reference tables into the lake.
    Generate {
        /// Scale factor: 1 is 1,000,000 transactions.
        #[arg(long, default_value_t = 0.01)]
        scale: f64,
        /// Seed: the same seed and scale give byte-identical files.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Days of data.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// First day (YYYY-MM-DD).
        #[arg(long, default_value = "2025-01-01")]
        start: NaiveDate,
    },
}

/// Errors the command line reports.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Jobs(#[from] JobsError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Generate(#[from] GenerateError),
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[cfg(feature = "ballista")]
    #[error(transparent)]
    Cluster(#[from] lakejob_cluster::ClusterError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
}

impl CliError {
    fn exit_class(&self) -> ExitClass {
        let bad_input = match self {
            CliError::Jobs(e) => e.is_bad_input(),
            CliError::Engine(e) => e.is_bad_input(),
            CliError::Generate(GenerateError::InvalidOptions(_))
            | CliError::Usage(_)
            | CliError::Aws(AwsError::Location { .. }) => true,
            CliError::Aws(AwsError::Engine(e)) => e.is_bad_input(),
            #[cfg(feature = "ballista")]
            CliError::Cluster(e) => matches!(e, lakejob_cluster::ClusterError::Address { .. }),
            CliError::Generate(_) | CliError::Runtime(_) | CliError::Aws(_) => false,
        };
        ExitClass::of_failure(bad_input)
    }
}

/// How a command ended: its exit code and, for runs, the JSON summary a task callback sends.
#[derive(Debug)]
struct Finished {
    class: ExitClass,
    summary: Option<serde_json::Value>,
}

impl Finished {
    fn succeeded() -> Self {
        Self::class(ExitClass::Succeeded)
    }

    fn class(class: ExitClass) -> Self {
        Self {
            class,
            summary: None,
        }
    }

    fn with_summary(class: ExitClass, summary: &impl serde::Serialize) -> Self {
        Self {
            class,
            summary: serde_json::to_value(summary).ok(),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tune_memory(cli.global.memory_limit);
    init_tracing(&cli.global);
    let code = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run_and_report(cli)),
        Err(e) => {
            eprintln!("error: {}", CliError::Runtime(e));
            ExitClass::Retryable
        }
    };
    ExitCode::from(code.code())
}

/// Runs the command, then, with a task token, tells Step Functions how it ended.
async fn run_and_report(mut cli: Cli) -> ExitClass {
    let token = cli.global.task_token.take().map(TaskToken::new);
    let (class, report) = match run(cli).await {
        Ok(finished) => {
            let code = finished.class.code();
            let report = finished
                .summary
                .map(|s| s.to_string())
                .unwrap_or_else(|| serde_json::json!({ "exit_code": code }).to_string());
            (finished.class, report)
        }
        Err(error) => {
            eprintln!("error: {error}");
            let class = error.exit_class();
            let report =
                serde_json::json!({ "error": error.to_string(), "exit_code": class.code() });
            (class, report.to_string())
        }
    };
    let Some(token) = token else {
        return class;
    };
    let config = lakejob_aws::load_config().await;
    match TaskCallback::new(&config, token)
        .report(class, &report)
        .await
    {
        Ok(()) => class,
        Err(e) => {
            eprintln!("error: {e}");
            ExitClass::Retryable
        }
    }
}

fn init_tracing(global: &Global) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "lakejob={level},lakejob_engine={level},lakejob_jobs={level},deltalake_core=off,warn"
        ))
    });
    // Colours only for a person at a terminal, never into a log file or a pipe.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if global.output == OutputFormat::Json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The lake and its catalog as the global flags name them; the AWS configuration is loaded
/// only when S3 or Glue is used.
async fn open_lake(global: &Global) -> Result<(Lake, Box<dyn Catalog>), CliError> {
    let on_s3 = global.lake.starts_with("s3://");
    let aws = if on_s3 || global.catalog == CatalogKind::Glue {
        Some(lakejob_aws::load_config().await)
    } else {
        None
    };
    let lake = match &aws {
        Some(config) if on_s3 => {
            let retry = Duration::from_secs(global.storage_retry_timeout);
            lakejob_aws::open_s3_lake(&global.lake, config, retry).await?
        }
        _ => Lake::open(&global.lake)?,
    };
    let catalog: Box<dyn Catalog> = match (&aws, global.catalog) {
        (Some(config), CatalogKind::Glue) => Box::new(
            GlueCatalog::new(config, &global.glue_database_prefix)
                .with_partition_projection(global.glue_partition_projection),
        ),
        _ => Box::new(LocalCatalog::new(lake.clone())),
    };
    Ok((lake, catalog))
}

async fn run(cli: Cli) -> Result<Finished, CliError> {
    let ctx = Context::new(cli.global);
    match cli.command {
        Command::Sample {
            command:
                SampleCommand::Generate {
                    scale,
                    seed,
                    days,
                    start,
                },
        } => {
            let options = GenerateOptions {
                scale,
                seed,
                days,
                start,
            };
            ctx.generate(options).await
        }
        Command::Init(args) => ctx.init(args),
        Command::Drop(args) => ctx.drop_table(args).await,
        Command::Restore(args) => ctx.restore(args).await,
        Command::Maintain(args) => ctx.maintain(args).await,
        Command::Release(args) => ctx.release(args).await,
        Command::Ingest(args) => ctx.ingest(args).await,
        Command::Run(args) => ctx.run_job(args).await,
        Command::Quality {
            command: QualityCommand::Check { table, date },
        } => ctx.check(&table, date).await,
        Command::Pipeline {
            command:
                PipelineCommand::Run {
                    pipeline,
                    date,
                    full_refresh,
                    engine,
                },
        } => {
            ctx.run_pipeline(&pipeline, date, full_refresh, engine)
                .await
        }
        Command::Pipeline {
            command:
                PipelineCommand::Render {
                    pipeline,
                    format: RenderFormat::Asl,
                },
        } => ctx.render(&pipeline),
        #[cfg(feature = "ballista")]
        Command::Cluster { command } => run_cluster_process(command, &ctx.global).await,
        Command::Validate(args) => {
            validate(&ctx.printer, &args.paths, ctx.global.jobs.as_deref()).await
        }
        Command::Jobs => ctx.jobs(),
        Command::Pipelines => ctx.pipelines(),
        Command::Tables => ctx.tables().await,
        Command::Catalog {
            command: CatalogCommand::Sync { dry_run },
        } => ctx.sync(dry_run).await,
        Command::Describe(args) => ctx.describe(args).await,
        Command::Query(args) => ctx.query(args).await,
    }
}

/// The cluster `engine` names, if any.
fn cluster(engine: Engine, scheduler: &str) -> Result<Option<Arc<dyn Cluster>>, CliError> {
    match engine {
        Engine::Local => Ok(None),
        #[cfg(feature = "ballista")]
        Engine::Ballista => Ok(Some(Arc::new(lakejob_cluster::BallistaEngine::new(
            scheduler,
        )?))),
        #[cfg(not(feature = "ballista"))]
        Engine::Ballista => Err(CliError::Usage(format!(
            "this lakejob was built without Ballista, so it cannot reach {scheduler}; build it with `cargo build --release --features ballista`"
        ))),
    }
}

/// Runs a Ballista process until it is stopped.
#[cfg(feature = "ballista")]
async fn run_cluster_process(
    command: ClusterCommand,
    global: &Global,
) -> Result<Finished, CliError> {
    // Executors read the lake: open it so its object store is registered for the process.
    open_lake(global).await?;
    match command {
        ClusterCommand::Scheduler {
            bind,
            external_host,
        } => {
            let external = external_host.unwrap_or_else(|| bind.ip().to_string());
            lakejob_cluster::run_scheduler(bind, &external).await?;
        }
        ClusterCommand::Executor {
            scheduler_address,
            bind_host,
            external_host,
            flight_port,
            grpc_port,
            task_slots,
            work_dir,
        } => {
            let (scheduler_host, port) = scheduler_address
                .rsplit_once(':')
                .map_or((scheduler_address.as_str(), None), |(h, p)| (h, Some(p)));
            let scheduler_port = match port {
                Some(port) => port.parse().map_err(|_| {
                    CliError::Usage(format!(
                        "--scheduler-address {scheduler_address}: the port is not a number"
                    ))
                })?,
                None => lakejob_cluster::DEFAULT_SCHEDULER_PORT,
            };
            let session = lakejob_engine::SessionOptions {
                memory_limit: global.memory_limit,
                target_partitions: task_slots,
                ..lakejob_engine::SessionOptions::default()
            };
            lakejob_cluster::run_executor(lakejob_cluster::ExecutorOptions {
                scheduler_host: scheduler_host.to_string(),
                scheduler_port,
                bind_host,
                external_host,
                flight_port,
                grpc_port,
                task_slots: session.parallelism(),
                work_dir,
                session,
            })
            .await?;
        }
    }
    Ok(Finished::succeeded())
}

/// 2 when a file was rejected (its content is wrong: fix it and send it again), else 1 when
/// one was not taken (it changed while read, could not be read, or is above the source's size
/// limit), else 0 (every file landed or was already in the lake).
/// Validates job files (or the registry's jobs), printing every problem of every file.
async fn validate(
    printer: &Printer,
    paths: &[PathBuf],
    jobs_folder: Option<&std::path::Path>,
) -> Result<Finished, CliError> {
    let files = job_file_texts(paths, jobs_folder)?;
    if files.is_empty() {
        return Err(CliError::Usage("no job files found (.yaml or .yml)".into()));
    }
    let reports = validate_files(&files, jobs_folder).await;
    let failed = reports.iter().any(|(_, problems)| !problems.is_empty());
    printer.validation(&reports);
    Ok(Finished::class(if failed {
        ExitClass::BadInput
    } else {
        ExitClass::Succeeded
    }))
}
