//! Data-quality rules declared per table, evaluated as DataFusion queries over the rows about to
//! be published, folded into a weighted score that gates publication, and reported as JSON and
//! as a self-contained HTML page.

mod evaluate;
pub mod keys;
mod report;
mod spec;
mod sql;

pub use evaluate::{Evaluation, Outcome, QualityReport, RuleResult, format_observed};
pub use report::{ReportPage, RunPoint};
pub use spec::{Check, QualitySpec, RuleSpec, Severity, SqlReturns, parse_duration};
pub use sql::{job_query_problem, plan_job_sql};

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};
    use datafusion::arrow::array::{
        Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::prelude::SessionContext;

    /// Four rows: a duplicate id, a null id, an unknown currency, a null currency; products
    /// P1 and P2 exist in `ref.products`, P9 does not.
    async fn session() -> SessionContext {
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("currency", DataType::Utf8, true),
            Field::new("product_id", DataType::Utf8, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("event_time", utc, true),
        ]));
        let noon = |day: u32| {
            Utc.with_ymd_and_hms(2025, 1, day, 12, 0, 0)
                .single()
                .map(|t| t.timestamp_micros())
        };
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
                Arc::new(StringArray::from(vec![
                    Some("P1"),
                    Some("P2"),
                    Some("P9"),
                    None,
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(10.0),
                    Some(20.0),
                    Some(30.0),
                    None,
                ])),
                Arc::new(
                    TimestampMicrosecondArray::from(vec![noon(1), noon(2), noon(3), None])
                        .with_timezone("UTC"),
                ),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_batch("t", batch).unwrap();
        let products = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new(
                "product_id",
                DataType::Utf8,
                false,
            )])),
            vec![Arc::new(StringArray::from(vec!["P1", "P2", "P3"]))],
        )
        .unwrap();
        ctx.sql("CREATE SCHEMA reference").await.unwrap();
        ctx.register_batch("reference.products", products).unwrap();
        ctx
    }

    fn rule(check_yaml: &str) -> RuleSpec {
        serde_yaml::from_str(&format!("check: {check_yaml}")).unwrap()
    }

    /// End of 2025-01-03, the reference time of a run for that date.
    fn end_of_day_3() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 4, 0, 0, 0).unwrap()
    }

    async fn evaluate(rules: Vec<RuleSpec>, baseline: HashMap<String, f64>) -> QualityReport {
        let spec = QualitySpec {
            min_score: 1.0,
            rules,
        };
        Evaluation::new(&session().await, "t", &spec)
            .with_reference_time(end_of_day_3())
            .with_baseline(baseline)
            .execute()
            .await
            .unwrap()
    }

    async fn outcome(check_yaml: &str) -> (Option<f64>, Outcome) {
        let report = evaluate(vec![rule(check_yaml)], HashMap::new()).await;
        (report.rules[0].observed, report.rules[0].outcome)
    }

    fn near(observed: Option<f64>, expected: f64) -> bool {
        observed.is_some_and(|v| (v - expected).abs() < 1e-9)
    }

    #[tokio::test]
    async fn each_kind_passes_and_fails() {
        use Outcome::{Failed, NotEvaluated, Passed};
        let cases: &[(&str, f64, Outcome)] = &[
            ("{kind: completeness, column: id, min: 0.75}", 0.75, Passed),
            ("{kind: completeness, column: id, min: 0.8}", 0.75, Failed),
            ("{kind: is_complete, column: id}", 0.75, Failed),
            ("{kind: is_complete, column: id}", 0.75, Failed),
            ("{kind: uniqueness, columns: [id]}", 0.75, Failed),
            ("{kind: uniqueness, columns: [currency]}", 1.0, Passed),
            ("{kind: is_primary_key, columns: [currency]}", 0.75, Failed),
            (
                "{kind: is_primary_key, columns: [id, currency]}",
                0.75,
                Failed,
            ),
            (
                "{kind: column_values, column: currency, in: [USD, EUR]}",
                2.0 / 3.0,
                Failed,
            ),
            (
                "{kind: column_values, column: currency, in: [USD, EUR], min: 0.6}",
                2.0 / 3.0,
                Passed,
            ),
            (
                "{kind: column_values, column: currency, matches: \"[A-Z]{3}\"}",
                1.0,
                Passed,
            ),
            (
                "{kind: column_values, column: id, between: [1, 1.5]}",
                1.0 / 3.0,
                Failed,
            ),
            ("{kind: row_count, min: 1, max: 4}", 4.0, Passed),
            ("{kind: row_count, min: 5}", 4.0, Failed),
            (
                "{kind: data_freshness, column: event_time, max_age: 12h}",
                12.0,
                Passed,
            ),
            (
                "{kind: data_freshness, column: event_time, max_age: 11h}",
                12.0,
                Failed,
            ),
            (
                "{kind: referential_integrity, column: product_id, table: reference.products, key: product_id}",
                2.0 / 3.0,
                Failed,
            ),
            (
                "{kind: referential_integrity, column: product_id, table: reference.products, key: product_id, min: 0.6}",
                2.0 / 3.0,
                Passed,
            ),
            (
                "{kind: sum, column: amount, min: 60, max: 60}",
                60.0,
                Passed,
            ),
            ("{kind: sum, column: amount, max: 59.5}", 60.0, Failed),
            (
                "{kind: mean, column: amount, min: 10, max: 20}",
                20.0,
                Passed,
            ),
            ("{kind: mean, column: amount, min: 21}", 20.0, Failed),
            (
                "{kind: custom_sql, sql: \"SELECT id FROM {table} GROUP BY id HAVING COUNT(*) > 1\"}",
                1.0,
                Failed,
            ),
            (
                "{kind: custom_sql, sql: \"SELECT id FROM {table} GROUP BY id HAVING COUNT(*) > 1\", max: 1}",
                1.0,
                Passed,
            ),
            (
                "{kind: custom_sql, returns: value, sql: \"SELECT MAX(amount) / MIN(amount) FROM {table}\", max: 3}",
                3.0,
                Passed,
            ),
            (
                "{kind: custom_sql, returns: value, sql: \"SELECT MAX(amount) / MIN(amount) FROM {table}\", min: 4}",
                3.0,
                Failed,
            ),
        ];
        for (check, expected, wanted) in cases {
            let (observed, got) = outcome(check).await;
            assert!(near(observed, *expected), "{check}: observed {observed:?}");
            assert_eq!(got, *wanted, "{check}");
        }
        let missing = outcome(
            "{kind: referential_integrity, column: product_id, table: reference.nope, key: product_id}",
        )
        .await;
        assert_eq!(missing, (None, NotEvaluated));
    }

    #[tokio::test]
    async fn row_count_change_compares_with_the_previous_run() {
        let change = |name: &str| {
            let mut rule = rule("{kind: row_count, max_change: 0.3}");
            rule.name = Some(name.into());
            rule
        };
        let baseline = HashMap::from([("steady".to_string(), 5.0), ("swing".to_string(), 10.0)]);
        let report = evaluate(
            vec![change("steady"), change("swing"), change("first run")],
            baseline,
        )
        .await;
        let outcomes: Vec<Outcome> = report.rules.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            vec![Outcome::Passed, Outcome::Failed, Outcome::Passed]
        );
        assert_eq!(report.rules[1].threshold, "within 30% of 10 (previous run)");
        assert_eq!(
            report.rules[2].detail.as_deref(),
            Some("no previous run to compare with")
        );
    }

    #[tokio::test]
    async fn rules_on_an_empty_table() {
        let ctx = session().await;
        ctx.sql("CREATE TABLE empty AS SELECT * FROM t WHERE false")
            .await
            .unwrap();
        let rules = [
            ("{kind: is_complete, column: id}", Outcome::Passed),
            ("{kind: uniqueness, columns: [id]}", Outcome::Passed),
            ("{kind: row_count, min: 1}", Outcome::Failed),
            ("{kind: sum, column: amount, max: 0}", Outcome::Passed),
            (
                "{kind: data_freshness, column: event_time, max_age: 2d}",
                Outcome::Failed,
            ),
            (
                "{kind: referential_integrity, column: product_id, table: reference.products, key: product_id}",
                Outcome::Passed,
            ),
        ];
        let spec = QualitySpec {
            min_score: 1.0,
            rules: rules.iter().map(|(r, _)| rule(r)).collect(),
        };
        let report = Evaluation::new(&ctx, "empty", &spec)
            .execute()
            .await
            .unwrap();
        for (result, (check, wanted)) in report.rules.iter().zip(rules) {
            assert_eq!(result.outcome, wanted, "{check}");
        }
        assert_eq!(
            report.rules[4].detail.as_deref(),
            Some("event_time has no values")
        );
    }

    #[tokio::test]
    async fn score_weighs_counted_rules_and_gates() {
        let mut failing = rule("{kind: is_complete, column: id}");
        failing.weight = 3.0;
        let mut warning = rule("{kind: row_count, min: 100}");
        warning.severity = Severity::Warn;
        let passing = rule("{kind: row_count, min: 1}");
        let mut filtered = rule("{kind: is_complete, column: id}");
        filtered.filter = Some("currency IS NOT NULL".into());
        let unobservable = rule(
            "{kind: referential_integrity, column: product_id, table: reference.nope, key: product_id}",
        );
        let spec = QualitySpec {
            min_score: 0.5,
            rules: vec![failing, warning, passing, filtered, unobservable],
        };
        let report = Evaluation::new(&session().await, "t", &spec)
            .execute()
            .await
            .unwrap();
        assert_eq!(report.score, 2.0 / 5.0);
        assert!(!report.passed);
        assert_eq!(
            report.failed_rules,
            vec![
                "is_complete(id): observed 0.75, wanted >= 1 (25.00% of id values are null)"
                    .to_string(),
                "row_count: observed 4, wanted >= 100".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn bad_rules_are_errors_naming_the_rule() {
        let ctx = session().await;
        for (check, message) in [
            (
                "{kind: is_complete, column: nope}",
                "quality rule 'is_complete(nope)' cannot be evaluated",
            ),
            (
                "{kind: referential_integrity, column: nope, table: reference.missing, key: k}",
                "quality rule 'referential_integrity(nope)' cannot be evaluated",
            ),
            ("{kind: row_count}", "give min, max, max_change or several"),
            (
                "{kind: data_freshness, column: event_time, max_age: soon}",
                "'soon' is not a duration",
            ),
            (
                "{kind: sum, column: amount, min: 3, max: 1}",
                "min 3 is above max 1",
            ),
            (
                "{kind: custom_sql, returns: value, sql: \"SELECT 1 FROM {table}\"}",
                "give min, max or both",
            ),
            (
                "{kind: referential_integrity, column: id, table: products, key: id}",
                "'products' is not a table name",
            ),
        ] {
            let spec = QualitySpec {
                min_score: 1.0,
                rules: vec![rule(check)],
            };
            let error = Evaluation::new(&ctx, "t", &spec)
                .execute()
                .await
                .unwrap_err()
                .to_string();
            assert!(error.contains(message), "{check}: {error}");
        }
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("36h").unwrap().as_secs(), 36 * 3600);
        assert_eq!(parse_duration("2d").unwrap().as_secs(), 2 * 86_400);
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }
}
