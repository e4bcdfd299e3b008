//! Queries over the tables a catalog knows: each database becomes a schema of the session.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemorySchemaProvider, TableProvider, view::ViewTable};
use datafusion::common::Column;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::provider_as_source;
use datafusion::functions::core::expr_fn::nullif;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, cast, lit};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use url::Url;

use crate::catalog::{Catalog, CatalogTable, NULL_PARTITION_VALUE, TableFormat, TableName};
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
        TableFormat::Parquet => parquet_provider(ctx, table, &location).await,
    }
}

/// A Hive-partitioned Parquet table. Partition values are listed as text and typed by a view
/// over the listing, so `__HIVE_DEFAULT_PARTITION__` reads as NULL (DataFusion's listing
/// would read it as that text, or fail to parse it as a number or a date); filters on partition
/// columns still prune folders, since the view is inlined into the plan.
async fn parquet_provider(
    ctx: &SessionContext,
    table: &CatalogTable,
    location: &Url,
) -> Result<Arc<dyn TableProvider>> {
    let definition = &table.definition;
    let name = definition.name.to_string();
    let context = format!("reading {name}");
    let url = ListingTableUrl::parse(location.as_str())
        .map_err(EngineError::datafusion(context.clone()))?;
    let column_type = |column: &str| {
        definition
            .columns
            .iter()
            .find(|c| c.name == column)
            .and_then(|c| arrow_type_of_hive(&c.data_type))
            .ok_or_else(|| EngineError::Declaration {
                context: format!("catalog entry of {name}"),
                reason: format!("column {column} has no simple type"),
            })
    };
    let partition_types = definition
        .partition_columns
        .iter()
        .map(|p| column_type(p).map(|t| (p.clone(), t)))
        .collect::<Result<Vec<_>>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            partition_types
                .iter()
                .map(|(p, _)| (p.clone(), DataType::Utf8))
                .collect(),
        );
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
                        arrow_type_of_hive(&c.data_type).unwrap_or(DataType::Utf8),
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
        ListingTable::try_new(config).map_err(EngineError::datafusion(context.clone()))?;
    if partition_types.is_empty() {
        return Ok(Arc::new(listing));
    }
    let typed = listing
        .schema()
        .fields()
        .iter()
        .map(|field| {
            let column = Expr::Column(Column::from_name(field.name()));
            match partition_types.iter().find(|(p, _)| p == field.name()) {
                Some((_, data_type)) => {
                    cast(nullif(column, lit(NULL_PARTITION_VALUE)), data_type.clone())
                        .alias(field.name())
                }
                None => column,
            }
        })
        .collect::<Vec<_>>();
    let plan = LogicalPlanBuilder::scan(name.as_str(), provider_as_source(Arc::new(listing)), None)
        .and_then(|plan| plan.project(typed))
        .and_then(|plan| plan.build())
        .map_err(EngineError::datafusion(context))?;
    Ok(Arc::new(ViewTable::new(plan, None)))
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
