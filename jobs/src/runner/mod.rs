//! Runs a job, as phases a reader can follow: input (raw files scanned here or on a cluster,
//! or a query) and transform (the steps), planned together; stage (the output streamed into
//! files under the run's staging folder); accounting; gate (quality rules over the staged
//! rows) and publish (the commits of a transaction, from the staged rows), each in its own
//! module. No phase holds the rows in memory: DataFusion streams them and spills.

mod accounting;
mod gate;
mod incremental;
mod input;
mod publish;
mod query;
mod summary;

use std::collections::HashMap;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use lakejob_engine::datafusion::arrow::datatypes::SchemaRef;
use lakejob_engine::datafusion::prelude::{DataFrame, SessionContext};
use lakejob_engine::distributed::collect_outcomes;
use lakejob_engine::ledger::FileLedger;
use lakejob_engine::staging::stage_rows;
use lakejob_engine::writer::{Staged, StagedRecord};
use lakejob_engine::{
    Catalog, Clock, EngineError, Lake, SessionOptions, TableWrite, new_session, plan_session,
};
use serde::Serialize;

use crate::JobsError;
use crate::plan::{Problem, Reference, Rereads, StepsError, plan_steps};
use crate::reports::{run_log_dir, write_reports};
use crate::spec::{JobSpec, SourceSpec};
use crate::transaction::{RunManifest, interrupted_runs, remove_abandoned_staging, staging_folder};
use crate::validate::{compile_source, validate_job};
use input::Input;
use publish::{Output, Publication};
use query::QueryInput;
pub use summary::{QualitySummary, RunError, RunStatus, RunSummary, SkippedFile};

/// Partition column of quarantine tables: the date folder the rejected row came from.
pub const QUARANTINE_PARTITION: &str = "raw_date";
/// Column of quarantine tables naming the run that rejected the row.
pub const QUARANTINE_RUN_ID: &str = "_run_id";

/// What a run is asked to do, the same for a job alone or every job of a pipeline.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Source jobs read only the raw files of this date (default: every date).
    pub date: Option<NaiveDate>,
    /// Source jobs read files they have processed before too (writes are idempotent on
    /// their keys).
    pub reprocess: bool,
    /// Incremental query jobs recompute every day, not only their latest ones.
    pub full_refresh: bool,
    /// Memory limit and parallelism.
    pub session: SessionOptions,
}

/// A source job's run, as [`JobRun::run_source`] takes it.
struct SourceRun<'r> {
    source: &'r SourceSpec,
    run_id: &'r str,
    /// The interrupted run this one finishes, if any.
    resume: Option<RunManifest>,
    /// The run's staging folder, relative to the lake root.
    staging: &'r str,
}

/// One run of a job, built up then executed.
#[derive(Debug)]
pub struct JobRun<'a> {
    lake: &'a Lake,
    catalog: &'a dyn Catalog,
    clock: &'a dyn Clock,
    job: &'a JobSpec,
    origin: Option<&'a str>,
    options: RunOptions,
}

impl<'a> JobRun<'a> {
    /// A run of `job` over the lake.
    pub fn new(
        lake: &'a Lake,
        catalog: &'a dyn Catalog,
        clock: &'a dyn Clock,
        job: &'a JobSpec,
    ) -> Self {
        Self {
            lake,
            catalog,
            clock,
            job,
            origin: None,
            options: RunOptions::default(),
        }
    }

    /// The job file, for error messages.
    pub fn with_origin(mut self, origin: &'a str) -> Self {
        self.origin = Some(origin);
        self
    }

    /// Date, reprocessing and session.
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    fn engine(&self) -> impl FnOnce(EngineError) -> JobsError + '_ {
        |source| JobsError::Engine {
            job: self.job.name.clone(),
            source,
        }
    }

    fn invalid(&self, problems: Vec<Problem>) -> JobsError {
        JobsError::Invalid {
            file: self
                .origin
                .map_or_else(|| format!("{}.yaml", self.job.name), str::to_string),
            job: self.job.name.clone(),
            problems,
        }
    }

    /// Runs the job. Configuration problems fail before any data is written. A run of a
    /// source job that stopped between its commits is finished first (see
    /// [`crate::transaction`]).
    pub async fn execute(self) -> Result<RunSummary, JobsError> {
        let problems = validate_job(self.job).await;
        if !problems.is_empty() {
            return Err(self.invalid(problems));
        }
        remove_abandoned_staging(self.lake, &self.job.name, self.clock.now()).await?;
        let mut finished = Vec::new();
        if self.job.source.is_some() {
            for interrupted in interrupted_runs(self.lake, &self.job.name).await? {
                tracing::warn!(job = %self.job.name, run_id = %interrupted.run_id, files = interrupted.files.len(), "finishing a run that stopped between its commits");
                let run_id = interrupted.run_id.clone();
                let mut summary = self.run_or_record(run_id, Some(interrupted)).await?;
                self.record(&mut summary).await?;
                finished.push(summary.run_id);
            }
        }
        let started_at = self.clock.now();
        let run_id = format!(
            "{}-{}",
            started_at.format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let mut summary = self.run_or_record(run_id, None).await?;
        summary.finished_runs = finished;
        self.record(&mut summary).await?;
        Ok(summary)
    }

    /// A run that fails still leaves its summary, with `status: failed` and the error, in the
    /// run log, and hands it back with the error for the caller to print.
    async fn run_or_record(
        &self,
        run_id: String,
        resume: Option<RunManifest>,
    ) -> Result<RunSummary, JobsError> {
        let started = Instant::now();
        let started_at = self.clock.now();
        match self.run(&run_id, resume).await {
            Ok(summary) => Ok(summary),
            Err(source) => {
                let mut summary = match &source {
                    JobsError::TooMuchBadInput { counts, .. } => (**counts).clone(),
                    _ => self.summary(&run_id, started_at),
                };
                summary.status = RunStatus::Failed;
                summary.error = Some(RunError {
                    class: source.exit_class(),
                    message: source.to_string(),
                });
                summary.duration_ms = started.elapsed().as_millis() as u64;
                if let Err(e) = self.record(&mut summary).await {
                    tracing::warn!(job = %self.job.name, error = %e, "the failed run's record was not kept");
                }
                Err(JobsError::RunFailed {
                    summary: Box::new(summary),
                    source: Box::new(source),
                })
            }
        }
    }

    /// One run: a new one, or the finishing of an interrupted one over the files it read.
    /// What it staged is removed however it ends.
    async fn run(
        &self,
        run_id: &str,
        resume: Option<RunManifest>,
    ) -> Result<RunSummary, JobsError> {
        let staging = staging_folder(&self.job.name, run_id);
        // A run finishing an interrupted one stages again: what the interrupted one staged
        // and never committed goes first.
        remove_unpublished(self.lake, &staging)
            .await
            .map_err(self.engine())?;
        let outcome = self.run_staged(run_id, resume, &staging).await;
        if let Err(e) = remove_unpublished(self.lake, &staging).await {
            tracing::warn!(job = %self.job.name, error = %e, "files staged in the target and never committed were left in its folder; `lakejob maintain` removes them");
        }
        if let Err(e) = self.lake.delete_folder(&staging).await {
            tracing::warn!(job = %self.job.name, folder = %staging, error = %e, "the run's staged files were left in the lake");
        }
        outcome
    }

    async fn run_staged(
        &self,
        run_id: &str,
        resume: Option<RunManifest>,
        staging: &str,
    ) -> Result<RunSummary, JobsError> {
        let started = Instant::now();
        let started_at = self.clock.now();
        let job = self.job;
        let ctx = new_session(&self.options.session).map_err(self.engine())?;
        // The steps run on the cluster when there is one; quality and commits run here.
        let cluster = match self.options.session.cluster {
            Some(_) => Some(
                plan_session(&self.options.session)
                    .await
                    .map_err(self.engine())?,
            ),
            None => None,
        };
        let source = match (&job.source, &job.query) {
            (Some(source), _) => source,
            (None, Some(query)) => {
                let summary = self.summary(run_id, started_at);
                let plan_ctx = cluster.as_ref().unwrap_or(&ctx);
                let query = QueryInput {
                    plan_ctx,
                    query,
                    staging,
                };
                return self.execute_query(&ctx, query, summary, started).await;
            }
            (None, None) => {
                return Err(self.invalid(vec![Problem::new("source", "the job reads nothing")]));
            }
        };
        let input = SourceRun {
            source,
            run_id,
            resume,
            staging,
        };
        self.run_source(&ctx, cluster.as_ref(), input).await
    }

    /// A source job's run: input and transform, staged; accounting, gate and publish.
    async fn run_source(
        &self,
        ctx: &SessionContext,
        cluster: Option<&SessionContext>,
        run: SourceRun<'_>,
    ) -> Result<RunSummary, JobsError> {
        let SourceRun {
            source,
            run_id,
            resume,
            staging,
        } = run;
        let started = Instant::now();
        let started_at = self.clock.now();
        let job = self.job;
        let reader = compile_source(ctx, source).map_err(|p| self.invalid(p))?;
        let references = self.load_references(ctx, cluster).await?;
        let mut selection = self.select(source, resume.as_ref()).await?;
        let files = std::mem::take(&mut selection.files);
        let input = Input {
            source,
            references: &references,
            files: &files,
            staging,
        };
        let (scan, output) = self.read_and_transform(ctx, cluster, input).await?;
        let staged = self
            .stage(ctx, &self.target_write(ctx), output, staging)
            .await?;
        let reads = collect_outcomes(self.lake, &scan)
            .await
            .map_err(self.engine())?;
        let replaced = self.replaced_transactions(run_id, &mut selection)?;
        let mut summary = self.summary(run_id, started_at);
        let resumed = resume.is_some();
        let accounted = self.account(&mut summary, reads, &files, selection, staged.rows())?;
        if !resumed {
            self.within_tolerance(source.tolerance, &summary, &accounted, files.len())?;
        }
        let manifest = resume.unwrap_or_else(|| RunManifest {
            run_id: run_id.to_string(),
            job: job.name.clone(),
            started_at,
            files: files.iter().map(|f| f.path.clone()).collect(),
        });
        if files.is_empty() {
            // Nothing new to read publishes nothing, so there is nothing for the rules to gate.
            tracing::info!(job = %job.name, "nothing new to read; no table was touched");
        } else if !self
            .gate(ctx, &mut summary, staged.frame(), started_at, resumed)
            .await?
        {
            summary.status = RunStatus::QualityFailed;
            tracing::warn!(job = %job.name, score = summary.quality.score, "quality gate failed; nothing was written");
        } else if summary.rows_in == 0 && replaced.is_empty() {
            // Files without a row (a header alone) change no table: no empty commits.
            tracing::warn!(job = %job.name, files = files.len(), "the files read hold no rows; no table was touched");
            FileLedger::new(self.lake.clone())
                .mark_processed(&job.name, accounted.marks)
                .await
                .map_err(self.engine())?;
        } else {
            let output = Output {
                rows: staged,
                rejects: accounted.rejects,
            };
            let publication = Publication {
                manifest: &manifest,
                output,
                marks: accounted.marks,
                replaced,
            };
            self.publish(ctx, &mut summary, publication, &reader)
                .await?;
        }
        // Files hashed on first sight are in the ledger even when nothing was read.
        if let Err(e) = FileLedger::new(self.lake.clone())
            .publish(ctx, self.catalog)
            .await
        {
            tracing::warn!(job = %job.name, error = %e, "the lakejob.file_ledger table was not refreshed; the next run refreshes it");
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// A summary with nothing done yet.
    fn summary(&self, run_id: &str, started_at: DateTime<Utc>) -> RunSummary {
        RunSummary {
            run_id: run_id.to_string(),
            job: self.job.name.clone(),
            date: self.options.date,
            dates: Vec::new(),
            status: RunStatus::Succeeded,
            rows_in: 0,
            rows_out: 0,
            rows_rejected: 0,
            rows_duplicate: 0,
            files_ingested: 0,
            files_skipped: 0,
            skipped: Vec::new(),
            tables: Vec::new(),
            quality: QualitySummary {
                score: 1.0,
                min_score: self.job.quality.min_score,
                failed_rules: Vec::new(),
                rules: Vec::new(),
                report: None,
            },
            started_at,
            duration_ms: 0,
            finished_runs: Vec::new(),
            recomputed_from: None,
            error: None,
        }
    }

    async fn plan_steps(
        &self,
        input: DataFrame,
        references: &HashMap<String, Reference>,
        rereads: Rereads,
    ) -> Result<DataFrame, JobsError> {
        plan_steps(input, self.job, references, rereads)
            .await
            .map_err(|e| match e {
                StepsError::Invalid(problems) => self.invalid(problems),
                StepsError::Run(e) => {
                    self.engine()(EngineError::datafusion("finding the duplicated keys")(e))
                }
            })
    }

    /// Runs the output's plan, streaming its rows into the target's own data files when the
    /// write allows (recorded in `<staging>/table-files.json`, so that files never committed
    /// are removed however the run ends), else into `<staging>/output`; the gate and the
    /// commits read the staged files, never rows held in memory.
    async fn stage(
        &self,
        ctx: &SessionContext,
        write: &TableWrite<'_>,
        output: DataFrame,
        staging: &str,
    ) -> Result<Staged, JobsError> {
        let doing = match &self.options.session.cluster {
            Some(cluster) => format!("running the steps on the cluster at {}", cluster.address()),
            None => "running the steps".to_string(),
        };
        let schema: SchemaRef = std::sync::Arc::new(output.schema().as_arrow().clone());
        let in_table = write
            .stages_in_table(&schema)
            .await
            .map_err(self.engine())?;
        let staged = if in_table {
            self.lake
                .write(
                    &staged_record_path(staging),
                    json_bytes(&write.staging_record())?,
                )
                .await
                .map_err(self.engine())?;
            write.stage(output).await.map(Staged::Table)
        } else {
            stage_rows(self.lake, ctx, output, &format!("{staging}/output"), &doing)
                .await
                .map(Staged::Folder)
        };
        let staged = staged.map_err(|source| self.steps_failed(source))?;
        if let Some(record) = staged.record() {
            self.lake
                .write(&staged_record_path(staging), json_bytes(record)?)
                .await
                .map_err(self.engine())?;
        }
        Ok(staged)
    }

    /// A failure of the steps' plan: a value a step could not take names the steps that may
    /// have met it.
    fn steps_failed(&self, source: EngineError) -> JobsError {
        let steps = match &source {
            EngineError::DataFusion { .. } if source.is_bad_input() => {
                crate::plan::steps_that_may_fail(self.job, &source.to_string())
            }
            _ => Vec::new(),
        };
        if steps.is_empty() {
            self.engine()(source)
        } else {
            JobsError::StepData {
                job: self.job.name.clone(),
                steps,
                source: Box::new(source),
            }
        }
    }

    fn target(&self) -> String {
        format!("{}.{}", self.job.target.zone, self.job.target.table)
    }

    /// Writes the quality reports of a run that evaluated rules, then keeps the summary under
    /// `_lakejob/runs/<job>/`, the lake's own run log. Reports are for people: failing to
    /// write one is reported and the run goes on.
    async fn record(&self, summary: &mut RunSummary) -> Result<(), JobsError> {
        if !summary.quality.rules.is_empty() {
            match write_reports(self.lake, summary, &self.target()).await {
                Ok(files) => summary.quality.report = Some(files),
                Err(e) => {
                    tracing::warn!(job = %self.job.name, error = %e, "the quality report was not written");
                }
            }
        }
        let path = format!("{}/{}.json", run_log_dir(&summary.job), summary.run_id);
        self.lake
            .write(&path, json_bytes(summary)?)
            .await
            .map_err(self.engine())
    }
}

/// Where a run records the files it staged in its target.
pub(crate) fn staged_record_path(staging: &str) -> String {
    format!("{staging}/table-files.json")
}

/// Removes the files a run (finished, failed or killed) staged in its target that no commit
/// took, as its staging folder records them.
pub(crate) async fn remove_unpublished(lake: &Lake, staging: &str) -> Result<usize, EngineError> {
    let path = staged_record_path(staging);
    if !lake.exists(&path).await? {
        return Ok(0);
    }
    let record: StagedRecord = serde_json::from_slice(&lake.read(&path).await?)
        .map_err(|e| EngineError::Task(format!("{path}: {e}")))?;
    record.remove_unpublished(lake).await
}

/// The end of a data date (midnight after it, UTC): the time freshness rules measure from.
pub(crate) fn end_of_date(date: Option<NaiveDate>) -> Option<DateTime<Utc>> {
    date.and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn json_bytes(value: &impl Serialize) -> Result<bytes::Bytes, JobsError> {
    serde_json::to_vec_pretty(value)
        .map(bytes::Bytes::from)
        .map_err(|e| JobsError::Summary(e.to_string()))
}
