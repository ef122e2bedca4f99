//! Lambda: starts one state machine execution per snapshot.
//!
//! Events (EventBridge): S3 "Object Created" for an export-complete marker —
//! an RDS/Aurora `export_info_*.json` or a DynamoDB `AWSDynamoDB/<id>/manifest-summary.json` —
//! or a "Scheduled Event". The job is `DBSNAPLAKE_JOB_TEMPLATE` with
//! `${ExportUri}` (the export folder, `s3://bucket/prefix`), `${ExportName}`
//! (its last segment) and `${ExportKind}` (the source field for that export:
//! `rds_export` or `dynamodb_export`) filled in; for a schedule, `${ScheduledTime}` (the
//! event's time, `2026-11-20T00-00-00Z`) ([`event`](dbsnaplake_lambda_common::event)). An execution of the
//! same snapshot there already is success ([`executions::start`]); a
//! failure a retry may cure is an error, so that it is retried.
//!
//! Environment: `DBSNAPLAKE_STATE_MACHINE_ARN`, `DBSNAPLAKE_JOB_TEMPLATE`.

#[cfg(test)]
mod tests;

use aws_sdk_sfn::Client;
use dbsnaplake_core::Job;
use dbsnaplake_lambda_common::event::{Event, fill, job_for};
use dbsnaplake_lambda_common::{StepError, executions, init_tracing};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Serialize;

/// Read once at cold start.
struct Config {
    state_machine_arn: String,
    job_template: String,
}

impl Config {
    fn from_env() -> Result<Self, String> {
        let get = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
        let job_template = get("DBSNAPLAKE_JOB_TEMPLATE")?;
        // Fail the cold start, not every event, on a template that cannot work.
        let probe = fill(&job_template, "s3://bucket/export", "export", "rds_export")
            .replace("${ScheduledTime}", "t");
        Job::from_json(&probe).map_err(|e| format!("DBSNAPLAKE_JOB_TEMPLATE: {e}"))?;
        Ok(Config {
            state_machine_arn: get("DBSNAPLAKE_STATE_MACHINE_ARN")?,
            job_template,
        })
    }
}

/// What the trigger did.
#[derive(Debug, PartialEq, Serialize)]
struct Output {
    started: bool,
    execution_name: Option<String>,
    execution_arn: Option<String>,
    reason: String,
}

async fn handler(client: &Client, config: &Config, event: Event) -> Result<Output, StepError> {
    let Some(job) = job_for(&event, &config.job_template)? else {
        return Ok(Output {
            started: false,
            execution_name: None,
            execution_arn: None,
            reason: "not an export-complete marker".into(),
        });
    };
    let e = executions::start(client, &config.state_machine_arn, &job).await?;
    Ok(Output {
        reason: if e.started {
            "started (or already running with the same input)".into()
        } else {
            "an execution for this snapshot exists already".into()
        },
        started: e.started,
        execution_name: Some(e.name),
        execution_arn: Some(e.arn),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    init_tracing();
    let config = Config::from_env()?;
    let client =
        Client::new(&aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await);
    let (client, config) = (&client, &config);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<Event>| {
        handler(client, config, e.payload)
    }))
    .await
}
