//! The jobs a binary knows: the shipped ones, built in, and job files from a folder, which add
//! jobs or override shipped ones by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lakejob_engine::TableName;
use lakejob_engine::maintain::TablePolicy;

use crate::JobsError;
use crate::pipeline::{PipelineSpec, SHIPPED_PIPELINES, is_pipeline_file, parse_pipeline};
use crate::spec::{JobSpec, SourceSpec};
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

/// A pipeline and where it came from.
#[derive(Debug, Clone)]
pub struct PipelineEntry {
    /// The parsed pipeline.
    pub spec: PipelineSpec,
    /// `built-in pipelines/daily.yaml` or the file's path.
    pub origin: String,
}

/// Every job and pipeline by name.
#[derive(Debug, Clone, Default)]
pub struct JobRegistry {
    jobs: BTreeMap<String, JobEntry>,
    pipelines: BTreeMap<String, PipelineEntry>,
}

/// The YAML files of a jobs folder and of its `pipelines/` subfolder: (file, text, whether
/// it is a pipeline).
fn folder_files(folder: &Path) -> Result<Vec<(PathBuf, String, bool)>, JobsError> {
    let subfolder = folder.join("pipelines");
    let mut files: Vec<(PathBuf, bool)> = job_files_in(folder)?
        .into_iter()
        .map(|file| (file, false))
        .collect();
    if subfolder.is_dir() {
        files.extend(job_files_in(&subfolder)?.into_iter().map(|f| (f, true)));
    }
    files
        .into_iter()
        .map(|(file, in_subfolder)| {
            let text = std::fs::read_to_string(&file).map_err(|source| JobsError::Io {
                path: file.display().to_string(),
                source,
            })?;
            let pipeline = in_subfolder || is_pipeline_file(&text);
            Ok((file, text, pipeline))
        })
        .collect()
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
    /// The shipped jobs and pipelines, overridden or extended by the files in `folder`: each
    /// file is a job, or a pipeline when it has `stages` at its top level or lies in the
    /// folder's `pipelines/` subfolder.
    pub fn load(folder: Option<&Path>) -> Result<Self, JobsError> {
        let mut registry = Self::default();
        for (name, text) in SHIPPED_JOBS {
            registry.insert(
                parse_job(text, &format!("built-in {name}"))?,
                format!("built-in {name}"),
            );
        }
        for (name, text) in SHIPPED_PIPELINES {
            let origin = format!("built-in pipelines/{name}");
            let spec = parse_pipeline(text, &origin)?;
            registry
                .pipelines
                .insert(spec.name.clone(), PipelineEntry { spec, origin });
        }
        let Some(folder) = folder else {
            return Ok(registry);
        };
        let mut from_folder: BTreeMap<String, String> = BTreeMap::new();
        for (file, text, pipeline) in folder_files(folder)? {
            let origin = file.display().to_string();
            let name = if pipeline {
                let spec = parse_pipeline(&text, &origin)?;
                let name = format!("pipeline {}", spec.name);
                registry.pipelines.insert(
                    spec.name.clone(),
                    PipelineEntry {
                        spec,
                        origin: origin.clone(),
                    },
                );
                name
            } else {
                let spec = parse_job(&text, &origin)?;
                let name = spec.name.clone();
                registry.insert(spec, origin.clone());
                name
            };
            if let Some(first) = from_folder.insert(name.clone(), origin.clone()) {
                return Err(JobsError::DuplicateJob {
                    name,
                    first,
                    second: origin,
                });
            }
        }
        Ok(registry)
    }

    /// The pipeline of this name.
    pub fn pipeline(&self, name: &str) -> Result<&PipelineEntry, JobsError> {
        self.pipelines
            .get(name)
            .ok_or_else(|| JobsError::UnknownPipeline {
                name: name.to_string(),
                known: self.pipelines.keys().cloned().collect(),
            })
    }

    /// A pipeline's stage of this name, as a pipeline of its own.
    pub fn stage(&self, name: &str) -> Option<PipelineSpec> {
        self.pipelines
            .values()
            .find_map(|entry| entry.spec.stage_alone(name))
    }

    /// Every pipeline, by name.
    pub fn pipelines(&self) -> impl Iterator<Item = &PipelineEntry> {
        self.pipelines.values()
    }

    /// Adds a job, or replaces the one of its name.
    pub fn insert(&mut self, spec: JobSpec, origin: String) {
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

    /// The maintenance policies jobs declare for their targets (a policy that does not
    /// validate is left out: `validate` reports it).
    pub fn maintenance_policies(&self) -> BTreeMap<TableName, TablePolicy> {
        self.entries()
            .filter_map(|entry| {
                let target = &entry.spec.target;
                let policy = target.maintenance.as_ref()?.policy().ok()?;
                Some((
                    TableName::new(target.zone.clone(), target.table.clone()),
                    policy,
                ))
            })
            .collect()
    }

    /// A job, or else a pipeline's stage run alone (`clickstream_aggregation`), by name.
    pub fn runnable(&self, name: &str) -> Result<Runnable<'_>, JobsError> {
        match self.get(name) {
            Ok(entry) => Ok(Runnable::Job(entry)),
            Err(unknown) => self.stage(name).map(Runnable::Stage).ok_or(unknown),
        }
    }

    /// The first job (by name) that reads `source`, with its declaration of it.
    pub fn reader_of(&self, source: &str) -> Result<(&JobEntry, &SourceSpec), JobsError> {
        self.entries()
            .find_map(|entry| {
                let declared = entry.spec.source.as_ref()?;
                (declared.name == source).then_some((entry, declared))
            })
            .ok_or_else(|| {
                let mut known: Vec<String> = self
                    .entries()
                    .filter_map(|e| e.spec.source.as_ref().map(|s| s.name.clone()))
                    .collect();
                known.sort();
                known.dedup();
                JobsError::UnknownSource {
                    name: source.to_string(),
                    known,
                }
            })
    }
}

/// What `lakejob run <name>` runs.
#[derive(Debug)]
pub enum Runnable<'r> {
    /// One job.
    Job(&'r JobEntry),
    /// A pipeline's stage: its jobs in order.
    Stage(PipelineSpec),
}
