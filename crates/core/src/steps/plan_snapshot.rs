//! Step 1.1: split the snapshot into file groups, one per staging worker.
//!
//! Writes `manifests/snapshot-file-groups/manifest-summary/manifest-summary-<n>.json`
//! (+ data) for each group, `groups.json` (the Map's items) and `plan.json`
//! (statistics, the chosen group size and why). Groups never mix tables.
//! For Parquet snapshots it also decides each table's schema over the footers
//! of all its files ([`crate::schema`]) and records it in `schemas.json`
//! beside the plan, which every staging worker conforms its rows to.
//! Planning the same snapshot with the same settings again is a no-op.

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Run, read_json, write_groups, write_json};
use crate::config::{DataFormat, GroupSize};
use crate::error::{Error, Result};
use crate::grouping::{Count, FileStats, auto_group_size, balanced, best_fit_decreasing};
use crate::lake_file::check_schema;
use crate::layout::GroupKind;
use crate::manifest::{DataFile, fingerprint, read_manifest};
use crate::parquet_io::open;
use crate::schema::{TableSchema, TableSchemas, from_columns};
use crate::storage::{join, relative};

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
    /// URI of the group list (`groups.json`).
    pub groups: String,
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
    let plan_uri = join(&run.layout.manifests(), "snapshot-file-groups/plan.json");
    if let Some(old) = read_json::<SnapshotPlan>(run, &plan_uri).await?
        && old.snapshot_fingerprint == snapshot_fingerprint
        && old.group_size == group_size
        && old.snapshot_manifest == manifest_uri
    {
        info!(groups = old.n_group, "snapshot already planned");
        return Ok(old);
    }
    if run.job.source.data_format() == DataFormat::Parquet {
        let schemas = table_schemas(run, &files).await?;
        // Refuse a transform that cannot apply before any row is read.
        for (table, columns) in &schemas {
            let schema = from_columns(table, columns)?;
            let name = (table != "*").then_some(table.as_str());
            run.pipeline(name)
                .schema(&schema)
                .and_then(|out| check_schema(&run.job.output, &out))
                .map_err(|message| Error::Schema {
                    table: table.clone(),
                    message,
                })?;
        }
        write_json(run, &schemas_uri(run), &schemas).await?;
    }
    let table = |f: &DataFile| f.table.clone();
    let groups = match run.job.group_size {
        GroupSize::Bytes(_) => best_fit_decreasing(&files, group_size, table),
        GroupSize::Auto => balanced(&files, Count::AtMost(group_size), table),
    };
    let items = write_groups(run, GroupKind::SnapshotFileGroups, &groups).await?;
    let groups_uri = run.layout.group_list(GroupKind::SnapshotFileGroups);
    let plan = SnapshotPlan {
        snapshot_manifest: manifest_uri,
        snapshot_fingerprint,
        stats,
        group_size,
        reason,
        n_group: items.len(),
        groups: groups_uri,
    };
    write_json(run, &plan_uri, &plan).await?;
    info!(groups = plan.n_group, group_size, reason = %plan.reason, "snapshot planned");
    Ok(plan)
}

/// Where step 1.1 records the tables' schemas.
pub fn schemas_uri(run: &Run) -> String {
    join(&run.layout.manifests(), "snapshot-file-groups/schemas.json")
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
            Ok::<_, Error>(builder.schema().clone())
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
        .map(|(name, t)| (name, t.columns()))
        .collect())
}
