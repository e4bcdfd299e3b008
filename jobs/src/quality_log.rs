//! `lakejob.quality_results`: one row per rule per run (observed value, threshold, outcome,
//! the run's score and gate), appended to a Delta table in the lake and registered in the
//! catalog, so quality history is queryable locally or in Athena.

use std::sync::Arc;

use lakejob_engine::datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use lakejob_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lakejob_engine::datafusion::prelude::SessionContext;
use lakejob_engine::lake::STATE_DIR;
use lakejob_engine::types::{UTC, timestamp_type};
use lakejob_engine::{
    Catalog, EngineError, Lake, TableFormat, TableName, TableWrite, WriteMetrics, WriteMode,
};
use lakejob_quality::Severity;

use crate::runner::RunSummary;

/// The catalog name of the table.
pub fn quality_results_table() -> TableName {
    TableName::new("lakejob", "quality_results")
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("job", DataType::Utf8, false),
        Field::new("target", DataType::Utf8, false),
        Field::new("evaluated_at", timestamp_type(), false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("severity", DataType::Utf8, false),
        Field::new("weight", DataType::Float64, false),
        Field::new("observed", DataType::Float64, true),
        Field::new("threshold", DataType::Utf8, false),
        Field::new("passed", DataType::Boolean, false),
        Field::new("score", DataType::Float64, false),
        Field::new("min_score", DataType::Float64, false),
    ]))
}

/// Appends the run's rule outcomes (nothing when the job has no rules).
pub(crate) async fn record_quality(
    lake: &Lake,
    ctx: &SessionContext,
    catalog: &dyn Catalog,
    summary: &RunSummary,
    target: &str,
) -> Result<Option<WriteMetrics>, EngineError> {
    let rules = &summary.quality.rules;
    if rules.is_empty() {
        return Ok(None);
    }
    let rows = rules.len();
    let text = |value: &str| -> ArrayRef { Arc::new(StringArray::from(vec![value; rows])) };
    let number = |value: f64| -> ArrayRef { Arc::new(Float64Array::from(vec![value; rows])) };
    let columns: Vec<ArrayRef> = vec![
        text(&summary.run_id),
        text(&summary.job),
        text(target),
        Arc::new(
            TimestampMicrosecondArray::from(vec![summary.started_at.timestamp_micros(); rows])
                .with_timezone(UTC),
        ),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| r.rule.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(rules.iter().map(|r| r.kind))),
        Arc::new(StringArray::from_iter_values(rules.iter().map(
            |r| match r.severity {
                Severity::Error => "error",
                Severity::Warn => "warn",
            },
        ))),
        Arc::new(Float64Array::from_iter_values(
            rules.iter().map(|r| r.weight),
        )),
        Arc::new(Float64Array::from_iter(rules.iter().map(|r| r.observed))),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| r.threshold.as_str()),
        )),
        Arc::new(BooleanArray::from_iter(
            rules.iter().map(|r| Some(r.passed)),
        )),
        number(summary.quality.score),
        number(summary.quality.min_score),
    ];
    let batch = RecordBatch::try_new(schema(), columns)
        .map_err(|e| EngineError::datafusion("building quality results")(e.into()))?;
    TableWrite::new(lake, ctx, quality_results_table(), TableFormat::Delta)
        .at_path(format!("{STATE_DIR}/quality_results"))
        .with_mode(WriteMode::Append)
        .with_description(
            "every quality rule of every run: observed value, threshold, outcome, score and gate",
        )
        .execute(batch.schema(), vec![batch], catalog)
        .await
        .map(Some)
}
