//! Step 1.1: split the snapshot into file groups, one per staging worker.
//!
//! Writes `manifests/snapshot-file-groups/manifest-summary/manifest-summary-<n>.json`
//! (+ data) for each group, `groups.json` (the Map's items) and `plan.json`
//! (statistics, the chosen group size and why). Groups never mix tables.
//! For Parquet snapshots it also decides each table's schema over the footers
//! of all its files ([`crate::schema`]) and records it in `schemas.json`
//! beside the plan, which every staging worker conforms its rows to.
//! Planning the same snapshot with the same settings again is a no-op.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Run, read_json, write_groups, write_json};
use crate::catalog;
use crate::config::types::parse_type;
use crate::config::{DataFormat, GroupSize};
use crate::error::{Error, Result};
use crate::grouping::{
    Count, FileStats, auto_group_size, balanced, best_fit_decreasing, cap_files,
};
use crate::lake_file::check_schema;
use crate::layout::GroupKind;
use crate::manifest::{DataFile, fingerprint, read_manifest, read_summary};
use crate::parquet_io::{open, planned_schema};
use crate::read::{dynamodb, text};
use crate::restore::RestoredTypes;
use crate::schema::{ResolvedTable, TableSchema, TableSchemas};
use crate::storage::relative;

/// What step 1.1 decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotPlan {
    /// The snapshot manifest planned.
    pub snapshot_manifest: String,
    /// Fingerprint of the snapshot's file list.
    pub snapshot_fingerprint: String,
    /// Statistics of the snapshot's files.
    pub stats: FileStats,
    /// The group size used, in bytes.
    pub group_size: u64,
    /// Why that size.
    pub reason: String,
    /// Number of groups.
    pub n_group: usize,
    /// At most this many files a group (the job's `group_files`).
    #[serde(default)]
    pub group_files: usize,
    /// When groups of the size alone would have held more files: how many
    /// were split to stay under `group_files`, and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_cap: Option<FileCap>,
    /// URI of the group list (`groups.json`).
    pub groups: String,
}

/// Groups split because they held more than `group_files` files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCap {
    /// The cap, in files.
    pub files: usize,
    /// Groups of the size alone that held more.
    pub groups_split: usize,
    /// Why a cap.
    pub why: String,
}

/// Concurrency assumed when the job gives none (the Map's default).
pub const DEFAULT_CONCURRENCY: usize = 100;

/// Plans the snapshot file groups.
pub async fn plan_snapshot(run: &Run) -> Result<SnapshotPlan> {
    let manifest_uri = run.snapshot_manifest();
    let (_, files) = read_manifest(&run.store, &manifest_uri).await?;
    if files.is_empty() {
        return Err(Error::bad_data(
            &manifest_uri,
            "the snapshot manifest lists no file; nothing to convert",
        ));
    }
    // A manifest may list files anywhere: none may lie where this run writes
    // (staging would overwrite it, a lake file would be read as a snapshot).
    for (field, folder) in [
        ("staging", &run.job.staging),
        ("datalake", &run.job.datalake),
    ] {
        if let Some(f) = files.iter().find(|f| relative(folder, &f.uri).is_some()) {
            return Err(Error::bad_data(
                &manifest_uri,
                format!(
                    "lists {}, which is inside the job's {field} folder ({folder}); a snapshot must not live where the lake is built",
                    f.uri
                ),
            ));
        }
    }
    let snapshot_fingerprint = fingerprint(&files);
    let stats = FileStats::of(&files);
    let concurrency = run.job.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
    let (group_size, reason) = match run.job.group_size {
        GroupSize::Bytes(b) => (b, "pinned by the job's group_size".to_string()),
        GroupSize::Auto => auto_group_size(&stats, concurrency),
    };
    let plan_uri = run.layout.plan(GroupKind::SnapshotFileGroups);
    if let Some(old) = read_json::<SnapshotPlan>(run, &plan_uri).await?
        && old.snapshot_fingerprint == snapshot_fingerprint
        && old.group_size == group_size
        && old.group_files == run.job.group_files
        && old.snapshot_manifest == manifest_uri
    {
        info!(groups = old.n_group, "snapshot already planned");
        return Ok(old);
    }
    let schemas = resolve_schemas(run, &files).await?;
    // Refuse a transform that cannot apply before any row is read.
    for (table, resolved) in &schemas {
        let schema = resolved.schema(table)?;
        let name = (table != "*").then_some(table.as_str());
        run.pipeline(name)
            .schema(&schema)
            .and_then(|out| check_schema(&run.job.output, &out).map(|()| out))
            .and_then(|out| match &run.job.catalog {
                Some(c) => {
                    catalog::check_schema(c, &out, &run.job.table_spec(name), run.job.output.format)
                }
                None => Ok(()),
            })
            .map_err(|message| Error::Schema {
                table: table.clone(),
                message,
            })?;
    }
    write_json(run, &run.layout.schemas(), &schemas).await?;
    let table = |f: &DataFile| f.table.clone();
    let groups = match run.job.group_size {
        GroupSize::Bytes(_) => best_fit_decreasing(&files, group_size, table),
        GroupSize::Auto => balanced(&files, Count::AtMost(group_size), table),
    };
    let cap = run.job.group_files;
    let (groups, groups_split) = cap_files(groups, cap);
    let file_cap = (groups_split > 0).then(|| FileCap {
        files: cap,
        groups_split,
        why: format!(
            "a staging worker pays about one S3 request (~30 ms) per file; {cap} files a group keep an \
             invocation's requests and time bounded (job field group_files)"
        ),
    });
    let items = write_groups(run, GroupKind::SnapshotFileGroups, &groups).await?;
    let groups_uri = run.layout.group_list(GroupKind::SnapshotFileGroups);
    let plan = SnapshotPlan {
        snapshot_manifest: manifest_uri,
        snapshot_fingerprint,
        stats,
        group_size,
        reason,
        n_group: items.len(),
        group_files: cap,
        file_cap,
        groups: groups_uri,
    };
    write_json(run, &plan_uri, &plan).await?;
    info!(groups = plan.n_group, group_size, reason = %plan.reason, "snapshot planned");
    Ok(plan)
}

/// Every table's schema, resolved once for every staging worker: over
/// the footers of all its Parquet files; given in the job or inferred from
/// a sample of its text files; or from the attributes step 0 found in a
/// DynamoDB export.
async fn resolve_schemas(run: &Run, files: &[DataFile]) -> Result<TableSchemas> {
    let name = |t: &Option<String>| t.clone().unwrap_or_else(|| "*".into());
    match run.job.source.data_format() {
        DataFormat::Parquet => {
            let mut schemas = table_schemas(run, files).await?;
            let uri = run.snapshot_manifest();
            if let Some(rds) = read_summary(&run.store, &uri)
                .await?
                .details
                .snapshot
                .rds_export
            {
                restore_types(&mut schemas, &rds.types)?;
            }
            Ok(schemas)
        }
        DataFormat::Text { format, schema } => {
            let mut tables: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
            for f in files {
                tables.entry(name(&f.table)).or_default().push(f.clone());
            }
            let mut out = TableSchemas::new();
            for (table, files) in tables {
                let t = (table != "*").then_some(table.as_str());
                let s = text::table_schema(&run.store, format, schema, t, &files).await?;
                out.insert(table, ResolvedTable::of(&s));
            }
            Ok(out)
        }
        DataFormat::DynamodbJson => {
            let uri = run.snapshot_manifest();
            let columns = read_summary(&run.store, &uri)
                .await?
                .details
                .snapshot
                .dynamodb_export
                .map(|d| d.columns)
                .ok_or_else(|| {
                    Error::bad_data(
                        &uri,
                        "no dynamodb_export.columns: this snapshot manifest was not made by \
                         dbsnaplake's import of a DynamoDB export",
                    )
                })?;
            let resolved = ResolvedTable {
                attributes: Some(columns.clone()),
                ..ResolvedTable::of(&dynamodb::schema(&columns))
            };
            Ok(files
                .iter()
                .map(|f| (name(&f.table), resolved.clone()))
                .collect())
        }
    }
}

/// The tables' columns in the types step 0 restored ([`crate::restore`]).
fn restore_types(schemas: &mut TableSchemas, types: &RestoredTypes) -> Result<()> {
    for (table, columns) in types {
        let Some(resolved) = schemas.get_mut(table) else {
            continue;
        };
        for c in &mut resolved.columns {
            if let Some(t) = columns.get(&c.name) {
                c.data_type = parse_type(&t.lake)
                    .map_err(|m| Error::Schema {
                        table: table.clone(),
                        message: format!("column {:?}: restored type: {m}", c.name),
                    })?
                    .to_string();
            }
        }
    }
    Ok(())
}

/// Footers read at once while deciding schemas.
const FOOTERS_AT_ONCE: usize = 32;

/// Every table's schema over the footers of all its files, in manifest order
/// (those step 0 read in this process are not read again).
async fn table_schemas(run: &Run, files: &[DataFile]) -> Result<TableSchemas> {
    let schemas: Vec<arrow::datatypes::SchemaRef> = futures::stream::iter(files)
        .map(|f| async move {
            if let Some(schema) = run.take_footer_schema(&f.uri) {
                return Ok(schema);
            }
            // Read as staging will (a file changed since the manifest fails here).
            let builder = open(&run.store, &f.uri, f.size, f.etag.as_deref()).await?;
            Ok::<_, Error>(planned_schema(builder.schema(), builder.metadata()))
        })
        .buffered(FOOTERS_AT_ONCE)
        .try_collect()
        .await?;
    let mut tables: std::collections::BTreeMap<String, TableSchema> = Default::default();
    for (f, schema) in files.iter().zip(&schemas) {
        let name = f.table.as_deref().unwrap_or("*");
        tables
            .entry(name.to_string())
            .or_insert_with(|| TableSchema::new(name))
            .add(schema, &f.uri)?;
    }
    Ok(tables
        .into_iter()
        .map(|(name, t)| (name, ResolvedTable::of(&t.schema())))
        .collect())
}
