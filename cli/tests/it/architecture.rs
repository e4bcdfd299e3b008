//! The crate graph keeps the shape docs/design.md gives it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

use crate::support::workspace;

/// Layers: a crate may depend only on crates of a lower layer, which also rules out cycles.
fn layer(name: &str) -> Option<u8> {
    match name {
        "lakejob-engine" => Some(0),
        "lakejob-catalog" | "lakejob-aws" | "lakejob-quality" | "lakejob-sample-data" => Some(1),
        "lakejob-jobs" => Some(2),
        "lakejob" | "lakejob-benches" => Some(3),
        _ => None,
    }
}

fn is_aws_sdk(name: &str) -> bool {
    [
        "aws-sdk-",
        "aws-config",
        "aws-smithy-",
        "aws-types",
        "aws-runtime",
        "aws-credential-types",
        "aws-sigv4",
    ]
    .iter()
    .any(|prefix| name.starts_with(prefix))
}

#[test]
fn crates_point_toward_the_engine_and_the_engine_names_no_aws_service() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(workspace().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let names: BTreeMap<&str, &str> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default(),
                p["name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    // Normal (non-dev, non-build) dependencies of every package.
    let mut normal: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
    {
        let id = node["id"].as_str().unwrap_or_default();
        let deps = node["deps"].as_array().expect("deps").iter().filter(|dep| {
            dep["dep_kinds"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k["kind"].is_null()))
        });
        normal.insert(
            id,
            deps.map(|d| d["pkg"].as_str().unwrap_or_default())
                .collect(),
        );
    }
    let mut workspace_crates = 0;
    for (id, deps) in &normal {
        let Some(from) = layer(names[id]) else {
            continue;
        };
        workspace_crates += 1;
        for dep in deps {
            if let Some(to) = layer(names[dep]) {
                assert!(
                    to < from,
                    "{} must not depend on {} (arrows point toward engine)",
                    names[id],
                    names[dep]
                );
            }
        }
    }
    assert_eq!(workspace_crates, 8, "every workspace crate has a layer");

    let engine = names
        .iter()
        .find(|(_, name)| **name == "lakejob-engine")
        .map(|(id, _)| *id)
        .expect("engine");
    let mut seen = BTreeSet::new();
    let mut stack = vec![engine];
    while let Some(id) = stack.pop() {
        if seen.insert(id) {
            assert!(
                !is_aws_sdk(names[id]),
                "lakejob-engine depends on the AWS crate {}",
                names[id]
            );
            stack.extend(normal.get(id).into_iter().flatten().copied());
        }
    }
}
