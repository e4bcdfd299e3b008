//! `catalog sync`: reconciles a catalog with the tables the lake holds. Delta tables are found by
//! their log and described from it (schema, partition columns, the partitions of live files);
//! Parquet tables by their files and Hive folders. Missing tables are registered, changed ones
//! updated, partitions added or forgotten to match the data. A dry run only reports.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTableUrl};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use url::Url;

use crate::catalog::{Catalog, PartitionValues, TableDefinition, TableFormat, TableName};
use crate::error::{EngineError, Result};
use crate::lake::{Lake, STATE_DIR};

/// The databases a lake holds tables in, and the folder each lives under.
const DATABASES: [(&str, &str); 4] = [
    ("processed", "processed"),
    ("curated", "curated"),
    ("quarantine", "quarantine"),
    ("lakejob", STATE_DIR),
];

/// What a sync changes (or would).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "change")]
pub enum SyncChange {
    /// A table in the lake the catalog does not know.
    CreateTable {
        /// The table.
        table: String,
    },
    /// A table whose columns, format, location or partitioning changed.
    UpdateTable {
        /// The table.
        table: String,
    },
    /// Partitions with data the catalog does not list.
    AddPartitions {
        /// The table.
        table: String,
        /// The partitions.
        partitions: Vec<PartitionValues>,
    },
    /// Partitions the catalog lists that hold no data any more.
    RemovePartitions {
        /// The table.
        table: String,
        /// The partitions.
        partitions: Vec<PartitionValues>,
    },
}

/// What a sync found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncMetrics {
    /// Whether the changes were only reported.
    pub dry_run: bool,
    /// Tables found in the lake.
    pub tables_found: usize,
    /// The changes, in table order.
    pub changes: Vec<SyncChange>,
}

/// How a table's data is laid out in the lake.
struct Layout {
    schema: Schema,
    partition_columns: Vec<String>,
    partitions: BTreeSet<PartitionValues>,
}

/// A table as the lake describes it.
struct FoundTable {
    definition: TableDefinition,
    partitions: BTreeSet<PartitionValues>,
}

/// Reconciles a catalog with a lake, builder style.
pub struct CatalogSync<'a> {
    lake: &'a Lake,
    catalog: &'a dyn Catalog,
    ctx: &'a SessionContext,
    dry_run: bool,
}

impl<'a> CatalogSync<'a> {
    /// A sync of `catalog` with `lake`, reading table metadata through `ctx`.
    pub fn new(lake: &'a Lake, catalog: &'a dyn Catalog, ctx: &'a SessionContext) -> Self {
        Self {
            lake,
            catalog,
            ctx,
            dry_run: false,
        }
    }

    /// Report the changes without making them.
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Finds the lake's tables and brings the catalog in line.
    pub async fn execute(self) -> Result<SyncMetrics> {
        let mut metrics = SyncMetrics {
            dry_run: self.dry_run,
            ..SyncMetrics::default()
        };
        for (database, folder) in DATABASES {
            for (table, format) in self.table_folders(folder).await? {
                let name = TableName::new(database, table.as_str());
                let path = format!("{folder}/{table}");
                let existing = self.catalog.table(&name).await?;
                let description = existing
                    .as_ref()
                    .and_then(|t| t.definition.description.clone())
                    .or_else(|| Some("registered by lakejob catalog sync".into()));
                let location = self.lake.url_of(&path)?;
                let layout = match format {
                    TableFormat::Delta => self.describe_delta(&name, &location).await?,
                    TableFormat::Parquet => self.describe_parquet(&name, &path, &location).await?,
                };
                let found = FoundTable {
                    definition: TableDefinition::from_schema(
                        name.clone(),
                        location.to_string(),
                        format,
                        &layout.schema,
                        layout.partition_columns,
                        description,
                    ),
                    partitions: layout.partitions,
                };
                metrics.tables_found += 1;
                self.reconcile(found, existing, &mut metrics.changes)
                    .await?;
            }
        }
        Ok(metrics)
    }

    /// The table folders under a database folder: Delta where a log is, Parquet where files are.
    async fn table_folders(&self, folder: &str) -> Result<BTreeMap<String, TableFormat>> {
        let mut tables = BTreeMap::new();
        for path in self.lake.list_relative(folder).await? {
            let Some((table, rest)) = path.split_once('/') else {
                continue;
            };
            if rest.starts_with("_delta_log/") {
                tables.insert(table.to_string(), TableFormat::Delta);
            } else if rest.ends_with(".parquet") && !rest.starts_with("_staging-") {
                tables
                    .entry(table.to_string())
                    .or_insert(TableFormat::Parquet);
            }
        }
        Ok(tables)
    }

    async fn describe_delta(&self, name: &TableName, location: &Url) -> Result<Layout> {
        let table_name = name.to_string();
        let table = deltalake::open_table(location.clone())
            .await
            .map_err(EngineError::delta(&table_name))?;
        let state = table.snapshot().map_err(EngineError::delta(&table_name))?;
        let partition_columns = state.metadata().partition_columns().to_vec();
        let mut partitions = BTreeSet::new();
        for uri in table
            .get_file_uris()
            .map_err(EngineError::delta(&table_name))?
        {
            partitions.insert(partition_of(&uri, &partition_columns));
        }
        partitions.retain(|p| !p.is_empty());
        Ok(Layout {
            schema: state.snapshot().arrow_schema().as_ref().clone(),
            partition_columns,
            partitions,
        })
    }

    async fn describe_parquet(
        &self,
        name: &TableName,
        path: &str,
        location: &Url,
    ) -> Result<Layout> {
        let context = format!("reading the Parquet files of {name}");
        let files: Vec<String> = self
            .lake
            .list_relative(path)
            .await?
            .into_iter()
            .filter(|f| f.ends_with(".parquet") && !f.starts_with("_staging-"))
            .collect();
        // Partition columns are the `key=value` folders, in path order.
        let partition_columns: Vec<String> = files
            .first()
            .map(|f| {
                f.split('/')
                    .filter_map(|segment| segment.split_once('=').map(|(k, _)| k.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let partitions: BTreeSet<PartitionValues> = files
            .iter()
            .map(|f| partition_of(f, &partition_columns))
            .filter(|p| !p.is_empty())
            .collect();
        let url = ListingTableUrl::parse(location.as_str())
            .map_err(EngineError::datafusion(context.clone()))?;
        let file_schema = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            .infer_schema(&self.ctx.state(), &url)
            .await
            .map_err(EngineError::datafusion(context))?;
        let mut fields: Vec<Field> = file_schema
            .fields()
            .iter()
            .filter(|f| !partition_columns.contains(f.name()))
            .map(|f| f.as_ref().clone())
            .collect();
        fields.extend(
            partition_columns
                .iter()
                .map(|c| Field::new(c, DataType::Utf8, false)),
        );
        Ok(Layout {
            schema: Schema::new(fields),
            partition_columns,
            partitions,
        })
    }

    async fn reconcile(
        &self,
        found: FoundTable,
        existing: Option<crate::catalog::CatalogTable>,
        changes: &mut Vec<SyncChange>,
    ) -> Result<()> {
        let name = found.definition.name.clone();
        let table = name.to_string();
        let registered: BTreeSet<PartitionValues> = existing
            .as_ref()
            .map(|t| t.partitions.iter().cloned().collect())
            .unwrap_or_default();
        let change = match &existing {
            None => Some(SyncChange::CreateTable {
                table: table.clone(),
            }),
            Some(current) if !same_shape(&current.definition, &found.definition) => {
                Some(SyncChange::UpdateTable {
                    table: table.clone(),
                })
            }
            Some(_) => None,
        };
        if let Some(change) = change {
            if !self.dry_run {
                self.catalog.upsert_table(&found.definition).await?;
            }
            changes.push(change);
        }
        let missing: Vec<PartitionValues> =
            found.partitions.difference(&registered).cloned().collect();
        if !missing.is_empty() {
            if !self.dry_run {
                self.catalog.add_partitions(&name, &missing).await?;
            }
            changes.push(SyncChange::AddPartitions {
                table: table.clone(),
                partitions: missing,
            });
        }
        let stale: Vec<PartitionValues> =
            registered.difference(&found.partitions).cloned().collect();
        if !stale.is_empty() {
            if !self.dry_run {
                self.catalog.remove_partitions(&name, &stale).await?;
            }
            changes.push(SyncChange::RemovePartitions {
                table,
                partitions: stale,
            });
        }
        Ok(())
    }
}

/// Whether two definitions describe the same table, whatever the column order. Nullability
/// is left out: the catalog takes it from the job's declaration (`nullable: false`), which
/// the data files' schema does not always carry.
fn same_shape(a: &TableDefinition, b: &TableDefinition) -> bool {
    let columns = |d: &TableDefinition| {
        let mut columns: Vec<(String, String)> = d
            .columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect();
        columns.sort();
        columns
    };
    a.location == b.location
        && a.format == b.format
        && a.partition_columns == b.partition_columns
        && columns(a) == columns(b)
}

/// The values of `columns` in a file's `key=value` folders (percent-decoded), in column order.
fn partition_of(path: &str, columns: &[String]) -> PartitionValues {
    let folders: BTreeMap<&str, &str> = path
        .split('/')
        .filter_map(|segment| segment.split_once('='))
        .collect();
    columns
        .iter()
        .filter_map(|c| folders.get(c.as_str()))
        .map(|v| percent_decode(v))
        .collect()
}

/// Decodes `%XX` escapes; anything malformed is kept as written.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                i += 3;
            }
            None => {
                decoded.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_come_from_hive_folders_in_column_order() {
        let columns = vec!["year".to_string(), "month".to_string()];
        assert_eq!(
            partition_of("s3://b/t/year=2025/month=1/part-0.parquet", &columns),
            vec!["2025".to_string(), "1".to_string()]
        );
        assert_eq!(
            partition_of(
                "raw_date=2025-01-15%2000%3A00+1/x.parquet",
                &["raw_date".to_string()]
            ),
            vec!["2025-01-15 00:00+1".to_string()]
        );
        assert!(partition_of("t/part-0.parquet", &columns).is_empty());
    }
}
