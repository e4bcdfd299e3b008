//! Printing: a text form for people, one JSON document for machines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use lakejob_engine::datafusion::arrow::array::RecordBatch;
use lakejob_engine::datafusion::arrow::json::WriterBuilder;
use lakejob_engine::datafusion::arrow::json::writer::JsonArray;
use lakejob_engine::datafusion::arrow::util::pretty::pretty_format_batches;
use lakejob_engine::ingest::IngestMetrics;
use lakejob_engine::{CatalogTable, SyncChange, SyncMetrics, TableName};

use lakejob_jobs::{
    DropMetrics, InferredJob, JobRegistry, Outcome, PipelineSummary, QualityReport, ReleaseMetrics,
    RestoreSummary, RunSummary, format_observed,
};

use lakejob_engine::maintain::MaintainMetrics;
use lakejob_sample_data::GenerateMetrics;
use serde_json::json;

use crate::CliError;

/// Prints results in the chosen form.
#[derive(Debug)]
pub struct Printer {
    json: bool,
    metrics: bool,
}

impl Printer {
    pub fn new(json: bool, metrics: bool) -> Self {
        Self { json, metrics }
    }

    /// With metrics on, one CloudWatch embedded-metric-format line per job run on stderr:
    /// CloudWatch Logs turns it into the `lakejob` metrics (QualityScore, rows, duration) per
    /// job and overall, which the quality alarm watches.
    fn job_metrics(&self, summary: &RunSummary) {
        if !self.metrics {
            return;
        }
        let line = json!({
            "_aws": {
                "Timestamp": summary.started_at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": "lakejob",
                    "Dimensions": [["Job"], []],
                    "Metrics": [
                        {"Name": "QualityScore", "Unit": "None"},
                        {"Name": "RowsOut", "Unit": "Count"},
                        {"Name": "RowsRejected", "Unit": "Count"},
                        {"Name": "DurationMs", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "Job": summary.job,
            "RunId": summary.run_id,
            "Status": summary.status.as_str(),
            "QualityScore": summary.quality.score,
            "RowsOut": summary.rows_out,
            "RowsRejected": summary.rows_rejected,
            "DurationMs": summary.duration_ms
        });
        eprintln!("{line}");
    }

    fn emit(&self, value: &serde_json::Value) {
        print_out(
            &serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}")),
        );
    }

    /// A progress bar on a terminal in text mode; hidden otherwise.
    pub fn progress(&self, total: u64, message: &'static str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total).with_message(message);
        if let Ok(style) =
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files ({elapsed})")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar
    }

    pub fn generated(&self, metrics: &GenerateMetrics, lake: &str, elapsed: Duration) {
        let sources = ["transactions", "products", "clickstream", "reviews"];
        if self.json {
            let records: serde_json::Map<_, _> = sources
                .iter()
                .map(|s| (s.to_string(), json!(metrics.records(s))))
                .collect();
            self.emit(&json!({"lake": lake, "files": metrics.files.len(), "bytes": metrics.bytes(), "records": records, "duration_ms": elapsed.as_millis() as u64}));
            return;
        }
        println!(
            "wrote {} files ({:.1} MB) to {lake} in {:.2} s",
            metrics.files.len(),
            metrics.bytes() as f64 / 1e6,
            elapsed.as_secs_f64()
        );
        for source in sources {
            println!("  {source:<13} {:>10} records", metrics.records(source));
        }
    }

    pub fn initialised(&self, job: &InferredJob, path: &std::path::Path, default_folder: bool) {
        if self.json {
            let mut value = serde_json::to_value(job).unwrap_or_default();
            value["path"] = json!(path.display().to_string());
            self.emit(&value);
            return;
        }
        let folder = path.parent().unwrap_or(path).display().to_string();
        let jobs = if default_folder {
            format!(" --jobs {folder}")
        } else {
            String::new()
        };
        println!(
            "wrote {} ({} columns inferred from {} records)
             check it, then: lakejob{jobs} validate; lakejob{jobs} ingest {} <files>; lakejob{jobs} run {}",
            path.display(),
            job.columns,
            job.rows_sampled,
            job.source,
            job.name
        );
    }

    /// A failed run's summary, for machines (JSON mode); a person reads the error.
    pub fn failed_run(&self, summary: &RunSummary) {
        if self.json {
            self.emit(&serde_json::to_value(summary).unwrap_or_default());
        }
    }

    pub fn run_summary(&self, summary: &RunSummary) {
        self.job_metrics(summary);
        if self.json {
            self.emit(&serde_json::to_value(summary).unwrap_or_default());
            return;
        }
        let status = label(summary.status);
        println!(
            "{} {} {status} in {:.2} s (run {})",
            summary.job,
            summary
                .date
                .map_or("all dates".to_string(), |d| d.to_string()),
            summary.duration_ms as f64 / 1000.0,
            summary.run_id
        );
        for run in &summary.finished_runs {
            println!("  finished run {run} first: it had stopped between its commits");
        }
        if let Some(day) = summary.recomputed_from {
            println!("  incremental: recomputed the days from {day} on (--full-refresh for all)");
        }
        println!(
            "  files: {} read, {} skipped",
            summary.files_ingested, summary.files_skipped
        );
        for skipped in &summary.skipped {
            println!("    skipped {}: {}", skipped.file, skipped.reason);
        }
        println!(
            "  rows:  {} in = {} out + {} rejected + {} duplicate",
            summary.rows_in, summary.rows_out, summary.rows_rejected, summary.rows_duplicate
        );
        for table in &summary.tables {
            if table.already_committed {
                println!("  {} already held this run's commit", table.table);
                continue;
            }
            let version = table.version.map_or(String::new(), |v| format!(" v{v}"));
            println!(
                "  wrote {} ({}{version}): {} rows, {} partition(s), {} new, {} updated",
                table.table,
                table.format,
                table.rows_written,
                table.partitions.len(),
                table.rows_inserted,
                table.rows_updated
            );
        }
        let quality = &summary.quality;
        print!(
            "  quality: score {:.3} (gate {:.2})",
            unsigned_zero(quality.score),
            quality.min_score
        );
        if quality.failed_rules.is_empty() {
            println!(", all rules passed");
        } else {
            println!(", failed:");
            for failure in &quality.failed_rules {
                println!("    {failure}");
            }
        }
        if let Some(report) = &quality.report {
            println!("  quality report: {}", report.html);
        }
    }

    pub fn ingested(&self, metrics: &IngestMetrics, elapsed: Duration) {
        if self.json {
            let mut value = serde_json::to_value(metrics).unwrap_or_default();
            value["duration_ms"] = json!(elapsed.as_millis() as u64);
            self.emit(&value);
            return;
        }
        let megabytes = metrics.bytes_read as f64 / 1e6;
        println!(
            "ingest {}: {} landed, {} skipped ({} rejected); {megabytes:.1} MB read in {:.2} s ({:.0} MB/s)",
            metrics.source,
            metrics.files_ingested,
            metrics.files_skipped,
            metrics.files_rejected,
            elapsed.as_secs_f64(),
            megabytes / elapsed.as_secs_f64().max(1e-9)
        );
        for file in &metrics.files {
            let outcome = label(file.outcome);
            let place = file
                .lake_path
                .as_deref()
                .map_or(String::new(), |p| format!(" -> {p}"));
            let reason = file
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!(": {r}"));
            println!("  {outcome:<9} {}{place}{reason}", file.file);
        }
    }

    pub fn released(&self, metrics: &ReleaseMetrics) {
        if self.json {
            self.emit(&serde_json::to_value(metrics).unwrap_or_default());
            return;
        }
        let verb = if metrics.dry_run {
            "would release"
        } else {
            "released"
        };
        for file in &metrics.files {
            println!("{} (md5 {})", file.lake_path, file.md5);
            for released in &file.released {
                println!("  {verb}: {released}");
            }
            for kept in &file.kept {
                println!("  kept: {kept}");
            }
            if file.released.is_empty() && file.kept.is_empty() {
                println!("  nothing to release: no job has marked it");
            }
        }
    }

    pub fn dropped(&self, metrics: &DropMetrics) {
        if self.json {
            self.emit(&serde_json::to_value(metrics).unwrap_or_default());
            return;
        }
        let verb = if metrics.dry_run {
            "would drop"
        } else {
            "dropped"
        };
        println!(
            "{verb} {}: {} files ({:.1} MB) under {}{}",
            metrics.table,
            metrics.files,
            metrics.bytes as f64 / 1e6,
            metrics.path,
            if metrics.catalog_entry {
                " and its catalog entry"
            } else {
                " (the catalog did not list it)"
            }
        );
        if !metrics.dry_run {
            println!("its raw files stay: `lakejob run <job> --reprocess` builds it again");
        }
    }

    pub fn restored(&self, summary: &RestoreSummary) {
        if self.json {
            self.emit(&serde_json::to_value(summary).unwrap_or_default());
            return;
        }
        let restore = &summary.restore;
        let verb = if summary.dry_run {
            "would restore"
        } else {
            "restored"
        };
        println!(
            "{verb} {} from version {} to the contents of version {}: {} files removed, {} added back{}",
            restore.table,
            restore.version_before,
            restore.restored_version,
            restore.files_removed,
            restore.files_restored,
            restore
                .new_version
                .map(|v| format!(
                    " (new version {v}; restore version {} to undo it)",
                    restore.version_before
                ))
                .unwrap_or_default()
        );
    }

    pub fn maintained(&self, metrics: &MaintainMetrics) {
        if self.json {
            self.emit(&serde_json::to_value(metrics).unwrap_or_default());
            return;
        }
        let (compacted, vacuumed, expired) = if metrics.dry_run {
            ("would compact", "would vacuum", "would expire")
        } else {
            ("compacted", "vacuumed", "expired")
        };
        for table in &metrics.tables {
            println!(
                "{}: {} live files; {compacted} {} into {}; {vacuumed} {}{}",
                table.table,
                table.files_before,
                table.files_compacted,
                table.files_written,
                table.files_vacuumed,
                table
                    .checkpoint
                    .map(|v| format!(
                        "; checkpoint at version {v}, {} older log entries removed",
                        table.log_entries_expired
                    ))
                    .unwrap_or_default()
            );
        }
        for table in &metrics.parquet_tables_skipped {
            println!("{table}: Parquet, left as it is");
        }
        println!(
            "{expired} {} old run records, reports and operation records",
            metrics.records_expired
        );
        println!(
            "ledger: {} {} documents into its snapshot",
            if metrics.dry_run {
                "would fold"
            } else {
                "folded"
            },
            metrics.ledger_documents_compacted
        );
    }

    pub fn pipeline_summary(&self, summary: &PipelineSummary) {
        for job in summary.stages.iter().flat_map(|stage| &stage.jobs) {
            self.job_metrics(job);
        }
        if self.json {
            self.emit(&serde_json::to_value(summary).unwrap_or_default());
            return;
        }
        println!(
            "pipeline {} {} {} in {:.2} s",
            summary.pipeline,
            summary
                .date
                .map_or("all new files".to_string(), |d| d.to_string()),
            label(summary.status),
            summary.duration_ms as f64 / 1000.0
        );
        for stage in &summary.stages {
            println!(
                "  {:<18} {:<14} {:>7.2} s{}",
                stage.stage,
                label(stage.status),
                stage.duration_ms as f64 / 1000.0,
                stage
                    .reason
                    .as_deref()
                    .map_or(String::new(), |r| format!("  {r}"))
            );
            for run in &stage.jobs {
                let written: Vec<&str> = run.tables.iter().map(|t| t.table.as_str()).collect();
                println!(
                    "      {:<22} {:>9} in {:>9} out {:>7} rejected {:>7} dup  {:.2} s  -> {}",
                    run.job,
                    run.rows_in,
                    run.rows_out,
                    run.rows_rejected,
                    run.rows_duplicate,
                    run.duration_ms as f64 / 1000.0,
                    if written.is_empty() {
                        "nothing new".to_string()
                    } else {
                        written.join(", ")
                    }
                );
            }
        }
    }

    pub fn synced(&self, metrics: &SyncMetrics) {
        if self.json {
            self.emit(&serde_json::to_value(metrics).unwrap_or_default());
            return;
        }
        let (create, update, add, remove) = if metrics.dry_run {
            (
                "would register",
                "would update",
                "would add",
                "would forget",
            )
        } else {
            ("registered", "updated", "added", "forgot")
        };
        println!(
            "{} table(s) in the lake, {} change(s){}",
            metrics.tables_found,
            metrics.changes.len(),
            if metrics.dry_run { " (dry run)" } else { "" }
        );
        for change in &metrics.changes {
            match change {
                SyncChange::CreateTable { table } => println!("  {create} {table}"),
                SyncChange::UpdateTable { table } => println!("  {update} {table}"),
                SyncChange::AddPartitions { table, partitions } => {
                    println!("  {add} {}", partition_list(table, partitions));
                }
                SyncChange::RemovePartitions { table, partitions } => {
                    println!("  {remove} {} (no data)", partition_list(table, partitions));
                }
            }
        }
    }

    pub fn quality_report(&self, table: &TableName, report: &QualityReport) {
        if self.json {
            self.emit(&serde_json::to_value(report).unwrap_or_default());
            return;
        }
        let verdict = if report.passed { "passes" } else { "fails" };
        println!(
            "{table}: score {:.3}, gate {:.2}: {verdict}",
            unsigned_zero(report.score),
            report.min_score
        );
        for rule in &report.rules {
            let mark = match rule.outcome {
                Outcome::Passed => "ok  ",
                Outcome::Failed => "FAIL",
                Outcome::NotEvaluated => "skip",
            };
            println!(
                "  {mark} {:<44} observed {:<10} wanted {}",
                rule.rule,
                format_observed(rule.observed),
                rule.threshold
            );
            if let Some(detail) = &rule.detail {
                println!("       {detail}");
            }
        }
    }

    pub fn jobs(&self, registry: &JobRegistry) {
        if self.json {
            let jobs: Vec<_> = registry
                .entries()
                .map(|e| json!({"name": e.spec.name, "origin": e.origin, "input": e.spec.input_name(), "target": format!("{}.{}", e.spec.target.zone, e.spec.target.table), "description": e.spec.description}))
                .collect();
            self.emit(&json!(jobs));
            return;
        }
        for entry in registry.entries() {
            println!(
                "{:<24} {} -> {}.{}  ({})",
                entry.spec.name,
                entry.spec.input_name(),
                entry.spec.target.zone,
                entry.spec.target.table,
                entry.origin
            );
        }
    }

    pub fn pipelines(&self, registry: &JobRegistry) {
        if self.json {
            let pipelines: Vec<_> = registry
                .pipelines()
                .map(|e| json!({"name": e.spec.name, "origin": e.origin, "stages": e.spec.stages.iter().map(|s| &s.name).collect::<Vec<_>>(), "description": e.spec.description}))
                .collect();
            self.emit(&json!(pipelines));
            return;
        }
        for entry in registry.pipelines() {
            let stages: Vec<&str> = entry.spec.stages.iter().map(|s| s.name.as_str()).collect();
            println!(
                "{:<24} {}  ({})",
                entry.spec.name,
                stages.join(", "),
                entry.origin
            );
        }
    }

    pub fn tables(&self, tables: &[CatalogTable]) {
        if self.json {
            let list: Vec<_> = tables
                .iter()
                .map(|t| json!({"table": t.definition.name.to_string(), "format": t.definition.format, "location": t.definition.location, "partitions": t.partitions.len()}))
                .collect();
            self.emit(&json!(list));
            return;
        }
        if tables.is_empty() {
            println!("no tables yet: run a job first, e.g. `lakejob run transaction_etl`");
        }
        for table in tables {
            let d = &table.definition;
            println!(
                "{:<32} {:<8} {:>5} partition(s)  {}",
                d.name.to_string(),
                d.format.to_string(),
                table.partitions.len(),
                d.location
            );
        }
    }

    pub fn describe(&self, table: &CatalogTable) {
        if self.json {
            self.emit(&serde_json::to_value(table).unwrap_or_default());
            return;
        }
        let d = &table.definition;
        println!("{}  ({}, {})", d.name, d.format, d.location);
        if let Some(description) = &d.description {
            println!("  {description}");
        }
        for column in &d.columns {
            let partition = if d.partition_columns.contains(&column.name) {
                "  partition"
            } else {
                ""
            };
            let null = if column.nullable { "" } else { " not null" };
            println!(
                "  {:<24} {}{null}{partition}",
                column.name, column.data_type
            );
        }
        println!("  {} partition(s)", table.partitions.len());
        for values in table.partitions.iter().take(20) {
            let spec: Vec<String> = d
                .partition_columns
                .iter()
                .zip(values)
                .map(|(c, v)| format!("{c}={v}"))
                .collect();
            println!("    {}", spec.join("/"));
        }
        if table.partitions.len() > 20 {
            println!("    ... and {} more", table.partitions.len() - 20);
        }
    }

    pub fn batches(&self, batches: &[RecordBatch]) -> Result<(), CliError> {
        let error = |e: lakejob_engine::datafusion::arrow::error::ArrowError| {
            CliError::Engine(lakejob_engine::EngineError::datafusion(
                "printing the result",
            )(e.into()))
        };
        if self.json {
            // Null values are kept as `null`: a row's keys do not depend on its values.
            let mut writer = WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(Vec::new());
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            writer.write_batches(&refs).map_err(error)?;
            writer.finish().map_err(error)?;
            let body = writer.into_inner();
            if body.is_empty() {
                print_out("[]");
            } else {
                print_out(&String::from_utf8_lossy(&body));
            }
        } else if batches.iter().all(|batch| batch.num_rows() == 0) {
            print_out("(no rows)");
        } else {
            print_out(&pretty_format_batches(batches).map_err(error)?.to_string());
        }
        Ok(())
    }

    pub fn validation(&self, reports: &[(String, Vec<String>)]) {
        if self.json {
            let list: Vec<_> = reports.iter().map(|(file, problems)| json!({"file": file, "valid": problems.is_empty(), "problems": problems})).collect();
            self.emit(&json!(list));
            return;
        }
        for (file, problems) in reports {
            if problems.is_empty() {
                println!("ok     {file}");
            }
            for problem in problems {
                println!("error  {problem}");
            }
        }
    }
}

/// `3 partition(s) of db.table: 2025/1/15, ...`.
fn partition_list(table: &str, partitions: &[Vec<String>]) -> String {
    let values: Vec<String> = partitions.iter().map(|p| p.join("/")).collect();
    format!(
        "{} partition(s) of {table}: {}",
        partitions.len(),
        values.join(", ")
    )
}

/// The name a value serialises to (`succeeded`, `quality_failed`): the JSON and text forms
/// use the same words.
fn label(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Writes a line to standard output. A reader that went away (`lakejob query ... | head`)
/// ends the output, not the process with a panic, as `println!` would.
fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush())
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        tracing::warn!(error = %e, "standard output could not be written");
    }
}

/// A score as people read it: `-0.000` (a share computed as a negative zero) is `0.000`.
fn unsigned_zero(score: f64) -> f64 {
    if score == 0.0 { 0.0 } else { score }
}

#[cfg(test)]
mod tests {
    use super::unsigned_zero;

    #[test]
    fn a_negative_zero_score_reads_as_zero() {
        assert_eq!(format!("{:.3}", unsigned_zero(-0.0)), "0.000");
        assert_eq!(format!("{:.3}", unsigned_zero(0.25)), "0.250");
    }
}
