//! `dbsnaplake init`: a job written for a source the user points at.
//!
//! [`propose`] finds what the source is (an RDS / Aurora export folder, a
//! DynamoDB export, a folder with a snapshot manifest, or a folder of
//! Parquet, NDJSON or CSV files), then runs steps 0 and 1.1 into a scratch
//! folder to learn its tables, their columns and their sizes (the footers or
//! records those steps read anyway), and suggests for each table:
//!
//! - `partition_by` year and month of its time column (a timestamp or date,
//!   one named like `created_at` first) when the table holds more than one
//!   lake file's worth of bytes; none for a smaller table, whose lake is one
//!   file anyway;
//! - `sort_by` its key (a column `id`, `<table>_id`, `<singular>_id` or
//!   `pk`, or a first column named `…_id`), or else its time column.
//!
//! Staging and datalake follow the seed's layout below the lake root:
//! `<root>/staging/<db>/snapshot=<time>/` and
//! `<root>/datalake/<db>/snapshot=<time>/`, the time the export's own (an RDS
//! `snapshotTime`, a DynamoDB `exportTime`) or else now.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{DataType, Schema};
use serde_json::{Value, json};

use crate::config::{DEFAULT_FILE_SIZE, InputFormat, S3Settings};
use crate::error::{Error, Result};
use crate::manifest::{ManifestSummary, read_manifest};
use crate::read::text;
use crate::schema::TableSchemas;
use crate::steps::{Run, import, plan_snapshot, read_json};
use crate::storage::{StorageRef, Stores, file_name, join};
use crate::{Job, catalog};

/// What [`propose`] found and chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// The job, as its JSON file should read.
    pub job: Value,
    /// What was chosen, and why, one line each.
    pub notes: Vec<String>,
}

/// What kind of source a folder is.
async fn detect(store: &StorageRef, folder: &str) -> Result<(Value, String)> {
    let objects = store.list(folder).await?;
    let names: Vec<&str> = objects
        .iter()
        .filter_map(|o| o.uri.strip_prefix(folder))
        .map(|rel| rel.trim_start_matches('/'))
        .collect();
    if names
        .iter()
        .any(|n| !n.contains('/') && n.starts_with("export_info_") && n.ends_with(".json"))
    {
        return Ok((
            json!({"rds_export": folder}),
            "an RDS / Aurora snapshot export (export_info_*.json)".into(),
        ));
    }
    if let Some(n) = names.iter().find(|n| {
        n.ends_with("manifest-summary.json")
            && (folder.contains("AWSDynamoDB/") || n.contains("AWSDynamoDB/"))
    }) {
        let root = format!("{folder}{}", n.trim_end_matches("manifest-summary.json"));
        return Ok((
            json!({"dynamodb_export": root}),
            "a DynamoDB export (AWSDynamoDB/<id>/manifest-summary.json)".into(),
        ));
    }
    if names.contains(&"manifests/manifest-summary.json") {
        return Ok((
            json!({"manifest": join(folder, "manifests/manifest-summary.json")}),
            "a snapshot with its manifest (manifests/manifest-summary.json)".into(),
        ));
    }
    let count = |format| {
        names
            .iter()
            .filter(|n| {
                let name = file_name(n);
                !name.starts_with(['_', '.']) && text::is_file_of(format, name)
            })
            .count()
    };
    let (format, n) = [InputFormat::Parquet, InputFormat::Ndjson, InputFormat::Csv]
        .into_iter()
        .map(|f| (f, count(f)))
        .max_by_key(|(_, n)| *n)
        .expect("three formats");
    if n == 0 {
        return Err(Error::bad_data(
            folder,
            "no export, manifest or data file (.parquet, .json/.jsonl/.ndjson, .csv, optionally .gz) found here",
        ));
    }
    let format = serde_json::to_value(format).expect("a format serializes");
    Ok((
        json!({"files": folder, "format": format}),
        format!("a folder of {n} {} files", format.as_str().unwrap_or("")),
    ))
}

/// Proposes a job for the snapshot at `source` whose staging and datalake
/// folders go below `lake_root`, using `scratch` (emptied after) to run
/// steps 0 and 1.1; S3 is reached with `s3` (and `endpoint_url`).
pub async fn propose(
    source: &str,
    lake_root: &str,
    scratch: &Path,
    s3: &S3Settings,
    endpoint_url: Option<&str>,
) -> Result<Proposal> {
    let folder = if source.ends_with('/') {
        source.to_string()
    } else {
        format!("{source}/")
    };
    let probe_job = |source: &Value| -> Result<Job> {
        Job::from_json(
            &json!({
                "source": source,
                "staging": scratch.join("staging").to_string_lossy(),
                "datalake": scratch.join("datalake").to_string_lossy(),
                "s3": s3,
            })
            .to_string(),
        )
    };
    let placeholder = probe_job(&json!({"files": folder}))?;
    let store: StorageRef = Arc::new(Stores::for_job(&placeholder, endpoint_url).await);
    let (source_json, kind) = detect(&store, &folder).await?;
    let run = Run::new(probe_job(&source_json)?, store);
    let result = survey(&run).await;
    let _ = std::fs::remove_dir_all(scratch);
    let (summary, tables, sizes) = result?;

    let mut notes = vec![format!("{source}: {kind}")];
    let time = catalog::snapshot_time(&summary, "")
        .map(|t| seconds(&t))
        .unwrap_or_else(now);
    let db = database(&source_json, &summary, &tables, &folder);
    let root = lake_root.trim_end_matches('/');
    let staging = format!("{root}/staging/{db}/snapshot={time}/");
    let datalake = format!("{root}/datalake/{db}/snapshot={time}/");
    notes.push(format!(
        "staging {staging}, datalake {datalake} (the seed's layout; snapshot time {time})"
    ));
    let mut specs = serde_json::Map::new();
    for (table, resolved) in &tables {
        let schema = resolved.schema(table)?;
        let bytes = sizes.get(table).copied().unwrap_or(0);
        let (spec, why) = suggest(table, &schema, bytes);
        notes.push(format!("{table}: {why}"));
        specs.insert(table.clone(), spec);
    }
    let mut job = json!({
        "source": source_json,
        "staging": staging,
        "datalake": datalake,
        "tables": specs,
    });
    if *s3 != S3Settings::default() {
        job["s3"] = serde_json::to_value(s3).expect("settings serialize");
    }
    // What is proposed must be a job that runs as it is.
    Job::from_json(&job.to_string())?.check()?;
    Ok(Proposal { job, notes })
}

/// Steps 0 and 1.1 of the probe run: the manifest summary, the tables'
/// schemas, and each table's bytes.
async fn survey(run: &Run) -> Result<(ManifestSummary, TableSchemas, BTreeMap<String, u64>)> {
    let summary = import::import(run).await?;
    plan_snapshot::plan_snapshot(run).await?;
    let tables: TableSchemas = read_json(run, &run.layout.schemas())
        .await?
        .ok_or_else(|| Error::Internal("step 1.1 wrote no schemas".into()))?;
    let (_, files) = read_manifest(&run.store, &run.snapshot_manifest()).await?;
    let mut sizes = BTreeMap::new();
    for f in files {
        *sizes
            .entry(f.table.unwrap_or_else(|| "*".into()))
            .or_insert(0) += f.size;
    }
    Ok((summary, tables, sizes))
}

/// The database name of the layout: the tables' database, a DynamoDB
/// export's table, or the folder's name.
fn database(
    source: &Value,
    summary: &ManifestSummary,
    tables: &TableSchemas,
    folder: &str,
) -> String {
    let from_tables = tables
        .keys()
        .find(|t| *t != "*")
        .and_then(|t| t.split('/').next());
    let dynamodb = summary
        .details
        .snapshot
        .dynamodb_export
        .as_ref()
        .and_then(|d| d.task.get("tableArn"))
        .and_then(Value::as_str)
        .and_then(|arn| arn.rsplit('/').next());
    let name = from_tables
        .or(dynamodb)
        .map(str::to_string)
        .unwrap_or_else(|| {
            let trimmed = folder.trim_end_matches('/');
            let last = file_name(trimmed);
            // A snapshot folder's data/ says nothing: name it after its parent.
            if last == "data" && source.get("files").is_some() {
                file_name(trimmed.trim_end_matches("/data")).to_string()
            } else {
                last.to_string()
            }
        });
    name.replace(['/', ':', ' '], "-")
}

/// The suggested spec of `table` (its `schema`, `bytes` of it), and why.
pub fn suggest(table: &str, schema: &Schema, bytes: u64) -> (Value, String) {
    let time = time_column(schema);
    let key = key_column(table, schema);
    let mut spec = serde_json::Map::new();
    let mut why = Vec::new();
    match (&time, bytes > DEFAULT_FILE_SIZE) {
        (Some(t), true) => {
            spec.insert(
                "partition_by".into(),
                json!([{"name": "year", "from": t, "fn": "year"},
                       {"name": "month", "from": t, "fn": "month"}]),
            );
            why.push(format!("partitioned by year/month of {t}"));
        }
        (Some(_), false) => why.push(format!(
            "not partitioned ({} MiB: one lake file holds it)",
            bytes >> 20
        )),
        (None, _) => why.push("not partitioned (no timestamp or date column)".into()),
    }
    match key.or(time) {
        Some(c) => {
            spec.insert("sort_by".into(), json!([{"column": c}]));
            why.push(format!("sorted by {c}"));
        }
        None => why.push("unsorted (no key or time column found)".into()),
    }
    (Value::Object(spec), why.join(", "))
}

/// The table's time column: a timestamp or date, one named like a creation
/// time first.
fn time_column(schema: &Schema) -> Option<String> {
    let temporal: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| {
            matches!(
                f.data_type(),
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            )
        })
        .map(|f| f.name().as_str())
        .collect();
    let named = |words: &[&str]| {
        temporal
            .iter()
            .find(|n| words.iter().any(|w| n.to_lowercase().contains(w)))
            .copied()
    };
    named(&["created", "inserted"])
        .or_else(|| named(&["_at", "time", "date"]))
        .or_else(|| temporal.first().copied())
        .map(str::to_string)
}

/// The table's key column by name: `id`, `<table>_id`, `<singular>_id`,
/// `pk`, else the first column when it is named like a key (`…_id`).
fn key_column(table: &str, schema: &Schema) -> Option<String> {
    let name = table.rsplit('/').next().unwrap_or(table).to_lowercase();
    let singular = name.strip_suffix('s').unwrap_or(&name).to_string();
    let candidates = [
        "id".to_string(),
        format!("{name}_id"),
        format!("{singular}_id"),
        "pk".to_string(),
    ];
    let named = candidates.iter().find_map(|c| {
        schema
            .fields()
            .iter()
            .find(|f| f.name().to_lowercase() == *c)
            .map(|f| f.name().clone())
    });
    named.or_else(|| {
        let first = schema.fields().first()?;
        first
            .name()
            .to_lowercase()
            .ends_with("_id")
            .then(|| first.name().clone())
    })
}

/// An ISO-8601 time to whole seconds, `Z` (`2024-06-01T04:00:00.000Z` →
/// `2024-06-01T04:00:00Z`).
fn seconds(t: &str) -> String {
    match crate::partition::parse_iso8601(t) {
        Some(time) => time.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        None => t.to_string(),
    }
}

/// Now, to the second.
fn now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    stamp(secs)
}

fn stamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{Field, TimeUnit};

    fn schema(fields: &[(&str, DataType)]) -> Schema {
        Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn a_large_table_is_partitioned_by_its_creation_time_and_sorted_by_its_key() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let s = schema(&[
            ("updated_at", ts.clone()),
            ("order_id", DataType::Int64),
            ("created_at", ts),
        ]);
        let (spec, why) = suggest("mydb/public/orders", &s, 1 << 30);
        assert_eq!(spec["partition_by"][0]["from"], "created_at");
        assert_eq!(spec["partition_by"][1]["fn"], "month");
        assert_eq!(spec["sort_by"], json!([{"column": "order_id"}]));
        assert!(
            why.contains("partitioned by year/month of created_at"),
            "{why}"
        );
    }

    #[test]
    fn a_small_table_is_one_file_and_a_table_without_key_sorts_by_time() {
        let s = schema(&[("day", DataType::Date32), ("amount", DataType::Float64)]);
        let (spec, why) = suggest("t", &s, 10 << 20);
        assert!(spec.get("partition_by").is_none(), "{spec}");
        assert_eq!(spec["sort_by"], json!([{"column": "day"}]));
        assert!(why.contains("10 MiB"), "{why}");
        let (spec, why) = suggest("t", &schema(&[("x", DataType::Utf8)]), 1 << 30);
        assert_eq!(spec, json!({}));
        assert!(why.contains("no timestamp"), "{why}");
    }

    #[test]
    fn export_times_become_whole_seconds() {
        assert_eq!(seconds("2024-06-01T04:00:00.000Z"), "2024-06-01T04:00:00Z");
        assert_eq!(now().len(), "2024-06-01T04:00:00Z".len());
    }
}
