//! Integration tests of the `lakejob` binary, run as users run it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod architecture;
mod aws;
mod aws_faults;
#[cfg(feature = "ballista")]
mod ballista;
mod clickstream;
mod concurrency;
mod config_errors;
mod crash;
mod deploy;
mod golden;
mod incremental;
mod ingest;
mod maintenance;
#[cfg(target_os = "linux")]
mod memory;
mod own_data;
mod peers;
mod pipeline;
mod quality;
mod schema_evolution;
mod source_jobs;
mod streaming;
mod support;
mod transaction_etl;
