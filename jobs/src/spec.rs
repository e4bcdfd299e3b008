//! The YAML job file. Every struct is strict (`deny_unknown_fields`): a misspelt key is an
//! error, never silently ignored.

use lakejob_engine::maintain::{DEFAULT_RETENTION, TablePolicy};
use lakejob_engine::reader::{ColumnSpec, CsvOptions, RejectRule, SourceFormat};
use lakejob_engine::{TableFormat, parse_byte_size};
use lakejob_quality::QualitySpec;
use serde::{Deserialize, Serialize};

/// A job: one raw source, cleaned and transformed, written to one target table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobSpec {
    /// The job's name, used by `lakejob run <name>`: lower case, digits and `_`.
    pub name: String,
    /// What the job does, for people and the catalog.
    #[serde(default)]
    pub description: Option<String>,
    /// The raw source it reads. A job has a source or a query, not both.
    #[serde(default)]
    pub source: Option<SourceSpec>,
    /// Instead of a raw source: SQL over tables already in the catalog (`processed.reviews`),
    /// for jobs that build on other jobs' output. The whole result is the job's input.
    #[serde(default)]
    pub query: Option<String>,
    /// Small reference tables that steps join.
    #[serde(default)]
    pub references: Vec<ReferenceSpec>,
    /// Transformations, applied in order after reading. Each is a one-key map
    /// (`- dedupe: {...}`), the way people write YAML, rather than a YAML tag.
    #[serde(default, with = "serde_yaml::with::singleton_map_recursive")]
    pub steps: Vec<Step>,
    /// The table it writes.
    pub target: TargetSpec,
    /// Quality rules over the rows about to be written, and the gate.
    #[serde(default)]
    pub quality: QualitySpec,
    /// For a query job: recompute only the latest days of the target instead of all of it.
    #[serde(default)]
    pub incremental: Option<IncrementalSpec>,
}

/// How a query job recomputes only its latest days. A run replaces the target's days from
/// `lookback_days` before the first day the target does not hold yet (or before `--date`,
/// when that is earlier) onwards, reading each dated input only from `history_days` before
/// that first day. A first run, a run whose target is empty and `--full-refresh` recompute
/// everything. Rows that arrive more than `lookback_days` late for their day are counted by
/// the next `--full-refresh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalSpec {
    /// The target's date column (type DATE) that says which day a row belongs to; the target
    /// must be partitioned by it, so a run replaces whole days.
    pub date: String,
    /// How many days before the first new one are recomputed too: as late as rows may
    /// arrive for their day, and as long as a row of the target may keep changing (a session
    /// that runs past midnight).
    #[serde(default = "default_lookback_days")]
    pub lookback_days: u32,
    /// The inputs the query filters by date; the other tables it reads are read whole.
    pub inputs: Vec<IncrementalInput>,
}

/// An input of an incremental query job, read from a date on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncrementalInput {
    /// The table as the query names it, e.g. `processed.clickstream_events`.
    pub table: String,
    /// Its date column (type DATE).
    pub date: String,
    /// How many days before the first recomputed day a row of it may still count there
    /// (1 for sessions: the event before a session's first one decides where it starts).
    #[serde(default)]
    pub history_days: u32,
}

/// One day late, the sample data's late events.
fn default_lookback_days() -> u32 {
    1
}

/// A raw source: files under `raw/<name>/date=YYYY-MM-DD/`, read with a declared schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// The source's folder name in the raw zone; rejected rows go to `quarantine.<name>`.
    pub name: String,
    /// The file format and its options.
    pub format: FormatSpec,
    /// Every column read, in output order. Nothing is inferred.
    pub columns: Vec<ColumnSpec>,
    /// Row rules checked after typing; a row matching one goes to quarantine with its reason.
    #[serde(default)]
    pub reject_when: Vec<RejectRule>,
    /// The largest file `ingest` accepts for this source, as stored (e.g. `10GB`, `512MB`).
    #[serde(default = "default_max_file_size")]
    pub max_file_size: String,
    /// The most a compressed (`.gz`) file may inflate to, at ingest and when read (e.g.
    /// `2GB`); at most, and by default, 8GB. A file past it is refused with that reason.
    #[serde(default = "default_max_inflated_size")]
    pub max_inflated_size: String,
    /// The quarantine table, `quarantine.<quarantine>`; the source's name when absent. Jobs
    /// reading one source with different columns each need a quarantine of their own.
    #[serde(default)]
    pub quarantine: Option<String>,
    /// How much bad input a run accepts. Above it the run fails (exit 2), publishes nothing
    /// and leaves its files unprocessed, so a fixed job reads them again.
    #[serde(default)]
    pub tolerance: Tolerance,
}

/// The share of bad input a run of a source accepts, each from 0 (none) to 1 (all).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tolerance {
    /// The largest share of the rows read that may go to quarantine (default 0.05).
    #[serde(default = "default_tolerated_share")]
    pub rejected_rows: f64,
    /// The largest share of the files read that may be skipped as unreadable (default 0.05).
    #[serde(default = "default_tolerated_share")]
    pub unreadable_files: f64,
}

/// The share of rejected rows, and of unreadable files, a source accepts unless it says.
pub const DEFAULT_TOLERATED_SHARE: f64 = 0.05;

fn default_tolerated_share() -> f64 {
    DEFAULT_TOLERATED_SHARE
}

impl Default for Tolerance {
    fn default() -> Self {
        Self {
            rejected_rows: DEFAULT_TOLERATED_SHARE,
            unreadable_files: DEFAULT_TOLERATED_SHARE,
        }
    }
}

/// Compressed files may inflate to this much unless a source says less.
pub const DEFAULT_MAX_INFLATED_SIZE: &str = "8GB";

fn default_max_inflated_size() -> String {
    DEFAULT_MAX_INFLATED_SIZE.to_string()
}

/// Files above this size are refused at ingest unless a source says otherwise.
pub const DEFAULT_MAX_FILE_SIZE: &str = "10GB";

fn default_max_file_size() -> String {
    DEFAULT_MAX_FILE_SIZE.to_string()
}

/// A file format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FormatSpec {
    /// RFC 4180 CSV, optionally gzip-compressed (`.gz`).
    Csv(CsvOptions),
    /// One JSON object per line, optionally gzip-compressed; a column's `from` may be a
    /// dotted path into nested objects (`attributes.color`).
    JsonLines,
}

impl SourceSpec {
    /// The name of its quarantine table in the quarantine zone.
    pub fn quarantine_table(&self) -> &str {
        self.quarantine.as_deref().unwrap_or(&self.name)
    }
}

impl FormatSpec {
    /// The engine's form of it.
    pub fn source_format(&self) -> SourceFormat {
        match self {
            FormatSpec::Csv(options) => SourceFormat::Csv(options.clone()),
            FormatSpec::JsonLines => SourceFormat::JsonLines,
        }
    }
}

/// A reference table: one CSV file in the lake, read whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReferenceSpec {
    /// The name steps use to join it.
    pub name: String,
    /// The file, relative to the lake root, e.g. `reference/fx_rates.csv`.
    pub path: String,
    /// Its columns. A row that does not parse is an error: references must be clean.
    pub columns: Vec<ColumnSpec>,
    /// CSV options of the file.
    #[serde(default)]
    pub csv: CsvOptions,
}

/// A transformation step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// Keeps one row per key; the others are counted as duplicates.
    Dedupe(DedupeStep),
    /// Left-joins a reference table, adding some of its columns.
    Join(JoinStep),
    /// Adds (or replaces) columns computed by SQL expressions, in order.
    Derive(Vec<DeriveColumn>),
}

/// Keep one row per key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupeStep {
    /// The key columns.
    pub key: Vec<String>,
    /// Which row is kept: the first in this order (`column`, `column desc`). Without an
    /// order, rows with the same key must be identical for the result to be reproducible.
    #[serde(default)]
    pub order_by: Vec<String>,
}

/// Left-join a reference table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinStep {
    /// The reference's name.
    pub reference: String,
    /// Columns with the same name on both sides that must be equal. The reference must have
    /// one row per key, so the join never multiplies rows.
    pub on: Vec<String>,
    /// Reference columns to add.
    pub columns: Vec<String>,
}

/// A computed column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeriveColumn {
    /// Its name.
    pub name: String,
    /// A SQL expression over the columns so far.
    pub expr: String,
}

/// How the target meets existing rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WriteModeSpec {
    /// Add the rows.
    Append,
    /// Replace the partitions the new rows fall in.
    #[default]
    OverwritePartitions,
    /// Replace the whole table (aggregates recomputed from their inputs).
    Overwrite,
    /// Upsert on `key` (Delta only).
    Merge,
}

/// The table a job writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// `processed` or `curated`.
    pub zone: String,
    /// The table's name in its zone.
    pub table: String,
    /// `delta` or `parquet` (Hive-style partitioned).
    pub format: TableFormat,
    /// Partition columns, in path order.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// `append`, `overwrite_partitions` (default) or `merge`.
    #[serde(default)]
    pub mode: WriteModeSpec,
    /// Key columns, for `merge`.
    #[serde(default)]
    pub key: Vec<String>,
    /// For `merge`: a SQL condition over `source.` and `target.` columns that must hold for
    /// a matched row to be replaced, e.g. `source.updated_at > target.updated_at` so a late,
    /// older version never overwrites a newer one.
    #[serde(default)]
    pub update_when: Option<String>,
    /// The output columns in order; all columns when absent.
    #[serde(default)]
    pub columns: Option<Vec<String>>,
    /// How `lakejob maintain` (and a pipeline's `maintain: true`) treats this table, where it
    /// differs from the command's options.
    #[serde(default)]
    pub maintenance: Option<MaintenanceSpec>,
}

/// A table's maintenance policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceSpec {
    /// The size compaction writes files up to, e.g. `256MB`; the command's (128MB) when
    /// absent.
    #[serde(default)]
    pub target_file_size: Option<String>,
    /// How long files a newer version no longer needs stay for readers of older versions,
    /// e.g. `30d`; at least 7 days, the command's when absent.
    #[serde(default)]
    pub retention: Option<String>,
}

impl MaintenanceSpec {
    /// The engine's form of it, or why a value is wrong (naming its key).
    pub fn policy(&self) -> Result<TablePolicy, Vec<String>> {
        let mut problems = Vec::new();
        let target_file_size = self.target_file_size.as_deref().and_then(|size| {
            parse_byte_size(size)
                .map_err(|e| problems.push(format!("target_file_size: {e}")))
                .ok()
        });
        let retention = self.retention.as_deref().and_then(|text| {
            match lakejob_quality::parse_duration(text) {
                Ok(retention) if retention < DEFAULT_RETENTION => {
                    problems.push(format!(
                        "retention: {text} is under 7 days; a job still committing could lose its files"
                    ));
                    None
                }
                Ok(retention) => Some(retention),
                Err(e) => {
                    problems.push(format!("retention: {e}"));
                    None
                }
            }
        });
        if problems.is_empty() {
            Ok(TablePolicy {
                target_file_size,
                retention,
            })
        } else {
            Err(problems)
        }
    }
}

impl JobSpec {
    /// What the job reads, for people: `raw/<source>` or `query`.
    pub fn input_name(&self) -> String {
        match (&self.source, &self.query) {
            (Some(source), _) => format!("raw/{}", source.name),
            (None, Some(_)) => "query".to_string(),
            (None, None) => "nothing".to_string(),
        }
    }
}
