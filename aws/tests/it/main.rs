//! One contract for every catalog: the embedded catalog and Glue (on moto, which scripts/test
//! starts on 127.0.0.1) must behave the same behind the engine's trait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use lakejob_aws::GlueCatalog;
use lakejob_catalog::LocalCatalog;
use lakejob_engine::{
    Catalog, CatalogTable, ColumnDefinition, Lake, TableDefinition, TableFormat, TableName,
};

fn column(name: &str, data_type: &str, nullable: bool) -> ColumnDefinition {
    ColumnDefinition {
        name: name.into(),
        data_type: data_type.into(),
        nullable,
    }
}

fn definition(name: &TableName, format: TableFormat, extra: bool) -> TableDefinition {
    let mut columns = vec![
        column("order_id", "string", false),
        column("amount_usd", "decimal(16,2)", true),
        column("event_time", "timestamp", false),
    ];
    if extra {
        columns.push(column("channel", "string", true));
    }
    columns.push(column("event_date", "string", false));
    TableDefinition {
        name: name.clone(),
        location: format!(
            "s3://contract-bucket/lake/{}/{}/",
            name.database, name.table
        ),
        format,
        columns,
        partition_columns: vec!["event_date".into()],
        description: Some("orders, for the catalog contract".into()),
    }
}

fn dates(values: &[&str]) -> Vec<Vec<String>> {
    values.iter().map(|v| vec![(*v).to_string()]).collect()
}

/// What every catalog must do, on tables of its own (`suffix` keeps runs apart).
async fn contract(catalog: &dyn Catalog, suffix: &str) {
    for format in [TableFormat::Delta, TableFormat::Parquet] {
        let name = TableName::new("processed", format!("orders_{format}_{suffix}"));
        assert_eq!(catalog.table(&name).await.unwrap(), None, "not there yet");

        let first = definition(&name, format, false);
        catalog.upsert_table(&first).await.unwrap();
        assert_eq!(
            catalog.table(&name).await.unwrap(),
            Some(CatalogTable {
                definition: first.clone(),
                partitions: Vec::new()
            })
        );
        catalog.upsert_table(&first).await.unwrap();

        let added = catalog
            .add_partitions(&name, &dates(&["2025-01-01", "2025-01-02"]))
            .await
            .unwrap();
        assert_eq!(added, 2);
        let added = catalog
            .add_partitions(&name, &dates(&["2025-01-02", "2025-01-03"]))
            .await
            .unwrap();
        assert_eq!(
            added, 1,
            "a partition already registered is not added twice"
        );

        // A schema change replaces the definition and keeps the partitions.
        let evolved = definition(&name, format, true);
        catalog.upsert_table(&evolved).await.unwrap();
        let table = catalog.table(&name).await.unwrap().unwrap();
        assert_eq!(table.definition, evolved);
        assert_eq!(
            table.partitions,
            dates(&["2025-01-01", "2025-01-02", "2025-01-03"])
        );
        assert!(catalog.tables().await.unwrap().contains(&name));

        let removed = catalog
            .remove_partitions(&name, &dates(&["2025-01-01", "2024-12-31"]))
            .await
            .unwrap();
        assert_eq!(removed, 1, "a partition not registered is ignored");
        assert_eq!(
            catalog.table(&name).await.unwrap().unwrap().partitions,
            dates(&["2025-01-02", "2025-01-03"])
        );

        assert!(catalog.drop_table(&name).await.unwrap(), "dropped");
        assert_eq!(catalog.table(&name).await.unwrap(), None);
        assert!(!catalog.tables().await.unwrap().contains(&name));
        assert!(!catalog.drop_table(&name).await.unwrap(), "already gone");
    }
    let many: Vec<String> = (0..250)
        .map(|i| format!("2024-{:02}-{:02}", i / 28 + 1, i % 28 + 1))
        .collect();
    let name = TableName::new("curated", format!("daily_{suffix}"));
    catalog
        .upsert_table(&definition(&name, TableFormat::Parquet, false))
        .await
        .unwrap();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        catalog.add_partitions(&name, &dates(&refs)).await.unwrap(),
        250,
        "more partitions than one batch call takes"
    );
    assert_eq!(
        catalog
            .table(&name)
            .await
            .unwrap()
            .unwrap()
            .partitions
            .len(),
        250
    );
}

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{}{}", std::process::id(), nanos % 1_000_000_000)
}

#[tokio::test]
async fn the_embedded_catalog_keeps_the_contract() {
    let folder = tempfile::tempdir().unwrap();
    let lake = Lake::open(&folder.path().display().to_string()).unwrap();
    contract(&LocalCatalog::new(lake), &unique()).await;
}

#[tokio::test]
async fn the_glue_catalog_keeps_the_contract() {
    let endpoint = std::env::var("LAKEJOB_TEST_AWS_ENDPOINT")
        .expect("LAKEJOB_TEST_AWS_ENDPOINT is not set: run scripts/test, which starts moto");
    let config = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    let suffix = unique();
    contract(&GlueCatalog::new(&config, format!("c{suffix}_")), &suffix).await;
}
