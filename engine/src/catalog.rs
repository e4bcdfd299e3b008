//! The catalog the engine registers tables and partitions in. Adapters implement it (the
//! embedded catalog in the lake; a cloud catalog), the engine only speaks this trait.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use datafusion::arrow::datatypes::Schema;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::types::hive_type;

/// `database.table`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableName {
    /// The database (a zone, or `lakejob` for the engine's own tables).
    pub database: String,
    /// The table within it.
    pub table: String,
}

impl TableName {
    /// A name from its parts.
    pub fn new(database: impl Into<String>, table: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            table: table.into(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

impl FromStr for TableName {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.split_once('.') {
            Some((database, table))
                if !database.is_empty() && !table.is_empty() && !table.contains('.') =>
            {
                Ok(TableName::new(database, table))
            }
            _ => Err(format!(
                "'{s}' is not a table name; write it as <database>.<table>, e.g. processed.transactions"
            )),
        }
    }
}

/// How a table's data is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    /// A Delta Lake table (transaction log under `_delta_log/`).
    Delta,
    /// Hive-style partitioned Parquet files.
    Parquet,
}

impl fmt::Display for TableFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableFormat::Delta => "delta",
            TableFormat::Parquet => "parquet",
        })
    }
}

/// One column as catalogs describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDefinition {
    /// Lower-case column name.
    pub name: String,
    /// Hive type name (`bigint`, `decimal(12,2)`, `timestamp`).
    pub data_type: String,
    /// Whether nulls are allowed.
    pub nullable: bool,
}

/// What a catalog knows of a table, apart from its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDefinition {
    /// Its name.
    pub name: TableName,
    /// The URL of its root folder.
    pub location: String,
    /// Delta or Parquet.
    pub format: TableFormat,
    /// Data columns, then partition columns, in table order.
    pub columns: Vec<ColumnDefinition>,
    /// The partition columns, in path order.
    pub partition_columns: Vec<String>,
    /// What the table holds, for people.
    pub description: Option<String>,
}

impl TableDefinition {
    /// A definition from an Arrow schema (the schema of the data written).
    pub fn from_schema(
        name: TableName,
        location: String,
        format: TableFormat,
        schema: &Schema,
        partition_columns: Vec<String>,
        description: Option<String>,
    ) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|field| ColumnDefinition {
                name: field.name().to_lowercase(),
                data_type: hive_type(field.data_type()),
                nullable: field.is_nullable(),
            })
            .collect();
        Self {
            name,
            location,
            format,
            columns,
            partition_columns,
            description,
        }
    }
}

/// The values of one partition, in the order of the table's partition columns.
pub type PartitionValues = Vec<String>;

/// How a partition path and a catalog spell a NULL partition value (Hive's convention, which
/// Athena, Spark and Trino read as NULL), so it stays apart from an empty string.
pub const NULL_PARTITION_VALUE: &str = "__HIVE_DEFAULT_PARTITION__";

/// A table with its partitions, as read back from a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogTable {
    /// The definition.
    pub definition: TableDefinition,
    /// Every registered partition, sorted.
    pub partitions: Vec<PartitionValues>,
}

/// A catalog of tables and partitions.
#[async_trait]
pub trait Catalog: Send + Sync + fmt::Debug {
    /// Creates the table, or replaces its definition (schema changes) keeping its partitions.
    async fn upsert_table(&self, definition: &TableDefinition) -> Result<()>;

    /// Registers partitions of a table; ones already registered are left as they are.
    /// Returns how many were new.
    async fn add_partitions(
        &self,
        table: &TableName,
        partitions: &[PartitionValues],
    ) -> Result<usize>;

    /// Forgets partitions of a table (their data is gone); ones not registered are ignored.
    /// Returns how many were removed.
    async fn remove_partitions(
        &self,
        table: &TableName,
        partitions: &[PartitionValues],
    ) -> Result<usize>;

    /// Forgets the table and its partitions; its data is the caller's to remove. Returns
    /// whether it was registered.
    async fn drop_table(&self, name: &TableName) -> Result<bool>;

    /// The table, if registered.
    async fn table(&self, name: &TableName) -> Result<Option<CatalogTable>>;

    /// Every registered table, sorted by name.
    async fn tables(&self) -> Result<Vec<TableName>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table_names() {
        assert_eq!(
            "processed.transactions".parse::<TableName>(),
            Ok(TableName::new("processed", "transactions"))
        );
        assert!("transactions".parse::<TableName>().is_err());
        assert!("a.b.c".parse::<TableName>().is_err());
    }
}
