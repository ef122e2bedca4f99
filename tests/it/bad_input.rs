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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_lake_of_another_snapshot_is_refused_and_kept() {
    let s = Scenario::new();
    let first = s.generate(3_000, 2, &[]).await;
    let v = s.run(&s.job(&first, JOB)).await.unwrap();
    assert!(v.valid && s.success());
    let before = snapshot_tree(&s.path("lake"));

    // Another snapshot, another staging folder, the same datalake folder.
    let other = dbsnaplake_core::generate::generate(
        &s.store,
        &dbsnaplake_core::generate::Spec::new(&s.path("snap2"), 1_000, 1),
    )
    .await
    .unwrap()
    .0;
    let mut job = s.job(&other, JOB);
    job.staging = s.path("staging2");
    let e = s.run(&job).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: the datalake folder already holds a finished lake (of {first}); write this \
             snapshot to another datalake folder, or replace that lake with `run --overwrite` \
             (job field \"overwrite\": true)",
            s.path("lake/_SUCCESS")
        )
    );
    assert_eq!(
        snapshot_tree(&s.path("lake")),
        before,
        "the finished lake is untouched"
    );

    // The same snapshot again is a rerun, not a conflict.
    assert!(s.run(&s.job(&first, JOB)).await.unwrap().valid);

    // Told to overwrite, the other lake is replaced: none of its files stay.
    job.overwrite = true;
    let v = s.run(&job).await.unwrap();
    assert!(v.valid && s.success());
    assert_eq!(v.n_record(), 1_000);
    let after = snapshot_tree(&s.path("lake"));
    assert!(
        after
            .keys()
            .all(|k| !before.contains_key(k) || k == "_SUCCESS"),
        "{after:?}"
    );
    let rows: usize = read_parquet_tree(&s.path("lake"))
        .iter()
        .map(|(_, b)| b.num_rows())
        .sum();
    assert_eq!(rows, 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_empties_staging_and_keeps_the_lake() {
    let s = Scenario::new();
    let manifest = s.generate(2_000, 2, &[]).await;
    let job = s.job(&manifest, JOB);
    s.run(&job).await.unwrap();
    let lake = snapshot_tree(&s.path("lake"));
    let run = dbsnaplake_core::Run::new(job, s.store.clone());
    let n = dbsnaplake_core::steps::clean::clean(&run).await.unwrap();
    assert!(n > 5, "{n}");
    assert!(snapshot_tree(&s.path("staging")).is_empty());
    assert_eq!(snapshot_tree(&s.path("lake")), lake);
    assert!(s.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_checksums_are_summed_per_partition_and_an_unknown_one_stays_unknown() {
    use dbsnaplake_core::checksum::Checksum;
    use dbsnaplake_core::layout::GroupKind;
    use dbsnaplake_core::manifest::{read_manifest, write_manifest};

    let s = Scenario::new();
    let manifest = s.generate(4_000, 2, &[]).await;
    let job = s.job(&manifest, JOB);
    let v = s.run(&job).await.unwrap();
    assert!(v.valid);
    let t = &v.tables[0];
    assert_eq!(t.checksum, t.staging_checksum);
    // Per partition, then per table, the staged sums are the lake's.
    let parts: Checksum = t.partitions.iter().map(|p| p.checksum.unwrap()).sum();
    assert_eq!(Some(parts), t.checksum);

    let run = dbsnaplake_core::Run::new(job, s.store.clone());
    let staged = |n| run.layout.group_summary(GroupKind::StagingFileGroups, n);
    let data = |n| run.layout.group_data(GroupKind::StagingFileGroups, n);
    let (summary, mut files) = read_manifest(&run.store, &staged(1)).await.unwrap();
    let original = files.clone();
    let rewrite = |files: Vec<_>| {
        let details = summary.details.clone();
        let store = run.store.clone();
        async move {
            write_manifest(&store, &staged(1), &data(1), &files, details)
                .await
                .unwrap();
        }
    };

    // One staged file's checksum off by one: its partition is named.
    let partition = files[0].partition.clone().unwrap();
    let c = files[0].checksum.unwrap();
    files[0].checksum = Some(c + "0000000000000001".parse().unwrap());
    rewrite(files.clone()).await;
    let e = dbsnaplake_core::steps::validate::validate(&run)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!(
            "table * partition {partition:?}: the lake's content checksum"
        )) && e.contains("rows were altered"),
        "{e}"
    );

    // A staged file without a checksum (first of its partition or not): its
    // partition's and table's staged sums are unknown, not partial, so
    // nothing is compared and the counts alone decide.
    files[0].checksum = None;
    rewrite(files).await;
    let v = dbsnaplake_core::steps::validate::validate(&run)
        .await
        .unwrap();
    assert!(v.valid);
    let p = v.tables[0]
        .partitions
        .iter()
        .find(|p| p.partition == partition)
        .unwrap();
    assert_eq!(p.staging_checksum, None);
    assert!(p.checksum.is_some());
    assert_eq!(v.tables[0].staging_checksum, None);

    rewrite(original).await;
    assert!(
        dbsnaplake_core::steps::validate::validate(&run)
            .await
            .unwrap()
            .valid
    );
}
