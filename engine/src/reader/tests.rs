use std::io::Write;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;

use super::*;

fn column(name: &str, type_name: &str) -> ColumnSpec {
    ColumnSpec {
        trim: Some(true),
        ..ColumnSpec::new(name, type_name)
    }
}

fn reader(rules: &[RejectRule]) -> SourceReader {
    let columns = vec![
        ColumnSpec {
            nullable: false,
            pattern: Some("T[0-9]+".into()),
            ..column("id", "string")
        },
        column("quantity", "int64"),
        ColumnSpec {
            nullable: false,
            ..column("price", "decimal(12,2)")
        },
        ColumnSpec {
            case: Some(Case::Upper),
            allowed: Some(vec!["USD".into(), "EUR".into()]),
            ..column("currency", "string")
        },
        ColumnSpec {
            from: Some("Body Text".into()),
            ..column("body", "string")
        },
    ];
    SourceReader::new(
        &columns,
        rules,
        CsvOptions::default(),
        &SessionContext::new(),
    )
    .unwrap()
}

fn reasons(read: &FileRead) -> Vec<(i64, String)> {
    read.rejects
        .iter()
        .flat_map(|batch| {
            let reason = batch.column(5).as_string::<i32>();
            let line = batch.column(7).as_primitive::<Int64Type>();
            (0..batch.num_rows())
                .map(|row| (line.value(row), reason.value(row).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn valid_rows(read: &FileRead) -> usize {
    read.valid.iter().map(RecordBatch::num_rows).sum()
}

const HEADER: &str = "id,quantity,price,currency,Body Text\n";

#[test]
fn every_row_is_typed_or_rejected_with_its_line() {
    let csv = format!(
        "{HEADER}T1,2,12.50, usd ,\"multi\nline, with \"\"quotes\"\"\"\n\
         T2,1,N/A,EUR,\n\
         T3,1,\"12,50\",EUR,x\n\
         T4,1,3.00,JPY,x\n\
         X5,1,3.00,EUR,x\n\
         T6,1,3.00,EUR\n\
         T7,,,EUR,x\n\
         T8,-1,1.00,eur,é ü 日本\n"
    );
    let read = reader(&[]).read("f.csv", csv.as_bytes()).unwrap();
    assert_eq!(read.rows, 8);
    assert_eq!(read.rejected_rows, 6);
    assert_eq!(valid_rows(&read), 2);
    assert_eq!(
        reasons(&read),
        [
            (4, "price: 'N/A' is not a valid decimal(12,2)".to_string()),
            (5, "price: '12,50' is not a valid decimal(12,2)".to_string()),
            (6, "currency: 'JPY' is not one of EUR, USD".to_string()),
            (7, "id: 'X5' does not match the pattern T[0-9]+".to_string()),
            (8, "the row has 4 fields, the header has 5".to_string()),
            (9, "price: required value is missing".to_string()),
        ]
    );
    let batch = &read.valid[0];
    assert_eq!(batch.column(3).as_string::<i32>().value(0), "USD");
    assert_eq!(
        batch.column(4).as_string::<i32>().value(0),
        "multi\nline, with \"quotes\""
    );
    // The raw value is kept in quarantine, not the normalised one.
    let rejects = &read.rejects[0];
    assert_eq!(rejects.column(2).as_string::<i32>().value(1), "12,50");
    assert_eq!(rejects.column(6).as_string::<i32>().value(0), "f.csv");
}

#[test]
fn reject_rules_run_on_typed_rows_in_order() {
    let rules = [
        RejectRule {
            when: "quantity = 0".into(),
            reason: "quantity is zero".into(),
        },
        RejectRule {
            when: "price > 100 OR quantity = 0".into(),
            reason: "price over 100".into(),
        },
    ];
    let csv = format!("{HEADER}T1,0,1.00,USD,\nT2,1,101.00,USD,\nT3,1,1.00,USD,\n");
    let read = reader(&rules).read("f.csv", csv.as_bytes()).unwrap();
    assert_eq!(
        reasons(&read),
        [
            (2, "quantity is zero".to_string()),
            (3, "price over 100".to_string())
        ]
    );
    assert_eq!(valid_rows(&read), 1);
    assert_eq!(
        read.rejects[0].column(2).as_string::<i32>().value(1),
        "101.00"
    );
}

#[test]
fn bad_rules_and_columns_are_all_reported() {
    let rules = [
        RejectRule {
            when: "no_such_column = 1".into(),
            reason: "x".into(),
        },
        RejectRule {
            when: "quantity + 1".into(),
            reason: "x".into(),
        },
    ];
    let columns = [column("a", "int64"), column("quantity", "int64")];
    let problems = SourceReader::new(
        &columns,
        &rules,
        CsvOptions::default(),
        &SessionContext::new(),
    )
    .unwrap_err();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("reject_when[0].when"),
        "{problems:?}"
    );
    assert!(problems[1].contains("not boolean"), "{problems:?}");

    let columns = [column("a", "integer64"), column("a", "string")];
    let problems = SourceReader::new(&columns, &[], CsvOptions::default(), &SessionContext::new())
        .unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with("columns[0] (a).type")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("declared twice")),
        "{problems:?}"
    );
}

#[test]
fn hostile_files_fail_whole_or_are_quarantined_never_panic() {
    let reader = reader(&[]);
    let empty = reader.read("e.csv", b"").unwrap();
    assert_eq!(empty.file_error.as_deref(), Some("the file is empty"));
    let header_only = reader.read("h.csv", HEADER.as_bytes()).unwrap();
    assert_eq!((header_only.rows, header_only.file_error), (0, None));

    let wrong_header = reader.read("w.csv", b"id;quantity;price\n1;2;3\n").unwrap();
    let error = wrong_header.file_error.unwrap();
    assert!(
        error.contains("lacks the declared column(s) id, price, which may not be null"),
        "{error}"
    );

    // A source older than the job: it lacks the nullable columns, which read as null.
    let older = reader.read("o.csv", b"price,id\n1.50,T7\n").unwrap();
    assert_eq!((older.rows, older.file_error.as_deref()), (1, None));
    let batch = &older.valid[0];
    assert_eq!(
        batch.column(1).null_count(),
        1,
        "the absent quantity is null"
    );
    assert_eq!(batch.column(0).as_string::<i32>().value(0), "T7");

    let latin1 = [HEADER.as_bytes(), b"T1,1,1.00,USD,caf\xe9\n"].concat();
    let read = reader.read("l.csv", &latin1).unwrap();
    assert_eq!(
        reasons(&read),
        [(2, "body: the value is not valid UTF-8".to_string())]
    );
    assert_eq!(
        read.rejects[0].column(4).as_string::<i32>().value(0),
        "caf\u{fffd}"
    );

    let bom_crlf = format!(
        "\u{feff}{}T1,1,1.00,USD,x\r\nT2,1,2.00,USD,y\r\n",
        HEADER.replace('\n', "\r\n")
    );
    let read = reader.read("b.csv", bom_crlf.as_bytes()).unwrap();
    assert_eq!(
        (read.rows, read.rejected_rows, read.file_error),
        (2, 0, None)
    );

    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let read = reader.read("bin.csv", &binary).unwrap();
    assert!(read.file_error.is_some() || read.rejected_rows == read.rows);
}

#[test]
fn files_of_other_encodings_are_transcoded_with_their_lines_kept() {
    let in_encoding = |encoding: &str| {
        let columns = [column("id", "string"), column("name", "string")];
        let options = CsvOptions {
            encoding: encoding.into(),
            ..CsvOptions::default()
        };
        SourceReader::new(&columns, &[], options, &SessionContext::new()).unwrap()
    };
    let names = |read: &FileRead| -> Vec<String> {
        read.valid
            .iter()
            .flat_map(|b| {
                let names = b.column(1).as_string::<i32>();
                (0..b.num_rows())
                    .map(|i| names.value(i).to_string())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let text = "id,name\r\n1,Jos\u{e9}\r\n2,M\u{fc}ller\r\n";
    let latin1: Vec<u8> = text.chars().map(|c| c as u8).collect();
    let read = in_encoding("latin1").read("l.csv", &latin1).unwrap();
    assert_eq!(names(&read), ["Jos\u{e9}", "M\u{fc}ller"]);

    // UTF-16 big-endian, said by its byte-order mark although the source says utf-16 (LE);
    // the second row lacks a field, and its line is the physical one.
    let text = "id,name\n1,\u{65e5}\u{672c}\n2\n";
    let mut utf16 = vec![0xFE, 0xFF];
    utf16.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    let read = in_encoding("utf-16").read("u.csv", &utf16).unwrap();
    assert_eq!(names(&read), ["\u{65e5}\u{672c}"]);
    let line = read.rejects[0]
        .column_by_name(SOURCE_LINE)
        .unwrap()
        .as_primitive::<Int64Type>()
        .value(0);
    assert_eq!(line, 3);

    // UTF-8 stays strict: a latin-1 byte rejects its row rather than becoming U+FFFD silently.
    let read = in_encoding("utf-8").read("l.csv", &latin1).unwrap();
    assert_eq!((read.rows, read.rejected_rows), (2, 2));
    let error = SourceReader::new(
        &[column("id", "string")],
        &[],
        CsvOptions {
            encoding: "klingon".into(),
            ..CsvOptions::default()
        },
        &SessionContext::new(),
    )
    .unwrap_err();
    assert!(
        error[0].contains("'klingon' is not an encoding"),
        "{error:?}"
    );
}

#[test]
fn gzip_is_read_whole_and_truncation_is_a_file_error() {
    let reader = reader(&[]);
    let csv = format!("{HEADER}T1,1,1.00,USD,x\n");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(csv.as_bytes()).unwrap();
    let gz = encoder.finish().unwrap();
    let read = reader.read("f.csv.gz", &gz).unwrap();
    assert_eq!((read.rows, read.file_error), (1, None));
    let truncated = reader.read("f.csv.gz", &gz[..gz.len() - 6]).unwrap();
    let error = truncated.file_error.unwrap();
    assert!(error.starts_with("not a whole gzip file"), "{error}");
}

#[test]
fn an_endless_line_is_refused_past_the_line_limit_not_held_whole() {
    let reader = reader(&[]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder
        .write_all(format!("{HEADER}T1,1,1.00,USD,x\n").as_bytes())
        .unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..=(MAX_LINE_BYTES >> 20) {
        encoder.write_all(&spaces).unwrap();
    }
    let gz = encoder.finish().unwrap();
    let read = reader.read("bomb.csv.gz", &gz).unwrap();
    assert_eq!(read.rows, 1, "the rows before the endless line are read");
    let error = read.file_error.unwrap();
    assert!(error.starts_with("line 3 is longer than"), "{error}");
}

#[test]
fn large_inputs_come_out_in_bounded_batches() {
    let mut csv = String::from(HEADER);
    for i in 0..(BATCH_ROWS * 2 + 10) {
        csv.push_str(&format!("T{i},{i},1.00,USD,x\n"));
    }
    let read = reader(&[]).read("f.csv", csv.as_bytes()).unwrap();
    assert_eq!(read.valid.len(), 3);
    assert!(read.valid.iter().all(|b| b.num_rows() <= BATCH_ROWS));
    assert_eq!(valid_rows(&read), BATCH_ROWS * 2 + 10);
    let quantity = read.valid[2].column(1).as_primitive::<Int64Type>();
    assert_eq!(quantity.value(9), (BATCH_ROWS * 2 + 9) as i64);
}

fn json_reader() -> SourceReader {
    let columns = vec![
        ColumnSpec {
            nullable: false,
            ..column("id", "string")
        },
        column("quantity", "int64"),
        ColumnSpec {
            from: Some("attributes.color".into()),
            ..column("color", "string")
        },
        column("attributes", "string"),
    ];
    SourceReader::new(
        &columns,
        &[],
        SourceFormat::JsonLines,
        &SessionContext::new(),
    )
    .unwrap()
}

/// (line, reason, raw record) of every rejected row.
fn json_rejects(read: &FileRead) -> Vec<(i64, String, Option<String>)> {
    read.rejects
        .iter()
        .flat_map(|batch| {
            let reason = batch
                .column_by_name(REJECT_REASON)
                .unwrap()
                .as_string::<i32>();
            let line = batch
                .column_by_name(SOURCE_LINE)
                .unwrap()
                .as_primitive::<Int64Type>();
            let raw = batch.column_by_name(RAW_RECORD).unwrap().as_string::<i32>();
            (0..batch.num_rows())
                .map(|row| {
                    let raw = raw.is_valid(row).then(|| raw.value(row).to_string());
                    (line.value(row), reason.value(row).to_string(), raw)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn json_lines_type_nested_values_and_keep_broken_lines_whole() {
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let long = format!("{{\"id\":\"{}\"", "x".repeat(200_000));
    let mut text = String::new();
    text.push_str(
        "{\"id\":\"a\",\"quantity\":2,\"attributes\":{\"color\":\"red\",\"size\":[1,2]}}\r\n",
    );
    text.push('\n');
    text.push_str("{\"id\":\"b\",\"quantity\":\"many\"}\n");
    text.push_str("{\"id\":\"c\",\"quantity\":1,\"attri\n");
    text.push_str(&format!("{{\"id\":\"d\",\"quantity\":{deep}}}\n"));
    text.push_str(&long);
    text.push('\n');
    text.push_str("[1,2]\n");
    text.push_str("{\"quantity\":3}\n");
    let read = json_reader().read("f.jsonl", text.as_bytes()).unwrap();
    assert_eq!(
        (read.rows, read.rejected_rows, valid_rows(&read)),
        (7, 6, 1)
    );
    let valid = &read.valid[0];
    assert_eq!(valid.column(2).as_string::<i32>().value(0), "red");
    assert_eq!(
        valid.column(3).as_string::<i32>().value(0),
        "{\"color\":\"red\",\"size\":[1,2]}",
        "a nested object is kept as JSON text"
    );
    let rejects = json_rejects(&read);
    let lines: Vec<i64> = rejects.iter().map(|r| r.0).collect();
    assert_eq!(lines, [3, 4, 5, 6, 7, 8]);
    assert_eq!(rejects[0].1, "quantity: 'many' is not a valid int64");
    assert!(
        rejects[1].1.starts_with("the line is not valid JSON"),
        "{}",
        rejects[1].1
    );
    assert!(
        rejects[2].1.contains("recursion limit"),
        "deep nesting is refused, not a stack overflow: {}",
        rejects[2].1
    );
    let long_raw = rejects[3].2.clone().unwrap_or_default();
    assert!(
        long_raw.len() < MAX_RAW_RECORD_BYTES + 100 && long_raw.ends_with("bytes in all)"),
        "{}",
        long_raw.len()
    );
    assert_eq!(rejects[4].1, "the line is not a JSON object");
    assert_eq!(rejects[5].1, "id: required value is missing");
    assert_eq!(rejects[5].2.as_deref(), Some("{\"quantity\":3}"));
}

#[test]
fn json_lines_with_invalid_utf8_are_rejected_not_lost() {
    let read = json_reader()
        .read("f.jsonl", b"{\"id\":\"\xff\xfe\"}\n{\"id\":\"ok\"}\n")
        .unwrap();
    assert_eq!((read.rows, read.rejected_rows), (2, 1));
    assert!(
        json_rejects(&read)[0]
            .1
            .starts_with("the line is not valid JSON")
    );
}

#[test]
fn a_huge_bad_value_gives_a_short_reason() {
    let huge = "9x".repeat(500_000);
    let line = format!("{{\"id\":\"a\",\"quantity\":\"{huge}\"}}\n");
    let read = json_reader().read("f.jsonl", line.as_bytes()).unwrap();
    let rejects = json_rejects(&read);
    assert_eq!(rejects.len(), 1);
    let reason = &rejects[0].1;
    assert!(
        reason.len() < 200 && reason.ends_with("(1000000 bytes)' is not a valid int64"),
        "{reason}"
    );
}

#[test]
fn long_lines_are_data_up_to_the_line_limit_and_sql_in_header_names_is_only_data() {
    const LINE: usize = (MAX_LINE_BYTES / 2) as usize;
    // One CSV row of 8 MB: read as a value, not a problem.
    let header = "id,quantity,price,currency,Body Text,\"x\"\"); DROP TABLE processed.t; --\"\n";
    let row = |length: usize| {
        let mut csv = Vec::with_capacity(length + 200);
        csv.extend_from_slice(header.as_bytes());
        csv.extend_from_slice(b"T1,1,1.00,USD,");
        csv.resize(csv.len() + length, b'a');
        csv.extend_from_slice(b",ignored\n");
        csv
    };
    let read = reader(&[]).read("long.csv", &row(LINE)).unwrap();
    assert_eq!(
        (read.rows, read.rejected_rows, read.file_error),
        (1, 0, None)
    );
    assert_eq!(
        read.valid[0].column(4).as_string::<i32>().value(0).len(),
        LINE
    );
    // Past the limit, the file is refused, naming the line.
    let read = reader(&[]).read("longer.csv", &row(3 * LINE)).unwrap();
    let error = read.file_error.unwrap_or_default();
    assert!(error.starts_with("line 2 is longer than"), "{error}");

    // A JSON line of 1 MB that never closes: one reject, its reason and raw text clipped.
    let mut json = b"{\"id\":\"a\",\"attributes\":\"".to_vec();
    json.resize(json.len() + (1 << 20), b'z');
    json.extend_from_slice(b"\n{\"id\":\"b\"}\n");
    let read = json_reader().read("long.jsonl", &json).unwrap();
    let rejects = json_rejects(&read);
    assert_eq!((read.rows, read.rejected_rows, rejects.len()), (2, 1, 1));
    assert!(rejects[0].1.len() < 500, "{}", rejects[0].1);
    let raw = rejects[0].2.as_deref().unwrap_or_default();
    assert!(
        raw.len() <= MAX_RAW_RECORD_BYTES + 100,
        "raw kept: {} bytes",
        raw.len()
    );
}

#[test]
fn a_rejected_row_names_its_physical_line_whatever_the_line_endings() {
    for end in ["\n", "\r\n"] {
        let csv = [
            "id,quantity,price,currency,Body Text",
            "T1,1,1.00,USD,ok",
            "\"T2\",1,1.00,USD,\"two",
            "lines\"",
            "X3,1,1.00,USD,bad id",
            "",
        ]
        .join(end);
        let read = reader(&[]).read("f.csv", csv.as_bytes()).unwrap();
        let lines: Vec<i64> = reasons(&read).into_iter().map(|(line, _)| line).collect();
        assert_eq!(lines, [5], "line endings {end:?}");
    }
}

#[test]
fn a_hostile_header_gives_a_bounded_reason() {
    let file = format!("{}\n1\n", "x,".repeat(500_000));
    let read = reader(&[]).read("f.csv", file.as_bytes()).unwrap();
    let reason = read.file_error.unwrap_or_default();
    assert!(
        reason.starts_with("the header lacks") && reason.ends_with(" bytes)"),
        "{}",
        &reason[..reason.len().min(300)]
    );
    assert!(
        reason.len() <= MAX_REASON_BYTES + 32,
        "{} bytes",
        reason.len()
    );
}

/// Property tests: any bytes at all are read into rows or refused whole with a reason, never a
/// panic, and no row is lost. `PROPTEST_CASES=100000 cargo test -p lakejob-engine proptest`
/// runs them longer than CI does.
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Every row read is typed or rejected; typed rows keep the declared invariants; rejects
    /// say why and where.
    fn accounted(read: &FileRead) -> std::result::Result<(), TestCaseError> {
        prop_assert_eq!(read.rows, valid_rows(read) as u64 + read.rejected_rows);
        for batch in &read.valid {
            let ids = batch.column(0).as_string::<i32>();
            for id in ids.iter() {
                let id = id.unwrap_or_default();
                prop_assert!(
                    id.starts_with('T')
                        && id.len() > 1
                        && id[1..].bytes().all(|b| b.is_ascii_digit()),
                    "a typed id breaks its pattern: {:?}",
                    id
                );
            }
        }
        for (line, reason) in reasons(read) {
            prop_assert!(line >= 2 && !reason.is_empty());
        }
        Ok(())
    }

    /// Fields a hostile or broken export contains.
    fn field() -> impl Strategy<Value = Vec<u8>> {
        const HOSTILE: &[&[u8]] = &[
            b"T1",
            b"T000000000042",
            b"1.00",
            b"-3",
            b"USD",
            b" eur ",
            b"",
            b"\"",
            b"\"a,b\"",
            b"\"\"\"\"",
            b"1e309",
            b"99999999999999999999999999",
            b"'; DROP TABLE transactions; --",
            "caf\u{e9} \u{feff} \u{202e}".as_bytes(),
            b"caf\xe9",
            b"\0\0",
            b"\r",
        ];
        // Each named field as likely as random bytes.
        prop_oneof![
            HOSTILE.len() as u32 => prop::sample::select(HOSTILE).prop_map(<[u8]>::to_vec),
            1 => prop::collection::vec(any::<u8>(), 0..12),
        ]
    }

    fn csv_file() -> impl Strategy<Value = Vec<u8>> {
        let line = prop::collection::vec(field(), 0..8);
        (
            prop::collection::vec(line, 0..40),
            prop_oneof![Just(b','), Just(b';'), Just(b'\t')],
            prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..])],
        )
            .prop_map(|(lines, delimiter, end)| {
                let mut file = HEADER.as_bytes().to_vec();
                for fields in lines {
                    file.extend(fields.join(&delimiter));
                    file.extend(end);
                }
                file
            })
    }

    /// A JSON Lines line: a plausible object with odd values, or any bytes.
    fn json_line() -> impl Strategy<Value = Vec<u8>> {
        const ODD: &[&str] = &[
            "\"T1\"",
            "null",
            "12",
            "1.5e400",
            "-0",
            "true",
            "[1,[2,[3]]]",
            "{\"color\":\"red\",\"x\":{}}",
            "\"\\u0000\\ud800\"",
        ];
        // Each named value as likely as each generated kind.
        let value = prop_oneof![
            ODD.len() as u32 => prop::sample::select(ODD).prop_map(str::to_string),
            1 => "[a-z\\\\\"]{0,8}".prop_map(|s| format!("\"{s}\"")),
            1 => any::<i64>().prop_map(|n| n.to_string()),
        ];
        let key = prop::sample::select(&["id", "quantity", "attributes", "other"][..]);
        prop_oneof![
            prop::collection::vec((key, value), 0..6).prop_map(|pairs| {
                let fields: Vec<String> =
                    pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", fields.join(",")).into_bytes()
            }),
            prop::collection::vec(any::<u8>(), 0..48),
        ]
        .prop_map(|line| {
            line.into_iter()
                .map(|b| if b == b'\n' { b' ' } else { b })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn csv_from_any_bytes_is_read_or_refused(tail in prop::collection::vec(any::<u8>(), 0..512)) {
            let file = [HEADER.as_bytes(), &tail].concat();
            let read = reader(&[]).read("f.csv", &file).unwrap();
            accounted(&read)?;
        }

        #[test]
        fn csv_with_hostile_fields_loses_no_row(file in csv_file()) {
            let read = reader(&[]).read("f.csv", &file).unwrap();
            accounted(&read)?;
        }

        #[test]
        fn gzip_of_hostile_csv_reads_as_the_csv(file in csv_file()) {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&file).unwrap();
            let zipped = reader(&[]).read("f.csv.gz", &encoder.finish().unwrap()).unwrap();
            let plain = reader(&[]).read("f.csv", &file).unwrap();
            prop_assert_eq!((zipped.rows, zipped.rejected_rows), (plain.rows, plain.rejected_rows));
        }

        #[test]
        fn every_json_line_becomes_a_row_or_a_reject(lines in prop::collection::vec(json_line(), 1..40)) {
            let file = lines.join(&b'\n');
            let read = json_reader().read("f.jsonl", &file).unwrap();
            let data = file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&file);
            let expected = data.split(|b| *b == b'\n').filter(|l| !l.trim_ascii().is_empty()).count();
            match read.file_error {
                Some(_) => prop_assert_eq!(expected, 0),
                None => {
                    prop_assert_eq!(read.rows, expected as u64);
                    prop_assert_eq!(read.rows, valid_rows(&read) as u64 + read.rejected_rows);
                }
            }
        }
    }
}
