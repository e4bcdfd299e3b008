//! The lake on S3 with the Glue Data Catalog, against moto on 127.0.0.1 (scripts/test starts it
//! and exports LAKEJOB_TEST_AWS_ENDPOINT), through the same clients production uses; boto3 and
//! delta-rs' Python reader check what was written, independently of our own code.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::{TestLake, run_python};

fn endpoint() -> String {
    std::env::var("LAKEJOB_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("LAKEJOB_TEST_AWS_ENDPOINT is not set: run scripts/test, which starts moto")
    })
}

/// A bucket of its own on moto, a Glue database prefix of its own, and the fixture's files
/// on local disk to ingest from.
struct S3Lake {
    fixture: TestLake,
    bucket: String,
    prefix: String,
}

/// Python that talks to moto with boto3.
fn boto3_preamble() -> String {
    format!(
        "import boto3, json, os\n\
         os.environ.update(AWS_ACCESS_KEY_ID='test', AWS_SECRET_ACCESS_KEY='test', AWS_DEFAULT_REGION='us-east-1')\n\
         endpoint = {:?}\n\
         s3 = boto3.client('s3', endpoint_url=endpoint)\n\
         glue = boto3.client('glue', endpoint_url=endpoint)\n",
        endpoint()
    )
}

impl S3Lake {
    fn new() -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let id = format!("{}{}", std::process::id(), nanos % 1_000_000_000);
        let lake = Self {
            fixture: TestLake::with_fixture(),
            bucket: format!("lakejob-it-{id}"),
            prefix: format!("it{id}_"),
        };
        let reference = lake.fixture.path().join("reference");
        run_python(&format!(
            "{}s3.create_bucket(Bucket={:?})\n\
             for name in ('fx_rates.csv', 'categories.csv'):\n    \
                 s3.upload_file(os.path.join({:?}, name), {:?}, 'lake/reference/' + name)\n",
            boto3_preamble(),
            lake.bucket,
            reference.display().to_string(),
            lake.bucket,
        ));
        lake
    }

    fn url(&self) -> String {
        format!("s3://{}/lake", self.bucket)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.fixture.command(args);
        command
            .env("LAKEJOB_LAKE", self.url())
            .env("LAKEJOB_CATALOG", "glue")
            .env("LAKEJOB_GLUE_DATABASE_PREFIX", &self.prefix)
            .env("AWS_ENDPOINT_URL", endpoint())
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE");
        command
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = self.command(&all).output().expect("lakejob runs");
        assert!(
            output.status.success(),
            "lakejob {args:?} on S3 failed: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
        serde_json::from_slice(&output.stdout).expect("JSON output")
    }

    /// Ingests every raw file of the fixture from local disk into the S3 lake.
    fn ingest_fixture(&self) {
        for source in ["transactions", "products", "reviews", "clickstream"] {
            let folder = self.fixture.path().join("raw").join(source);
            for day in std::fs::read_dir(&folder).expect("raw source folder") {
                let day = day.expect("date folder").path();
                let date = day
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("date="))
                    .expect("date=YYYY-MM-DD")
                    .to_string();
                let path = day.display().to_string();
                let ingested = self.json(&["ingest", source, &path, "--date", &date]);
                assert!(
                    ingested["files_ingested"].as_u64().unwrap_or(0) > 0,
                    "{ingested}"
                );
            }
        }
    }
}

#[test]
fn the_daily_pipeline_runs_on_s3_with_glue_and_boto3_sees_every_table_and_partition() {
    let lake = S3Lake::new();
    lake.ingest_fixture();
    let summary = lake.json(&["pipeline", "run", "daily"]);
    assert_eq!(summary["status"], "succeeded", "{summary}");

    // What Glue holds, as boto3 sees it.
    let described = run_python(&format!(
        "{}prefix = {:?}\n\
         out = {{}}\n\
         for db in glue.get_databases()['DatabaseList']:\n    \
             if not db['Name'].startswith(prefix): continue\n    \
             for t in glue.get_tables(DatabaseName=db['Name'])['TableList']:\n        \
                 parts = glue.get_partitions(DatabaseName=db['Name'], TableName=t['Name'])['Partitions']\n        \
                 sd = t['StorageDescriptor']\n        \
                 out[db['Name'][len(prefix):] + '.' + t['Name']] = {{\n            \
                     'type': t.get('TableType'), 'params': t.get('Parameters', {{}}), 'location': sd['Location'],\n            \
                     'serde': sd['SerdeInfo']['SerializationLibrary'], 'input': sd['InputFormat'],\n            \
                     'columns': [[c['Name'], c['Type']] for c in sd['Columns']],\n            \
                     'keys': [[c['Name'], c['Type']] for c in t.get('PartitionKeys', [])],\n            \
                     'partitions': sorted(p['Values'] for p in parts)}}\n\
         print(json.dumps(out))",
        boto3_preamble(),
        lake.prefix
    ));
    let tables: Value = serde_json::from_str(&described).expect("boto3 printed JSON");
    for name in [
        "processed.transactions",
        "processed.products",
        "processed.reviews",
        "processed.clickstream_events",
        "processed.sessions",
        "curated.sales_daily",
        "curated.product_performance",
        "curated.customer_summary",
        "quarantine.transactions",
        "lakejob.quality_results",
        "lakejob.file_ledger",
    ] {
        assert!(tables.get(name).is_some(), "Glue has no {name}: {tables}");
    }
    let transactions = &tables["processed.transactions"];
    assert_eq!(transactions["type"], "EXTERNAL_TABLE");
    assert_eq!(transactions["params"]["table_type"], "DELTA");
    assert_eq!(
        transactions["location"],
        format!("{}/processed/transactions/", lake.url())
    );
    assert_eq!(
        transactions["serde"],
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    );
    assert_eq!(
        transactions["input"],
        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    );
    assert_eq!(
        transactions["keys"],
        serde_json::json!([["year", "string"], ["month", "string"], ["day", "string"]])
    );
    let columns: Vec<(String, String)> = transactions["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c[0].as_str().unwrap().into(), c[1].as_str().unwrap().into()))
        .collect();
    for wanted in [
        ("transaction_id", "string"),
        ("quantity", "bigint"),
        ("unit_price", "decimal(12,2)"),
        ("event_time", "timestamp"),
        ("is_return", "boolean"),
    ] {
        assert!(
            columns.contains(&(wanted.0.to_string(), wanted.1.to_string())),
            "{wanted:?} in {columns:?}"
        );
    }
    assert!(
        columns.iter().all(|(name, _)| *name == name.to_lowercase()),
        "lower-case column names"
    );
    let partitions = transactions["partitions"].as_array().unwrap().clone();
    assert!(!partitions.is_empty(), "{transactions}");

    // delta-rs (Python) reads the table on S3 and agrees with our query through Glue.
    let ours = lake.json(&["query", "SELECT count(*) AS n FROM processed.transactions"]);
    let theirs = run_python(&format!(
        "import deltalake\n\
         options = {{'AWS_ENDPOINT_URL': {:?}, 'AWS_ALLOW_HTTP': 'true', 'AWS_ACCESS_KEY_ID': 'test',\n\
                    'AWS_SECRET_ACCESS_KEY': 'test', 'AWS_REGION': 'us-east-1'}}\n\
         print(deltalake.DeltaTable({:?}, storage_options=options).to_pyarrow_table().num_rows)",
        endpoint(),
        format!("{}/processed/transactions", lake.url())
    ));
    assert_eq!(ours[0]["n"].to_string(), theirs);

    // A second run reads nothing new and registers no partition twice.
    let again = lake.json(&["pipeline", "run", "daily"]);
    assert_eq!(again["status"], "succeeded", "{again}");
    let after = run_python(&format!(
        "{}print(len(glue.get_partitions(DatabaseName={:?}, TableName='transactions')['Partitions']))",
        boto3_preamble(),
        format!("{}processed", lake.prefix)
    ));
    assert_eq!(after, partitions.len().to_string());
}
