//! AWS adapters for lakejob: the lake on S3 ([`open_s3_lake`]), the AWS Glue Data Catalog
//! ([`GlueCatalog`]) behind the engine's catalog trait, Athena queries ([`AthenaQuery`]) and the
//! Step Functions task callback ([`TaskCallback`]). Credentials, region and endpoints come
//! from the standard AWS configuration chain (environment, profiles, SSO, ECS and EC2 roles);
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL_GLUE`) points them at an
//! S3- or Glue-compatible server.

mod athena;
mod glue;
mod s3;
mod step_functions;

pub use athena::{AthenaQuery, AthenaResult};
pub use glue::GlueCatalog;
pub use s3::open_s3_lake;
pub use step_functions::{TaskCallback, TaskToken};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// Errors of the AWS adapters.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// The lake location is not an `s3://bucket/prefix` URL.
    #[error("lake location '{location}' is not usable: {reason}")]
    Location {
        /// The location as given.
        location: String,
        /// What is wrong.
        reason: String,
    },
    /// The S3 client cannot be built.
    #[error("cannot open the S3 lake {location}: {source}")]
    S3 {
        /// The lake.
        location: String,
        /// object_store's error.
        source: object_store::Error,
    },
    /// A Glue call failed.
    #[error("Glue {operation} of {target} failed: {message}")]
    Glue {
        /// The API call.
        operation: &'static str,
        /// The database or table.
        target: String,
        /// The service's message.
        message: String,
    },
    /// An Athena call failed.
    #[error("Athena {operation} failed: {message}")]
    Athena {
        /// The API call.
        operation: &'static str,
        /// The service's message.
        message: String,
    },
    /// The query ran and did not succeed.
    #[error("Athena query {id} {state}: {reason}")]
    AthenaQuery {
        /// The query execution id.
        id: String,
        /// FAILED, CANCELLED or TIMED OUT.
        state: &'static str,
        /// Athena's reason.
        reason: String,
    },
    /// A Step Functions callback failed.
    #[error("Step Functions {operation} failed: {message}")]
    StepFunctions {
        /// The API call.
        operation: &'static str,
        /// The service's message.
        message: String,
    },
    /// The engine refused something.
    #[error(transparent)]
    Engine(#[from] lakejob_engine::EngineError),
}

/// The shared AWS configuration, loaded once per process: the standard chain, with retries
/// (exponential backoff with jitter) raised for throttled catalog calls.
pub async fn load_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::standard().with_max_attempts(8))
        .load()
        .await
}

/// A service error as `Code: message`, or the transport error.
pub(crate) fn sdk_message<E, R>(error: &aws_sdk_glue::error::SdkError<E, R>) -> String
where
    E: aws_sdk_glue::error::ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(service) => format!(
            "{}: {}",
            service.code().unwrap_or("error"),
            service.message().unwrap_or("no message")
        ),
        None => format!("{error:?}"),
    }
}
