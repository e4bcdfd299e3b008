//! Accounting for every row read: each file's counts into the summary, its rejects into
//! quarantine rows, its ledger mark, and the check that `rows_in = rows_out + rows_rejected +
//! rows_duplicate`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use lakejob_engine::datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
use lakejob_engine::datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use lakejob_engine::ledger::ProcessedMark;
use lakejob_engine::reader::{FileRead, REJECT_REASON};
use lakejob_engine::{EngineError, RawFile};

use super::{JobRun, QUARANTINE_PARTITION, QUARANTINE_RUN_ID, RunSummary, SkippedFile};
use crate::JobsError;
use crate::selection::Selection;
use crate::spec::Tolerance;

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
                let skipped = SkippedFile {
                    file: file.clone(),
                    reason,
                };
                accounted.unreadable.push(skipped.clone());
                summary.files_skipped += 1;
                summary.skipped.push(skipped);
            } else {
                summary.files_ingested += 1;
            }
            summary.rows_in += rows;
            summary.rows_rejected += rejected_rows;
            valid_rows += rows - rejected_rows;
            let raw_date = date_of.get(file.as_str()).copied();
            for batch in rejected {
                accounted.reasons.add(&batch);
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

impl JobRun<'_> {
    /// Fails the run, keeping its counts, when more of the rows read were rejected, or more
    /// of the files read were unreadable, than the source tolerates.
    pub(super) fn within_tolerance(
        &self,
        tolerance: Tolerance,
        summary: &RunSummary,
        accounted: &Accounted,
        files_read: usize,
    ) -> Result<(), JobsError> {
        let mut excesses = Vec::new();
        if let Some(share) = share(summary.rows_rejected, summary.rows_in)
            && share > tolerance.rejected_rows
        {
            excesses.push(format!(
                "{} of the {} rows read ({}) were rejected, above the {} the source tolerates (source.tolerance.rejected_rows); most common reasons: {}",
                summary.rows_rejected,
                summary.rows_in,
                percent(share),
                percent(tolerance.rejected_rows),
                accounted.reasons.most_common(3).join("; ")
            ));
        }
        let unreadable = &accounted.unreadable;
        if let Some(share) = share(unreadable.len() as u64, files_read as u64)
            && share > tolerance.unreadable_files
        {
            let examples: Vec<String> = unreadable
                .iter()
                .take(3)
                .map(|f| format!("{}: {}", f.file, f.reason))
                .collect();
            excesses.push(format!(
                "{} of the {files_read} files read ({}) could not be read, above the {} the source tolerates (source.tolerance.unreadable_files): {}",
                unreadable.len(),
                percent(share),
                percent(tolerance.unreadable_files),
                examples.join("; ")
            ));
        }
        if excesses.is_empty() {
            return Ok(());
        }
        Err(JobsError::TooMuchBadInput {
            job: self.job.name.clone(),
            detail: excesses.join("; and "),
            counts: Box::new(summary.clone()),
        })
    }
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// What accounting for the files read leaves to publish.
#[derive(Default)]
pub(super) struct Accounted {
    /// Rejected rows, with their quarantine columns.
    pub(super) rejects: Vec<RecordBatch>,
    /// The ledger marks of the files read, by MD5.
    pub(super) marks: Vec<(String, ProcessedMark)>,
    /// Files read that were skipped as unreadable.
    pub(super) unreadable: Vec<SkippedFile>,
    /// Why rows were rejected, by kind of reason.
    pub(super) reasons: ReasonTally,
}

/// Reject reasons counted by kind: the reason with its quoted value left out, so that
/// `amount: '1,5' is not a valid decimal` and `amount: '2,0' ...` count as one.
#[derive(Default)]
pub(super) struct ReasonTally(HashMap<String, (u64, String)>);

impl ReasonTally {
    fn add(&mut self, rejects: &RecordBatch) {
        let Some(reasons) = rejects
            .column_by_name(REJECT_REASON)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
        else {
            return;
        };
        for reason in reasons.iter().flatten() {
            let entry = self
                .0
                .entry(reason_kind(reason))
                .or_insert_with(|| (0, reason.to_string()));
            entry.0 += 1;
        }
    }

    /// The `n` most common kinds, each as `count × an example`, most common first.
    pub(super) fn most_common(&self, n: usize) -> Vec<String> {
        let mut kinds: Vec<&(u64, String)> = self.0.values().collect();
        kinds.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        kinds
            .into_iter()
            .take(n)
            .map(|(count, example)| format!("{count} × {example}"))
            .collect()
    }
}

/// A reason without the value it quotes: the text before the first `'` and after the last.
fn reason_kind(reason: &str) -> String {
    match (reason.find('\''), reason.rfind('\'')) {
        (Some(first), Some(last)) if first < last => {
            format!("{}'…'{}", &reason[..first], &reason[last + 1..])
        }
        _ => reason.to_string(),
    }
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
