//! Queries over the tables a catalog knows: each database becomes a schema of the session.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::{MemorySchemaProvider, TableProvider};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use url::Url;

use crate::catalog::{Catalog, CatalogTable, TableFormat, TableName};
use crate::error::{EngineError, Result};
use crate::types::arrow_type_of_hive;

/// How a session reads Delta tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeltaReads {
    /// Through delta-rs' provider (file pruning, statistics): for plans run in this process.
    Native,
    /// As a Parquet scan of the table's current files, which serialises: for plans sent to a
    /// cluster.
    Portable,
}

/// Registers every catalog table in the session as `database.table`. Returns their names.
pub async fn register_catalog_tables(
    ctx: &SessionContext,
    catalog: &dyn Catalog,
    reads: DeltaReads,
) -> Result<Vec<TableName>> {
    let names = catalog.tables().await?;
    for name in &names {
        if let Some(table) = catalog.table(name).await? {
            register_table(ctx, &table, reads).await?;
        }
    }
    Ok(names)
}

/// Registers one catalog table in the session under `database.table`.
pub async fn register_table(
    ctx: &SessionContext,
    table: &CatalogTable,
    reads: DeltaReads,
) -> Result<()> {
    let name = &table.definition.name;
    let provider = table_provider(ctx, table, reads).await?;
    let default_catalog = ctx
        .catalog("datafusion")
        .ok_or_else(|| EngineError::Task("the session has no default catalog".into()))?;
    if default_catalog.schema(&name.database).is_none() {
        default_catalog
            .register_schema(&name.database, Arc::new(MemorySchemaProvider::new()))
            .map_err(EngineError::datafusion(format!(
                "registering database {}",
                name.database
            )))?;
    }
    ctx.register_table(
        datafusion::common::TableReference::partial(name.database.as_str(), name.table.as_str()),
        provider,
    )
    .map_err(EngineError::datafusion(format!("registering {name}")))?;
    Ok(())
}

/// A DataFusion provider reading a catalog table.
pub async fn table_provider(
    ctx: &SessionContext,
    table: &CatalogTable,
    reads: DeltaReads,
) -> Result<Arc<dyn TableProvider>> {
    let definition = &table.definition;
    let name = definition.name.to_string();
    let location = Url::parse(&definition.location).map_err(|e| EngineError::Lake {
        location: definition.location.clone(),
        reason: format!("table {name} has a bad location: {e}"),
    })?;
    match definition.format {
        TableFormat::Delta if reads == DeltaReads::Portable => Ok(Arc::new(
            crate::distributed::DeltaFilesTable::open(&name, &location).await?,
        )),
        TableFormat::Delta => {
            let delta = DeltaTable::try_from_url(location)
                .await
                .map_err(EngineError::delta(&name))?;
            delta
                .update_datafusion_session(&ctx.state())
                .map_err(EngineError::delta(&name))?;
            delta
                .table_provider()
                .await
                .map_err(EngineError::datafusion(format!("reading {name}")))
        }
        TableFormat::Parquet => {
            let context = format!("reading {name}");
            let url = ListingTableUrl::parse(location.as_str())
                .map_err(EngineError::datafusion(context.clone()))?;
            let column_type = |column: &str| {
                definition
                    .columns
                    .iter()
                    .find(|c| c.name == column)
                    .and_then(|c| arrow_type_of_hive(&c.data_type))
            };
            let partition_columns = definition
                .partition_columns
                .iter()
                .map(|p| {
                    column_type(p)
                        .map(|t| (p.clone(), t))
                        .ok_or_else(|| EngineError::Declaration {
                            context: format!("catalog entry of {name}"),
                            reason: format!("partition column {p} has no simple type"),
                        })
                })
                .collect::<Result<Vec<_>>>()?;
            let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
                .with_file_extension(".parquet")
                .with_table_partition_cols(partition_columns);
            let schema = match options.infer_schema(&ctx.state(), &url).await {
                Ok(schema) => schema,
                // No files yet: the catalog's columns describe the (empty) table.
                Err(_) => Arc::new(Schema::new(
                    definition
                        .columns
                        .iter()
                        .filter(|c| !definition.partition_columns.contains(&c.name))
                        .map(|c| {
                            Field::new(
                                &c.name,
                                arrow_type_of_hive(&c.data_type)
                                    .unwrap_or(datafusion::arrow::datatypes::DataType::Utf8),
                                c.nullable,
                            )
                        })
                        .collect::<Vec<_>>(),
                )),
            };
            let config = ListingTableConfig::new(url)
                .with_listing_options(options)
                .with_schema(schema);
            let listing =
                ListingTable::try_new(config).map_err(EngineError::datafusion(context))?;
            Ok(Arc::new(listing))
        }
    }
}

/// Runs SQL in the session and collects the result.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql)
        .await
        .map_err(EngineError::datafusion("query"))?
        .collect()
        .await
        .map_err(EngineError::datafusion("query"))
}
