//! SQL written in job files (a job's query, custom_sql rules) may only read tables: creating a
//! table over another path (`CREATE EXTERNAL TABLE`), writing files (`COPY`, `INSERT`) or
//! changing the session (`SET`) would let a job reach outside the lake.

use datafusion::dataframe::DataFrame;
use datafusion::error::Result;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

/// Plans `sql` from a job file, refusing anything but reads.
pub async fn plan_job_sql(ctx: &SessionContext, sql: &str) -> Result<DataFrame> {
    let reads_only = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    ctx.sql_with_options(sql, reads_only).await
}

/// Why `sql` is not one query (SELECT, WITH or VALUES), checked before anything runs.
pub fn job_query_problem(sql: &str) -> Option<String> {
    let statements = match DFParser::parse_sql(sql) {
        Ok(statements) => statements,
        Err(e) => return Some(e.to_string()),
    };
    match statements.front() {
        _ if statements.len() != 1 => Some(format!(
            "write exactly one query, not {} statements",
            statements.len()
        )),
        Some(Statement::Statement(statement)) if matches!(**statement, SqlStatement::Query(_)) => {
            None
        }
        _ => Some(
            "only a query (SELECT, WITH or VALUES) may be written here: SQL in a job reads tables, \
             it never creates tables, writes files or changes settings"
                .into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_query_passes() {
        assert_eq!(job_query_problem("SELECT 1"), None);
        assert_eq!(
            job_query_problem("WITH t AS (SELECT 1 AS a) SELECT a FROM t"),
            None
        );
        for hostile in [
            "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
            "COPY (SELECT 1) TO '/tmp/out.csv'",
            "INSERT INTO t VALUES (1)",
            "SET datafusion.execution.target_partitions = 1",
            "DROP TABLE processed.transactions",
        ] {
            let problem = job_query_problem(hostile).unwrap_or_default();
            assert!(problem.contains("only a query"), "{hostile}: {problem}");
        }
        assert!(job_query_problem("SELECT 1; SELECT 2").is_some_and(|p| p.contains("exactly one")));
        assert!(job_query_problem("SELEC 1").is_some());
    }

    #[tokio::test]
    async fn planning_refuses_what_is_not_a_read() {
        let ctx = SessionContext::new();
        let scratch = std::env::temp_dir().join(format!("lakejob-copy-{}", std::process::id()));
        for hostile in [
            format!(
                "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
                scratch.display()
            ),
            "CREATE EXTERNAL TABLE leak (line VARCHAR) STORED AS CSV LOCATION '/etc/hostname'"
                .into(),
            "SET datafusion.execution.batch_size = 1".into(),
        ] {
            assert!(plan_job_sql(&ctx, &hostile).await.is_err(), "{hostile}");
        }
        assert!(!scratch.exists(), "nothing was written");
        assert!(plan_job_sql(&ctx, "SELECT 1").await.is_ok());
    }
}
