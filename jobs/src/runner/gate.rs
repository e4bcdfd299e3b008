//! The gate: the job's quality rules over the rows about to be published (the staged files),
//! recorded whether they pass or not.

use chrono::{DateTime, Utc};
use lakejob_engine::EngineError;
use lakejob_engine::datafusion::prelude::{DataFrame, SessionContext};
use lakejob_quality::QualityReport;

use super::{JobRun, RunSummary, end_of_date};
use crate::JobsError;
use crate::quality_log::{prepare_rule_inputs, record_quality};

/// The name the rules know the output by.
const OUTPUT: &str = "__output";

impl<'a> JobRun<'a> {
    /// The quality gate over the output, recorded with the run. A run finishing an
    /// interrupted one passed its gate before its first commit, which is not asked again:
    /// the tables it committed to already changed what some rules measure.
    pub(super) async fn gate(
        &self,
        ctx: &SessionContext,
        summary: &mut RunSummary,
        rows: &DataFrame,
        started_at: DateTime<Utc>,
        resumed: bool,
    ) -> Result<bool, JobsError> {
        if resumed {
            return Ok(true);
        }
        let reference_time =
            end_of_date(self.options.date.or(summary.dates.last().copied())).unwrap_or(started_at);
        let report = self.check_quality(ctx, rows, reference_time).await?;
        let passed = report.passed;
        summary.quality = report.into();
        self.record_quality(ctx, summary).await;
        Ok(passed)
    }

    /// Keeps the rule outcomes in `lakejob.quality_results`, passed or not. History, not the
    /// gate: a failure to append is reported and the run goes on.
    pub(super) async fn record_quality(&self, ctx: &SessionContext, summary: &RunSummary) {
        let target = self.target();
        // Concurrent jobs append at once; TableWrite settles which of them creates the table.
        if let Err(e) = record_quality(self.lake, ctx, self.catalog, summary, &target).await {
            tracing::warn!(job = %self.job.name, error = %e, "quality results were not recorded");
        }
    }

    /// The rules of the job over the rows about to be written (the staged rows).
    pub(super) async fn check_quality(
        &self,
        ctx: &SessionContext,
        rows: &DataFrame,
        reference_time: DateTime<Utc>,
    ) -> Result<QualityReport, JobsError> {
        ctx.register_table(OUTPUT, rows.clone().into_view())
            .map_err(|e| {
                self.engine()(EngineError::datafusion(
                    "reading the staged output for quality rules",
                )(e))
            })?;
        let baseline = prepare_rule_inputs(ctx, self.catalog, &self.job.quality, &self.target())
            .await
            .map_err(self.engine())?;
        lakejob_quality::Evaluation::new(ctx, OUTPUT, &self.job.quality)
            .with_reference_time(reference_time)
            .with_baseline(baseline)
            .execute()
            .await
            .map_err(|source| JobsError::Quality {
                job: self.job.name.clone(),
                source,
            })
    }
}
