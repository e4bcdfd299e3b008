//! Each sampled column's name, type, formats, separators, null spellings and whether it could
//! be a key, from its values.

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime};
use lakejob_engine::reader::{EARLIEST_YEAR, LATEST_YEAR};

use super::quoted;
use super::sample::{Sample, SampleFormat};

/// Spellings of a missing value besides the empty string, taken as null when they appear in
/// a column whose other values are numbers, dates or booleans (in text they may be values:
/// `NA` is Namibia).
const NULL_SPELLINGS: [&str; 6] = ["NULL", "null", "\\N", "N/A", "n/a", "NA"];

/// Date formats tried, the unambiguous first; a column takes those its values need.
const DATE_FORMATS: [&str; 7] = [
    "%Y-%m-%d", "%Y/%m/%d", "%d.%m.%Y", "%m/%d/%y", "%m/%d/%Y", "%d/%m/%y", "%d/%m/%Y",
];

/// Timestamp formats tried after RFC 3339.
const TIMESTAMP_FORMATS: [&str; 17] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%:z",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%m/%d/%y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%d/%m/%y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%m/%d/%y %H:%M:%S",
];

/// Digits a decimal column holds: wide enough for any amount a sample shows.
const DECIMAL_PRECISION: usize = 18;
/// The most fraction digits read as a decimal; more is a measurement, a float.
const MAX_DECIMAL_SCALE: usize = 6;

/// A column as the job will declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct InferredColumn {
    pub(super) name: String,
    /// The name in the files, when it is not `name`.
    pub(super) from: Option<String>,
    pub(super) type_name: String,
    pub(super) formats: Vec<String>,
    pub(super) decimal_separator: Option<char>,
    pub(super) thousands_separator: Option<char>,
    pub(super) null_values: Vec<String>,
    /// Distinct and present in every record sampled.
    pub(super) is_key: bool,
    /// Why, for the person reading the job.
    pub(super) note: Option<String>,
}

/// The columns of a sample, the first key-like one marked as the key.
pub(super) fn infer_columns(sample: &Sample) -> Vec<InferredColumn> {
    let decimal_comma = matches!(
        sample.format,
        SampleFormat::Csv {
            delimiter: b';',
            ..
        }
    );
    let mut names = HashSet::new();
    let mut columns: Vec<InferredColumn> = sample
        .names
        .iter()
        .enumerate()
        .map(|(index, source)| {
            let values: Vec<Option<&str>> = sample
                .records
                .iter()
                .map(|r| r.get(index).and_then(|v| v.as_deref()))
                .collect();
            let name = unique_name(source.as_deref(), index, &mut names);
            let from = source.clone().filter(|s| *s != name);
            infer_column(name, from, &values, decimal_comma)
        })
        .collect();
    // A distinct column is a key when it is named like one or comes first; a distinct amount
    // in a small sample is chance.
    let key = columns
        .iter()
        .position(|c| c.is_key && c.name.ends_with("id"))
        .or_else(|| columns.first().filter(|c| c.is_key).map(|_| 0));
    for (index, column) in columns.iter_mut().enumerate() {
        column.is_key = Some(index) == key;
    }
    columns
}

/// A snake_case name for a column, distinct from the others.
pub(super) fn unique_name(
    source: Option<&str>,
    index: usize,
    taken: &mut HashSet<String>,
) -> String {
    // Words split at case changes: `CustomerID` is customer_id, `HTTPServer` http_server.
    let chars: Vec<char> = source.unwrap_or_default().trim().chars().collect();
    let mut name = String::new();
    for (at, &c) in chars.iter().enumerate() {
        if c.is_ascii_alphanumeric() {
            let before = at.checked_sub(1).and_then(|i| chars.get(i)).copied();
            let after = chars.get(at + 1).copied();
            let word_starts = c.is_ascii_uppercase()
                && (before.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    || (before.is_some_and(|b| b.is_ascii_uppercase())
                        && after.is_some_and(|a| a.is_ascii_lowercase())));
            if word_starts && !name.is_empty() && !name.ends_with('_') {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else if !name.ends_with('_') && !name.is_empty() {
            name.push('_');
        }
    }
    let mut name = name.trim_end_matches('_').to_string();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name = format!(
            "column_{}{}",
            index + 1,
            if name.is_empty() { "" } else { "_" }
        ) + &name;
    }
    let mut unique = name.clone();
    let mut n = 2;
    while !taken.insert(unique.clone()) {
        unique = format!("{name}_{n}");
        n += 1;
    }
    unique
}

fn infer_column(
    name: String,
    from: Option<String>,
    values: &[Option<&str>],
    decimal_comma: bool,
) -> InferredColumn {
    let present: Vec<&str> = values.iter().flatten().map(|v| v.trim()).collect();
    let typed: Vec<&str> = present
        .iter()
        .copied()
        .filter(|v| !v.is_empty() && !NULL_SPELLINGS.contains(v))
        .collect();
    let mut column = InferredColumn {
        name,
        from,
        type_name: "string".into(),
        formats: Vec::new(),
        decimal_separator: None,
        thousands_separator: None,
        null_values: vec![String::new()],
        is_key: false,
        note: None,
    };
    if !typed.is_empty() && column.type_from(&typed, decimal_comma) {
        let spelled: Vec<String> = NULL_SPELLINGS
            .iter()
            .filter(|s| present.contains(s))
            .map(|s| s.to_string())
            .collect();
        column.null_values.extend(spelled);
    }
    let distinct: HashSet<&str> = present.iter().copied().collect();
    column.is_key = values.len() > 1
        && present.len() == values.len()
        && distinct.len() == values.len()
        && !present.iter().any(|v| v.is_empty())
        && matches!(column.type_name.as_str(), "string" | "int64");
    column
}

impl InferredColumn {
    /// Sets the narrowest type that reads every value; false when none but string does.
    fn type_from(&mut self, values: &[&str], decimal_comma: bool) -> bool {
        const BOOLEANS: [&str; 6] = ["true", "false", "t", "f", "yes", "no"];
        if values
            .iter()
            .all(|v| BOOLEANS.iter().any(|b| b.eq_ignore_ascii_case(v)))
        {
            self.type_name = "boolean".into();
        } else if values
            .iter()
            .all(|v| v.parse::<i64>().is_ok() && !has_leading_zero(v))
        {
            self.type_name = "int64".into();
        } else if let Some(number) = number_style(values, decimal_comma) {
            self.type_name = number.type_name;
            self.decimal_separator = number.decimal_separator;
            self.thousands_separator = number.thousands_separator;
        } else if let Some(formats) = covering_formats(values, &DATE_FORMATS, parses_date) {
            self.type_name = "date".into();
            if formats != ["%Y-%m-%d"] {
                self.formats = formats;
            }
        } else if values
            .iter()
            .all(|v| DateTime::parse_from_rfc3339(v).is_ok())
        {
            self.type_name = "timestamp".into();
        } else if let Some(formats) = covering_formats(values, &TIMESTAMP_FORMATS, parses_timestamp)
        {
            self.type_name = "timestamp".into();
            if formats.iter().any(|f| !f.contains('z')) {
                self.note = Some(
                    "written without an offset: read as UTC; add `timezone: <IANA name>` if these are local times"
                        .into(),
                );
            }
            self.formats = formats;
        } else {
            return false;
        }
        true
    }

    /// One line of the job's `columns:` list.
    pub(super) fn render(&self, out: &mut String) {
        let mut keys = vec![format!("name: {}", self.name)];
        if let Some(from) = &self.from {
            keys.push(format!("from: {}", quoted(from)));
        }
        let type_name = if self.type_name.contains('(') {
            quoted(&self.type_name)
        } else {
            self.type_name.clone()
        };
        keys.push(format!("type: {type_name}"));
        if self.is_key {
            keys.push("nullable: false".into());
        }
        match self.formats.as_slice() {
            [] => {}
            [one] => keys.push(format!("format: {}", quoted(one))),
            many => keys.push(format!(
                "format: [{}]",
                many.iter()
                    .map(|f| quoted(f))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
        for (key, separator) in [
            ("decimal_separator", self.decimal_separator),
            ("thousands_separator", self.thousands_separator),
        ] {
            if let Some(separator) = separator {
                keys.push(format!("{key}: {}", quoted(&separator.to_string())));
            }
        }
        if self.null_values.len() > 1 {
            let spelled: Vec<String> = self.null_values.iter().map(|v| quoted(v)).collect();
            keys.push(format!("null_values: [{}]", spelled.join(", ")));
        }
        let _ = write!(out, "    - {{ {} }}", keys.join(", "));
        let note = match (&self.note, self.is_key) {
            (Some(note), _) => Some(note.as_str()),
            (None, true) => Some("distinct in every record sampled: the key"),
            (None, false) => None,
        };
        match note {
            Some(note) => {
                let _ = writeln!(out, "  # {note}");
            }
            None => out.push('\n'),
        }
    }
}

/// How a column's numbers are written.
struct NumberStyle {
    type_name: String,
    decimal_separator: Option<char>,
    thousands_separator: Option<char>,
}

/// The separators and type that read every value as a number, if any do. A `,` is the
/// decimal separator when it comes after a `.` or has other than three digits after it;
/// a lone `,` with three digits after it (`1,234`) groups thousands, unless the file
/// separates its fields with `;`, the convention of decimal-comma locales.
fn number_style(values: &[&str], decimal_comma: bool) -> Option<NumberStyle> {
    if values.iter().any(|v| has_leading_zero(v)) {
        return None;
    }
    let says = |v: &&str| match (v.rfind(','), v.rfind('.')) {
        (Some(comma), Some(dot)) => Some(comma > dot),
        (Some(comma), None) => (v.len() - comma - 1 != 3).then_some(true),
        _ => None,
    };
    let votes: Vec<bool> = values.iter().filter_map(says).collect();
    let comma_is_decimal = if votes.is_empty() {
        decimal_comma
    } else {
        votes.iter().all(|decimal| *decimal)
    };
    if votes.iter().any(|d| *d) && votes.iter().any(|d| !*d) {
        return None;
    }
    let (decimal, thousands) = if comma_is_decimal {
        (',', values.iter().any(|v| v.contains('.')).then_some('.'))
    } else {
        ('.', values.iter().any(|v| v.contains(',')).then_some(','))
    };
    let mut scale = 0;
    let mut digits = 0;
    let mut exponent = false;
    for value in values {
        let plain: String = value
            .chars()
            .filter(|c| Some(*c) != thousands)
            .map(|c| if c == decimal { '.' } else { c })
            .collect();
        plain.parse::<f64>().ok().filter(|v| v.is_finite())?;
        if thousands.is_some_and(|t| !grouped_correctly(value, t, decimal)) {
            return None;
        }
        exponent |= plain.contains(['e', 'E']);
        let unsigned = plain.trim_start_matches(['-', '+']);
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        scale = scale.max(fraction.len());
        digits = digits.max(whole.len());
    }
    let type_name = if exponent || scale > MAX_DECIMAL_SCALE || digits + scale > DECIMAL_PRECISION {
        "float64".to_string()
    } else if scale == 0 {
        "int64".to_string()
    } else {
        format!("decimal({DECIMAL_PRECISION},{scale})")
    };
    Some(NumberStyle {
        decimal_separator: (decimal != '.' && type_name != "int64").then_some(decimal),
        thousands_separator: thousands,
        type_name,
    })
}

/// `007` or `-01`: a code whose zeros matter, not a number.
fn has_leading_zero(value: &str) -> bool {
    let digits = value.trim_start_matches(['-', '+']);
    digits.len() > 1 && digits.starts_with('0') && !digits[1..].starts_with(['.', ','])
}

/// Whether the groups between thousands separators have three digits (a `1,5` is not
/// `15`).
fn grouped_correctly(value: &str, thousands: char, decimal: char) -> bool {
    let whole = value.split(decimal).next().unwrap_or_default();
    let mut groups = whole.trim_start_matches(['-', '+']).split(thousands);
    let first = groups.next().unwrap_or_default();
    !first.is_empty() && first.len() <= 3 && groups.all(|g| g.len() == 3)
}

/// Years a reader takes (a `%Y` reading `8/15/18` as the year 18 is no reading).
fn plausible(year: i32) -> bool {
    (EARLIEST_YEAR..=LATEST_YEAR).contains(&year)
}

fn parses_date(value: &str, format: &str) -> bool {
    NaiveDate::parse_from_str(value, format).is_ok_and(|d| plausible(d.year()))
}

fn parses_timestamp(value: &str, format: &str) -> bool {
    if format.contains('z') {
        DateTime::parse_from_str(value, format).is_ok_and(|t| plausible(t.year()))
    } else {
        NaiveDateTime::parse_from_str(value, format).is_ok_and(|t| plausible(t.year()))
    }
}

/// The fewest formats, in the order given, that together read every value; `None` when
/// some value is read by none. A format reading only some values is kept only when it
/// reads one the earlier formats do not.
fn covering_formats(
    values: &[&str],
    formats: &[&str],
    parses: fn(&str, &str) -> bool,
) -> Option<Vec<String>> {
    let mut left: Vec<&str> = values.to_vec();
    let mut chosen = Vec::new();
    while !left.is_empty() {
        let best = formats
            .iter()
            .map(|f| (left.iter().filter(|v| parses(v, f)).count(), *f))
            .filter(|(count, _)| *count > 0)
            .max_by_key(|(count, f)| {
                (
                    *count,
                    std::cmp::Reverse(formats.iter().position(|x| x == f)),
                )
            })?;
        left.retain(|v| !parses(v, best.1));
        chosen.push(best.1.to_string());
    }
    Some(chosen)
}
