//! How a command ended, in the one vocabulary the process exit code, the run summaries, the
//! Step Functions callback and the rendered state machine share: success, a failure worth
//! retrying, bad input that fails the same way every time, or a quality gate that held the
//! output back.

use serde::Serialize;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitClass {
    /// Exit 0.
    Succeeded,
    /// Exit 1: the same command may succeed later (storage, network, throttling, a lost race).
    Retryable,
    /// Exit 2: the job, its input, its tables or the command must change; a retry fails the
    /// same way.
    BadInput,
    /// Exit 3: the quality gate held the output back.
    QualityFailed,
}

impl ExitClass {
    /// The class of a failure: bad input or retryable.
    pub fn of_failure(bad_input: bool) -> Self {
        if bad_input {
            ExitClass::BadInput
        } else {
            ExitClass::Retryable
        }
    }

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitClass::Succeeded => 0,
            ExitClass::Retryable => 1,
            ExitClass::BadInput => 2,
            ExitClass::QualityFailed => 3,
        }
    }

    /// The class of a process exit code (a code lakejob does not use counts as retryable).
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => ExitClass::Succeeded,
            2 => ExitClass::BadInput,
            3 => ExitClass::QualityFailed,
            _ => ExitClass::Retryable,
        }
    }

    /// The error name a state machine routes on (`States.*` names are reserved).
    pub fn error_name(self) -> &'static str {
        match self {
            ExitClass::Succeeded => "lakejob.Succeeded",
            ExitClass::Retryable => "lakejob.Retryable",
            ExitClass::BadInput => "lakejob.BadInput",
            ExitClass::QualityFailed => "lakejob.QualityFailed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_has_its_own_code_and_name_and_codes_map_back() {
        let all = [
            ExitClass::Succeeded,
            ExitClass::Retryable,
            ExitClass::BadInput,
            ExitClass::QualityFailed,
        ];
        for class in all {
            assert_eq!(ExitClass::from_code(class.code()), class);
        }
        assert_eq!(ExitClass::from_code(101), ExitClass::Retryable);
        assert_eq!(
            ExitClass::QualityFailed.error_name(),
            "lakejob.QualityFailed"
        );
    }
}
