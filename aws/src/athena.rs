//! Queries on Amazon Athena: start, poll with backoff, page through the results. The rows come
//! back as an Arrow batch of strings (Athena's result format), printed like local results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecutionContext, QueryExecutionState, ResultConfiguration};
use lakejob_engine::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use lakejob_engine::datafusion::arrow::datatypes::{DataType, Field, Schema};

use crate::AwsError;

/// First and longest wait between polls of a running query.
const FIRST_POLL: Duration = Duration::from_millis(200);
const LONGEST_POLL: Duration = Duration::from_secs(5);

/// One Athena query, builder style.
#[derive(Debug)]
pub struct AthenaQuery {
    client: Client,
    sql: String,
    workgroup: Option<String>,
    output_location: Option<String>,
    database: Option<String>,
    timeout: Duration,
}

/// What a query returned.
#[derive(Debug)]
pub struct AthenaResult {
    /// Athena's id of the execution.
    pub query_execution_id: String,
    /// The rows, every column as text.
    pub batch: RecordBatch,
    /// Bytes Athena scanned (what it bills).
    pub bytes_scanned: Option<i64>,
}

fn error(operation: &'static str, message: String) -> AwsError {
    AwsError::Athena { operation, message }
}

impl AthenaQuery {
    /// A query with the configuration's credentials, region and endpoint.
    pub fn new(config: &SdkConfig, sql: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            sql: sql.into(),
            workgroup: None,
            output_location: None,
            database: None,
            timeout: Duration::from_secs(30 * 60),
        }
    }

    /// The workgroup (its settings may enforce the output location and a scan limit).
    pub fn with_workgroup(mut self, workgroup: Option<String>) -> Self {
        self.workgroup = workgroup;
        self
    }

    /// Where Athena writes results (`s3://bucket/prefix/`), unless the workgroup says.
    pub fn with_output_location(mut self, location: Option<String>) -> Self {
        self.output_location = location;
        self
    }

    /// The database unqualified table names resolve in.
    pub fn with_database(mut self, database: Option<String>) -> Self {
        self.database = database;
        self
    }

    /// Starts the query, waits for it and reads every page of its results.
    pub async fn execute(self) -> Result<AthenaResult, AwsError> {
        let mut start = self.client.start_query_execution().query_string(&self.sql);
        if let Some(workgroup) = &self.workgroup {
            start = start.work_group(workgroup);
        }
        if let Some(location) = &self.output_location {
            start = start.result_configuration(
                ResultConfiguration::builder()
                    .output_location(location)
                    .build(),
            );
        }
        if let Some(database) = &self.database {
            start = start.query_execution_context(
                QueryExecutionContext::builder().database(database).build(),
            );
        }
        let id = start
            .send()
            .await
            .map_err(|e| error("StartQueryExecution", crate::sdk_message(&e)))?
            .query_execution_id
            .ok_or_else(|| error("StartQueryExecution", "no query execution id".into()))?;
        let bytes_scanned = self.wait(&id).await?;
        let batch = self.results(&id).await?;
        Ok(AthenaResult {
            query_execution_id: id,
            batch,
            bytes_scanned,
        })
    }

    /// Polls until the query ends; FAILED and CANCELLED carry Athena's reason.
    async fn wait(&self, id: &str) -> Result<Option<i64>, AwsError> {
        let started = Instant::now();
        let mut pause = FIRST_POLL;
        loop {
            let execution = self
                .client
                .get_query_execution()
                .query_execution_id(id)
                .send()
                .await
                .map_err(|e| error("GetQueryExecution", crate::sdk_message(&e)))?
                .query_execution
                .ok_or_else(|| error("GetQueryExecution", format!("query {id} is unknown")))?;
            let status = execution.status();
            let reason = || {
                status
                    .and_then(|s| s.state_change_reason())
                    .unwrap_or("Athena gave no reason")
                    .to_string()
            };
            match status.and_then(|s| s.state()) {
                Some(QueryExecutionState::Succeeded) => {
                    return Ok(execution
                        .statistics()
                        .and_then(|s| s.data_scanned_in_bytes()));
                }
                Some(QueryExecutionState::Failed) => {
                    return Err(AwsError::AthenaQuery {
                        id: id.to_string(),
                        state: "FAILED",
                        reason: reason(),
                    });
                }
                Some(QueryExecutionState::Cancelled) => {
                    return Err(AwsError::AthenaQuery {
                        id: id.to_string(),
                        state: "CANCELLED",
                        reason: reason(),
                    });
                }
                _ if started.elapsed() > self.timeout => {
                    return Err(AwsError::AthenaQuery {
                        id: id.to_string(),
                        state: "TIMED OUT",
                        reason: format!("still running after {:?}", self.timeout),
                    });
                }
                _ => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 3 / 2).min(LONGEST_POLL);
                }
            }
        }
    }

    async fn results(&self, id: &str) -> Result<RecordBatch, AwsError> {
        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(id)
            .into_paginator()
            .send();
        let mut names: Vec<String> = Vec::new();
        let mut rows: Vec<Vec<Option<String>>> = Vec::new();
        let mut first_page = true;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| error("GetQueryResults", crate::sdk_message(&e)))?;
            let Some(result_set) = page.result_set() else {
                continue;
            };
            if names.is_empty() {
                names = result_set
                    .result_set_metadata()
                    .map(|m| {
                        m.column_info()
                            .iter()
                            .map(|c| c.name().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
            }
            for (index, row) in result_set.rows().iter().enumerate() {
                let values: Vec<Option<String>> = row
                    .data()
                    .iter()
                    .map(|d| d.var_char_value().map(str::to_string))
                    .collect();
                // SELECT results start with a row of column names.
                let is_header = first_page
                    && index == 0
                    && values
                        .iter()
                        .map(|v| v.as_deref().unwrap_or_default())
                        .eq(names.iter().map(String::as_str));
                if !is_header {
                    rows.push(values);
                }
            }
            first_page = false;
        }
        if names.is_empty() {
            let width = rows.first().map_or(0, Vec::len);
            names = (0..width).map(|i| format!("_col{i}")).collect();
        }
        let schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let columns: Vec<ArrayRef> = (0..names.len())
            .map(|i| {
                Arc::new(StringArray::from_iter(
                    rows.iter().map(|r| r.get(i).cloned().flatten()),
                )) as ArrayRef
            })
            .collect();
        RecordBatch::try_new(schema, columns)
            .map_err(|e| error("GetQueryResults", format!("building the result rows: {e}")))
    }
}
