//! Going back in a Delta table's history: its restore to an earlier version is a new commit
//! (the versions in between stay readable), so a restore can itself be undone.

use serde::Serialize;
use url::Url;

use crate::error::{EngineError, Result};

/// What restoring a Delta table did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreMetrics {
    /// The table.
    pub table: String,
    /// Its version before the restore.
    pub version_before: u64,
    /// The version whose contents it has again.
    pub restored_version: u64,
    /// The new version the restore committed; none in a dry run.
    pub new_version: Option<u64>,
    /// Data files of the current version the restore removes.
    pub files_removed: usize,
    /// Data files of the restored version it adds back.
    pub files_restored: usize,
}

/// Restores the Delta table at `location` to `version`: a commit that removes the files the
/// current version has and that version had not, and adds back the ones it had. A version
/// the table never had, or the current one, is refused with the versions there are.
pub async fn restore_delta(
    name: &str,
    location: &Url,
    version: u64,
    dry_run: bool,
) -> Result<RestoreMetrics> {
    let table = deltalake::open_table(location.clone())
        .await
        .map_err(EngineError::delta(name))?;
    let current = table.version().unwrap_or_default();
    if version >= current {
        return Err(EngineError::Declaration {
            context: format!("restoring {name}"),
            reason: format!(
                "version {version} is not an earlier version: the table's versions are 0 to {current}, the last its current one"
            ),
        });
    }
    let now = file_set(&table, name)?;
    let mut then_table = table.clone();
    then_table
        .load_version(version)
        .await
        .map_err(|e| EngineError::Declaration {
            context: format!("restoring {name}"),
            reason: format!(
                "version {version} cannot be read ({e}); it may be past the log's retention"
            ),
        })?;
    let then = file_set(&then_table, name)?;
    let mut metrics = RestoreMetrics {
        table: name.to_string(),
        version_before: current,
        restored_version: version,
        new_version: None,
        files_removed: now.difference(&then).count(),
        files_restored: then.difference(&now).count(),
    };
    if dry_run {
        return Ok(metrics);
    }
    let (restored, _) = table
        .restore()
        .with_version_to_restore(version)
        .await
        .map_err(EngineError::delta(name))?;
    metrics.new_version = restored.version();
    Ok(metrics)
}

fn file_set(
    table: &deltalake::DeltaTable,
    name: &str,
) -> Result<std::collections::BTreeSet<String>> {
    Ok(table
        .get_file_uris()
        .map_err(EngineError::delta(name))?
        .collect())
}
