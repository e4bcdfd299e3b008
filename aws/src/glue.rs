//! The AWS Glue Data Catalog behind the engine's catalog trait, described so Athena reads the
//! tables: Parquet tables as EXTERNAL_TABLE with the Hive Parquet SerDe and MapredParquet
//! formats, Delta tables with `table_type=DELTA`; lower-case Hive types; string partition keys;
//! partitions added in batches, existing ones left as they are.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_glue::Client;
use aws_sdk_glue::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_glue::types::{
    Column, DatabaseInput, PartitionError, PartitionInput, PartitionValueList, SerDeInfo,
    StorageDescriptor, Table, TableInput,
};
use lakejob_engine::{
    Catalog, CatalogTable, ColumnDefinition, EngineError, PartitionValues, TableDefinition,
    TableFormat, TableName,
};

use crate::AwsError;

const PARQUET_INPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat";
const PARQUET_OUTPUT: &str = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat";
const PARQUET_SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";
/// BatchCreatePartition takes at most 100 partitions per call, BatchDeletePartition 25.
const PARTITION_BATCH: usize = 100;
const PARTITION_DELETE_BATCH: usize = 25;
/// Column parameter keeping nullability, which Glue has no field for.
const NULLABLE: &str = "lakejob.nullable";

/// The Glue Data Catalog: the lake's databases are `<prefix><database>` (`lakejob_processed`).
#[derive(Debug, Clone)]
pub struct GlueCatalog {
    client: Client,
    prefix: String,
    partition_projection: bool,
}

fn is_code<E: ProvideErrorMetadata>(error: &SdkError<E>, code: &str) -> bool {
    error
        .as_service_error()
        .is_some_and(|service| service.code() == Some(code))
}

impl GlueCatalog {
    /// A catalog over Glue with the configuration's credentials, region and endpoint.
    pub fn new(config: &SdkConfig, prefix: impl Into<String>) -> Self {
        Self {
            client: Client::new(config),
            prefix: prefix.into(),
            partition_projection: false,
        }
    }

    /// Writes Athena partition projection properties on Parquet tables partitioned by dates.
    pub fn with_partition_projection(mut self, enabled: bool) -> Self {
        self.partition_projection = enabled;
        self
    }

    /// The Glue database of a lake database.
    pub fn database_name(&self, database: &str) -> String {
        format!("{}{database}", self.prefix)
    }

    fn fail(operation: &'static str, table: &TableName, error: AwsError) -> EngineError {
        EngineError::Catalog {
            operation,
            table: table.to_string(),
            source: Box::new(error),
        }
    }

    async fn ensure_database(&self, database: &str) -> Result<(), AwsError> {
        let name = self.database_name(database);
        let input = DatabaseInput::builder()
            .name(&name)
            .description(format!("lakejob {database} zone"))
            .build()
            .map_err(|e| AwsError::Glue {
                operation: "CreateDatabase",
                target: name.clone(),
                message: e.to_string(),
            })?;
        match self
            .client
            .create_database()
            .database_input(input)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, "AlreadyExistsException") => Ok(()),
            Err(e) => Err(glue_error("CreateDatabase", &name, &e)),
        }
    }

    async fn get_table(&self, name: &TableName) -> Result<Option<Table>, AwsError> {
        let database = self.database_name(&name.database);
        match self
            .client
            .get_table()
            .database_name(&database)
            .name(&name.table)
            .send()
            .await
        {
            Ok(output) => Ok(output.table),
            Err(e) if is_code(&e, "EntityNotFoundException") => Ok(None),
            Err(e) => Err(AwsError::Glue {
                operation: "GetTable",
                target: format!("{database}.{}", name.table),
                message: crate::sdk_message(&e),
            }),
        }
    }

    async fn partitions(&self, name: &TableName) -> Result<Vec<PartitionValues>, AwsError> {
        let database = self.database_name(&name.database);
        let mut pages = self
            .client
            .get_partitions()
            .database_name(&database)
            .table_name(&name.table)
            .into_paginator()
            .send();
        let mut partitions = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::Glue {
                operation: "GetPartitions",
                target: format!("{database}.{}", name.table),
                message: crate::sdk_message(&e),
            })?;
            partitions.extend(page.partitions().iter().map(|p| p.values().to_vec()));
        }
        partitions.sort();
        Ok(partitions)
    }
}

/// A failed Glue call as an error naming the call and its target.
fn glue_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    operation: &'static str,
    target: &str,
    error: &SdkError<E>,
) -> AwsError {
    AwsError::Glue {
        operation,
        target: target.to_string(),
        message: crate::sdk_message(error),
    }
}

/// How many partitions of a batch call Glue skipped with the `tolerated` error code (already
/// there, already gone); any other refusal is an error naming the partition.
fn tolerated(
    errors: &[PartitionError],
    tolerated: &str,
    operation: &'static str,
    table: &str,
) -> Result<usize, AwsError> {
    let mut skipped = 0;
    for error in errors {
        let detail = error.error_detail();
        if detail.and_then(|d| d.error_code()) != Some(tolerated) {
            return Err(AwsError::Glue {
                operation,
                target: format!("{table} {:?}", error.partition_values()),
                message: detail
                    .and_then(|d| d.error_message())
                    .unwrap_or("refused")
                    .to_string(),
            });
        }
        skipped += 1;
    }
    Ok(skipped)
}

/// The storage descriptor Athena needs: columns, location, Parquet formats and SerDe.
fn storage_descriptor(location: &str, columns: Vec<Column>) -> StorageDescriptor {
    StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(location)
        .input_format(PARQUET_INPUT)
        .output_format(PARQUET_OUTPUT)
        .serde_info(
            SerDeInfo::builder()
                .serialization_library(PARQUET_SERDE)
                .parameters("serialization.format", "1")
                .build(),
        )
        .build()
}

fn glue_column(column: &ColumnDefinition, data_type: &str) -> Result<Column, AwsError> {
    Column::builder()
        .name(column.name.to_lowercase())
        .r#type(data_type)
        .parameters(NULLABLE, column.nullable.to_string())
        .build()
        .map_err(|e| AwsError::Glue {
            operation: "CreateTable",
            target: column.name.clone(),
            message: e.to_string(),
        })
}

/// Athena partition projection for a Parquet table partitioned by dates (`event_date`,
/// `raw_date`, or `year`/`month`/`day`): Athena computes partitions from the query instead of
/// reading them from the catalog. None when a partition column is not a date part.
fn projection_parameters(definition: &TableDefinition) -> Option<HashMap<String, String>> {
    if definition.format != TableFormat::Parquet || definition.partition_columns.is_empty() {
        return None;
    }
    let mut parameters = HashMap::from([("projection.enabled".to_string(), "true".to_string())]);
    let mut template = definition.location.clone();
    for column in &definition.partition_columns {
        let data_type = definition
            .columns
            .iter()
            .find(|c| &c.name == column)
            .map(|c| c.data_type.as_str());
        let settings: &[(&str, &str)] = match column.as_str() {
            "year" => &[("type", "integer"), ("range", "2000,2100")],
            "month" => &[("type", "integer"), ("range", "1,12")],
            "day" => &[("type", "integer"), ("range", "1,31")],
            name if name.ends_with("date") || data_type == Some("date") => &[
                ("type", "date"),
                ("format", "yyyy-MM-dd"),
                ("range", "2000-01-01,NOW"),
                ("interval", "1"),
                ("interval.unit", "DAYS"),
            ],
            _ => return None,
        };
        for (key, value) in settings {
            parameters.insert(format!("projection.{column}.{key}"), (*value).to_string());
        }
        template.push_str(&format!("{column}=${{{column}}}/"));
    }
    parameters.insert("storage.location.template".into(), template);
    Some(parameters)
}

fn table_input(
    definition: &TableDefinition,
    partition_projection: bool,
) -> Result<TableInput, AwsError> {
    let is_partition = |c: &ColumnDefinition| definition.partition_columns.contains(&c.name);
    let columns = definition
        .columns
        .iter()
        .filter(|c| !is_partition(c))
        .map(|c| glue_column(c, &c.data_type))
        .collect::<Result<Vec<_>, _>>()?;
    // Partition values live in paths, so they are strings to every reader of the catalog.
    let partition_keys = definition
        .partition_columns
        .iter()
        .filter_map(|p| definition.columns.iter().find(|c| &c.name == p))
        .map(|c| glue_column(c, "string"))
        .collect::<Result<Vec<_>, _>>()?;
    let mut parameters = HashMap::from([
        ("EXTERNAL".to_string(), "TRUE".to_string()),
        ("classification".to_string(), "parquet".to_string()),
    ]);
    if definition.format == TableFormat::Delta {
        parameters.insert("table_type".into(), "DELTA".into());
        parameters.insert("spark.sql.sources.provider".into(), "delta".into());
    }
    if partition_projection && let Some(projection) = projection_parameters(definition) {
        parameters.extend(projection);
    }
    let mut input = TableInput::builder()
        .name(definition.name.table.to_lowercase())
        .table_type("EXTERNAL_TABLE")
        .set_parameters(Some(parameters))
        .storage_descriptor(storage_descriptor(&definition.location, columns))
        .set_partition_keys(Some(partition_keys));
    if let Some(description) = &definition.description {
        input = input.description(description);
    }
    input.build().map_err(|e| AwsError::Glue {
        operation: "CreateTable",
        target: definition.name.to_string(),
        message: e.to_string(),
    })
}

fn definition_of(name: &TableName, table: &Table) -> TableDefinition {
    let column = |c: &Column, data_type: String| ColumnDefinition {
        name: c.name().to_string(),
        data_type,
        nullable: c
            .parameters()
            .and_then(|p| p.get(NULLABLE))
            .map(String::as_str)
            != Some("false"),
    };
    let descriptor = table.storage_descriptor();
    let mut columns: Vec<ColumnDefinition> = descriptor
        .map(|sd| sd.columns())
        .unwrap_or_default()
        .iter()
        .map(|c| column(c, c.r#type().unwrap_or("string").to_string()))
        .collect();
    columns.extend(
        table
            .partition_keys()
            .iter()
            .map(|c| column(c, c.r#type().unwrap_or("string").to_string())),
    );
    let format = match table.parameters().and_then(|p| p.get("table_type")) {
        Some(kind) if kind.eq_ignore_ascii_case("delta") => TableFormat::Delta,
        _ => TableFormat::Parquet,
    };
    TableDefinition {
        name: name.clone(),
        location: descriptor
            .and_then(StorageDescriptor::location)
            .unwrap_or_default()
            .to_string(),
        format,
        columns,
        partition_columns: table
            .partition_keys()
            .iter()
            .map(|c| c.name().to_string())
            .collect(),
        description: table.description().map(str::to_string),
    }
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn upsert_table(&self, definition: &TableDefinition) -> lakejob_engine::Result<()> {
        let name = &definition.name;
        let fail = |e| Self::fail("upsert_table", name, e);
        self.ensure_database(&name.database).await.map_err(fail)?;
        let input = table_input(definition, self.partition_projection).map_err(fail)?;
        let database = self.database_name(&name.database);
        let glue = |operation, e: String| {
            fail(AwsError::Glue {
                operation,
                target: format!("{database}.{}", name.table),
                message: e,
            })
        };
        match self.get_table(name).await.map_err(fail)? {
            None => match self
                .client
                .create_table()
                .database_name(&database)
                .table_input(input.clone())
                .send()
                .await
            {
                Ok(_) => Ok(()),
                // A concurrent writer created it first: bring it to this definition.
                Err(e) if is_code(&e, "AlreadyExistsException") => self
                    .client
                    .update_table()
                    .database_name(&database)
                    .table_input(input)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| glue("UpdateTable", crate::sdk_message(&e))),
                Err(e) => Err(glue("CreateTable", crate::sdk_message(&e))),
            },
            Some(existing) if definition_of(name, &existing) == *definition => Ok(()),
            Some(_) => self
                .client
                .update_table()
                .database_name(&database)
                .table_input(input)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| glue("UpdateTable", crate::sdk_message(&e))),
        }
    }

    async fn add_partitions(
        &self,
        table: &TableName,
        partitions: &[PartitionValues],
    ) -> lakejob_engine::Result<usize> {
        if partitions.is_empty() {
            return Ok(0);
        }
        let fail = |e| Self::fail("add_partitions", table, e);
        let existing = self.get_table(table).await.map_err(fail)?.ok_or_else(|| {
            fail(AwsError::Glue {
                operation: "BatchCreatePartition",
                target: table.to_string(),
                message: "the table is not in the catalog".into(),
            })
        })?;
        let definition = definition_of(table, &existing);
        let columns: Vec<Column> = existing
            .storage_descriptor()
            .map(|sd| sd.columns().to_vec())
            .unwrap_or_default();
        let database = self.database_name(&table.database);
        let target = format!("{database}.{}", table.table);
        let mut added = 0;
        for batch in partitions.chunks(PARTITION_BATCH) {
            let inputs: Vec<PartitionInput> = batch
                .iter()
                .map(|values| {
                    let path: String = definition
                        .partition_columns
                        .iter()
                        .zip(values)
                        .map(|(column, value)| format!("{column}={value}/"))
                        .collect();
                    let location = format!("{}{path}", definition.location);
                    PartitionInput::builder()
                        .set_values(Some(values.clone()))
                        .storage_descriptor(storage_descriptor(&location, columns.clone()))
                        .build()
                })
                .collect();
            let refused = self
                .client
                .batch_create_partition()
                .database_name(&database)
                .table_name(&table.table)
                .set_partition_input_list(Some(inputs))
                .send()
                .await
                .map_err(|e| glue_error("BatchCreatePartition", &target, &e))
                .and_then(|output| {
                    tolerated(
                        output.errors(),
                        "AlreadyExistsException",
                        "BatchCreatePartition",
                        &target,
                    )
                })
                .map_err(fail)?;
            added += batch.len() - refused;
        }
        Ok(added)
    }

    async fn remove_partitions(
        &self,
        table: &TableName,
        partitions: &[PartitionValues],
    ) -> lakejob_engine::Result<usize> {
        let fail = |e| Self::fail("remove_partitions", table, e);
        let database = self.database_name(&table.database);
        let target = format!("{database}.{}", table.table);
        let mut removed = 0;
        for batch in partitions.chunks(PARTITION_DELETE_BATCH) {
            let values = batch
                .iter()
                .map(|v| {
                    PartitionValueList::builder()
                        .set_values(Some(v.clone()))
                        .build()
                        .map_err(|e| AwsError::Glue {
                            operation: "BatchDeletePartition",
                            target: format!("{target} {v:?}"),
                            message: e.to_string(),
                        })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            let missing = self
                .client
                .batch_delete_partition()
                .database_name(&database)
                .table_name(&table.table)
                .set_partitions_to_delete(Some(values))
                .send()
                .await
                .map_err(|e| glue_error("BatchDeletePartition", &target, &e))
                .and_then(|output| {
                    tolerated(
                        output.errors(),
                        "EntityNotFoundException",
                        "BatchDeletePartition",
                        &target,
                    )
                })
                .map_err(fail)?;
            removed += batch.len() - missing;
        }
        Ok(removed)
    }

    async fn drop_table(&self, name: &TableName) -> lakejob_engine::Result<bool> {
        let fail = |e| Self::fail("drop_table", name, e);
        if self.get_table(name).await.map_err(fail)?.is_none() {
            return Ok(false);
        }
        let database = self.database_name(&name.database);
        match self
            .client
            .delete_table()
            .database_name(&database)
            .name(&name.table)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            // Dropped by someone else meanwhile: gone either way.
            Err(e) if is_code(&e, "EntityNotFoundException") => Ok(false),
            Err(e) => Err(fail(AwsError::Glue {
                operation: "DeleteTable",
                target: format!("{database}.{}", name.table),
                message: crate::sdk_message(&e),
            })),
        }
    }

    async fn table(&self, name: &TableName) -> lakejob_engine::Result<Option<CatalogTable>> {
        let fail = |e| Self::fail("table", name, e);
        let Some(table) = self.get_table(name).await.map_err(fail)? else {
            return Ok(None);
        };
        Ok(Some(CatalogTable {
            definition: definition_of(name, &table),
            partitions: self.partitions(name).await.map_err(fail)?,
        }))
    }

    async fn tables(&self) -> lakejob_engine::Result<Vec<TableName>> {
        let everything = TableName::new(format!("{}*", self.prefix), "*");
        let fail = |operation, e: String| {
            Self::fail(
                "tables",
                &everything,
                AwsError::Glue {
                    operation,
                    target: format!("databases {}*", self.prefix),
                    message: e,
                },
            )
        };
        let mut databases = Vec::new();
        let mut pages = self.client.get_databases().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| fail("GetDatabases", crate::sdk_message(&e)))?;
            databases.extend(
                page.database_list()
                    .iter()
                    .filter_map(|d| d.name().strip_prefix(&self.prefix).map(str::to_string)),
            );
        }
        let mut names = Vec::new();
        for database in databases {
            let mut pages = self
                .client
                .get_tables()
                .database_name(self.database_name(&database))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| fail("GetTables", crate::sdk_message(&e)))?;
                names.extend(
                    page.table_list()
                        .iter()
                        .map(|t| TableName::new(database.clone(), t.name())),
                );
            }
        }
        names.sort_by_key(ToString::to_string);
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(format: TableFormat, partitions: &[&str]) -> TableDefinition {
        let mut columns = vec![ColumnDefinition {
            name: "amount".into(),
            data_type: "double".into(),
            nullable: true,
        }];
        columns.extend(partitions.iter().map(|p| ColumnDefinition {
            name: (*p).into(),
            data_type: "string".into(),
            nullable: false,
        }));
        TableDefinition {
            name: TableName::new("curated", "t"),
            location: "s3://b/lake/curated/t/".into(),
            format,
            columns,
            partition_columns: partitions.iter().map(|p| (*p).to_string()).collect(),
            description: None,
        }
    }

    #[test]
    fn date_partitions_get_projection_and_others_do_not() {
        let projected =
            projection_parameters(&table(TableFormat::Parquet, &["year", "month", "day"])).unwrap();
        assert_eq!(projected["projection.month.range"], "1,12");
        assert_eq!(
            projected["storage.location.template"],
            "s3://b/lake/curated/t/year=${year}/month=${month}/day=${day}/"
        );
        let daily = projection_parameters(&table(TableFormat::Parquet, &["event_date"])).unwrap();
        assert_eq!(daily["projection.event_date.format"], "yyyy-MM-dd");
        assert!(projection_parameters(&table(TableFormat::Parquet, &["country"])).is_none());
        assert!(projection_parameters(&table(TableFormat::Delta, &["event_date"])).is_none());
        let input = table_input(&table(TableFormat::Parquet, &["event_date"]), true).unwrap();
        assert_eq!(
            input.parameters().unwrap()["projection.enabled"],
            "true",
            "on when asked"
        );
        let input = table_input(&table(TableFormat::Parquet, &["event_date"]), false).unwrap();
        assert!(
            !input
                .parameters()
                .unwrap()
                .contains_key("projection.enabled")
        );
    }
}
