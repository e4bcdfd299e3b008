//! Turns a job's steps into a DataFusion plan. The same code plans a real run and a
//! validation (over no rows), so whatever validation accepts, a run can plan.

use std::collections::HashMap;
use std::fmt;

use lakejob_engine::datafusion::common::{Column, NullEquality, ScalarValue};
use lakejob_engine::datafusion::error::{DataFusionError, Result as DfResult};
use lakejob_engine::datafusion::functions_aggregate::count::count_all;
use lakejob_engine::datafusion::logical_expr::{Expr, JoinType, LogicalPlanBuilder, SortExpr, lit};
use lakejob_engine::datafusion::prelude::DataFrame;

use crate::spec::{DedupeStep, JobSpec, JoinStep, Step};

/// One problem in a job file: the field it is in and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path of the field, e.g. `steps[2].derive[0].expr`.
    pub field: String,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

impl Problem {
    /// A problem at a field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// A column by its exact name (no SQL parsing of dots or case).
pub(crate) fn column(name: &str) -> Expr {
    Expr::Column(Column::from_name(name))
}

fn describe(error: &DataFusionError) -> String {
    error.strip_backtrace().to_string()
}

/// What reading a step's input again costs, which decides how a dedupe is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rereads {
    /// The input is in memory or in local files: a dedupe counts the keys first and ranks only
    /// the duplicated keys' rows, reading its input four times to rank far fewer rows.
    Cheap,
    /// Each read is a scan stage on a cluster (every raw file parsed again): a dedupe ranks
    /// every row in one pass over its input.
    Costly,
}

/// Applies the job's steps and target column selection to `input`.
pub fn plan_steps(
    input: DataFrame,
    job: &JobSpec,
    references: &HashMap<String, DataFrame>,
    rereads: Rereads,
) -> Result<DataFrame, Vec<Problem>> {
    let (frame, problems) = plan_steps_past_problems(input, job, references, rereads);
    if problems.is_empty() {
        Ok(frame)
    } else {
        Err(problems)
    }
}

/// Plans like [`plan_steps`] but continues past a failing step where it can (a failed derive
/// becomes a null column), so validation reports every problem, the target's included.
pub(crate) fn plan_steps_past_problems(
    input: DataFrame,
    job: &JobSpec,
    references: &HashMap<String, DataFrame>,
    rereads: Rereads,
) -> (DataFrame, Vec<Problem>) {
    let mut frame = input;
    let mut problems = Vec::new();
    for (index, step) in job.steps.iter().enumerate() {
        let field = format!("steps[{index}]");
        match step {
            Step::Dedupe(dedupe) => match plan_dedupe(frame.clone(), dedupe, rereads) {
                Ok(next) => frame = next,
                Err(e) => problems.push(Problem::new(format!("{field}.dedupe"), describe(&e))),
            },
            Step::Join(join) => match plan_join(frame.clone(), join, references) {
                Ok(next) => frame = next,
                Err(message) => problems.push(Problem::new(format!("{field}.join"), message)),
            },
            Step::Derive(columns) => {
                for (position, derived) in columns.iter().enumerate() {
                    let planned = frame
                        .parse_sql_expr(&derived.expr)
                        .and_then(|expr| frame.clone().with_column(&derived.name, expr));
                    frame = match planned {
                        Ok(next) => next,
                        Err(e) => {
                            problems.push(Problem::new(
                                format!("{field}.derive[{position}] ({})", derived.name),
                                format!("'{}': {}", derived.expr, describe(&e)),
                            ));
                            // Stand-in so later steps that use the column still plan.
                            match frame
                                .clone()
                                .with_column(&derived.name, lit(ScalarValue::Null))
                            {
                                Ok(next) => next,
                                Err(_) => frame,
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(columns) = &job.target.columns {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        match frame.clone().select_columns(&names) {
            Ok(next) => frame = next,
            Err(e) => problems.push(Problem::new("target.columns", describe(&e))),
        }
    }
    (frame, problems)
}

/// `column` or `column desc` / `column asc`.
fn parse_order(text: &str) -> DfResult<SortExpr> {
    let mut words = text.split_whitespace();
    let name = words
        .next()
        .ok_or_else(|| DataFusionError::Plan("order_by: empty entry".into()))?;
    let ascending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => true,
        Some("desc") => false,
        Some(other) => {
            return Err(DataFusionError::Plan(format!(
                "order_by '{text}': '{other}' is neither asc nor desc"
            )));
        }
    };
    if words.next().is_some() {
        return Err(DataFusionError::Plan(format!(
            "order_by '{text}': write one column and optionally asc or desc"
        )));
    }
    Ok(column(name).sort(ascending, false))
}

/// Keeps one row per key: the first by `order_by`. Duplicates are rare in a lake's feeds, so
/// the plan finds the duplicated keys first (one narrow aggregate over the key alone), lets
/// every other row through untouched and ranks only the rows of duplicated keys. Ranking every
/// row instead (DISTINCT ON over all columns) kept one accumulator per column per key: half a
/// run's CPU time and most of its memory (BENCHMARKS.md).
fn plan_dedupe(frame: DataFrame, step: &DedupeStep, rereads: Rereads) -> DfResult<DataFrame> {
    if step.key.is_empty() {
        return Err(DataFusionError::Plan(
            "key: name at least one column".into(),
        ));
    }
    let keys: Vec<Expr> = step.key.iter().map(|k| column(k)).collect();
    let mut order: Vec<SortExpr> = keys.iter().map(|k| k.clone().sort(true, false)).collect();
    for entry in &step.order_by {
        order.push(parse_order(entry)?);
    }
    let all: Vec<Expr> = frame
        .schema()
        .columns()
        .into_iter()
        .map(Expr::Column)
        .collect();
    if rereads == Rereads::Costly {
        return frame.distinct_on(keys, all, Some(order));
    }
    let duplicated_names: Vec<String> = step.key.iter().map(|k| format!("__dedupe_{k}")).collect();
    let duplicated = frame
        .clone()
        .aggregate(keys.clone(), vec![count_all().alias("__dedupe_rows")])?
        .filter(column("__dedupe_rows").gt(lit(1i64)))?
        .select(
            keys.iter()
                .zip(&duplicated_names)
                .map(|(key, name)| key.clone().alias(name))
                .collect::<Vec<_>>(),
        )?;
    let on_duplicated = |join_type: JoinType| -> DfResult<DataFrame> {
        let (state, plan) = frame.clone().into_parts();
        // A NULL key is a key like any other here, as it is to the aggregate above.
        let plan = LogicalPlanBuilder::from(plan)
            .join_detailed(
                duplicated.clone().into_unoptimized_plan(),
                join_type,
                (
                    step.key.iter().map(Column::from_name).collect::<Vec<_>>(),
                    duplicated_names
                        .iter()
                        .map(Column::from_name)
                        .collect::<Vec<_>>(),
                ),
                None,
                NullEquality::NullEqualsNull,
            )?
            .build()?;
        DataFrame::new(state, plan).select(all.clone())
    };
    let unique = on_duplicated(JoinType::LeftAnti)?;
    let ranked = on_duplicated(JoinType::LeftSemi)?.distinct_on(keys, all, Some(order))?;
    unique.union(ranked)
}

fn plan_join(
    frame: DataFrame,
    step: &JoinStep,
    references: &HashMap<String, DataFrame>,
) -> Result<DataFrame, String> {
    let reference = references.get(&step.reference).ok_or_else(|| {
        let mut known: Vec<&str> = references.keys().map(String::as_str).collect();
        known.sort_unstable();
        format!(
            "reference '{}' is not declared; declared: {}",
            step.reference,
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )
    })?;
    if step.on.is_empty() {
        return Err("on: name at least one column".into());
    }
    for added in &step.columns {
        if frame.schema().has_column_with_unqualified_name(added) {
            return Err(format!(
                "columns: '{added}' is already a column; derive it under another name instead"
            ));
        }
    }
    let renamed: Vec<String> = step.on.iter().map(|c| format!("__join_{c}")).collect();
    let mut selection: Vec<Expr> = step
        .on
        .iter()
        .zip(&renamed)
        .map(|(c, alias)| column(c).alias(alias))
        .collect();
    selection.extend(step.columns.iter().map(|c| column(c)));
    let left: Vec<&str> = step.on.iter().map(String::as_str).collect();
    let right: Vec<&str> = renamed.iter().map(String::as_str).collect();
    reference
        .clone()
        .select(selection)
        .and_then(|right_frame| frame.join(right_frame, JoinType::Left, &left, &right, None))
        .and_then(|joined| joined.drop_columns(&right))
        .map_err(|e| describe(&e))
}
