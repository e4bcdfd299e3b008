//! `lakejob.quality_results`: one row per rule per run (observed value, threshold, outcome,
//! the run's score and gate), appended to a Delta table in the lake and registered in the
//! catalog, so quality history is queryable locally or in Athena.

use std::collections::HashMap;
use std::sync::Arc;

use lakejob_engine::datafusion::arrow::array::{Array, AsArray};
use lakejob_engine::datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use lakejob_engine::datafusion::arrow::compute::cast;
use lakejob_engine::datafusion::arrow::datatypes::Float64Type;
use lakejob_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lakejob_engine::datafusion::prelude::SessionContext;
use lakejob_engine::lake::STATE_DIR;
use lakejob_engine::query::DeltaReads;
use lakejob_engine::types::{UTC, timestamp_type};
use lakejob_engine::{
    Catalog, EngineError, Lake, TableFormat, TableName, TableWrite, WriteMetrics, WriteMode,
};
use lakejob_quality::{Outcome, QualitySpec};

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
        Field::new("outcome", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, true),
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
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| r.severity.as_str()),
        )),
        Arc::new(Float64Array::from_iter_values(
            rules.iter().map(|r| r.weight),
        )),
        Arc::new(Float64Array::from_iter(rules.iter().map(|r| r.observed))),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| r.threshold.as_str()),
        )),
        Arc::new(BooleanArray::from_iter(
            rules.iter().map(|r| Some(r.outcome == Outcome::Passed)),
        )),
        Arc::new(StringArray::from_iter_values(
            rules.iter().map(|r| r.outcome.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            rules.iter().map(|r| r.detail.as_deref()),
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
        .execute_batches(batch.schema(), vec![batch], catalog)
        .await
        .map(Some)
}

/// Makes ready what the rules read besides the rows under test: the catalog tables they refer
/// to are registered in `ctx`, and the previous published run's row counts are returned by rule
/// name (for `row_count.max_change`).
pub(crate) async fn prepare_rule_inputs(
    ctx: &SessionContext,
    catalog: &dyn Catalog,
    spec: &QualitySpec,
    target: &str,
) -> Result<HashMap<String, f64>, EngineError> {
    let mut tables: Vec<TableName> = spec
        .referenced_tables()
        .into_iter()
        .filter_map(|name| name.parse().ok())
        .collect();
    if spec.needs_baseline() {
        tables.push(quality_results_table());
    }
    for name in &tables {
        let registered = ctx.table_exist(name.to_string().as_str()).unwrap_or(false);
        if !registered && let Some(table) = catalog.table(name).await? {
            lakejob_engine::query::register_table(ctx, &table, DeltaReads::Native).await?;
        }
    }
    if !spec.needs_baseline()
        || !ctx
            .table_exist(quality_results_table().to_string().as_str())
            .unwrap_or(false)
    {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "SELECT rule, observed FROM {} WHERE target = '{}' AND kind = 'row_count' \
         AND observed IS NOT NULL AND score >= min_score ORDER BY evaluated_at DESC",
        quality_results_table(),
        target.replace('\'', "''")
    );
    const READING: &str = "reading the previous run's quality results";
    let batches = ctx
        .sql(&sql)
        .await
        .map_err(EngineError::datafusion(READING))?
        .collect()
        .await
        .map_err(EngineError::datafusion(READING))?;
    let mut previous = HashMap::new();
    for batch in &batches {
        // Delta scans may hand strings back as views: settle on one type before reading.
        let rules = cast(batch.column(0), &DataType::Utf8)
            .map_err(|e| EngineError::datafusion(READING)(e.into()))?;
        let rules = rules.as_string::<i32>();
        let observed = cast(batch.column(1), &DataType::Float64)
            .map_err(|e| EngineError::datafusion(READING)(e.into()))?;
        let observed = observed.as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            if observed.is_valid(row) {
                previous
                    .entry(rules.value(row).to_string())
                    .or_insert(observed.value(row));
            }
        }
    }
    Ok(previous)
}
