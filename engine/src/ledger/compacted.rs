//! The ledger's snapshots: every content's record and every job's marks folded into one
//! document, so a run reads one object plus the documents written since the last
//! compaction, not one document per file the lake ever saw.
//!
//! Snapshots are numbered (`_lakejob/ledger/compacted/<n>.json`) and only ever created if
//! absent, so two writers (maintenance, `lakejob release`) never overwrite each other: the
//! loser reads the newer snapshot and applies its change again. Readers take the loose
//! documents first and the snapshot after: a document folded and removed in between is in
//! that snapshot.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{CONCURRENCY, FileLedger, FileRecord, ProcessedMark};
use crate::error::{EngineError, Result};
use crate::lake::{STATE_DIR, object_path};

/// Tries at reading or replacing the newest snapshot while other processes replace it.
const ATTEMPTS: u32 = 5;

/// What the ledger knows, as one document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct LedgerState {
    /// Each content's record, by MD5.
    pub records: BTreeMap<String, FileRecord>,
    /// Each job's marks, by job, then MD5.
    pub processed: BTreeMap<String, BTreeMap<String, ProcessedMark>>,
}

/// The newest snapshot and its number (0 and empty before the first compaction).
#[derive(Debug, Clone, Default)]
pub(super) struct Snapshot {
    pub seq: u64,
    pub state: LedgerState,
}

/// A document written since the last compaction: where it is, as it was when read.
#[derive(Debug, Clone)]
pub(super) struct Loose<T> {
    pub object: ObjectMeta,
    pub value: T,
}

impl FileLedger {
    fn compacted_prefix() -> String {
        format!("{STATE_DIR}/ledger/compacted")
    }

    fn snapshot_path(seq: u64) -> String {
        format!("{}/{seq:020}.json", Self::compacted_prefix())
    }

    async fn snapshot_numbers(&self) -> Result<Vec<u64>> {
        let mut numbers: Vec<u64> = self
            .lake
            .list(&Self::compacted_prefix())
            .await?
            .iter()
            .filter_map(|object| {
                let name = object.location.filename()?;
                name.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        numbers.sort_unstable();
        Ok(numbers)
    }

    /// The newest snapshot. Kept in memory while it stays the newest: checking costs one
    /// listing of a folder of one or two objects.
    pub(super) async fn snapshot(&self) -> Result<Arc<Snapshot>> {
        for _ in 0..ATTEMPTS {
            let Some(&seq) = self.snapshot_numbers().await?.last() else {
                return Ok(Arc::new(Snapshot::default()));
            };
            if let Ok(cached) = self.snapshot_cache.lock()
                && let Some(snapshot) = cached.as_ref().filter(|s| s.seq == seq)
            {
                return Ok(Arc::clone(snapshot));
            }
            let path = Self::snapshot_path(seq);
            match self.lake.read(&path).await {
                Ok(bytes) => {
                    let state = self.parse(&path, &bytes)?;
                    let snapshot = Arc::new(Snapshot { seq, state });
                    if let Ok(mut cached) = self.snapshot_cache.lock() {
                        *cached = Some(Arc::clone(&snapshot));
                    }
                    return Ok(snapshot);
                }
                // A newer compaction removed it between the listing and the read.
                Err(EngineError::Storage {
                    source: object_store::Error::NotFound { .. },
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(self.moving())
    }

    /// Applies `change` to the newest snapshot and saves the result as the next one, unless
    /// `change` says nothing changed.
    pub(super) async fn edit_snapshot(
        &self,
        change: impl Fn(&mut LedgerState) -> bool,
    ) -> Result<()> {
        for _ in 0..ATTEMPTS {
            let snapshot = self.snapshot().await?;
            let mut state = snapshot.state.clone();
            if !change(&mut state) {
                return Ok(());
            }
            let seq = snapshot.seq + 1;
            let path = Self::snapshot_path(seq);
            let json = serde_json::to_vec(&state).map_err(|e| EngineError::Task(e.to_string()))?;
            let created = self
                .lake
                .store()
                .put_opts(
                    &object_path(&path),
                    PutPayload::from(Bytes::from(json)),
                    PutOptions::from(PutMode::Create),
                )
                .await;
            match created {
                Ok(_) => {
                    for older in self.snapshot_numbers().await? {
                        if older < seq {
                            self.lake.delete(&Self::snapshot_path(older)).await?;
                        }
                    }
                    return Ok(());
                }
                // Another process saved this number first: apply the change to its snapshot.
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(EngineError::storage(path)(e)),
            }
        }
        Err(self.moving())
    }

    /// Folds the documents written since the last compaction into a new snapshot and removes
    /// them. Returns how many were (in a dry run, would be) folded.
    pub async fn compact(&self, dry_run: bool) -> Result<usize> {
        let records = self.loose_records().await?;
        let marks = self.loose_marks(None).await?;
        let folded = records.len() + marks.len();
        if dry_run || folded == 0 {
            return Ok(folded);
        }
        self.edit_snapshot(|state| {
            for record in &records {
                // The first claim of a content wins, as with the documents themselves.
                state
                    .records
                    .entry(record.value.md5.clone())
                    .or_insert_with(|| record.value.clone());
            }
            for (job, md5, mark) in marks.iter().map(|m| &m.value) {
                state
                    .processed
                    .entry(job.clone())
                    .or_default()
                    .insert(md5.clone(), mark.clone());
            }
            true
        })
        .await?;
        let objects: Vec<ObjectMeta> = records
            .into_iter()
            .map(|r| r.object)
            .chain(marks.into_iter().map(|m| m.object))
            .collect();
        futures::stream::iter(objects)
            .map(|object| async move { self.delete_if_unchanged(&object).await })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(folded)
    }

    /// Removes a folded document unless it was rewritten since it was read (a mark written
    /// again by a run that reprocessed the file): that one is folded by the next compaction.
    async fn delete_if_unchanged(&self, object: &ObjectMeta) -> Result<()> {
        match self.lake.store().head(&object.location).await {
            Ok(now) if now.e_tag == object.e_tag && now.last_modified == object.last_modified => {
                self.lake.delete(object.location.as_ref()).await
            }
            Ok(_) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(EngineError::storage(object.location.to_string())(e)),
        }
    }

    /// The content records written since the last compaction.
    pub(super) async fn loose_records(&self) -> Result<Vec<Loose<FileRecord>>> {
        let objects = self.lake.list(&Self::files_prefix()).await?;
        Ok(self
            .read_loose(objects)
            .await?
            .into_iter()
            .map(|(object, value)| Loose { object, value })
            .collect())
    }

    /// The marks written since the last compaction, of one job or of all: (job, MD5, mark).
    pub(super) async fn loose_marks(
        &self,
        job: Option<&str>,
    ) -> Result<Vec<Loose<(String, String, ProcessedMark)>>> {
        let prefix = match job {
            Some(job) => Self::processed_prefix(job),
            None => format!("{STATE_DIR}/ledger/processed"),
        };
        let objects = self.lake.list(&prefix).await?;
        let marks = self.read_loose::<ProcessedMark>(objects).await?;
        Ok(marks
            .into_iter()
            .filter_map(|(object, mark)| {
                let mut parts = object
                    .location
                    .parts()
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev();
                let md5 = parts.next()?.as_ref().strip_suffix(".json")?.to_string();
                let job = parts.next()?.as_ref().to_string();
                Some(Loose {
                    value: (job, md5, mark),
                    object,
                })
            })
            .collect())
    }

    /// Reads documents; one removed meanwhile (folded by a compaction) is skipped, as the
    /// snapshot read after it holds it.
    async fn read_loose<D: DeserializeOwned>(
        &self,
        objects: Vec<ObjectMeta>,
    ) -> Result<Vec<(ObjectMeta, D)>> {
        let documents = objects
            .into_iter()
            .filter(|object| object.location.as_ref().ends_with(".json"));
        let read: Vec<Option<(ObjectMeta, D)>> = futures::stream::iter(documents)
            .map(|object| async move {
                let path = object.location.to_string();
                match self.lake.read(&path).await {
                    Ok(bytes) => Ok(Some((object, self.parse(&path, &bytes)?))),
                    Err(EngineError::Storage {
                        source: object_store::Error::NotFound { .. },
                        ..
                    }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        Ok(read.into_iter().flatten().collect())
    }

    pub(super) fn parse<D: DeserializeOwned>(&self, path: &str, bytes: &[u8]) -> Result<D> {
        serde_json::from_slice(bytes).map_err(|e| EngineError::Lake {
            location: self.lake.location().to_string(),
            reason: format!("ledger document {path} is not valid: {e}"),
        })
    }

    fn moving(&self) -> EngineError {
        EngineError::Lake {
            location: self.lake.location().to_string(),
            reason: format!(
                "the ledger's snapshot under {} was replaced {ATTEMPTS} times while this process used it; run again",
                Self::compacted_prefix()
            ),
        }
    }
}
