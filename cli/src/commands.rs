//! One method per command: each calls a use case of the libraries with what the command line
//! said, prints its outcome and says how the command ended.

use std::path::PathBuf;

use chrono::NaiveDate;
use lakejob_aws::AthenaQuery;
use lakejob_engine::ingest::{Ingest, local_files};
use lakejob_engine::maintain::Maintain;
use lakejob_engine::query::DeltaReads;
use lakejob_engine::{
    Catalog, CatalogSync, EngineError, ExitClass, Lake, SessionOptions, SystemClock, TableName,
};
use lakejob_jobs::{
    InitJob, JobRegistry, JobRun, JobsError, PipelineRun, Recovery, RunOptions, Runnable,
    check_table, named_query, render_asl, source_files, validate_pipeline,
};
use lakejob_sample_data::{DirectorySink, GenerateOptions};

use crate::output::Printer;
use crate::{
    CliError, DescribeArgs, DropArgs, Engine, Finished, Global, IngestArgs, InitArgs, MaintainArgs,
    MetricsFormat, OutputFormat, QueryArgs, QueryEngine, ReleaseArgs, RestoreArgs, RunArgs,
    cluster, open_lake,
};

/// What every command gets from the global flags.
pub(crate) struct Context {
    pub(crate) global: Global,
    pub(crate) printer: Printer,
    session: SessionOptions,
}

fn table_name(text: &str) -> Result<TableName, CliError> {
    text.parse().map_err(CliError::Usage)
}

impl Context {
    pub(crate) fn new(global: Global) -> Self {
        let printer = Printer::new(
            global.output == OutputFormat::Json,
            global.metrics == Some(MetricsFormat::Emf),
        );
        let session = SessionOptions {
            memory_limit: global.memory_limit,
            ..SessionOptions::default()
        };
        Self {
            global,
            printer,
            session,
        }
    }

    async fn open(&self) -> Result<(Lake, Box<dyn Catalog>), CliError> {
        open_lake(&self.global).await
    }

    /// The session of a plan that runs on `engine`.
    fn on(&self, engine: Engine) -> Result<SessionOptions, CliError> {
        Ok(SessionOptions {
            cluster: cluster(engine, &self.global.scheduler)?,
            ..self.session.clone()
        })
    }

    fn registry(&self) -> Result<JobRegistry, CliError> {
        Ok(JobRegistry::load(self.global.jobs.as_deref())?)
    }

    pub(crate) async fn generate(&self, options: GenerateOptions) -> Result<Finished, CliError> {
        let (lake, _) = self.open().await?;
        let root = lake.root_url().to_file_path().map_err(|()| {
            CliError::Usage("sample generate writes to a local lake folder".into())
        })?;
        let progress = self
            .printer
            .progress(lakejob_sample_data::task_count(&options), "generating");
        let started = std::time::Instant::now();
        let metrics = lakejob_sample_data::generate(&options, &DirectorySink::new(root), &|| {
            progress.inc(1)
        })?;
        progress.finish_and_clear();
        self.printer
            .generated(&metrics, lake.location(), started.elapsed());
        Ok(Finished::succeeded())
    }

    pub(crate) fn init(&self, args: InitArgs) -> Result<Finished, CliError> {
        let inferred = InitJob::new(args.source, args.files).execute()?;
        if args.print {
            print!("{}", inferred.yaml);
            return Ok(Finished::succeeded());
        }
        let folder = self
            .global
            .jobs
            .clone()
            .unwrap_or_else(|| PathBuf::from("jobs"));
        let path = inferred.write_to(&folder, args.force)?;
        self.printer
            .initialised(&inferred, &path, self.global.jobs.is_none());
        Ok(Finished::succeeded())
    }

    pub(crate) async fn drop_table(&self, args: DropArgs) -> Result<Finished, CliError> {
        let name = table_name(&args.table)?;
        let (lake, catalog) = self.open().await?;
        let metrics = Recovery::new(&lake, &SystemClock)
            .with_dry_run(args.dry_run)
            .drop_table(&name, catalog.as_ref())
            .await?;
        self.printer.dropped(&metrics);
        Ok(Finished::succeeded())
    }

    pub(crate) async fn restore(&self, args: RestoreArgs) -> Result<Finished, CliError> {
        let name = table_name(&args.table)?;
        let (lake, catalog) = self.open().await?;
        let summary = Recovery::new(&lake, &SystemClock)
            .with_dry_run(args.dry_run)
            .restore(&name, args.version, catalog.as_ref())
            .await?;
        self.printer.restored(&summary);
        Ok(Finished::succeeded())
    }

    pub(crate) async fn maintain(&self, args: MaintainArgs) -> Result<Finished, CliError> {
        let tables = args
            .tables
            .iter()
            .map(|t| table_name(t))
            .collect::<Result<Vec<_>, _>>()?;
        let registry = self.registry()?;
        let (lake, catalog) = self.open().await?;
        let metrics = Maintain::new(&lake, catalog.as_ref(), &SystemClock)
            .with_tables(tables)
            .with_policies(registry.maintenance_policies())
            .with_retention(args.retention)
            .with_record_retention(args.keep_records)
            .with_target_file_size(args.target_file_size)
            .with_dry_run(args.dry_run)
            .with_force(args.force)
            .execute()
            .await?;
        self.printer.maintained(&metrics);
        Ok(Finished::with_summary(ExitClass::Succeeded, &metrics))
    }

    pub(crate) async fn release(&self, args: ReleaseArgs) -> Result<Finished, CliError> {
        let (lake, catalog) = self.open().await?;
        let metrics = Recovery::new(&lake, &SystemClock)
            .with_dry_run(args.dry_run)
            .release(&args.files, catalog.as_ref())
            .await?;
        self.printer.released(&metrics);
        Ok(Finished::succeeded())
    }

    pub(crate) async fn ingest(&self, args: IngestArgs) -> Result<Finished, CliError> {
        let registry = self.registry()?;
        let (job, declared) = registry.reader_of(&args.source)?;
        let declaration = source_files(declared)
            .map_err(|p| CliError::Usage(format!("job {}: {p}", job.spec.name)))?;
        let files = local_files(&args.paths)?;
        let (lake, catalog) = self.open().await?;
        let started = std::time::Instant::now();
        let metrics = Ingest::new(&lake, &SystemClock, &declaration)
            .with_date(args.date)
            .with_session(self.session.clone())
            .execute(&files, catalog.as_ref())
            .await?;
        self.printer.ingested(&metrics, started.elapsed());
        Ok(Finished::class(metrics.exit_class()))
    }

    /// A job, or a pipeline's stage (its jobs in order).
    pub(crate) async fn run_job(&self, args: RunArgs) -> Result<Finished, CliError> {
        let registry = self.registry()?;
        let options = RunOptions {
            date: args.date,
            reprocess: args.reprocess,
            full_refresh: args.full_refresh,
            session: self.on(args.engine)?,
        };
        let runnable = registry.runnable(&args.job)?;
        let (lake, catalog) = self.open().await?;
        let entry = match runnable {
            Runnable::Job(entry) => entry,
            Runnable::Stage(stage) => {
                let summary =
                    PipelineRun::new(&lake, catalog.as_ref(), &SystemClock, &registry, &stage)
                        .with_options(options)
                        .execute()
                        .await?;
                self.printer.pipeline_summary(&summary);
                return Ok(Finished::with_summary(summary.exit_class(), &summary));
            }
        };
        let outcome = JobRun::new(&lake, catalog.as_ref(), &SystemClock, &entry.spec)
            .with_origin(&entry.origin)
            .with_options(options)
            .execute()
            .await;
        let summary = match outcome {
            Ok(summary) => summary,
            Err(JobsError::RunFailed { summary, source }) => {
                self.printer.failed_run(&summary);
                return Err(CliError::Jobs(*source));
            }
            Err(e) => return Err(e.into()),
        };
        self.printer.run_summary(&summary);
        Ok(Finished::with_summary(
            summary.status.exit_class(),
            &summary,
        ))
    }

    pub(crate) async fn check(
        &self,
        table: &str,
        date: Option<NaiveDate>,
    ) -> Result<Finished, CliError> {
        let name = table_name(table)?;
        let registry = self.registry()?;
        let (_, catalog) = self.open().await?;
        let report = check_table(catalog.as_ref(), &registry, &name, &self.session, date).await?;
        self.printer.quality_report(&name, &report);
        let class = if report.passed {
            ExitClass::Succeeded
        } else {
            ExitClass::QualityFailed
        };
        Ok(Finished::with_summary(class, &report))
    }

    pub(crate) async fn run_pipeline(
        &self,
        pipeline: &str,
        date: Option<NaiveDate>,
        full_refresh: bool,
        engine: Engine,
    ) -> Result<Finished, CliError> {
        let registry = self.registry()?;
        let spec = &registry.pipeline(pipeline)?.spec;
        let (lake, catalog) = self.open().await?;
        let options = RunOptions {
            date,
            reprocess: false,
            full_refresh,
            session: self.on(engine)?,
        };
        let summary = PipelineRun::new(&lake, catalog.as_ref(), &SystemClock, &registry, spec)
            .with_options(options)
            .execute()
            .await?;
        self.printer.pipeline_summary(&summary);
        Ok(Finished::with_summary(summary.exit_class(), &summary))
    }

    pub(crate) fn render(&self, pipeline: &str) -> Result<Finished, CliError> {
        let registry = self.registry()?;
        let entry = registry.pipeline(pipeline)?;
        let problems = validate_pipeline(&entry.spec, &registry);
        if !problems.is_empty() {
            return Err(CliError::Jobs(JobsError::Invalid {
                file: entry.origin.clone(),
                job: pipeline.to_string(),
                problems,
            }));
        }
        let asl = render_asl(&entry.spec)?;
        let text =
            serde_json::to_string_pretty(&asl).map_err(|e| CliError::Usage(e.to_string()))?;
        println!("{text}");
        Ok(Finished::succeeded())
    }

    pub(crate) fn jobs(&self) -> Result<Finished, CliError> {
        self.printer.jobs(&self.registry()?);
        Ok(Finished::succeeded())
    }

    pub(crate) fn pipelines(&self) -> Result<Finished, CliError> {
        self.printer.pipelines(&self.registry()?);
        Ok(Finished::succeeded())
    }

    pub(crate) async fn tables(&self) -> Result<Finished, CliError> {
        let (_, catalog) = self.open().await?;
        let mut tables = Vec::new();
        for name in catalog.tables().await? {
            if let Some(table) = catalog.table(&name).await? {
                tables.push(table);
            }
        }
        self.printer.tables(&tables);
        Ok(Finished::succeeded())
    }

    pub(crate) async fn sync(&self, dry_run: bool) -> Result<Finished, CliError> {
        let (lake, catalog) = self.open().await?;
        let ctx = lakejob_engine::new_session(&self.session)?;
        let metrics = CatalogSync::new(&lake, catalog.as_ref(), &ctx)
            .with_dry_run(dry_run)
            .execute()
            .await?;
        self.printer.synced(&metrics);
        Ok(Finished::with_summary(ExitClass::Succeeded, &metrics))
    }

    pub(crate) async fn describe(&self, args: DescribeArgs) -> Result<Finished, CliError> {
        let name = table_name(&args.table)?;
        let (_, catalog) = self.open().await?;
        let found = catalog
            .table(&name)
            .await?
            .ok_or_else(|| EngineError::TableNotFound(name.to_string()))?;
        self.printer.describe(&found);
        Ok(Finished::succeeded())
    }

    pub(crate) async fn query(&self, args: QueryArgs) -> Result<Finished, CliError> {
        let sql = match (args.sql, args.named) {
            (Some(sql), _) => sql,
            (None, Some(name)) => named_query(&name)?.to_string(),
            (None, None) => return Err(CliError::Usage("give SQL or --named <query>".into())),
        };
        let (session, reads) = match args.engine {
            QueryEngine::Athena => {
                let config = lakejob_aws::load_config().await;
                let result = AthenaQuery::new(&config, sql)
                    .with_workgroup(args.workgroup)
                    .with_output_location(args.output_location)
                    .with_database(args.database)
                    .execute()
                    .await?;
                tracing::info!(query_execution_id = %result.query_execution_id, bytes_scanned = ?result.bytes_scanned, "Athena query succeeded");
                self.printer.batches(&[result.batch])?;
                return Ok(Finished::succeeded());
            }
            QueryEngine::Ballista => (self.on(Engine::Ballista)?, DeltaReads::Portable),
            QueryEngine::Local => (self.session.clone(), DeltaReads::Native),
        };
        let (_, catalog) = self.open().await?;
        let ctx = lakejob_engine::plan_session(&session).await?;
        lakejob_engine::query::register_catalog_tables(&ctx, catalog.as_ref(), reads).await?;
        let batches = lakejob_engine::query::run_sql(&ctx, &sql).await?;
        self.printer.batches(&batches)?;
        Ok(Finished::succeeded())
    }
}
