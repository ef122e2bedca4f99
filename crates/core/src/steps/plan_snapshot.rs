//! Step 1.1: split the snapshot into file groups, one per staging worker.
//!
//! Writes `manifests/snapshot-file-groups/manifest-summary/manifest-summary-<n>.json`
//! (+ data) for each group, `groups.json` (the Map's items) and `plan.json`
//! (statistics, the chosen group size and why). Groups never mix tables.
//! Planning the same snapshot with the same settings again is a no-op.

use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Run, read_json, write_groups, write_json};
use crate::error::{Error, Result};
use crate::grouping::{FileStats, auto_group_size, best_fit_decreasing};
use crate::job::GroupSize;
use crate::layout::GroupKind;
use crate::manifest::{fingerprint, read_manifest};
use crate::storage::join;

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
    let groups = best_fit_decreasing(&files, group_size, |f| f.table.clone());
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
