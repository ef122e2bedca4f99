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
    // Ten NDJSON files of 20 MiB, only listed: planning reads none of them
    // (their schema is given).
    let files: Vec<DataFile> = (0..10)
        .map(|i| DataFile::new(s.path(&format!("snap/{i}.json")), 20 * MIB))
        .collect();
    let job = Job::from_json(
        &serde_json::json!({
            "source": {"files": s.path("snap"), "format": "ndjson",
                       "schema": [{"name": "id", "type": "int64"}]},
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

/// The snapshot of `s` listed again under `foreign/` with each file's ETag
/// given by `etag`, as a manifest made elsewhere lists them; returns its URI.
async fn foreign_manifest(s: &Scenario, etag: impl Fn(&[u8]) -> String) -> String {
    use dbsnaplake_core::manifest::write_manifest;
    let manifest = s.generate(6_000, 3, &[]).await;
    let (_, mut files) = read_manifest(&s.store, &manifest).await.unwrap();
    for f in &mut files {
        f.etag = Some(etag(&std::fs::read(&f.uri).unwrap()));
    }
    let uri = s.path("foreign/manifest-summary.json");
    write_manifest(
        &s.store,
        &uri,
        &s.path("foreign/manifest-data.parquet"),
        &files,
        Default::default(),
    )
    .await
    .unwrap();
    uri
}

fn md5_hex(bytes: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A job over `manifest` into its own `name`-staging and `name`-lake folders.
fn job_into(s: &Scenario, manifest: &str, name: &str) -> dbsnaplake_core::Job {
    dbsnaplake_core::Job::from_json(
        &serde_json::json!({
            "source": {"manifest": manifest},
            "staging": s.path(&format!("{name}-staging")),
            "datalake": s.path(&format!("{name}-lake")),
        })
        .to_string(),
    )
    .unwrap()
}

/// A manifest holding S3's ETags (what the original dbsnaplake writes, and
/// what a copy of an S3 snapshot has): single-part ones, the quoted hex MD5,
/// are checked against the bytes; a file changed since fails, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_files_are_checked_against_the_md5_of_an_s3_etag() {
    let s = Scenario::new();
    let manifest = foreign_manifest(&s, |b| format!("\"{}\"", md5_hex(b))).await;
    let v = s.run(&job_into(&s, &manifest, "first")).await.unwrap();
    assert!(v.valid, "{v:?}");
    assert_eq!(v.n_record(), 6_000);

    // One byte of a file changed, its size the same.
    let (_, files) = read_manifest(&s.store, &manifest).await.unwrap();
    let changed = &files[1].uri;
    let mut bytes = std::fs::read(changed).unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(changed, &bytes).unwrap();
    let e = s
        .run(&job_into(&s, &manifest, "second"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(changed.as_str()), "{e}");
    assert!(e.contains("MD5 is"), "{e}");
    assert!(e.contains(&md5_hex(&bytes)), "{e}");
}

/// A multipart upload's ETag cannot be computed from a file: such files are
/// checked by their size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_files_with_multipart_etags_are_checked_by_size() {
    let s = Scenario::new();
    let manifest = foreign_manifest(&s, |b| format!("{}-2", md5_hex(&b[..b.len() / 2]))).await;
    let v = s.run(&job_into(&s, &manifest, "first")).await.unwrap();
    assert!(v.valid, "{v:?}");
    assert_eq!(v.n_record(), 6_000);

    let (_, files) = read_manifest(&s.store, &manifest).await.unwrap();
    let grown = &files[0].uri;
    let mut bytes = std::fs::read(grown).unwrap();
    bytes.extend_from_slice(b"more");
    std::fs::write(grown, &bytes).unwrap();
    let e = s
        .run(&job_into(&s, &manifest, "second"))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains(grown.as_str()), "{e}");
    assert!(
        e.contains(&format!(
            "is {} bytes where the manifest says {}",
            bytes.len(),
            bytes.len() - 4
        )),
        "{e}"
    );
}
