//! Catalog adapters for lakejob. [`LocalCatalog`] is the embedded default: one JSON document
//! per table under `<lake>/_lakejob/catalog/`, so a lake describes itself.

use async_trait::async_trait;
use bytes::Bytes;
use lakejob_engine::lake::STATE_DIR;
use lakejob_engine::{
    Catalog, CatalogTable, EngineError, Lake, PartitionValues, TableDefinition, TableName,
};

/// Errors of the catalog adapters.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A catalog document cannot be read.
    #[error("catalog document {path} is not valid: {source}")]
    Corrupt {
        /// The document, relative to the lake root.
        path: String,
        /// The parse error.
        source: serde_json::Error,
    },
    /// Reading or writing the lake failed.
    #[error(transparent)]
    Storage(#[from] EngineError),
}

impl CatalogError {
    fn into_engine(self, operation: &'static str, table: &TableName) -> EngineError {
        EngineError::Catalog {
            operation,
            table: table.to_string(),
            source: Box::new(self),
        }
    }
}

/// The embedded catalog, stored in the lake itself.
#[derive(Debug, Clone)]
pub struct LocalCatalog {
    lake: Lake,
}

impl LocalCatalog {
    /// The catalog of a lake.
    pub fn new(lake: Lake) -> Self {
        Self { lake }
    }

    fn prefix() -> String {
        format!("{STATE_DIR}/catalog")
    }

    fn document(name: &TableName) -> String {
        format!("{}/{}/{}.json", Self::prefix(), name.database, name.table)
    }

    async fn load(&self, name: &TableName) -> Result<Option<CatalogTable>, CatalogError> {
        let path = Self::document(name);
        match self.lake.read(&path).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| CatalogError::Corrupt { path, source }),
            Err(EngineError::Storage {
                source: object_store::Error::NotFound { .. },
                ..
            }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies `change` to a table's partitions, storing the document when it counts changes.
    async fn change_partitions(
        &self,
        name: &TableName,
        operation: &'static str,
        change: impl FnOnce(&mut Vec<PartitionValues>) -> usize,
    ) -> lakejob_engine::Result<usize> {
        let mut table = match self.load(name).await {
            Ok(Some(table)) => table,
            Ok(None) => return Err(EngineError::TableNotFound(name.to_string())),
            Err(e) => return Err(e.into_engine(operation, name)),
        };
        let changed = change(&mut table.partitions);
        if changed > 0 {
            self.store(&table)
                .await
                .map_err(|e| e.into_engine(operation, name))?;
        }
        Ok(changed)
    }

    async fn store(&self, table: &CatalogTable) -> Result<(), CatalogError> {
        let path = Self::document(&table.definition.name);
        let json = serde_json::to_vec_pretty(table).map_err(|source| CatalogError::Corrupt {
            path: path.clone(),
            source,
        })?;
        self.lake.write(&path, Bytes::from(json)).await?;
        Ok(())
    }
}

#[async_trait]
impl Catalog for LocalCatalog {
    async fn upsert_table(&self, definition: &TableDefinition) -> lakejob_engine::Result<()> {
        let name = &definition.name;
        let partitions = match self.load(name).await {
            Ok(existing) => existing.map(|t| t.partitions).unwrap_or_default(),
            Err(e) => return Err(e.into_engine("register", name)),
        };
        let table = CatalogTable {
            definition: definition.clone(),
            partitions,
        };
        self.store(&table)
            .await
            .map_err(|e| e.into_engine("register", name))
    }

    async fn add_partitions(
        &self,
        name: &TableName,
        partitions: &[PartitionValues],
    ) -> lakejob_engine::Result<usize> {
        self.change_partitions(name, "add partitions to", |registered| {
            let before = registered.len();
            registered.extend(partitions.iter().cloned());
            registered.sort();
            registered.dedup();
            registered.len() - before
        })
        .await
    }

    async fn remove_partitions(
        &self,
        name: &TableName,
        partitions: &[PartitionValues],
    ) -> lakejob_engine::Result<usize> {
        self.change_partitions(name, "remove partitions from", |registered| {
            let before = registered.len();
            registered.retain(|p| !partitions.contains(p));
            before - registered.len()
        })
        .await
    }

    async fn drop_table(&self, name: &TableName) -> lakejob_engine::Result<bool> {
        let registered = self
            .load(name)
            .await
            .map_err(|e| e.into_engine("drop", name))?
            .is_some();
        if registered {
            self.lake.delete(&Self::document(name)).await?;
        }
        Ok(registered)
    }

    async fn table(&self, name: &TableName) -> lakejob_engine::Result<Option<CatalogTable>> {
        self.load(name)
            .await
            .map_err(|e| e.into_engine("read", name))
    }

    async fn tables(&self) -> lakejob_engine::Result<Vec<TableName>> {
        let prefix = Self::prefix();
        let mut names: Vec<TableName> = self
            .lake
            .list_relative(&prefix)
            .await?
            .iter()
            .filter_map(|relative| {
                let (database, file) = relative.split_once('/')?;
                let table = file.strip_suffix(".json")?;
                Some(TableName::new(database, table))
            })
            .collect();
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakejob_engine::{ColumnDefinition, TableFormat};

    fn definition(name: &TableName) -> TableDefinition {
        TableDefinition {
            name: name.clone(),
            location: "file:///lake/processed/t/".into(),
            format: TableFormat::Delta,
            columns: vec![ColumnDefinition {
                name: "id".into(),
                data_type: "string".into(),
                nullable: false,
            }],
            partition_columns: vec!["day".into()],
            description: None,
        }
    }

    #[tokio::test]
    async fn registers_tables_and_partitions_idempotently() -> lakejob_engine::Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let catalog = LocalCatalog::new(Lake::open(&dir.path().to_string_lossy())?);
        let name = TableName::new("processed", "t");
        assert!(catalog.table(&name).await?.is_none());
        assert!(matches!(
            catalog.add_partitions(&name, &[vec!["1".into()]]).await,
            Err(EngineError::TableNotFound(_))
        ));
        catalog.upsert_table(&definition(&name)).await?;
        assert_eq!(
            catalog
                .add_partitions(&name, &[vec!["2".into()], vec!["1".into()]])
                .await?,
            2
        );
        assert_eq!(catalog.add_partitions(&name, &[vec!["1".into()]]).await?, 0);
        // A schema change keeps the partitions.
        let mut changed = definition(&name);
        changed.columns[0].data_type = "bigint".into();
        catalog.upsert_table(&changed).await?;
        let table = catalog
            .table(&name)
            .await?
            .ok_or(EngineError::TableNotFound("t".into()))?;
        assert_eq!(table.definition, changed);
        assert_eq!(
            table.partitions,
            vec![vec!["1".to_string()], vec!["2".to_string()]]
        );
        assert_eq!(catalog.tables().await?, vec![name]);
        Ok(())
    }

    #[tokio::test]
    async fn a_corrupt_document_is_an_error_naming_it() -> lakejob_engine::Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        lake.write(
            "_lakejob/catalog/processed/bad.json",
            Bytes::from_static(b"{"),
        )
        .await?;
        let error = LocalCatalog::new(lake)
            .table(&TableName::new("processed", "bad"))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("_lakejob/catalog/processed/bad.json"),
            "{error}"
        );
        Ok(())
    }
}
