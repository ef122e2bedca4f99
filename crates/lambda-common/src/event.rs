//! What an EventBridge event asks the trigger for: the job of an
//! export-complete marker or of a scheduled run, from the job template.

use crate::StepError;
use dbsnaplake_core::{Error, Job};
use serde::Deserialize;

/// The parts of an EventBridge event the trigger reads.
#[derive(Debug, Deserialize)]
pub struct Event {
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

/// Fills the template, JSON-escaping the values.
pub fn fill(template: &str, export_uri: &str, export_name: &str, export_kind: &str) -> String {
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
pub fn job_for(event: &Event, template: &str) -> Result<Option<Job>, StepError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use dbsnaplake_core::config::Source;

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
            job.source,
            Source::RdsExport {
                uri: "s3://exports-bucket/rds/mydb-2026-11-20/".into(),
                restore_types: true,
                types: Default::default(),
            }
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
        assert!(matches!(
            &ddb.source,
            Source::DynamodbExport { uri, .. }
                if uri == "s3://exports-bucket/ddb/AWSDynamoDB/01700000000000-abcdef12/"
        ));
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
}
