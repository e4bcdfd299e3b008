//! Evaluation: each rule becomes one DataFusion query returning one number, judged against its
//! threshold; the outcomes fold into a weighted score.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::QualityError;
use crate::keys::KeyScan;
use crate::spec::{Check, QualitySpec, RuleSpec, Severity, SqlReturns, parse_duration};

/// What became of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The observed value meets the threshold.
    Passed,
    /// It does not.
    Failed,
    /// The rule could not be observed (its reference table does not exist yet); not counted.
    NotEvaluated,
}

impl Outcome {
    /// The name used in JSON and the results table.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "failed",
            Outcome::NotEvaluated => "not_evaluated",
        }
    }
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    /// The rule's name.
    pub rule: String,
    /// The kind of check.
    pub kind: &'static str,
    /// The observed value (share, count, sum, age in hours), if there was anything to observe.
    pub observed: Option<f64>,
    /// The threshold, as text (`>= 0.99`, `between 1 and 100`).
    pub threshold: String,
    /// Passed, failed or not evaluated.
    pub outcome: Outcome,
    /// What a person should know about the outcome (why it failed, why it was not evaluated).
    pub detail: Option<String>,
    /// Its severity.
    pub severity: Severity,
    /// Its weight.
    pub weight: f64,
}

impl RuleResult {
    /// One line for summaries: name, observed value, threshold and detail.
    pub fn describe(&self) -> String {
        let mut text = format!(
            "{}: observed {}, wanted {}",
            self.rule,
            format_observed(self.observed),
            self.threshold
        );
        if let Some(detail) = &self.detail {
            text.push_str(&format!(" ({detail})"));
        }
        text
    }
}

/// The outcome of a job's rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    /// Weighted share of passed error-severity rules (1 when there are none).
    pub score: f64,
    /// The gate.
    pub min_score: f64,
    /// Whether the score reaches the gate.
    pub passed: bool,
    /// The rules that failed, each with its observed value and threshold.
    pub failed_rules: Vec<String>,
    /// Every rule's outcome.
    pub rules: Vec<RuleResult>,
}

/// A value for people: up to four decimals, `none` when nothing was observed.
pub fn format_observed(value: Option<f64>) -> String {
    match value {
        None => "none".into(),
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => {
            let text = format!("{v:.4}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
    }
}

fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// How an observed value is judged.
#[derive(Debug, Clone, Copy)]
enum Judge {
    /// A share: at least `min`; no rows to observe passes (nothing wrong to count).
    Share(f64),
    /// A count: nothing observed counts as 0.
    Count {
        min: Option<f64>,
        max: Option<f64>,
        /// The largest change as a share, and the previous run's count if there was one.
        change: Option<(f64, Option<f64>)>,
    },
    /// A value (sum, mean, custom): nothing observed passes.
    Range { min: Option<f64>, max: Option<f64> },
    /// An age in hours at most this long; nothing observed fails (no data is not fresh).
    MaxAge(Duration),
}

fn bounds_text(min: Option<f64>, max: Option<f64>) -> Option<String> {
    let show = |v: f64| format_observed(Some(v));
    match (min, max) {
        (Some(min), Some(max)) => Some(format!("between {} and {}", show(min), show(max))),
        (Some(min), None) => Some(format!(">= {}", show(min))),
        (None, Some(max)) => Some(format!("<= {}", show(max))),
        (None, None) => None,
    }
}

fn within(value: f64, min: Option<f64>, max: Option<f64>) -> bool {
    min.is_none_or(|m| value + 1e-9 >= m) && max.is_none_or(|m| value <= m + 1e-9)
}

impl Judge {
    fn passes(self, observed: Option<f64>) -> bool {
        match (self, observed) {
            (Judge::Share(_) | Judge::Range { .. }, None) => true,
            (Judge::Share(min), Some(value)) => value + 1e-12 >= min,
            (Judge::Range { min, max }, Some(value)) => within(value, min, max),
            (Judge::Count { min, max, change }, value) => {
                let value = value.unwrap_or(0.0);
                let change_ok = match change {
                    Some((share, Some(previous))) => (value - previous).abs() <= share * previous,
                    _ => true,
                };
                within(value, min, max) && change_ok
            }
            (Judge::MaxAge(_), None) => false,
            (Judge::MaxAge(age), Some(hours)) => hours * 3600.0 <= age.as_secs_f64(),
        }
    }

    fn describe(self) -> String {
        match self {
            Judge::Share(min) => format!(">= {}", format_observed(Some(min))),
            Judge::Range { min, max } => bounds_text(min, max).unwrap_or_else(|| "any".into()),
            Judge::Count { min, max, change } => {
                let mut parts: Vec<String> = bounds_text(min, max).into_iter().collect();
                match change {
                    Some((share, Some(previous))) => parts.push(format!(
                        "within {}% of {} (previous run)",
                        format_observed(Some(share * 100.0)),
                        format_observed(Some(previous))
                    )),
                    Some((share, None)) => parts.push(format!(
                        "within {}% of the previous run",
                        format_observed(Some(share * 100.0))
                    )),
                    None => {}
                }
                parts.join(" and ")
            }
            Judge::MaxAge(age) => format!(
                "age <= {} h",
                format_observed(Some(age.as_secs_f64() / 3600.0))
            ),
        }
    }
}

/// How the query's one value becomes the observed number.
#[derive(Debug, Clone, Copy)]
enum Observe {
    Number,
    /// The value is the newest timestamp; observed is its age in hours at the reference time.
    AgeHours,
}

/// A rule turned into SQL.
enum RulePlan {
    Query {
        sql: String,
        judge: Judge,
        observe: Observe,
    },
    /// The rule's reference table is missing; `sql` still checks the rule's own columns.
    Unobservable { sql: String, reason: String },
    /// A share of distinct keys: `keys` (the key columns of the rows that count) is scanned for
    /// repeats first, and `sql` (the exact share) runs only when some key may repeat. `total`
    /// counts the rows the share is of, when they are not just the rows of `keys`.
    Distinct {
        keys: String,
        total: Option<String>,
        sql: String,
        judge: Judge,
    },
}

/// Evaluates a job's rules over one table, builder style.
pub struct Evaluation<'a> {
    ctx: &'a SessionContext,
    table: &'a str,
    spec: &'a QualitySpec,
    reference_time: DateTime<Utc>,
    baseline: HashMap<String, f64>,
}

impl<'a> Evaluation<'a> {
    /// The rules of `spec` over `table`, a name registered in `ctx`.
    pub fn new(ctx: &'a SessionContext, table: &'a str, spec: &'a QualitySpec) -> Self {
        Self {
            ctx,
            table,
            spec,
            reference_time: Utc::now(),
            baseline: HashMap::new(),
        }
    }

    /// The time freshness is measured at (default: now).
    pub fn with_reference_time(mut self, at: DateTime<Utc>) -> Self {
        self.reference_time = at;
        self
    }

    /// The previous published run's observed values, by rule name, for relative rules.
    pub fn with_baseline(mut self, baseline: HashMap<String, f64>) -> Self {
        self.baseline = baseline;
        self
    }

    /// Runs every rule, all at once, and scores them. A rule's query leaves a core idle
    /// while it is planned and while its one last partition finishes; the others fill it.
    pub async fn execute(self) -> Result<QualityReport, QualityError> {
        let results =
            futures::future::join_all(self.spec.rules.iter().map(|rule| self.evaluate_rule(rule)))
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
        Ok(score(results, self.spec.min_score))
    }

    async fn evaluate_rule(&self, rule: &RuleSpec) -> Result<RuleResult, QualityError> {
        let name = rule.display_name();
        if let Some(problem) = rule.problems().into_iter().next() {
            return Err(QualityError::Declaration {
                rule: name,
                reason: problem,
            });
        }
        let mut result = RuleResult {
            rule: name,
            kind: rule.kind(),
            observed: None,
            threshold: String::new(),
            outcome: Outcome::NotEvaluated,
            detail: None,
            severity: rule.severity,
            weight: rule.weight,
        };
        match self.plan(rule)? {
            RulePlan::Unobservable { sql, reason } => {
                self.run(&result.rule, &sql, false).await?;
                result.threshold = "not evaluated".into();
                result.detail = Some(reason);
            }
            RulePlan::Query {
                sql,
                judge,
                observe,
            } => {
                let observed = self.query(&result.rule, &sql, observe).await?;
                judged(&mut result, rule, judge, observed);
            }
            RulePlan::Distinct {
                keys,
                total,
                sql,
                judge,
            } => {
                let observed = self
                    .distinct_share(&result.rule, &keys, total, &sql)
                    .await?;
                judged(&mut result, rule, judge, observed);
            }
        }
        Ok(result)
    }

    /// Runs a rule's query for its one value.
    async fn query(
        &self,
        rule: &str,
        sql: &str,
        observe: Observe,
    ) -> Result<Option<f64>, QualityError> {
        let batches = self.run(rule, sql, true).await?;
        self.observe(rule, &batches, observe)
    }

    /// The share of distinct keys: 1 when the scan finds no key that may repeat (none when
    /// there are no rows), else what the exact query says.
    async fn distinct_share(
        &self,
        rule: &str,
        keys: &str,
        total: Option<String>,
        sql: &str,
    ) -> Result<Option<f64>, QualityError> {
        let error = |source| QualityError::Rule {
            rule: rule.to_string(),
            source: Box::new(source),
        };
        let frame = crate::plan_job_sql(self.ctx, keys).await.map_err(error)?;
        match crate::keys::scan_keys(frame).await.map_err(error)? {
            KeyScan::Scanned { rows, repeated, .. } if repeated.is_empty() => {
                let total = match total {
                    Some(total) => self.query(rule, &total, Observe::Number).await?,
                    None => Some(rows as f64),
                };
                Ok(total
                    .filter(|total| *total > 0.0)
                    .map(|total| rows as f64 / total))
            }
            _ => self.query(rule, sql, Observe::Number).await,
        }
    }

    /// Plans the query, and runs it when `collect`.
    async fn run(
        &self,
        rule: &str,
        sql: &str,
        collect: bool,
    ) -> Result<Vec<RecordBatch>, QualityError> {
        let error = |source| QualityError::Rule {
            rule: rule.to_string(),
            source: Box::new(source),
        };
        let frame = crate::plan_job_sql(self.ctx, sql).await.map_err(error)?;
        if !collect {
            return Ok(Vec::new());
        }
        frame.collect().await.map_err(error)
    }

    fn observe(
        &self,
        rule: &str,
        batches: &[RecordBatch],
        observe: Observe,
    ) -> Result<Option<f64>, QualityError> {
        let error = |source: datafusion::arrow::error::ArrowError| QualityError::Rule {
            rule: rule.to_string(),
            source: Box::new(source.into()),
        };
        let Some(column) = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| b.column(0))
        else {
            return Ok(None);
        };
        Ok(match observe {
            Observe::Number => {
                let values =
                    datafusion::arrow::compute::cast(column, &DataType::Float64).map_err(error)?;
                let values = values.as_primitive::<Float64Type>();
                values.is_valid(0).then(|| values.value(0))
            }
            Observe::AgeHours => {
                let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
                let values = datafusion::arrow::compute::cast(column, &utc).map_err(error)?;
                let values = values.as_primitive::<TimestampMicrosecondType>();
                values.is_valid(0).then(|| {
                    let age_micros = self.reference_time.timestamp_micros() - values.value(0);
                    age_micros as f64 / 3.6e9
                })
            }
        })
    }

    /// The query returning the observed value, and how to judge it.
    fn plan(&self, rule: &RuleSpec) -> Result<RulePlan, QualityError> {
        let table = self.table;
        let filter = rule
            .filter
            .as_deref()
            .map_or(String::new(), |f| format!(" WHERE ({f})"));
        let and_filter = rule
            .filter
            .as_deref()
            .map_or(String::new(), |f| format!(" AND ({f})"));
        let share_of = |condition: &str| {
            format!("SELECT AVG(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END) FROM {table}{filter}")
        };
        let query = |sql: String, judge: Judge| RulePlan::Query {
            sql,
            judge,
            observe: Observe::Number,
        };
        let list = |columns: &[String]| {
            columns
                .iter()
                .map(|c| ident(c))
                .collect::<Vec<_>>()
                .join(", ")
        };
        Ok(match &rule.check {
            Check::Completeness { column, min } => query(
                share_of(&format!("{} IS NOT NULL", ident(column))),
                Judge::Share(*min),
            ),
            Check::IsComplete { column } => query(
                share_of(&format!("{} IS NOT NULL", ident(column))),
                Judge::Share(1.0),
            ),
            Check::Uniqueness { columns, min } => {
                let list = list(columns);
                RulePlan::Distinct {
                    keys: format!("SELECT {list} FROM {table}{filter}"),
                    total: None,
                    sql: format!(
                        "SELECT CAST(COUNT(*) AS DOUBLE) / NULLIF((SELECT COUNT(*) FROM {table}{filter}), 0) \
                         FROM (SELECT {list} FROM {table}{filter} GROUP BY {list})"
                    ),
                    judge: Judge::Share(*min),
                }
            }
            Check::IsPrimaryKey { columns } => {
                let complete = columns
                    .iter()
                    .map(|c| format!("{} IS NOT NULL", ident(c)))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let list = list(columns);
                RulePlan::Distinct {
                    keys: format!("SELECT {list} FROM {table} WHERE {complete}{and_filter}"),
                    total: Some(format!(
                        "SELECT CAST(COUNT(*) AS DOUBLE) FROM {table}{filter}"
                    )),
                    sql: format!(
                        "SELECT CAST(COUNT(*) AS DOUBLE) / NULLIF((SELECT COUNT(*) FROM {table}{filter}), 0) \
                         FROM (SELECT {list} FROM {table} WHERE {complete}{and_filter} GROUP BY {list})"
                    ),
                    judge: Judge::Share(1.0),
                }
            }
            Check::ColumnValues {
                column,
                allowed,
                between,
                matches,
                min,
            } => {
                let column = ident(column);
                let condition = if let Some(values) = allowed {
                    let list = values
                        .iter()
                        .map(|v| sql_string(v))
                        .collect::<Vec<_>>()
                        .join(", ");
                    format!("CAST({column} AS VARCHAR) IN ({list})")
                } else if let Some([low, high]) = between {
                    format!("CAST({column} AS DOUBLE) BETWEEN {low} AND {high}")
                } else {
                    let pattern = matches.as_deref().unwrap_or_default();
                    format!(
                        "regexp_like(CAST({column} AS VARCHAR), {})",
                        sql_string(&format!("^(?:{pattern})$"))
                    )
                };
                query(
                    format!(
                        "SELECT AVG(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END) FROM {table} \
                         WHERE {column} IS NOT NULL{and_filter}"
                    ),
                    Judge::Share(*min),
                )
            }
            Check::RowCount {
                min,
                max,
                max_change,
            } => query(
                format!("SELECT CAST(COUNT(*) AS DOUBLE) FROM {table}{filter}"),
                Judge::Count {
                    min: min.map(|m| m as f64),
                    max: max.map(|m| m as f64),
                    change: max_change
                        .map(|share| (share, self.baseline.get(&rule.display_name()).copied())),
                },
            ),
            Check::DataFreshness { column, max_age } => RulePlan::Query {
                sql: format!("SELECT MAX({}) FROM {table}{filter}", ident(column)),
                judge: Judge::MaxAge(parse_duration(max_age).map_err(|reason| {
                    QualityError::Declaration {
                        rule: rule.display_name(),
                        reason,
                    }
                })?),
                observe: Observe::AgeHours,
            },
            Check::ReferentialIntegrity {
                column,
                table: other,
                key,
                min,
            } => {
                let values = format!(
                    "SELECT {} AS __value FROM {table} WHERE {} IS NOT NULL{and_filter}",
                    ident(column),
                    ident(column)
                );
                if !self.ctx.table_exist(other.as_str()).unwrap_or(false) {
                    return Ok(RulePlan::Unobservable {
                        sql: values,
                        reason: format!(
                            "{other} does not exist yet, so the rule was not counted; run the job that writes it first"
                        ),
                    });
                }
                let other = other.split('.').map(ident).collect::<Vec<_>>().join(".");
                query(
                    format!(
                        "SELECT AVG(CASE WHEN r.__key IS NULL THEN 0.0 ELSE 1.0 END) \
                         FROM ({values}) v LEFT JOIN (SELECT DISTINCT {} AS __key FROM {other}) r \
                         ON v.__value = r.__key",
                        ident(key)
                    ),
                    Judge::Share(*min),
                )
            }
            Check::Sum { column, min, max } => query(
                format!(
                    "SELECT SUM(CAST({} AS DOUBLE)) FROM {table}{filter}",
                    ident(column)
                ),
                Judge::Range {
                    min: *min,
                    max: *max,
                },
            ),
            Check::Mean { column, min, max } => query(
                format!(
                    "SELECT AVG(CAST({} AS DOUBLE)) FROM {table}{filter}",
                    ident(column)
                ),
                Judge::Range {
                    min: *min,
                    max: *max,
                },
            ),
            Check::CustomSql {
                sql,
                returns,
                min,
                max,
            } => {
                let sql = sql.replace("{table}", table);
                match returns {
                    SqlReturns::FailingRows => query(
                        format!("SELECT CAST(COUNT(*) AS DOUBLE) FROM ({sql}){filter}"),
                        Judge::Count {
                            min: None,
                            max: Some(max.unwrap_or(0.0)),
                            change: None,
                        },
                    ),
                    SqlReturns::Value => query(
                        sql,
                        Judge::Range {
                            min: *min,
                            max: *max,
                        },
                    ),
                }
            }
        })
    }
}

/// Judges the observed value into `result`.
fn judged(result: &mut RuleResult, rule: &RuleSpec, judge: Judge, observed: Option<f64>) {
    let passed = judge.passes(observed);
    result.observed = observed;
    result.threshold = judge.describe();
    result.outcome = if passed {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    result.detail = explain(rule, judge, observed, passed);
}

/// Why a rule failed, in the terms of its kind, or a note a passing rule needs.
fn explain(rule: &RuleSpec, judge: Judge, observed: Option<f64>, passed: bool) -> Option<String> {
    let missing_share = observed.map(|share| format!("{:.2}%", (1.0 - share) * 100.0));
    match (&rule.check, passed) {
        (
            Check::RowCount {
                max_change: Some(_),
                ..
            },
            true,
        ) if matches!(
            judge,
            Judge::Count {
                change: Some((_, None)),
                ..
            }
        ) =>
        {
            Some("no previous run to compare with".into())
        }
        (_, true) => None,
        (
            Check::ReferentialIntegrity {
                column, table, key, ..
            },
            false,
        ) => Some(format!(
            "{} of {column} values are not in {table}.{key}",
            missing_share.unwrap_or_default()
        )),
        (Check::Completeness { column, .. } | Check::IsComplete { column }, false) => {
            Some(format!(
                "{} of {column} values are null",
                missing_share.unwrap_or_default()
            ))
        }
        (Check::DataFreshness { column, .. }, false) => Some(match observed {
            None => format!("{column} has no values"),
            Some(hours) => format!("the newest {column} is {hours:.1} hours old"),
        }),
        (Check::CustomSql { returns, .. }, false) if *returns == SqlReturns::FailingRows => {
            Some(format!(
                "the query returned {} failing rows",
                format_observed(observed)
            ))
        }
        _ => None,
    }
}

fn score(rules: Vec<RuleResult>, min_score: f64) -> QualityReport {
    let counted = rules
        .iter()
        .filter(|r| r.severity == Severity::Error && r.outcome != Outcome::NotEvaluated);
    // Folded from +0.0: an empty f64 sum is -0.0, which prints as a score of -0.000.
    let total = counted.clone().fold(0.0, |sum, r| sum + r.weight);
    let passed = counted
        .filter(|r| r.outcome == Outcome::Passed)
        .fold(0.0, |sum, r| sum + r.weight);
    let score = if total > 0.0 { passed / total } else { 1.0 };
    QualityReport {
        score,
        min_score,
        passed: score + 1e-12 >= min_score,
        failed_rules: rules
            .iter()
            .filter(|r| r.outcome == Outcome::Failed)
            .map(RuleResult::describe)
            .collect(),
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_with_no_rule_passed_is_zero_not_negative_zero() {
        let failed = RuleResult {
            rule: "r".into(),
            kind: "row_count",
            observed: None,
            threshold: String::new(),
            outcome: Outcome::Failed,
            detail: None,
            severity: Severity::Error,
            weight: 1.0,
        };
        let report = score(vec![failed], 0.5);
        assert!(report.score == 0.0 && report.score.is_sign_positive());
        assert_eq!(format!("{:.3}", report.score), "0.000");
        assert!(!report.passed);
    }
}
