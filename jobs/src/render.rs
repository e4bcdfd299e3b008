//! `lakejob pipeline render <name> --format asl`: the pipeline as an AWS Step Functions state
//! machine. A Map over the execution's `dates` runs the pipeline once per date (a schedule passes
//! one, a backfill many); stages that may run at once are branches of a Parallel state; each job
//! is an ECS task started with a task token (the container reports back through
//! `--task-token`), retried only on `lakejob.Retryable`; a score under the alert threshold
//! publishes a warning; any failure publishes an alert and fails the execution.
//!
//! Deployment values are `@@name@@` placeholders inside JSON strings, so the file is valid ASL
//! as rendered and Terraform substitutes them: `@@cluster_arn@@`, `@@task_definition_arn@@`,
//! `@@container_name@@`, `@@alert_topic_arn@@`, and the lists `"@@subnet_ids@@"`,
//! `"@@security_group_ids@@"` (replaced with their quotes by a JSON array).

use lakejob_engine::ExitClass;
use serde_json::{Map, Value, json};

use crate::JobsError;
use crate::pipeline::{PipelineSpec, StageSpec, layers};
use crate::plan::Problem;

/// Scores under this publish a quality warning (the gate itself is each job's `min_score`).
pub const ALERT_SCORE: f64 = 0.99;
/// The longest a job task may run.
const TASK_TIMEOUT_SECONDS: u64 = 4 * 3600;

/// One state machine fragment: states and the names of its first and last states.
struct Chain {
    states: Map<String, Value>,
    first: String,
    last: String,
}

fn job_task(job: &str, next: &str) -> Value {
    let mut task = ecs_task(
        format!("lakejob run {job} for one date; the container reports with the task token"),
        json!({ "Command.$": format!("States.Array('run', '{job}', '--date', $.date, '--output', 'json')") }),
        next,
    );
    task["ResultSelector"] = json!({
        "job.$": "$.job",
        "status.$": "$.status",
        "score.$": "$.quality.score",
        "rows_out.$": "$.rows_out"
    });
    task["ResultPath"] = json!("$.last");
    task
}

/// An ECS task running the lakejob container with `command` (a `Command` or `Command.$`
/// entry), reporting with its task token, retried only when retrying can help.
fn ecs_task(comment: String, command: Value, next: &str) -> Value {
    let mut container = json!({
        "Name": "@@container_name@@",
        "Environment": [{ "Name": "LAKEJOB_TASK_TOKEN", "Value.$": "$$.Task.Token" }]
    });
    if let (Some(container), Some(command)) = (container.as_object_mut(), command.as_object()) {
        container.extend(command.clone());
    }
    json!({
        "Type": "Task",
        "Comment": comment,
        "Resource": "arn:aws:states:::ecs:runTask.waitForTaskToken",
        "Parameters": {
            "Cluster": "@@cluster_arn@@",
            "TaskDefinition": "@@task_definition_arn@@",
            "LaunchType": "FARGATE",
            "NetworkConfiguration": {
                "AwsvpcConfiguration": {
                    "Subnets": "@@subnet_ids@@",
                    "SecurityGroups": "@@security_group_ids@@",
                    "AssignPublicIp": "DISABLED"
                }
            },
            "Overrides": { "ContainerOverrides": [container] }
        },
        "TimeoutSeconds": TASK_TIMEOUT_SECONDS,
        "ResultPath": null,
        "Retry": [{
            "ErrorEquals": [ExitClass::Retryable.error_name(), "States.Timeout", "ECS.AmazonECSException"],
            "IntervalSeconds": 60,
            "MaxAttempts": 3,
            "BackoffRate": 2.0
        }],
        "Next": next
    })
}

/// A job's task, then a Choice on its score that publishes a warning when it is low.
fn job_states(job: &str, next: Option<&str>, states: &mut Map<String, Value>) -> String {
    let task = job.to_string();
    let check = format!("{job} score");
    let warn = format!("{job} quality warning");
    let after = next.map_or_else(|| format!("{job} done"), str::to_string);
    states.insert(task.clone(), job_task(job, &check));
    states.insert(
        check.clone(),
        json!({
            "Type": "Choice",
            "Choices": [{ "Variable": "$.last.score", "NumericLessThan": ALERT_SCORE, "Next": warn }],
            "Default": after
        }),
    );
    states.insert(
        warn,
        json!({
            "Type": "Task",
            "Resource": "arn:aws:states:::sns:publish",
            "Parameters": {
                "TopicArn": "@@alert_topic_arn@@",
                "Subject": format!("lakejob {job}: quality score under {ALERT_SCORE}"),
                "Message.$": "States.JsonToString($.last)"
            },
            "ResultPath": null,
            "Next": after
        }),
    );
    if next.is_none() {
        states.insert(after, json!({ "Type": "Pass", "End": true }));
    }
    task
}

/// A stage: its jobs one after the other, ending in its last state.
fn stage_chain(stage: &StageSpec) -> Chain {
    let mut states = Map::new();
    let mut first = String::new();
    let mut next: Option<String> = None;
    for job in stage.jobs.iter().rev() {
        first = job_states(job, next.as_deref(), &mut states);
        next = Some(first.clone());
    }
    let last = stage
        .jobs
        .last()
        .map(|job| format!("{job} done"))
        .unwrap_or_default();
    Chain {
        states,
        first,
        last,
    }
}

/// The pipeline for one date: layers in order, a layer of several stages as a Parallel state.
fn date_processor(spec: &PipelineSpec) -> Result<Value, JobsError> {
    let layers = layers(spec).ok_or_else(|| JobsError::Invalid {
        file: format!("pipeline {}", spec.name),
        job: spec.name.clone(),
        problems: vec![Problem::new("stages", "the `after` links form a cycle")],
    })?;
    let mut states = Map::new();
    let mut entry: Option<String> = None;
    let mut previous_last: Option<String> = None;
    for (index, layer) in layers.iter().enumerate() {
        let (first, last) = match layer.as_slice() {
            [stage] => {
                let chain = stage_chain(stage);
                states.extend(chain.states);
                (chain.first, chain.last)
            }
            stages => {
                let name = format!(
                    "stages {}",
                    stages
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let branches: Vec<Value> = stages
                    .iter()
                    .map(|stage| {
                        let chain = stage_chain(stage);
                        json!({ "StartAt": chain.first, "States": chain.states })
                    })
                    .collect();
                let joined = format!("layer {index} done");
                states.insert(
                    name.clone(),
                    json!({
                        "Type": "Parallel",
                        "Branches": branches,
                        "ResultPath": null,
                        "Next": joined
                    }),
                );
                states.insert(joined.clone(), json!({ "Type": "Pass", "End": true }));
                (name, joined)
            }
        };
        // Link the previous layer's end to this layer's start.
        if let Some(previous) = previous_last.take()
            && let Some(state) = states.get_mut(&previous)
        {
            *state = json!({ "Type": "Pass", "Next": first });
        }
        entry.get_or_insert(first);
        previous_last = Some(last);
    }
    Ok(json!({
        "ProcessorConfig": { "Mode": "INLINE" },
        "StartAt": entry.unwrap_or_default(),
        "States": states
    }))
}

/// The state machine of a pipeline, as ASL JSON.
pub fn render_asl(spec: &PipelineSpec) -> Result<Value, JobsError> {
    let mut machine = dates_machine(spec)?;
    if spec.maintain
        && let Some(states) = machine["States"].as_object_mut()
    {
        let mut maintain = ecs_task(
            "lakejob maintain once every date ran: compaction, vacuum, checkpoints, record expiry"
                .into(),
            json!({ "Command": ["maintain", "--output", "json"] }),
            "done",
        );
        maintain["Catch"] =
            json!([{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "alert" }]);
        states.insert("maintain".into(), maintain);
        states["each date"]["Next"] = json!("maintain");
    }
    Ok(machine)
}

fn dates_machine(spec: &PipelineSpec) -> Result<Value, JobsError> {
    Ok(json!({
        "Comment": format!(
            "lakejob pipeline {}: {}. Input: {{\"dates\": [\"YYYY-MM-DD\" or a scheduled time, ...]}}",
            spec.name,
            spec.description.as_deref().unwrap_or("rendered by lakejob pipeline render")
        ),
        "StartAt": "each date",
        "States": {
            "each date": {
                "Type": "Map",
                "ItemsPath": "$.dates",
                "MaxConcurrency": 1,
                "ItemSelector": {
                    "date.$": "States.ArrayGetItem(States.StringSplit($$.Map.Item.Value, 'T'), 0)"
                },
                "ItemProcessor": date_processor(spec)?,
                "ResultPath": null,
                "Catch": [{ "ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "alert" }],
                "Next": "done"
            },
            "alert": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {
                    "TopicArn": "@@alert_topic_arn@@",
                    "Subject": format!("lakejob pipeline {} failed", spec.name),
                    "Message.$": "States.JsonToString($.error)"
                },
                "ResultPath": null,
                "Next": "failed"
            },
            "failed": {
                "Type": "Fail",
                "Error": "lakejob.PipelineFailed",
                "Cause": "a job failed or its quality gate held its output back; see the alert"
            },
            "done": { "Type": "Succeed" }
        }
    }))
}
