//! Which raw files a run reads. The ledger knows every content (by MD5) and which jobs have
//! processed it: a run reads what its job has not processed yet, skips copies of content the
//! lake already holds, and hashes files dropped straight into `raw/` on first sight.

use std::collections::{BTreeSet, HashMap};

use chrono::NaiveDate;
use lakejob_engine::lake::object_path;
use lakejob_engine::ledger::{Claim, FileLedger, FileRecord, FileStatus, ProcessedMark, md5_of};
use lakejob_engine::parallel::in_order;
use lakejob_engine::{Clock, EngineError, Lake, RawFile};

use crate::runner::SkippedFile;

/// The files a run reads, and the ones in its scope it leaves, with why.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    /// Files to read, in path order.
    pub files: Vec<RawFile>,
    /// MD5 of each file to read, by path.
    pub md5: HashMap<String, String>,
    /// Files in scope that are not read.
    pub skipped: Vec<SkippedFile>,
    /// When reprocessing: the earlier runs of the job that processed contents read again.
    pub earlier_runs: BTreeSet<String>,
    /// When reprocessing: files those runs read that this run does not, by path.
    pub left_out: Vec<String>,
}

/// What a run asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub job: &'a str,
    pub source: &'a str,
    pub date: Option<NaiveDate>,
    /// Read processed files again.
    pub reprocess: bool,
    /// Only these files (an interrupted run's), when given.
    pub only: Option<&'a [String]>,
    /// A date with any new file is read whole (targets that replace partitions need every
    /// row of the partitions they write).
    pub whole_dates: bool,
    /// Files hashed at once.
    pub parallelism: usize,
}

/// The files `scope` reads. Files are hashed as they stream from the store; their rows are
/// read later, by the run's scan.
pub(crate) async fn select_files(
    lake: &Lake,
    clock: &dyn Clock,
    scope: Scope<'_>,
) -> Result<Selection, EngineError> {
    let ledger = FileLedger::new(lake.clone());
    let listing = lake.raw_files(scope.source, scope.date).await?;
    let (mut raw, mut refused) = (listing.files, listing.refused);
    if let Some(only) = scope.only {
        raw.retain(|file| only.contains(&file.path));
        refused.retain(|file| only.contains(&file.path));
    }
    let mut selection = Selection::default();
    for file in refused {
        tracing::warn!(file = %file.path, reason = %file.reason, "a raw file cannot be read");
        selection.skipped.push(SkippedFile {
            file: file.path,
            reason: file.reason,
        });
    }
    let mut by_md5: HashMap<String, FileRecord> = ledger
        .records()
        .await?
        .into_iter()
        .map(|record| (record.md5.clone(), record))
        .collect();
    // The newest content recorded at each path: a path rewritten in place has several.
    let mut md5_by_path: HashMap<String, String> = HashMap::new();
    for record in by_md5.values() {
        let newer = md5_by_path
            .get(&record.lake_path)
            .and_then(|md5| by_md5.get(md5))
            .is_none_or(|known| known.ingested_at <= record.ingested_at);
        if newer {
            md5_by_path.insert(record.lake_path.clone(), record.md5.clone());
        }
    }
    // A file is hashed when its path is new, or when its size changed since its content was
    // recorded: new bytes at a known path are new content, not a file already processed.
    // Hashing is most of the cost of a first sight: files are hashed in parallel, on the
    // runtime's threads, and claimed in path order.
    let unseen: Vec<&RawFile> = raw
        .iter()
        .filter(|file| {
            md5_by_path
                .get(&file.path)
                .and_then(|md5| by_md5.get(md5))
                .is_none_or(|record| record.size != file.size)
        })
        .collect();
    let hashes = in_order(&unseen, scope.parallelism, |file| {
        let lake = lake.clone();
        let file = (*file).clone();
        tokio::spawn(async move {
            let path = object_path(&file.path);
            md5_of(lake.store().as_ref(), &path).await
        })
    })
    .await;
    for (file, hashed) in unseen.into_iter().zip(hashes) {
        let (md5, size) = hashed.map_err(|e| EngineError::Task(e.to_string()))??;
        let record = FileRecord {
            md5: md5.clone(),
            size,
            source: scope.source.to_string(),
            original_path: file.path.clone(),
            lake_path: file.path.clone(),
            raw_date: file.date,
            ingested_at: clock.now(),
            status: FileStatus::Ingested,
            reason: None,
        };
        tracing::info!(file = %file.path, md5 = %md5, "a file found in raw/ is hashed on first sight (or after its size changed)");
        let home = match ledger.claim(&record).await? {
            Claim::New => record,
            Claim::Existing(existing) => existing,
        };
        md5_by_path.insert(file.path.clone(), md5.clone());
        by_md5.entry(md5).or_insert(home);
    }
    // Reprocessing reads every file again, and needs the marks only to find the runs it
    // replaces.
    let (processed, marks) = match ledger.processed_by(scope.job).await? {
        marks if scope.reprocess => (HashMap::new(), marks),
        marks => (marks, HashMap::new()),
    };

    let mut candidates = Vec::new();
    for file in raw {
        let Some(md5) = md5_by_path.get(&file.path).cloned() else {
            continue;
        };
        match by_md5.get(&md5) {
            Some(home) if home.lake_path != file.path => {
                let verdict = match home.status {
                    FileStatus::Ingested => String::new(),
                    FileStatus::Rejected => format!(
                        ", rejected at ingest: {}",
                        home.reason.as_deref().unwrap_or("no reason")
                    ),
                };
                selection.skipped.push(SkippedFile {
                    file: file.path.clone(),
                    reason: format!("same content (md5 {md5}) as {}{verdict}", home.lake_path),
                });
            }
            _ => candidates.push((file, md5)),
        }
    }
    let new_dates: BTreeSet<NaiveDate> = candidates
        .iter()
        .filter(|(_, md5)| !processed.contains_key(md5))
        .map(|(file, _)| file.date)
        .collect();
    for (file, md5) in candidates {
        let read = match processed.get(&md5) {
            None => true,
            Some(_) if scope.whole_dates && new_dates.contains(&file.date) => true,
            Some(mark) => {
                selection.skipped.push(SkippedFile {
                    file: file.path.clone(),
                    reason: format!(
                        "already processed by {} (run {} at {}); --reprocess reads it again",
                        scope.job,
                        mark.run_id,
                        mark.processed_at.format("%Y-%m-%d %H:%M:%S UTC")
                    ),
                });
                false
            }
        };
        if read {
            selection.md5.insert(file.path.clone(), md5);
            selection.files.push(file);
        }
    }
    if scope.reprocess {
        earlier_runs(&mut selection, &marks, &by_md5);
    }
    Ok(selection)
}

/// The earlier runs that processed what `selection` reads again, and the files they read
/// that it does not: rows those runs appended can be replaced only with all of their input.
fn earlier_runs(
    selection: &mut Selection,
    marks: &HashMap<String, ProcessedMark>,
    by_md5: &HashMap<String, FileRecord>,
) {
    let reading: BTreeSet<&String> = selection.md5.values().collect();
    selection.earlier_runs = reading
        .iter()
        .filter_map(|md5| marks.get(*md5))
        .map(|mark| mark.run_id.clone())
        .collect();
    let mut left_out: Vec<String> = marks
        .iter()
        .filter(|(md5, mark)| {
            !reading.contains(md5) && selection.earlier_runs.contains(&mark.run_id)
        })
        .map(|(md5, _)| {
            by_md5
                .get(md5)
                .map_or_else(|| md5.clone(), |r| r.lake_path.clone())
        })
        .collect();
    left_out.sort();
    selection.left_out = left_out;
}
