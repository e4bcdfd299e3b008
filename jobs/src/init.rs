//! `lakejob init`: a source job inferred from sample files. It reads the start of each file
//! and infers what a person would otherwise find by trial and error: the format (CSV or JSON
//! Lines), the CSV dialect (delimiter, header), the encoding, each column's type, timestamp
//! and date formats, decimal and thousands separators, null spellings, and a candidate key.
//! The job is written as commented YAML that validates and runs as it is.

mod columns;
mod sample;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use columns::{InferredColumn, infer_columns};
use sample::{Sample, SampleFormat};

use crate::JobsError;

/// How much of each file is read: enough rows to see a column's variety, bounded so a large
/// export costs no more than a small one.
pub const SAMPLE_BYTES: usize = 4 << 20;

/// Infers a job for a source from sample files.
#[derive(Debug, Clone)]
pub struct InitJob {
    source: String,
    files: Vec<PathBuf>,
}

/// What was inferred: the job's text and the facts it rests on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InferredJob {
    /// The source it reads.
    pub source: String,
    /// The job's name: `<source>_etl`.
    pub name: String,
    /// The job file's text.
    pub yaml: String,
    /// Records read across the sample files.
    pub rows_sampled: usize,
    /// Columns inferred.
    pub columns: usize,
}

impl InitJob {
    /// A job for `source` from `files` (plain or `.gz`).
    pub fn new(source: impl Into<String>, files: Vec<PathBuf>) -> Self {
        Self {
            source: source.into(),
            files,
        }
    }

    /// Reads the samples and writes the job's text.
    pub fn execute(self) -> Result<InferredJob, JobsError> {
        if !crate::validate::is_identifier(&self.source) {
            return Err(self.refusal(
                "the source name must be lower case letters, digits and _ (it names raw/<source>)",
            ));
        }
        if self.files.is_empty() {
            return Err(self.refusal("name at least one sample file"));
        }
        let sample = Sample::read(&self.files)?;
        let columns = infer_columns(&sample);
        if columns.is_empty() {
            return Err(self.refusal("the sample files hold no record to infer columns from"));
        }
        let name = format!("{}_etl", self.source);
        let yaml = render(&self.source, &name, &self.files, &sample, &columns);
        Ok(InferredJob {
            source: self.source.clone(),
            name,
            yaml,
            rows_sampled: sample.records.len(),
            columns: columns.len(),
        })
    }

    fn refusal(&self, reason: &str) -> JobsError {
        JobsError::Init {
            file: self
                .files
                .first()
                .map_or_else(String::new, |f| f.display().to_string()),
            reason: format!("lakejob init {}: {reason}", self.source),
        }
    }
}

impl InferredJob {
    /// Writes the job to `<folder>/<name>.yaml`, creating the folder; an existing file is
    /// replaced only when `force` says so. Returns the file's path.
    pub fn write_to(&self, folder: &Path, force: bool) -> Result<PathBuf, JobsError> {
        let path = folder.join(format!("{}.yaml", self.name));
        let refused = |reason: String| JobsError::Init {
            file: path.display().to_string(),
            reason,
        };
        if path.exists() && !force {
            return Err(refused(
                "a job file is already there; --force replaces it, --print shows the new one"
                    .into(),
            ));
        }
        std::fs::create_dir_all(folder).map_err(|e| refused(e.to_string()))?;
        std::fs::write(&path, &self.yaml).map_err(|e| refused(e.to_string()))?;
        Ok(path)
    }
}

/// A string as a YAML double-quoted scalar (JSON's quoting is valid YAML).
fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_string()).to_string()
}

fn render(
    source: &str,
    name: &str,
    files: &[PathBuf],
    sample: &Sample,
    columns: &[InferredColumn],
) -> String {
    let mut out = String::new();
    let shown: Vec<String> = files
        .iter()
        .take(3)
        .map(|f| {
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let more = files.len().saturating_sub(3);
    let _ = writeln!(
        out,
        "# Inferred by `lakejob init {source}` from {} record(s) of {}{}.\n\
         # Check each column's type and format against what you know of the data, then:\n\
         #   lakejob validate && lakejob ingest {source} <files> && lakejob run {name}\n\
         # Every key is described in docs/jobs.md.",
        sample.records.len(),
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "name: {name}");
    let _ = writeln!(
        out,
        "description: {}",
        quoted(&format!(
            "{source}, typed and checked (inferred by lakejob init)"
        ))
    );
    let _ = writeln!(out, "source:\n  name: {source}");
    render_format(&mut out, sample);
    let _ = writeln!(out, "  columns:");
    for column in columns {
        column.render(&mut out);
    }
    render_target(&mut out, source, columns);
    out
}

fn render_format(out: &mut String, sample: &Sample) {
    match &sample.format {
        SampleFormat::JsonLines => {
            let _ = writeln!(out, "  format: {{ type: json_lines }}");
        }
        SampleFormat::Csv { delimiter, header } => {
            let mut options = vec!["type: csv".to_string()];
            if *delimiter != b',' {
                options.push(format!(
                    "delimiter: {}",
                    quoted(&char::from(*delimiter).to_string())
                ));
            }
            if !header {
                options.push("header: false".into());
            }
            if sample.encoding != "utf-8" {
                options.push(format!("encoding: {}", sample.encoding));
            }
            let _ = writeln!(out, "  format: {{ {} }}", options.join(", "));
            if !header {
                let _ = writeln!(
                    out,
                    "  # The first line looked like data, not names: columns are taken in order."
                );
            }
        }
    }
}

fn render_target(out: &mut String, source: &str, columns: &[InferredColumn]) {
    let key = columns.iter().find(|c| c.is_key).map(|c| c.name.clone());
    let latest = columns
        .iter()
        .find(|c| c.type_name == "timestamp")
        .map(|c| c.name.clone());
    match &key {
        Some(key) => {
            let order = latest
                .as_ref()
                .map(|t| format!(", order_by: [{t} desc]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "steps:\n  # {key} was distinct in every record sampled: one row per {key} is kept,\n  \
                 # and the table is merged on it, so a file read twice changes nothing.\n  \
                 - dedupe: {{ key: [{key}]{order} }}"
            );
            let _ = writeln!(
                out,
                "target:\n  zone: processed\n  table: {source}\n  format: delta\n  mode: merge\n  key: [{key}]"
            );
        }
        None => {
            let _ = writeln!(
                out,
                "# No column was distinct in every record sampled, so rows are appended; declare a\n\
                 # key and `mode: merge` if the source has one.\n\
                 target:\n  zone: processed\n  table: {source}\n  format: delta\n  mode: append"
            );
        }
    }
}

#[cfg(test)]
mod tests;
