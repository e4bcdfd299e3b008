//! Incremental query jobs: a run recomputes the target's latest days, not all of history.
//! The inputs the job names are narrowed to the days those need, the output to those days,
//! and the write replaces exactly those days of the target.

use chrono::{DateTime, Days, NaiveDate};
use lakejob_engine::datafusion::arrow::datatypes::DataType;
use lakejob_engine::datafusion::common::{ScalarValue, TableReference};
use lakejob_engine::datafusion::error::DataFusionError;
use lakejob_engine::datafusion::functions_aggregate::expr_fn::max;
use lakejob_engine::datafusion::prelude::{DataFrame, Expr, SessionContext, ident, lit};
use lakejob_engine::{EngineError, TableName};

use super::JobRun;
use crate::JobsError;
use crate::plan::Problem;
use crate::spec::IncrementalSpec;

/// The days an incremental run recomputes: `first_day` and every later one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Window {
    pub(super) first_day: NaiveDate,
}

impl<'a> JobRun<'a> {
    /// The days this run recomputes, or `None` for all of them: a job that is not
    /// incremental, `--full-refresh`, or a target with no day yet.
    pub(super) async fn incremental_window(
        &self,
        ctx: &SessionContext,
    ) -> Result<Option<Window>, JobsError> {
        let Some(spec) = &self.job.incremental else {
            return Ok(None);
        };
        if self.options.full_refresh {
            return Ok(None);
        }
        let target = &self.job.target;
        let name = TableName::new(&target.zone, &target.table);
        let Some(table) = self.catalog.table(&name).await.map_err(self.engine())? else {
            return Ok(None);
        };
        if !table.definition.partition_columns.contains(&spec.date) {
            return Err(self.invalid(vec![Problem::new(
                "incremental.date",
                format!(
                    "{name} is not partitioned by {}, so its days cannot be replaced one by one; \
                     `lakejob drop {name}` and run again to rebuild it as the job declares",
                    spec.date
                ),
            )]));
        }
        let Some(newest) = self.newest_day(ctx, &name.to_string(), &spec.date).await? else {
            return Ok(None);
        };
        // The first day the target has not seen, or the run's date when it goes back.
        let Some(next) = newest.succ_opt() else {
            return Ok(None);
        };
        let from = self.options.date.map_or(next, |date| date.min(next));
        Ok(from
            .checked_sub_days(Days::new(spec.lookback_days.into()))
            .map(|first_day| Window { first_day }))
    }

    /// Replaces each dated input of the query, in `ctx`, by its rows from the days the
    /// window needs: its first day less the input's `history_days`.
    pub(super) async fn narrow_inputs(
        &self,
        ctx: &SessionContext,
        spec: &IncrementalSpec,
        window: Window,
    ) -> Result<(), JobsError> {
        for (index, input) in spec.inputs.iter().enumerate() {
            let field = format!("incremental.inputs[{index}]");
            let Some(from) = window
                .first_day
                .checked_sub_days(Days::new(input.history_days.into()))
            else {
                continue;
            };
            let reference = TableReference::from(input.table.as_str());
            let rows = ctx.table(reference.clone()).await.map_err(|e| {
                self.invalid(vec![Problem::new(
                    format!("{field}.table"),
                    format!("{}: {}", input.table, e.strip_backtrace()),
                )])
            })?;
            self.date_column(&rows, &input.table, &input.date, &format!("{field}.date"))?;
            let narrowed = rows
                .filter(ident(&input.date).gt_eq(day(from)))
                .and_then(|rows| {
                    ctx.deregister_table(reference.clone())?;
                    ctx.register_table(reference, rows.into_view())
                });
            narrowed.map_err(|e| {
                self.engine()(EngineError::datafusion(format!(
                    "reading {} from {from} on",
                    input.table
                ))(e))
            })?;
        }
        Ok(())
    }

    /// The output's rows of the window's days, and the predicate the write replaces.
    pub(super) fn window_rows(
        &self,
        output: DataFrame,
        spec: &IncrementalSpec,
        window: Window,
    ) -> Result<(DataFrame, Expr), JobsError> {
        self.date_column(&output, "the output", &spec.date, "incremental.date")?;
        let predicate = ident(&spec.date).gt_eq(day(window.first_day));
        let rows = output.filter(predicate.clone()).map_err(|e| {
            self.engine()(EngineError::datafusion(format!(
                "keeping the output from {} on",
                window.first_day
            ))(e))
        })?;
        Ok((rows, predicate))
    }

    /// The newest day in `table`'s `column`, `None` when it holds no row.
    async fn newest_day(
        &self,
        ctx: &SessionContext,
        table: &str,
        column: &str,
    ) -> Result<Option<NaiveDate>, JobsError> {
        let rows = ctx
            .table(TableReference::from(table))
            .await
            .map_err(self.engine_at(format!("reading {table}")))?;
        self.date_column(&rows, table, column, "incremental.date")?;
        let newest = rows
            .aggregate(vec![], vec![max(ident(column))])
            .map_err(self.engine_at(format!("finding the newest {column} of {table}")))?
            .collect()
            .await
            .map_err(self.engine_at(format!("finding the newest {column} of {table}")))?;
        let value = match newest.first() {
            Some(batch) if batch.num_rows() > 0 => ScalarValue::try_from_array(batch.column(0), 0)
                .map_err(self.engine_at(format!("reading the newest {column} of {table}")))?,
            _ => ScalarValue::Date32(None),
        };
        Ok(match value {
            ScalarValue::Date32(Some(days)) => {
                epoch().checked_add_signed(chrono::TimeDelta::days(days.into()))
            }
            _ => None,
        })
    }

    /// Refuses a `column` of `rows` that is missing or not a DATE, naming `field`.
    fn date_column(
        &self,
        rows: &DataFrame,
        what: &str,
        column: &str,
        field: &str,
    ) -> Result<(), JobsError> {
        let problem = match rows.schema().field_with_unqualified_name(column) {
            Ok(found) if found.data_type() == &DataType::Date32 => return Ok(()),
            Ok(found) => format!(
                "{what}'s column {column} is {}, not a date: CAST it AS DATE",
                found.data_type()
            ),
            Err(_) => format!("{what} has no column {column}"),
        };
        Err(self.invalid(vec![Problem::new(field, problem)]))
    }

    fn engine_at(&self, doing: String) -> impl FnOnce(DataFusionError) -> JobsError + '_ {
        move |e| self.engine()(EngineError::datafusion(doing)(e))
    }
}

/// Day 0 of DATE values.
fn epoch() -> NaiveDate {
    DateTime::UNIX_EPOCH.date_naive()
}

/// A day as a DATE literal.
fn day(date: NaiveDate) -> Expr {
    let days = date.signed_duration_since(epoch()).num_days();
    lit(ScalarValue::Date32(i32::try_from(days).ok()))
}
