//! The seeded generator of lakejob's raw zone (see docs/data.md): transactions (CSV), products
//! (JSON Lines), clickstream (JSON Lines) and reviews (CSV), plus the reference tables
//! `fx_rates` and `categories`, with dirty rows injected at the documented rates.
//!
//! Every (source, day) pair is generated from its own seed derived from the user's seed, so days
//! are generated in parallel and the output is byte-identical whatever the thread count.

mod reference;
mod sources;
mod text;

use std::io;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use rayon::prelude::*;

pub use reference::{CATEGORIES, FX_RATES};

/// Rows per source at scale 1 (docs/data.md, "Scale").
pub const TRANSACTIONS_AT_SCALE_1: f64 = 1_000_000.0;
/// Products at scale 1.
pub const PRODUCTS_AT_SCALE_1: f64 = 50_000.0;
/// The largest catalogue: ids `P000001..=P899999`; orphan ids are `P900000..=P999999`.
pub const MAX_PRODUCTS: u64 = 899_999;
/// The first id of a transaction line that names no product.
pub const ORPHAN_PRODUCTS_FROM: u64 = MAX_PRODUCTS + 1;
// Orphan ids are drawn from the next 99,999 numbers: still six digits.
const _: () = assert!(ORPHAN_PRODUCTS_FROM + 99_999 <= 999_999);
/// Clickstream events at scale 1.
pub const CLICKSTREAM_AT_SCALE_1: f64 = 2_000_000.0;
/// Reviews at scale 1.
pub const REVIEWS_AT_SCALE_1: f64 = 200_000.0;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The options cannot produce data.
    #[error("invalid sample options: {0}")]
    InvalidOptions(String),
    /// A file could not be written.
    #[error("cannot write sample file {path}: {source}")]
    Write {
        /// The file, relative to the lake root.
        path: String,
        /// The underlying I/O error.
        source: io::Error,
    },
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Scale factor: 1.0 is 1,000,000 transactions over `days` days.
    pub scale: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Number of consecutive days of data.
    pub days: u32,
    /// The first day.
    pub start: NaiveDate,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            scale: 0.01,
            seed: 42,
            days: 30,
            start: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
        }
    }
}

impl GenerateOptions {
    fn validate(&self) -> Result<(), GenerateError> {
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= 1000.0) {
            return Err(GenerateError::InvalidOptions(format!(
                "--scale must be above 0 and at most 1000, got {}",
                self.scale
            )));
        }
        if self.days == 0 || self.days > 3660 {
            return Err(GenerateError::InvalidOptions(format!(
                "--days must be between 1 and 3660, got {}",
                self.days
            )));
        }
        Ok(())
    }

    fn count(&self, at_scale_1: f64) -> u64 {
        (at_scale_1 * self.scale).round().max(1.0) as u64
    }

    /// Products in the catalogue; transactions and clicks refer to `P000001..=Pn`. The
    /// catalogue stops growing at [`MAX_PRODUCTS`] (scale 18), so every product id keeps its
    /// six digits and orphan ids their own range above it.
    pub fn product_count(&self) -> u64 {
        self.count(PRODUCTS_AT_SCALE_1).min(MAX_PRODUCTS)
    }

    fn customer_count(&self) -> u64 {
        self.count(100_000.0).max(100)
    }

    fn day(&self, index: u32) -> NaiveDate {
        self.start + chrono::Days::new(u64::from(index))
    }

    /// Rows of a source on day `index`: the total spread evenly, the remainder on the first days.
    fn rows_on_day(&self, at_scale_1: f64, index: u32) -> u64 {
        let total = self.count(at_scale_1);
        let days = u64::from(self.days);
        total / days + u64::from(u64::from(index) < total % days)
    }
}

/// Where generated files go. Paths are relative to the lake root, `/`-separated.
pub trait SampleSink: Sync {
    /// Writes one whole file.
    fn write_file(&self, relative_path: &str, contents: &[u8]) -> io::Result<()>;
}

/// Writes the files under a local directory.
#[derive(Debug)]
pub struct DirectorySink {
    root: PathBuf,
}

impl DirectorySink {
    /// A sink rooted at `root` (created as needed).
    pub fn new(root: impl AsRef<Path>) -> Self {
        Self {
            root: root.as_ref().to_path_buf(),
        }
    }
}

impl SampleSink for DirectorySink {
    fn write_file(&self, relative_path: &str, contents: &[u8]) -> io::Result<()> {
        let path = self.root.join(relative_path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // Write then rename, so a reader never sees half a file.
        let temporary = path.with_extension("partial");
        std::fs::write(&temporary, contents)?;
        std::fs::rename(&temporary, &path)
    }
}

/// One file written by the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Source name (`transactions`, ..., or `reference`).
    pub source: &'static str,
    /// Path relative to the lake root.
    pub path: String,
    /// Records in the file (lines for JSON Lines, records for CSV, header excluded).
    pub records: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// What the generator wrote.
#[derive(Debug, Clone, Default)]
pub struct GenerateMetrics {
    /// Every file, in a stable order.
    pub files: Vec<GeneratedFile>,
}

impl GenerateMetrics {
    /// Records written for one source.
    pub fn records(&self, source: &str) -> u64 {
        self.files
            .iter()
            .filter(|f| f.source == source)
            .map(|f| f.records)
            .sum()
    }

    /// Bytes written in all.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }
}

/// A unit of generation: one file's worth of work.
#[derive(Debug, Clone, Copy)]
enum Task {
    Reference,
    Day { source: sources::Source, index: u32 },
}

/// Generates the whole raw zone and the reference tables. `on_file_done` is called once per
/// task finished (for progress bars); [`task_count`] tells how many calls to expect.
pub fn generate(
    options: &GenerateOptions,
    sink: &dyn SampleSink,
    on_file_done: &(dyn Fn() + Sync),
) -> Result<GenerateMetrics, GenerateError> {
    options.validate()?;
    let tasks = tasks(options);
    let mut results: Vec<Vec<GeneratedFile>> = tasks
        .par_iter()
        .map(|task| {
            let files = match *task {
                Task::Reference => reference::files(),
                Task::Day { source, index } => sources::generate_day(options, source, index),
            };
            let mut written = Vec::with_capacity(files.len());
            for file in files {
                sink.write_file(&file.path, &file.contents)
                    .map_err(|source| GenerateError::Write {
                        path: file.path.clone(),
                        source,
                    })?;
                written.push(GeneratedFile {
                    source: file.source,
                    path: file.path,
                    records: file.records,
                    bytes: file.contents.len() as u64,
                });
            }
            on_file_done();
            Ok(written)
        })
        .collect::<Result<_, GenerateError>>()?;
    let mut files: Vec<GeneratedFile> = results.drain(..).flatten().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(GenerateMetrics { files })
}

/// How many units of work [`generate`] reports through `on_file_done`.
pub fn task_count(options: &GenerateOptions) -> u64 {
    tasks(options).len() as u64
}

fn tasks(options: &GenerateOptions) -> Vec<Task> {
    let mut tasks = vec![Task::Reference];
    // Largest sources first so the parallel tail is short.
    for source in [
        sources::Source::Clickstream,
        sources::Source::Transactions,
        sources::Source::Reviews,
        sources::Source::Products,
    ] {
        tasks.extend((0..options.days).map(|index| Task::Day { source, index }));
    }
    tasks
}

/// A file's contents before it is written.
#[derive(Debug)]
struct FileContents {
    source: &'static str,
    path: String,
    records: u64,
    contents: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    #[derive(Default)]
    struct MemorySink(Mutex<BTreeMap<String, Vec<u8>>>);

    impl SampleSink for MemorySink {
        fn write_file(&self, path: &str, contents: &[u8]) -> io::Result<()> {
            self.0
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?
                .insert(path.to_string(), contents.to_vec());
            Ok(())
        }
    }

    fn small() -> GenerateOptions {
        GenerateOptions {
            scale: 0.002,
            days: 3,
            ..GenerateOptions::default()
        }
    }

    #[test]
    fn same_seed_gives_identical_bytes_and_other_seed_differs() -> Result<(), GenerateError> {
        let (a, b, c) = (
            MemorySink::default(),
            MemorySink::default(),
            MemorySink::default(),
        );
        generate(&small(), &a, &|| {})?;
        generate(&small(), &b, &|| {})?;
        let other_seed = GenerateOptions { seed: 7, ..small() };
        generate(&other_seed, &c, &|| {})?;
        let contents = |sink: MemorySink| sink.0.into_inner().unwrap_or_default();
        let (a, b, c) = (contents(a), contents(b), contents(c));
        assert!(a == b, "same seed must give byte-identical files");
        assert!(a != c, "another seed must give other data");
        Ok(())
    }

    #[test]
    fn counts_follow_the_scale_and_layout_is_partitioned_by_date() -> Result<(), GenerateError> {
        let sink = MemorySink::default();
        let metrics = generate(&small(), &sink, &|| {})?;
        assert_eq!(metrics.records("transactions"), 2_000);
        assert_eq!(metrics.records("clickstream"), 4_000);
        assert_eq!(metrics.records("reviews"), 400);
        let files = sink
            .0
            .into_inner()
            .map_err(|_| io::Error::other("poisoned"));
        let files = files.map_err(|e| GenerateError::InvalidOptions(e.to_string()))?;
        assert!(files.contains_key("raw/transactions/date=2025-01-01/transactions_2025-01-01.csv"));
        assert!(files.contains_key("raw/products/date=2025-01-03/products_2025-01-03.jsonl"));
        assert!(files.contains_key("reference/fx_rates.csv"));
        assert!(files.contains_key("reference/categories.csv"));
        Ok(())
    }

    #[test]
    fn product_ids_keep_six_digits_at_any_scale() {
        let at = |scale: f64| GenerateOptions { scale, ..small() };
        assert_eq!(at(1.0).product_count(), 50_000);
        assert_eq!(at(17.0).product_count(), 850_000);
        assert_eq!(at(20.0).product_count(), MAX_PRODUCTS);
    }

    #[test]
    fn rejects_nonsense_options() {
        let bad = GenerateOptions {
            scale: 0.0,
            ..small()
        };
        assert!(matches!(
            generate(&bad, &MemorySink::default(), &|| {}),
            Err(GenerateError::InvalidOptions(_))
        ));
    }
}
