//! Starting a state machine execution of a job, for the trigger function
//! and the CLI's `start` alike.
//!
//! The execution name derives from the job ([`Job::execution_name`]), so a
//! second start of the same snapshot finds its execution there: that is
//! success, and nothing runs twice.

use aws_sdk_sfn::Client;
use aws_sdk_sfn::error::ProvideErrorMetadata;
use dbsnaplake_core::{Error, Job};
use tracing::info;

/// An execution of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execution {
    /// Its name, derived from the job.
    pub name: String,
    /// Its ARN.
    pub arn: String,
    /// Whether this call started it (false: it was there already).
    pub started: bool,
}

/// Error codes of StartExecution that a later attempt may not meet.
const TRANSIENT_CODES: [&str; 4] = [
    "ThrottlingException",
    "ExecutionLimitExceeded",
    "ServiceUnavailable",
    "InternalServerError",
];

/// Starts `job` on the state machine `state_machine_arn`. An execution of
/// the same name there already is success, with `started: false`. A failure
/// a retry may cure (throttling, the open-executions limit, no response) is
/// a transient [`Error::Service`], so that the caller's retries run.
pub async fn start(
    client: &Client,
    state_machine_arn: &str,
    job: &Job,
) -> Result<Execution, Error> {
    let name = job.execution_name();
    let input = serde_json::to_string(job).expect("a job serializes");
    let arn = format!(
        "{}:{name}",
        state_machine_arn.replacen(":stateMachine:", ":execution:", 1)
    );
    match client
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(&name)
        .input(input)
        .send()
        .await
    {
        // A duplicate of a running execution's start (same name, same
        // input) succeeds with the same ARN: nothing new runs.
        Ok(out) => {
            info!(execution = out.execution_arn(), "started");
            Ok(Execution {
                name,
                arn: out.execution_arn().to_string(),
                started: true,
            })
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_execution_already_exists()) =>
        {
            info!(execution = %arn, "already started");
            Ok(Execution {
                name,
                arn,
                started: false,
            })
        }
        Err(e) => {
            let transient = e
                .as_service_error()
                .is_none_or(|s| s.code().is_some_and(|c| TRANSIENT_CODES.contains(&c)));
            Err(Error::Service {
                call: format!("StartExecution on {state_machine_arn}"),
                message: e
                    .as_service_error()
                    .and_then(|s| s.message())
                    .map_or_else(|| e.to_string(), str::to_string),
                transient,
            })
        }
    }
}
