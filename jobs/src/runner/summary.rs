//! What a run did: the summary printed with `--output json` and kept in the run log.

use chrono::{DateTime, NaiveDate, Utc};
use lakejob_engine::{ExitClass, WriteMetrics};
use lakejob_quality::QualityReport;
use serde::Serialize;

use crate::reports::ReportFiles;

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
    /// How a run that ended so exits. A failed run that returns its summary rather than its
    /// error is one the engine may finish on a retry.
    pub fn exit_class(self) -> ExitClass {
        match self {
            RunStatus::Succeeded => ExitClass::Succeeded,
            RunStatus::Failed => ExitClass::Retryable,
            RunStatus::QualityFailed => ExitClass::QualityFailed,
        }
    }

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
    /// The first day an incremental query job recomputed (every later day too); absent
    /// when it recomputed all of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recomputed_from: Option<NaiveDate>,
    /// Why a failed run failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<RunError>,
}

/// Why a run failed, for machines: the class decides whether retrying can help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunError {
    /// Whether retrying can help: `retryable` or `bad_input`.
    pub class: ExitClass,
    /// The error, as printed.
    pub message: String,
}
