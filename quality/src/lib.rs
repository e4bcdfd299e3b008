//! Data-quality rules declared per table, evaluated as DataFusion queries over the rows about to
//! be published, folded into a weighted score that gates publication.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

/// Errors of rule evaluation.
#[derive(Debug, thiserror::Error)]
pub enum QualityError {
    /// A rule's SQL does not run against the table.
    #[error("quality rule '{rule}' cannot be evaluated: {source}")]
    Rule {
        /// The rule's name.
        rule: String,
        /// DataFusion's error.
        source: Box<datafusion::error::DataFusionError>,
    },
    /// A rule is declared with impossible settings.
    #[error("quality rule '{rule}': {reason}")]
    Declaration {
        /// The rule's name.
        rule: String,
        /// What is wrong.
        reason: String,
    },
}

fn default_min_score() -> f64 {
    1.0
}

fn default_weight() -> f64 {
    1.0
}

fn default_share() -> f64 {
    1.0
}

/// The quality section of a job: rules over the target table and the gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualitySpec {
    /// The lowest score (weighted share of passed error-severity rules) that may publish.
    #[serde(default = "default_min_score")]
    pub min_score: f64,
    /// The rules.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

impl Default for QualitySpec {
    fn default() -> Self {
        Self {
            min_score: default_min_score(),
            rules: Vec::new(),
        }
    }
}

/// How much a failed rule matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Counts in the score.
    #[default]
    Error,
    /// Reported, not counted.
    Warn,
}

/// One rule: what it checks, on which rows, and how much it weighs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A name for reports; defaults to a description of the check.
    #[serde(default)]
    pub name: Option<String>,
    /// The check.
    pub check: Check,
    /// A SQL filter: the rule looks only at rows where it holds.
    #[serde(rename = "where", default)]
    pub filter: Option<String>,
    /// Weight in the score.
    #[serde(default = "default_weight")]
    pub weight: f64,
    /// `error` (counts in the score) or `warn` (reported only).
    #[serde(default)]
    pub severity: Severity,
}

/// The kinds of check, named after AWS Glue Data Quality (DQDL) and dbt tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// The share of non-null values is at least `min`.
    Completeness {
        /// The column.
        column: String,
        /// Lowest passing share, 0 to 1.
        min: f64,
    },
    /// No value is null.
    IsComplete {
        /// The column.
        column: String,
    },
    /// The share of distinct combinations of `columns` among rows is at least `min`
    /// (1 means the columns form a key).
    Uniqueness {
        /// The columns.
        columns: Vec<String>,
        /// Lowest passing share, 0 to 1.
        #[serde(default = "default_share")]
        min: f64,
    },
    /// Non-null values are in a set, in a range, or match a regular expression.
    ColumnValues {
        /// The column.
        column: String,
        /// Allowed values.
        #[serde(rename = "in", default)]
        allowed: Option<Vec<String>>,
        /// Inclusive `[low, high]`.
        #[serde(default)]
        between: Option<[f64; 2]>,
        /// A regular expression values must match.
        #[serde(default)]
        matches: Option<String>,
        /// Lowest passing share of conforming values, 0 to 1.
        #[serde(default = "default_share")]
        min: f64,
    },
    /// The number of rows is within bounds.
    RowCount {
        /// Fewest rows.
        #[serde(default)]
        min: Option<u64>,
        /// Most rows.
        #[serde(default)]
        max: Option<u64>,
    },
    /// A query over `{table}` returning the failing rows; passes when at most `max` come back.
    CustomSql {
        /// The query; `{table}` stands for the table under test.
        sql: String,
        /// Most failing rows allowed.
        #[serde(default)]
        max: u64,
    },
}

/// The outcome of one rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleResult {
    /// The rule's name.
    pub rule: String,
    /// The kind of check.
    pub kind: &'static str,
    /// The observed value (share, count), if the table had rows to observe.
    pub observed: Option<f64>,
    /// The threshold, as text (`>= 0.99`, `between 1 and 100`).
    pub threshold: String,
    /// Whether it passed.
    pub passed: bool,
    /// Its severity.
    pub severity: Severity,
    /// Its weight.
    pub weight: f64,
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
    /// Names of the rules that failed.
    pub failed_rules: Vec<String>,
    /// Every rule's outcome.
    pub rules: Vec<RuleResult>,
}

fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl RuleSpec {
    /// The rule's name: as declared, or derived from the check.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| match &self.check {
            Check::Completeness { column, .. } => format!("completeness({column})"),
            Check::IsComplete { column } => format!("is_complete({column})"),
            Check::Uniqueness { columns, .. } => format!("uniqueness({})", columns.join(", ")),
            Check::ColumnValues { column, .. } => format!("column_values({column})"),
            Check::RowCount { .. } => "row_count".into(),
            Check::CustomSql { .. } => "custom_sql".into(),
        })
    }

    fn kind(&self) -> &'static str {
        match self.check {
            Check::Completeness { .. } => "completeness",
            Check::IsComplete { .. } => "is_complete",
            Check::Uniqueness { .. } => "uniqueness",
            Check::ColumnValues { .. } => "column_values",
            Check::RowCount { .. } => "row_count",
            Check::CustomSql { .. } => "custom_sql",
        }
    }

    /// Problems with the declaration itself, without any data.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let share = |min: f64, problems: &mut Vec<String>| {
            if !(0.0..=1.0).contains(&min) {
                problems.push(format!("check.min: {min} is not a share between 0 and 1"));
            }
        };
        match &self.check {
            Check::Completeness { min, .. } => share(*min, &mut problems),
            Check::Uniqueness { columns, min } => {
                share(*min, &mut problems);
                if columns.is_empty() {
                    problems.push("check.columns: name at least one column".into());
                }
            }
            Check::ColumnValues {
                allowed,
                between,
                matches,
                min,
                ..
            } => {
                share(*min, &mut problems);
                let conditions = [allowed.is_some(), between.is_some(), matches.is_some()];
                if conditions.iter().filter(|c| **c).count() != 1 {
                    problems.push("check: give exactly one of in, between, matches".into());
                }
            }
            Check::RowCount { min, max } => {
                if min.is_none() && max.is_none() {
                    problems.push("check: give min, max or both".into());
                }
                if let (Some(min), Some(max)) = (min, max)
                    && min > max
                {
                    problems.push(format!("check: min {min} is above max {max}"));
                }
            }
            Check::CustomSql { sql, .. } => {
                if !sql.contains("{table}") {
                    problems.push("check.sql: refer to the table under test as {table}".into());
                }
            }
            Check::IsComplete { .. } => {}
        }
        if !(self.weight.is_finite() && self.weight > 0.0) {
            problems.push(format!("weight: {} must be above 0", self.weight));
        }
        problems
    }

    /// The query returning the observed value, and how to judge it.
    fn plan(&self, table: &str) -> (String, Judge) {
        let filter = self
            .filter
            .as_deref()
            .map_or(String::new(), |f| format!(" WHERE ({f})"));
        let and_filter = self
            .filter
            .as_deref()
            .map_or(String::new(), |f| format!(" AND ({f})"));
        let share_of = |condition: &str| {
            format!("SELECT AVG(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END) FROM {table}{filter}")
        };
        match &self.check {
            Check::Completeness { column, min } => (
                share_of(&format!("{} IS NOT NULL", ident(column))),
                Judge::AtLeast(*min),
            ),
            Check::IsComplete { column } => (
                share_of(&format!("{} IS NOT NULL", ident(column))),
                Judge::AtLeast(1.0),
            ),
            Check::Uniqueness { columns, min } => {
                let list = columns
                    .iter()
                    .map(|c| ident(c))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    format!(
                        "SELECT CAST(COUNT(*) AS DOUBLE) / NULLIF((SELECT COUNT(*) FROM {table}{filter}), 0) \
                         FROM (SELECT {list} FROM {table}{filter} GROUP BY {list})"
                    ),
                    Judge::AtLeast(*min),
                )
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
                (
                    format!(
                        "SELECT AVG(CASE WHEN {condition} THEN 1.0 ELSE 0.0 END) FROM {table} \
                         WHERE {column} IS NOT NULL{and_filter}"
                    ),
                    Judge::AtLeast(*min),
                )
            }
            Check::RowCount { min, max } => (
                format!("SELECT CAST(COUNT(*) AS DOUBLE) FROM {table}{filter}"),
                Judge::Between(min.map(|m| m as f64), max.map(|m| m as f64)),
            ),
            Check::CustomSql { sql, max } => (
                format!(
                    "SELECT CAST(COUNT(*) AS DOUBLE) FROM ({}){filter}",
                    sql.replace("{table}", table)
                ),
                Judge::Between(None, Some(*max as f64)),
            ),
        }
    }
}

/// How an observed value is judged.
#[derive(Debug, Clone, Copy)]
enum Judge {
    AtLeast(f64),
    Between(Option<f64>, Option<f64>),
}

impl Judge {
    /// No rows to observe (a share over nothing) passes: there is nothing wrong to count.
    fn passes(self, observed: Option<f64>) -> bool {
        match (self, observed) {
            (Judge::AtLeast(_), None) => true,
            (Judge::AtLeast(min), Some(value)) => value + 1e-12 >= min,
            (Judge::Between(min, max), value) => {
                let value = value.unwrap_or(0.0);
                min.is_none_or(|m| value >= m) && max.is_none_or(|m| value <= m)
            }
        }
    }

    fn describe(self) -> String {
        match self {
            Judge::AtLeast(min) => format!(">= {min}"),
            Judge::Between(Some(min), Some(max)) => format!("between {min} and {max}"),
            Judge::Between(Some(min), None) => format!(">= {min}"),
            Judge::Between(None, Some(max)) => format!("<= {max}"),
            Judge::Between(None, None) => "any".into(),
        }
    }
}

/// Evaluates the rules over `table` (a name registered in `ctx`).
pub async fn evaluate(
    ctx: &SessionContext,
    table: &str,
    spec: &QualitySpec,
) -> Result<QualityReport, QualityError> {
    let mut rules = Vec::with_capacity(spec.rules.len());
    for rule in &spec.rules {
        let name = rule.display_name();
        if let Some(problem) = rule.problems().into_iter().next() {
            return Err(QualityError::Declaration {
                rule: name,
                reason: problem,
            });
        }
        let (sql, judge) = rule.plan(table);
        let error = |source| QualityError::Rule {
            rule: name.clone(),
            source: Box::new(source),
        };
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(error)?
            .collect()
            .await
            .map_err(error)?;
        let observed = batches
            .iter()
            .find(|b| b.num_rows() > 0)
            .map(|b| datafusion::arrow::compute::cast(b.column(0), &DataType::Float64))
            .transpose()
            .map_err(|e| error(e.into()))?
            .and_then(|column| {
                let values = column.as_primitive::<Float64Type>();
                values.is_valid(0).then(|| values.value(0))
            });
        rules.push(RuleResult {
            rule: name,
            kind: rule.kind(),
            observed,
            threshold: judge.describe(),
            passed: judge.passes(observed),
            severity: rule.severity,
            weight: rule.weight,
        });
    }
    Ok(score(rules, spec.min_score))
}

fn score(rules: Vec<RuleResult>, min_score: f64) -> QualityReport {
    let counted = rules.iter().filter(|r| r.severity == Severity::Error);
    let total: f64 = counted.clone().map(|r| r.weight).sum();
    let passed: f64 = counted.filter(|r| r.passed).map(|r| r.weight).sum();
    let score = if total > 0.0 { passed / total } else { 1.0 };
    QualityReport {
        score,
        min_score,
        passed: score + 1e-12 >= min_score,
        failed_rules: rules
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.rule.clone())
            .collect(),
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};

    async fn table() -> SessionContext {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("currency", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(2), None])),
                Arc::new(StringArray::from(vec![
                    Some("USD"),
                    Some("EUR"),
                    Some("XXX"),
                    None,
                ])),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_batch("t", batch).unwrap();
        ctx
    }

    fn rule(yaml_check: Check) -> RuleSpec {
        RuleSpec {
            name: None,
            check: yaml_check,
            filter: None,
            weight: 1.0,
            severity: Severity::Error,
        }
    }

    async fn outcome(check: Check) -> (Option<f64>, bool) {
        let spec = QualitySpec {
            min_score: 1.0,
            rules: vec![rule(check)],
        };
        let report = evaluate(&table().await, "t", &spec).await.unwrap();
        (report.rules[0].observed, report.rules[0].passed)
    }

    #[tokio::test]
    async fn each_kind_passes_and_fails() {
        let column = |c: &str| c.to_string();
        assert_eq!(
            outcome(Check::Completeness {
                column: column("id"),
                min: 0.75
            })
            .await,
            (Some(0.75), true)
        );
        assert_eq!(
            outcome(Check::Completeness {
                column: column("id"),
                min: 0.8
            })
            .await,
            (Some(0.75), false)
        );
        assert!(
            !outcome(Check::IsComplete {
                column: column("id")
            })
            .await
            .1
        );
        assert_eq!(
            outcome(Check::Uniqueness {
                columns: vec![column("id")],
                min: 1.0
            })
            .await,
            (Some(0.75), false)
        );
        let values =
            |allowed: Option<Vec<String>>, between, matches: Option<String>| Check::ColumnValues {
                column: column("currency"),
                allowed,
                between,
                matches,
                min: 1.0,
            };
        let in_set = values(Some(vec!["USD".into(), "EUR".into()]), None, None);
        let observed = outcome(in_set).await;
        assert!(!observed.1 && (observed.0.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        assert!(outcome(values(None, None, Some("[A-Z]{3}".into()))).await.1);
        let range = Check::ColumnValues {
            column: column("id"),
            allowed: None,
            between: Some([1.0, 1.5]),
            matches: None,
            min: 1.0,
        };
        assert!(!outcome(range).await.1);
        assert_eq!(
            outcome(Check::RowCount {
                min: Some(1),
                max: Some(4)
            })
            .await,
            (Some(4.0), true)
        );
        assert!(
            !outcome(Check::RowCount {
                min: Some(5),
                max: None
            })
            .await
            .1
        );
        let duplicates = "SELECT id FROM {table} GROUP BY id HAVING COUNT(*) > 1".to_string();
        assert_eq!(
            outcome(Check::CustomSql {
                sql: duplicates.clone(),
                max: 0
            })
            .await,
            (Some(1.0), false)
        );
        assert!(
            outcome(Check::CustomSql {
                sql: duplicates,
                max: 1
            })
            .await
            .1
        );
    }

    #[tokio::test]
    async fn score_weighs_error_rules_and_gates() {
        let mut failing = rule(Check::IsComplete {
            column: "id".into(),
        });
        failing.weight = 3.0;
        let mut warning = rule(Check::RowCount {
            min: Some(100),
            max: None,
        });
        warning.severity = Severity::Warn;
        let passing = rule(Check::RowCount {
            min: Some(1),
            max: None,
        });
        let mut filtered = rule(Check::IsComplete {
            column: "id".into(),
        });
        filtered.filter = Some("currency IS NOT NULL".into());
        let spec = QualitySpec {
            min_score: 0.5,
            rules: vec![failing, warning, passing, filtered],
        };
        let report = evaluate(&table().await, "t", &spec).await.unwrap();
        assert_eq!(report.score, 2.0 / 5.0);
        assert!(!report.passed);
        assert_eq!(
            report.failed_rules,
            vec!["is_complete(id)".to_string(), "row_count".to_string()]
        );
    }

    #[tokio::test]
    async fn bad_rules_are_errors_naming_the_rule() {
        let spec = QualitySpec {
            min_score: 1.0,
            rules: vec![rule(Check::IsComplete {
                column: "nope".into(),
            })],
        };
        let error = evaluate(&table().await, "t", &spec)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("quality rule 'is_complete(nope)' cannot be evaluated"),
            "{error}"
        );
        let spec = QualitySpec {
            min_score: 1.0,
            rules: vec![rule(Check::RowCount {
                min: None,
                max: None,
            })],
        };
        assert!(matches!(
            evaluate(&table().await, "t", &spec).await,
            Err(QualityError::Declaration { .. })
        ));
    }
}
