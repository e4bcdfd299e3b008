//! Readers of raw files into typed Arrow batches, with reject routing: every input row comes
//! out either as a typed row or as a rejected row (raw text, reason, file, line).

mod columns;
mod json;
mod stream;

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayBuilder, ArrayRef, AsArray, BooleanArray, Int64Builder, RecordBatch, StringBuilder,
    UInt32Array,
};
use datafusion::arrow::compute::{cast, filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::logical_expr::ExprSchemable;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::SessionContext;
use encoding_rs::{Encoding, UTF_8};
use serde::{Deserialize, Serialize};

pub use columns::{
    Case, ColumnSpec, EARLIEST_YEAR, Formats, LATEST_YEAR, RAW_RECORD, REJECT_REASON, SOURCE_FILE,
    SOURCE_LINE, reject_schema,
};
use columns::{ColumnBuilder, CompiledColumn, Value, typed_schema};

use crate::error::{EngineError, Result};
use stream::{Seen, Watched};

/// Rows per Arrow batch.
pub const BATCH_ROWS: usize = 8192;

/// The largest file a reader inflates (a guard against gzip bombs).
pub const MAX_DECOMPRESSED_BYTES: u64 = 8 << 30;

/// The longest line a reader takes: a line is parsed whole, so a file of one endless line
/// (a gzip of spaces) would otherwise be held whole.
pub const MAX_LINE_BYTES: u64 = 16 << 20;

/// Bytes a reader buffers ahead of the parser.
const READ_BUFFER_BYTES: usize = 256 << 10;

fn default_delimiter() -> char {
    ','
}

fn default_quote() -> char {
    '"'
}

fn default_true() -> bool {
    true
}

/// How CSV files of a source are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvOptions {
    /// Field delimiter: one ASCII character.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Quote character: one ASCII character; inside quotes it is doubled (RFC 4180).
    #[serde(default = "default_quote")]
    pub quote: char,
    /// Whether the first record names the columns. Without a header, columns are taken in
    /// declared order.
    #[serde(default = "default_true")]
    pub header: bool,
    /// Character encoding of the files, by its WHATWG label: `utf-8`, `latin1` or
    /// `iso-8859-1` (both read as windows-1252, their superset), `windows-1252`, `utf-16`
    /// (little-endian; a byte-order mark says otherwise), `shift_jis`... A byte-order mark at
    /// the start of a file overrides it. In UTF-8 files, a value that is not valid UTF-8
    /// rejects its row.
    #[serde(default = "default_encoding")]
    pub encoding: String,
}

fn default_encoding() -> String {
    "utf-8".into()
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            delimiter: default_delimiter(),
            quote: default_quote(),
            header: true,
            encoding: default_encoding(),
        }
    }
}

/// How the files of a source are written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SourceFormat {
    /// RFC 4180 CSV.
    Csv(CsvOptions),
    /// One JSON object per line; a column's `from` may be a dotted path (`attributes.color`).
    JsonLines,
}

impl From<CsvOptions> for SourceFormat {
    fn from(options: CsvOptions) -> Self {
        SourceFormat::Csv(options)
    }
}

/// The longest raw record kept in quarantine; longer ones are cut (hostile input must not
/// blow up the quarantine table).
pub const MAX_RAW_RECORD_BYTES: usize = 64 << 10;

/// A row rule checked after typing: rows where `when` is true go to quarantine with `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectRule {
    /// A SQL condition over the typed columns, e.g. `quantity = 0`.
    pub when: String,
    /// The reason recorded in quarantine.
    pub reason: String,
}

/// What reading one file produced.
#[derive(Debug, Default)]
pub struct FileRead {
    /// The file, relative to the lake root.
    pub file: String,
    /// Rows read (valid + rejected).
    pub rows: u64,
    /// Rows sent to quarantine.
    pub rejected_rows: u64,
    /// Typed rows.
    pub valid: Vec<RecordBatch>,
    /// Rejected rows (see [`reject_schema`]).
    pub rejects: Vec<RecordBatch>,
    /// Why the whole file could not be read (empty, corrupt, wrong header), if so.
    pub file_error: Option<String>,
}

impl FileRead {
    fn failed(file: &str, reason: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            file_error: Some(bounded_reason(reason.into())),
            ..Self::default()
        }
    }
}

/// Longest reason kept for a refused file: reasons are copied to the summary, the log, the
/// run record and the ledger, so a hostile file (a 50 MB header line) must not make them huge.
pub const MAX_REASON_BYTES: usize = 200;

/// A file's reason as it is kept: whole when short, else its start and its full size.
pub fn bounded_reason(reason: String) -> String {
    match columns::at_most(&reason, MAX_REASON_BYTES) {
        std::borrow::Cow::Borrowed(_) => reason,
        std::borrow::Cow::Owned(shortened) => shortened,
    }
}

/// A compiled source declaration that reads files into typed and rejected rows.
#[derive(Debug)]
pub struct SourceReader {
    columns: Vec<CompiledColumn>,
    typed_schema: SchemaRef,
    reject_schema: SchemaRef,
    rules: Vec<(Arc<dyn PhysicalExpr>, String)>,
    format: SourceFormat,
    /// Each column's path in a JSON object.
    json_paths: json::PathTree,
    /// The most bytes a compressed file may inflate to.
    max_inflated_bytes: u64,
}

impl SourceReader {
    /// Compiles the declared columns and reject rules, or lists every problem found, each
    /// prefixed with where it is (`columns[3].type`, `reject_when[0].when`).
    pub fn new(
        columns: &[ColumnSpec],
        rules: &[RejectRule],
        format: impl Into<SourceFormat>,
        ctx: &SessionContext,
    ) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let mut compiled = Vec::new();
        for (index, spec) in columns.iter().enumerate() {
            match CompiledColumn::compile(spec) {
                Ok(column) => compiled.push(column),
                Err(errors) => problems.extend(
                    errors
                        .into_iter()
                        .map(|e| format!("columns[{index}] ({}).{e}", spec.name)),
                ),
            }
        }
        if columns.is_empty() {
            problems.push("columns: a source declares at least one column".into());
        }
        let mut seen = std::collections::HashSet::new();
        for spec in columns {
            if !seen.insert(spec.name.as_str()) {
                problems.push(format!("columns: '{}' is declared twice", spec.name));
            }
        }
        let format = format.into();
        if let SourceFormat::Csv(csv) = &format {
            for (name, ch) in [("delimiter", csv.delimiter), ("quote", csv.quote)] {
                if !ch.is_ascii() || ch == '\n' || ch == '\r' {
                    problems.push(format!(
                        "format.{name}: '{ch}' must be one ASCII character other than a line break"
                    ));
                }
            }
            if Encoding::for_label(csv.encoding.as_bytes()).is_none() {
                problems.push(format!(
                    "format.encoding: '{}' is not an encoding lakejob knows (utf-8, latin1, windows-1252, utf-16, shift_jis...)",
                    csv.encoding
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let typed_schema = typed_schema(&compiled);
        let reject_schema = reject_schema(
            columns.iter().map(|c| c.name.clone()),
            format == SourceFormat::JsonLines,
        );
        let mut compiled_rules = Vec::new();
        match DFSchema::try_from(typed_schema.as_ref().clone()) {
            Ok(df_schema) => {
                for (index, rule) in rules.iter().enumerate() {
                    let compiled = ctx.parse_sql_expr(&rule.when, &df_schema).and_then(|expr| {
                        let data_type = expr.get_type(&df_schema)?;
                        if data_type != DataType::Boolean {
                            return Err(datafusion::error::DataFusionError::Plan(format!(
                                "the condition is {data_type}, not boolean"
                            )));
                        }
                        ctx.create_physical_expr(expr, &df_schema)
                    });
                    match compiled {
                        Ok(expr) => compiled_rules.push((expr, rule.reason.clone())),
                        Err(e) => problems.push(format!(
                            "reject_when[{index}].when: '{}': {}",
                            rule.when,
                            e.strip_backtrace()
                        )),
                    }
                }
            }
            Err(e) => problems.push(format!("columns: {e}")),
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            columns: compiled,
            typed_schema,
            reject_schema,
            rules: compiled_rules,
            json_paths: json::PathTree::new(
                &columns
                    .iter()
                    .map(|c| c.source_name().split('.').map(str::to_string).collect())
                    .collect::<Vec<_>>(),
            ),
            format,
            max_inflated_bytes: MAX_DECOMPRESSED_BYTES,
        })
    }

    /// Refuses a compressed file that inflates to more than `bytes` (a file error naming the
    /// limit); [`MAX_DECOMPRESSED_BYTES`] unless a source says less.
    pub fn with_max_inflated_bytes(mut self, bytes: u64) -> Self {
        self.max_inflated_bytes = bytes.min(MAX_DECOMPRESSED_BYTES);
        self
    }

    /// The schema of typed rows.
    pub fn typed_schema(&self) -> SchemaRef {
        Arc::clone(&self.typed_schema)
    }

    /// The schema of rejected rows.
    pub fn reject_schema(&self) -> SchemaRef {
        Arc::clone(&self.reject_schema)
    }

    /// Reads a file in the source's format (gzip-compressed when its name ends in `.gz`).
    /// Row problems become rejected rows; problems of the whole file are in
    /// [`FileRead::file_error`].
    pub fn read(&self, file: &str, contents: &[u8]) -> Result<FileRead> {
        let mut valid = Vec::new();
        let mut read = self.read_each(file, Box::new(contents), &mut |batch| {
            valid.push(batch);
            Ok(())
        })?;
        read.valid = valid;
        Ok(read)
    }

    /// Reads like [`Self::read`] from a stream of the file's bytes, handing each typed batch
    /// to `sink` as soon as it is made (a scan streams a file's rows on while it reads the
    /// rest), so a file of any size is read in bounded memory; the read's `valid` is left
    /// empty. An error from `sink` stops the read.
    pub fn read_each(
        &self,
        file: &str,
        bytes: Box<dyn Read + '_>,
        sink: &mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Result<FileRead> {
        let encoding = match &self.format {
            SourceFormat::Csv(options) => {
                Encoding::for_label(options.encoding.as_bytes()).unwrap_or(UTF_8)
            }
            SourceFormat::JsonLines => UTF_8,
        };
        let (data, seen) = Watched::open(file, bytes, self.max_inflated_bytes, encoding);
        let assembler = Assembler::new(self, file, sink);
        let mut read = match &self.format {
            SourceFormat::Csv(options) => self.read_csv(assembler, data, &seen, options)?,
            SourceFormat::JsonLines => self.read_json_lines(assembler, data)?,
        };
        let seen = seen.borrow();
        if read.rows == 0 && seen.whitespace_only && seen.failure.is_none() {
            return Ok(FileRead::failed(file, "the file is empty"));
        }
        // Why the bytes stopped (a broken gzip) says more than the parser's error.
        if read.file_error.is_some()
            && let Some(failure) = &seen.failure
        {
            read.file_error = Some(bounded_reason(failure.clone()));
        }
        Ok(read)
    }

    /// JSON Lines: each line an object; a line that is not one is rejected whole, with its
    /// text. Values become text (numbers as written, nested objects as JSON) and are then
    /// checked and typed exactly like CSV fields.
    fn read_json_lines(&self, mut assembler: Assembler<'_>, data: Watched<'_>) -> Result<FileRead> {
        let mut data = BufReader::with_capacity(READ_BUFFER_BYTES, data);
        let mut line = Vec::new();
        let mut line_number = 0;
        loop {
            line.clear();
            match data.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => line_number += 1,
                Err(e) => {
                    let mut read = assembler.finish()?;
                    read.file_error =
                        Some(format!("unreadable from line {}: {e}", line_number + 1));
                    return Ok(read);
                }
            }
            let record = line.trim_ascii();
            if record.is_empty() {
                continue;
            }
            let mut texts = vec![None; self.columns.len()];
            match self.json_paths.extract(record, &mut texts) {
                Ok(true) => {
                    let field = |i: usize| texts.get(i).and_then(|t| t.as_deref()).map(Raw::Text);
                    assembler.push_row(&field, line_number, Some(record))?;
                }
                Ok(false) => {
                    assembler.reject_record(record, "the line is not a JSON object", line_number)
                }
                Err(e) => assembler.reject_record(
                    record,
                    &format!("the line is not valid JSON: {e}"),
                    line_number,
                ),
            }
        }
        assembler.finish()
    }

    /// CSV, matching declared columns to the header by name.
    fn read_csv(
        &self,
        mut assembler: Assembler<'_>,
        data: Watched<'_>,
        seen: &RefCell<Seen>,
        options: &CsvOptions,
    ) -> Result<FileRead> {
        let file = assembler.file;
        let mut csv = csv::ReaderBuilder::new()
            .buffer_capacity(READ_BUFFER_BYTES)
            .has_headers(false)
            .flexible(true)
            .delimiter(options.delimiter as u8)
            .quote(options.quote as u8)
            .from_reader(data);
        let mut record = csv::ByteRecord::new();
        let (mapping, expected_fields) = if options.header {
            match csv.read_byte_record(&mut record) {
                Ok(true) => match self.map_header(file, &record) {
                    Ok(mapping) => (mapping, record.len()),
                    Err(reason) => {
                        // Read on: a file of blank lines is empty, not one with a wrong header.
                        let _ = std::io::copy(&mut csv.into_inner(), &mut std::io::sink());
                        return Ok(FileRead::failed(file, reason));
                    }
                },
                Ok(false) => return Ok(FileRead::failed(file, "the file is empty")),
                Err(e) => return Ok(FileRead::failed(file, format!("unreadable header: {e}"))),
            }
        } else {
            (
                (0..self.columns.len()).map(Some).collect(),
                self.columns.len(),
            )
        };
        loop {
            match csv.read_byte_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e
                        .position()
                        .map_or(0, |p| seen.borrow_mut().line_at(p.byte()));
                    let mut read = assembler.finish()?;
                    read.file_error = Some(format!("unreadable from line {line}: {e}"));
                    return Ok(read);
                }
            }
            let line = record
                .position()
                .map_or(0, |p| seen.borrow_mut().line_at(p.byte())) as i64;
            let field = |index: usize| {
                mapping
                    .get(index)
                    .copied()
                    .flatten()
                    .and_then(|i| record.get(i))
                    .map(Raw::Bytes)
            };
            if record.len() != expected_fields {
                let reason = format!(
                    "the row has {} fields, the header has {expected_fields}",
                    record.len()
                );
                assembler.reject_raw(&field, &reason, line, None);
                continue;
            }
            assembler.push_row(&field, line, None)?;
        }
        assembler.finish()
    }

    /// Positions in the file's records of each declared column, matched by name (trimmed,
    /// case-insensitive). Extra columns in the file are ignored; a nullable column the file
    /// lacks (a source older than the job's schema) reads as empty, hence null; a file that
    /// lacks a column that may not be null cannot be read.
    fn map_header(
        &self,
        file: &str,
        header: &csv::ByteRecord,
    ) -> std::result::Result<Vec<Option<usize>>, String> {
        let names: Vec<String> = header
            .iter()
            .map(|name| String::from_utf8_lossy(name).trim().to_lowercase())
            .collect();
        let mut missing = Vec::new();
        let mut absent = Vec::new();
        let mapping: Vec<Option<usize>> = self
            .columns
            .iter()
            .map(|column| {
                let wanted = column.spec.source_name().to_lowercase();
                let position = names.iter().position(|name| *name == wanted);
                if position.is_none() {
                    let name = column.spec.source_name().to_string();
                    if column.spec.nullable {
                        absent.push(name);
                    } else {
                        missing.push(name);
                    }
                }
                position
            })
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the header lacks the declared column(s) {}, which may not be null; it has: {}",
                missing.join(", "),
                names.join(", ")
            ));
        }
        if !absent.is_empty() {
            tracing::info!(file, columns = %absent.join(", "), "the file lacks nullable columns: read as null");
        }
        Ok(mapping)
    }
}

/// Raw text kept in quarantine, cut at a char boundary below the limit.
fn raw_text(raw: &[u8]) -> Cow<'_, str> {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(MAX_RAW_RECORD_BYTES)]);
    if raw.len() > MAX_RAW_RECORD_BYTES {
        Cow::Owned(format!("{text}... ({} bytes in all)", raw.len()))
    } else {
        text
    }
}

/// A field as its format gives it: JSON text, which its parser has already checked is UTF-8,
/// or CSV bytes still to check.
#[derive(Clone, Copy)]
enum Raw<'a> {
    Text(&'a str),
    Bytes(&'a [u8]),
}

impl<'a> Raw<'a> {
    fn text(self) -> std::result::Result<&'a str, std::str::Utf8Error> {
        match self {
            Raw::Text(text) => Ok(text),
            Raw::Bytes(bytes) => std::str::from_utf8(bytes),
        }
    }

    fn bytes(self) -> &'a [u8] {
        match self {
            Raw::Text(text) => text.as_bytes(),
            Raw::Bytes(bytes) => bytes,
        }
    }
}

/// Collects rows of one file into typed batches and rejected batches.
struct Assembler<'r> {
    reader: &'r SourceReader,
    /// The reader's columns, this file's own copy (see [`CompiledColumn`]).
    columns: Vec<CompiledColumn>,
    file: &'r str,
    builders: Vec<ColumnBuilder>,
    lines: Vec<i64>,
    values: Vec<Value>,
    scratch: Vec<String>,
    rejects: RejectBuilder,
    read: FileRead,
    /// Where typed batches go as they are made.
    sink: &'r mut dyn FnMut(RecordBatch) -> Result<()>,
}

impl<'r> Assembler<'r> {
    fn new(
        reader: &'r SourceReader,
        file: &'r str,
        sink: &'r mut dyn FnMut(RecordBatch) -> Result<()>,
    ) -> Self {
        Self {
            reader,
            columns: reader.columns.clone(),
            file,
            builders: Self::builders(&reader.columns, |_| BATCH_ROWS * 16),
            lines: Vec::with_capacity(BATCH_ROWS),
            values: vec![Value::Null; reader.columns.len()],
            scratch: vec![String::new(); reader.columns.len()],
            rejects: RejectBuilder::new(
                reader.columns.len(),
                reader.format == SourceFormat::JsonLines,
            ),
            sink,
            read: FileRead {
                file: file.to_string(),
                ..FileRead::default()
            },
        }
    }

    /// A batch's builders; `text_bytes(i)` is the room for column `i`'s text.
    fn builders(
        columns: &[CompiledColumn],
        text_bytes: impl Fn(usize) -> usize,
    ) -> Vec<ColumnBuilder> {
        columns
            .iter()
            .enumerate()
            .map(|(index, column)| ColumnBuilder::new(column.ty, BATCH_ROWS, text_bytes(index)))
            .collect()
    }

    /// A row; `field(i)` is the value of declared column `i`, `raw` the record as it came,
    /// for sources that keep it in quarantine.
    fn push_row<'a>(
        &mut self,
        field: &dyn Fn(usize) -> Option<Raw<'a>>,
        line: i64,
        raw: Option<&[u8]>,
    ) -> Result<()> {
        let mut failure = None;
        for (index, column) in self.columns.iter().enumerate() {
            let parsed = match field(index).map_or(Ok(""), Raw::text) {
                Ok(text) => column.parse(text, &mut self.scratch[index]),
                Err(_) => Err(format!(
                    "{}: the value is not valid UTF-8",
                    column.spec.name
                )),
            };
            match parsed {
                Ok(value) => self.values[index] = value,
                Err(reason) => {
                    failure = Some(reason);
                    break;
                }
            }
        }
        if let Some(reason) = failure {
            self.reject_raw(field, &reason, line, raw);
            return Ok(());
        }
        for (index, builder) in self.builders.iter_mut().enumerate() {
            builder.append(self.values[index], &self.scratch[index]);
        }
        self.lines.push(line);
        self.read.rows += 1;
        if self.lines.len() >= BATCH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn reject_raw<'a>(
        &mut self,
        field: &dyn Fn(usize) -> Option<Raw<'a>>,
        reason: &str,
        line: i64,
        raw: Option<&[u8]>,
    ) {
        let raw = raw.map(raw_text);
        self.rejects.push(
            |index| field(index).map(|raw| String::from_utf8_lossy(raw.bytes())),
            reason,
            self.file,
            line,
            raw,
        );
        self.read.rows += 1;
        self.read.rejected_rows += 1;
    }

    /// A record with no columns to read (a broken JSON line): kept whole, with the reason.
    fn reject_record(&mut self, raw: &[u8], reason: &str, line: i64) {
        self.rejects
            .push(|_| None, reason, self.file, line, Some(raw_text(raw)));
        self.read.rows += 1;
        self.read.rejected_rows += 1;
    }

    /// Turns the rows so far into a typed batch, sending rows that break a reject rule to
    /// quarantine.
    fn flush(&mut self) -> Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .builders
            .iter_mut()
            .map(ColumnBuilder::finish)
            .collect();
        // A finished builder is left with no capacity; the next batch's are sized like this
        // one's (text an eighth over), not grown from nothing by doubling and copying.
        self.builders = Self::builders(&self.columns, |index| {
            let text = arrays[index]
                .as_string_opt::<i32>()
                .map_or(0, |strings| strings.values().len());
            text + text / 8
        });
        let batch = RecordBatch::try_new(self.reader.typed_schema(), arrays)
            .map_err(|e| EngineError::datafusion(format!("typing {}", self.file))(e.into()))?;
        let batch = self.apply_rules(batch)?;
        if batch.num_rows() > 0 {
            (self.sink)(batch)?;
        }
        self.lines.clear();
        Ok(())
    }

    fn apply_rules(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let rows = batch.num_rows();
        let context = || format!("reject rules on {}", self.file);
        let mut rule_of_row: Vec<Option<usize>> = vec![None; rows];
        for (index, (expr, _)) in self.reader.rules.iter().enumerate() {
            let mask = expr
                .evaluate(&batch)
                .and_then(|value| value.into_array(rows))
                .map_err(EngineError::datafusion(context()))?;
            let mask = mask.as_boolean();
            for (row, rule) in rule_of_row.iter_mut().enumerate() {
                if rule.is_none() && mask.is_valid(row) && mask.value(row) {
                    *rule = Some(index);
                }
            }
        }
        if rule_of_row.iter().all(Option::is_none) {
            return Ok(batch);
        }
        // Only the rejected rows become text: formatting every row of the batch (timestamps,
        // decimals) for the few rejected was 6% of a CSV load.
        let (rows, rules): (Vec<u32>, Vec<usize>) = rule_of_row
            .iter()
            .enumerate()
            .filter_map(|(row, rule)| Some((u32::try_from(row).ok()?, (*rule)?)))
            .unzip();
        let rows = UInt32Array::from(rows);
        let rejected = take_record_batch(&batch, &rows)
            .map_err(|e| EngineError::datafusion(context())(e.into()))?;
        let as_text: Vec<ArrayRef> = rejected
            .columns()
            .iter()
            .map(|column| cast(column, &DataType::Utf8))
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| EngineError::datafusion(context())(e.into()))?;
        for (at, (row, rule)) in rows.values().iter().zip(rules).enumerate() {
            self.rejects.push(
                |index| {
                    let text = as_text[index].as_string::<i32>();
                    text.is_valid(at).then(|| Cow::Borrowed(text.value(at)))
                },
                &self.reader.rules[rule].1,
                self.file,
                self.lines[*row as usize],
                None,
            );
            self.read.rejected_rows += 1;
        }
        let keep: BooleanArray = rule_of_row
            .iter()
            .map(|rule| Some(rule.is_none()))
            .collect();
        filter_record_batch(&batch, &keep).map_err(|e| EngineError::datafusion(context())(e.into()))
    }

    fn finish(mut self) -> Result<FileRead> {
        self.flush()?;
        if let Some(batch) = self.rejects.finish(self.reader.reject_schema())? {
            self.read.rejects.push(batch);
        }
        Ok(self.read)
    }
}

/// Builds rejected rows: raw text of each declared column, reason, file, line.
struct RejectBuilder {
    columns: Vec<StringBuilder>,
    reason: StringBuilder,
    file: StringBuilder,
    line: Int64Builder,
    raw: Option<StringBuilder>,
}

impl RejectBuilder {
    fn new(columns: usize, raw_record: bool) -> Self {
        Self {
            columns: (0..columns).map(|_| StringBuilder::new()).collect(),
            reason: StringBuilder::new(),
            file: StringBuilder::new(),
            line: Int64Builder::new(),
            raw: raw_record.then(StringBuilder::new),
        }
    }

    fn push<'v>(
        &mut self,
        value: impl Fn(usize) -> Option<Cow<'v, str>>,
        reason: &str,
        file: &str,
        line: i64,
        raw: Option<Cow<'_, str>>,
    ) {
        for (index, column) in self.columns.iter_mut().enumerate() {
            column.append_option(value(index));
        }
        self.reason.append_value(reason);
        self.file.append_value(file);
        self.line.append_value(line);
        if let Some(builder) = &mut self.raw {
            builder.append_option(raw);
        }
    }

    fn finish(&mut self, schema: SchemaRef) -> Result<Option<RecordBatch>> {
        if self.line.is_empty() {
            return Ok(None);
        }
        let mut arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| Arc::new(c.finish()) as ArrayRef)
            .collect();
        arrays.push(Arc::new(self.reason.finish()));
        arrays.push(Arc::new(self.file.finish()));
        arrays.push(Arc::new(self.line.finish()));
        if let Some(builder) = &mut self.raw {
            arrays.push(Arc::new(builder.finish()));
        }
        RecordBatch::try_new(schema, arrays)
            .map(Some)
            .map_err(|e| EngineError::datafusion("building rejected rows")(e.into()))
    }
}

#[cfg(test)]
mod tests;
