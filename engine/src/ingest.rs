//! Landing incoming files in the raw zone. Each file is streamed once: hashed (MD5), checked
//! against its source's declaration, and uploaded to a staging object; then the ledger decides
//! (atomically, by content) whether it lands in `raw/`, is a duplicate, or goes to
//! `quarantine/files/` with the reason.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;

use chrono::NaiveDate;
use futures::StreamExt;
use md5::{Digest, Md5};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::error::{EngineError, Result};
use crate::exit::ExitClass;
use crate::failpoint::failpoint;
use crate::lake::{Lake, STATE_DIR, is_unfinished_upload_name, object_path};
use crate::ledger::{Claim, FileLedger, FileRecord, FileStatus, md5_of};
use crate::reader::CsvOptions;
use crate::session::{SessionOptions, new_session};

pub use crate::incoming::local_files;

/// The longest header line or JSON line a check looks at.
const MAX_LINE_BYTES: usize = 16 << 20;
/// Staged copies older than this were left by a killed ingest.
const STAGING_MAX_AGE_HOURS: i64 = 1;
/// How far into a file NUL bytes mark it as binary.
const BINARY_SNIFF_BYTES: u64 = 64 << 10;

/// How a source's files are written, as far as checking them at the door needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    /// CSV whose header must name every declared column.
    Csv {
        /// Delimiter, quote, header.
        options: CsvOptions,
        /// The header names the source reads.
        columns: Vec<String>,
    },
    /// One JSON object per line.
    JsonLines,
}

/// What a source accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFiles {
    /// The source's folder in `raw/`.
    pub source: String,
    /// The format.
    pub kind: FileKind,
    /// The largest file accepted, in bytes (as stored, compressed or not).
    pub max_file_bytes: u64,
    /// The most bytes a compressed file may inflate to.
    pub max_inflated_bytes: u64,
}

/// A file offered to `ingest`.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The store holding it (the local file system, a bucket).
    pub store: Arc<dyn ObjectStore>,
    /// Its path in that store.
    pub path: ObjectPath,
    /// How the user named it.
    pub display: String,
}

/// What happened to one offered file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Landed in `raw/`.
    Ingested,
    /// The same bytes were already in the lake.
    Duplicate,
    /// Failed validation; moved to `quarantine/files/`.
    Rejected,
    /// Not taken (it changed while being read, or could not be read); send it again.
    Skipped,
}

/// One offered file and its fate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IngestedFile {
    /// As the user named it.
    pub file: String,
    /// What happened.
    pub outcome: Outcome,
    /// MD5 of its bytes, when it was read whole.
    pub md5: Option<String>,
    /// Where it is in the lake now.
    pub lake_path: Option<String>,
    /// Why it was not ingested.
    pub reason: Option<String>,
}

/// What an ingest did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IngestMetrics {
    /// The source.
    pub source: String,
    /// Files landed in raw.
    pub files_ingested: u64,
    /// Files not landed: duplicates, rejected and skipped.
    pub files_skipped: u64,
    /// Of those, files that failed validation.
    pub files_rejected: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Every file, in the order given.
    pub files: Vec<IngestedFile>,
}

impl IngestMetrics {
    /// Bad input when a file was rejected (fix it and send it again), retryable when one
    /// was not taken (it changed while read, could not be read, or is too large), succeeded
    /// when every file landed or was already in the lake.
    pub fn exit_class(&self) -> ExitClass {
        if self.files_rejected > 0 {
            ExitClass::BadInput
        } else if self.files.iter().any(|f| f.outcome == Outcome::Skipped) {
            ExitClass::Retryable
        } else {
            ExitClass::Succeeded
        }
    }
}

/// Lands files of one source in the raw zone.
#[derive(Debug)]
pub struct Ingest<'a> {
    lake: &'a Lake,
    clock: &'a dyn Clock,
    declaration: &'a SourceFiles,
    date: Option<NaiveDate>,
    session: SessionOptions,
}

impl<'a> Ingest<'a> {
    /// An ingest into `lake` of files declared by `declaration`.
    pub fn new(lake: &'a Lake, clock: &'a dyn Clock, declaration: &'a SourceFiles) -> Self {
        Self {
            lake,
            clock,
            declaration,
            date: None,
            session: SessionOptions::default(),
        }
    }

    /// The memory limit and parallelism of the session that refreshes the ledger table.
    pub fn with_session(mut self, session: SessionOptions) -> Self {
        self.session = session;
        self
    }

    /// The raw date folder to land in; otherwise a `date=YYYY-MM-DD` folder of the file's own
    /// path, otherwise today (UTC).
    pub fn with_date(mut self, date: Option<NaiveDate>) -> Self {
        self.date = date;
        self
    }

    /// Ingests the files one after the other (each is streamed; order decides which of two
    /// equal files in one call is the original), then refreshes `lakejob.file_ledger`.
    pub async fn execute(self, files: &[Incoming], catalog: &dyn Catalog) -> Result<IngestMetrics> {
        let mut metrics = IngestMetrics {
            source: self.declaration.source.clone(),
            ..IngestMetrics::default()
        };
        let ledger = FileLedger::new(self.lake.clone());
        self.remove_abandoned_staging().await?;
        for file in files {
            let (landed, bytes) = self.ingest_one(&ledger, file).await?;
            metrics.bytes_read += bytes;
            match landed.outcome {
                Outcome::Ingested => metrics.files_ingested += 1,
                Outcome::Rejected => {
                    metrics.files_rejected += 1;
                    metrics.files_skipped += 1;
                }
                Outcome::Duplicate | Outcome::Skipped => metrics.files_skipped += 1,
            }
            tracing::info!(file = %landed.file, outcome = ?landed.outcome, reason = ?landed.reason, "ingest");
            metrics.files.push(landed);
        }
        let ctx = new_session(&self.session)?;
        if let Err(e) = ledger.publish(&ctx, catalog).await {
            tracing::warn!(error = %e, "the lakejob.file_ledger table was not refreshed; the next run refreshes it");
        }
        Ok(metrics)
    }

    /// Staged copies left by a killed ingest. Only old ones go: a younger one may belong to an
    /// ingest running now.
    async fn remove_abandoned_staging(&self) -> Result<()> {
        let cutoff = self.clock.now() - chrono::Duration::hours(STAGING_MAX_AGE_HOURS);
        let store = self.lake.store();
        for object in self.lake.list(&format!("{STATE_DIR}/ingest")).await? {
            if object.last_modified < cutoff {
                discard(store.as_ref(), &object.location).await;
            }
        }
        Ok(())
    }

    fn date_of(&self, file: &Incoming) -> NaiveDate {
        self.date
            .or_else(|| {
                file.path.parts().find_map(|part| {
                    part.as_ref()
                        .strip_prefix("date=")
                        .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                })
            })
            .unwrap_or_else(|| self.clock.now().date_naive())
    }

    async fn ingest_one(
        &self,
        ledger: &FileLedger,
        file: &Incoming,
    ) -> Result<(IngestedFile, u64)> {
        let store = self.lake.store();
        let name = file.path.filename().unwrap_or("file").to_string();
        let staging = object_path(&format!(
            "{STATE_DIR}/ingest/{}/{name}",
            uuid::Uuid::new_v4().simple()
        ));
        let outcome = |outcome,
                       md5: Option<&str>,
                       lake_path: Option<String>,
                       reason: Option<String>| IngestedFile {
            file: file.display.clone(),
            outcome,
            md5: md5.map(str::to_string),
            lake_path,
            reason,
        };
        if is_unfinished_upload_name(&name) {
            let reason = "a name ending in '#' and digits is how a local lake marks an unfinished \
                          upload, so it could not be read once in the lake; rename the file";
            return Ok((
                outcome(Outcome::Skipped, None, None, Some(reason.into())),
                0,
            ));
        }
        let streamed = match self.stream_to_staging(file, &staging).await {
            Ok(streamed) => streamed,
            Err(StreamFailure::Unreadable(reason)) => {
                let reason = crate::reader::bounded_reason(reason);
                return Ok((outcome(Outcome::Skipped, None, None, Some(reason)), 0));
            }
            Err(StreamFailure::Lake(e)) => return Err(e),
        };
        let bytes = streamed.bytes;
        if let Some(reason) = streamed.changed {
            discard(store.as_ref(), &staging).await;
            return Ok((outcome(Outcome::Skipped, None, None, Some(reason)), bytes));
        }
        let md5 = streamed.md5.as_str();
        let date = self.date_of(file);
        let (status, folder) = match &streamed.problem {
            None => (
                FileStatus::Ingested,
                format!("raw/{}", self.declaration.source),
            ),
            Some(_) => (
                FileStatus::Rejected,
                format!("quarantine/files/{}", self.declaration.source),
            ),
        };
        // Content already in place: nothing to hash or move.
        if let Some(home) = ledger.record(md5).await?
            && self.lake.has_objects(&home.lake_path).await?
        {
            discard(store.as_ref(), &staging).await;
            return Ok((duplicate(file, md5, &home), bytes));
        }
        let target = self
            .free_path(&format!("{folder}/date={date}"), &name, md5)
            .await?;
        let record = FileRecord {
            md5: md5.to_string(),
            size: bytes,
            source: self.declaration.source.clone(),
            original_path: file.display.clone(),
            lake_path: target.clone(),
            raw_date: date,
            ingested_at: self.clock.now(),
            status,
            reason: streamed.problem.clone(),
        };
        failpoint("ingest_before_claim");
        let claimed = ledger.claim(&record).await?;
        failpoint("ingest_after_claim");
        let home = match &claimed {
            Claim::New => record.clone(),
            Claim::Existing(existing) => existing.clone(),
        };
        // The claim's path is where the content lives; land it there unless it already is
        // (a crash between claim and landing, or another process, may have left it missing).
        let landed = place(store.as_ref(), &staging, &home.lake_path, md5).await?;
        discard(store.as_ref(), &staging).await;
        // Whoever puts the bytes in place reports the file as ingested (or rejected); everyone
        // else, whether a later copy or the loser of a race, reports a duplicate.
        let result = match (home.status, landed) {
            (FileStatus::Ingested, true) => {
                outcome(Outcome::Ingested, Some(md5), Some(home.lake_path), None)
            }
            (FileStatus::Rejected, true) => outcome(
                Outcome::Rejected,
                Some(md5),
                Some(home.lake_path),
                home.reason,
            ),
            (_, false) => duplicate(file, md5, &home),
        };
        Ok((result, bytes))
    }

    /// `folder/name`, or `folder/stem.<md5 prefix>.ext` when another file has that name.
    async fn free_path(&self, folder: &str, name: &str, md5: &str) -> Result<String> {
        let plain = format!("{folder}/{name}");
        let store = self.lake.store();
        match store.head(&object_path(&plain)).await {
            Err(object_store::Error::NotFound { .. }) => Ok(plain),
            Err(e) => Err(EngineError::storage(plain)(e)),
            Ok(_) => {
                let existing = md5_of(store.as_ref(), &object_path(&plain)).await?.0;
                if existing == md5 {
                    return Ok(plain);
                }
                let (stem, extension) = split_extension(name);
                Ok(format!(
                    "{folder}/{stem}.{}{extension}",
                    &md5[..8.min(md5.len())]
                ))
            }
        }
    }

    async fn stream_to_staging(
        &self,
        file: &Incoming,
        staging: &ObjectPath,
    ) -> std::result::Result<Streamed, StreamFailure> {
        let unreadable =
            |e: object_store::Error| StreamFailure::Unreadable(format!("cannot read it: {e}"));
        let before = file.store.head(&file.path).await.map_err(unreadable)?;
        let limit = self.declaration.max_file_bytes;
        let mut check = FileCheck::new(
            &self.declaration.kind,
            file.path.as_ref().ends_with(".gz"),
            self.declaration.max_inflated_bytes,
        );
        let mut hasher = Md5::new();
        let store = self.lake.store();
        let upload = store
            .put_multipart(staging)
            .await
            .map_err(|e| StreamFailure::Lake(EngineError::storage(staging.as_ref())(e)))?;
        let mut writer = WriteMultipart::new(upload);
        let mut stream = file
            .store
            .get(&file.path)
            .await
            .map_err(unreadable)?
            .into_stream();
        let mut bytes = 0u64;
        let mut too_large = false;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(unreadable(e));
                }
            };
            bytes += chunk.len() as u64;
            if bytes > limit {
                too_large = true;
                break;
            }
            hasher.update(&chunk);
            check.feed(&chunk);
            writer.write(&chunk);
        }
        if too_large {
            let _ = writer.abort().await;
            // Not copied into the lake at all: the summary names the file and the limit.
            return Err(StreamFailure::Unreadable(format!(
                "{} bytes or more, above the source's limit of {limit} bytes",
                bytes
            )));
        }
        writer
            .finish()
            .await
            .map_err(|e| StreamFailure::Lake(EngineError::storage(staging.as_ref())(e)))?;
        let after = file.store.head(&file.path).await.map_err(unreadable)?;
        let changed = (before.size != bytes || after.size != bytes || before.last_modified != after.last_modified)
            .then(|| {
                format!(
                    "the file changed while it was read ({} bytes before, {} read, {} after); send it again once it is complete",
                    before.size, bytes, after.size
                )
            });
        Ok(Streamed {
            md5: hex::encode(hasher.finalize()),
            bytes,
            problem: check.finish(),
            changed,
        })
    }
}

/// The fate of a copy of content the lake already holds at `home`.
fn duplicate(file: &Incoming, md5: &str, home: &FileRecord) -> IngestedFile {
    let verdict = match home.status {
        FileStatus::Ingested => "ingested".to_string(),
        FileStatus::Rejected => format!(
            "rejected ({})",
            home.reason.as_deref().unwrap_or("no reason recorded")
        ),
    };
    IngestedFile {
        file: file.display.clone(),
        outcome: Outcome::Duplicate,
        md5: Some(md5.to_string()),
        lake_path: Some(home.lake_path.clone()),
        reason: Some(format!(
            "same content (md5 {md5}) as {}, {verdict} on {} from {}",
            home.lake_path,
            home.ingested_at.format("%Y-%m-%d %H:%M:%S UTC"),
            home.original_path
        )),
    }
}

/// Moves the staged copy to `target` unless `target` already holds the content. Returns
/// whether this call put it there.
async fn place(
    store: &dyn ObjectStore,
    staging: &ObjectPath,
    target: &str,
    md5: &str,
) -> Result<bool> {
    let target_path = object_path(target);
    let placed = match store.rename_if_not_exists(staging, &target_path).await {
        // Stores without an atomic create-if-absent copy (S3 without a copy-if-not-exists
        // mode): the ledger claim already made this process the only one placing this content,
        // so checking the target first and then moving is enough.
        Err(
            object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. },
        ) => match store.head(&target_path).await {
            Ok(meta) => Err(object_store::Error::AlreadyExists {
                path: meta.location.to_string(),
                source: "the target exists".into(),
            }),
            Err(object_store::Error::NotFound { .. }) => store.rename(staging, &target_path).await,
            Err(e) => Err(e),
        },
        other => other,
    };
    match placed {
        Ok(()) => Ok(true),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let (existing, _) = md5_of(store, &target_path).await?;
            if existing == md5 {
                Ok(false)
            } else {
                Err(EngineError::Lake {
                    location: target.to_string(),
                    reason: format!(
                        "the ledger places content {md5} here, but the object holds {existing}; \
                         the lake was changed by hand: move that object away and ingest again"
                    ),
                })
            }
        }
        Err(e) => Err(EngineError::storage(target)(e)),
    }
}

async fn discard(store: &dyn ObjectStore, staging: &ObjectPath) {
    if let Err(e) = store.delete(staging).await
        && !matches!(e, object_store::Error::NotFound { .. })
    {
        tracing::warn!(path = %staging, error = %e, "could not remove a staged copy");
    }
}

fn split_extension(name: &str) -> (&str, &str) {
    // `a.csv.gz` keeps `.csv.gz` together.
    let first_dot = name.find('.').filter(|&i| i > 0);
    match first_dot {
        Some(i) => (&name[..i], &name[i..]),
        None => (name, ""),
    }
}

struct Streamed {
    md5: String,
    bytes: u64,
    problem: Option<String>,
    changed: Option<String>,
}

enum StreamFailure {
    /// The incoming file could not be read whole.
    Unreadable(String),
    /// The lake could not be written.
    Lake(EngineError),
}

/// Checks a file's content as it streams by: decompression, then the format's rules.
pub struct FileCheck {
    gzip: Option<flate2::write::MultiGzDecoder<ContentCheck>>,
    plain: Option<ContentCheck>,
}

impl FileCheck {
    /// A check for one file of `kind`; `gzip` when its name ends in `.gz`.
    pub fn new(kind: &FileKind, gzip: bool, max_inflated_bytes: u64) -> Self {
        let content = ContentCheck::new(kind.clone(), max_inflated_bytes);
        if gzip {
            Self {
                gzip: Some(flate2::write::MultiGzDecoder::new(content)),
                plain: None,
            }
        } else {
            Self {
                gzip: None,
                plain: Some(content),
            }
        }
    }

    /// Feeds the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        if let Some(decoder) = &mut self.gzip {
            if decoder.get_ref().problem.is_none()
                && let Err(e) = decoder.write_all(chunk)
            {
                let content = decoder.get_mut();
                if content.problem.is_none() {
                    content.problem = Some(format!("not a whole gzip file: {e}"));
                }
            }
        } else if let Some(content) = &mut self.plain {
            content.feed(chunk);
        }
    }

    /// The reason the file is refused, if it is.
    pub fn finish(self) -> Option<String> {
        match (self.gzip, self.plain) {
            (Some(mut decoder), _) => {
                if decoder.get_ref().problem.is_none()
                    && let Err(e) = decoder.try_finish()
                {
                    return Some(format!("not a whole gzip file: {e}"));
                }
                match decoder.finish() {
                    Ok(content) => content.finish(),
                    Err(e) => Some(format!("not a whole gzip file: {e}")),
                }
            }
            (None, Some(content)) => content.finish(),
            (None, None) => None,
        }
    }
}

/// Checks decompressed content line by line, keeping only the current line in memory.
pub struct ContentCheck {
    kind: FileKind,
    /// The most bytes the content may hold, inflated.
    max_bytes: u64,
    bytes: u64,
    line: Vec<u8>,
    line_too_long: bool,
    lines: u64,
    good_lines: u64,
    bad_lines: u64,
    first_bad: Option<String>,
    problem: Option<String>,
}

impl ContentCheck {
    fn new(kind: FileKind, max_bytes: u64) -> Self {
        Self {
            kind,
            max_bytes,
            bytes: 0,
            line: Vec::new(),
            line_too_long: false,
            lines: 0,
            good_lines: 0,
            bad_lines: 0,
            first_bad: None,
            problem: None,
        }
    }

    fn feed(&mut self, mut chunk: &[u8]) {
        if self.problem.is_some() {
            return;
        }
        let sniffed = (BINARY_SNIFF_BYTES.saturating_sub(self.bytes)) as usize;
        if chunk[..sniffed.min(chunk.len())].contains(&0) {
            self.problem = Some("binary content (NUL bytes); not a text file".into());
            return;
        }
        self.bytes += chunk.len() as u64;
        if self.bytes > self.max_bytes {
            self.problem = Some(format!(
                "inflates to more than {} bytes, the source's max_inflated_size; refusing it",
                self.max_bytes
            ));
            return;
        }
        while !chunk.is_empty() {
            // Of a CSV file only the header is checked; after it, all that matters is
            // whether a row follows.
            if matches!(self.kind, FileKind::Csv { .. }) && self.lines > 0 {
                if chunk.iter().any(|b| !b.is_ascii_whitespace()) {
                    self.good_lines = 1;
                }
                return;
            }
            match chunk.iter().position(|b| *b == b'\n') {
                Some(end) => {
                    self.push_line_part(&chunk[..end]);
                    self.end_line();
                    chunk = &chunk[end + 1..];
                }
                None => {
                    self.push_line_part(chunk);
                    return;
                }
            }
        }
    }

    fn push_line_part(&mut self, part: &[u8]) {
        if self.line.len() + part.len() > MAX_LINE_BYTES {
            self.line_too_long = true;
            self.line.clear();
        } else if !self.line_too_long {
            self.line.extend_from_slice(part);
        }
    }

    fn end_line(&mut self) {
        let line = std::mem::take(&mut self.line);
        let too_long = std::mem::replace(&mut self.line_too_long, false);
        self.lines += 1;
        match &self.kind {
            FileKind::Csv { options, columns } => {
                if too_long {
                    self.problem = Some(format!(
                        "no header line in the first {MAX_LINE_BYTES} bytes"
                    ));
                } else if let Err(reason) = check_header(&line, options, columns) {
                    self.problem = Some(crate::reader::bounded_reason(reason));
                }
            }
            FileKind::JsonLines => {
                let text = line.trim_ascii();
                if text.is_empty() {
                    self.lines -= 1;
                    return;
                }
                let valid = !too_long
                    && text.first() == Some(&b'{')
                    && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok();
                if valid {
                    self.good_lines += 1;
                } else {
                    self.bad_lines += 1;
                    if self.first_bad.is_none() {
                        self.first_bad = Some(if too_long {
                            format!("line {} is longer than {MAX_LINE_BYTES} bytes", self.lines)
                        } else {
                            format!("line {} is not a JSON object", self.lines)
                        });
                    }
                }
            }
        }
    }

    fn finish(mut self) -> Option<String> {
        if self.problem.is_some() {
            return self.problem;
        }
        if !self.line.is_empty() || self.line_too_long {
            self.end_line();
            if self.problem.is_some() {
                return self.problem;
            }
        }
        if self.bytes == 0 {
            return Some("the file is empty".into());
        }
        match self.kind {
            FileKind::Csv { ref options, .. } if options.header && self.good_lines == 0 => {
                Some("the file has a header but no rows".into())
            }
            FileKind::Csv { .. } if self.lines == 0 => Some("the file is empty".into()),
            FileKind::JsonLines if self.good_lines == 0 => Some(match self.first_bad {
                Some(first) => format!("no line is a JSON object ({first})"),
                None => "the file is empty".into(),
            }),
            _ => None,
        }
    }
}

impl Write for ContentCheck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.feed(buf);
        match &self.problem {
            // Stops the decompressor early: a bomb is not inflated further.
            Some(problem) => Err(std::io::Error::other(problem.clone())),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The header names every declared column that may not be null (trimmed, case-insensitive),
/// as the reader needs.
fn check_header(
    line: &[u8],
    options: &CsvOptions,
    columns: &[String],
) -> std::result::Result<(), String> {
    if !options.header {
        return Ok(());
    }
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    let text = std::str::from_utf8(line).map_err(|_| "the header is not UTF-8 text".to_string())?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(options.delimiter as u8)
        .quote(options.quote as u8)
        .from_reader(text.trim_end_matches('\r').as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Err("the file is empty".into()),
        Err(e) => return Err(format!("unreadable header: {e}")),
    }
    let names: HashSet<String> = record.iter().map(|n| n.trim().to_lowercase()).collect();
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| !names.contains(&c.to_lowercase()))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        let mut found: Vec<&str> = record.iter().collect();
        found.truncate(20);
        Err(format!(
            "the header lacks the declared column(s) {}, which may not be null; it has: {}",
            missing.join(", "),
            found.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv_kind() -> FileKind {
        FileKind::Csv {
            options: CsvOptions::default(),
            columns: vec!["id".into(), "amount".into()],
        }
    }

    fn check(kind: &FileKind, gzip: bool, content: &[u8], chunk: usize) -> Option<String> {
        let mut check = FileCheck::new(kind, gzip, crate::reader::MAX_DECOMPRESSED_BYTES);
        for part in content.chunks(chunk.max(1)) {
            check.feed(part);
        }
        check.finish()
    }

    fn gzip(content: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = encoder.write_all(content);
        encoder.finish().unwrap_or_default()
    }

    #[test]
    fn csv_files_need_the_declared_header_and_a_row() {
        let kind = csv_kind();
        for chunk in [1, 3, 1024] {
            assert_eq!(
                check(
                    &kind,
                    false,
                    b"\xEF\xBB\xBFID, amount,extra\r\n1,2\r\n",
                    chunk
                ),
                None
            );
            assert_eq!(
                check(&kind, false, b"", chunk).as_deref(),
                Some("the file is empty")
            );
            assert_eq!(
                check(&kind, false, b"id,amount\n", chunk).as_deref(),
                Some("the file has a header but no rows")
            );
            let wrong = check(&kind, false, b"id,total\n1,2\n", chunk).unwrap_or_default();
            assert!(
                wrong.contains("lacks the declared column(s) amount"),
                "{wrong}"
            );
            // Seen in one piece the NUL bytes give it away; byte by byte the first line does.
            let binary =
                check(&kind, false, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", chunk).unwrap_or_default();
            assert!(
                binary.contains("binary") || binary.contains("not UTF-8"),
                "{binary}"
            );
        }
    }

    #[test]
    fn gzip_must_be_whole() {
        let kind = csv_kind();
        let whole = gzip(b"id,amount\n1,2\n");
        assert_eq!(check(&kind, true, &whole, 7), None);
        let truncated = &whole[..whole.len() - 6];
        let reason = check(&kind, true, truncated, 7).unwrap_or_default();
        assert!(reason.contains("not a whole gzip file"), "{reason}");
        let reason = check(&kind, true, b"id,amount\n1,2\n", 7).unwrap_or_default();
        assert!(reason.contains("not a whole gzip file"), "{reason}");
    }

    #[test]
    fn json_lines_need_one_object() {
        let kind = FileKind::JsonLines;
        assert_eq!(
            check(&kind, false, b"{\"a\":1}\nnot json\n{\"b\":[1,2]}", 5),
            None
        );
        let reason = check(&kind, false, b"not json\n[1]\n", 5).unwrap_or_default();
        assert!(
            reason.contains("no line is a JSON object (line 1"),
            "{reason}"
        );
        assert_eq!(
            check(&kind, false, b"\n\n", 5).as_deref(),
            Some("the file is empty")
        );
    }
}
