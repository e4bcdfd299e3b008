//! Declared columns: how each text value is normalised, checked and parsed, and the Arrow
//! builders that collect typed rows and rejected rows.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::types::{ColumnType, UTC};

/// Name of the reject reason column in quarantine tables.
pub const REJECT_REASON: &str = "_reject_reason";
/// Name of the source file column in quarantine tables.
pub const SOURCE_FILE: &str = "_source_file";
/// Name of the column of quarantine tables holding a rejected JSON line as it came.
pub const RAW_RECORD: &str = "_raw_record";
/// Name of the line number column in quarantine tables.
pub const SOURCE_LINE: &str = "_line";

/// Letter case a text column is normalised to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Case {
    /// `usd` becomes `USD`.
    Upper,
    /// `PayPal` becomes `paypal`.
    Lower,
}

fn default_true() -> bool {
    true
}

fn default_null_values() -> Vec<String> {
    vec![String::new()]
}

fn default_type() -> String {
    "string".into()
}

/// One declared column of a source: where it comes from, its type and its checks. A value
/// that fails a check sends its row to quarantine with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name in the output table (lower case, `snake_case`).
    pub name: String,
    /// Name of the column in the file's header; defaults to `name`.
    #[serde(default)]
    pub from: Option<String>,
    /// Declared type: string, int32, int64, float64, decimal(p,s), boolean, timestamp, date.
    #[serde(rename = "type", default = "default_type")]
    pub type_name: String,
    /// Whether a missing value (one of `null_values`) is allowed; if not, the row is rejected.
    #[serde(default = "default_true")]
    pub nullable: bool,
    /// Trim surrounding whitespace before anything else. Default: trimmed, except a `string`
    /// column without `case`, `allowed` or `pattern` (free text such as a review's body), which
    /// is kept exactly as written; such a value of spaces alone is then a value, not a null.
    #[serde(default)]
    pub trim: Option<bool>,
    /// Normalise the letter case of text values.
    #[serde(default)]
    pub case: Option<Case>,
    /// Accepted values, compared after trimming and case normalisation.
    #[serde(default)]
    pub allowed: Option<Vec<String>>,
    /// A regular expression the whole (normalised) text must match.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Text values that mean null; by default only the empty string.
    #[serde(default = "default_null_values")]
    pub null_values: Vec<String>,
    /// chrono format of timestamp or date text, or a list of them tried in order (`["%m/%d/%y
    /// %H:%M", "%Y-%m-%d %H:%M:%S"]`). Default: timestamps in RFC 3339
    /// (`2024-03-01T10:00:00Z`), dates as `%Y-%m-%d`. A format without an offset (`%z`) reads
    /// local times of `timezone`.
    #[serde(default)]
    pub format: Option<Formats>,
    /// IANA time zone (`Europe/Paris`) of timestamps written without an offset; UTC when
    /// absent. A time that a daylight-saving change skips is rejected; one it repeats is taken
    /// as its first occurrence.
    #[serde(default)]
    pub timezone: Option<String>,
    /// The character between a number's whole part and its fraction (`,` in `12,50`); `.`
    /// when absent. For int, float and decimal columns.
    #[serde(default)]
    pub decimal_separator: Option<char>,
    /// A character grouping a number's digits (`.` in `1.234,50`, `,` in `1,234.50`),
    /// removed before parsing; none when absent. For int, float and decimal columns.
    #[serde(default)]
    pub thousands_separator: Option<char>,
}

/// One chrono format or several, tried in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a chrono format or a list of them")]
pub enum Formats {
    /// One format: `"%d/%m/%Y"`.
    One(String),
    /// Formats tried in order; the first that reads the whole text wins.
    Many(Vec<String>),
}

impl Formats {
    /// The formats, in the order they are tried.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Formats::One(format) => std::slice::from_ref(format),
            Formats::Many(formats) => formats,
        }
    }
}

impl ColumnSpec {
    /// A column of the given type with every option at its default.
    pub fn new(name: impl Into<String>, type_name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            from: None,
            type_name: type_name.into(),
            nullable: true,
            trim: None,
            case: None,
            allowed: None,
            pattern: None,
            null_values: default_null_values(),
            format: None,
            timezone: None,
            decimal_separator: None,
            thousands_separator: None,
        }
    }

    /// The header name the column is read from.
    pub fn source_name(&self) -> &str {
        self.from.as_deref().unwrap_or(&self.name)
    }

    /// Whether values are trimmed: as declared, else all but free text (see `trim`).
    pub fn trims(&self) -> bool {
        self.trim.unwrap_or_else(|| {
            !self.type_name.trim().eq_ignore_ascii_case("string")
                || self.case.is_some()
                || self.allowed.is_some()
                || self.pattern.is_some()
        })
    }
}

/// A column ready for parsing. A clone's pattern has its own cache pool: each file's parser
/// takes a clone, so parallel parsers do not contend for a shared pool's caches.
#[derive(Debug, Clone)]
pub(crate) struct CompiledColumn {
    pub(crate) spec: ColumnSpec,
    pub(crate) ty: ColumnType,
    trim: bool,
    /// Sorted, for a binary search: hashing every value cost more than the few comparisons.
    allowed: Option<Vec<String>>,
    pattern: Option<Regex>,
    /// Declared formats, each with whether it reads an offset (`%z`).
    formats: Vec<(String, bool)>,
    timezone: Option<Tz>,
}

impl CompiledColumn {
    /// Compiles a declaration, or lists every problem with it.
    pub(crate) fn compile(spec: &ColumnSpec) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let ty = spec
            .type_name
            .parse::<ColumnType>()
            .map_err(|e| problems.push(format!("type: {e}")))
            .ok();
        let pattern = spec.pattern.as_deref().and_then(|p| {
            Regex::new(&format!("^(?:{p})$"))
                .map_err(|e| problems.push(format!("pattern: {e}")))
                .ok()
        });
        if spec.name.trim().is_empty() {
            problems.push("name: must not be empty".into());
        }
        if spec.case.is_some() && !matches!(ty, Some(ColumnType::String)) {
            problems.push("case: only string columns can be case-normalised".into());
        }
        let timezone = spec.timezone.as_deref().and_then(|name| {
            name.parse::<Tz>()
                .map_err(|_| {
                    problems.push(format!(
                        "timezone: '{name}' is not an IANA time zone (Europe/Paris, America/New_York, UTC...)"
                    ))
                })
                .ok()
        });
        problems.extend(time_problems(spec, ty));
        problems.extend(separator_problems(spec, ty));
        match ty {
            Some(ty) if problems.is_empty() => Ok(Self {
                allowed: spec.allowed.as_ref().map(|values| {
                    let mut sorted = values.clone();
                    sorted.sort_unstable();
                    sorted.dedup();
                    sorted
                }),
                trim: spec.trims(),
                formats: spec
                    .format
                    .iter()
                    .flat_map(Formats::as_slice)
                    .map(|f| {
                        let offset = f.contains("%z") || f.contains("%:z") || f.contains("%#z");
                        (f.clone(), offset)
                    })
                    .collect(),
                timezone,
                spec: spec.clone(),
                ty,
                pattern,
            }),
            _ => Err(problems),
        }
    }

    /// Checks and parses one text value. `scratch` receives normalised text.
    pub(crate) fn parse(&self, raw: &str, scratch: &mut String) -> Result<Value, String> {
        let text = if self.trim { raw.trim() } else { raw };
        if self.spec.null_values.iter().any(|null| null == text) {
            return if self.spec.nullable {
                Ok(Value::Null)
            } else {
                Err(format!("{}: required value is missing", self.spec.name))
            };
        }
        let normalised = match self.spec.case {
            Some(case) => {
                scratch.clear();
                if text.is_ascii() {
                    scratch.push_str(text);
                    match case {
                        Case::Upper => scratch.make_ascii_uppercase(),
                        Case::Lower => scratch.make_ascii_lowercase(),
                    }
                } else {
                    match case {
                        Case::Upper => scratch.extend(text.chars().flat_map(char::to_uppercase)),
                        Case::Lower => scratch.extend(text.chars().flat_map(char::to_lowercase)),
                    }
                }
                scratch.as_str()
            }
            None => text,
        };
        self.check(normalised)?;
        let value = match self.ty {
            ColumnType::String => Value::Text,
            ty => self.parse_typed(ty, normalised)?,
        };
        if matches!(value, Value::Text) && self.spec.case.is_none() {
            scratch.clear();
            scratch.push_str(text);
        }
        Ok(value)
    }

    /// The `allowed` and `pattern` checks.
    fn check(&self, text: &str) -> Result<(), String> {
        if let Some(allowed) = &self.allowed
            && allowed
                .binary_search_by(|value| value.as_str().cmp(text))
                .is_err()
        {
            return Err(format!(
                "{}: '{}' is not one of {}",
                self.spec.name,
                shown(text),
                allowed.join(", ")
            ));
        }
        if let Some(pattern) = &self.pattern
            && !pattern.is_match(text)
        {
            return Err(format!(
                "{}: '{}' does not match the pattern {}",
                self.spec.name,
                shown(text),
                self.spec.pattern.as_deref().unwrap_or_default()
            ));
        }
        Ok(())
    }

    fn parse_typed(&self, ty: ColumnType, text: &str) -> Result<Value, String> {
        let invalid = || {
            let formats = self.spec.format.as_ref().map(|f| f.as_slice().join(" or "));
            let expected = match (ty, formats) {
                (ColumnType::Timestamp, None) => "an RFC 3339 timestamp".to_string(),
                (ColumnType::Timestamp | ColumnType::Date, Some(formats)) => {
                    format!("a {ty} in the format {formats}")
                }
                (ty, _) if self.is_localised_number() => format!(
                    "a valid {ty} with decimal separator '{}'{}",
                    self.spec.decimal_separator.unwrap_or('.'),
                    self.spec
                        .thousands_separator
                        .map(|c| format!(" and thousands separator '{c}'"))
                        .unwrap_or_default()
                ),
                (ty, _) => format!("a valid {ty}"),
            };
            format!("{}: '{}' is not {expected}", self.spec.name, shown(text))
        };
        let number = || self.numeric_text(text).ok_or_else(invalid);
        let value = match ty {
            ColumnType::String => Value::Text,
            ColumnType::Int32 => {
                Value::Int(i64::from(number()?.parse::<i32>().map_err(|_| invalid())?))
            }
            ColumnType::Int64 => Value::Int(number()?.parse::<i64>().map_err(|_| invalid())?),
            ColumnType::Float64 => {
                let value = number()?.parse::<f64>().map_err(|_| invalid())?;
                if !value.is_finite() {
                    return Err(invalid());
                }
                Value::Float(value)
            }
            ColumnType::Decimal { precision, scale } => {
                Value::Decimal(parse_decimal(&number()?, precision, scale).ok_or_else(invalid)?)
            }
            ColumnType::Boolean => Value::Bool(parse_bool(text).ok_or_else(invalid)?),
            ColumnType::Timestamp => {
                let micros = self.parse_timestamp(text)?.ok_or_else(invalid)?;
                let date = DateTime::from_timestamp_micros(micros).map(|t| t.date_naive());
                self.within_dates(text, date)?;
                Value::Micros(micros)
            }
            ColumnType::Date => {
                let date = self.parse_date(text).ok_or_else(invalid)?;
                self.within_dates(text, Some(date))?;
                Value::Days(
                    date.signed_duration_since(DateTime::UNIX_EPOCH.date_naive())
                        .num_days() as i32,
                )
            }
        };
        Ok(value)
    }

    /// A number's text as Rust parses it: itself, or without the column's separators.
    fn numeric_text<'t>(&self, text: &'t str) -> Option<Cow<'t, str>> {
        if self.is_localised_number() {
            self.plain_number(text)
        } else {
            Some(Cow::Borrowed(text))
        }
    }

    fn is_localised_number(&self) -> bool {
        self.spec.decimal_separator.is_some_and(|c| c != '.')
            || self.spec.thousands_separator.is_some()
    }

    /// A number written with the column's separators, as Rust parses it (`1.234,5` with `,`
    /// and `.` becomes `1234.5`); `None` when it holds a `.` that is neither separator.
    fn plain_number<'t>(&self, text: &'t str) -> Option<Cow<'t, str>> {
        let decimal = self.spec.decimal_separator.unwrap_or('.');
        let thousands = self.spec.thousands_separator;
        if decimal != '.' && thousands != Some('.') && text.contains('.') {
            return None;
        }
        let plain: String = text
            .chars()
            .filter(|c| Some(*c) != thousands)
            .map(|c| if c == decimal { '.' } else { c })
            .collect();
        Some(Cow::Owned(plain))
    }

    fn parse_date(&self, text: &str) -> Option<NaiveDate> {
        if self.formats.is_empty() {
            return NaiveDate::parse_from_str(text, "%Y-%m-%d").ok();
        }
        self.formats
            .iter()
            .find_map(|(format, _)| NaiveDate::parse_from_str(text, format).ok())
    }

    /// Microseconds since the epoch; `Ok(None)` when no format reads the text, an error when
    /// the local time does not exist in the column's time zone.
    fn parse_timestamp(&self, text: &str) -> Result<Option<i64>, String> {
        if self.formats.is_empty() {
            return Ok(DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| t.timestamp_micros()));
        }
        for (format, has_offset) in &self.formats {
            if *has_offset {
                if let Ok(t) = DateTime::parse_from_str(text, format) {
                    return Ok(Some(t.timestamp_micros()));
                }
            } else if let Some(local) =
                NaiveDateTime::parse_from_str(text, format)
                    .ok()
                    .or_else(|| {
                        NaiveDate::parse_from_str(text, format)
                            .ok()?
                            .and_hms_opt(0, 0, 0)
                    })
            {
                // A date alone (`%m/%d/%y`) is its midnight.
                return self.in_time_zone(text, local).map(Some);
            }
        }
        Ok(None)
    }

    fn in_time_zone(&self, text: &str, local: NaiveDateTime) -> Result<i64, String> {
        let Some(zone) = self.timezone else {
            return Ok(local.and_utc().timestamp_micros());
        };
        match local.and_local_timezone(zone) {
            LocalResult::Single(t) => Ok(t.timestamp_micros()),
            // The hour a clock goes back repeats: its first pass, as most systems take it.
            LocalResult::Ambiguous(first, _) => Ok(first.timestamp_micros()),
            LocalResult::None => Err(format!(
                "{}: '{}' does not exist in {zone} (the clocks skip it)",
                self.spec.name,
                shown(text)
            )),
        }
    }

    /// Dates and times are taken from the years [`EARLIEST_YEAR`] to [`LATEST_YEAR`]: a year 0
    /// or 9999 is a typo or a placeholder, which some readers cannot read back and which
    /// makes freshness rules measure negative ages.
    fn within_dates(&self, text: &str, date: Option<NaiveDate>) -> Result<(), String> {
        match date.map(|d| d.year()) {
            Some(year) if (EARLIEST_YEAR..=LATEST_YEAR).contains(&year) => Ok(()),
            _ => Err(format!(
                "{}: '{}' is outside the years {EARLIEST_YEAR} to {LATEST_YEAR}",
                self.spec.name,
                shown(text)
            )),
        }
    }
}

/// Problems of a column's `format` and `timezone`.
fn time_problems(spec: &ColumnSpec, ty: Option<ColumnType>) -> Vec<String> {
    let mut problems = Vec::new();
    let timed = matches!(ty, Some(ColumnType::Timestamp | ColumnType::Date));
    if let Some(formats) = &spec.format {
        if !timed {
            problems.push("format: only timestamp and date columns take a format".into());
        }
        if formats.as_slice().is_empty() {
            problems.push("format: an empty list; give at least one format".into());
        }
        for format in formats.as_slice() {
            if chrono::format::StrftimeItems::new(format)
                .any(|item| matches!(item, chrono::format::Item::Error))
            {
                problems.push(format!(
                    "format: '{format}' is not a chrono format (%Y-%m-%d %H:%M:%S, %d/%m/%Y...)"
                ));
            }
        }
    }
    if spec.timezone.is_some() {
        if !matches!(ty, Some(ColumnType::Timestamp)) {
            problems.push("timezone: only timestamp columns take a time zone".into());
        } else if spec.format.is_none() {
            problems.push(
                "timezone: RFC 3339 timestamps carry their offset; declare the format of times written without one"
                    .into(),
            );
        }
    }
    problems
}

/// Problems of a column's `decimal_separator` and `thousands_separator`.
fn separator_problems(spec: &ColumnSpec, ty: Option<ColumnType>) -> Vec<String> {
    let mut problems = Vec::new();
    let fractional = matches!(ty, Some(ColumnType::Float64 | ColumnType::Decimal { .. }));
    let numeric = fractional || matches!(ty, Some(ColumnType::Int32 | ColumnType::Int64));
    for (key, separator) in [
        ("decimal_separator", spec.decimal_separator),
        ("thousands_separator", spec.thousands_separator),
    ] {
        let Some(separator) = separator else { continue };
        if !numeric {
            problems.push(format!(
                "{key}: only int, float and decimal columns take one"
            ));
        }
        if separator.is_ascii_digit() || matches!(separator, '-' | '+' | 'e' | 'E') {
            problems.push(format!("{key}: '{separator}' is part of a number"));
        }
    }
    if spec.decimal_separator.is_some() && !fractional && numeric {
        problems.push("decimal_separator: integer columns have no fraction".into());
    }
    if spec.decimal_separator.is_some() && spec.decimal_separator == spec.thousands_separator {
        problems.push("thousands_separator: must differ from decimal_separator".into());
    }
    problems
}

/// The first year a date or timestamp may fall in.
pub const EARLIEST_YEAR: i32 = 1900;
/// The last year a date or timestamp may fall in.
pub const LATEST_YEAR: i32 = 2199;

/// Longest value text a reject reason repeats; the whole row is in quarantine anyway.
const SHOWN_BYTES: usize = 64;

/// A value as a reason shows it: whole when short, else its start and its size, so a hostile
/// 100 MB field cannot make a 100 MB reason.
fn shown(text: &str) -> Cow<'_, str> {
    at_most(text, SHOWN_BYTES)
}

/// `text` whole when it has at most `limit` bytes, else its start and its size.
pub(crate) fn at_most(text: &str, limit: usize) -> Cow<'_, str> {
    if text.len() <= limit {
        return Cow::Borrowed(text);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}... ({} bytes)", &text[..end], text.len()))
}

/// Parses `-12.345` into a decimal of the given scale, rounding half away from zero.
/// `None` when the text is not a plain decimal number or does not fit the precision.
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut value: i128 = 0;
    for digit in whole.bytes() {
        value = value
            .checked_mul(10)?
            .checked_add(i128::from(digit - b'0'))?;
    }
    let mut fraction_digits = fraction.bytes();
    for _ in 0..scale {
        let digit = fraction_digits.next().map_or(0, |b| b - b'0');
        value = value.checked_mul(10)?.checked_add(i128::from(digit))?;
    }
    if fraction_digits.next().is_some_and(|next| next >= b'5') {
        // Rounding up the largest value i128 holds overflows: too large for any precision.
        value = value.checked_add(1)?;
    }
    if value >= 10i128.checked_pow(u32::from(precision))? {
        return None;
    }
    Some(if negative { -value } else { value })
}

fn parse_bool(text: &str) -> Option<bool> {
    const TRUE: [&str; 4] = ["true", "t", "yes", "1"];
    const FALSE: [&str; 4] = ["false", "f", "no", "0"];
    if TRUE.iter().any(|t| t.eq_ignore_ascii_case(text)) {
        Some(true)
    } else if FALSE.iter().any(|f| f.eq_ignore_ascii_case(text)) {
        Some(false)
    } else {
        None
    }
}

/// A parsed value waiting to be appended. Text lives in the column's scratch buffer, so a
/// row costs no allocation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value {
    Null,
    Text,
    Int(i64),
    Float(f64),
    Decimal(i128),
    Bool(bool),
    Micros(i64),
    Days(i32),
}

/// An Arrow builder for one declared column.
#[derive(Debug)]
pub(crate) enum ColumnBuilder {
    Utf8(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder),
    Boolean(BooleanBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
}

impl ColumnBuilder {
    /// A builder with room for `capacity` values and, for text, `text_bytes` bytes of it.
    pub(crate) fn new(ty: ColumnType, capacity: usize, text_bytes: usize) -> Self {
        match ty {
            ColumnType::String => {
                ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, text_bytes))
            }
            ColumnType::Int32 => ColumnBuilder::Int32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            ColumnType::Decimal { precision, scale } => ColumnBuilder::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_data_type(DataType::Decimal128(precision, scale)),
            ),
            ColumnType::Boolean => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Timestamp => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(UTC),
            ),
            ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
        }
    }

    /// Appends a value parsed by the column this builder was made for.
    pub(crate) fn append(&mut self, value: Value, text: &str) {
        match (self, value) {
            (ColumnBuilder::Utf8(b), Value::Text) => b.append_value(text),
            (ColumnBuilder::Int32(b), Value::Int(v)) => b.append_value(v as i32),
            (ColumnBuilder::Int64(b), Value::Int(v)) => b.append_value(v),
            (ColumnBuilder::Float64(b), Value::Float(v)) => b.append_value(v),
            (ColumnBuilder::Decimal(b), Value::Decimal(v)) => b.append_value(v),
            (ColumnBuilder::Boolean(b), Value::Bool(v)) => b.append_value(v),
            (ColumnBuilder::Timestamp(b), Value::Micros(v)) => b.append_value(v),
            (ColumnBuilder::Date(b), Value::Days(v)) => b.append_value(v),
            (builder, _) => builder.append_null(),
        }
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Utf8(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Decimal(b) => b.append_null(),
            ColumnBuilder::Boolean(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
        }
    }

    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Decimal(b) => Arc::new(b.finish()),
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
        }
    }
}

/// The schema of typed rows: the declared columns with their types.
pub(crate) fn typed_schema(columns: &[CompiledColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            // A column that may not be null never holds one: its rows are rejected first.
            .map(|c| Field::new(&c.spec.name, c.ty.arrow_type(), c.spec.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// The schema of rejected rows: every declared column as raw text, the reason, the source
/// file and the line the row starts on.
/// With `raw_record`, a last column keeps the record as it came (JSON Lines, where a broken
/// line has no columns to spread its text over).
pub fn reject_schema(
    column_names: impl IntoIterator<Item = impl Into<String>>,
    raw_record: bool,
) -> SchemaRef {
    let mut fields: Vec<Field> = column_names
        .into_iter()
        .map(|name| Field::new(name.into(), DataType::Utf8, true))
        .collect();
    fields.push(Field::new(REJECT_REASON, DataType::Utf8, false));
    fields.push(Field::new(SOURCE_FILE, DataType::Utf8, false));
    fields.push(Field::new(SOURCE_LINE, DataType::Int64, false));
    if raw_record {
        fields.push(Field::new(RAW_RECORD, DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(yaml: &str) -> CompiledColumn {
        let spec: ColumnSpec = serde_yaml_like(yaml);
        CompiledColumn::compile(&spec).unwrap()
    }

    // The engine has no YAML dependency: build specs field by field.
    fn serde_yaml_like(spec: &str) -> ColumnSpec {
        let mut parts = spec.split_whitespace();
        let name = parts.next().unwrap().to_string();
        let type_name = parts.next().unwrap().to_string();
        ColumnSpec {
            nullable: !spec.contains("required"),
            trim: Some(true),
            case: spec.contains("upper").then_some(Case::Upper),
            allowed: spec
                .contains("currency")
                .then(|| vec!["USD".to_string(), "EUR".to_string()]),
            ..ColumnSpec::new(name, type_name)
        }
    }

    #[test]
    fn decimals_parse_strictly_and_round_half_away_from_zero() {
        assert_eq!(parse_decimal("12.50", 12, 2), Some(1250));
        assert_eq!(parse_decimal("-0.125", 12, 2), Some(-13));
        assert_eq!(parse_decimal("7", 12, 2), Some(700));
        assert_eq!(parse_decimal(".5", 12, 2), Some(50));
        for bad in ["N/A", "", "12,50", "1e3", "--1", ".", "1.2.3"] {
            assert_eq!(parse_decimal(bad, 12, 2), None, "{bad}");
        }
        assert_eq!(parse_decimal("1234567890.12", 12, 2), Some(123_456_789_012));
        assert_eq!(
            parse_decimal("12345678901.00", 12, 2),
            None,
            "over precision"
        );
        // Rounding the last digit up must not overflow i128 (it panicked, or wrapped).
        assert_eq!(
            parse_decimal("1701411834604692317316873037158841057.275", 12, 2),
            None
        );
        assert_eq!(
            parse_decimal("170141183460469231731687303715884105727.5", 38, 0),
            None
        );
        assert_eq!(
            parse_decimal("-99999999999999999999999999999999999999.4", 38, 0),
            Some(-99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
    }

    proptest::proptest! {
        /// Any numeric-looking text, of any length, into any decimal type: a value that fits
        /// its precision, or `None`; never a panic.
        #[test]
        fn numeric_text_parses_or_is_refused(
            text in "[-+]?[0-9]{0,45}(\\.[0-9]{0,45})?",
            precision in 1u8..=38,
            scale_share in 0u8..=100,
        ) {
            let scale = i8::try_from(u16::from(precision) * u16::from(scale_share) / 100).unwrap_or(0);
            if let Some(value) = parse_decimal(&text, precision, scale) {
                proptest::prop_assert!(value.unsigned_abs() < 10u128.pow(u32::from(precision)));
            }
        }

        #[test]
        fn any_text_parses_or_is_refused(text in ".{0,64}", precision in 1u8..=38) {
            let _ = parse_decimal(&text, precision, 2.min(precision as i8));
        }
    }

    #[test]
    fn values_are_normalised_checked_and_typed() {
        let mut scratch = String::new();
        let currency = column("currency string upper");
        assert!(matches!(
            currency.parse(" usd ", &mut scratch),
            Ok(Value::Text)
        ));
        assert_eq!(scratch, "USD");
        let error = currency.parse("JPY", &mut scratch).unwrap_err();
        assert_eq!(error, "currency: 'JPY' is not one of EUR, USD");

        let time = column("event_time timestamp required");
        assert!(matches!(
            time.parse("2025-01-15T10:30:00Z", &mut scratch),
            Ok(Value::Micros(1_736_937_000_000_000))
        ));
        assert_eq!(
            time.parse("15/01/2025 10:30", &mut scratch).unwrap_err(),
            "event_time: '15/01/2025 10:30' is not an RFC 3339 timestamp"
        );
        assert_eq!(
            time.parse("  ", &mut scratch).unwrap_err(),
            "event_time: required value is missing"
        );
        let quantity = column("quantity int64");
        assert!(matches!(quantity.parse("", &mut scratch), Ok(Value::Null)));
        assert!(matches!(
            quantity.parse("-2", &mut scratch),
            Ok(Value::Int(-2))
        ));
    }

    #[test]
    fn dates_and_times_outside_the_sane_years_are_rejected_with_the_range() {
        let mut scratch = String::new();
        let time = column("t timestamp");
        for far in [
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1899-12-31T23:59:59Z",
        ] {
            let reason = time.parse(far, &mut scratch).err().unwrap_or_default();
            assert_eq!(
                reason,
                format!("t: '{far}' is outside the years 1900 to 2199")
            );
        }
        assert!(matches!(
            time.parse("2025-01-15T10:00:00Z", &mut scratch),
            Ok(Value::Micros(_))
        ));
        let day = column("d date");
        assert!(day.parse("2200-01-01", &mut scratch).is_err());
        assert!(matches!(
            day.parse("1900-01-01", &mut scratch),
            Ok(Value::Days(_))
        ));
    }

    #[test]
    fn numbers_read_with_the_declared_separators() {
        let mut scratch = String::new();
        let euro = CompiledColumn::compile(&ColumnSpec {
            decimal_separator: Some(','),
            thousands_separator: Some('.'),
            ..ColumnSpec::new("amount", "decimal(12,2)")
        })
        .unwrap();
        assert!(matches!(
            euro.parse("1.234.567,891", &mut scratch),
            Ok(Value::Decimal(123_456_789))
        ));
        assert!(matches!(
            euro.parse("-0,5", &mut scratch),
            Ok(Value::Decimal(-50))
        ));
        assert!(euro.parse("1,2,3", &mut scratch).is_err());
        let comma_only = CompiledColumn::compile(&ColumnSpec {
            decimal_separator: Some(','),
            ..ColumnSpec::new("share", "float64")
        })
        .unwrap();
        // Without a thousands separator, a '.' is neither: not silently 1.5.
        assert!(comma_only.parse("1.5", &mut scratch).is_err());
        assert!(matches!(comma_only.parse("1,5", &mut scratch), Ok(Value::Float(v)) if v == 1.5));
        let grouped = CompiledColumn::compile(&ColumnSpec {
            thousands_separator: Some(','),
            ..ColumnSpec::new("n", "int64")
        })
        .unwrap();
        assert!(matches!(
            grouped.parse("1,234", &mut scratch),
            Ok(Value::Int(1234))
        ));
    }

    #[test]
    fn timestamps_try_each_format_and_read_local_times_in_their_zone() {
        let mut scratch = String::new();
        let local = CompiledColumn::compile(&ColumnSpec {
            format: Some(Formats::Many(vec![
                "%m/%d/%y %H:%M".into(),
                "%m/%d/%y".into(),
            ])),
            timezone: Some("America/New_York".into()),
            ..ColumnSpec::new("at", "timestamp")
        })
        .unwrap();
        let micros = |text: &str| match local.parse(text, &mut scratch.clone()) {
            Ok(Value::Micros(m)) => m / 1_000_000,
            other => panic!("{text}: {other:?}"),
        };
        // EST is UTC-5, EDT UTC-4; a date alone is its local midnight.
        assert_eq!(micros("1/15/24 9:00"), 1_705_327_200);
        assert_eq!(micros("7/15/24 9:00"), 1_721_048_400);
        assert_eq!(micros("7/15/24"), 1_721_016_000);
        let skipped = local.parse("3/10/24 2:30", &mut scratch).unwrap_err();
        assert!(
            skipped.contains("does not exist in America/New_York"),
            "{skipped}"
        );
        let unread = local.parse("2024-07-15", &mut scratch).unwrap_err();
        assert!(
            unread.contains("in the format %m/%d/%y %H:%M or %m/%d/%y"),
            "{unread}"
        );
    }

    #[test]
    fn free_text_is_kept_as_written_and_codes_are_trimmed() {
        let mut scratch = String::new();
        let body = CompiledColumn::compile(&ColumnSpec::new("body", "string")).unwrap();
        assert!(matches!(body.parse("  hi ", &mut scratch), Ok(Value::Text)));
        assert_eq!(scratch, "  hi ");
        let code = CompiledColumn::compile(&ColumnSpec {
            pattern: Some("[A-Z]+".into()),
            ..ColumnSpec::new("code", "string")
        })
        .unwrap();
        assert!(matches!(code.parse(" AB ", &mut scratch), Ok(Value::Text)));
        assert_eq!(scratch, "AB");
        let n = CompiledColumn::compile(&ColumnSpec::new("n", "int64")).unwrap();
        assert!(matches!(n.parse(" 7 ", &mut scratch), Ok(Value::Int(7))));
    }

    #[test]
    fn bad_declarations_list_every_problem() {
        let spec = ColumnSpec {
            format: Some(Formats::One("%Y".into())),
            case: Some(Case::Upper),
            pattern: Some("(".into()),
            ..serde_yaml_like("amount decimel(12,2)")
        };
        let problems = CompiledColumn::compile(&spec).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
