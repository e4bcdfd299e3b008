use std::path::PathBuf;

use super::*;
use crate::parse_job;

fn infer(files: &[(&str, &[u8])]) -> InferredJob {
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<PathBuf> = files
        .iter()
        .map(|(name, bytes)| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        })
        .collect();
    let job = InitJob::new("orders", paths).execute().unwrap();
    // What init writes is a job: it parses and validates as it is.
    let spec =
        parse_job(&job.yaml, "orders_etl.yaml").unwrap_or_else(|e| panic!("{e}\n{}", job.yaml));
    assert_eq!(spec.name, "orders_etl");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let problems = runtime.block_on(crate::validate_job(&spec));
    assert!(problems.is_empty(), "{problems:?}\n{}", job.yaml);
    job
}

fn line_of<'a>(yaml: &'a str, column: &str) -> &'a str {
    yaml.lines()
        .find(|l| {
            l.contains(&format!("name: {column},")) || l.ends_with(&format!("name: {column} }}"))
        })
        .unwrap_or_else(|| panic!("no column {column} in\n{yaml}"))
}

#[test]
fn a_us_export_gets_its_types_formats_and_key() {
    let csv = "Order ID,Ordered At,Amount,Paid,Zip,Note,Day\r\n\
               O1,8/15/18 9:05,\"1,234.50\",yes,02134,hello ,2018-08-15\r\n\
               O2,8/16/18 13:00,12.5,no,10001,,2018-08-16\r\n\
               O3,2018-08-17 00:00:00,NULL,yes,94105,NA,2018-08-17\r\n";
    let job = infer(&[("orders.csv", csv.as_bytes())]);
    let yaml = &job.yaml;
    assert_eq!(job.rows_sampled, 3);
    assert!(yaml.contains("format: { type: csv }"), "{yaml}");
    let id = line_of(yaml, "order_id");
    assert!(
        id.contains("from: \"Order ID\"") && id.contains("nullable: false"),
        "{id}"
    );
    let at = line_of(yaml, "ordered_at");
    assert!(
        at.contains("type: timestamp")
            && at.contains(r#"format: ["%m/%d/%y %H:%M", "%Y-%m-%d %H:%M:%S"]"#)
            && at.contains("timezone"),
        "{at}"
    );
    let amount = line_of(yaml, "amount");
    assert!(
        amount.contains(r#"type: "decimal(18,2)""#)
            && amount.contains(r#"thousands_separator: ",""#)
            && amount.contains(r#"null_values: ["", "NULL"]"#),
        "{amount}"
    );
    assert!(line_of(yaml, "paid").contains("type: boolean"), "{yaml}");
    assert!(
        line_of(yaml, "zip").contains("type: string"),
        "leading zeros: {yaml}"
    );
    assert!(
        !line_of(yaml, "note").contains("null_values"),
        "NA is text here: {yaml}"
    );
    let day = line_of(yaml, "day");
    assert!(
        day.contains("type: date") && !day.contains("format"),
        "{day}"
    );
    assert!(
        yaml.contains("dedupe: { key: [order_id], order_by: [ordered_at desc] }"),
        "{yaml}"
    );
    assert!(yaml.contains("mode: merge\n  key: [order_id]"), "{yaml}");
}

#[test]
fn a_european_latin1_export_gets_its_encoding_delimiter_and_decimal_comma() {
    let text = "kunde;betrag;menge;datum\n\
                Müller;1.234,50;1.000;15.08.2018\n\
                Jörg;12,5;7;16.08.2018\n\
                Müller;0,99;2;17.08.2018\n";
    let latin1: Vec<u8> = text.chars().map(|c| c as u8).collect();
    let job = infer(&[("export.csv", &latin1)]);
    let yaml = &job.yaml;
    assert!(
        yaml.contains(r#"format: { type: csv, delimiter: ";", encoding: windows-1252 }"#),
        "{yaml}"
    );
    let amount = line_of(yaml, "betrag");
    assert!(
        amount.contains(r#"type: "decimal(18,2)""#)
            && amount.contains(r#"decimal_separator: ",""#)
            && amount.contains(r#"thousands_separator: ".""#),
        "{amount}"
    );
    let count = line_of(yaml, "menge");
    assert!(
        count.contains("type: int64") && count.contains(r#"thousands_separator: ".""#),
        "{count}"
    );
    assert!(
        line_of(yaml, "datum").contains(r#"format: "%d.%m.%Y""#),
        "{yaml}"
    );
    assert!(
        yaml.contains("mode: append"),
        "no key: kunde repeats\n{yaml}"
    );
}

#[test]
fn json_lines_get_dotted_paths_and_files_without_a_header_numbered_columns() {
    let json = "{\"id\": 1, \"at\": \"2024-01-01T10:00:00Z\", \"attributes\": {\"color\": \"red\"}}\n\
                {\"id\": 2, \"at\": \"2024-01-02T10:00:00+02:00\", \"attributes\": {\"color\": null}}\n";
    let yaml = infer(&[("events.jsonl", json.as_bytes())]).yaml;
    assert!(yaml.contains("format: { type: json_lines }"), "{yaml}");
    assert!(
        line_of(&yaml, "attributes_color").contains("from: \"attributes.color\""),
        "{yaml}"
    );
    let at = line_of(&yaml, "at");
    assert!(
        at.contains("type: timestamp") && !at.contains("format"),
        "RFC 3339: {at}"
    );

    let csv = "1,2024-01-01,3.5\n2,2024-01-02,4\n";
    let yaml = infer(&[("plain.csv", csv.as_bytes())]).yaml;
    assert!(yaml.contains("header: false"), "{yaml}");
    assert!(
        line_of(&yaml, "column_3").contains(r#"type: "decimal(18,1)""#),
        "{yaml}"
    );
}

#[test]
fn header_names_become_snake_case_column_names() {
    let mut taken = std::collections::HashSet::new();
    let mut name = |source: &str| columns::unique_name(Some(source), 0, &mut taken);
    assert_eq!(name("CustomerID"), "customer_id");
    assert_eq!(name("HTTPServer"), "http_server");
    assert_eq!(name("Unit Price (€)"), "unit_price");
    assert_eq!(name("unit_price"), "unit_price_2");
    assert_eq!(name("2nd line"), "column_1_2nd_line");
}

#[test]
fn unusable_samples_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let error = InitJob::new("orders", vec![empty]).execute().unwrap_err();
    assert!(error.to_string().contains("holds no record"), "{error}");
    assert!(error.is_bad_input());
    let missing = InitJob::new("orders", vec![dir.path().join("nope.csv")])
        .execute()
        .unwrap_err();
    assert!(missing.to_string().contains("nope.csv"), "{missing}");
    let bad_name = InitJob::new("My Orders", vec![dir.path().join("x.csv")])
        .execute()
        .unwrap_err();
    assert!(bad_name.to_string().contains("lower case"), "{bad_name}");
}
