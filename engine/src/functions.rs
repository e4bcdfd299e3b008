//! SQL functions lakejob adds to DataFusion's, registered in every session (local, and on a
//! cluster's scheduler and executors).
//!
//! `session_number(time, gap) OVER (PARTITION BY visitor ORDER BY time, ...)` numbers the
//! sessions of each partition: 1 for the first row, and one more at each row whose time is
//! more than `gap` (a constant interval of days, hours, minutes or seconds) after the previous
//! row with a time. Rows without a time stay in the session in progress. It does in one
//! streaming window function what SQL does in two (`lag` to flag each session's first row, then
//! a running `sum` of the flags), each of which DataFusion evaluates row by row.

use std::ops::Range;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array};
use datafusion::arrow::datatypes::{
    DataType, Field, FieldRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use datafusion::common::{Result as DfResult, ScalarValue, exec_err, plan_err};
use datafusion::logical_expr::function::{
    ExpressionArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs,
};
use datafusion::logical_expr::{
    PartitionEvaluator, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Literal;
use datafusion::prelude::SessionContext;

/// The window functions lakejob adds.
pub fn window_functions() -> Vec<Arc<WindowUDF>> {
    vec![Arc::new(WindowUDF::from(SessionNumber::new()))]
}

/// Registers lakejob's functions in `context`.
pub fn register_functions(context: &SessionContext) {
    for function in window_functions() {
        context.register_udwf(function.as_ref().clone());
    }
}

/// `session_number(time, gap)`: see the module documentation.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SessionNumber {
    signature: Signature,
}

impl SessionNumber {
    const NAME: &'static str = "session_number";

    fn new() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl WindowUDFImpl for SessionNumber {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// Only the times are evaluated per row; the gap is read once from its literal.
    fn expressions(&self, expr_args: ExpressionArgs) -> Vec<Arc<dyn PhysicalExpr>> {
        expr_args.input_exprs().iter().take(1).cloned().collect()
    }

    fn partition_evaluator(
        &self,
        args: PartitionEvaluatorArgs,
    ) -> DfResult<Box<dyn PartitionEvaluator>> {
        let (Some(time), Some(gap)) = (args.input_fields().first(), args.input_exprs().get(1))
        else {
            return plan_err!("{} takes a time and a gap", Self::NAME);
        };
        let Some(gap) = gap.downcast_ref::<Literal>() else {
            return plan_err!(
                "{}'s gap must be a constant such as INTERVAL '30 minutes', not {gap}",
                Self::NAME
            );
        };
        let DataType::Timestamp(unit, _) = time.data_type() else {
            return plan_err!(
                "{} numbers sessions of timestamps, not of {}",
                Self::NAME,
                time.data_type()
            );
        };
        Ok(Box::new(SessionNumberEvaluator {
            gap: gap_in(gap.value(), *unit)?,
            session: 1,
            previous: None,
        }))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> DfResult<FieldRef> {
        match field_args.input_fields() {
            [time, gap]
                if matches!(time.data_type(), DataType::Timestamp(..))
                    && matches!(
                        gap.data_type(),
                        DataType::Interval(_) | DataType::Duration(_)
                    ) =>
            {
                Ok(Arc::new(Field::new(
                    field_args.name(),
                    DataType::Int64,
                    false,
                )))
            }
            fields => plan_err!(
                "{} takes a timestamp and a constant interval (session_number(event_time, \
                 INTERVAL '30 minutes')), not ({})",
                Self::NAME,
                fields
                    .iter()
                    .map(|f| f.data_type().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

const NANOS_PER_DAY: i128 = 86_400 * 1_000_000_000;

/// The gap in the times' unit, rounded down: for whole numbers of the unit, "more than the
/// gap" is the same either way.
fn gap_in(gap: &ScalarValue, unit: TimeUnit) -> DfResult<u64> {
    let nanos: i128 = match gap {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            i128::from(v.days) * NANOS_PER_DAY + i128::from(v.nanoseconds)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            i128::from(v.days) * NANOS_PER_DAY + i128::from(v.milliseconds) * 1_000_000
        }
        ScalarValue::DurationSecond(Some(v)) => i128::from(*v) * 1_000_000_000,
        ScalarValue::DurationMillisecond(Some(v)) => i128::from(*v) * 1_000_000,
        ScalarValue::DurationMicrosecond(Some(v)) => i128::from(*v) * 1_000,
        ScalarValue::DurationNanosecond(Some(v)) => i128::from(*v),
        other => {
            return plan_err!(
                "{}'s gap must be a fixed length of time (days, hours, minutes, seconds), not {other}",
                SessionNumber::NAME
            );
        }
    };
    if nanos <= 0 {
        return plan_err!(
            "{}'s gap must be longer than nothing, not {gap}",
            SessionNumber::NAME
        );
    }
    let per_unit: i128 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    Ok(u64::try_from(nanos / per_unit).unwrap_or(u64::MAX))
}

#[derive(Debug)]
struct SessionNumberEvaluator {
    /// The gap in the times' unit.
    gap: u64,
    /// The session of the last row numbered.
    session: i64,
    /// The time of the last row numbered that had one.
    previous: Option<i64>,
}

impl SessionNumberEvaluator {
    /// Numbers the next row of the partition.
    fn step(&mut self, time: Option<i64>) -> i64 {
        if let Some(time) = time {
            // The distance both ways, so a descending order cuts at the same gaps.
            if self
                .previous
                .is_some_and(|before| time.abs_diff(before) > self.gap)
            {
                self.session += 1;
            }
            self.previous = Some(time);
        }
        self.session
    }
}

/// The time of `row`, in its array's unit.
fn time_at(times: &dyn Array, row: usize) -> DfResult<Option<i64>> {
    if times.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match times.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            times.as_primitive::<TimestampSecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            times.as_primitive::<TimestampMillisecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            times.as_primitive::<TimestampMicrosecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            times.as_primitive::<TimestampNanosecondType>().value(row)
        }
        other => return exec_err!("{} was given {other}", SessionNumber::NAME),
    }))
}

fn times_of(values: &[ArrayRef]) -> DfResult<&ArrayRef> {
    match values.first() {
        Some(times) => Ok(times),
        None => exec_err!("{} was given no times", SessionNumber::NAME),
    }
}

impl PartitionEvaluator for SessionNumberEvaluator {
    /// The whole partition at once: in `WindowAggExec`, when a function sharing the window
    /// cannot stream.
    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> DfResult<ArrayRef> {
        let times = times_of(values)?;
        let numbers = (0..num_rows)
            .map(|row| Ok(self.step(time_at(times.as_ref(), row)?)))
            .collect::<DfResult<Int64Array>>()?;
        Ok(Arc::new(numbers))
    }

    /// One row, in order, as the partition streams by (`BoundedWindowAggExec`). Measured
    /// against `evaluate_all` over whole partitions for the sessions job at scale 1: the same
    /// time, a quarter less memory, and bounded under a memory limit.
    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> DfResult<ScalarValue> {
        let time = time_at(times_of(values)?.as_ref(), range.start)?;
        Ok(ScalarValue::Int64(Some(self.step(time))))
    }

    fn supports_bounded_execution(&self) -> bool {
        true
    }

    /// A row's number depends on the rows before it only.
    fn is_causal(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{RecordBatch, StringArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::{Int64Type, Schema};
    use datafusion::prelude::SessionConfig;

    /// The events, in batches of two rows so partitions span batches.
    fn context() -> DfResult<SessionContext> {
        let minute = 60_000_000;
        let events = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("visitor", DataType::Utf8, false),
                Field::new(
                    "at",
                    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                    true,
                ),
            ])),
            vec![
                Arc::new(StringArray::from(vec![
                    "a", "a", "a", "a", "b", "a", "b", "b",
                ])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        Some(0),
                        Some(30 * minute), // exactly the gap: same session
                        Some(61 * minute), // one minute over: a new one
                        None,              // no time: stays in it
                        Some(5 * minute),
                        Some(200 * minute),
                        Some(10 * minute),
                        None,
                    ])
                    .with_timezone("UTC"),
                ),
            ],
        )?;
        let context = SessionContext::new_with_config(SessionConfig::new().with_batch_size(2));
        register_functions(&context);
        context.register_batch("events", events)?;
        Ok(context)
    }

    async fn numbers(context: &SessionContext, sql: &str) -> DfResult<Vec<(String, i64)>> {
        let batches = context.sql(sql).await?.collect().await?;
        let mut rows = Vec::new();
        for batch in batches {
            let visitors = batch.column(0).as_string::<i32>();
            let numbers = batch.column(1).as_primitive::<Int64Type>();
            assert_eq!(numbers.null_count(), 0);
            for row in 0..batch.num_rows() {
                rows.push((visitors.value(row).to_string(), numbers.value(row)));
            }
        }
        Ok(rows)
    }

    #[tokio::test]
    async fn sessions_are_cut_at_gaps_longer_than_the_given_one_per_partition() -> DfResult<()> {
        let expected = [
            ("a", 1),
            ("a", 1),
            ("a", 2),
            ("a", 3),
            ("a", 3),
            ("b", 1),
            ("b", 1),
            ("b", 1),
        ];
        let expected: Vec<(String, i64)> =
            expected.iter().map(|(v, n)| (v.to_string(), *n)).collect();
        let rows = numbers(
            &context()?,
            "SELECT visitor, session_number(at, INTERVAL '30 minutes') \
               OVER (PARTITION BY visitor ORDER BY at) AS n \
             FROM events ORDER BY visitor, at NULLS LAST",
        )
        .await?;
        assert_eq!(rows, expected);
        Ok(())
    }

    /// The operator a query's window runs in.
    async fn window_operator(context: &SessionContext, sql: &str) -> DfResult<&'static str> {
        let plan = context
            .sql(&format!("EXPLAIN {sql}"))
            .await?
            .collect()
            .await?;
        let text = datafusion::arrow::util::pretty::pretty_format_batches(&plan)?.to_string();
        Ok(if text.contains("BoundedWindowAggExec") {
            "BoundedWindowAggExec"
        } else if text.contains("WindowAggExec") {
            "WindowAggExec"
        } else {
            "neither"
        })
    }

    #[tokio::test]
    async fn streamed_or_over_whole_partitions_the_numbers_are_those_of_lag_and_sum() -> DfResult<()>
    {
        let context = context()?;
        let sql = numbers(
            &context,
            "SELECT visitor, sum(starts) OVER (PARTITION BY visitor ORDER BY at DESC \
               ROWS UNBOUNDED PRECEDING) AS n \
             FROM (SELECT visitor, at, CASE WHEN lag(at) OVER w IS NULL \
                     OR lag(at) OVER w - at > INTERVAL '1 hour' THEN 1 ELSE 0 END AS starts \
                   FROM events WHERE at IS NOT NULL \
                   WINDOW w AS (PARTITION BY visitor ORDER BY at DESC)) \
             ORDER BY visitor, at DESC",
        )
        .await?;
        // Alone it streams; in one window with a function that needs the whole partition
        // (`cume_dist`) it is evaluated over whole partitions.
        let streamed = "SELECT visitor, session_number(at, INTERVAL '1 hour') OVER w AS n \
             FROM events WHERE at IS NOT NULL \
             WINDOW w AS (PARTITION BY visitor ORDER BY at DESC) ORDER BY visitor, at DESC";
        let whole = "SELECT visitor, session_number(at, INTERVAL '1 hour') OVER w AS n, \
               cume_dist() OVER w AS c \
             FROM events WHERE at IS NOT NULL \
             WINDOW w AS (PARTITION BY visitor ORDER BY at DESC) ORDER BY visitor, at DESC";
        for (query, operator) in [(streamed, "BoundedWindowAggExec"), (whole, "WindowAggExec")] {
            assert_eq!(window_operator(&context, query).await?, operator, "{query}");
            assert_eq!(numbers(&context, query).await?, sql, "{query}");
        }
        Ok(())
    }

    #[tokio::test]
    async fn gaps_that_are_not_a_fixed_positive_constant_are_refused() -> DfResult<()> {
        let context = context()?;
        for (gap, says) in [
            ("INTERVAL '1 month'", "fixed length"),
            ("INTERVAL '0 seconds'", "longer than nothing"),
            ("at - at", "constant"),
            ("'30 minutes'", "timestamp and a constant interval"),
        ] {
            let sql = format!(
                "SELECT session_number(at, {gap}) OVER (PARTITION BY visitor ORDER BY at) FROM events"
            );
            let error = match context.sql(&sql).await {
                Ok(frame) => frame.collect().await.err(),
                Err(error) => Some(error),
            };
            let error = error.map(|e| e.to_string()).unwrap_or_default();
            assert!(error.contains(says), "{gap}: {error}");
        }
        Ok(())
    }

    #[test]
    fn the_gap_is_counted_in_the_unit_of_the_times() -> DfResult<()> {
        let half_hour = ScalarValue::new_interval_mdn(0, 0, 1_800_000_000_000);
        assert_eq!(gap_in(&half_hour, TimeUnit::Second)?, 1_800);
        assert_eq!(gap_in(&half_hour, TimeUnit::Microsecond)?, 1_800_000_000);
        let day = ScalarValue::new_interval_dt(1, 0);
        assert_eq!(gap_in(&day, TimeUnit::Millisecond)?, 86_400_000);
        Ok(())
    }
}
