use crate::common::*;

const JOB: &str = r#"{"tables": {"*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}]}}}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_pointing_at_a_missing_file_names_it() {
    let s = Scenario::new();
    let manifest = s.generate(2_000, 2, &[]).await;
    let gone = s.path("snap/data/part-00002.parquet");
    std::fs::remove_file(&gone).unwrap();
    let e = s.run(&s.job(&manifest, JOB)).await.unwrap_err().to_string();
    assert_eq!(e, format!("{gone}: not found"));
    assert!(!s.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_parquet_file_is_named() {
    let s = Scenario::new();
    let manifest = s.generate(2_000, 2, &[]).await;
    let bad = s.path("snap/data/part-00001.parquet");
    let mut bytes = std::fs::read(&bad).unwrap();
    let n = bytes.len();
    // Same size (the manifest still matches), garbage footer.
    bytes[n - 40..n - 8].fill(0xAB);
    std::fs::write(&bad, bytes).unwrap();
    let e = s.run(&s.job(&manifest, JOB)).await.unwrap_err().to_string();
    assert!(e.starts_with(&format!("{bad}: ")), "{e}");
    assert!(!s.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_count_that_disagrees_with_the_file_is_named() {
    let s = Scenario::new();
    let manifest = s.generate(2_000, 1, &[]).await;
    // Rewrite the manifest with a wrong count for the one file.
    let run = dbsnaplake_core::Run::new(s.job(&manifest, JOB), s.store.clone());
    let (_, mut files) = dbsnaplake_core::manifest::read_manifest(&run.store, &manifest)
        .await
        .unwrap();
    files[0].n_record = Some(1_999);
    let data = s.path("snap/manifests/manifest-data.parquet");
    dbsnaplake_core::manifest::write_manifest(
        &run.store,
        &manifest,
        &data,
        &files,
        Default::default(),
    )
    .await
    .unwrap();
    let e = s.run(&run.job).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: the manifest says 1999 records but the file holds 2000",
            files[0].uri
        )
    );
    assert!(!s.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leftover_or_missing_lake_file_fails_validation_naming_the_partition() {
    let s = Scenario::new();
    let manifest = s.generate(4_000, 2, &[]).await;
    let job = s.job(&manifest, JOB);
    s.run(&job).await.unwrap();
    assert!(s.success());
    let run = dbsnaplake_core::Run::new(job, s.store.clone());

    // A file of another run left in a partition would double its records.
    let lake = read_parquet_tree(&s.path("lake"));
    let (rel, _) = &lake[0];
    let folder = rel.rsplit_once('/').unwrap().0;
    let extra = s.path(&format!("lake/{folder}/leftover.parquet"));
    std::fs::copy(s.path(&format!("lake/{rel}")), &extra).unwrap();
    let e = dbsnaplake_core::steps::validate::validate(&run)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), dbsnaplake_core::ErrorKind::Validation);
    assert!(
        e.to_string()
            .contains(&format!("{extra}: in the lake but not written by this run")),
        "{e}"
    );
    assert!(!s.success(), "_SUCCESS is removed");
    std::fs::remove_file(&extra).unwrap();

    // A lost file is named, and its partition's count differs.
    std::fs::remove_file(s.path(&format!("lake/{rel}"))).unwrap();
    let e = dbsnaplake_core::steps::validate::validate(&run)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("written by a compaction worker but missing from the lake"),
        "{e}"
    );
    assert!(
        e.contains(&format!(
            "table * partition {folder:?}: 0 records in the lake but"
        )),
        "{e}"
    );
    assert!(!s.success());
    let result: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path("staging/manifests/validate-datalake-result.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(result["valid"], false);
}
