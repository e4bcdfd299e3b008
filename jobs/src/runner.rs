//! Runs a job: read raw files with reject routing, apply the steps, check quality, write the
//! target and quarantine, register them, and account for every row.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, NaiveDate, Utc};
use lakejob_engine::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use lakejob_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lakejob_engine::datafusion::logical_expr::{col, lit};
use lakejob_engine::datafusion::physical_plan::collect;
use lakejob_engine::datafusion::physical_plan::display::DisplayableExecutionPlan;
use lakejob_engine::datafusion::prelude::{DataFrame, SessionContext};
use lakejob_engine::distributed::{RawFilesTable, RawScan, collect_outcomes};
use lakejob_engine::failpoint::failpoint;
use lakejob_engine::lake::STATE_DIR;
use lakejob_engine::ledger::{FileLedger, ProcessedMark};
use lakejob_engine::query::DeltaReads;
use lakejob_engine::reader::{FileRead, SOURCE_FILE, SourceReader, read_files};
use lakejob_engine::{
    Catalog, Clock, EngineError, Lake, RawFile, SessionOptions, TableFormat, TableName, TableWrite,
    WriteMetrics, WriteMode, new_session, plan_session,
};
use lakejob_quality::QualityReport;
use serde::Serialize;

use crate::JobsError;
use crate::plan::{Problem, Reference, Rereads, StepsError, column, plan_steps};
use crate::quality_log::{prepare_rule_inputs, record_quality};
use crate::reports::{ReportFiles, run_log_dir, write_reports};
use crate::selection::{Scope, Selection, select_files};
use crate::spec::{JobSpec, WriteModeSpec};
use crate::transaction::{RunManifest, begin, end, interrupted_runs, transaction_id};
use crate::validate::{compile_references, compile_source, validate_job};

/// Partition column of quarantine tables: the date folder the rejected row came from.
pub const QUARANTINE_PARTITION: &str = "raw_date";
/// Column of quarantine tables naming the run that rejected the row.
pub const QUARANTINE_RUN_ID: &str = "_run_id";

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Everything was written.
    Succeeded,
    /// The run stopped with an error.
    Failed,
    /// The quality gate held the output back; nothing was written.
    QualityFailed,
}

impl RunStatus {
    /// The name used in JSON and text output.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::QualityFailed => "quality_failed",
        }
    }
}

/// A raw file that was not read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedFile {
    /// The file, relative to the lake root.
    pub file: String,
    /// Why it was skipped.
    pub reason: String,
}

/// The quality part of a summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualitySummary {
    /// Weighted share of passed rules.
    pub score: f64,
    /// The gate.
    pub min_score: f64,
    /// Rules that failed.
    pub failed_rules: Vec<String>,
    /// Every rule with observed value and threshold.
    pub rules: Vec<lakejob_quality::RuleResult>,
    /// The run's JSON and HTML quality reports, when rules were evaluated.
    pub report: Option<ReportFiles>,
}

impl From<QualityReport> for QualitySummary {
    fn from(report: QualityReport) -> Self {
        Self {
            score: report.score,
            min_score: report.min_score,
            failed_rules: report.failed_rules,
            rules: report.rules,
            report: None,
        }
    }
}

/// What a run did (the JSON of `--output json`). `rows_in = rows_out + rows_rejected +
/// rows_duplicate` always holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    /// Unique id of the run.
    pub run_id: String,
    /// The job.
    pub job: String,
    /// The date asked for, if any.
    pub date: Option<NaiveDate>,
    /// The raw date folders read.
    pub dates: Vec<NaiveDate>,
    /// How it ended.
    pub status: RunStatus,
    /// Rows read from raw files.
    pub rows_in: u64,
    /// Rows in the output.
    pub rows_out: u64,
    /// Rows sent to quarantine.
    pub rows_rejected: u64,
    /// Rows dropped as duplicates of a kept row.
    pub rows_duplicate: u64,
    /// Raw files read.
    pub files_ingested: u64,
    /// Raw files not read.
    pub files_skipped: u64,
    /// Why each skipped file was skipped.
    pub skipped: Vec<SkippedFile>,
    /// Tables written.
    pub tables: Vec<WriteMetrics>,
    /// Quality outcome.
    pub quality: QualitySummary,
    /// When the run started.
    pub started_at: DateTime<Utc>,
    /// Wall time.
    pub duration_ms: u64,
    /// Runs of the job that had stopped between their commits and that this run finished
    /// first (each has its own run record).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finished_runs: Vec<String>,
    /// Why a failed run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
}

/// Why a run failed, for machines: the class decides whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunError {
    /// `bad_input` (the job, its input or its tables must change: exit 2) or `retryable`
    /// (the same run may succeed later: exit 1).
    pub class: &'static str,
    /// The error, as printed.
    pub message: String,
}

/// What a run is asked to do, the same for a job alone or every job of a pipeline.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Source jobs read only the raw files of this date (default: every date).
    pub date: Option<NaiveDate>,
    /// Source jobs read files they have processed before too (writes are idempotent on
    /// their keys).
    pub reprocess: bool,
    /// Memory limit and parallelism.
    pub session: SessionOptions,
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
                let mut summary = self.summary(&run_id, started_at);
                summary.status = RunStatus::Failed;
                summary.error = Some(RunError {
                    class: if source.is_bad_input() {
                        "bad_input"
                    } else {
                        "retryable"
                    },
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
    async fn run(
        &self,
        run_id: &str,
        resume: Option<RunManifest>,
    ) -> Result<RunSummary, JobsError> {
        let started = Instant::now();
        let started_at = self.clock.now();
        let run_id = run_id.to_string();
        let job = self.job;
        let ctx = new_session(&self.options.session).map_err(self.engine())?;
        // The steps run on the cluster when there is one; quality, writes and commits run here.
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
                let summary = self.summary(&run_id, started_at);
                let plan_ctx = cluster.as_ref().unwrap_or(&ctx);
                return self
                    .execute_query(&ctx, plan_ctx, query, summary, started)
                    .await;
            }
            (None, None) => {
                return Err(self.invalid(vec![Problem::new("source", "the job reads nothing")]));
            }
        };
        let reader = Arc::new(compile_source(&ctx, source).map_err(|p| self.invalid(p))?);
        let references = self.load_references(&ctx, cluster.as_ref()).await?;

        let scope = Scope {
            job: &job.name,
            source: &source.name,
            // An interrupted run reads exactly its files again, processed or not.
            date: self.options.date.filter(|_| resume.is_none()),
            reprocess: self.options.reprocess || resume.is_some(),
            only: resume.as_ref().map(|manifest| manifest.files.as_slice()),
            whole_dates: job.target.mode == WriteModeSpec::OverwritePartitions,
            parallelism: self.options.session.parallelism(),
        };
        // Here (not on a cluster, whose executors read the files), files hashed on first sight
        // are read for their rows in the same pass.
        let local_reader = cluster.is_none().then(|| Arc::clone(&reader));
        let mut selection = select_files(self.lake, self.clock, scope, local_reader)
            .await
            .map_err(self.engine())?;
        let files = std::mem::take(&mut selection.files);
        if files.is_empty() {
            tracing::warn!(job = %job.name, source = %source.name, date = ?self.options.date, "no new raw files to read");
        }
        let (reads, (output_schema, batches)) = match &cluster {
            None => {
                let already_read = std::mem::take(&mut selection.already_read);
                let mut reads = self.read_locally(&reader, &files, already_read).await?;
                let valid = reads
                    .iter_mut()
                    .flat_map(|read| std::mem::take(&mut read.valid))
                    .collect();
                let input = read_frame(&ctx, reader.typed_schema(), valid)?;
                let output = self
                    .plan_steps(input, &references, Rereads::InMemory)
                    .await?;
                (reads, self.collect(output, "running the steps").await?)
            }
            Some(cluster) => {
                let scan = RawScan {
                    lake: self.lake.root_url().clone(),
                    files: files.iter().map(|f| f.path.clone()).collect(),
                    columns: source.columns.clone(),
                    rules: source.reject_when.clone(),
                    format: source.format.source_format(),
                    outcomes: Some(format!("{STATE_DIR}/staging/{run_id}")),
                    // A task per file: the executors share the files out among themselves.
                    partitions: files.len().max(1),
                };
                self.run_on_cluster(cluster, scan, &references).await?
            }
        };

        let replaced = self.replaced_transactions(&run_id, &mut selection)?;
        let mut summary = self.summary(&run_id, started_at);
        let resumed = resume.is_some();
        let accounted = self.account(
            &mut summary,
            reads,
            &files,
            selection,
            output_rows(&batches),
        )?;
        let manifest = resume.unwrap_or_else(|| RunManifest {
            run_id: run_id.clone(),
            job: job.name.clone(),
            started_at,
            files: files.iter().map(|f| f.path.clone()).collect(),
        });
        if files.is_empty() {
            // Nothing new to read publishes nothing, so there is nothing for the rules to gate.
            tracing::info!(job = %job.name, "nothing new to read; no table was touched");
        } else if self
            .gate(
                &ctx,
                &mut summary,
                &output_schema,
                &batches,
                started_at,
                resumed,
            )
            .await?
        {
            let output = Output {
                schema: output_schema,
                batches,
                rejects: accounted.rejects,
            };
            let publication = Publication {
                manifest: &manifest,
                output,
                marks: accounted.marks,
                replaced,
            };
            self.publish(&ctx, &mut summary, publication, &reader)
                .await?;
        } else {
            summary.status = RunStatus::QualityFailed;
            tracing::warn!(job = %job.name, score = summary.quality.score, "quality gate failed; nothing was written");
        }
        // Files hashed on first sight are in the ledger even when nothing was read.
        if let Err(e) = FileLedger::new(self.lake.clone())
            .publish(&ctx, self.catalog)
            .await
        {
            tracing::warn!(job = %job.name, error = %e, "the lakejob.file_ledger table was not refreshed; the next run refreshes it");
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// The transactions of earlier runs whose appended rows this run replaces: reprocessing
    /// an `append` target replaces what the same input gave before. Other modes replace by
    /// key or partition already.
    fn replaced_transactions(
        &self,
        run_id: &str,
        selection: &mut Selection,
    ) -> Result<Vec<String>, JobsError> {
        let runs = std::mem::take(&mut selection.earlier_runs);
        if self.job.target.mode != WriteModeSpec::Append {
            return Ok(Vec::new());
        }
        let runs: Vec<String> = runs.into_iter().filter(|run| run != run_id).collect();
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        if !selection.left_out.is_empty() {
            return Err(JobsError::Reprocess {
                job: self.job.name.clone(),
                runs,
                files: std::mem::take(&mut selection.left_out),
            });
        }
        Ok(runs
            .iter()
            .map(|run| transaction_id(&self.job.name, run))
            .collect())
    }

    /// Reads the selected files not read on first sight, and returns every file's read in
    /// path order, as the files are listed.
    async fn read_locally(
        &self,
        reader: &Arc<SourceReader>,
        files: &[RawFile],
        mut already_read: HashMap<String, FileRead>,
    ) -> Result<Vec<FileRead>, JobsError> {
        let unread: Vec<RawFile> = files
            .iter()
            .filter(|file| !already_read.contains_key(&file.path))
            .cloned()
            .collect();
        let mut read_now = read_files(
            self.lake,
            Arc::clone(reader),
            &unread,
            self.options.session.parallelism(),
        )
        .await
        .map_err(self.engine())?
        .into_iter();
        Ok(files
            .iter()
            .filter_map(|file| already_read.remove(&file.path).or_else(|| read_now.next()))
            .collect())
    }

    /// Counts what each file gave into the summary, and checks that every row read is
    /// accounted for: written, rejected or a duplicate.
    fn account(
        &self,
        summary: &mut RunSummary,
        reads: Vec<FileRead>,
        files: &[RawFile],
        selection: Selection,
        rows_out: u64,
    ) -> Result<Accounted, JobsError> {
        let job = self.job;
        let mut dates: Vec<NaiveDate> = files.iter().map(|f| f.date).collect();
        dates.dedup();
        let date_of: HashMap<&str, NaiveDate> =
            files.iter().map(|f| (f.path.as_str(), f.date)).collect();
        summary.dates = dates;
        summary.files_skipped = selection.skipped.len() as u64;
        summary.skipped = selection.skipped;
        let mut accounted = Accounted::default();
        let mut valid_rows = 0;
        for read in reads {
            let FileRead {
                file,
                rows,
                rejected_rows,
                rejects: rejected,
                file_error,
                ..
            } = read;
            if let Some(md5) = selection.md5.get(&file) {
                let mark = ProcessedMark {
                    job: job.name.clone(),
                    run_id: summary.run_id.clone(),
                    processed_at: summary.started_at,
                    skipped_reason: file_error.clone(),
                };
                accounted.marks.push((md5.clone(), mark));
            }
            if let Some(reason) = file_error {
                tracing::warn!(job = %job.name, file = %file, reason = %reason, "raw file skipped");
                summary.files_skipped += 1;
                summary.skipped.push(SkippedFile {
                    file: file.clone(),
                    reason,
                });
            } else {
                summary.files_ingested += 1;
            }
            summary.rows_in += rows;
            summary.rows_rejected += rejected_rows;
            valid_rows += rows - rejected_rows;
            let raw_date = date_of.get(file.as_str()).copied();
            for batch in rejected {
                accounted
                    .rejects
                    .push(with_quarantine_columns(&batch, raw_date, &summary.run_id)?);
            }
        }
        summary.rows_out = rows_out;
        summary.rows_duplicate = valid_rows.checked_sub(rows_out).ok_or_else(|| {
            JobsError::Accounting {
                job: job.name.clone(),
                detail: format!(
                    "the steps made {rows_out} rows out of {valid_rows}; a join must not multiply rows"
                ),
            }
        })?;
        if summary.rows_in != summary.rows_out + summary.rows_rejected + summary.rows_duplicate {
            return Err(JobsError::Accounting {
                job: job.name.clone(),
                detail: format!(
                    "rows_in {} != rows_out {} + rows_rejected {} + rows_duplicate {}",
                    summary.rows_in,
                    summary.rows_out,
                    summary.rows_rejected,
                    summary.rows_duplicate
                ),
            });
        }
        Ok(accounted)
    }

    /// The quality gate over the output, recorded with the run. A run finishing an
    /// interrupted one passed its gate before its first commit, which is not asked again:
    /// the tables it committed to already changed what some rules measure.
    async fn gate(
        &self,
        ctx: &SessionContext,
        summary: &mut RunSummary,
        schema: &SchemaRef,
        batches: &[RecordBatch],
        started_at: DateTime<Utc>,
        resumed: bool,
    ) -> Result<bool, JobsError> {
        if resumed {
            return Ok(true);
        }
        let reference_time =
            end_of_date(self.options.date.or(summary.dates.last().copied())).unwrap_or(started_at);
        let report = self
            .check_quality(ctx, Arc::clone(schema), batches, reference_time)
            .await?;
        let passed = report.passed;
        summary.quality = report.into();
        self.record_quality(ctx, summary).await;
        Ok(passed)
    }

    /// Commits the target, then the quarantine, each recording the run's identity, and marks
    /// the ledger last. Both tables are checked before the first commit, so a table that
    /// refuses its rows fails the run with nothing published.
    async fn publish(
        &self,
        ctx: &SessionContext,
        summary: &mut RunSummary,
        publication: Publication<'_>,
        reader: &SourceReader,
    ) -> Result<(), JobsError> {
        let Publication {
            manifest,
            output,
            marks,
            replaced,
        } = publication;
        let transaction = manifest.transaction_id();
        let target = self
            .target_write(ctx)
            .with_transaction(&transaction)
            .replacing_transactions(replaced);
        let quarantine_schema = quarantine_schema(&reader.reject_schema());
        let quarantine = self
            .quarantine_write(ctx, &summary.dates, &manifest.files)
            .with_transaction(&transaction);
        target.check(&output.schema).await.map_err(self.engine())?;
        quarantine
            .check(&quarantine_schema)
            .await
            .map_err(self.engine())?;
        begin(self.lake, manifest).await?;
        failpoint("before_target_commit");
        let written = target
            .execute(output.schema, output.batches, self.catalog)
            .await
            .map_err(self.engine())?;
        summary.tables.push(written);
        failpoint("after_target_commit");
        let written = quarantine
            .execute(quarantine_schema, output.rejects, self.catalog)
            .await
            .map_err(self.engine())?;
        summary.tables.push(written);
        failpoint("after_quarantine_commit");
        FileLedger::new(self.lake.clone())
            .mark_processed(&self.job.name, marks)
            .await
            .map_err(self.engine())?;
        failpoint("after_ledger_marks");
        end(self.lake, manifest).await
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

    /// Runs a plan. The schema is the rows' own: the physical plan may be more precise about
    /// nullability than the logical one.
    async fn collect(
        &self,
        frame: DataFrame,
        doing: &str,
    ) -> Result<(SchemaRef, Vec<RecordBatch>), JobsError> {
        let planned: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let task = frame.task_ctx();
        let failed = |e| self.engine()(EngineError::datafusion(doing)(e));
        let plan = frame.create_physical_plan().await.map_err(failed)?;
        let batches = collect(Arc::clone(&plan), Arc::new(task))
            .await
            .map_err(failed)?;
        // With RUST_LOG=lakejob_jobs=debug, what each operator did and how long it took.
        tracing::debug!(job = %self.job.name, doing, plan = %DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true), "plan executed");
        let schema = batches.first().map_or(planned, RecordBatch::schema);
        Ok((schema, batches))
    }

    /// Runs the steps over `scan`'s files on the cluster. Returns what each file made (its
    /// rejects, left in the lake by the executors) and the steps' rows.
    async fn run_on_cluster(
        &self,
        cluster: &SessionContext,
        scan: RawScan,
        references: &HashMap<String, Reference>,
    ) -> Result<(Vec<FileRead>, (SchemaRef, Vec<RecordBatch>)), JobsError> {
        let table = RawFilesTable::try_new(scan.clone()).map_err(self.engine())?;
        let input = cluster.read_table(Arc::new(table)).map_err(|e| {
            self.engine()(EngineError::datafusion(
                "reading the raw files on the cluster",
            )(e))
        })?;
        let output = self.plan_steps(input, references, Rereads::Costly).await?;
        let address = self
            .options
            .session
            .cluster
            .as_ref()
            .map(|cluster| cluster.address())
            .unwrap_or_default();
        let collected = self
            .collect(
                output,
                &format!("running the steps on the cluster at {address}"),
            )
            .await;
        if collected.is_err()
            && let Some(outcomes) = &scan.outcomes
            && let Err(e) = self.lake.delete_prefix(outcomes).await
        {
            tracing::warn!(job = %self.job.name, error = %e, "the failed run's file outcomes were left in the lake");
        }
        let collected = collected?;
        let reads = collect_outcomes(self.lake, &scan)
            .await
            .map_err(self.engine())?;
        Ok((reads, collected))
    }

    /// Keeps the rule outcomes in `lakejob.quality_results`, passed or not. History, not the
    /// gate: a failure to append is reported and the run goes on.
    async fn record_quality(&self, ctx: &SessionContext, summary: &RunSummary) {
        let target = self.target();
        // Concurrent jobs append at once; TableWrite settles which of them creates the table.
        if let Err(e) = record_quality(self.lake, ctx, self.catalog, summary, &target).await {
            tracing::warn!(job = %self.job.name, error = %e, "quality results were not recorded");
        }
    }

    /// The rules of the job over the rows about to be written.
    async fn check_quality(
        &self,
        ctx: &SessionContext,
        schema: SchemaRef,
        batches: &[RecordBatch],
        reference_time: DateTime<Utc>,
    ) -> Result<QualityReport, JobsError> {
        register_rows(ctx, "__output", schema, batches.to_vec()).map_err(|e| {
            self.engine()(EngineError::datafusion(
                "staging the output for quality rules",
            )(e))
        })?;
        let baseline = prepare_rule_inputs(ctx, self.catalog, &self.job.quality, &self.target())
            .await
            .map_err(self.engine())?;
        lakejob_quality::Evaluation::new(ctx, "__output", &self.job.quality)
            .with_reference_time(reference_time)
            .with_baseline(baseline)
            .execute()
            .await
            .map_err(|source| JobsError::Quality {
                job: self.job.name.clone(),
                source,
            })
    }

    fn target(&self) -> String {
        format!("{}.{}", self.job.target.zone, self.job.target.table)
    }

    /// A job over catalog tables: the query's rows go through the steps, the quality gate
    /// and into the target. Reading the whole inputs again makes re-runs idempotent.
    async fn execute_query(
        &self,
        ctx: &SessionContext,
        plan_ctx: &SessionContext,
        query: &str,
        mut summary: RunSummary,
        started: Instant,
    ) -> Result<RunSummary, JobsError> {
        let job = self.job;
        let (reads, cluster) = match self.options.session.cluster {
            Some(_) => (DeltaReads::Portable, Some(plan_ctx)),
            None => (DeltaReads::Native, None),
        };
        lakejob_engine::query::register_catalog_tables(plan_ctx, self.catalog, reads)
            .await
            .map_err(self.engine())?;
        let references = self.load_references(ctx, cluster).await?;
        let input = match lakejob_quality::plan_job_sql(plan_ctx, query).await {
            Ok(frame) => frame,
            Err(e) => {
                let problem = Problem::new("query", e.strip_backtrace().to_string());
                return Err(self.invalid(vec![problem]));
            }
        };
        let rereads = match cluster {
            Some(_) => Rereads::Costly,
            None => Rereads::Cheap,
        };
        let output = self.plan_steps(input, &references, rereads).await?;
        let (output_schema, batches) = self.collect(output, "running the query and steps").await?;
        let rows: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        (summary.rows_in, summary.rows_out) = (rows, rows);
        let reference_time = end_of_date(self.options.date).unwrap_or(summary.started_at);
        let report = self
            .check_quality(ctx, Arc::clone(&output_schema), &batches, reference_time)
            .await?;
        let gate_passed = report.passed;
        summary.quality = report.into();
        self.record_quality(ctx, &summary).await;
        if gate_passed {
            let written = self
                .target_write(ctx)
                .execute(output_schema, batches, self.catalog)
                .await
                .map_err(self.engine())?;
            summary.tables.push(written);
        } else {
            summary.status = RunStatus::QualityFailed;
            tracing::warn!(job = %job.name, score = summary.quality.score, "quality gate failed; nothing was written");
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// Reads and checks the job's reference files here. With a cluster, the frames handed to
    /// the steps read the same files on the executors.
    async fn load_references(
        &self,
        ctx: &SessionContext,
        cluster: Option<&SessionContext>,
    ) -> Result<HashMap<String, Reference>, JobsError> {
        let readers = compile_references(ctx, self.job).map_err(|p| self.invalid(p))?;
        let mut frames = HashMap::new();
        for (name, path, reader) in readers {
            let contents = self.lake.read(&path).await.map_err(|e| match e {
                // A missing file is the job's to fix; any other storage failure is worth a retry.
                EngineError::Storage {
                    source: lakejob_engine::object_store::Error::NotFound { .. },
                    ..
                } => JobsError::Reference {
                    job: self.job.name.clone(),
                    reference: name.clone(),
                    reason: e.to_string(),
                },
                other => self.engine()(other),
            })?;
            let read = reader.read(&path, &contents).map_err(self.engine())?;
            let problem = read.file_error.clone().or_else(|| {
                (read.rejected_rows > 0).then(|| {
                    format!(
                        "{} row(s) do not match the declared columns",
                        read.rejected_rows
                    )
                })
            });
            if let Some(reason) = problem {
                return Err(JobsError::Reference {
                    job: self.job.name.clone(),
                    reference: name,
                    reason: format!("{path}: {reason}"),
                });
            }
            let frame = read_frame(ctx, reader.typed_schema(), read.valid)?;
            self.check_reference_keys(&name, &frame).await?;
            let elsewhere = match (cluster, self.job.references.iter().find(|r| r.name == name)) {
                (Some(cluster), Some(reference)) => {
                    let scan = RawScan {
                        lake: self.lake.root_url().clone(),
                        files: vec![path],
                        columns: reference.columns.clone(),
                        rules: Vec::new(),
                        format: reference.csv.clone().into(),
                        outcomes: None,
                        partitions: 1,
                    };
                    let table = RawFilesTable::try_new(scan).map_err(self.engine())?;
                    Some(cluster.read_table(Arc::new(table)).map_err(|e| {
                        self.engine()(EngineError::datafusion(format!(
                            "reading reference {name} on the cluster"
                        ))(e))
                    })?)
                }
                _ => None,
            };
            let reference = Reference::new(frame, elsewhere).await.map_err(|e| {
                self.engine()(EngineError::datafusion(format!(
                    "counting reference {name}"
                ))(e))
            })?;
            frames.insert(name, reference);
        }
        Ok(frames)
    }

    /// A reference joined on a key with two rows would multiply rows: refuse it.
    async fn check_reference_keys(&self, name: &str, frame: &DataFrame) -> Result<(), JobsError> {
        for step in &self.job.steps {
            let crate::spec::Step::Join(join) = step else {
                continue;
            };
            if join.reference != name {
                continue;
            }
            let keys = join.on.iter().map(|c| column(c)).collect();
            let duplicated = frame
                .clone()
                .aggregate(
                    keys,
                    vec![lakejob_engine::datafusion::functions_aggregate::count::count_all()],
                )
                .and_then(|counts| {
                    counts.filter(
                        column("count(*)").gt(lakejob_engine::datafusion::logical_expr::lit(1i64)),
                    )
                })
                .map_err(|e| {
                    self.engine()(EngineError::datafusion(format!(
                        "checking reference {name}"
                    ))(e))
                })?
                .count()
                .await
                .map_err(|e| {
                    self.engine()(EngineError::datafusion(format!(
                        "checking reference {name}"
                    ))(e))
                })?;
            if duplicated > 0 {
                return Err(JobsError::Reference {
                    job: self.job.name.clone(),
                    reference: name.to_string(),
                    reason: format!(
                        "{duplicated} key(s) on ({}) have more than one row",
                        join.on.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }

    /// The write of the output to the job's target.
    fn target_write<'s>(&'s self, ctx: &'s SessionContext) -> TableWrite<'s> {
        let target = &self.job.target;
        let mode = match target.mode {
            WriteModeSpec::Append => WriteMode::Append,
            WriteModeSpec::OverwritePartitions => WriteMode::OverwritePartitions,
            WriteModeSpec::Overwrite => WriteMode::Overwrite,
            WriteModeSpec::Merge => WriteMode::Merge {
                key: target.key.clone(),
                update_when: target.update_when.clone(),
            },
        };
        let write = TableWrite::new(
            self.lake,
            ctx,
            TableName::new(&target.zone, &target.table),
            target.format,
        )
        .with_partition_columns(target.partition_by.clone())
        .with_mode(mode);
        match &self.job.description {
            Some(description) => write.with_description(description.clone()),
            None => write,
        }
    }

    /// The write of rejected rows to `quarantine.<source>`, replacing what earlier runs
    /// rejected from the same files (in one commit), so re-runs never duplicate them and other
    /// files' rows stay.
    fn quarantine_write<'s>(
        &'s self,
        ctx: &'s SessionContext,
        dates: &[NaiveDate],
        files: &[String],
    ) -> TableWrite<'s> {
        let source_name = self.job.source.as_ref().map_or("", |s| s.name.as_str());
        let in_list = |values: Vec<String>| values.into_iter().map(lit).collect::<Vec<_>>();
        let predicate = col(QUARANTINE_PARTITION)
            .in_list(
                in_list(dates.iter().map(ToString::to_string).collect()),
                false,
            )
            .and(col(SOURCE_FILE).in_list(in_list(files.to_vec()), false));
        TableWrite::new(
            self.lake,
            ctx,
            TableName::new("quarantine", source_name),
            TableFormat::Delta,
        )
        .with_partition_columns(vec![QUARANTINE_PARTITION.to_string()])
        .with_mode(WriteMode::ReplaceWhere(predicate))
        .with_description(format!(
            "rows of raw/{source_name} rejected with their reason, file and line"
        ))
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

/// What a run publishes: the steps' rows and the rejected rows.
struct Output {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    rejects: Vec<RecordBatch>,
}

/// What a run commits, and what it records once committed.
struct Publication<'m> {
    manifest: &'m RunManifest,
    output: Output,
    /// The ledger marks of the files read, by MD5.
    marks: Vec<(String, ProcessedMark)>,
    /// Transactions of earlier runs whose appended rows the target commit replaces.
    replaced: Vec<String>,
}

/// What accounting for the files read leaves to publish.
#[derive(Default)]
struct Accounted {
    /// Rejected rows, with their quarantine columns.
    rejects: Vec<RecordBatch>,
    /// The ledger marks of the files read, by MD5.
    marks: Vec<(String, ProcessedMark)>,
}

fn output_rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// The end of a data date (midnight after it, UTC): the time freshness rules measure from.
pub(crate) fn end_of_date(date: Option<NaiveDate>) -> Option<DateTime<Utc>> {
    date.and_then(|d| d.succ_opt())
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

fn read_frame(
    ctx: &SessionContext,
    schema: SchemaRef,
    mut batches: Vec<RecordBatch>,
) -> Result<DataFrame, JobsError> {
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    ctx.read_batches(batches).map_err(|e| JobsError::Engine {
        job: String::new(),
        source: EngineError::datafusion("reading typed rows")(e),
    })
}

fn quarantine_schema(reject_schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = reject_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(QUARANTINE_RUN_ID, DataType::Utf8, false));
    fields.push(Field::new(QUARANTINE_PARTITION, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

fn with_quarantine_columns(
    batch: &RecordBatch,
    raw_date: Option<NaiveDate>,
    run_id: &str,
) -> Result<RecordBatch, JobsError> {
    let rows = batch.num_rows();
    let date = raw_date.map(|d| d.to_string()).unwrap_or_default();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![run_id; rows])));
    columns.push(Arc::new(StringArray::from(vec![date.as_str(); rows])));
    RecordBatch::try_new(quarantine_schema(&batch.schema()), columns).map_err(|e| {
        JobsError::Engine {
            job: String::new(),
            source: EngineError::datafusion("building quarantine rows")(e.into()),
        }
    })
}

fn json_bytes(value: &impl Serialize) -> Result<bytes::Bytes, JobsError> {
    serde_json::to_vec_pretty(value)
        .map(bytes::Bytes::from)
        .map_err(|e| JobsError::Summary(e.to_string()))
}

/// Registers rows as an in-memory table, so quality rules query them with SQL.
fn register_rows(
    ctx: &SessionContext,
    name: &str,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> lakejob_engine::datafusion::error::Result<()> {
    let table = lakejob_engine::datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
    ctx.register_table(name, Arc::new(table)).map(|_| ())
}
