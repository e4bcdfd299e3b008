//! The start of each sample file as records of text: encoding, format and CSV dialect found
//! on the way.

use std::io::Read;
use std::path::{Path, PathBuf};

use encoding_rs::{Encoding, UTF_8, WINDOWS_1252};

use super::SAMPLE_BYTES;
use crate::JobsError;

/// Records kept per file: enough to see a column's variety.
const RECORDS_PER_FILE: usize = 20_000;
/// Records that decide a CSV file's delimiter.
const DIALECT_RECORDS: usize = 200;
/// Delimiters tried, commonest first.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How the sample files are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SampleFormat {
    Csv { delimiter: u8, header: bool },
    JsonLines,
}

/// The sample: one value per column per record, `None` where a JSON record has no value.
#[derive(Debug)]
pub(super) struct Sample {
    pub(super) format: SampleFormat,
    /// The encoding's label as a job writes it.
    pub(super) encoding: &'static str,
    /// Each column's name in the files (a header name, a dotted JSON path), or `None` for a
    /// CSV file without a header.
    pub(super) names: Vec<Option<String>>,
    pub(super) records: Vec<Vec<Option<String>>>,
}

/// One file's text and how it was decoded.
struct Text {
    file: String,
    text: String,
    encoding: &'static Encoding,
    ascii: bool,
}

impl Sample {
    /// Reads the start of every file; they must share a format (and, for CSV, a dialect).
    pub(super) fn read(files: &[PathBuf]) -> Result<Self, JobsError> {
        let texts = files
            .iter()
            .map(|f| read_text(f))
            .collect::<Result<Vec<_>, _>>()?;
        let encoding = common_encoding(&texts)?;
        let json = texts.iter().any(|t| t.text.trim_start().starts_with('{'));
        let mut sample = Sample {
            format: SampleFormat::JsonLines,
            encoding: if encoding == UTF_8 {
                "utf-8"
            } else if encoding == WINDOWS_1252 {
                "windows-1252"
            } else {
                "utf-16"
            },
            names: Vec::new(),
            records: Vec::new(),
        };
        for text in &texts {
            if json {
                sample.add_json(text)?;
            } else {
                sample.add_csv(text)?;
            }
        }
        Ok(sample)
    }

    fn add_json(&mut self, text: &Text) -> Result<(), JobsError> {
        for line in text.text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(serde_json::Value::Object(object)) = serde_json::from_str(line) else {
                continue;
            };
            let mut fields = Vec::new();
            flatten("", &serde_json::Value::Object(object), &mut fields);
            let mut record = vec![None; self.names.len()];
            for (path, value) in fields {
                let at = match self.names.iter().position(|n| n.as_deref() == Some(&path)) {
                    Some(at) => at,
                    None => {
                        self.names.push(Some(path));
                        self.records.iter_mut().for_each(|r| r.push(None));
                        record.push(None);
                        self.names.len() - 1
                    }
                };
                record[at] = value;
            }
            self.records.push(record);
            if self.records.len() >= RECORDS_PER_FILE {
                break;
            }
        }
        if self.names.is_empty() {
            return Err(sample_error(&text.file, "no line is a JSON object"));
        }
        Ok(())
    }

    fn add_csv(&mut self, text: &Text) -> Result<(), JobsError> {
        let delimiter = match &self.format {
            SampleFormat::Csv { delimiter, .. } => *delimiter,
            SampleFormat::JsonLines => delimiter_of(&text.text),
        };
        let mut records = csv_records(&text.text, delimiter, RECORDS_PER_FILE);
        let Some(first) = records.first().cloned() else {
            return Err(sample_error(&text.file, "the file holds no record"));
        };
        let header = match &self.format {
            SampleFormat::Csv { header, .. } => *header,
            SampleFormat::JsonLines => looks_like_header(&first),
        };
        if header {
            records.remove(0);
        }
        if self.records.is_empty() && self.names.is_empty() {
            self.format = SampleFormat::Csv { delimiter, header };
            self.names = if header {
                first.iter().map(|n| Some(n.trim().to_string())).collect()
            } else {
                vec![None; first.len()]
            };
        } else if header && first.len() != self.names.len() {
            return Err(sample_error(
                &text.file,
                &format!(
                    "its header has {} columns, the first file's has {}: init the sources apart",
                    first.len(),
                    self.names.len()
                ),
            ));
        }
        let width = self.names.len();
        self.records.extend(
            records
                .into_iter()
                .filter(|r| r.len() == width)
                .map(|r| r.into_iter().map(Some).collect()),
        );
        Ok(())
    }
}

/// Leaf values of a JSON object by dotted path, as the reader sees them (numbers as a parsed
/// value prints them, arrays as JSON, null as none).
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, Option<String>)>) {
    match value {
        serde_json::Value::Object(object) if prefix.is_empty() || !object.is_empty() => {
            for (key, nested) in object {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, nested, out);
            }
        }
        serde_json::Value::Null => out.push((prefix.to_string(), None)),
        serde_json::Value::String(text) => out.push((prefix.to_string(), Some(text.clone()))),
        other => out.push((prefix.to_string(), Some(other.to_string()))),
    }
}

/// The start of a file, inflated when gzip, decoded to text; a record cut by the sample's
/// end is dropped with the rest of its line.
fn read_text(path: &Path) -> Result<Text, JobsError> {
    let file = path.display().to_string();
    let opened = std::fs::File::open(path).map_err(|e| sample_error(&file, &e.to_string()))?;
    let reader: Box<dyn Read> = if file.ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(opened))
    } else {
        Box::new(opened)
    };
    let mut bytes = Vec::new();
    reader
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| sample_error(&file, &format!("unreadable: {e}")))?;
    let cut = bytes.len() == SAMPLE_BYTES;
    let encoding = encoding_of(&bytes);
    let (decoded, used, _) = encoding.decode(&bytes);
    let mut text = decoded.into_owned();
    if cut && let Some(end) = text.rfind('\n') {
        text.truncate(end + 1);
    }
    Ok(Text {
        ascii: bytes.is_ascii(),
        file,
        text,
        encoding: used,
    })
}

/// UTF-16 when a byte-order mark says so, UTF-8 when the bytes are (a character cut by the
/// sample's end aside), else windows-1252, which reads any byte (latin-1 is its subset).
fn encoding_of(bytes: &[u8]) -> &'static Encoding {
    if let Some((encoding, _)) = Encoding::for_bom(bytes) {
        return encoding;
    }
    match std::str::from_utf8(bytes) {
        Ok(_) => UTF_8,
        Err(e) if e.error_len().is_none() => UTF_8,
        Err(_) => WINDOWS_1252,
    }
}

/// The one encoding of files that are not plain ASCII (which every encoding reads alike).
fn common_encoding(texts: &[Text]) -> Result<&'static Encoding, JobsError> {
    let mut found: Option<(&'static Encoding, &str)> = None;
    for text in texts.iter().filter(|t| !t.ascii) {
        let encoding = if text.encoding == encoding_rs::UTF_16BE {
            encoding_rs::UTF_16LE
        } else {
            text.encoding
        };
        match found {
            Some((seen, file)) if seen != encoding => {
                return Err(sample_error(
                    &text.file,
                    &format!(
                        "it is {}, {file} is {}: a source's files share one encoding",
                        encoding.name(),
                        seen.name()
                    ),
                ));
            }
            _ => found = Some((encoding, &text.file)),
        }
    }
    Ok(found.map_or(UTF_8, |(encoding, _)| encoding))
}

/// The delimiter that splits the first records into the same number of fields most often,
/// preferring more fields.
fn delimiter_of(text: &str) -> u8 {
    let score = |delimiter: u8| {
        let records = csv_records(text, delimiter, DIALECT_RECORDS);
        let mut counts = std::collections::BTreeMap::<usize, usize>::new();
        for record in &records {
            *counts.entry(record.len()).or_default() += 1;
        }
        let (width, count) = counts
            .into_iter()
            .max_by_key(|(width, count)| (*count, *width))
            .unwrap_or((0, 0));
        (width > 1, count, width)
    };
    DELIMITERS
        .into_iter()
        .map(|d| (score(d), std::cmp::Reverse(d)))
        .max_by_key(|(score, _)| *score)
        .map_or(b',', |(_, std::cmp::Reverse(d))| d)
}

fn csv_records(text: &str, delimiter: u8, limit: usize) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes())
        .into_records()
        .take(limit)
        .map_while(Result::ok)
        .map(|record| record.iter().map(str::to_string).collect())
        .collect()
}

/// A first record is a header when every value is a distinct, non-empty name, not a number
/// or a date.
fn looks_like_header(first: &[String]) -> bool {
    let mut seen = std::collections::HashSet::new();
    first.iter().all(|value| {
        let value = value.trim();
        !value.is_empty()
            && seen.insert(value.to_lowercase())
            && !value.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
    })
}

fn sample_error(file: &str, reason: &str) -> JobsError {
    JobsError::Init {
        file: file.to_string(),
        reason: reason.to_string(),
    }
}
