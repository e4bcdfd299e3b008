//! The quality report of each run, as JSON and as an HTML page with trend charts, under
//! `_lakejob/reports/<job>/`, next to the run log the trends are drawn from.

use chrono::{DateTime, Utc};
use lakejob_engine::lake::STATE_DIR;
use lakejob_engine::{EngineError, Lake};
use lakejob_quality::{ReportPage, RunPoint};
use serde::Serialize;

use crate::runner::{RunStatus, RunSummary};

/// How many runs the trend charts show, this one included.
const TREND_RUNS: usize = 30;

/// Where a run's quality reports are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportFiles {
    /// The JSON report (the quality section of the summary with the run's identity).
    pub json: String,
    /// The HTML page.
    pub html: String,
}

/// The folder of a job's run summaries; their names sort by start time.
pub(crate) fn run_log_dir(job: &str) -> String {
    format!("{STATE_DIR}/runs/{job}")
}

#[derive(Serialize)]
struct JsonReport<'a> {
    run_id: &'a str,
    job: &'a str,
    target: &'a str,
    started_at: DateTime<Utc>,
    status: RunStatus,
    rows_in: u64,
    rows_out: u64,
    rows_rejected: u64,
    rows_duplicate: u64,
    quality: &'a crate::QualitySummary,
}

/// Writes both reports of a finished run and returns their locations.
pub(crate) async fn write_reports(
    lake: &Lake,
    summary: &RunSummary,
    target: &str,
) -> Result<ReportFiles, EngineError> {
    let base = format!("{STATE_DIR}/reports/{}/{}", summary.job, summary.run_id);
    let json_path = format!("{base}.json");
    let html_path = format!("{base}.html");
    let json = JsonReport {
        run_id: &summary.run_id,
        job: &summary.job,
        target,
        started_at: summary.started_at,
        status: summary.status,
        rows_in: summary.rows_in,
        rows_out: summary.rows_out,
        rows_rejected: summary.rows_rejected,
        rows_duplicate: summary.rows_duplicate,
        quality: &summary.quality,
    };
    let json_bytes = serde_json::to_vec_pretty(&json)
        .map_err(|e| EngineError::Task(format!("serialising the quality report of {base}: {e}")))?;
    let mut history = past_runs(lake, &summary.job, &summary.run_id).await?;
    history.push(RunPoint {
        run_id: summary.run_id.clone(),
        started_at: summary.started_at,
        score: summary.quality.score,
        rows_out: summary.rows_out,
        gate_passed: summary.status != RunStatus::QualityFailed,
    });
    let page = ReportPage {
        job: &summary.job,
        target,
        run_id: &summary.run_id,
        started_at: summary.started_at,
        status: summary.status.as_str(),
        rows: [
            ("rows in", summary.rows_in),
            ("rows out", summary.rows_out),
            ("rejected", summary.rows_rejected),
            ("duplicates", summary.rows_duplicate),
        ],
        score: summary.quality.score,
        min_score: summary.quality.min_score,
        rules: &summary.quality.rules,
        history: &history,
    };
    lake.write(&json_path, json_bytes.into()).await?;
    lake.write(&html_path, page.render().into()).await?;
    Ok(ReportFiles {
        json: lake.object_url(&json_path)?.to_string(),
        html: lake.object_url(&html_path)?.to_string(),
    })
}

/// The latest earlier runs that evaluated rules, oldest first, from the run log.
async fn past_runs(lake: &Lake, job: &str, this_run: &str) -> Result<Vec<RunPoint>, EngineError> {
    let dir = run_log_dir(job);
    let names = lake.list_relative(&dir).await?;
    let mut points = Vec::new();
    for name in names.iter().rev() {
        if points.len() + 1 >= TREND_RUNS {
            break;
        }
        if name.trim_end_matches(".json") == this_run {
            continue;
        }
        let bytes = lake.read(&format!("{dir}/{name}")).await?;
        // A summary from an older release or a torn write is left out of the chart, not fatal.
        let Ok(run) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
            continue;
        };
        let rules = run["quality"]["rules"].as_array().map_or(0, Vec::len);
        let started_at = run["started_at"]
            .as_str()
            .and_then(|t| t.parse::<DateTime<Utc>>().ok());
        let (Some(started_at), Some(score), true) =
            (started_at, run["quality"]["score"].as_f64(), rules > 0)
        else {
            continue;
        };
        points.push(RunPoint {
            run_id: name.trim_end_matches(".json").to_string(),
            started_at,
            score,
            rows_out: run["rows_out"].as_u64().unwrap_or(0),
            gate_passed: run["status"].as_str() != Some(RunStatus::QualityFailed.as_str()),
        });
    }
    points.reverse();
    Ok(points)
}
