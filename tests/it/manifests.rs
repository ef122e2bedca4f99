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
