//! lakejob's jobs: the YAML job spec, its validation, the registry of shipped and user jobs,
//! and the runner.

mod check;
mod init;
mod pipeline;
mod plan;
mod quality_log;
mod recovery;
#[cfg(test)]
mod reference;
mod registry;
mod render;
mod reports;
mod runner;
mod selection;
mod spec;
mod transaction;
mod validate;

pub use check::check_table;
pub use init::{InferredJob, InitJob, SAMPLE_BYTES};
pub use lakejob_quality::{Outcome, QualityReport, format_observed, parse_duration};
pub use pipeline::{
    PipelineRun, PipelineSpec, PipelineSummary, SHIPPED_PIPELINES, StageSpec, StageStatus,
    StageSummary, is_pipeline_file, parse_pipeline, validate_pipeline,
};
pub use plan::{Problem, Rereads, StepsError, plan_steps};
pub use quality_log::quality_results_table;
pub use recovery::{DropMetrics, Recovery, ReleaseMetrics, ReleasedFile, RestoreSummary};
pub use registry::{
    JobEntry, JobRegistry, NAMED_QUERIES, PipelineEntry, Runnable, SHIPPED_JOBS, job_files_in,
    named_query,
};
pub use render::{ALERT_SCORE, render_asl};
pub use reports::ReportFiles;
pub use runner::{
    JobRun, QUARANTINE_PARTITION, QualitySummary, RunError, RunOptions, RunStatus, RunSummary,
    SkippedFile,
};
pub use spec::{
    DedupeStep, DeriveColumn, FormatSpec, IncrementalInput, IncrementalSpec, JobSpec, JoinStep,
    MaintenanceSpec, ReferenceSpec, SourceSpec, Step, TargetSpec, WriteModeSpec,
};
pub use validate::{job_file_texts, parse_job, source_files, validate_files, validate_job};

use lakejob_engine::{EngineError, ExitClass};

/// Errors of jobs: loading, validating and running them.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// A job file is not valid YAML for the spec (unknown key, wrong type, missing field).
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: String,
        /// serde's message, with line and column.
        message: String,
    },
    /// A job file parsed but is not a valid job.
    #[error("{file}: job {job}: {}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join(&format!("\n{file}: job {job}: ")))]
    Invalid {
        /// The file.
        file: String,
        /// The job.
        job: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
    /// No job has this name.
    #[error("no job named '{name}'; known jobs: {}", known.join(", "))]
    UnknownJob {
        /// The name asked for.
        name: String,
        /// The jobs there are.
        known: Vec<String>,
    },
    /// No job reads the source named.
    #[error(
        "no job reads the source '{name}'; sources jobs read: {}. A source of your own needs a job: `lakejob init {name} <sample files>` writes one",
        known.join(", ")
    )]
    UnknownSource {
        /// The name asked for.
        name: String,
        /// The sources jobs read.
        known: Vec<String>,
    },
    /// No pipeline has this name.
    #[error(
        "no pipeline named '{name}'; known pipelines: {}. A pipeline of your own is a YAML file with `stages` in the --jobs folder (or its pipelines/ subfolder)",
        known.join(", ")
    )]
    UnknownPipeline {
        /// The name asked for.
        name: String,
        /// The pipelines there are.
        known: Vec<String>,
    },
    /// No job writes the table asked about.
    #[error("no job writes {table}; the jobs write: {}", known.join(", "))]
    NoJobWrites {
        /// The table.
        table: String,
        /// The tables jobs write.
        known: Vec<String>,
    },
    /// Two job files declare the same name.
    #[error("job {name} is declared twice: in {first} and in {second}")]
    DuplicateJob {
        /// The job.
        name: String,
        /// One file.
        first: String,
        /// The other file.
        second: String,
    },
    /// A job file or folder cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A reference table is missing or not clean.
    #[error("job {job}: reference {reference}: {reason}")]
    Reference {
        /// The job.
        job: String,
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// Quality rules could not be evaluated.
    #[error("job {job}: {source}")]
    Quality {
        /// The job.
        job: String,
        /// The quality error.
        source: lakejob_quality::QualityError,
    },
    /// Rows were not all accounted for: a bug, never the user's data.
    #[error("job {job}: rows not accounted for: {detail}")]
    Accounting {
        /// The job.
        job: String,
        /// The counts.
        detail: String,
    },
    /// The engine failed.
    #[error("job {job}: {source}")]
    Engine {
        /// The job.
        job: String,
        /// The engine's error.
        source: EngineError,
    },
    /// Reprocessing an append target must read every file of the earlier runs it replaces.
    #[error(
        "job {job}: --reprocess replaces the rows that run(s) {} appended, but they also read {}, which this run does not; reprocess those files too (their dates, or no --date)",
        runs.join(", "),
        files.join(", ")
    )]
    Reprocess {
        /// The job.
        job: String,
        /// The earlier runs.
        runs: Vec<String>,
        /// Their files this run leaves out.
        files: Vec<String>,
    },
    /// The record an interrupted run left to be finished cannot be read or written.
    #[error(
        "job {job}: the record of an interrupted run, {path}, cannot be used: {reason}. Until it is removed, the job cannot finish that run (its tables may lack some of its rows)"
    )]
    Manifest {
        /// The job.
        job: String,
        /// The record, relative to the lake root.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// More of the input was bad than the source tolerates: nothing was published.
    #[error(
        "job {job}: {detail}. Nothing was published and the files stay unprocessed, so the next run reads them again: fix the job (or the files), or raise source.tolerance"
    )]
    TooMuchBadInput {
        /// The job.
        job: String,
        /// What was bad, how much, and the commonest reasons.
        detail: String,
        /// The run's counts.
        counts: Box<RunSummary>,
    },
    /// Files asked for by name that the ledger does not hold.
    #[error(
        "the file ledger holds no file named {}: name a file by its MD5, its path in the lake (raw/<source>/date=.../<file>, quarantine/files/...) or the path it was ingested from; `lakejob query \"SELECT md5, lake_path, status, reason FROM lakejob.file_ledger\"` lists them",
        names.join(", ")
    )]
    UnknownFiles {
        /// The names.
        names: Vec<String>,
    },
    /// The file ledger could not be read or changed.
    #[error("the file ledger: {source}")]
    Ledger {
        /// The engine's error.
        source: EngineError,
    },
    /// A run failed; its summary (`status: failed`, with the error) is kept in the run log.
    #[error("{source}")]
    RunFailed {
        /// The failed run's summary.
        summary: Box<RunSummary>,
        /// Why it failed.
        source: Box<JobsError>,
    },
    /// A value the data holds made a step fail (a CAST that overflows, a division by zero):
    /// the same on every retry, so bad input.
    #[error(
        "job {job}: {source}. The data made a step fail, in one of: {}. Fix the expression (TRY_CAST gives NULL instead of failing) or the data; nothing was published",
        steps.join("; ")
    )]
    StepData {
        /// The job.
        job: String,
        /// The steps that may have raised it.
        steps: Vec<String>,
        /// The engine's error.
        source: Box<EngineError>,
    },
    /// `lakejob init` cannot infer from a sample file, or cannot write the job.
    #[error("{file}: {reason}")]
    Init {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The summary could not be serialised.
    #[error("cannot write the run summary: {0}")]
    Summary(String),
}

impl JobsError {
    /// Bad input (the job, its data or its tables must change) or retryable.
    pub fn exit_class(&self) -> ExitClass {
        ExitClass::of_failure(self.is_bad_input())
    }

    /// True when the user's input or configuration is at fault (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            JobsError::Parse { .. }
            | JobsError::Invalid { .. }
            | JobsError::UnknownJob { .. }
            | JobsError::UnknownPipeline { .. }
            | JobsError::UnknownSource { .. }
            | JobsError::NoJobWrites { .. }
            | JobsError::DuplicateJob { .. }
            | JobsError::Reference { .. }
            | JobsError::Quality { .. }
            | JobsError::Manifest { .. }
            | JobsError::TooMuchBadInput { .. }
            | JobsError::UnknownFiles { .. }
            | JobsError::Init { .. }
            | JobsError::StepData { .. }
            | JobsError::Reprocess { .. } => true,
            JobsError::Engine { source, .. } => source.is_bad_input(),
            JobsError::RunFailed { source, .. } => source.is_bad_input(),
            JobsError::Ledger { source } => source.is_bad_input(),
            JobsError::Io { .. } | JobsError::Accounting { .. } | JobsError::Summary(_) => false,
        }
    }
}
