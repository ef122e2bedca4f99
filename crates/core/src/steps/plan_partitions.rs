//! Step 2.1: group the staging files of each partition for compaction.
//!
//! Reads the staging file group manifest of every planned snapshot group and
//! splits each (table, partition)'s files into groups of about `file_size`
//! bytes ([`balanced`]), so each compaction worker writes files close to the
//! target. Writes `manifests/partition-file-groups/…`, `groups.json` and
//! `plan.json`; replanning the same staging output is a no-op.

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tracing::info;

use super::{Run, read_group_list, read_json, write_groups, write_json};
use crate::error::{Error, Result};
use crate::grouping::{Count, balanced};
use crate::layout::GroupKind;
use crate::manifest::{DataFile, fingerprint, read_manifest};

/// What step 2.1 decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionPlan {
    /// Fingerprint of every staging file, with the target file size.
    pub staging_fingerprint: String,
    /// Target file size used.
    pub file_size: u64,
    /// Staging files planned.
    pub n_staging_file: usize,
    /// Their bytes.
    #[serde(default)]
    pub size: u64,
    /// Their records.
    #[serde(default)]
    pub n_record: u64,
    /// Number of partition file groups.
    pub n_group: usize,
    /// URI of the group list.
    pub groups: String,
}

/// Manifests read at once.
const READ_CONCURRENCY: usize = 32;

/// Plans the partition file groups.
pub async fn plan_partitions(run: &Run) -> Result<PartitionPlan> {
    let snapshot_groups = read_group_list(run, GroupKind::SnapshotFileGroups).await?;
    let lists: Vec<Vec<DataFile>> = futures::stream::iter(snapshot_groups)
        .map(|g| async move {
            let uri = run.layout.group_summary(GroupKind::StagingFileGroups, g.n);
            match read_manifest(&run.store, &uri).await {
                Ok((_, files)) => Ok(files),
                Err(Error::NotFound { .. }) => Err(Error::bad_data(
                    &uri,
                    format!(
                        "not found: snapshot file group {} has not been staged yet",
                        g.n
                    ),
                )),
                Err(e) => Err(e),
            }
        })
        .buffered(READ_CONCURRENCY)
        .try_collect()
        .await?;
    let files: Vec<DataFile> = lists.into_iter().flatten().collect();
    let file_size = run.job.file_size;
    let staging_fingerprint = format!("{}-{file_size}", fingerprint(&files));
    let plan_uri = run.layout.plan(GroupKind::PartitionFileGroups);
    if let Some(old) = read_json::<PartitionPlan>(run, &plan_uri).await?
        && old.staging_fingerprint == staging_fingerprint
    {
        info!(groups = old.n_group, "partitions already planned");
        return Ok(old);
    }
    let groups = balanced(&files, Count::Nearest(file_size), |f| {
        (f.table.clone(), f.partition.clone())
    });
    let items = write_groups(run, GroupKind::PartitionFileGroups, &groups).await?;
    let groups_uri = run.layout.group_list(GroupKind::PartitionFileGroups);
    let plan = PartitionPlan {
        staging_fingerprint,
        file_size,
        n_staging_file: files.len(),
        size: files.iter().map(|f| f.size).sum(),
        n_record: files.iter().filter_map(|f| f.n_record).sum(),
        n_group: items.len(),
        groups: groups_uri,
    };
    write_json(run, &plan_uri, &plan).await?;
    info!(
        groups = plan.n_group,
        files = plan.n_staging_file,
        "partitions planned"
    );
    Ok(plan)
}
