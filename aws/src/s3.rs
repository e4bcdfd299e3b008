//! The lake on S3: an object_store S3 client whose credentials come from the AWS SDK's chain,
//! with conditional puts on, so Delta commits and ledger claims are create-if-absent writes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use lakejob_engine::Lake;
use object_store::aws::{AmazonS3Builder, AwsCredential, S3ConditionalPut};
use object_store::{CredentialProvider, RetryConfig};
use url::Url;

use crate::AwsError;

/// Hands the SDK's credentials (refreshed as they expire) to object_store's S3 client.
#[derive(Debug)]
struct SdkCredentials(SharedCredentialsProvider);

#[async_trait]
impl CredentialProvider for SdkCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let credentials =
            self.0
                .provide_credentials()
                .await
                .map_err(|e| object_store::Error::Generic {
                    store: "S3",
                    source: Box::new(e),
                })?;
        Ok(Arc::new(AwsCredential {
            key_id: credentials.access_key_id().to_string(),
            secret_key: credentials.secret_access_key().to_string(),
            token: credentials.session_token().map(str::to_string),
        }))
    }
}

/// The endpoint S3 calls go to when not AWS itself: the service-specific variable first.
fn s3_endpoint(config: &SdkConfig) -> Option<String> {
    std::env::var("AWS_ENDPOINT_URL_S3")
        .ok()
        .filter(|e| !e.is_empty())
        .or_else(|| config.endpoint_url().map(str::to_string))
}

/// Opens `s3://bucket/prefix` as a lake. A failed request (5xx, throttling, a dropped or
/// refused connection) is retried with exponential backoff and jitter for up to
/// `retry_timeout` from its first attempt; then the error reaches the run, which fails as
/// retryable.
pub async fn open_s3_lake(
    location: &str,
    config: &SdkConfig,
    retry_timeout: Duration,
) -> Result<Lake, AwsError> {
    let bad = |reason: &str| AwsError::Location {
        location: location.to_string(),
        reason: reason.to_string(),
    };
    let root = Url::parse(location).map_err(|e| bad(&e.to_string()))?;
    if root.scheme() != "s3" {
        return Err(bad("write it as s3://bucket/prefix"));
    }
    let bucket = root
        .host_str()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| bad("the URL names no bucket"))?;
    let region = config
        .region()
        .map_or_else(|| "us-east-1".to_string(), |r| r.to_string());
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(bucket)
        .with_region(region)
        .with_conditional_put(S3ConditionalPut::ETagMatch)
        .with_retry(RetryConfig {
            retry_timeout,
            ..RetryConfig::default()
        });
    if let Some(provider) = config.credentials_provider() {
        builder = builder.with_credentials(Arc::new(SdkCredentials(provider)));
    }
    if let Some(endpoint) = s3_endpoint(config) {
        builder = builder
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false)
            .with_endpoint(endpoint);
    }
    let store = builder.build().map_err(|source| AwsError::S3 {
        location: location.to_string(),
        source,
    })?;
    Ok(Lake::with_store(location, root, Arc::new(store))?)
}
