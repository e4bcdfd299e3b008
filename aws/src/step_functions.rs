//! The Step Functions callback: a task started with a task token reports how the run ended,
//! SendTaskSuccess with the run's JSON summary, or SendTaskFailure with an error name the
//! state machine can route on (its Retry matches only the retryable one). The token is a
//! credential: it is never logged or printed.

use std::fmt;

use aws_config::SdkConfig;
use aws_sdk_sfn::Client;

use lakejob_engine::ExitClass;

use crate::AwsError;

/// Step Functions' limits on a failure's `error` and `cause` and a success's `output`.
const ERROR_LIMIT: usize = 256;
const CAUSE_LIMIT: usize = 32_768;
const OUTPUT_LIMIT: usize = 262_144;

/// A task token, kept out of logs and debug output.
#[derive(Clone)]
pub struct TaskToken(String);

impl TaskToken {
    /// Wraps a token as the state machine passed it.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }
}

impl fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TaskToken(***)")
    }
}

/// Cuts text to at most `limit` bytes on a character boundary.
fn clip(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Sends the result of a run back to the state machine that started it.
#[derive(Debug)]
pub struct TaskCallback {
    client: Client,
    token: TaskToken,
}

impl TaskCallback {
    /// A callback for `token` with the configuration's credentials, region and endpoint.
    pub fn new(config: &SdkConfig, token: TaskToken) -> Self {
        Self {
            client: Client::new(config),
            token,
        }
    }

    /// Reports the run: success with `output` (JSON), or failure with the outcome's error
    /// name and `output` as the cause.
    pub async fn report(&self, outcome: ExitClass, output: &str) -> Result<(), AwsError> {
        let failed = |operation: &'static str, message: String| AwsError::StepFunctions {
            operation,
            message,
        };
        if outcome == ExitClass::Succeeded {
            if output.len() > OUTPUT_LIMIT {
                return Err(failed(
                    "SendTaskSuccess",
                    format!(
                        "the summary is {} bytes, over Step Functions' {OUTPUT_LIMIT}",
                        output.len()
                    ),
                ));
            }
            self.client
                .send_task_success()
                .task_token(&self.token.0)
                .output(output)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failed("SendTaskSuccess", crate::sdk_message(&e)))
        } else {
            self.client
                .send_task_failure()
                .task_token(&self.token.0)
                .error(clip(outcome.error_name(), ERROR_LIMIT))
                .cause(clip(output, CAUSE_LIMIT))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failed("SendTaskFailure", crate::sdk_message(&e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_stay_hidden_and_texts_are_clipped_on_characters() {
        assert_eq!(
            format!("{:?}", TaskToken::new("secret-token")),
            "TaskToken(***)"
        );
        assert_eq!(clip("ééé", 3), "é");
    }
}
