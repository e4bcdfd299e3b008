//! What deployment is built from: the rendered Step Functions definition (checked by the npm
//! `asl-validator`, which scripts/test installs, and kept in terraform/ for Terraform to load)
//! and the container image's Dockerfile.

use serde_json::Value;

use crate::support::{TestLake, workspace};

fn rendered() -> String {
    let output = TestLake::new().lakejob(&["pipeline", "render", "daily", "--format", "asl"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8 JSON")
}

/// Every state of a definition, nested ones (Map processors, Parallel branches) included.
fn all_states(definition: &Value, into: &mut Vec<(String, Value)>) {
    if let Some(states) = definition["States"].as_object() {
        for (name, state) in states {
            into.push((name.clone(), state.clone()));
            all_states(&state["ItemProcessor"], into);
            for branch in state["Branches"].as_array().into_iter().flatten() {
                all_states(branch, into);
            }
        }
    }
}

#[test]
fn the_daily_state_machine_is_valid_asl_and_runs_every_job_with_a_task_token() {
    let text = rendered();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &text).unwrap();
    let validator = std::env::var("LAKEJOB_ASL_VALIDATOR").unwrap_or_else(|_| {
        panic!("LAKEJOB_ASL_VALIDATOR is not set: run scripts/test, which installs asl-validator")
    });
    let checked = std::process::Command::new(validator)
        .args(["--json-path", &file.path().display().to_string()])
        .output()
        .expect("asl-validator runs");
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let definition: Value = serde_json::from_str(&text).unwrap();
    let top = &definition["States"]["each date"];
    assert_eq!(
        (&top["Type"], &top["ItemsPath"]),
        (&Value::from("Map"), &Value::from("$.dates")),
        "a Map over dates: one for a schedule, many for a backfill"
    );
    let mut states = Vec::new();
    all_states(&definition, &mut states);
    let tasks: Vec<&(String, Value)> = states
        .iter()
        .filter(|(name, s)| {
            s["Resource"] == "arn:aws:states:::ecs:runTask.waitForTaskToken" && name != "maintain"
        })
        .collect();
    let mut jobs: Vec<&str> = tasks.iter().map(|(name, _)| name.as_str()).collect();
    jobs.sort_unstable();
    assert_eq!(
        jobs,
        [
            "clickstream_events",
            "customer_summary",
            "funnel_daily",
            "product_enrichment",
            "product_performance",
            "product_ratings",
            "reviews_etl",
            "sales_daily",
            "sessions",
            "traffic_windows",
            "transaction_etl"
        ]
    );
    for (name, task) in &tasks {
        let overrides = &task["Parameters"]["Overrides"]["ContainerOverrides"][0];
        assert_eq!(overrides["Environment"][0]["Name"], "LAKEJOB_TASK_TOKEN");
        assert_eq!(overrides["Environment"][0]["Value.$"], "$$.Task.Token");
        assert!(overrides["Command.$"].as_str().unwrap().contains(&format!(
            "'run', '{name}', '--date', $.date, '--output', 'json'"
        )));
        let retried = task["Retry"][0]["ErrorEquals"].to_string();
        assert!(
            retried.contains("lakejob.Retryable")
                && !retried.contains("lakejob.BadInput")
                && !retried.contains("lakejob.QualityFailed"),
            "{name} retries only the retryable class: {retried}"
        );
    }
    let parallel = states
        .iter()
        .find(|(_, s)| s["Type"] == "Parallel")
        .expect("independent stages run in parallel");
    assert_eq!(parallel.1["Branches"].as_array().unwrap().len(), 3);
    assert!(
        states
            .iter()
            .any(|(_, s)| s["Type"] == "Choice" && s["Choices"][0]["Variable"] == "$.last.score"),
        "a Choice on the quality score"
    );
    assert_eq!(
        definition["States"]["each date"]["Catch"][0]["Next"],
        "alert"
    );
    // The pipeline declares maintenance: one task once every date ran, then done.
    let maintain = &definition["States"]["maintain"];
    assert_eq!(definition["States"]["each date"]["Next"], "maintain");
    assert_eq!(
        maintain["Parameters"]["Overrides"]["ContainerOverrides"][0]["Command"],
        serde_json::json!(["maintain", "--output", "json"])
    );
    assert_eq!(
        (&maintain["Next"], &maintain["Catch"][0]["Next"]),
        (&Value::from("done"), &Value::from("alert"))
    );
    assert_eq!(
        maintain["Retry"][0]["ErrorEquals"][0], "lakejob.Retryable",
        "maintenance retries only the retryable class"
    );

    // terraform/ loads the checked-in copy; it must be what the pipeline renders today.
    let kept = workspace().join("terraform/statemachine/daily.asl.json");
    if std::env::var_os("LAKEJOB_BLESS").is_some() {
        std::fs::write(&kept, &text).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&kept).unwrap_or_default(),
        text,
        "terraform/statemachine/daily.asl.json is stale: LAKEJOB_BLESS=1 cargo test -p lakejob deploy"
    );
}

#[test]
fn the_container_runs_the_binary_only_as_a_non_root_user() {
    let dockerfile = std::fs::read_to_string(workspace().join("Dockerfile")).unwrap();
    let final_stage = dockerfile.rsplit("\nFROM ").next().expect("a final stage");
    assert!(final_stage.contains("USER nonroot"), "{final_stage}");
    assert!(
        final_stage.contains("distroless"),
        "no shell or package manager in the image"
    );
    let copies: Vec<&str> = final_stage
        .lines()
        .filter(|l| l.starts_with("COPY"))
        .collect();
    assert_eq!(
        copies,
        ["COPY --from=build /lakejob /usr/local/bin/lakejob"],
        "the binary only"
    );
}

#[test]
fn runs_write_their_quality_score_as_cloudwatch_embedded_metrics() {
    let lake = TestLake::with_fixture();
    let output = lake
        .command(&["run", "reviews_etl", "--output", "json"])
        .env("LAKEJOB_METRICS", "emf")
        .output()
        .expect("lakejob runs");
    assert!(output.status.success());
    let metric: Value = String::from_utf8_lossy(&output.stderr)
        .lines()
        .find_map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(|v| v.get("_aws").is_some())
        })
        .expect("an embedded-metric line on stderr");
    let declared = &metric["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(declared["Namespace"], "lakejob");
    assert_eq!(declared["Dimensions"], serde_json::json!([["Job"], []]));
    assert_eq!(metric["Job"], "reviews_etl");
    assert_eq!(metric["QualityScore"], 1.0);
    assert!(metric["RowsOut"].as_u64().unwrap() > 0);
    let summary: Value = serde_json::from_slice(&output.stdout).expect("stdout stays the summary");
    assert_eq!(summary["job"], "reviews_etl");
}
