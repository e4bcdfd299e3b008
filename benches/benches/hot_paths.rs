//! Micro-benchmarks of the hot paths of a run, on generated data held in memory: CSV parsing
//! with reject routing, JSON Lines parsing, streaming MD5, deduplication and sessionisation.
//! `cargo bench -p lakejob-benches` runs them; whole-process numbers come from `lakebench`.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lakejob_engine::datafusion::arrow::array::RecordBatch;
use lakejob_engine::datafusion::datasource::MemTable;
use lakejob_engine::datafusion::prelude::SessionContext;
use lakejob_engine::ledger::md5_of;
use lakejob_engine::object_store::memory::InMemory;
use lakejob_engine::object_store::path::Path as ObjectPath;
use lakejob_engine::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use lakejob_engine::reader::SourceReader;
use lakejob_engine::{SessionOptions, new_session};
use lakejob_jobs::{JobSpec, Rereads, SHIPPED_JOBS, Step, parse_job, plan_steps};
use lakejob_sample_data::{GenerateOptions, SampleSink, generate};

/// Generated files by path, kept in memory.
#[derive(Default)]
struct Files(Mutex<HashMap<String, Vec<u8>>>);

impl SampleSink for Files {
    fn write_file(&self, path: &str, contents: &[u8]) -> std::io::Result<()> {
        self.0
            .lock()
            .expect("one writer at a time")
            .insert(path.to_string(), contents.to_vec());
        Ok(())
    }
}

impl Files {
    /// One day at scale 0.1: 100,000 transactions and 200,000 clickstream events.
    fn generated() -> Self {
        let files = Files::default();
        let options = GenerateOptions {
            scale: 0.1,
            days: 1,
            ..GenerateOptions::default()
        };
        generate(&options, &files, &|| {}).expect("sample data");
        files
    }

    fn of(&self, source: &str) -> (String, Vec<u8>) {
        let files = self.0.lock().expect("generated");
        files
            .iter()
            .find(|(path, _)| path.starts_with(&format!("raw/{source}/")))
            .map(|(path, bytes)| (path.clone(), bytes.clone()))
            .unwrap_or_else(|| panic!("no {source} file"))
    }
}

fn shipped(name: &str) -> JobSpec {
    let (_, text) = SHIPPED_JOBS
        .iter()
        .find(|(file, _)| *file == format!("{name}.yaml"))
        .unwrap_or_else(|| panic!("{name} is shipped"));
    parse_job(text, name).expect("a valid job")
}

fn reader_of(job: &JobSpec, ctx: &SessionContext) -> SourceReader {
    let source = job.source.as_ref().expect("a source job");
    SourceReader::new(
        &source.columns,
        &source.reject_when,
        source.format.source_format(),
        ctx,
    )
    .expect("a valid source")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn session() -> SessionContext {
    new_session(&SessionOptions::default()).expect("a session")
}

/// The job with only its dedupe step and no target column selection.
fn dedupe_only(mut job: JobSpec) -> JobSpec {
    job.steps.retain(|step| matches!(step, Step::Dedupe(_)));
    job.target.columns = None;
    job
}

fn collect(
    rt: &tokio::runtime::Runtime,
    ctx: &SessionContext,
    batches: Vec<RecordBatch>,
    job: &JobSpec,
) -> Vec<RecordBatch> {
    let input = ctx.read_batches(batches).expect("rows");
    rt.block_on(async {
        let frame = plan_steps(input, job, &HashMap::new(), Rereads::Cheap)
            .await
            .expect("planned");
        frame.collect().await.expect("ran")
    })
}

fn parsing(c: &mut Criterion) {
    let files = Files::generated();
    let ctx = session();
    let mut group = c.benchmark_group("parse");
    for (job, source) in [
        ("transaction_etl", "transactions"),
        ("clickstream_events", "clickstream"),
    ] {
        let reader = reader_of(&shipped(job), &ctx);
        let (path, bytes) = files.of(source);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(source, |b| {
            b.iter(|| reader.read(&path, &bytes).expect("read"));
        });
    }
    group.finish();
}

fn hashing(c: &mut Criterion) {
    let rt = runtime();
    let store = InMemory::new();
    let bytes: Vec<u8> = (0..64 << 20).map(|i: u32| (i % 251) as u8).collect();
    let path = ObjectPath::from("raw/file.csv");
    rt.block_on(store.put(&path, PutPayload::from(bytes.clone())))
        .expect("stored");
    let mut group = c.benchmark_group("md5");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.sample_size(10);
    group.bench_function("streamed 64 MiB", |b| {
        b.iter(|| {
            rt.block_on(md5_of(&store as &dyn ObjectStore, &path))
                .expect("hashed")
        });
    });
    group.finish();
}

fn steps(c: &mut Criterion) {
    let rt = runtime();
    let files = Files::generated();
    let ctx = session();
    let mut group = c.benchmark_group("steps");
    group.sample_size(10);
    for (job, source) in [
        ("transaction_etl", "transactions"),
        ("clickstream_events", "clickstream"),
    ] {
        let spec = dedupe_only(shipped(job));
        let (path, bytes) = files.of(source);
        let read = reader_of(&spec, &ctx).read(&path, &bytes).expect("read");
        group.throughput(Throughput::Elements(read.rows));
        group.bench_function(format!("dedupe {source}"), |b| {
            b.iter(|| collect(&rt, &ctx, read.valid.clone(), &spec));
        });
    }

    // Sessionisation: the sessions job's query over one day of typed, deduplicated events.
    let events_job = shipped("clickstream_events");
    let (path, bytes) = files.of("clickstream");
    let read = reader_of(&events_job, &ctx)
        .read(&path, &bytes)
        .expect("read");
    let events = collect(&rt, &ctx, read.valid, &events_job);
    let rows: usize = events.iter().map(RecordBatch::num_rows).sum();
    let sessions = shipped("sessions");
    let query = sessions.query.clone().expect("a query job");
    let table = MemTable::try_new(events[0].schema(), vec![events]).expect("events");
    rt.block_on(ctx.sql("CREATE SCHEMA processed"))
        .expect("schema");
    ctx.register_table("processed.clickstream_events", Arc::new(table))
        .expect("registered");
    group.throughput(Throughput::Elements(rows as u64));
    group.bench_function("sessionise clickstream", |b| {
        b.iter(|| {
            rt.block_on(async { ctx.sql(&query).await?.collect().await })
                .expect("sessions")
        });
    });
    group.finish();
}

criterion_group!(benches, parsing, hashing, steps);
criterion_main!(benches);
