//! The lake: a root (a local folder, or a URL on an object store an adapter opens), its zones,
//! and the raw files in it.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use chrono::NaiveDate;
use futures::{StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload};
use url::Url;

use crate::error::{EngineError, Result};

/// The zones of a lake (docs/data.md layout), which are also the catalog's databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    /// Files as received.
    Raw,
    /// Cleaned, typed, deduplicated tables.
    Processed,
    /// Joined, analytics-ready tables.
    Curated,
    /// Rejected rows with their reasons.
    Quarantine,
    /// Small reference tables.
    Reference,
}

impl Zone {
    /// Every zone, in lake order.
    pub const ALL: [Zone; 5] = [
        Zone::Raw,
        Zone::Processed,
        Zone::Curated,
        Zone::Quarantine,
        Zone::Reference,
    ];

    /// The folder and database name.
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Processed => "processed",
            Zone::Curated => "curated",
            Zone::Quarantine => "quarantine",
            Zone::Reference => "reference",
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Zone {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Zone::ALL
            .into_iter()
            .find(|zone| zone.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown zone '{s}'; expected raw, processed, curated, quarantine or reference"
                )
            })
    }
}

/// A file found in the raw zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// Path relative to the lake root.
    pub path: String,
    /// The date of its `date=YYYY-MM-DD` folder.
    pub date: NaiveDate,
    /// Size in bytes.
    pub size: u64,
}

/// The engine's own state folder inside the lake.
pub const STATE_DIR: &str = "_lakejob";

/// A lake: its root URL and the object store that holds it.
#[derive(Debug, Clone)]
pub struct Lake {
    location: String,
    root: Url,
    store: Arc<dyn ObjectStore>,
}

impl Lake {
    /// Opens the lake at a local folder (created if missing).
    pub fn open(location: &str) -> Result<Self> {
        let lake_error = |reason: String| EngineError::Lake {
            location: location.to_string(),
            reason,
        };
        if let Some((scheme, _)) = location.split_once("://")
            && scheme != "file"
        {
            return Err(lake_error(format!(
                "{scheme}:// lakes are opened by their storage adapter, not as a folder"
            )));
        }
        let path = location.strip_prefix("file://").unwrap_or(location);
        std::fs::create_dir_all(path)
            .map_err(|e| lake_error(format!("cannot create the folder: {e}")))?;
        let absolute = std::fs::canonicalize(path)
            .map_err(|e| lake_error(format!("cannot resolve the folder: {e}")))?;
        let root = Url::from_directory_path(&absolute)
            .map_err(|()| lake_error("not an absolute folder path".into()))?;
        let store = LocalFileSystem::new_with_prefix(&absolute)
            .map_err(|e| lake_error(format!("cannot open the folder: {e}")))?;
        Ok(Self {
            location: location.to_string(),
            root,
            store: Arc::new(store),
        })
    }

    /// A lake on an object store: `root` is its URL (`s3://bucket/prefix/`), `store` serves the
    /// root's scheme and authority (the whole bucket). The store is registered for the process,
    /// so Delta tables and sessions under that URL use it.
    pub fn with_store(location: &str, root: Url, store: Arc<dyn ObjectStore>) -> Result<Self> {
        let mut root = root;
        if !root.path().ends_with('/') {
            root.set_path(&format!("{}/", root.path()));
        }
        let prefix = ObjectPath::from_url_path(root.path()).map_err(|e| EngineError::Lake {
            location: location.to_string(),
            reason: format!("bad lake path: {e}"),
        })?;
        crate::remote::register(&root, Arc::clone(&store));
        Ok(Self {
            location: location.to_string(),
            root,
            store: Arc::new(PrefixStore::new(store, prefix)),
        })
    }

    /// The lake at `root` on a store serving the root's scheme and authority, without
    /// registering the store for the process: a cluster executor reading a planned scan.
    pub fn on_store(root: Url, store: Arc<dyn ObjectStore>) -> Result<Self> {
        let prefix = ObjectPath::from_url_path(root.path()).map_err(|e| EngineError::Lake {
            location: root.to_string(),
            reason: format!("bad lake path: {e}"),
        })?;
        Ok(Self {
            location: root.to_string(),
            root,
            store: Arc::new(PrefixStore::new(store, prefix)),
        })
    }

    /// The location as the user gave it.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The root URL, ending in `/`.
    pub fn root_url(&self) -> &Url {
        &self.root
    }

    /// The object store rooted at the lake: paths are relative to the lake root.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        Arc::clone(&self.store)
    }

    /// The URL of a folder inside the lake, ending in `/`.
    pub fn url_of(&self, relative: &str) -> Result<Url> {
        self.join(&format!("{}/", relative.trim_matches('/')))
    }

    /// The URL of an object inside the lake.
    pub fn object_url(&self, relative: &str) -> Result<Url> {
        self.join(relative.trim_matches('/'))
    }

    fn join(&self, relative: &str) -> Result<Url> {
        self.root.join(relative).map_err(|e| EngineError::Lake {
            location: self.location.clone(),
            reason: format!("bad path {relative}: {e}"),
        })
    }

    /// The folder of a table: `<zone>/<table>`.
    pub fn table_path(zone: Zone, table: &str) -> String {
        format!("{}/{table}", zone.as_str())
    }

    async fn get(&self, path: &str) -> Result<object_store::GetResult> {
        self.store
            .get(&object_path(path))
            .await
            .map_err(EngineError::storage(path))
    }

    /// Reads a whole object.
    pub async fn read(&self, path: &str) -> Result<Bytes> {
        let result = self.get(path).await?;
        result.bytes().await.map_err(EngineError::storage(path))
    }

    /// An object's bytes as a blocking reader that fetches them while they are read, a few
    /// chunks ahead, so an object of any size passes in bounded memory. Read it off the
    /// async runtime (in a blocking task).
    pub async fn read_stream(&self, path: &str) -> Result<ObjectReader> {
        let result = self.get(path).await?;
        let range = result.range.clone();
        let mut chunks = match result.payload {
            // A local file is read straight from its descriptor: the store's stream would
            // hand it over in 8 KiB chunks, each a task of its own.
            GetResultPayload::File(mut file, _) => {
                file.seek(SeekFrom::Start(range.start)).map_err(|e| {
                    EngineError::storage(path)(object_store::Error::Generic {
                        store: "local",
                        source: Box::new(e),
                    })
                })?;
                let length = range.end.saturating_sub(range.start);
                return Ok(ObjectReader {
                    source: Source::File(file.take(length)),
                });
            }
            GetResultPayload::Stream(chunks) => chunks,
        };
        let (sender, receiver) = tokio::sync::mpsc::channel(READ_AHEAD_CHUNKS);
        tokio::spawn(async move {
            while let Some(chunk) = chunks.next().await {
                // The reader stopped reading (it failed, or the plan needs no more rows).
                if sender
                    .send(chunk.map_err(std::io::Error::other))
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
        Ok(ObjectReader {
            source: Source::Chunks {
                chunks: receiver,
                current: Bytes::new(),
            },
        })
    }

    /// Writes a whole object atomically (readers see the old or the new version).
    pub async fn write(&self, path: &str, contents: Bytes) -> Result<()> {
        self.store
            .put(&object_path(path), PutPayload::from_bytes(contents))
            .await
            .map_err(EngineError::storage(path))?;
        Ok(())
    }

    /// Whether the object at `path` exists.
    pub async fn exists(&self, path: &str) -> Result<bool> {
        match self.store.head(&object_path(path)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(EngineError::storage(path)(e)),
        }
    }

    /// Deletes one object; one already gone is not an error.
    pub async fn delete(&self, path: &str) -> Result<()> {
        match self.store.delete(&object_path(path)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(EngineError::storage(path)(e)),
        }
    }

    /// Deletes every object under a prefix.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        for object in self.list(prefix).await? {
            self.store
                .delete(&object.location)
                .await
                .map_err(EngineError::storage(object.location.to_string()))?;
        }
        Ok(())
    }

    /// Deletes every object under a prefix and, in a local lake, the folders they leave
    /// (an object store has no folders to leave).
    pub async fn delete_folder(&self, prefix: &str) -> Result<()> {
        self.delete_prefix(prefix).await?;
        if self.root.scheme() == "file"
            && let Ok(root) = self.root.to_file_path()
        {
            match std::fs::remove_dir_all(root.join(prefix)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(EngineError::Lake {
                        location: self.location.clone(),
                        reason: format!("cannot remove the folder {prefix}: {e}"),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Lists every object under a prefix, sorted by path.
    pub async fn list(&self, prefix: &str) -> Result<Vec<object_store::ObjectMeta>> {
        let prefix_path = object_path(prefix);
        let mut objects: Vec<_> = self
            .store
            .list(Some(&prefix_path))
            .try_collect()
            .await
            .map_err(EngineError::storage(prefix))?;
        objects.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(objects)
    }

    /// The paths of every object under a prefix, relative to it (no leading `/`), sorted.
    pub async fn list_relative(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .list(prefix)
            .await?
            .iter()
            .filter_map(|object| {
                let rest = object.location.as_ref().strip_prefix(prefix)?;
                Some(rest.trim_start_matches('/').to_string())
            })
            .collect())
    }

    /// Whether any object lies under a prefix (reads at most one listing page).
    pub async fn has_objects(&self, prefix: &str) -> Result<bool> {
        let prefix_path = object_path(prefix);
        match self.store.list(Some(&prefix_path)).next().await {
            None => Ok(false),
            Some(Ok(_)) => Ok(true),
            Some(Err(e)) => Err(EngineError::storage(prefix)(e)),
        }
    }

    /// The raw files of a source, optionally of one date, in path order, and the files found
    /// there that cannot be read, each with the reason. Files outside a `date=YYYY-MM-DD`
    /// folder and hidden or partial files are not part of the raw zone.
    pub async fn raw_files(&self, source: &str, date: Option<NaiveDate>) -> Result<RawListing> {
        let prefix = match date {
            Some(date) => format!("raw/{source}/date={}", date.format("%Y-%m-%d")),
            None => format!("raw/{source}"),
        };
        let mut listing = match self.local_root() {
            Some(root) => local_raw_files(&root, &prefix),
            None => {
                let mut listing = RawListing::default();
                for object in self.list(&prefix).await? {
                    let path = object.location.to_string();
                    if let Some(date) = raw_date(&path) {
                        listing.files.push(RawFile {
                            path,
                            date,
                            size: object.size,
                        });
                    }
                }
                listing
            }
        };
        listing.files.sort_by(|a, b| a.path.cmp(&b.path));
        listing.refused.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(listing)
    }

    /// The folder of a lake on the local file system.
    fn local_root(&self) -> Option<std::path::PathBuf> {
        (self.root.scheme() == "file")
            .then(|| self.root.to_file_path().ok())
            .flatten()
    }
}

/// What [`Lake::raw_files`] found.
#[derive(Debug, Default)]
pub struct RawListing {
    /// The files to read.
    pub files: Vec<RawFile>,
    /// The files that cannot be read, with the reason: never silently left out.
    pub refused: Vec<RefusedFile>,
}

/// A file of the raw zone that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedFile {
    /// Path relative to the lake root.
    pub path: String,
    /// Why, for the run's summary.
    pub reason: String,
}

/// The raw files of a local lake under `prefix` (a source's folder or one date's), walked
/// here rather than through the store's listing, which ends at the first entry it cannot
/// name (a link loop, a name with a control character) and hides names ending in `#` and
/// digits: each of those is refused with its reason, and every other file is still read.
fn local_raw_files(root: &std::path::Path, prefix: &str) -> RawListing {
    let mut listing = RawListing::default();
    let top = root.join(prefix);
    let folders: Vec<std::path::PathBuf> = if prefix.matches('/').count() >= 2 {
        vec![top]
    } else {
        entries_of(&top)
    };
    for folder in folders.into_iter().filter(|f| f.is_dir()) {
        for file in entries_of(&folder) {
            let Ok(relative) = file.strip_prefix(root) else {
                continue;
            };
            let Some(path) = relative.to_str().map(str::to_string) else {
                listing.refused.push(RefusedFile {
                    path: relative.to_string_lossy().into_owned(),
                    reason: "the name is not UTF-8, so the lake's store cannot address it; rename the file".into(),
                });
                continue;
            };
            let Some(date) = raw_date(&path) else {
                continue;
            };
            let refusal = |reason: &str| RefusedFile {
                path: path.clone(),
                reason: reason.to_string(),
            };
            let real = std::fs::canonicalize(&file);
            if real.as_ref().map_or(true, |real| !real.starts_with(root)) {
                listing.refused.push(refusal("a link leads outside the lake (or nowhere); lakejob reads no file outside the lake root"));
                continue;
            }
            let Ok(metadata) = std::fs::metadata(&file) else {
                continue;
            };
            if !metadata.is_file() {
                continue;
            }
            if ObjectPath::parse(&path).is_err() {
                listing.refused.push(refusal("the name holds a control character, which the lake's store cannot address; rename the file"));
            } else if is_unfinished_upload_name(&path) {
                listing.refused.push(refusal("a name ending in '#' and digits is how a local lake marks an unfinished upload, so the file cannot be read; rename it"));
            } else {
                listing.files.push(RawFile {
                    path,
                    date,
                    size: metadata.len(),
                });
            }
        }
    }
    listing
}

/// The entries of a folder; none when it cannot be read (it does not exist yet).
fn entries_of(folder: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
        .map(|entry| entry.path())
        .collect()
}

/// The store's path for a path of the lake, taken as it is. A name the store listed
/// (`Café.csv`, `100%.csv`, `a%2Fb`) is found again under the same path; `ObjectPath::from`
/// would percent-encode such a name a second time and miss it. A path `parse` refuses (an
/// empty or `..` segment, a control character) is encoded instead.
pub fn object_path(path: &str) -> ObjectPath {
    ObjectPath::parse(path).unwrap_or_else(|_| object_path(path))
}

/// Whether a local store takes a file of this name for an unfinished upload (`x.csv#1`) and
/// never lists it.
pub fn is_unfinished_upload_name(name: &str) -> bool {
    name.rsplit_once('#')
        .is_some_and(|(_, digits)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The date of a raw file at `raw/<source>/date=YYYY-MM-DD/<name>`; `None` for any other
/// path, or a hidden or partial file.
fn raw_date(path: &str) -> Option<NaiveDate> {
    let mut parts = path.split('/').skip(2);
    let (Some(folder), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    if name.starts_with(['.', '_']) || name.ends_with(".partial") {
        return None;
    }
    folder
        .strip_prefix("date=")
        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_raw_files_by_date_folder() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| EngineError::Task(e.to_string()))?;
        let lake = Lake::open(&dir.path().to_string_lossy())?;
        for path in [
            "raw/transactions/date=2025-01-15/a.csv",
            "raw/transactions/date=2025-01-16/b.csv",
            "raw/transactions/date=2025-01-16/.hidden.csv",
            "raw/transactions/stray.csv",
            "raw/transactions/date=bad/c.csv",
        ] {
            lake.write(path, Bytes::from_static(b"x")).await?;
        }
        let all = lake.raw_files("transactions", None).await?.files;
        let names: Vec<_> = all.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "raw/transactions/date=2025-01-15/a.csv",
                "raw/transactions/date=2025-01-16/b.csv"
            ]
        );
        let day = NaiveDate::from_ymd_opt(2025, 1, 16);
        assert_eq!(lake.raw_files("transactions", day).await?.files.len(), 1);
        Ok(())
    }

    #[test]
    fn refuses_remote_lakes_it_cannot_open() {
        assert!(matches!(
            Lake::open("s3://bucket/lake"),
            Err(EngineError::Lake { .. })
        ));
    }
}

/// Chunks of an object fetched ahead of its reader.
const READ_AHEAD_CHUNKS: usize = 8;

/// An object's bytes, read as they arrive ([`Lake::read_stream`]).
#[derive(Debug)]
pub struct ObjectReader {
    source: Source,
}

#[derive(Debug)]
enum Source {
    /// A local file, read in the caller's blocking task.
    File(std::io::Take<std::fs::File>),
    /// Chunks fetched by a task of their own.
    Chunks {
        chunks: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
        current: Bytes,
    },
}

impl std::io::Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.source {
            Source::File(file) => file.read(buf),
            Source::Chunks { chunks, current } => {
                while current.is_empty() {
                    match chunks.blocking_recv() {
                        Some(chunk) => *current = chunk?,
                        None => return Ok(0),
                    }
                }
                let count = buf.len().min(current.len());
                buf[..count].copy_from_slice(&current.split_to(count));
                Ok(count)
            }
        }
    }
}
