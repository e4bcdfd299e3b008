//! The jobs a binary knows: the shipped ones, built in, and job files from a folder, which add
//! jobs or override shipped ones by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::JobsError;
use crate::spec::JobSpec;
use crate::validate::parse_job;

/// The shipped job files: (file name, contents).
pub const SHIPPED_JOBS: &[(&str, &str)] = &[
    (
        "transaction_etl.yaml",
        include_str!("../definitions/transaction_etl.yaml"),
    ),
    (
        "product_enrichment.yaml",
        include_str!("../definitions/product_enrichment.yaml"),
    ),
    (
        "reviews_etl.yaml",
        include_str!("../definitions/reviews_etl.yaml"),
    ),
    (
        "product_ratings.yaml",
        include_str!("../definitions/product_ratings.yaml"),
    ),
    (
        "clickstream_events.yaml",
        include_str!("../definitions/clickstream_events.yaml"),
    ),
    (
        "sessions.yaml",
        include_str!("../definitions/sessions.yaml"),
    ),
    (
        "traffic_windows.yaml",
        include_str!("../definitions/traffic_windows.yaml"),
    ),
    (
        "funnel_daily.yaml",
        include_str!("../definitions/funnel_daily.yaml"),
    ),
    (
        "sales_daily.yaml",
        include_str!("../definitions/sales_daily.yaml"),
    ),
    (
        "product_performance.yaml",
        include_str!("../definitions/product_performance.yaml"),
    ),
    (
        "customer_summary.yaml",
        include_str!("../definitions/customer_summary.yaml"),
    ),
];

/// The shipped analytical queries over the curated zone: (name, SQL). Written in the SQL that
/// both Athena (Trino) and DataFusion accept, so the same text runs locally and in the cloud.
pub const NAMED_QUERIES: &[(&str, &str)] = &[
    (
        "revenue_by_day_and_department",
        include_str!("../queries/revenue_by_day_and_department.sql"),
    ),
    ("top_products", include_str!("../queries/top_products.sql")),
    (
        "conversion_funnel",
        include_str!("../queries/conversion_funnel.sql"),
    ),
    (
        "rating_vs_sales",
        include_str!("../queries/rating_vs_sales.sql"),
    ),
    (
        "customer_cohorts",
        include_str!("../queries/customer_cohorts.sql"),
    ),
];

/// The SQL of a shipped named query.
pub fn named_query(name: &str) -> Result<&'static str, JobsError> {
    NAMED_QUERIES
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, sql)| *sql)
        .ok_or_else(|| JobsError::UnknownJob {
            name: format!("query {name}"),
            known: NAMED_QUERIES.iter().map(|(n, _)| n.to_string()).collect(),
        })
}

/// A job and where it came from.
#[derive(Debug, Clone)]
pub struct JobEntry {
    /// The parsed job.
    pub spec: JobSpec,
    /// `built-in transaction_etl.yaml` or the file's path.
    pub origin: String,
}

/// Every job by name.
#[derive(Debug, Clone, Default)]
pub struct JobRegistry {
    jobs: BTreeMap<String, JobEntry>,
}

/// The `.yaml` and `.yml` files of a folder (or the file itself), sorted.
pub fn job_files_in(path: &Path) -> Result<Vec<PathBuf>, JobsError> {
    let io = |source| JobsError::Io {
        path: path.display().to_string(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(io)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

impl JobRegistry {
    /// The shipped jobs, overridden or extended by the job files in `folder`.
    pub fn load(folder: Option<&Path>) -> Result<Self, JobsError> {
        let mut registry = Self::default();
        for (name, text) in SHIPPED_JOBS {
            registry.insert(
                parse_job(text, &format!("built-in {name}"))?,
                format!("built-in {name}"),
            );
        }
        let Some(folder) = folder else {
            return Ok(registry);
        };
        let mut from_folder: BTreeMap<String, String> = BTreeMap::new();
        for file in job_files_in(folder)? {
            let origin = file.display().to_string();
            let text = std::fs::read_to_string(&file).map_err(|source| JobsError::Io {
                path: origin.clone(),
                source,
            })?;
            let spec = parse_job(&text, &origin)?;
            if let Some(first) = from_folder.insert(spec.name.clone(), origin.clone()) {
                return Err(JobsError::DuplicateJob {
                    name: spec.name,
                    first,
                    second: origin,
                });
            }
            registry.insert(spec, origin);
        }
        Ok(registry)
    }

    fn insert(&mut self, spec: JobSpec, origin: String) {
        self.jobs
            .insert(spec.name.clone(), JobEntry { spec, origin });
    }

    /// The job of this name.
    pub fn get(&self, name: &str) -> Result<&JobEntry, JobsError> {
        self.jobs.get(name).ok_or_else(|| JobsError::UnknownJob {
            name: name.to_string(),
            known: self.jobs.keys().cloned().collect(),
        })
    }

    /// Every job, by name.
    pub fn entries(&self) -> impl Iterator<Item = &JobEntry> {
        self.jobs.values()
    }
}
