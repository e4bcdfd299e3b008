//! Fast, allocation-light text helpers for the generator: timestamps, CSV and JSON fields.

use std::io::Write;

use chrono::{DateTime, Datelike, Timelike};

/// Appends `epoch_ms` as RFC 3339 UTC: `2025-01-15T10:30:00Z`, or with `.250` milliseconds.
pub(crate) fn push_timestamp(out: &mut Vec<u8>, epoch_ms: i64, with_millis: bool) {
    let Some(t) = DateTime::from_timestamp_millis(epoch_ms) else {
        return;
    };
    // Writing into a Vec cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if with_millis {
        let _ = write!(out, ".{:03}", epoch_ms.rem_euclid(1000));
    }
    out.push(b'Z');
}

/// Appends a decimal amount given in cents: `-1234` is `-12.34`.
pub(crate) fn push_cents(out: &mut Vec<u8>, cents: i64) {
    if cents < 0 {
        out.push(b'-');
    }
    let cents = cents.unsigned_abs();
    let _ = write!(out, "{}.{:02}", cents / 100, cents % 100);
}

/// Appends an integer.
pub(crate) fn push_int(out: &mut Vec<u8>, value: i64) {
    let _ = write!(out, "{value}");
}

/// Appends `prefix` and `value` zero-padded to `width` digits: `T000000000042`.
pub(crate) fn push_id(out: &mut Vec<u8>, prefix: &str, value: u64, width: usize) {
    let _ = write!(out, "{prefix}{value:0width$}");
}

/// Appends a CSV field quoted as RFC 4180 says: inside quotes, a quote is doubled.
pub(crate) fn push_csv_quoted(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    for byte in value.bytes() {
        if byte == b'"' {
            out.push(b'"');
        }
        out.push(byte);
    }
    out.push(b'"');
}

/// Appends a JSON string literal with the escapes JSON requires.
pub(crate) fn push_json_string(out: &mut Vec<u8>, value: &str) {
    out.push(b'"');
    for ch in value.chars() {
        match ch {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut buffer = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn formats_fields() {
        assert_eq!(
            render(|o| push_timestamp(o, 1_736_937_000_250, true)),
            "2025-01-15T10:30:00.250Z"
        );
        assert_eq!(
            render(|o| push_timestamp(o, 1_736_937_000_000, false)),
            "2025-01-15T10:30:00Z"
        );
        assert_eq!(render(|o| push_cents(o, -1205)), "-12.05");
        assert_eq!(render(|o| push_cents(o, 7)), "0.07");
        assert_eq!(render(|o| push_id(o, "T", 42, 12)), "T000000000042");
        assert_eq!(
            render(|o| push_csv_quoted(o, "say \"hi\", ok")),
            "\"say \"\"hi\"\", ok\""
        );
        assert_eq!(
            render(|o| push_json_string(o, "a\"b\\c\nd\u{7}é")),
            "\"a\\\"b\\\\c\\nd\\u0007é\""
        );
    }
}
