//! Files a user offers to `ingest` from the local disk: files, folders (read recursively, in
//! name order, hidden entries left out) and glob patterns.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;

use crate::error::{EngineError, Result};
use crate::ingest::Incoming;

/// The files `patterns` name. A pattern that names nothing, a folder that cannot be read and
/// a special file (a FIFO would block the read forever) are errors naming them.
pub fn local_files(patterns: &[String]) -> Result<Vec<Incoming>> {
    let store: Arc<dyn ObjectStore> = Arc::new(LocalFileSystem::new());
    let refused = |path: &str, reason: String| EngineError::Offered {
        path: path.to_string(),
        reason,
    };
    let mut paths = Vec::new();
    for pattern in patterns {
        let path = Path::new(pattern);
        if path.is_dir() {
            collect_files(path, &mut paths)
                .map_err(|e| refused(pattern, format!("cannot read the folder: {e}")))?;
        } else if path.is_file() {
            paths.push(path.to_path_buf());
        } else {
            let matches = glob::glob(pattern).map_err(|e| {
                refused(pattern, format!("not a file, folder or glob pattern: {e}"))
            })?;
            let before = paths.len();
            paths.extend(matches.filter_map(|m| m.ok()).filter(|p| p.is_file()));
            if paths.len() == before {
                return Err(refused(pattern, "names no file".into()));
            }
        }
    }
    paths
        .into_iter()
        .map(|path| {
            let shown = path.display().to_string();
            let absolute =
                std::fs::canonicalize(&path).map_err(|e| refused(&shown, e.to_string()))?;
            let object = ObjectPath::from_absolute_path(&absolute)
                .map_err(|e| refused(&shown, e.to_string()))?;
            Ok(Incoming {
                store: Arc::clone(&store),
                path: object,
                display: shown,
            })
        })
        .collect()
}

fn collect_files(folder: &Path, into: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(folder)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::result::Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let hidden = entry
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        // Following links, as reading does.
        let kind = std::fs::metadata(&entry)?.file_type();
        if kind.is_dir() {
            collect_files(&entry, into)?;
        } else if kind.is_file() {
            into.push(entry);
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a regular file (a FIFO, socket or device); ingest reads regular files only",
                    entry.display()
                ),
            ));
        }
    }
    Ok(())
}
