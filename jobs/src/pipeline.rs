//! Pipelines: a YAML graph of stages, each a list of jobs run in order. Stages whose
//! predecessors have succeeded run concurrently; a stage that fails stops the stages after it,
//! and the summary says which stage failed and why.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use chrono::NaiveDate;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use lakejob_engine::maintain::{Maintain, MaintainMetrics};
use lakejob_engine::{Catalog, Clock, ExitClass, Lake};
use serde::{Deserialize, Serialize};

use crate::JobsError;
use crate::plan::Problem;
use crate::registry::JobRegistry;
use crate::runner::{JobRun, RunOptions, RunStatus, RunSummary};

/// The shipped pipeline files: (file name, contents).
pub const SHIPPED_PIPELINES: &[(&str, &str)] =
    &[("daily.yaml", include_str!("../pipelines/daily.yaml"))];

/// A pipeline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Its name, used by `lakejob pipeline run <name>`.
    pub name: String,
    /// What it does, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The stages.
    pub stages: Vec<StageSpec>,
    /// Run `lakejob maintain` once every stage succeeded (compaction, vacuum with the 7-day
    /// retention, checkpoints, expiry of records older than 30 days): at the end of a local
    /// run, and as the state machine's last task after the dates.
    #[serde(default)]
    pub maintain: bool,
}

/// One stage: jobs run one after the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    /// Its name, unique in the pipeline.
    pub name: String,
    /// The stages that must succeed first.
    #[serde(default)]
    pub after: Vec<String>,
    /// Job names, in order.
    pub jobs: Vec<String>,
}

/// Parses a pipeline file strictly.
pub fn parse_pipeline(text: &str, origin: &str) -> Result<PipelineSpec, JobsError> {
    serde_yaml::from_str(text).map_err(|e| JobsError::Parse {
        file: origin.to_string(),
        message: e.to_string(),
    })
}

/// Whether a YAML file is a pipeline rather than a job: it has `stages` at its top level.
pub fn is_pipeline_file(text: &str) -> bool {
    serde_yaml::from_str::<serde_yaml::Value>(text)
        .ok()
        .and_then(|value| value.as_mapping().map(|m| m.contains_key("stages")))
        .unwrap_or(false)
}

impl PipelineSpec {
    /// Its stage of that name as a pipeline of its own (its `after` links dropped), so
    /// `lakejob run <stage>` runs a step such as clickstream_aggregation on its own.
    pub fn stage_alone(&self, name: &str) -> Option<PipelineSpec> {
        let stage = self.stages.iter().find(|s| s.name == name)?;
        Some(PipelineSpec {
            name: format!("{}.{}", self.name, stage.name),
            description: self.description.clone(),
            stages: vec![StageSpec {
                after: Vec::new(),
                ..stage.clone()
            }],
            maintain: false,
        })
    }
}

/// Every problem of a pipeline: unknown jobs or stages, duplicates, cycles.
pub fn validate_pipeline(spec: &PipelineSpec, registry: &JobRegistry) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    for (index, stage) in spec.stages.iter().enumerate() {
        if !names.insert(stage.name.as_str()) {
            problems.push(Problem::new(
                format!("stages[{index}].name"),
                format!("'{}' is used twice", stage.name),
            ));
        }
        if stage.jobs.is_empty() {
            problems.push(Problem::new(
                format!("stages[{index}].jobs"),
                "name at least one job",
            ));
        }
        for (position, job) in stage.jobs.iter().enumerate() {
            if let Err(e) = registry.get(job) {
                problems.push(Problem::new(
                    format!("stages[{index}].jobs[{position}]"),
                    e.to_string(),
                ));
            }
        }
    }
    for (index, stage) in spec.stages.iter().enumerate() {
        for before in &stage.after {
            if !names.contains(before.as_str()) {
                problems.push(Problem::new(
                    format!("stages[{index}].after"),
                    format!("no stage is named '{before}'"),
                ));
            }
        }
    }
    if problems.is_empty() && layers(spec).is_none() {
        problems.push(Problem::new("stages", "the `after` links form a cycle"));
    }
    problems
}

/// The stages in layers: each layer's stages come after stages of earlier layers only, so a
/// layer's stages can run at once. `None` on a cycle.
pub(crate) fn layers(spec: &PipelineSpec) -> Option<Vec<Vec<&StageSpec>>> {
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut layers = Vec::new();
    while placed.len() < spec.stages.len() {
        let layer: Vec<&StageSpec> = spec
            .stages
            .iter()
            .filter(|s| {
                !placed.contains(s.name.as_str())
                    && s.after.iter().all(|a| placed.contains(a.as_str()))
            })
            .collect();
        if layer.is_empty() {
            return None;
        }
        placed.extend(layer.iter().map(|s| s.name.as_str()));
        layers.push(layer);
    }
    Some(layers)
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StageStatus {
    /// Every job succeeded.
    Succeeded,
    /// A job failed with an error.
    Failed,
    /// A job's quality gate held its output back.
    QualityFailed,
    /// Not run: a stage before it did not succeed.
    Skipped,
}

/// One stage of a pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageSummary {
    /// The stage.
    pub stage: String,
    /// How it ended.
    pub status: StageStatus,
    /// Why it failed or was skipped.
    pub reason: Option<String>,
    /// The runs of its jobs, in order.
    pub jobs: Vec<RunSummary>,
    /// Wall time.
    pub duration_ms: u64,
}

/// What a pipeline run did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineSummary {
    /// The pipeline.
    pub pipeline: String,
    /// The date asked for, if any.
    pub date: Option<NaiveDate>,
    /// The worst stage outcome.
    pub status: StageStatus,
    /// Every stage, in pipeline order.
    pub stages: Vec<StageSummary>,
    /// What maintenance did, when the pipeline declares it and every stage succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<MaintainMetrics>,
    /// Wall time.
    pub duration_ms: u64,
}

impl PipelineSummary {
    /// Succeeded when every stage did, quality failed when a gate held output back, bad
    /// input when a job failed on it (a retry fails the same way), retryable otherwise.
    pub fn exit_class(&self) -> ExitClass {
        let bad_input = self.stages.iter().flat_map(|stage| &stage.jobs).any(|job| {
            job.error
                .as_ref()
                .is_some_and(|e| e.class == ExitClass::BadInput)
        });
        match self.status {
            StageStatus::Succeeded => ExitClass::Succeeded,
            StageStatus::QualityFailed => ExitClass::QualityFailed,
            StageStatus::Failed if bad_input => ExitClass::BadInput,
            StageStatus::Failed | StageStatus::Skipped => ExitClass::Retryable,
        }
    }
}

/// One run of a pipeline.
#[derive(Debug)]
pub struct PipelineRun<'a> {
    lake: &'a Lake,
    catalog: &'a dyn Catalog,
    clock: &'a dyn Clock,
    registry: &'a JobRegistry,
    spec: &'a PipelineSpec,
    options: RunOptions,
}

impl<'a> PipelineRun<'a> {
    /// A run of `spec`, its jobs looked up in `registry`.
    pub fn new(
        lake: &'a Lake,
        catalog: &'a dyn Catalog,
        clock: &'a dyn Clock,
        registry: &'a JobRegistry,
        spec: &'a PipelineSpec,
    ) -> Self {
        Self {
            lake,
            catalog,
            clock,
            registry,
            spec,
            options: RunOptions::default(),
        }
    }

    /// Date, reprocessing and session of every job.
    pub fn with_options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Runs the stages. Configuration problems of the pipeline or of any job fail before
    /// anything runs.
    pub async fn execute(self) -> Result<PipelineSummary, JobsError> {
        let started = Instant::now();
        let problems = validate_pipeline(self.spec, self.registry);
        if !problems.is_empty() {
            return Err(JobsError::Invalid {
                file: format!("pipeline {}", self.spec.name),
                job: self.spec.name.clone(),
                problems,
            });
        }
        let mut results: BTreeMap<String, StageSummary> = BTreeMap::new();
        let mut running = FuturesUnordered::new();
        let mut started_stages: BTreeSet<String> = BTreeSet::new();
        loop {
            for stage in &self.spec.stages {
                if started_stages.contains(&stage.name) {
                    continue;
                }
                let finished: Vec<&StageSummary> =
                    stage.after.iter().filter_map(|a| results.get(a)).collect();
                if finished.len() < stage.after.len() {
                    continue;
                }
                let blocker = finished
                    .iter()
                    .find(|s| s.status != StageStatus::Succeeded)
                    .map(|s| s.stage.clone());
                started_stages.insert(stage.name.clone());
                if let Some(blocker) = blocker {
                    results.insert(
                        stage.name.clone(),
                        StageSummary {
                            stage: stage.name.clone(),
                            status: StageStatus::Skipped,
                            reason: Some(format!("stage {blocker} did not succeed")),
                            jobs: Vec::new(),
                            duration_ms: 0,
                        },
                    );
                    continue;
                }
                running.push(self.run_stage(stage));
            }
            if results.len() == self.spec.stages.len() {
                break;
            }
            match running.next().await {
                Some(summary) => {
                    results.insert(summary.stage.clone(), summary);
                }
                // Only skipped stages were added this round: look again.
                None => continue,
            }
        }
        let stages: Vec<StageSummary> = self
            .spec
            .stages
            .iter()
            .filter_map(|s| results.remove(&s.name))
            .collect();
        let status = [
            StageStatus::Failed,
            StageStatus::QualityFailed,
            StageStatus::Skipped,
        ]
        .into_iter()
        .find(|worst| stages.iter().any(|s| s.status == *worst))
        .unwrap_or(StageStatus::Succeeded);
        let maintenance = if self.spec.maintain && status == StageStatus::Succeeded {
            let metrics = Maintain::new(self.lake, self.catalog, self.clock)
                .with_policies(self.registry.maintenance_policies())
                .execute()
                .await
                .map_err(|source| JobsError::Engine {
                    job: format!("{} maintenance", self.spec.name),
                    source,
                })?;
            Some(metrics)
        } else {
            None
        };
        Ok(PipelineSummary {
            pipeline: self.spec.name.clone(),
            date: self.options.date,
            status,
            stages,
            maintenance,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    async fn run_stage(&self, stage: &StageSpec) -> StageSummary {
        let started = Instant::now();
        let mut summary = StageSummary {
            stage: stage.name.clone(),
            status: StageStatus::Succeeded,
            reason: None,
            jobs: Vec::new(),
            duration_ms: 0,
        };
        for name in &stage.jobs {
            tracing::info!(stage = %stage.name, job = %name, "starting");
            let outcome = match self.registry.get(name) {
                Ok(entry) => {
                    JobRun::new(self.lake, self.catalog, self.clock, &entry.spec)
                        .with_origin(&entry.origin)
                        .with_options(self.options.clone())
                        .execute()
                        .await
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(run) => {
                    let quality_failed = run.status == RunStatus::QualityFailed;
                    let failed_rules = run.quality.failed_rules.join("; ");
                    summary.jobs.push(run);
                    if quality_failed {
                        summary.status = StageStatus::QualityFailed;
                        summary.reason =
                            Some(format!("job {name}: quality gate failed: {failed_rules}"));
                        break;
                    }
                }
                Err(e) => {
                    tracing::error!(stage = %stage.name, job = %name, error = %e, "stage failed");
                    summary.status = StageStatus::Failed;
                    summary.reason = Some(format!("job {name}: {e}"));
                    if let JobsError::RunFailed { summary: run, .. } = e {
                        summary.jobs.push(*run);
                    }
                    break;
                }
            }
        }
        summary.duration_ms = started.elapsed().as_millis() as u64;
        summary
    }
}
