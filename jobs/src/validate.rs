//! Parsing and validation of job files. Validation plans the whole job over no rows, so it
//! finds every problem a run would hit before any data is touched, and reports them all.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use lakejob_engine::datafusion::arrow::array::RecordBatch;
use lakejob_engine::datafusion::arrow::datatypes::SchemaRef;
use lakejob_engine::datafusion::prelude::{DataFrame, SessionContext};
use lakejob_engine::ingest::{FileKind, SourceFiles};
use lakejob_engine::reader::SourceReader;
use lakejob_engine::{TableFormat, Zone};
use lakejob_quality::QualitySpec;

use crate::JobsError;
use crate::plan::{Problem, Reference, Rereads, describe, plan_steps_past_problems};
use crate::spec::{FormatSpec, JobSpec, SourceSpec, WriteModeSpec};

/// Parses a job file strictly. `origin` names the file in errors.
pub fn parse_job(text: &str, origin: &str) -> Result<JobSpec, JobsError> {
    serde_yaml::from_str(text).map_err(|e| JobsError::Parse {
        file: origin.to_string(),
        message: e.to_string(),
    })
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A path inside the lake: relative, with no `..` and no scheme.
fn is_lake_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains("://")
        && !path.contains('\\')
        && path
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
}

/// What `ingest` checks files of the job's source against.
pub fn source_files(source: &SourceSpec) -> Result<SourceFiles, Problem> {
    let max_file_bytes = lakejob_engine::parse_byte_size(&source.max_file_size)
        .map_err(|e| Problem::new("source.max_file_size", e))?;
    Ok(SourceFiles {
        source: source.name.clone(),
        kind: match &source.format {
            FormatSpec::Csv(csv) => FileKind::Csv {
                options: csv.clone(),
                // A file may lack a nullable column: the reader reads it as null.
                columns: source
                    .columns
                    .iter()
                    .filter(|c| !c.nullable)
                    .map(|c| c.source_name().to_string())
                    .collect(),
            },
            FormatSpec::JsonLines => FileKind::JsonLines,
        },
        max_file_bytes,
    })
}

/// Compiles the source declaration into a reader.
pub(crate) fn compile_source(
    ctx: &SessionContext,
    source: &SourceSpec,
) -> Result<SourceReader, Vec<Problem>> {
    SourceReader::new(
        &source.columns,
        &source.reject_when,
        source.format.source_format(),
        ctx,
    )
    .map_err(|problems| {
        problems
            .into_iter()
            .map(|p| match p.split_once(": ") {
                Some((field, message)) => Problem::new(format!("source.{field}"), message),
                None => Problem::new("source", p),
            })
            .collect()
    })
}

/// Compiles each reference's declaration into a reader.
pub(crate) fn compile_references(
    ctx: &SessionContext,
    job: &JobSpec,
) -> Result<Vec<(String, String, SourceReader)>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut readers = Vec::new();
    let mut names = HashSet::new();
    for (index, reference) in job.references.iter().enumerate() {
        let field = format!("references[{index}]");
        if !names.insert(reference.name.as_str()) {
            problems.push(Problem::new(
                format!("{field}.name"),
                format!("'{}' is declared twice", reference.name),
            ));
        }
        if !is_lake_relative(&reference.path) {
            problems.push(Problem::new(
                format!("{field}.path"),
                format!(
                    "'{}' must be a path inside the lake, relative and without '..'",
                    reference.path
                ),
            ));
        }
        match SourceReader::new(&reference.columns, &[], reference.csv.clone(), ctx) {
            Ok(reader) => readers.push((reference.name.clone(), reference.path.clone(), reader)),
            Err(errors) => {
                problems.extend(errors.into_iter().map(|e| Problem::new(field.clone(), e)))
            }
        }
    }
    if problems.is_empty() {
        Ok(readers)
    } else {
        Err(problems)
    }
}

fn empty_frame(ctx: &SessionContext, schema: SchemaRef) -> Result<DataFrame, Problem> {
    ctx.read_batch(RecordBatch::new_empty(schema))
        .map_err(|e| Problem::new("source", e.strip_backtrace().to_string()))
}

/// Every problem in a parsed job, found without reading any data.
pub async fn validate_job(job: &JobSpec) -> Vec<Problem> {
    let ctx = SessionContext::new();
    let mut problems = Vec::new();
    if !is_identifier(&job.name) {
        problems.push(Problem::new(
            "name",
            format!("'{}' must be lower case letters, digits and _", job.name),
        ));
    }
    let source = match (&job.source, &job.query) {
        (Some(source), None) => source_problems(&ctx, source, &mut problems),
        (None, Some(query)) => {
            if let Some(problem) = lakejob_quality::job_query_problem(query) {
                problems.push(Problem::new("query", problem));
            }
            None
        }
        (Some(_), Some(_)) => {
            problems.push(Problem::new(
                "query",
                "a job reads a source or a query, not both",
            ));
            None
        }
        (None, None) => {
            problems.push(Problem::new(
                "source",
                "a job reads a source (raw files) or a query (catalog tables)",
            ));
            None
        }
    };
    let mut references = HashMap::new();
    if let Ok(readers) = compile_references(&ctx, job).map_err(|p| problems.extend(p)) {
        for (name, _, reader) in readers {
            match empty_frame(&ctx, reader.typed_schema()) {
                // No rows, so a lookup: it checks the key and the columns as a join does.
                Ok(frame) => {
                    references.insert(name, Reference::Small(frame));
                }
                Err(problem) => problems.push(problem),
            }
        }
    }
    let Some(source) = source else {
        problems.extend(target_problems(job, None));
        return problems;
    };
    let output = match empty_frame(&ctx, source.typed_schema()) {
        Ok(input) => {
            match plan_steps_past_problems(input, job, &references, Rereads::InMemory).await {
                Ok((frame, plan_problems)) => {
                    problems.extend(plan_problems);
                    Some(frame)
                }
                // Over no rows, running a step fails only where its plan cannot run.
                Err(e) => {
                    problems.push(Problem::new("steps", describe(&e)));
                    None
                }
            }
        }
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    let output_schema = output
        .as_ref()
        .map(|f| Arc::new(f.schema().as_arrow().clone()));
    problems.extend(target_problems(job, output_schema.as_ref()));
    if let Some(schema) = output_schema {
        problems.extend(quality_problems(&ctx, schema, &job.quality).await);
    }
    problems
}

/// Problems of a raw source declaration; its reader (or a stand-in's, so later steps are
/// still planned) when one can be built.
fn source_problems(
    ctx: &SessionContext,
    source: &SourceSpec,
    problems: &mut Vec<Problem>,
) -> Option<SourceReader> {
    if !is_identifier(&source.name) {
        problems.push(Problem::new(
            "source.name",
            format!("'{}' must be lower case letters, digits and _", source.name),
        ));
    }
    if let Err(e) = lakejob_engine::parse_byte_size(&source.max_file_size) {
        problems.push(Problem::new("source.max_file_size", e));
    }
    match compile_source(ctx, source) {
        Ok(reader) => Some(reader),
        Err(source_problems) => {
            problems.extend(source_problems);
            compile_source(ctx, &stand_in_source(source)).ok()
        }
    }
}

/// The job with each unknown column type replaced by its likeliest meaning (a misspelt
/// numeric type as float64, anything else as string) and no reject rules: enough to plan the
/// steps after a source with problems without reporting consequences of the typo.
fn stand_in_source(source: &SourceSpec) -> SourceSpec {
    let mut stand_in = source.clone();
    for column in &mut stand_in.columns {
        if column
            .type_name
            .parse::<lakejob_engine::types::ColumnType>()
            .is_err()
        {
            let name = column.type_name.to_ascii_lowercase();
            let numeric = ["dec", "int", "num", "float", "double", "real", "long"]
                .iter()
                .any(|n| name.contains(n));
            column.type_name = if numeric { "float64" } else { "string" }.into();
            column.format = None;
            column.case = None;
        }
    }
    stand_in.reject_when.clear();
    stand_in
}

fn target_problems(job: &JobSpec, output: Option<&SchemaRef>) -> Vec<Problem> {
    let target = &job.target;
    let mut problems = Vec::new();
    match target.zone.parse::<Zone>() {
        Ok(Zone::Processed | Zone::Curated) => {}
        Ok(zone) => problems.push(Problem::new(
            "target.zone",
            format!("jobs write to processed or curated, not {zone}"),
        )),
        Err(e) => problems.push(Problem::new("target.zone", e)),
    }
    if !is_identifier(&target.table) {
        problems.push(Problem::new(
            "target.table",
            format!(
                "'{}' must be lower case letters, digits and _",
                target.table
            ),
        ));
    }
    match target.mode {
        WriteModeSpec::Merge => {
            if target.format != TableFormat::Delta {
                problems.push(Problem::new(
                    "target.mode",
                    "merge needs format delta; parquet can append or overwrite_partitions",
                ));
            }
            if target.key.is_empty() {
                problems.push(Problem::new("target.key", "merge needs the key columns"));
            }
        }
        _ if !target.key.is_empty() => {
            problems.push(Problem::new(
                "target.key",
                "a key is only used by mode merge",
            ));
        }
        _ if target.update_when.is_some() => {
            problems.push(Problem::new(
                "target.update_when",
                "only used by mode merge",
            ));
        }
        _ => {}
    }
    if target.mode == WriteModeSpec::OverwritePartitions && target.partition_by.is_empty() {
        problems.push(Problem::new(
            "target.mode",
            "overwrite_partitions needs partition_by; an unpartitioned table would be replaced whole by each run",
        ));
    }
    if let Some(schema) = output {
        for (field, names) in [
            ("target.partition_by", &target.partition_by),
            ("target.key", &target.key),
        ] {
            for name in names {
                if schema.field_with_name(name).is_err() {
                    problems.push(Problem::new(
                        field,
                        format!("'{name}' is not an output column"),
                    ));
                }
            }
        }
    }
    problems
}

/// Plans each rule over an empty table of the output's schema, one at a time, so every
/// broken rule is reported.
async fn quality_problems(
    ctx: &SessionContext,
    schema: SchemaRef,
    spec: &QualitySpec,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !(0.0..=1.0).contains(&spec.min_score) {
        problems.push(Problem::new(
            "quality.min_score",
            format!("{} is not between 0 and 1", spec.min_score),
        ));
    }
    if let Err(e) = ctx.register_batch("__validate_output", RecordBatch::new_empty(schema)) {
        problems.push(Problem::new("quality", e.strip_backtrace().to_string()));
        return problems;
    }
    for (index, rule) in spec.rules.iter().enumerate() {
        let single = QualitySpec {
            min_score: 0.0,
            rules: vec![rule.clone()],
        };
        let evaluation = lakejob_quality::Evaluation::new(ctx, "__validate_output", &single);
        if let Err(e) = evaluation.execute().await {
            problems.push(Problem::new(
                format!("quality.rules[{index}]"),
                e.to_string(),
            ));
        }
    }
    problems
}

/// Property tests: any edit of a job file, however hostile, parses and validates to an answer
/// (a job or a list of problems), never a panic.
#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::registry::SHIPPED_JOBS;

    /// A shipped job with one span replaced by YAML-significant or hostile text.
    fn edited_job() -> impl Strategy<Value = String> {
        let insert = prop_oneof![
            Just(": "),
            Just("\n  - "),
            Just("{"),
            Just("\"'"),
            Just("&a *a "),
            Just("!!binary "),
            Just("../../etc/passwd"),
            Just("s3://other-bucket/x"),
            Just("x; DROP TABLE y; --"),
            Just("\t"),
            Just("\u{0}"),
            Just("9999999999999999999999"),
            Just("type: nope"),
            Just("\u{feff}"),
        ];
        (
            0..SHIPPED_JOBS.len(),
            any::<prop::sample::Index>(),
            0..40usize,
            insert,
        )
            .prop_map(|(job, at, removed, inserted)| {
                let text = SHIPPED_JOBS[job].1;
                let mut start = at.index(text.len());
                while !text.is_char_boundary(start) {
                    start -= 1;
                }
                let mut end = (start + removed).min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}{inserted}{}", &text[..start], &text[end..])
            })
    }

    proptest! {
        #[test]
        fn an_edited_job_is_a_job_or_problems_never_a_panic(text in edited_job()) {
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            if let Ok(job) = parse_job(&text, "edited.yaml") {
                let problems = runtime.block_on(validate_job(&job));
                prop_assert!(problems.iter().all(|p| !p.to_string().is_empty()));
            }
        }

        #[test]
        fn any_text_parses_to_a_job_or_an_error_naming_the_file(text in "\\PC{0,200}") {
            if let Err(error) = parse_job(&text, "any.yaml") {
                prop_assert!(error.to_string().contains("any.yaml"));
            }
        }
    }
}
