//! Accounting for every row read: each file's counts into the summary, its rejects into
//! quarantine rows, its ledger mark, and the check that `rows_in = rows_out + rows_rejected +
//! rows_duplicate`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use lakejob_engine::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use lakejob_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lakejob_engine::ledger::ProcessedMark;
use lakejob_engine::reader::FileRead;
use lakejob_engine::{EngineError, RawFile};

use super::{JobRun, QUARANTINE_PARTITION, QUARANTINE_RUN_ID, RunSummary, SkippedFile};
use crate::JobsError;
use crate::selection::Selection;

impl<'a> JobRun<'a> {
    /// Counts what each file gave into the summary, and checks that every row read is
    /// accounted for: written, rejected or a duplicate.
    pub(super) fn account(
        &self,
        summary: &mut RunSummary,
        reads: Vec<FileRead>,
        files: &[RawFile],
        selection: Selection,
        rows_out: u64,
    ) -> Result<Accounted, JobsError> {
        let job = self.job;
        let mut dates: Vec<NaiveDate> = files.iter().map(|f| f.date).collect();
        dates.dedup();
        let date_of: HashMap<&str, NaiveDate> =
            files.iter().map(|f| (f.path.as_str(), f.date)).collect();
        summary.dates = dates;
        summary.files_skipped = selection.skipped.len() as u64;
        summary.skipped = selection.skipped;
        let mut accounted = Accounted::default();
        let mut valid_rows = 0;
        for read in reads {
            let FileRead {
                file,
                rows,
                rejected_rows,
                rejects: rejected,
                file_error,
                ..
            } = read;
            if let Some(md5) = selection.md5.get(&file) {
                let mark = ProcessedMark {
                    job: job.name.clone(),
                    run_id: summary.run_id.clone(),
                    processed_at: summary.started_at,
                    skipped_reason: file_error.clone(),
                };
                accounted.marks.push((md5.clone(), mark));
            }
            if let Some(reason) = file_error {
                tracing::warn!(job = %job.name, file = %file, reason = %reason, "raw file skipped");
                summary.files_skipped += 1;
                summary.skipped.push(SkippedFile {
                    file: file.clone(),
                    reason,
                });
            } else {
                summary.files_ingested += 1;
            }
            summary.rows_in += rows;
            summary.rows_rejected += rejected_rows;
            valid_rows += rows - rejected_rows;
            let raw_date = date_of.get(file.as_str()).copied();
            for batch in rejected {
                accounted
                    .rejects
                    .push(with_quarantine_columns(&batch, raw_date, &summary.run_id)?);
            }
        }
        summary.rows_out = rows_out;
        summary.rows_duplicate = valid_rows.checked_sub(rows_out).ok_or_else(|| {
            JobsError::Accounting {
                job: job.name.clone(),
                detail: format!(
                    "the steps made {rows_out} rows out of {valid_rows}; a join must not multiply rows"
                ),
            }
        })?;
        if summary.rows_in != summary.rows_out + summary.rows_rejected + summary.rows_duplicate {
            return Err(JobsError::Accounting {
                job: job.name.clone(),
                detail: format!(
                    "rows_in {} != rows_out {} + rows_rejected {} + rows_duplicate {}",
                    summary.rows_in,
                    summary.rows_out,
                    summary.rows_rejected,
                    summary.rows_duplicate
                ),
            });
        }
        Ok(accounted)
    }
}

/// What accounting for the files read leaves to publish.
#[derive(Default)]
pub(super) struct Accounted {
    /// Rejected rows, with their quarantine columns.
    pub(super) rejects: Vec<RecordBatch>,
    /// The ledger marks of the files read, by MD5.
    pub(super) marks: Vec<(String, ProcessedMark)>,
}

pub(super) fn quarantine_schema(reject_schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = reject_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(QUARANTINE_RUN_ID, DataType::Utf8, false));
    fields.push(Field::new(QUARANTINE_PARTITION, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

fn with_quarantine_columns(
    batch: &RecordBatch,
    raw_date: Option<NaiveDate>,
    run_id: &str,
) -> Result<RecordBatch, JobsError> {
    let rows = batch.num_rows();
    let date = raw_date.map(|d| d.to_string()).unwrap_or_default();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![run_id; rows])));
    columns.push(Arc::new(StringArray::from(vec![date.as_str(); rows])));
    RecordBatch::try_new(quarantine_schema(&batch.schema()), columns).map_err(|e| {
        JobsError::Engine {
            job: String::new(),
            source: EngineError::datafusion("building quarantine rows")(e.into()),
        }
    })
}
