//! The quality section of a job as declared in YAML: rules, their kinds and the gate.

use std::time::Duration;

use serde::{Deserialize, Serialize};

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

impl QualitySpec {
    /// The catalog tables (`database.table`) the rules read besides the table under test.
    pub fn referenced_tables(&self) -> Vec<&str> {
        let mut tables: Vec<&str> = self
            .rules
            .iter()
            .filter_map(|rule| match &rule.check {
                Check::ReferentialIntegrity { table, .. } => Some(table.as_str()),
                _ => None,
            })
            .collect();
        tables.sort_unstable();
        tables.dedup();
        tables
    }

    /// Whether a rule compares with the previous run's observation.
    pub fn needs_baseline(&self) -> bool {
        self.rules.iter().any(|rule| {
            matches!(
                rule.check,
                Check::RowCount {
                    max_change: Some(_),
                    ..
                }
            )
        })
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

impl Severity {
    /// The name used in YAML, JSON and the results table.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
    }
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

/// What a custom SQL query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlReturns {
    /// The failing rows; their count is the observed value.
    #[default]
    FailingRows,
    /// One number (first column of the first row), the observed value.
    Value,
}

/// The kinds of check, named after AWS Glue Data Quality (DQDL), dbt tests and Deequ.
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
    /// The columns are never null and no combination repeats.
    IsPrimaryKey {
        /// The columns.
        columns: Vec<String>,
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
    /// The number of rows is within bounds, and within a share of the previous run's count.
    RowCount {
        /// Fewest rows.
        #[serde(default)]
        min: Option<u64>,
        /// Most rows.
        #[serde(default)]
        max: Option<u64>,
        /// Largest change from the previous published run, as a share (0.3 = within 30%).
        #[serde(default)]
        max_change: Option<f64>,
    },
    /// The newest value of a timestamp or date column is at most `max_age` older than the run's
    /// reference time (the end of the run's data date).
    DataFreshness {
        /// The timestamp or date column.
        column: String,
        /// The largest age: a number and a unit, `s`, `m`, `h` or `d` (`36h`, `2d`).
        max_age: String,
    },
    /// The share of non-null values of `column` found in `key` of another catalog table.
    ReferentialIntegrity {
        /// The column of the table under test.
        column: String,
        /// The other table, `database.table`.
        table: String,
        /// Its key column.
        key: String,
        /// Lowest passing share, 0 to 1.
        #[serde(default = "default_share")]
        min: f64,
    },
    /// The sum of a numeric column is within bounds.
    Sum {
        /// The column.
        column: String,
        /// Lowest passing sum.
        #[serde(default)]
        min: Option<f64>,
        /// Highest passing sum.
        #[serde(default)]
        max: Option<f64>,
    },
    /// The mean of a numeric column is within bounds.
    Mean {
        /// The column.
        column: String,
        /// Lowest passing mean.
        #[serde(default)]
        min: Option<f64>,
        /// Highest passing mean.
        #[serde(default)]
        max: Option<f64>,
    },
    /// A query over `{table}`: by default it returns the failing rows and passes when at most
    /// `max` come back; with `returns: value` its one number must be within `min` and `max`.
    CustomSql {
        /// The query; `{table}` stands for the table under test.
        sql: String,
        /// `failing_rows` (default) or `value`.
        #[serde(default)]
        returns: SqlReturns,
        /// Lowest passing value (`returns: value` only).
        #[serde(default)]
        min: Option<f64>,
        /// Most failing rows (default 0), or the highest passing value.
        #[serde(default)]
        max: Option<f64>,
    },
}

impl RuleSpec {
    /// The rule's name: as declared, or derived from the check.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| match &self.check {
            Check::Completeness { column, .. }
            | Check::IsComplete { column }
            | Check::ColumnValues { column, .. }
            | Check::DataFreshness { column, .. }
            | Check::ReferentialIntegrity { column, .. }
            | Check::Sum { column, .. }
            | Check::Mean { column, .. } => format!("{}({column})", self.kind()),
            Check::Uniqueness { columns, .. } | Check::IsPrimaryKey { columns } => {
                format!("{}({})", self.kind(), columns.join(", "))
            }
            Check::RowCount { .. } | Check::CustomSql { .. } => self.kind().into(),
        })
    }

    /// The kind's name as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self.check {
            Check::Completeness { .. } => "completeness",
            Check::IsComplete { .. } => "is_complete",
            Check::Uniqueness { .. } => "uniqueness",
            Check::IsPrimaryKey { .. } => "is_primary_key",
            Check::ColumnValues { .. } => "column_values",
            Check::RowCount { .. } => "row_count",
            Check::DataFreshness { .. } => "data_freshness",
            Check::ReferentialIntegrity { .. } => "referential_integrity",
            Check::Sum { .. } => "sum",
            Check::Mean { .. } => "mean",
            Check::CustomSql { .. } => "custom_sql",
        }
    }

    /// Problems with the declaration itself, without any data.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut share = |field: &str, value: f64| {
            if !(0.0..=1.0).contains(&value) {
                problems.push(format!(
                    "check.{field}: {value} is not a share between 0 and 1"
                ));
            }
        };
        match &self.check {
            Check::Completeness { min, .. }
            | Check::ColumnValues { min, .. }
            | Check::ReferentialIntegrity { min, .. }
            | Check::Uniqueness { min, .. } => share("min", *min),
            Check::RowCount {
                max_change: Some(change),
                ..
            } if !(change.is_finite() && *change >= 0.0) => problems.push(format!(
                "check.max_change: {change} is not a share of 0 or more (0.3 = within 30%)"
            )),
            _ => {}
        }
        match &self.check {
            Check::Uniqueness { columns, .. } | Check::IsPrimaryKey { columns }
                if columns.is_empty() =>
            {
                problems.push("check.columns: name at least one column".into());
            }
            Check::ColumnValues {
                allowed,
                between,
                matches,
                ..
            } => {
                let conditions = [allowed.is_some(), between.is_some(), matches.is_some()];
                if conditions.iter().filter(|c| **c).count() != 1 {
                    problems.push("check: give exactly one of in, between, matches".into());
                }
                if let Some([low, high]) = between
                    && (low > high || low.is_nan() || high.is_nan())
                {
                    problems.push(format!(
                        "check.between: [{low}, {high}] is empty; write [low, high]"
                    ));
                }
                // The rule's SQL compiles the expression the same way, with the same limits.
                if let Some(Err(e)) = matches.as_deref().map(regex::Regex::new) {
                    problems.push(format!("check.matches: {e}"));
                }
            }
            Check::RowCount {
                min,
                max,
                max_change,
            } => {
                if min.is_none() && max.is_none() && max_change.is_none() {
                    problems.push("check: give min, max, max_change or several".into());
                }
                bounds_problem(min.map(|m| m as f64), max.map(|m| m as f64), &mut problems);
            }
            Check::DataFreshness { max_age, .. } => {
                if let Err(problem) = parse_duration(max_age) {
                    problems.push(format!("check.max_age: {problem}"));
                }
            }
            Check::ReferentialIntegrity { table, .. }
                if table.split('.').count() != 2 || table.split('.').any(str::is_empty) =>
            {
                problems.push(format!(
                    "check.table: '{table}' is not a table name; write it as <database>.<table>"
                ));
            }
            Check::Sum { min, max, .. } | Check::Mean { min, max, .. } => {
                if min.is_none() && max.is_none() {
                    problems.push("check: give min, max or both".into());
                }
                bounds_problem(*min, *max, &mut problems);
            }
            Check::CustomSql {
                sql,
                returns,
                min,
                max,
            } => {
                if !sql.contains("{table}") {
                    problems.push("check.sql: refer to the table under test as {table}".into());
                }
                match returns {
                    SqlReturns::FailingRows if min.is_some() => problems.push(
                        "check.min: failing rows are bounded by max only; use returns: value for a number"
                            .into(),
                    ),
                    SqlReturns::Value if min.is_none() && max.is_none() => {
                        problems.push("check: give min, max or both for the value".into());
                    }
                    _ => bounds_problem(*min, *max, &mut problems),
                }
            }
            _ => {}
        }
        if !(self.weight.is_finite() && self.weight > 0.0) {
            problems.push(format!("weight: {} must be above 0", self.weight));
        }
        problems
    }
}

fn bounds_problem(min: Option<f64>, max: Option<f64>, problems: &mut Vec<String>) {
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        problems.push(format!("check: min {min} is above max {max}"));
    }
}

/// Parses `36h`, `90m`, `2d`, `45s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number
        .parse::<u64>()
        .ok()
        .zip((seconds_per_unit > 0).then_some(seconds_per_unit))
    {
        Some((n, unit)) if n.checked_mul(unit).is_some() => Ok(Duration::from_secs(n * unit)),
        _ => Err(format!(
            "'{text}' is not a duration; write a whole number and a unit s, m, h or d (36h, 2d)"
        )),
    }
}
