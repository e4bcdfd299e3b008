//! The lake on S3 with the Glue Data Catalog, against moto on 127.0.0.1 (scripts/test starts it
//! and exports LAKEJOB_TEST_AWS_ENDPOINT), through the same clients production uses; boto3 and
//! delta-rs' Python reader check what was written, independently of our own code.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::support::{TestLake, lake_state_at, run_python};

pub(crate) fn endpoint() -> String {
    std::env::var("LAKEJOB_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!("LAKEJOB_TEST_AWS_ENDPOINT is not set: run scripts/test, which starts moto")
    })
}

/// A bucket of its own on moto, a Glue database prefix of its own, and the fixture's files
/// on local disk to ingest from.
pub(crate) struct S3Lake {
    fixture: TestLake,
    bucket: String,
    prefix: String,
    catalog: &'static str,
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
    /// With its catalog on Glue.
    fn new() -> Self {
        Self::with_catalog("glue")
    }

    /// With the embedded catalog, kept in the lake on S3 itself.
    pub(crate) fn with_local_catalog() -> Self {
        Self::with_catalog("local")
    }

    fn with_catalog(catalog: &'static str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let id = format!("{}{}", std::process::id(), nanos % 1_000_000_000);
        let lake = Self {
            fixture: TestLake::with_fixture(),
            bucket: format!("lakejob-it-{id}"),
            prefix: format!("it{id}_"),
            catalog,
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

    /// A scratch folder of this lake's own on local disk.
    pub(crate) fn scratch(&self) -> &std::path::Path {
        self.fixture.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_at(&endpoint(), args)
    }

    /// `lakejob` on this lake, talking to AWS at `endpoint`.
    pub(crate) fn command_at(&self, endpoint: &str, args: &[&str]) -> Command {
        let mut command = self.fixture.command(args);
        command
            .env("LAKEJOB_LAKE", self.url())
            .env("LAKEJOB_CATALOG", self.catalog)
            .env("LAKEJOB_GLUE_DATABASE_PREFIX", &self.prefix);
        with_aws_endpoint(&mut command, endpoint);
        command
    }

    /// The lake as the independent reader sees it ([`lake_state_at`]), from a copy of the bucket.
    pub(crate) fn state(&self) -> Value {
        let copy = tempfile::tempdir().expect("a temporary folder");
        run_python(&format!(
            "{}root = {:?}\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket={:?}, Prefix='lake/'):\n    \
                 for item in page.get('Contents', []):\n        \
                     path = os.path.join(root, item['Key'][len('lake/'):])\n        \
                     os.makedirs(os.path.dirname(path), exist_ok=True)\n        \
                     s3.download_file({:?}, item['Key'], path)\n",
            boto3_preamble(),
            copy.path().display().to_string(),
            self.bucket,
            self.bucket,
        ));
        lake_state_at(copy.path(), &self.url())
    }

    /// The keys under `prefix` inside the lake.
    pub(crate) fn list(&self, prefix: &str) -> Vec<String> {
        let listed = run_python(&format!(
            "{}pages = s3.get_paginator('list_objects_v2').paginate(Bucket={:?}, Prefix='lake/' + {:?})\n\
             print(json.dumps([item['Key'] for page in pages for item in page.get('Contents', [])]))",
            boto3_preamble(),
            self.bucket,
            prefix,
        ));
        serde_json::from_str(&listed).expect("boto3 printed JSON")
    }

    pub(crate) fn json(&self, args: &[&str]) -> Value {
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
        self.ingest(&["transactions", "products", "reviews", "clickstream"]);
    }

    /// Ingests every raw file of these sources of the fixture from local disk.
    pub(crate) fn ingest(&self, sources: &[&str]) {
        for &source in sources {
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

/// scripts/aws_proxy.py in front of moto: forwards every request, appends the Step Functions
/// task callbacks (target and body) to a file, because moto accepts them without keeping them,
/// and injects the faults `faults` asks for (see the script).
pub(crate) struct AwsProxy {
    child: std::process::Child,
    pub(crate) url: String,
    log: std::path::PathBuf,
}

impl AwsProxy {
    pub(crate) fn start(dir: &std::path::Path, faults: &[&str]) -> Self {
        use std::io::BufRead;
        let log = dir.join("step_functions.jsonl");
        let mut child = Command::new(crate::support::python())
            .arg(crate::support::workspace().join("scripts/aws_proxy.py"))
            .args([&endpoint(), &log.display().to_string()])
            .args(faults)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the proxy starts");
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().expect("proxy stdout"))
            .read_line(&mut port)
            .expect("the proxy prints its port");
        Self {
            child,
            url: format!("http://127.0.0.1:{}", port.trim()),
            log,
        }
    }

    fn calls(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("recorded JSON"))
            .collect()
    }
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn with_aws_endpoint(command: &mut Command, endpoint: &str) {
    command
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
}

#[test]
fn a_run_with_a_task_token_reports_its_summary_or_its_exit_class_to_step_functions() {
    let lake = TestLake::with_fixture();
    let proxy = AwsProxy::start(lake.path(), &[]);
    let token = "AAAAKgAAAAIAAAAAAAAAAe-secret-task-token";

    let mut succeeding = lake.command(&["run", "reviews_etl", "--output", "json"]);
    with_aws_endpoint(&mut succeeding, &proxy.url);
    let output = succeeding
        .env("LAKEJOB_TASK_TOKEN", token)
        .output()
        .expect("lakejob runs");
    assert!(output.status.success());
    let summary: Value = serde_json::from_slice(&output.stdout).expect("summary");

    let jobs = lake.with_edited_job("reviews_etl", |t| {
        t.replace(
            "check: { kind: row_count, min: 1 }\n      severity: warn",
            "check: { kind: row_count, min: 1000 }",
        )
    });
    let mut gated = lake.command(&[
        "run",
        "reviews_etl",
        "--reprocess",
        "--task-token",
        token,
        "--jobs",
        &jobs.display().to_string(),
    ]);
    with_aws_endpoint(&mut gated, &proxy.url);
    let gated = gated.output().expect("lakejob runs");
    assert_eq!(gated.status.code(), Some(3));

    let calls = proxy.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["target"], "AWSStepFunctions.SendTaskSuccess");
    assert_eq!(calls[0]["body"]["taskToken"], token);
    let sent: Value =
        serde_json::from_str(calls[0]["body"]["output"].as_str().expect("output")).unwrap();
    assert_eq!(sent, summary, "the JSON summary goes back as the output");
    assert_eq!(calls[1]["target"], "AWSStepFunctions.SendTaskFailure");
    assert_eq!(calls[1]["body"]["error"], "lakejob.QualityFailed");
    let cause: Value =
        serde_json::from_str(calls[1]["body"]["cause"].as_str().expect("cause")).unwrap();
    assert_eq!(cause["status"], "quality_failed");
    for printed in [&output.stdout, &output.stderr, &gated.stdout, &gated.stderr] {
        assert!(
            !String::from_utf8_lossy(printed).contains(token),
            "the token is never printed"
        );
    }
}

#[test]
fn athena_queries_are_started_polled_and_paged_through() {
    // moto answers every query with the next queued result set; the SQL itself is tested locally.
    // Queuing it is retried: moto answered 500 once when this was the first call to reach its
    // Athena backend while other tests loaded theirs.
    run_python(&format!(
        "import json, time, urllib.error, urllib.request\n\
         rows = [['product_id', 'units'], ['P000001', '3'], ['P000002', None]]\n\
         result = {{'results': [{{'rows': [{{'Data': [{{'VarCharValue': v}} if v is not None else {{}} for v in row]}} for row in rows],\n\
                   'column_info': [{{'Name': 'product_id', 'Type': 'varchar'}}, {{'Name': 'units', 'Type': 'bigint'}}]}}]}}\n\
         request = urllib.request.Request({:?} + '/moto-api/static/athena/query-results', data=json.dumps(result).encode(),\n\
                   headers={{'Content-Type': 'application/json'}}, method='POST')\n\
         for attempt in range(5):\n    \
             try:\n        \
                 print(urllib.request.urlopen(request).status)\n        \
                 break\n    \
             except urllib.error.HTTPError as error:\n        \
                 if error.code != 500 or attempt == 4:\n            \
                     raise\n        \
                 time.sleep(0.5)",
        endpoint()
    ));
    let lake = TestLake::new();
    let mut command = lake.command(&[
        "query",
        "--engine",
        "athena",
        "SELECT product_id, units FROM curated.product_performance",
        "--output-location",
        "s3://athena-results/lakejob/",
        "--output",
        "json",
    ]);
    with_aws_endpoint(&mut command, &endpoint());
    let output = command.output().expect("lakejob runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows: Value = serde_json::from_slice(&output.stdout).expect("rows as JSON");
    assert_eq!(
        rows,
        serde_json::json!([
            {"product_id": "P000001", "units": "3"},
            {"product_id": "P000002", "units": null}
        ]),
        "the header row is skipped; a NULL is null, as in local query output"
    );
}

#[test]
fn written_parquet_uses_types_athena_reads() {
    let lake = TestLake::with_fixture();
    lake.json(&["run", "transaction_etl"]);
    let table = lake.path().join("processed/transactions");
    let seen = run_python(&format!(
        "import glob, json, pyarrow.parquet as pq\n\
         root = {:?}\n\
         f = sorted(glob.glob(root + '/**/*.parquet', recursive=True))[0]\n\
         schema = pq.ParquetFile(f).schema\n\
         cols = {{schema.column(i).name: [schema.column(i).physical_type, str(schema.column(i).logical_type)] for i in range(len(schema))}}\n\
         protocol = [json.loads(l)['protocol'] for l in open(root + '/_delta_log/00000000000000000000.json') if 'protocol' in json.loads(l)][0]\n\
         print(json.dumps({{'columns': cols, 'protocol': protocol}}))",
        table.display().to_string()
    ));
    let seen: Value = serde_json::from_str(&seen).expect("pyarrow printed JSON");
    let columns = &seen["columns"];
    assert_eq!(columns["event_time"][0], "INT64", "{columns}");
    let logical = columns["event_time"][1].as_str().unwrap();
    assert!(
        logical.contains("isAdjustedToUTC=true") && logical.contains("microseconds"),
        "timestamps are UTC instants in microseconds: {logical}"
    );
    let decimal = &columns["unit_price"];
    assert!(
        ["INT32", "INT64", "FIXED_LEN_BYTE_ARRAY"].contains(&decimal[0].as_str().unwrap())
            && decimal[1]
                .as_str()
                .unwrap()
                .contains("Decimal(precision=12, scale=2)"),
        "{decimal}"
    );
    assert!(
        columns
            .as_object()
            .unwrap()
            .keys()
            .all(|name| *name == name.to_lowercase())
    );
    let features = seen["protocol"]["readerFeatures"].to_string();
    assert!(
        !features.contains("timestampNtz"),
        "no protocol bump Athena cannot read: {}",
        seen["protocol"]
    );
}

#[test]
fn the_rendered_state_machine_runs_on_motos_interpreter_as_far_as_it_can() {
    // moto's interpreter runs Map, Parallel, intrinsics and SNS but not ECS tasks: the execution
    // must get as far as starting the first layer's job tasks with the right commands, then
    // take the Catch to the alert and fail the way the state machine says. Turning the
    // interpreter on is server-wide (moto then refuses task tokens of executions it does not
    // run), so this test has a moto server of its own, in its Python process.
    let definition = crate::support::workspace().join("terraform/statemachine/daily.asl.json");
    let seen = run_python(&format!(
        "{}import time, urllib.request\n\
         from moto.server import ThreadedMotoServer\n\
         own = ThreadedMotoServer(ip_address='127.0.0.1', port=0, verbose=False)\n\
         own.start()\n\
         port = own.get_host_and_port()[1]\n\
         os.environ['MOTO_PORT'] = str(port)  # where its interpreter calls SNS\n\
         endpoint = 'http://127.0.0.1:%d' % port\n\
         urllib.request.urlopen(urllib.request.Request(endpoint + '/moto-api/config', method='POST',\n\
             data=json.dumps({{'stepfunctions': {{'execute_state_machine': True}}}}).encode(),\n\
             headers={{'Content-Type': 'application/json'}}))\n\
         sns = boto3.client('sns', endpoint_url=endpoint)\n\
         sfn = boto3.client('stepfunctions', endpoint_url=endpoint)\n\
         iam = boto3.client('iam', endpoint_url=endpoint)\n\
         suffix = str(os.getpid()) + str(time.time_ns() % 1000000)\n\
         topic = sns.create_topic(Name='alerts' + suffix)['TopicArn']\n\
         text = open({:?}).read()\n\
         for token, value in [('\"@@subnet_ids@@\"', '[\"subnet-1\"]'), ('\"@@security_group_ids@@\"', '[\"sg-1\"]'),\n\
                              ('@@cluster_arn@@', 'arn:aws:ecs:us-east-1:123456789012:cluster/c'),\n\
                              ('@@task_definition_arn@@', 'arn:aws:ecs:us-east-1:123456789012:task-definition/t:1'),\n\
                              ('@@container_name@@', 'lakejob'), ('@@alert_topic_arn@@', topic)]:\n    \
             text = text.replace(token, value)\n\
         role = iam.create_role(RoleName='sfn' + suffix, AssumeRolePolicyDocument='{{}}')['Role']['Arn']\n\
         machine = sfn.create_state_machine(name='daily' + suffix, definition=text, roleArn=role)['stateMachineArn']\n\
         run = sfn.start_execution(stateMachineArn=machine, name='run' + suffix,\n\
             input=json.dumps({{'dates': ['2025-01-15T02:00:00Z']}}))['executionArn']\n\
         for _ in range(100):\n    \
             described = sfn.describe_execution(executionArn=run)\n    \
             if described['status'] != 'RUNNING': break\n    \
             time.sleep(0.2)\n\
         events = sfn.get_execution_history(executionArn=run)['events']\n\
         scheduled = [json.loads(e['taskScheduledEventDetails']['parameters']) for e in events if e['type'] == 'TaskScheduled']\n\
         commands = [p['Overrides']['ContainerOverrides'][0]['Command'] for p in scheduled if 'Overrides' in p]\n\
         parallel = [e['stateEnteredEventDetails']['input'] for e in events if e['type'] == 'ParallelStateEntered']\n\
         published = [e for e in events if e['type'] == 'TaskSucceeded' and e['taskSucceededEventDetails']['resourceType'] == 'sns']\n\
         print(json.dumps({{'status': described['status'], 'error': described.get('error'), 'commands': sorted(commands),\n\
             'parallel': parallel, 'alerts': len(published)}}))",
        boto3_preamble(),
        definition.display().to_string()
    ));
    let seen: Value = serde_json::from_str(&seen).expect("boto3 printed JSON");
    assert_eq!(seen["status"], "FAILED", "{seen}");
    assert_eq!(seen["error"], "lakejob.PipelineFailed");
    assert_eq!(
        seen["parallel"][0], "{\"date\":\"2025-01-15\"}",
        "the scheduled time's date part is the run's date"
    );
    let commands = seen["commands"].as_array().unwrap();
    for job in ["clickstream_events", "product_enrichment", "reviews_etl"] {
        assert!(
            commands.contains(&serde_json::json!([
                "run",
                job,
                "--date",
                "2025-01-15",
                "--output",
                "json"
            ])),
            "{job}: {commands:?}"
        );
    }
    assert_eq!(seen["alerts"], 1, "the Catch publishes one alert");
}
