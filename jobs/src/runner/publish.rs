//! The publish phase: the target and the quarantine checked, then committed once each with
//! the run's identity, and the ledger marked last (see [`crate::transaction`]).

use chrono::NaiveDate;
use lakejob_engine::datafusion::arrow::array::RecordBatch;
use lakejob_engine::datafusion::arrow::datatypes::SchemaRef;
use lakejob_engine::datafusion::logical_expr::{col, lit};
use lakejob_engine::datafusion::prelude::SessionContext;
use lakejob_engine::failpoint::failpoint;
use lakejob_engine::ledger::{FileLedger, ProcessedMark};
use lakejob_engine::reader::{SOURCE_FILE, SourceReader};
use lakejob_engine::writer::Staged;
use lakejob_engine::{TableFormat, TableName, TableWrite, WriteMode};

use super::accounting::quarantine_schema;
use super::{JobRun, QUARANTINE_PARTITION, RunSummary};
use crate::JobsError;
use crate::selection::Selection;
use crate::spec::{Step, WriteModeSpec};
use crate::transaction::{RunManifest, begin, end, transaction_id};

impl<'a> JobRun<'a> {
    /// The transactions of earlier runs whose appended rows this run replaces: reprocessing
    /// an `append` target replaces what the same input gave before. Other modes replace by
    /// key or partition already.
    pub(super) fn replaced_transactions(
        &self,
        run_id: &str,
        selection: &mut Selection,
    ) -> Result<Vec<String>, JobsError> {
        let runs = std::mem::take(&mut selection.earlier_runs);
        if self.job.target.mode != WriteModeSpec::Append {
            return Ok(Vec::new());
        }
        let runs: Vec<String> = runs.into_iter().filter(|run| run != run_id).collect();
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        if !selection.left_out.is_empty() {
            return Err(JobsError::Reprocess {
                job: self.job.name.clone(),
                runs,
                files: std::mem::take(&mut selection.left_out),
            });
        }
        Ok(runs
            .iter()
            .map(|run| transaction_id(&self.job.name, run))
            .collect())
    }

    /// Commits the target, then the quarantine, each recording the run's identity, and marks
    /// the ledger last. Both tables are checked before the first commit, so a table that
    /// refuses its rows fails the run with nothing published.
    pub(super) async fn publish(
        &self,
        ctx: &SessionContext,
        summary: &mut RunSummary,
        publication: Publication<'_>,
        reader: &SourceReader,
    ) -> Result<(), JobsError> {
        let Publication {
            manifest,
            output,
            marks,
            replaced,
        } = publication;
        let transaction = manifest.transaction_id();
        let target = self
            .target_write(ctx)
            .with_transaction(&transaction)
            .replacing_transactions(replaced);
        let quarantine_schema = quarantine_schema(&reader.reject_schema());
        let quarantine = self
            .quarantine_write(ctx, &summary.dates, &manifest.files)
            .with_transaction(&transaction);
        let schema: SchemaRef = output.rows.schema();
        target.check(&schema).await.map_err(self.engine())?;
        quarantine
            .check(&quarantine_schema)
            .await
            .map_err(self.engine())?;
        begin(self.lake, manifest).await?;
        failpoint("before_target_commit");
        let written = target
            .execute_staged(output.rows, self.catalog)
            .await
            .map_err(self.engine())?;
        summary.tables.push(written);
        failpoint("after_target_commit");
        let written = quarantine
            .execute_batches(quarantine_schema, output.rejects, self.catalog)
            .await
            .map_err(self.engine())?;
        summary.tables.push(written);
        failpoint("after_quarantine_commit");
        FileLedger::new(self.lake.clone())
            .mark_processed(&self.job.name, marks)
            .await
            .map_err(self.engine())?;
        failpoint("after_ledger_marks");
        end(self.lake, manifest).await
    }

    /// The source's `nullable: false` columns that reach the target as read: no derive step
    /// computes them again, so the reader's guarantee holds.
    fn required_columns(&self) -> Vec<String> {
        let derived: Vec<&str> = self
            .job
            .steps
            .iter()
            .filter_map(|step| match step {
                Step::Derive(columns) => Some(columns),
                _ => None,
            })
            .flatten()
            .map(|column| column.name.as_str())
            .collect();
        self.job
            .source
            .iter()
            .flat_map(|source| &source.columns)
            .filter(|column| !column.nullable && !derived.contains(&column.name.as_str()))
            .map(|column| column.name.clone())
            .collect()
    }

    /// The write of the output to the job's target.
    pub(super) fn target_write<'s>(&'s self, ctx: &'s SessionContext) -> TableWrite<'s> {
        let target = &self.job.target;
        let mode = match target.mode {
            WriteModeSpec::Append => WriteMode::Append,
            WriteModeSpec::OverwritePartitions => WriteMode::OverwritePartitions,
            WriteModeSpec::Overwrite => WriteMode::Overwrite,
            WriteModeSpec::Merge => WriteMode::Merge {
                key: target.key.clone(),
                update_when: target.update_when.clone(),
            },
        };
        let write = TableWrite::new(
            self.lake,
            ctx,
            TableName::new(&target.zone, &target.table),
            target.format,
        )
        .with_partition_columns(target.partition_by.clone())
        .with_required_columns(self.required_columns())
        .with_mode(mode);
        match &self.job.description {
            Some(description) => write.with_description(description.clone()),
            None => write,
        }
    }

    /// The write of rejected rows to `quarantine.<source>`, replacing what earlier runs
    /// rejected from the same files (in one commit), so re-runs never duplicate them and other
    /// files' rows stay.
    pub(super) fn quarantine_write<'s>(
        &'s self,
        ctx: &'s SessionContext,
        dates: &[NaiveDate],
        files: &[String],
    ) -> TableWrite<'s> {
        let source_name = self.job.source.as_ref().map_or("", |s| s.name.as_str());
        let table = self
            .job
            .source
            .as_ref()
            .map_or("", |s| s.quarantine_table());
        let in_list = |values: Vec<String>| values.into_iter().map(lit).collect::<Vec<_>>();
        let predicate = col(QUARANTINE_PARTITION)
            .in_list(
                in_list(dates.iter().map(ToString::to_string).collect()),
                false,
            )
            .and(col(SOURCE_FILE).in_list(in_list(files.to_vec()), false));
        TableWrite::new(
            self.lake,
            ctx,
            TableName::new("quarantine", table),
            TableFormat::Delta,
        )
        .with_partition_columns(vec![QUARANTINE_PARTITION.to_string()])
        .with_mode(WriteMode::ReplaceWhere(predicate))
        .with_description(format!(
            "rows of raw/{source_name} rejected with their reason, file and line"
        ))
    }
}

/// What a run publishes: the steps' rows (staged) and the rejected rows.
pub(super) struct Output {
    pub(super) rows: Staged,
    pub(super) rejects: Vec<RecordBatch>,
}

/// What a run commits, and what it records once committed.
pub(super) struct Publication<'m> {
    pub(super) manifest: &'m RunManifest,
    pub(super) output: Output,
    /// The ledger marks of the files read, by MD5.
    pub(super) marks: Vec<(String, ProcessedMark)>,
    /// Transactions of earlier runs whose appended rows the target commit replaces.
    pub(super) replaced: Vec<String>,
}
