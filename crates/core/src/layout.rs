//! Every path of the seed's S3 layout, in one place.
//!
//! ```text
//! <staging>/manifests/manifest-summary.json, manifest-data.parquet      snapshot manifest
//! <staging>/manifests/<kind>/manifest-summary/manifest-summary-<n>.json group n's summary
//! <staging>/manifests/<kind>/manifest-data/manifest-data-<n>.parquet    group n's file list
//! <staging>/manifests/<kind>/groups.json                                the Map's item list
//! <staging>/manifests/validate-datalake-result.json                     validation result
//! <staging>/datalake/<database>/<schema>/<table>/<k>=<v>/…              staging files
//! <datalake>/<database>/<schema>/<table>/<k>=<v>/…                      lake files
//! <datalake>/_SUCCESS                                                   written by a valid run
//! ```
//! `<kind>` is `snapshot-file-groups`, `staging-file-groups`,
//! `partition-file-groups` (the seed's) or `datalake-file-groups` (ours: what
//! each compaction wrote, so the validator knows exactly which files belong).
//! The table level is present only when the snapshot names tables.

use crate::storage::{canonical, join};

/// The manifest families under `<staging>/manifests/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// Step 1.1's output: snapshot files per staging worker.
    SnapshotFileGroups,
    /// Step 1.2's output: the staging files one worker wrote.
    StagingFileGroups,
    /// Step 2.1's output: staging files per compaction worker.
    PartitionFileGroups,
    /// Step 2.2's output: the lake files one compaction worker wrote.
    DatalakeFileGroups,
}

impl GroupKind {
    /// Folder name under `manifests/`.
    pub fn folder(self) -> &'static str {
        match self {
            GroupKind::SnapshotFileGroups => "snapshot-file-groups",
            GroupKind::StagingFileGroups => "staging-file-groups",
            GroupKind::PartitionFileGroups => "partition-file-groups",
            GroupKind::DatalakeFileGroups => "datalake-file-groups",
        }
    }
}

/// Paths of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    staging: String,
    datalake: String,
}

impl Layout {
    /// The layout under the job's `staging` and `datalake` folders.
    pub fn new(staging: &str, datalake: &str) -> Self {
        Layout {
            staging: staging.trim_end_matches('/').to_string(),
            datalake: datalake.trim_end_matches('/').to_string(),
        }
    }

    /// `<staging>/manifests`.
    pub fn manifests(&self) -> String {
        join(&self.staging, "manifests")
    }

    /// The snapshot manifest's summary, when step 0 writes it.
    pub fn snapshot_summary(&self) -> String {
        join(&self.manifests(), "manifest-summary.json")
    }

    /// The snapshot manifest's data file, when step 0 writes it.
    pub fn snapshot_data(&self) -> String {
        join(&self.manifests(), "manifest-data.parquet")
    }

    /// Summary of group `n` (1-based) of `kind`.
    pub fn group_summary(&self, kind: GroupKind, n: usize) -> String {
        join(
            &self.manifests(),
            &format!(
                "{}/manifest-summary/manifest-summary-{n}.json",
                kind.folder()
            ),
        )
    }

    /// Data file of group `n` (1-based) of `kind`.
    pub fn group_data(&self, kind: GroupKind, n: usize) -> String {
        join(
            &self.manifests(),
            &format!("{}/manifest-data/manifest-data-{n}.parquet", kind.folder()),
        )
    }

    /// The list of groups of `kind` (the Distributed Map's items).
    pub fn group_list(&self, kind: GroupKind) -> String {
        join(&self.manifests(), &format!("{}/groups.json", kind.folder()))
    }

    /// The group number encoded in a group summary URI of `kind`.
    /// A local path names the same file however it is written (relative,
    /// `./`, `file://`).
    pub fn group_number(&self, kind: GroupKind, summary_uri: &str) -> Option<usize> {
        let prefix = canonical(&join(
            &self.manifests(),
            &format!("{}/manifest-summary/manifest-summary-", kind.folder()),
        ));
        canonical(summary_uri)
            .strip_prefix(&prefix)?
            .strip_suffix(".json")?
            .parse()
            .ok()
            .filter(|n| *n > 0)
    }

    /// What the planner of `kind` decided (`plan.json` beside its groups).
    pub fn plan(&self, kind: GroupKind) -> String {
        join(&self.manifests(), &format!("{}/plan.json", kind.folder()))
    }

    /// Every table's schema as step 1.1 resolved it, which the staging
    /// workers read (`snapshot-file-groups/schemas.json`).
    pub fn schemas(&self) -> String {
        join(
            &self.manifests(),
            &format!("{}/schemas.json", GroupKind::SnapshotFileGroups.folder()),
        )
    }

    /// Staging file `n` of a staging worker (its files are named `prefix-<n>`)
    /// in a table's partition folder.
    pub fn staging_file(
        &self,
        table: Option<&str>,
        partition: &str,
        prefix: &str,
        n: usize,
    ) -> String {
        join(
            &join(&self.staging_table(table), partition),
            &format!("{prefix}-{n}.parquet"),
        )
    }

    /// Lake file `i` of a compaction group of `fingerprint` in a table's
    /// partition folder, with the format's extension.
    pub fn lake_file(
        &self,
        table: Option<&str>,
        partition: &str,
        fingerprint: &str,
        i: u64,
        ext: &str,
    ) -> String {
        join(
            &join(&self.datalake_table(table), partition),
            &format!("{fingerprint}-{i}.{ext}"),
        )
    }

    /// `<staging>/datalake`.
    pub fn staging_root(&self) -> String {
        join(&self.staging, "datalake")
    }

    /// Staging folder of a table (`None`: a snapshot without tables).
    pub fn staging_table(&self, table: Option<&str>) -> String {
        join(&self.staging_root(), table.unwrap_or(""))
    }

    /// The data lake root.
    pub fn datalake_root(&self) -> String {
        self.datalake.clone()
    }

    /// Lake folder of a table (`None`: a snapshot without tables).
    pub fn datalake_table(&self, table: Option<&str>) -> String {
        join(&self.datalake, table.unwrap_or(""))
    }

    /// The first (and only) Delta commit of a table written by dbsnaplake:
    /// `<table>/_delta_log/00000000000000000000.json`.
    pub fn delta_commit(&self, table: Option<&str>) -> String {
        join(
            &self.datalake_table(table),
            "_delta_log/00000000000000000000.json",
        )
    }

    /// `<staging>/manifests/validate-datalake-result.json`.
    pub fn validate_result(&self) -> String {
        join(&self.manifests(), "validate-datalake-result.json")
    }

    /// `<datalake>/_SUCCESS`.
    pub fn success_marker(&self) -> String {
        join(&self.datalake, "_SUCCESS")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_paths() {
        let l = Layout::new(
            "s3://bucket/prefix/staging/mydatabase/snapshot=2021-01-01T08:30:00Z/",
            "s3://bucket/prefix/datalake/mydatabase/snapshot=2021-01-01T08:30:00Z",
        );
        let st = "s3://bucket/prefix/staging/mydatabase/snapshot=2021-01-01T08:30:00Z";
        assert_eq!(
            l.snapshot_summary(),
            format!("{st}/manifests/manifest-summary.json")
        );
        assert_eq!(
            l.snapshot_data(),
            format!("{st}/manifests/manifest-data.parquet")
        );
        let s = l.group_summary(GroupKind::SnapshotFileGroups, 2);
        assert_eq!(
            s,
            format!("{st}/manifests/snapshot-file-groups/manifest-summary/manifest-summary-2.json")
        );
        assert_eq!(l.group_number(GroupKind::SnapshotFileGroups, &s), Some(2));
        assert_eq!(l.group_number(GroupKind::PartitionFileGroups, &s), None);
        assert_eq!(
            l.group_data(GroupKind::PartitionFileGroups, 1),
            format!("{st}/manifests/partition-file-groups/manifest-data/manifest-data-1.parquet")
        );
        assert_eq!(
            l.staging_table(Some("db/public/t")),
            format!("{st}/datalake/db/public/t")
        );
        assert_eq!(l.staging_table(None), format!("{st}/datalake"));
        assert_eq!(
            l.datalake_table(Some("db/public/t")),
            "s3://bucket/prefix/datalake/mydatabase/snapshot=2021-01-01T08:30:00Z/db/public/t"
        );
        assert_eq!(
            l.validate_result(),
            format!("{st}/manifests/validate-datalake-result.json")
        );
        assert!(
            l.success_marker()
                .ends_with("snapshot=2021-01-01T08:30:00Z/_SUCCESS")
        );
    }

    #[test]
    fn a_local_group_is_found_however_its_path_is_written() {
        let l = Layout::new("out/staging", "out/lake");
        let kind = GroupKind::StagingFileGroups;
        let rel =
            "out/staging/manifests/staging-file-groups/manifest-summary/manifest-summary-3.json";
        let abs = std::env::current_dir().unwrap().join(rel);
        for uri in [
            rel.to_string(),
            format!("./{rel}"),
            abs.to_string_lossy().into_owned(),
            format!("file://{}", abs.display()),
        ] {
            assert_eq!(l.group_number(kind, &uri), Some(3), "{uri}");
        }
        assert_eq!(l.group_number(kind, "other/staging/manifests/staging-file-groups/manifest-summary/manifest-summary-3.json"), None);
    }
}
