//! A run of a source job as a transaction over several tables. Once its gate has passed and
//! before its first commit, a run leaves a manifest naming itself and the raw files it read.
//! Each table commit records the run's identity (a Delta transaction identifier, or a marker
//! for Parquet). The ledger is marked and the manifest removed last.
//!
//! A run that stops between two commits leaves its manifest behind; the next run of the job
//! finishes it first: it reads the same files again and commits only to the tables that do not
//! hold the interrupted run's identity, so no table gets a second copy of anything.

use chrono::{DateTime, Utc};
use lakejob_engine::Lake;
use lakejob_engine::lake::STATE_DIR;
use serde::{Deserialize, Serialize};

use crate::JobsError;

/// What an interrupted run must finish: its identity and the raw files it read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunManifest {
    /// The run.
    pub run_id: String,
    /// Its job.
    pub job: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// The raw files it read, relative to the lake root.
    pub files: Vec<String>,
}

impl RunManifest {
    /// The identity each table commit of the run records.
    pub fn transaction_id(&self) -> String {
        transaction_id(&self.job, &self.run_id)
    }
}

/// The identity a table commit of `job`'s run `run_id` records.
pub(crate) fn transaction_id(job: &str, run_id: &str) -> String {
    format!("lakejob-{job}-{run_id}")
}

fn pending_folder(job: &str) -> String {
    format!("{STATE_DIR}/pending/{job}")
}

fn manifest_path(job: &str, run_id: &str) -> String {
    format!("{}/{run_id}.json", pending_folder(job))
}

fn engine(job: &str) -> impl FnOnce(lakejob_engine::EngineError) -> JobsError + '_ {
    move |source| JobsError::Engine {
        job: job.to_string(),
        source,
    }
}

/// The runs of `job` that began committing and did not finish, oldest first.
pub(crate) async fn interrupted_runs(
    lake: &Lake,
    job: &str,
) -> Result<Vec<RunManifest>, JobsError> {
    let folder = pending_folder(job);
    let mut runs = Vec::new();
    for name in lake.list_relative(&folder).await.map_err(engine(job))? {
        let path = format!("{folder}/{name}");
        let contents = lake.read(&path).await.map_err(engine(job))?;
        let manifest: RunManifest =
            serde_json::from_slice(&contents).map_err(|e| JobsError::Manifest {
                job: job.to_string(),
                path: path.clone(),
                reason: e.to_string(),
            })?;
        runs.push(manifest);
    }
    runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
    Ok(runs)
}

/// Leaves the manifest: from here on the run is finished by whichever run comes next.
pub(crate) async fn begin(lake: &Lake, manifest: &RunManifest) -> Result<(), JobsError> {
    let contents = serde_json::to_vec_pretty(manifest).map_err(|e| JobsError::Manifest {
        job: manifest.job.clone(),
        path: manifest_path(&manifest.job, &manifest.run_id),
        reason: e.to_string(),
    })?;
    lake.write(
        &manifest_path(&manifest.job, &manifest.run_id),
        bytes::Bytes::from(contents),
    )
    .await
    .map_err(engine(&manifest.job))
}

/// Removes the manifest of a run whose commits and ledger marks are all made.
pub(crate) async fn end(lake: &Lake, manifest: &RunManifest) -> Result<(), JobsError> {
    lake.delete(&manifest_path(&manifest.job, &manifest.run_id))
        .await
        .map_err(engine(&manifest.job))
}

/// A run's staging folder goes once nothing in it has changed for this long: the run that
/// staged there was killed before it could remove it.
pub(crate) const ABANDONED_STAGING_HOURS: i64 = 6;

/// Where run `run_id` of `job` stages its output and its files' outcomes.
pub(crate) fn staging_folder(job: &str, run_id: &str) -> String {
    format!("{STATE_DIR}/staging/{job}/{run_id}")
}

/// Removes the staging folders of `job`'s runs that were killed while staging: a folder none
/// of whose files changed in [`ABANDONED_STAGING_HOURS`]. A run that is still staging keeps
/// writing files, so it is left alone.
pub(crate) async fn remove_abandoned_staging(
    lake: &Lake,
    job: &str,
    now: DateTime<Utc>,
) -> Result<(), JobsError> {
    let folder = format!("{STATE_DIR}/staging/{job}");
    let mut newest: std::collections::BTreeMap<String, DateTime<Utc>> = Default::default();
    for object in lake.list(&folder).await.map_err(engine(job))? {
        let path = object.location.as_ref();
        let Some(run) = path
            .strip_prefix(&folder)
            .and_then(|rest| rest.trim_start_matches('/').split('/').next())
        else {
            continue;
        };
        let seen = newest
            .entry(run.to_string())
            .or_insert(object.last_modified);
        *seen = (*seen).max(object.last_modified);
    }
    let cutoff = now - chrono::Duration::hours(ABANDONED_STAGING_HOURS);
    for (run_id, changed) in newest {
        if changed < cutoff {
            tracing::info!(job, run_id = %run_id, "removing the staged files of a run killed while staging");
            crate::runner::remove_unpublished(lake, &staging_folder(job, &run_id))
                .await
                .map_err(engine(job))?;
            lake.delete_folder(&staging_folder(job, &run_id))
                .await
                .map_err(engine(job))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manifests_are_kept_until_their_run_ends_and_listed_oldest_first()
    -> Result<(), JobsError> {
        let dir = tempfile::tempdir().map_err(|source| JobsError::Io {
            path: "a temporary folder".into(),
            source,
        })?;
        let lake = Lake::open(&dir.path().display().to_string()).map_err(engine("t"))?;
        let at = |minute: u32| {
            chrono::NaiveDate::from_ymd_opt(2025, 1, 15)
                .and_then(|d| d.and_hms_opt(0, minute, 0))
                .map(|t| t.and_utc())
                .unwrap_or_default()
        };
        let manifest = |run_id: &str, minute| RunManifest {
            run_id: run_id.into(),
            job: "t".into(),
            started_at: at(minute),
            files: vec![format!("raw/s/date=2025-01-15/{run_id}.csv")],
        };
        let (late, early) = (manifest("a-late", 5), manifest("b-early", 1));
        begin(&lake, &late).await?;
        begin(&lake, &early).await?;
        assert_eq!(
            interrupted_runs(&lake, "t").await?,
            vec![early.clone(), late.clone()]
        );
        assert!(interrupted_runs(&lake, "other").await?.is_empty());
        end(&lake, &early).await?;
        assert_eq!(interrupted_runs(&lake, "t").await?, vec![late.clone()]);
        assert_ne!(early.transaction_id(), late.transaction_id());
        Ok(())
    }

    #[tokio::test]
    async fn a_staging_folder_goes_once_untouched_for_the_abandon_time() -> Result<(), JobsError> {
        let dir = tempfile::tempdir().map_err(|source| JobsError::Io {
            path: "a temporary folder".into(),
            source,
        })?;
        let lake = Lake::open(&dir.path().display().to_string()).map_err(engine("t"))?;
        let staged = format!("{}/output/part-0000.parquet", staging_folder("t", "r1"));
        let other_job = format!("{}/output/part-0000.parquet", staging_folder("u", "r2"));
        for path in [&staged, &other_job] {
            lake.write(path, bytes::Bytes::from_static(b"rows"))
                .await
                .map_err(engine("t"))?;
        }
        let now = Utc::now();
        remove_abandoned_staging(&lake, "t", now).await?;
        assert!(
            lake.exists(&staged).await.map_err(engine("t"))?,
            "a run still staging"
        );
        let later = now + chrono::Duration::hours(ABANDONED_STAGING_HOURS + 1);
        remove_abandoned_staging(&lake, "t", later).await?;
        assert!(!lake.exists(&staged).await.map_err(engine("t"))?);
        assert!(
            lake.exists(&other_job).await.map_err(engine("t"))?,
            "another job's staging is its own"
        );
        Ok(())
    }
}
