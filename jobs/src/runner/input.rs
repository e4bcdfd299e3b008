//! The input phase: the raw files a run selected, scanned here or on the cluster (typed rows,
//! with rejects routed aside as files are read), and the job's reference tables.

use std::collections::HashMap;
use std::sync::Arc;

use lakejob_engine::datafusion::arrow::array::RecordBatch;
use lakejob_engine::datafusion::arrow::datatypes::SchemaRef;
use lakejob_engine::datafusion::prelude::{DataFrame, SessionContext};
use lakejob_engine::distributed::{RawFilesTable, RawScan};
use lakejob_engine::staging::stage_rows;
use lakejob_engine::{EngineError, RawFile};

use super::JobRun;
use crate::JobsError;
use crate::plan::{Reference, Rereads, column};
use crate::selection::{Scope, Selection, select_files};
use crate::spec::{SourceSpec, Step, WriteModeSpec};
use crate::transaction::RunManifest;
use crate::validate::{compile_references, max_inflated_bytes};

/// What the input phase of a source job reads.
pub(super) struct Input<'i> {
    pub(super) source: &'i SourceSpec,
    pub(super) references: &'i HashMap<String, Reference>,
    pub(super) files: &'i [RawFile],
    /// The run's staging folder, relative to the lake root.
    pub(super) staging: &'i str,
}

impl<'a> JobRun<'a> {
    /// The raw files the run reads: those its job has not processed yet (of its date, if
    /// any), or exactly the files of the interrupted run it finishes.
    pub(super) async fn select(
        &self,
        source: &SourceSpec,
        resume: Option<&RunManifest>,
    ) -> Result<Selection, JobsError> {
        let scope = Scope {
            job: &self.job.name,
            source: &source.name,
            date: self.options.date.filter(|_| resume.is_none()),
            reprocess: self.options.reprocess || resume.is_some(),
            only: resume.map(|manifest| manifest.files.as_slice()),
            whole_dates: self.job.target.mode == WriteModeSpec::OverwritePartitions,
            parallelism: self.options.session.parallelism(),
        };
        let selection = select_files(self.lake, self.clock, scope)
            .await
            .map_err(self.engine())?;
        if selection.files.is_empty() {
            tracing::warn!(job = %self.job.name, source = %source.name, date = ?self.options.date, "no new raw files to read");
        }
        Ok(selection)
    }

    /// Plans the read of the selected files and the steps over their rows, here or, when the
    /// run has one, on the cluster: the one place that chooses. The rows stream when the
    /// output is staged (a dedupe's input is staged here first), and the scan leaves each
    /// file's outcome (counts, rejected rows) in the run's staging folder as it reads the file.
    pub(super) async fn read_and_transform(
        &self,
        ctx: &SessionContext,
        cluster: Option<&SessionContext>,
        input: Input<'_>,
    ) -> Result<(RawScan, DataFrame), JobsError> {
        let Input {
            source,
            references,
            files,
            staging,
        } = input;
        // Largest first: the scan deals files out to its partitions in turn, so each gets a
        // like share of the bytes (in path order, a day's file and the small file of the
        // day before's late events alternate, and one partition parsed every large file).
        let mut by_size: Vec<&RawFile> = files.iter().collect();
        by_size.sort_by_key(|file| std::cmp::Reverse(file.size));
        let scan = RawScan {
            lake: self.lake.root_url().clone(),
            files: by_size.iter().map(|f| f.path.clone()).collect(),
            columns: source.columns.clone(),
            rules: source.reject_when.clone(),
            format: source.format.source_format(),
            outcomes: Some(format!("{staging}/outcomes")),
            // On a cluster a task per file, which the executors share out; here as many
            // files at once as the session has cores, so memory holds that many files' rows.
            partitions: match cluster {
                Some(_) => files.len(),
                None => self.options.session.parallelism().min(files.len()),
            }
            .max(1),
            max_inflated_bytes: max_inflated_bytes(source).map_err(|p| self.invalid(vec![p]))?,
        };
        let table = RawFilesTable::try_new(scan.clone()).map_err(self.engine())?;
        let input = cluster
            .unwrap_or(ctx)
            .read_table(Arc::new(table))
            .map_err(|e| self.engine()(EngineError::datafusion("reading the raw files")(e)))?;
        let dedupes = self.job.steps.iter().any(|s| matches!(s, Step::Dedupe(_)));
        let (input, rereads) = match cluster {
            // A dedupe reads its input again to find the repeated keys first, which would
            // parse every raw file again: the typed rows are staged once and read from there.
            None if dedupes => {
                let staged = stage_rows(
                    self.lake,
                    ctx,
                    input,
                    &format!("{staging}/input"),
                    "reading the raw files",
                )
                .await
                .map_err(self.engine())?;
                (staged.frame, Rereads::Cheap)
            }
            // On a cluster every read is a scan stage: one pass ranks every row.
            _ => (input, Rereads::Costly),
        };
        let output = self.plan_steps(input, references, rereads).await?;
        Ok((scan, output))
    }

    /// Reads and checks the job's reference files here. With a cluster, the frames handed to
    /// the steps read the same files on the executors.
    pub(super) async fn load_references(
        &self,
        ctx: &SessionContext,
        cluster: Option<&SessionContext>,
    ) -> Result<HashMap<String, Reference>, JobsError> {
        let readers = compile_references(ctx, self.job).map_err(|p| self.invalid(p))?;
        let mut frames = HashMap::new();
        for (name, path, reader) in readers {
            let contents = self.lake.read(&path).await.map_err(|e| match e {
                // A missing file is the job's to fix; any other storage failure is worth a retry.
                EngineError::Storage {
                    source: lakejob_engine::object_store::Error::NotFound { .. },
                    ..
                } => JobsError::Reference {
                    job: self.job.name.clone(),
                    reference: name.clone(),
                    reason: e.to_string(),
                },
                other => self.engine()(other),
            })?;
            let read = reader.read(&path, &contents).map_err(self.engine())?;
            let problem = read.file_error.clone().or_else(|| {
                (read.rejected_rows > 0).then(|| {
                    format!(
                        "{} row(s) do not match the declared columns",
                        read.rejected_rows
                    )
                })
            });
            if let Some(reason) = problem {
                return Err(JobsError::Reference {
                    job: self.job.name.clone(),
                    reference: name,
                    reason: format!("{path}: {reason}"),
                });
            }
            let frame = read_frame(ctx, reader.typed_schema(), read.valid)?;
            self.check_reference_keys(&name, &frame).await?;
            let elsewhere = match (cluster, self.job.references.iter().find(|r| r.name == name)) {
                (Some(cluster), Some(reference)) => {
                    let scan = RawScan {
                        lake: self.lake.root_url().clone(),
                        files: vec![path],
                        columns: reference.columns.clone(),
                        rules: Vec::new(),
                        format: reference.csv.clone().into(),
                        outcomes: None,
                        partitions: 1,
                        max_inflated_bytes: lakejob_engine::reader::MAX_DECOMPRESSED_BYTES,
                    };
                    let table = RawFilesTable::try_new(scan).map_err(self.engine())?;
                    Some(cluster.read_table(Arc::new(table)).map_err(|e| {
                        self.engine()(EngineError::datafusion(format!(
                            "reading reference {name} on the cluster"
                        ))(e))
                    })?)
                }
                _ => None,
            };
            let reference = Reference::new(frame, elsewhere).await.map_err(|e| {
                self.engine()(EngineError::datafusion(format!(
                    "counting reference {name}"
                ))(e))
            })?;
            frames.insert(name, reference);
        }
        Ok(frames)
    }

    /// A reference joined on a key with two rows would multiply rows: refuse it.
    pub(super) async fn check_reference_keys(
        &self,
        name: &str,
        frame: &DataFrame,
    ) -> Result<(), JobsError> {
        for step in &self.job.steps {
            let crate::spec::Step::Join(join) = step else {
                continue;
            };
            if join.reference != name {
                continue;
            }
            let keys = join.on.iter().map(|c| column(c)).collect();
            let duplicated = frame
                .clone()
                .aggregate(
                    keys,
                    vec![lakejob_engine::datafusion::functions_aggregate::count::count_all()],
                )
                .and_then(|counts| {
                    counts.filter(
                        column("count(*)").gt(lakejob_engine::datafusion::logical_expr::lit(1i64)),
                    )
                })
                .map_err(|e| {
                    self.engine()(EngineError::datafusion(format!(
                        "checking reference {name}"
                    ))(e))
                })?
                .count()
                .await
                .map_err(|e| {
                    self.engine()(EngineError::datafusion(format!(
                        "checking reference {name}"
                    ))(e))
                })?;
            if duplicated > 0 {
                return Err(JobsError::Reference {
                    job: self.job.name.clone(),
                    reference: name.to_string(),
                    reason: format!(
                        "{duplicated} key(s) on ({}) have more than one row",
                        join.on.join(", ")
                    ),
                });
            }
        }
        Ok(())
    }
}

fn read_frame(
    ctx: &SessionContext,
    schema: SchemaRef,
    mut batches: Vec<RecordBatch>,
) -> Result<DataFrame, JobsError> {
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    ctx.read_batches(batches).map_err(|e| JobsError::Engine {
        job: String::new(),
        source: EngineError::datafusion("reading typed rows")(e),
    })
}
