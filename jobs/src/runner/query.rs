//! A query job: its SQL over the catalog's tables is the input; the steps, the gate and the
//! target follow as for a source job.

use std::time::Instant;

use lakejob_engine::WriteMode;
use lakejob_engine::datafusion::prelude::SessionContext;
use lakejob_engine::query::DeltaReads;

use super::{JobRun, RunStatus, RunSummary, end_of_date};
use crate::JobsError;
use crate::plan::{Problem, Rereads};

/// What a query job reads, and where it stages its output.
pub(super) struct QueryInput<'q> {
    /// The session that plans the query: the cluster's, when the run has one.
    pub(super) plan_ctx: &'q SessionContext,
    pub(super) query: &'q str,
    /// The run's staging folder, relative to the lake root.
    pub(super) staging: &'q str,
}

impl<'a> JobRun<'a> {
    /// A job over catalog tables: the query's rows go through the steps, the quality gate
    /// and into the target. Reading the whole inputs again (or, for an incremental job, the
    /// days its window needs) makes re-runs idempotent.
    pub(super) async fn execute_query(
        &self,
        ctx: &SessionContext,
        query: QueryInput<'_>,
        mut summary: RunSummary,
        started: Instant,
    ) -> Result<RunSummary, JobsError> {
        let job = self.job;
        let QueryInput {
            plan_ctx,
            query,
            staging,
        } = query;
        let (reads, cluster) = match self.options.session.cluster {
            Some(_) => (DeltaReads::Portable, Some(plan_ctx)),
            None => (DeltaReads::Native, None),
        };
        lakejob_engine::query::register_catalog_tables(plan_ctx, self.catalog, reads)
            .await
            .map_err(self.engine())?;
        let window = self.incremental_window(plan_ctx).await?;
        if let (Some(spec), Some(window)) = (&job.incremental, window) {
            self.narrow_inputs(plan_ctx, spec, window).await?;
        }
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
        let (output, replaced) = match (&job.incremental, window) {
            (Some(spec), Some(window)) => {
                let (rows, predicate) = self.window_rows(output, spec, window)?;
                summary.recomputed_from = Some(window.first_day);
                (rows, Some(predicate))
            }
            _ => (output, None),
        };
        let write = match replaced {
            Some(predicate) => self
                .target_write(ctx)
                .with_mode(WriteMode::ReplaceWhere(predicate)),
            None => self.target_write(ctx),
        };
        let staged = self.stage(ctx, &write, output, staging).await?;
        (summary.rows_in, summary.rows_out) = (staged.rows(), staged.rows());
        let reference_time = end_of_date(self.options.date).unwrap_or(summary.started_at);
        let report = self
            .check_quality(ctx, staged.frame(), reference_time)
            .await?;
        let gate_passed = report.passed;
        summary.quality = report.into();
        self.record_quality(ctx, &summary).await;
        if gate_passed {
            let written = write
                .execute_staged(staged, self.catalog)
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
}
