//! Lambda: starts one state machine execution per snapshot.
//!
//! Events (EventBridge): S3 "Object Created" for an export-complete marker —
//! an RDS/Aurora `export_info_*.json` or a DynamoDB `AWSDynamoDB/<id>/manifest-summary.json` —
//! or a "Scheduled Event". The job is `DBSNAPLAKE_JOB_TEMPLATE` with
//! `${ExportUri}` (the export folder, `s3://bucket/prefix`), `${ExportName}`
//! (its last segment) and `${ExportKind}` (the source field for that export:
//! `rds_export` or `dynamodb_export`) filled in; for a schedule, `${ScheduledTime}` (the
//! event's time, `2026-11-20T00-00-00Z`). The execution name derives from the job
//! ([`Job::execution_name`]), so a duplicate event finds the execution already
//! there and returns success without starting a second run.
//!
//! Environment: `DBSNAPLAKE_STATE_MACHINE_ARN`, `DBSNAPLAKE_JOB_TEMPLATE`.

use aws_sdk_sfn::Client;
use dbsnaplake_core::{Error, Job};
use dbsnaplake_lambda_common::{StepError, init_tracing};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};
use tracing::info;

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

/// The parts of an EventBridge event the trigger reads.
#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "detail-type")]
    detail_type: String,
    #[serde(default)]
    time: String,
    #[serde(default)]
    detail: Detail,
}

#[derive(Debug, Default, Deserialize)]
struct Detail {
    bucket: Option<Named>,
    object: Option<Key>,
}

#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Key {
    key: String,
}

/// What the trigger did.
#[derive(Debug, PartialEq, Serialize)]
struct Output {
    started: bool,
    execution_name: Option<String>,
    execution_arn: Option<String>,
    reason: String,
}

/// Fills the template, JSON-escaping the values.
fn fill(template: &str, export_uri: &str, export_name: &str, export_kind: &str) -> String {
    let esc = |s: &str| {
        let quoted = serde_json::to_string(s).expect("strings serialize");
        quoted[1..quoted.len() - 1].to_string()
    };
    template
        .replace("${ExportUri}", &esc(export_uri))
        .replace("${ExportName}", &esc(export_name))
        .replace("${ExportKind}", export_kind)
}

/// The job an event asks for; `None` for an object that is no export marker.
fn job_for(event: &Event, template: &str) -> Result<Option<Job>, StepError> {
    let text = match event.detail_type.as_str() {
        "Object Created" => {
            let (Some(bucket), Some(object)) = (&event.detail.bucket, &event.detail.object) else {
                return Err(Error::Job(
                    "an Object Created event without detail.bucket.name and detail.object.key"
                        .into(),
                )
                .into());
            };
            let (folder, file) = object
                .key
                .rsplit_once('/')
                .unwrap_or(("", object.key.as_str()));
            let rds = file.starts_with("export_info_") && file.ends_with(".json");
            let dynamodb = file == "manifest-summary.json" && folder.contains("AWSDynamoDB/");
            if !(rds || dynamodb) {
                return Ok(None);
            }
            let name = folder.rsplit('/').next().unwrap_or(folder);
            let kind = if rds { "rds_export" } else { "dynamodb_export" };
            fill(
                template,
                &format!("s3://{}/{folder}", bucket.name),
                name,
                kind,
            )
        }
        "Scheduled Event" => {
            if !template.contains("${ScheduledTime}") {
                return Err(Error::Job(
                    "a scheduled run needs ${ScheduledTime} in the job template (in staging and datalake), or every run would reuse the first one's folders and execution name".into(),
                )
                .into());
            }
            let stamp: String = event
                .time
                .chars()
                .map(|c| if c == ':' { '-' } else { c })
                .collect();
            template.replace("${ScheduledTime}", &stamp)
        }
        other => {
            return Err(Error::Job(format!(
                "unexpected event detail-type {other:?}: the trigger handles \"Object Created\" and \"Scheduled Event\""
            ))
            .into());
        }
    };
    Ok(Some(Job::from_json(&text)?))
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
    let name = job.execution_name();
    let input = serde_json::to_string(&job).expect("a job serializes");
    match client
        .start_execution()
        .state_machine_arn(&config.state_machine_arn)
        .name(&name)
        .input(input)
        .send()
        .await
    {
        Ok(out) => {
            // A duplicate of a running execution's start (same name, same input)
            // succeeds with the same ARN: nothing new runs.
            info!(execution = out.execution_arn(), "started");
            Ok(Output {
                started: true,
                execution_name: Some(name),
                execution_arn: Some(out.execution_arn().to_string()),
                reason: "started (or already running with the same input)".into(),
            })
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_execution_already_exists()) =>
        {
            let arn = config
                .state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1);
            Ok(Output {
                started: false,
                execution_arn: Some(format!("{arn}:{name}")),
                execution_name: Some(name),
                reason: "an execution for this snapshot exists already".into(),
            })
        }
        Err(e) => Err(Error::Storage {
            uri: config.state_machine_arn.clone(),
            message: format!("StartExecution failed: {e}"),
            transient: e.as_service_error().is_none(),
        }
        .into()),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = r#"{"source": {"${ExportKind}": "${ExportUri}/"},
        "staging": "s3://work/staging/${ExportName}", "datalake": "s3://work/lake/${ExportName}"}"#;

    fn event(fixture: &str) -> Event {
        serde_json::from_str(fixture).unwrap()
    }

    #[test]
    fn rds_and_dynamodb_markers_build_the_job() {
        let job = job_for(
            &event(include_str!("fixtures/rds-export-info.json")),
            TEMPLATE,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            job.source.rds_export.as_deref(),
            Some("s3://exports-bucket/rds/mydb-2026-11-20/")
        );
        assert_eq!(job.staging, "s3://work/staging/mydb-2026-11-20");
        let job2 = job_for(
            &event(include_str!("fixtures/rds-export-info.json")),
            TEMPLATE,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            job.execution_name(),
            job2.execution_name(),
            "a duplicate event gets the same name"
        );
        let ddb = job_for(
            &event(include_str!("fixtures/dynamodb-manifest-summary.json")),
            TEMPLATE,
        )
        .unwrap()
        .unwrap();
        assert_eq!(ddb.datalake, "s3://work/lake/01700000000000-abcdef12");
        assert_eq!(
            ddb.source.dynamodb_export.as_deref(),
            Some("s3://exports-bucket/ddb/AWSDynamoDB/01700000000000-abcdef12/")
        );
        assert_ne!(ddb.execution_name(), job.execution_name());
    }

    #[test]
    fn other_objects_are_ignored_and_odd_events_refused() {
        let text = include_str!("fixtures/rds-export-info.json")
            .replace("export_info_mydb-2026-11-20.json", "part-00001.parquet");
        assert!(job_for(&event(&text), TEMPLATE).unwrap().is_none());
        let e = job_for(
            &event(r#"{"detail-type": "Object Deleted", "detail": {}}"#),
            TEMPLATE,
        )
        .unwrap_err();
        assert!(
            e.0.to_string()
                .contains("unexpected event detail-type \"Object Deleted\"")
        );
        assert_eq!(e.name(), "dbsnaplake.BadInput");
    }

    #[test]
    fn schedules_stamp_their_time_and_keys_are_escaped() {
        let fixed = TEMPLATE
            .replace("${ExportKind}", "files")
            .replace("${ExportUri}", "s3://exports/nightly")
            .replace("${ExportName}", "${ScheduledTime}");
        let job = job_for(&event(include_str!("fixtures/schedule.json")), &fixed)
            .unwrap()
            .unwrap();
        assert_eq!(job.staging, "s3://work/staging/2026-11-20T00-00-00Z");
        let e = job_for(&event(include_str!("fixtures/schedule.json")), TEMPLATE).unwrap_err();
        assert!(
            e.0.to_string().contains("needs ${ScheduledTime}"),
            "{}",
            e.0
        );
        assert_eq!(
            fill("\"${ExportUri}\"", "s3://b/a\"b\\c", "x", "rds_export"),
            r#""s3://b/a\"b\\c""#
        );
    }

    /// Against moto's Step Functions API on loopback: a duplicate event starts nothing.
    #[tokio::test]
    async fn a_duplicate_event_starts_one_execution() {
        use aws_sdk_sfn::config::{BehaviorVersion, Credentials, Region};
        let moto = dbsnaplake_lambda_common::testing::Moto::start();
        let conf = aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .region(Region::new("us-east-1"))
            .endpoint_url(&moto.endpoint)
            .load()
            .await;
        let client = Client::new(&conf);
        let sm = client
            .create_state_machine()
            .name("dbsnaplake")
            .definition(include_str!("../../../statemachine/dbsnaplake.asl.json"))
            .role_arn("arn:aws:iam::123456789012:role/dbsnaplake")
            .send()
            .await
            .unwrap();
        let config = Config {
            state_machine_arn: sm.state_machine_arn().to_string(),
            job_template: TEMPLATE.to_string(),
        };
        let rds = include_str!("fixtures/rds-export-info.json");
        let first = handler(&client, &config, event(rds)).await.unwrap();
        assert!(first.started, "{first:?}");
        let again = handler(&client, &config, event(rds)).await.unwrap();
        assert_eq!(again.execution_name, first.execution_name);
        assert_eq!(
            again.execution_arn, first.execution_arn,
            "the same execution, not a second one"
        );
        let ddb = handler(
            &client,
            &config,
            event(include_str!("fixtures/dynamodb-manifest-summary.json")),
        )
        .await
        .unwrap();
        assert!(ddb.started);
        let listed = client
            .list_executions()
            .state_machine_arn(sm.state_machine_arn())
            .send()
            .await
            .unwrap();
        assert_eq!(listed.executions().len(), 2);
        let started = client
            .describe_execution()
            .execution_arn(format!(
                "{}:{}",
                sm.state_machine_arn()
                    .replace(":stateMachine:", ":execution:"),
                first.execution_name.unwrap()
            ))
            .send()
            .await
            .unwrap();
        let input: serde_json::Value = serde_json::from_str(started.input().unwrap()).unwrap();
        assert_eq!(
            input["source"]["rds_export"],
            "s3://exports-bucket/rds/mydb-2026-11-20/"
        );
    }
}
