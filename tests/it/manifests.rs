use std::sync::Arc;

use dbsnaplake_core::manifest::read_manifest;
use dbsnaplake_core::storage::{StorageRef, Stores};

use crate::common::*;

/// The original's manifest: large strings, a null count, its own fingerprint.
#[tokio::test]
async fn a_manifest_of_the_python_original_reads() {
    let s = Scenario::new();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/python-manifest");
    // The summary points at s3://; serve the data file from a local copy.
    let summary = std::fs::read_to_string(format!("{fixtures}/manifest-summary.json")).unwrap();
    let data = s.path("manifest-data.parquet");
    std::fs::copy(format!("{fixtures}/manifest-data.parquet"), &data).unwrap();
    let local = summary.replace("s3://bucket/manifests/manifest-data.parquet", &data);
    let uri = s.path("manifest-summary.json");
    std::fs::write(&uri, local).unwrap();
    let store: StorageRef = Arc::new(Stores::local());
    let (summary, files) = read_manifest(&store, &uri).await.unwrap();
    assert_eq!(summary.size, 6000);
    assert_eq!(summary.n_record, None);
    assert_eq!(
        summary.fingerprint(),
        Some("0f8a2c1e9d3b4a5c6e7f8091a2b3c4d5")
    );
    let got: Vec<(&str, u64, Option<u64>, Option<&str>)> = files
        .iter()
        .map(|f| (f.uri.as_str(), f.size, f.n_record, f.etag.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (
                "s3://bucket/snapshot/file-1.parquet",
                1000,
                Some(10),
                Some("etag1")
            ),
            (
                "s3://bucket/snapshot/file-2.parquet",
                2000,
                Some(20),
                Some("etag2")
            ),
            (
                "s3://bucket/snapshot/file-3.parquet",
                3000,
                None,
                Some("etag3")
            ),
        ]
    );
    assert!(files.iter().all(|f| f.table.is_none()));
}

/// `auto` sizes snapshot groups at a share of the workers each and splits the
/// snapshot into that many groups of near-equal size: none is a small leftover
/// that would wait for a free worker (best-fit packing at that size leaves one).
#[tokio::test]
async fn auto_groups_are_as_many_as_workers_and_near_equal() {
    use dbsnaplake_core::layout::GroupKind;
    use dbsnaplake_core::manifest::{DataFile, write_manifest};
    use dbsnaplake_core::steps::plan_snapshot::plan_snapshot;
    use dbsnaplake_core::{Job, Run};

    const MIB: u64 = 1024 * 1024;
    let s = Scenario::new();
    // Ten NDJSON files of 20 MiB, only listed: planning reads none of them.
    let files: Vec<DataFile> = (0..10)
        .map(|i| DataFile::new(s.path(&format!("snap/{i}.json")), 20 * MIB))
        .collect();
    let job = Job::from_json(
        &serde_json::json!({
            "source": {"files": s.path("snap"), "format": "ndjson"},
            "staging": s.path("staging"), "datalake": s.path("lake"),
            "group_size": "auto", "concurrency": 3,
        })
        .to_string(),
    )
    .unwrap();
    let run = Run::new(job, s.store.clone());
    let (summary, data) = (run.layout.snapshot_summary(), run.layout.snapshot_data());
    write_manifest(&s.store, &summary, &data, &files, Default::default())
        .await
        .unwrap();

    // 200 MiB over 3 workers: groups of at most ~67 MiB, which best fit
    // would fill with 3 files each and a fourth group of one file.
    let plan = plan_snapshot(&run).await.unwrap();
    assert_eq!(plan.group_size, (200 * MIB).div_ceil(3));
    assert_eq!(plan.n_group, 3, "{plan:?}");
    let mut sizes = Vec::new();
    let mut listed = Vec::new();
    for n in 1..=3 {
        let uri = run.layout.group_summary(GroupKind::SnapshotFileGroups, n);
        let (group, files) = read_manifest(&s.store, &uri).await.unwrap();
        sizes.push(group.size / MIB);
        listed.extend(files.into_iter().map(|f| f.uri));
    }
    sizes.sort();
    assert_eq!(sizes, [60, 60, 80]);
    listed.sort();
    let mut all: Vec<String> = files.into_iter().map(|f| f.uri).collect();
    all.sort();
    assert_eq!(listed, all, "every file in exactly one group");
}
