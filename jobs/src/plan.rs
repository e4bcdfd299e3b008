//! Turns a job's steps into a DataFusion plan. The same code plans a real run and a
//! validation (over no rows), so whatever validation accepts, a run can plan.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use lakejob_engine::datafusion::arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use lakejob_engine::datafusion::arrow::compute::kernels::boolean::not;
use lakejob_engine::datafusion::arrow::compute::{
    SortColumn, SortOptions, concat_batches, filter_record_batch, lexsort_to_indices, partition,
    take, take_record_batch,
};
use lakejob_engine::datafusion::arrow::datatypes::SchemaRef;
use lakejob_engine::datafusion::common::{Column, NullEquality, ScalarValue};
use lakejob_engine::datafusion::datasource::MemTable;
use lakejob_engine::datafusion::error::{DataFusionError, Result as DfResult};
use lakejob_engine::datafusion::execution::memory_pool::MemoryConsumer;
use lakejob_engine::datafusion::functions_aggregate::count::count_all;
use lakejob_engine::datafusion::logical_expr::{
    Case, Expr, JoinType, LogicalPlanBuilder, SortExpr, lit,
};
use lakejob_engine::datafusion::prelude::{DataFrame, SessionContext};
use lakejob_quality::keys::{KeyScan, rows_of_repeated_keys, scan_keys};

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

pub(crate) fn describe(error: &DataFusionError) -> String {
    // A derived column's relation has no name; DataFusion spells it `"?table?"`.
    error
        .strip_backtrace()
        .to_string()
        .replace("\"?table?\".", "")
}

/// What reading a step's input again costs, which decides how a dedupe is planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rereads {
    /// The input is in memory (the rows just read from raw files): a dedupe takes its rows as
    /// they are, marks the rows of repeated keys by their place and ranks only those.
    InMemory,
    /// The input is in local files: a dedupe finds the duplicated keys first (it scans the
    /// key's hashes while planning) and ranks only their rows, reading its input three times
    /// to rank far fewer rows.
    Cheap,
    /// Each read is a scan stage on a cluster (every raw file parsed again): a dedupe ranks
    /// every row in one pass over its input.
    Costly,
}

/// Why a job's steps could not be planned.
#[derive(Debug)]
pub enum StepsError {
    /// The steps are wrong: every problem found.
    Invalid(Vec<Problem>),
    /// Running part of the plan while planning (a dedupe's duplicated keys) failed.
    Run(DataFusionError),
}

/// Applies the job's steps and target column selection to `input`.
pub async fn plan_steps(
    input: DataFrame,
    job: &JobSpec,
    references: &HashMap<String, Reference>,
    rereads: Rereads,
) -> Result<DataFrame, StepsError> {
    let (frame, problems) = plan_steps_past_problems(input, job, references, rereads)
        .await
        .map_err(StepsError::Run)?;
    if problems.is_empty() {
        Ok(frame)
    } else {
        Err(StepsError::Invalid(problems))
    }
}

/// The derive steps that may have raised a data error seen while the plan ran, each as
/// `steps[i].derive[j] (name: expr)`: for a cast error those casting to the type it names
/// (else every cast), for an overflow or a division by zero those that cast or compute,
/// every derive otherwise. DataFusion's error names the value, not the expression, so this
/// is the person's shortlist.
pub(crate) fn steps_that_may_fail(job: &JobSpec, error: &str) -> Vec<String> {
    let error = error.to_ascii_lowercase();
    let derives: Vec<(String, String)> = job
        .steps
        .iter()
        .enumerate()
        .filter_map(|(index, step)| match step {
            Step::Derive(columns) => Some((index, columns)),
            _ => None,
        })
        .flat_map(|(index, columns)| {
            columns.iter().enumerate().map(move |(position, derived)| {
                (
                    format!(
                        "steps[{index}].derive[{position}] ({}: {})",
                        derived.name, derived.expr
                    ),
                    derived.expr.to_ascii_lowercase().replace(' ', ""),
                )
            })
        })
        .collect();
    let casts =
        |expr: &str| (expr.contains("cast(") || expr.contains("::")) && !expr.contains("try_cast(");
    let computes = |expr: &str| casts(expr) || expr.contains(['+', '-', '*', '/', '%']);
    let pick = |keep: &dyn Fn(&str) -> bool| -> Vec<String> {
        derives
            .iter()
            .filter(|(_, expr)| keep(expr))
            .map(|(field, _)| field.clone())
            .collect()
    };
    if error.contains("cast") {
        let targets = sql_names_of_cast_target(&error);
        let precise =
            pick(&|expr| casts(expr) && targets.iter().any(|t| expr.contains(&format!("as{t})"))));
        if precise.is_empty() {
            pick(&casts)
        } else {
            precise
        }
    } else if error.contains("overflow") || error.contains("divide") {
        pick(&computes)
    } else {
        pick(&|_| true)
    }
}

/// SQL spellings of the Arrow type a cast error names (`... to type Int8`).
fn sql_names_of_cast_target(error: &str) -> Vec<&'static str> {
    let target = error.rsplit("to type ").next().unwrap_or_default();
    let names: &[(&str, &[&'static str])] = &[
        ("int8", &["tinyint"]),
        ("int16", &["smallint"]),
        ("int32", &["int", "integer"]),
        ("int64", &["bigint"]),
        ("uint8", &["tinyintunsigned"]),
        ("float32", &["float", "real"]),
        ("float64", &["double"]),
        ("date32", &["date"]),
    ];
    names
        .iter()
        .find(|(arrow, _)| target.starts_with(arrow))
        .map(|(_, sql)| sql.to_vec())
        .unwrap_or_default()
}

/// Plans like [`plan_steps`] but continues past a failing step where it can (a failed derive
/// becomes a null column), so validation reports every problem, the target's included. Fails
/// only when running part of the plan does.
pub(crate) async fn plan_steps_past_problems(
    input: DataFrame,
    job: &JobSpec,
    references: &HashMap<String, Reference>,
    rereads: Rereads,
) -> DfResult<(DataFrame, Vec<Problem>)> {
    let mut frame = input;
    let mut problems = Vec::new();
    for (index, step) in job.steps.iter().enumerate() {
        let field = format!("steps[{index}]");
        match step {
            Step::Dedupe(dedupe) => match Dedupe::plan(frame.clone(), dedupe) {
                Ok(planned) => frame = planned.apply(rereads).await?,
                Err(e) => problems.push(Problem::new(format!("{field}.dedupe"), describe(&e))),
            },
            Step::Join(join) => match plan_join(frame.clone(), join, references).await {
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
    Ok((frame, problems))
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
/// where rereading the input is cheap the dedupe finds the duplicated keys first (one pass
/// over the key's hashes), lets every other row through untouched and ranks only the rows of
/// duplicated keys. Ranking every row instead (DISTINCT ON over all columns) kept one
/// accumulator per column per key: half a run's CPU time and most of its memory (BENCHMARKS.md).
struct Dedupe {
    /// The step's input.
    frame: DataFrame,
    key: Vec<String>,
    /// The key, then `order_by`.
    order: Vec<SortExpr>,
    /// Every row ranked in one pass.
    ranked: DataFrame,
    /// The key of every row, as `__dedupe_<key>` columns.
    key_columns: DataFrame,
}

impl Dedupe {
    /// Plans the step; an error here is a mistake in the job.
    fn plan(frame: DataFrame, step: &DedupeStep) -> DfResult<Self> {
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
        let ranked = Self::distinct_on_key(frame.clone(), &step.key, &order)?;
        let names = Self::duplicated_names(&step.key);
        let key_columns = frame.clone().select(
            keys.into_iter()
                .zip(&names)
                .map(|(key, name)| key.alias(name))
                .collect::<Vec<_>>(),
        )?;
        Ok(Self {
            frame,
            key: step.key.clone(),
            order,
            ranked,
            key_columns,
        })
    }

    fn columns(frame: &DataFrame) -> Vec<Expr> {
        frame
            .schema()
            .columns()
            .into_iter()
            .map(Expr::Column)
            .collect()
    }

    /// One row per key of `frame`, the first by `order`: a DISTINCT ON, whose aggregate can
    /// spill.
    fn distinct_on_key(
        frame: DataFrame,
        key: &[String],
        order: &[SortExpr],
    ) -> DfResult<DataFrame> {
        let keys = key.iter().map(|k| column(k)).collect();
        let all = Self::columns(&frame);
        frame.distinct_on(keys, all, Some(order.to_vec()))
    }

    fn duplicated_names(key: &[String]) -> Vec<String> {
        key.iter().map(|k| format!("__dedupe_{k}")).collect()
    }

    /// The keys that may occur more than once, in memory, as `__dedupe_<key>` columns: the
    /// repeats a scan of key hashes finds (a distinct key whose hash collides with another's
    /// is ranked alone, and kept), or, when the scan's hashes would pass the memory limit, the
    /// keys the aggregate finds (it can spill). `None` when the scan finds no key repeated.
    async fn duplicated_keys(&self) -> DfResult<Option<DataFrame>> {
        match scan_keys(self.key_columns.clone()).await? {
            KeyScan::Scanned { repeated, .. } if repeated.is_empty() => Ok(None),
            KeyScan::Scanned {
                repeated, schema, ..
            } => {
                let table = MemTable::try_new(schema, vec![repeated])?;
                let (state, _) = self.frame.clone().into_parts();
                SessionContext::new_with_state(state)
                    .read_table(Arc::new(table))
                    .map(Some)
            }
            KeyScan::OverMemoryLimit => {
                tracing::info!(key = %self.key.join(", "), "the keys' hashes would pass the memory limit: dedupe finds the duplicated keys with an aggregate, which can spill");
                self.counted_duplicates().await.map(Some)
            }
        }
    }

    /// The keys that occur more than once, by an aggregate over every key, in memory.
    async fn counted_duplicates(&self) -> DfResult<DataFrame> {
        let renamed: Vec<Expr> = Self::duplicated_names(&self.key)
            .iter()
            .map(|name| column(name))
            .collect();
        self.key_columns
            .clone()
            .aggregate(renamed.clone(), vec![count_all().alias("__dedupe_rows")])?
            .filter(column("__dedupe_rows").gt(lit(1i64)))?
            .select(renamed)?
            .cache()
            .await
    }

    /// The deduplicated rows. Where rereads are cheap this finds the duplicated keys first:
    /// they are few, and once in memory with exact statistics both joins build their hash
    /// table from them and stream the input through it where it is. Joining the keys' plan
    /// instead ran their aggregate twice and hash-partitioned every input row for each join.
    async fn apply(self, rereads: Rereads) -> DfResult<DataFrame> {
        match rereads {
            Rereads::Costly => return Ok(self.ranked),
            Rereads::InMemory => {
                let rows = self.frame.clone().collect().await?;
                let task = self.frame.clone().task_ctx();
                let schema = rows
                    .first()
                    .map(RecordBatch::schema)
                    .unwrap_or_else(|| Arc::new(self.frame.schema().as_arrow().clone()));
                let key = self
                    .key
                    .iter()
                    .map(|k| schema.index_of(k))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(masks) = rows_of_repeated_keys(&rows, &key, task.memory_pool())? {
                    return self.rank_repeated(schema, rows, masks, &key);
                }
                // Past the memory limit: the joins below, whose aggregate can spill.
            }
            Rereads::Cheap => {}
        }
        // No key repeats: every row is kept as it is, without a join copying it.
        let Some(duplicated) = self.duplicated_keys().await? else {
            return Ok(self.frame);
        };
        let on_duplicated = |frame: DataFrame, join_type: JoinType| -> DfResult<DataFrame> {
            let all = Self::columns(&frame);
            let (state, plan) = frame.into_parts();
            // A NULL key is a key like any other here, as it is to the aggregate.
            let plan = LogicalPlanBuilder::from(plan)
                .join_detailed(
                    duplicated.clone().into_unoptimized_plan(),
                    join_type,
                    (
                        self.key.iter().map(Column::from_name).collect::<Vec<_>>(),
                        Self::duplicated_names(&self.key)
                            .iter()
                            .map(Column::from_name)
                            .collect::<Vec<_>>(),
                    ),
                    None,
                    NullEquality::NullEqualsNull,
                )?
                .build()?;
            DataFrame::new(state, plan).select(all)
        };
        let unique = on_duplicated(self.frame.clone(), JoinType::LeftAnti)?;
        let repeated = on_duplicated(self.frame.clone(), JoinType::LeftSemi)?;
        unique.union(Self::distinct_on_key(repeated, &self.key, &self.order)?)
    }

    /// The rows of keys that do not repeat, as they are (only the batches holding repeated
    /// keys are copied, without them), and the rows of repeated keys ranked. Probing every
    /// row against the repeated keys instead, twice (a semi and an anti join), was most of
    /// transaction_etl's dedupe.
    fn rank_repeated(
        self,
        schema: SchemaRef,
        rows: Vec<RecordBatch>,
        masks: Vec<BooleanArray>,
        key: &[usize],
    ) -> DfResult<DataFrame> {
        let (state, _) = self.frame.clone().into_parts();
        let ctx = SessionContext::new_with_state(state);
        let streams = ctx.state().config().target_partitions().max(1);
        let mut unique = vec![Vec::new(); streams];
        let mut repeated = Vec::new();
        for (index, (batch, mask)) in rows.into_iter().zip(masks).enumerate() {
            let kept = if mask.true_count() == 0 {
                batch
            } else {
                repeated.push(filter_record_batch(&batch, &mask)?);
                filter_record_batch(&batch, &not(&mask)?)?
            };
            unique[index % streams].push(kept);
        }
        let repeated_bytes: usize = repeated
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum();
        let reservation =
            MemoryConsumer::new("dedupe of repeated keys").register(ctx.task_ctx().memory_pool());
        // Ranked here, the repeated rows are held twice (together, then the first of each key).
        if reservation.try_grow(2 * repeated_bytes).is_ok() {
            unique[0].push(self.first_per_key(&schema, &repeated, key)?);
            return ctx.read_table(Arc::new(MemTable::try_new(schema, unique)?));
        }
        let repeated = ctx.read_table(Arc::new(MemTable::try_new(
            Arc::clone(&schema),
            vec![repeated],
        )?))?;
        let ranked = Self::distinct_on_key(repeated, &self.key, &self.order)?;
        ctx.read_table(Arc::new(MemTable::try_new(schema, unique)?))?
            .union(ranked)
    }

    /// The first row of each key among `rows` by the step's order, ties in the order the rows
    /// came. The rows of repeated keys are few: sorting them here replaced a DISTINCT ON whose
    /// ordered accumulators (one per column per key) cost transaction_etl 140 ms of CPU for
    /// 10 K keys.
    fn first_per_key(
        &self,
        schema: &SchemaRef,
        rows: &[RecordBatch],
        key: &[usize],
    ) -> DfResult<RecordBatch> {
        let all = concat_batches(schema, rows)?;
        let positions = u32::try_from(all.num_rows())
            .map_err(|_| DataFusionError::Execution("dedupe: too many repeated rows".into()))?;
        let mut sort_columns = Vec::with_capacity(self.order.len() + 1);
        for sort in &self.order {
            let Expr::Column(name) = &sort.expr else {
                return Err(DataFusionError::Internal(format!(
                    "dedupe orders by columns, not by {}",
                    sort.expr
                )));
            };
            sort_columns.push(SortColumn {
                values: Arc::clone(all.column(schema.index_of(name.name())?)),
                options: Some(SortOptions {
                    descending: !sort.asc,
                    nulls_first: sort.nulls_first,
                }),
            });
        }
        sort_columns.push(SortColumn {
            values: Arc::new(UInt32Array::from_iter_values(0..positions)),
            options: None,
        });
        let sorted = lexsort_to_indices(&sort_columns, None)?;
        let sorted_keys = key
            .iter()
            .map(|&index| take(all.column(index), &sorted, None))
            .collect::<Result<Vec<ArrayRef>, _>>()?;
        let firsts: UInt32Array = partition(&sorted_keys)?
            .ranges()
            .into_iter()
            .map(|run| sorted.value(run.start))
            .collect();
        Ok(take_record_batch(&all, &firsts)?)
    }
}

/// A reference of at most this many rows is joined as a lookup.
const LOOKUP_MAX_ROWS: usize = 256;

/// A reference table, as the join steps use it.
#[derive(Debug, Clone)]
pub enum Reference {
    /// At most [`LOOKUP_MAX_ROWS`] rows, in this process: joined as a lookup, so the plan
    /// carries its values and never reads it.
    Small(DataFrame),
    /// Joined by a hash join wherever the plan runs.
    Large(DataFrame),
}

impl Reference {
    /// The reference whose rows are `local`, here; `elsewhere` is the same rows where the plan
    /// runs, if not here (a cluster).
    pub async fn new(local: DataFrame, elsewhere: Option<DataFrame>) -> DfResult<Self> {
        if local.clone().count().await? <= LOOKUP_MAX_ROWS {
            Ok(Self::Small(local))
        } else {
            Ok(Self::Large(elsewhere.unwrap_or(local)))
        }
    }
}

/// Adds the reference's columns to each row by its key. A small reference on a one-column key is
/// a lookup: a `CASE key WHEN .. THEN .. END` of literals per added column (a hash map in
/// DataFusion), which computes the new columns only, where a hash join copies every column of
/// every row. Either way a row whose key is missing, or NULL, gets NULLs.
async fn plan_join(
    frame: DataFrame,
    step: &JoinStep,
    references: &HashMap<String, Reference>,
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
    for key in &step.on {
        if !frame.schema().has_column_with_unqualified_name(key) {
            return Err(format!("on: '{key}' is not a column of the rows"));
        }
    }
    let reference = match (reference, step.on.as_slice()) {
        (Reference::Small(rows), [key]) => {
            return lookups(rows, key, &step.columns)
                .await
                .and_then(|lookups| {
                    lookups
                        .into_iter()
                        .try_fold(frame, |frame, (name, expr)| frame.with_column(&name, expr))
                })
                .map_err(|e| describe(&e));
        }
        (Reference::Small(rows), _) => rows,
        (Reference::Large(plan), _) => plan,
    };
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

/// The small reference's `columns` as lookups on `key`, named. The reference's keys are unique
/// (checked as it loads).
async fn lookups(
    reference: &DataFrame,
    key: &str,
    columns: &[String],
) -> DfResult<Vec<(String, Expr)>> {
    let selection: Vec<Expr> = std::iter::once(key)
        .chain(columns.iter().map(String::as_str))
        .map(column)
        .collect();
    let selected = reference.clone().select(selection)?;
    let types: Vec<_> = selected
        .schema()
        .fields()
        .iter()
        .skip(1)
        .map(|field| field.data_type().clone())
        .collect();
    let rows = selected.collect().await?;
    let mut branches: Vec<Vec<(Box<Expr>, Box<Expr>)>> = vec![Vec::new(); columns.len()];
    for batch in &rows {
        for row in 0..batch.num_rows() {
            let key_value = ScalarValue::try_from_array(batch.column(0), row)?;
            // A NULL key matches no row, as in a join.
            if key_value.is_null() {
                continue;
            }
            for (index, column_branches) in branches.iter_mut().enumerate() {
                let value = ScalarValue::try_from_array(batch.column(index + 1), row)?;
                column_branches.push((Box::new(lit(key_value.clone())), Box::new(lit(value))));
            }
        }
    }
    columns
        .iter()
        .zip(branches)
        .zip(types)
        .map(|((name, when_then), data_type)| {
            let expr = if when_then.is_empty() {
                lit(ScalarValue::try_new_null(&data_type)?)
            } else {
                Expr::Case(Case::new(Some(Box::new(column(key))), when_then, None))
            };
            Ok((name.clone(), expr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Arc;

    use lakejob_engine::datafusion::arrow::array::{
        Array, AsArray, Decimal128Array, Int64Array, StringArray,
    };
    use lakejob_engine::datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use lakejob_engine::datafusion::arrow::record_batch::RecordBatch;
    use lakejob_engine::datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use lakejob_engine::datafusion::prelude::SessionConfig;

    use super::*;

    async fn keys_of(frame: DataFrame) -> BTreeSet<Option<String>> {
        let batches = frame.collect().await.unwrap_or_else(|e| panic!("{e}"));
        batches
            .iter()
            .flat_map(|batch| {
                let keys = batch.column(0).as_string::<i32>();
                (0..keys.len())
                    .map(|i| keys.is_valid(i).then(|| keys.value(i).to_string()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[tokio::test]
    async fn the_hash_scan_and_the_aggregate_past_the_memory_limit_find_the_same_duplicated_keys() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    Some("a"),
                    None,
                    None,
                    Some("c"),
                    Some("a"),
                ])),
                Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6, 7])),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let frame = SessionContext::new()
            .read_batch(batch)
            .unwrap_or_else(|e| panic!("{e}"));
        let step = DedupeStep {
            key: vec!["id".into()],
            order_by: vec!["n".into()],
        };
        let dedupe = Dedupe::plan(frame, &step).unwrap_or_else(|e| panic!("{e}"));
        let expected = BTreeSet::from([Some("a".to_string()), None]);
        let scanned = dedupe
            .duplicated_keys()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("the scan found no repeated key"));
        assert_eq!(keys_of(scanned).await, expected);
        let counted = dedupe
            .counted_duplicates()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(keys_of(counted).await, expected);
    }

    #[tokio::test]
    async fn every_way_of_deduplicating_keeps_the_same_rows() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let batch = |ids: Vec<Option<&str>>, n: Vec<i64>| {
            RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(StringArray::from(ids)),
                    Arc::new(Int64Array::from(n)),
                ],
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        // Repeats within a batch and across batches, NULL keys, and a batch of distinct keys.
        let rows = vec![
            batch(
                vec![Some("a"), Some("b"), Some("a"), None],
                vec![5, 2, 9, 4],
            ),
            batch(vec![None, Some("c"), Some("a")], vec![8, 6, 7]),
            batch(vec![Some("d"), Some("e")], vec![1, 3]),
        ];
        let step = DedupeStep {
            key: vec!["id".into()],
            order_by: vec!["n desc".into()],
        };
        let ways = [
            ("in memory", SessionContext::new(), Rereads::InMemory),
            ("reread", SessionContext::new(), Rereads::Cheap),
            ("ranked in one pass", SessionContext::new(), Rereads::Costly),
        ];
        let mut outputs = Vec::new();
        for (way, ctx, rereads) in ways {
            let table = MemTable::try_new(Arc::clone(&schema), vec![rows.clone()])
                .unwrap_or_else(|e| panic!("{e}"));
            let frame = ctx
                .read_table(Arc::new(table))
                .unwrap_or_else(|e| panic!("{e}"));
            let deduped = Dedupe::plan(frame, &step)
                .unwrap_or_else(|e| panic!("{e}"))
                .apply(rereads)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let ranked_by_aggregate = deduped.logical_plan().to_string().contains("DistinctOn");
            let expect_aggregate = way != "in memory";
            assert_eq!(ranked_by_aggregate, expect_aggregate, "{way}");
            let batches = deduped
                .sort(vec![column("n").sort(true, false)])
                .unwrap_or_else(|e| panic!("{e}"))
                .collect()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let text =
                lakejob_engine::datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .to_string();
            outputs.push((way, text));
        }
        let expected = "\
+----+---+
| id | n |
+----+---+
| d  | 1 |
| b  | 2 |
| e  | 3 |
| c  | 6 |
|    | 8 |
| a  | 9 |
+----+---+";
        for (way, text) in outputs {
            assert_eq!(text, expected, "{way}");
        }
    }

    #[tokio::test]
    async fn repeated_rows_past_the_memory_limit_are_ranked_by_the_aggregate() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("n", DataType::Int64, false),
            Field::new("payload", DataType::Utf8, false),
        ]));
        // Every key twice, with 400 bytes of payload a row: 1.7 MB of repeated rows.
        let rows = 4000;
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("k{}", i % 2000)),
                )),
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("{i:0>400}")),
                )),
            ],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let step = DedupeStep {
            key: vec!["id".into()],
            order_by: vec!["n desc".into()],
        };
        // Room for the key hashes, not for holding the repeated rows twice.
        let limited = SessionContext::new_with_config_rt(
            SessionConfig::new(),
            RuntimeEnvBuilder::new()
                .with_memory_limit(2 << 20, 1.0)
                .build_arc()
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let deduped = Dedupe::plan(
            limited.read_batch(batch).unwrap_or_else(|e| panic!("{e}")),
            &step,
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .apply(Rereads::InMemory)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            deduped.logical_plan().to_string().contains("DistinctOn"),
            "{}",
            deduped.logical_plan()
        );
        let kept = deduped.collect().await.unwrap_or_else(|e| panic!("{e}"));
        let mut n: Vec<i64> = kept
            .iter()
            .flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec())
            .collect();
        n.sort_unstable();
        assert_eq!(n, (2000..rows).collect::<Vec<_>>());
    }

    /// Rows of (currency, rate): a decimal rate, NULL where given as `None`.
    fn rates(ctx: &SessionContext, rows: &[(Option<&str>, Option<i128>)]) -> DataFrame {
        let schema = Arc::new(Schema::new(vec![
            Field::new("currency", DataType::Utf8, true),
            Field::new("rate", DataType::Decimal128(18, 6), true),
        ]));
        let currencies: StringArray = rows.iter().map(|(c, _)| *c).collect();
        let rates = rows
            .iter()
            .map(|(_, r)| *r)
            .collect::<Decimal128Array>()
            .with_precision_and_scale(18, 6)
            .unwrap_or_else(|e| panic!("{e}"));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(currencies), Arc::new(rates)])
            .unwrap_or_else(|e| panic!("{e}"));
        ctx.read_batch(batch).unwrap_or_else(|e| panic!("{e}"))
    }

    #[tokio::test]
    async fn a_small_reference_is_looked_up_and_gives_what_the_join_gives() {
        let ctx = SessionContext::new();
        let input = ctx
            .read_batch(
                RecordBatch::try_new(
                    Arc::new(Schema::new(vec![
                        Field::new("id", DataType::Int64, false),
                        Field::new("currency", DataType::Utf8, true),
                    ])),
                    vec![
                        Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5])),
                        Arc::new(StringArray::from(vec![
                            Some("EUR"),
                            Some("USD"),
                            None,
                            Some("XXX"),
                            Some("GBP"),
                        ])),
                    ],
                )
                .unwrap_or_else(|e| panic!("{e}")),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let small = [
            (Some("USD"), Some(1_000_000)),
            (Some("EUR"), Some(1_080_000)),
            (Some("GBP"), None),
            (None, Some(7)),
        ];
        // The same rows and more unrelated keys than a lookup holds: a hash join.
        let filler: Vec<String> = (0..LOOKUP_MAX_ROWS).map(|i| format!("Z{i}")).collect();
        let mut large = small.to_vec();
        large.extend(filler.iter().map(|c| (Some(c.as_str()), Some(1))));
        let step = JoinStep {
            reference: "fx".into(),
            on: vec!["currency".into()],
            columns: vec!["rate".into()],
        };
        let mut outputs = Vec::new();
        for (rows, joins) in [(rates(&ctx, &small), false), (rates(&ctx, &large), true)] {
            let reference = Reference::new(rows, None)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let references = HashMap::from([("fx".to_string(), reference)]);
            let joined = plan_join(input.clone(), &step, &references)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let plan = joined.logical_plan().display_indent().to_string();
            assert_eq!(plan.contains("Join"), joins, "{plan}");
            let sorted = joined
                .sort(vec![column("id").sort(true, false)])
                .unwrap_or_else(|e| panic!("{e}"));
            let batches = sorted.collect().await.unwrap_or_else(|e| panic!("{e}"));
            let text =
                lakejob_engine::datafusion::arrow::util::pretty::pretty_format_batches(&batches)
                    .unwrap_or_else(|e| panic!("{e}"))
                    .to_string();
            outputs.push(text);
        }
        let expected = "\
+----+----------+----------+
| id | currency | rate     |
+----+----------+----------+
| 1  | EUR      | 1.080000 |
| 2  | USD      | 1.000000 |
| 3  |          |          |
| 4  | XXX      |          |
| 5  | GBP      |          |
+----+----------+----------+";
        assert_eq!(outputs, vec![expected.to_string(), expected.to_string()]);
    }
}
