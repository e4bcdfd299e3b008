//! Parsing and validation of job files. Validation plans the whole job over no rows, so it
//! finds every problem a run would hit before any data is touched, and reports them all.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use lakejob_engine::datafusion::arrow::array::RecordBatch;
use lakejob_engine::datafusion::arrow::datatypes::DataType;
use lakejob_engine::datafusion::arrow::datatypes::SchemaRef;
use lakejob_engine::datafusion::execution::context::SQLOptions;
use lakejob_engine::datafusion::prelude::{DataFrame, SessionContext};
use lakejob_engine::ingest::{FileKind, SourceFiles};
use lakejob_engine::reader::SourceReader;
use lakejob_engine::{TableFormat, Zone};
use lakejob_quality::{Check, QualitySpec};

use crate::JobsError;
use crate::pipeline::{is_pipeline_file, parse_pipeline, validate_pipeline};
use crate::plan::{Problem, Reference, Rereads, describe, plan_steps_past_problems};
use crate::registry::JobRegistry;
use crate::spec::{
    FormatSpec, IncrementalSpec, JobSpec, MaintenanceSpec, SourceSpec, Tolerance, WriteModeSpec,
};

/// The largest job file read: the shipped ones are a few kilobytes.
const MAX_JOB_FILE_BYTES: usize = 1024 * 1024;
/// The deepest nesting read (indentation, brackets and list dashes on one line): a job
/// nests a few levels, and a file nested tens of thousands deep took the YAML parser a minute
/// to refuse.
const MAX_JOB_NESTING: usize = 256;
/// The longest job, source or table name: names become folders and catalog tables.
const MAX_NAME_CHARS: usize = 128;

/// Parses a job file strictly. `origin` names the file in errors.
pub fn parse_job(text: &str, origin: &str) -> Result<JobSpec, JobsError> {
    let refused = |message: String| JobsError::Parse {
        file: origin.to_string(),
        message,
    };
    if text.len() > MAX_JOB_FILE_BYTES {
        return Err(refused(format!(
            "{} bytes is more than a job file may hold ({MAX_JOB_FILE_BYTES})",
            text.len()
        )));
    }
    if let Some((line, depth)) = deepest_line(text)
        && depth > MAX_JOB_NESTING
    {
        return Err(refused(format!(
            "line {line} nests {depth} levels deep; a job file nests at most {MAX_JOB_NESTING}"
        )));
    }
    serde_yaml::from_str(text).map_err(|e| refused(e.to_string()))
}

/// The line that nests deepest, by an upper bound of its depth, and that bound.
fn deepest_line(text: &str) -> Option<(usize, usize)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let indent = line.len() - line.trim_start().len();
            let opened = line.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
            (index + 1, indent + opened + line.matches("- ").count())
        })
        .max_by_key(|(_, depth)| *depth)
}

pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= MAX_NAME_CHARS
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The problem with a job, source or table name, if any.
fn name_problem(field: &str, name: &str) -> Option<Problem> {
    (!is_identifier(name)).then(|| {
        Problem::new(
            field,
            format!(
                "'{name}' must be lower case letters, digits and _, starting with a letter, \
                 at most {MAX_NAME_CHARS} characters"
            ),
        )
    })
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
    let max_inflated_bytes = max_inflated_bytes(source)?;
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
        max_inflated_bytes,
    })
}

/// The source's `max_inflated_size` in bytes.
pub(crate) fn max_inflated_bytes(source: &SourceSpec) -> Result<u64, Problem> {
    let most = lakejob_engine::reader::MAX_DECOMPRESSED_BYTES;
    match lakejob_engine::parse_byte_size(&source.max_inflated_size) {
        Ok(bytes) if bytes <= most => Ok(bytes),
        Ok(_) => Err(Problem::new(
            "source.max_inflated_size",
            format!("at most {most} bytes (8GB)"),
        )),
        Err(e) => Err(Problem::new("source.max_inflated_size", e)),
    }
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
    problems.extend(name_problem("name", &job.name));
    if let Some(incremental) = &job.incremental {
        problems.extend(incremental_problems(job, incremental));
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
    if let (Some(schema), Some(condition)) = (&output_schema, &job.target.update_when) {
        problems.extend(update_when_problem(Arc::clone(schema), condition).await);
    }
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
    problems.extend(name_problem("source.name", &source.name));
    if let Some(quarantine) = &source.quarantine {
        problems.extend(name_problem("source.quarantine", quarantine));
    }
    if let Err(e) = lakejob_engine::parse_byte_size(&source.max_file_size) {
        problems.push(Problem::new("source.max_file_size", e));
    }
    problems.extend(max_inflated_bytes(source).err());
    problems.extend(tolerance_problems(&source.tolerance));
    match compile_source(ctx, source) {
        Ok(reader) => Some(reader),
        Err(source_problems) => {
            problems.extend(source_problems);
            compile_source(ctx, &stand_in_source(source)).ok()
        }
    }
}

/// Shares outside 0 to 1 (a percentage written as 5 rather than 0.05, say).
fn tolerance_problems(tolerance: &Tolerance) -> Vec<Problem> {
    [
        ("source.tolerance.rejected_rows", tolerance.rejected_rows),
        (
            "source.tolerance.unreadable_files",
            tolerance.unreadable_files,
        ),
    ]
    .into_iter()
    .filter(|(_, share)| !(0.0..=1.0).contains(share))
    .map(|(field, share)| {
        Problem::new(
            field,
            format!("{share} is not a share from 0 to 1 (write 5% as 0.05)"),
        )
    })
    .collect()
}

/// The job with each unknown column type replaced by its likeliest meaning (a misspelt
/// numeric type as float64, anything else as string), no formats or patterns and no reject
/// rules: enough to plan the
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
            column.case = None;
        }
        // Formats, zones, separators and patterns decide which values parse, not the
        // columns' shape.
        column.format = None;
        column.timezone = None;
        column.decimal_separator = None;
        column.thousands_separator = None;
        column.pattern = None;
    }
    stand_in.reject_when.clear();
    stand_in
}

/// Problems of an `incremental` block: it needs a query job writing a Delta table, whole,
/// partitioned by the date whose days it replaces, and inputs its query reads.
fn incremental_problems(job: &JobSpec, incremental: &IncrementalSpec) -> Vec<Problem> {
    let target = &job.target;
    let mut problems = Vec::new();
    let Some(query) = &job.query else {
        return vec![Problem::new(
            "incremental",
            "only a query job is incremental; a source job reads only the raw files it has not read",
        )];
    };
    if target.format != TableFormat::Delta || target.mode != WriteModeSpec::Overwrite {
        problems.push(Problem::new(
            "incremental",
            "an incremental job writes format delta with mode overwrite (what --full-refresh does); its runs replace days",
        ));
    }
    if !target.partition_by.contains(&incremental.date) {
        problems.push(Problem::new(
            "incremental.date",
            format!(
                "the target must be partitioned by {0} (partition_by: [{0}]), so a run replaces whole days",
                incremental.date
            ),
        ));
    }
    if incremental.inputs.is_empty() {
        problems.push(Problem::new(
            "incremental.inputs",
            "name the tables the query reads by date, or the job recomputes everything anyway",
        ));
    }
    let query = query.to_lowercase();
    for (index, input) in incremental.inputs.iter().enumerate() {
        let named = input
            .table
            .split_once('.')
            .is_some_and(|(database, table)| {
                !database.is_empty() && !table.is_empty() && !table.contains('.')
            });
        if !named {
            problems.push(Problem::new(
                format!("incremental.inputs[{index}].table"),
                format!("'{}' is not a table as the query names it (database.table, e.g. processed.clickstream_events)", input.table),
            ));
        } else if !query.contains(&input.table.to_lowercase()) {
            problems.push(Problem::new(
                format!("incremental.inputs[{index}].table"),
                format!("the query does not read {}", input.table),
            ));
        }
    }
    problems
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
    problems.extend(name_problem("target.table", &target.table));
    if let Some(Err(wrong)) = target.maintenance.as_ref().map(MaintenanceSpec::policy) {
        problems.extend(
            wrong
                .into_iter()
                .map(|p| Problem::new("target.maintenance", p)),
        );
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

/// Plans a merge's `update_when` over empty `source` and `target` tables of the output's
/// columns, as the merge reads it.
async fn update_when_problem(schema: SchemaRef, condition: &str) -> Option<Problem> {
    let ctx = SessionContext::new();
    let planned = async {
        for name in ["source", "target"] {
            ctx.register_batch(name, RecordBatch::new_empty(Arc::clone(&schema)))?;
        }
        let only_queries = SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false);
        let sql = format!("SELECT 1 FROM source CROSS JOIN target WHERE {condition}");
        ctx.sql_with_options(&sql, only_queries).await
    };
    planned
        .await
        .err()
        .map(|e| Problem::new("target.update_when", describe(&e)))
}

/// The relation validation gives a job's (empty) output, for its quality rules to plan over.
const VALIDATED_OUTPUT: &str = "__validate_output";

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
    if let Err(e) = ctx.register_batch(VALIDATED_OUTPUT, RecordBatch::new_empty(schema.clone())) {
        problems.push(Problem::new("quality", e.strip_backtrace().to_string()));
        return problems;
    }
    for (index, rule) in spec.rules.iter().enumerate() {
        if let Check::DataFreshness { column, .. } = &rule.check
            && let Ok(field) = schema.field_with_name(column)
            && !matches!(
                field.data_type(),
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            )
        {
            problems.push(Problem::new(
                format!("quality.rules[{index}].check.column"),
                format!(
                    "'{column}' holds {}; data_freshness measures a timestamp or date column",
                    field.data_type()
                ),
            ));
            continue;
        }
        let single = QualitySpec {
            min_score: 0.0,
            rules: vec![rule.clone()],
        };
        let evaluation = lakejob_quality::Evaluation::new(ctx, VALIDATED_OUTPUT, &single);
        if let Err(e) = evaluation.execute().await {
            // The output's columns by the names the job gives them, not the relation's.
            let message = e.to_string().replace(&format!("{VALIDATED_OUTPUT}."), "");
            problems.push(Problem::new(format!("quality.rules[{index}]"), message));
        }
    }
    problems
}

/// The texts of the job and pipeline files `validate` checks: those in `paths` (files, or
/// folders and their `pipelines/` subfolder), or with no path the shipped ones and those of
/// the jobs folder. Each comes with the name a report gives it.
pub fn job_file_texts(
    paths: &[PathBuf],
    jobs_folder: Option<&Path>,
) -> Result<Vec<(String, String)>, JobsError> {
    let mut files: Vec<(String, String)> = Vec::new();
    if paths.is_empty() {
        for (name, text) in crate::SHIPPED_JOBS {
            files.push((format!("built-in {name}"), (*text).to_string()));
        }
        for (name, text) in crate::SHIPPED_PIPELINES {
            files.push((format!("built-in pipelines/{name}"), (*text).to_string()));
        }
    }
    let folders: Vec<PathBuf> = if paths.is_empty() {
        jobs_folder.map(PathBuf::from).into_iter().collect()
    } else {
        paths.to_vec()
    };
    for folder in &folders {
        let subfolder = folder.join("pipelines");
        let mut found = crate::job_files_in(folder)?;
        if subfolder.is_dir() {
            found.extend(crate::job_files_in(&subfolder)?);
        }
        for file in found {
            let text = std::fs::read_to_string(&file).map_err(|source| JobsError::Io {
                path: file.display().to_string(),
                source,
            })?;
            files.push((file.display().to_string(), text));
        }
    }
    Ok(files)
}

/// Every problem of each (origin, YAML text) file, jobs and pipelines alike, as printed
/// lines: a pipeline's jobs are looked for among the shipped jobs, those of `jobs_folder`
/// and the jobs among the files.
pub async fn validate_files(
    files: &[(String, String)],
    jobs_folder: Option<&Path>,
) -> Vec<(String, Vec<String>)> {
    let mut registry = JobRegistry::load(jobs_folder).unwrap_or_default();
    let mut reports = Vec::new();
    let mut pipelines = Vec::new();
    for (origin, text) in files {
        if is_pipeline_file(text) {
            pipelines.push((origin, text));
            continue;
        }
        let problems = match parse_job(text, origin) {
            Ok(job) => {
                let problems = validate_job(&job)
                    .await
                    .into_iter()
                    .map(|p| format!("{origin}: job {}: {p}", job.name))
                    .collect();
                registry.insert(job, origin.clone());
                problems
            }
            Err(error) => vec![error.to_string()],
        };
        reports.push((origin.clone(), problems));
    }
    for (origin, text) in pipelines {
        let problems = match parse_pipeline(text, origin) {
            Ok(pipeline) => validate_pipeline(&pipeline, &registry)
                .into_iter()
                .map(|p| format!("{origin}: pipeline {}: {p}", pipeline.name))
                .collect(),
            Err(error) => vec![error.to_string()],
        };
        reports.push((origin.clone(), problems));
    }
    reports
}

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
