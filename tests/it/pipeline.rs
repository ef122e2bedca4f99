use std::collections::BTreeSet;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Datelike};
use dbsnaplake_core::steps::compact::{InputCost, plan_runs};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

const YEAR_MONTH_DESC: &str = r#"{
    "tables": {"*": {
        "partition_by": [{"name": "year", "from": "order_time", "fn": "year"},
                         {"name": "month", "from": "order_time", "fn": "month"}],
        "sort_by": [{"column": "order_time", "descending": true}]}},
    "group_size": 1000000,
    "file_size": 1000000
}"#;

fn times(b: &RecordBatch) -> Vec<i64> {
    b.column_by_name("order_time")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>()
        .values()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_row_arrives_once_with_its_values_in_its_partition_sorted() {
    let s = Scenario::new();
    let manifest = s.generate(60_000, 6, &[]).await;
    let job = s.job(&manifest, YEAR_MONTH_DESC);
    let v = s.run(&job).await.unwrap();
    assert!(v.valid);
    assert_eq!(v.n_record(), 60_000);
    assert!(s.success());
    assert_eq!(v.tables.len(), 1);
    assert_eq!(v.tables[0].table, "*");
    assert_eq!(v.tables[0].partitions.len(), 36);

    // Several staging groups were planned (1 MB groups of ~0.7 MB files).
    let plan: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path("staging/manifests/snapshot-file-groups/plan.json")).unwrap(),
    )
    .unwrap();
    assert!(plan["n_group"].as_u64().unwrap() >= 3, "{plan}");
    assert_eq!(plan["stats"]["n_file"], 6);

    let lake = read_parquet_tree(&s.path("lake"));
    let mut ids = BTreeSet::new();
    for (rel, batch) in &lake {
        // No table level: year=YYYY/month=MM/<file>.
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!(parts.len(), 3, "{rel}");
        let year: i32 = parts[0].strip_prefix("year=").unwrap().parse().unwrap();
        let month: u32 = parts[1].strip_prefix("month=").unwrap().parse().unwrap();
        assert_eq!(
            parts[1].len(),
            "month=01".len(),
            "month is zero-padded: {rel}"
        );
        let t = times(batch);
        for us in &t {
            let dt = DateTime::from_timestamp_micros(*us).unwrap();
            assert_eq!(
                (dt.year(), dt.month()),
                (year, month),
                "row in wrong partition {rel}"
            );
        }
        assert!(
            t.windows(2).all(|w| w[0] >= w[1]),
            "{rel} is not sorted descending"
        );
        for id in strings(batch, "order_id") {
            assert!(ids.insert(id.unwrap()), "an id is doubled");
        }
    }
    assert_eq!(ids.len(), 60_000, "ids lost");

    let source = source_rows(&s, "");
    let batches: Vec<RecordBatch> = lake.into_iter().map(|(_, b)| b).collect();
    assert_same_rows(&source, &sorted_by_id(&batches));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_changes_nothing() {
    let s = Scenario::new();
    let manifest = s.generate(20_000, 4, &[]).await;
    let job = s.job(&manifest, YEAR_MONTH_DESC);
    s.run(&job).await.unwrap();
    let lake = snapshot_tree(&s.path("lake"));
    let staging = snapshot_tree(&s.path("staging"));
    s.run(&job).await.unwrap();
    assert_eq!(snapshot_tree(&s.path("lake")), lake);
    assert_eq!(snapshot_tree(&s.path("staging")), staging);

    // Each step on its own is a no-op too.
    let run = dbsnaplake_core::Run::new(job.clone(), s.store.clone());
    let groups = dbsnaplake_core::steps::read_group_list(
        &run,
        dbsnaplake_core::layout::GroupKind::SnapshotFileGroups,
    )
    .await
    .unwrap();
    let out = dbsnaplake_core::steps::stage::stage(&run, &groups[0].group)
        .await
        .unwrap();
    assert!(out.skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_come_out_near_the_target_size() {
    let s = Scenario::new();
    let manifest = s.generate(150_000, 5, &[]).await;
    let target = 2_000_000u64;
    let job = s.job(
        &manifest,
        &format!(r#"{{"group_size": 3000000, "file_size": {target}, "tables": {{"*": {{"sort_by": [{{"column": "customer_id"}}]}}}}}}"#),
    );
    let v = s.run(&job).await.unwrap();
    assert_eq!(v.n_record(), 150_000);
    let total = v.size();
    // Files of half to 1.25 × the target.
    assert!(
        (total.div_ceil(target * 5 / 4)..=total / (target / 2)).contains(&v.n_file()),
        "{} files for {total} bytes",
        v.n_file()
    );
    for (rel, _) in read_parquet_tree(&s.path("lake")) {
        let size = std::fs::metadata(s.path(&format!("lake/{rel}")))
            .unwrap()
            .len();
        assert!(
            (target / 2..=target * 5 / 4).contains(&size),
            "{rel} is {size} bytes, target {target}"
        );
        let b = read_file(&s.path(&format!("lake/{rel}")));
        let ids = b
            .column_by_name("customer_id")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        assert!(
            ids.values().windows(2).all(|w| w[0] <= w[1]),
            "{rel} not sorted"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_tables_get_their_own_folders_and_settings() {
    let s = Scenario::new();
    let manifest = s
        .generate(10_000, 3, &["db/public/orders", "db/public/items"])
        .await;
    let job = s.job(
        &manifest,
        r#"{"tables": {
            "*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}]},
            "db/public/items": {"sort_by": [{"column": "order_id"}]}}}"#,
    );
    let v = s.run(&job).await.unwrap();
    let names: Vec<&str> = v.tables.iter().map(|t| t.table.as_str()).collect();
    assert_eq!(names, ["db/public/items", "db/public/orders"]);
    assert!(
        v.tables
            .iter()
            .all(|t| t.n_record == 10_000 && t.snapshot_records == Some(10_000))
    );
    let lake = read_parquet_tree(&s.path("lake"));
    for (rel, batch) in &lake {
        if let Some(rest) = rel.strip_prefix("db/public/items/") {
            assert!(!rest.contains('/'), "items is unpartitioned: {rel}");
            let ids = strings(batch, "order_id");
            assert!(
                ids.windows(2).all(|w| w[0] <= w[1]),
                "{rel} sorted by order_id"
            );
        } else {
            assert!(rel.starts_with("db/public/orders/year=20"), "{rel}");
        }
    }
    for table in ["db/public/orders", "db/public/items"] {
        let batches: Vec<RecordBatch> = read_parquet_tree(&s.path(&format!("lake/{table}")))
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        assert_same_rows(&source_rows(&s, table), &sorted_by_id(&batches));
    }
}

/// What reading each staging file of an unpartitioned table costs a merge.
fn staging_costs(s: &Scenario) -> Vec<InputCost> {
    read_parquet_tree(&s.path("staging/datalake"))
        .iter()
        .map(|(rel, _)| {
            let f = std::fs::File::open(s.path(&format!("staging/datalake/{rel}"))).unwrap();
            InputCost::of(
                ParquetRecordBatchReaderBuilder::try_new(f)
                    .unwrap()
                    .metadata(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_more_staging_files_than_one_merge_holds_is_merged_in_passes() {
    let s = Scenario::new();
    // Each snapshot file is staged on its own and every staging file lands
    // in the one compaction group.
    let files = 240;
    let rows = files as u64 * 50;
    let manifest = s.generate(rows, files, &[]).await;
    let job = s.job(
        &manifest,
        r#"{"group_size": 1, "file_size": 1000000000,
            "tables": {"*": {"sort_by": [{"column": "order_time", "descending": true}]}}}"#,
    );
    let v = s.run(&job).await.unwrap();
    assert!(v.valid);
    assert_eq!(v.n_record(), rows);
    let plan: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path("staging/manifests/partition-file-groups/plan.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(plan["n_group"], 1, "{plan}");
    assert_eq!(plan["n_staging_file"], files, "{plan}");
    let costs = staging_costs(&s);
    assert_eq!(costs.len(), files);
    assert!(plan_runs(&costs).len() > 1, "one merge would hold them all");

    let lake = read_parquet_tree(&s.path("lake"));
    assert_eq!(lake.len(), 1);
    let t = times(&lake[0].1);
    assert!(t.windows(2).all(|w| w[0] >= w[1]), "not sorted descending");
    assert_same_rows(&source_rows(&s, ""), &sorted_by_id(&[lake[0].1.clone()]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wide_rows_are_merged_in_several_passes() {
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use dbsnaplake_core::parquet_io::{write_file, writer_properties};
    use std::sync::Arc;
    let s = Scenario::new();
    // 8 files of 3 rows of 20 kB: two such inputs are over what one merge
    // may hold, so runs pair them, then pair the runs, then merge the last 2.
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("blob", DataType::Utf8, false),
    ]));
    let blob = |k: i64| format!("{k:05}").repeat(4_000);
    for f in 0..8i64 {
        let ks: Vec<i64> = (0..3).map(|r| r * 8 + f).collect();
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(ks.clone())),
                Arc::new(StringArray::from_iter_values(ks.iter().map(|&k| blob(k)))),
            ],
        )
        .unwrap();
        let uri = s.path(&format!("snap/f{f}.parquet"));
        write_file(
            &s.store,
            &uri,
            schema.clone(),
            writer_properties(Default::default()),
            &[batch],
        )
        .await
        .unwrap();
    }
    let job = dbsnaplake_core::Job::from_json(
        &serde_json::json!({
            "source": {"files": s.path("snap")},
            "staging": s.path("staging"),
            "datalake": s.path("lake"),
            "tables": {"*": {"sort_by": [{"column": "k"}]}},
            "group_size": 1,
        })
        .to_string(),
    )
    .unwrap();
    let v = s.run(&job).await.unwrap();
    assert!(v.valid);
    assert_eq!(v.n_record(), 24);
    assert_eq!(plan_runs(&staging_costs(&s)), [2, 2, 2, 2]);
    let lake = read_parquet_tree(&s.path("lake"));
    assert_eq!(lake.len(), 1);
    let b = &lake[0].1;
    let ks = b.column_by_name("k").unwrap().as_primitive::<Int64Type>();
    assert_eq!(ks.values().to_vec(), (0..24).collect::<Vec<i64>>());
    for (k, got) in ks.values().iter().zip(strings(b, "blob")) {
        assert_eq!(got.as_deref(), Some(blob(*k).as_str()), "blob of {k}");
    }
}

/// A partition whose rows come from one staging file bigger than
/// `file_size` is split: no lake file is over 1.25 × `file_size`, rows stay
/// sorted across a partition's files in the order of their names, and every
/// row arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_file_bigger_than_the_target_becomes_several_lake_files() {
    use dbsnaplake_core::generate::{Spec, generate};
    let s = Scenario::new();
    let spec = Spec {
        months: 16,
        ..Spec::new(&s.path("snap"), 100_000, 2)
    };
    let (manifest, _) = generate(&s.store, &spec).await.unwrap();
    let file_size = 262_144u64;
    let job = s.job(
        &manifest,
        &YEAR_MONTH_DESC
            .replace("\"group_size\": 1000000", "\"group_size\": 100000000")
            .replace(
                "\"file_size\": 1000000",
                &format!("\"file_size\": {file_size}"),
            ),
    );
    let v = s.run(&job).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    assert_eq!(v.n_record(), 100_000);

    let staging = read_parquet_tree(&s.path("staging/datalake"));
    let partitions: BTreeSet<String> = staging
        .iter()
        .map(|(rel, _)| rel.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert_eq!(partitions.len(), 16);
    assert_eq!(
        staging.len(),
        16,
        "one staging group: one staging file a partition"
    );
    let largest = staging
        .iter()
        .map(|(rel, _)| {
            std::fs::metadata(s.path(&format!("staging/datalake/{rel}")))
                .unwrap()
                .len()
        })
        .max()
        .unwrap();
    assert!(
        largest > file_size * 5 / 4,
        "staging files of {largest} bytes need no split"
    );

    let lake = read_parquet_tree(&s.path("lake"));
    assert!(lake.len() > partitions.len(), "{} lake files", lake.len());
    let mut rows = 0;
    for partition in &partitions {
        let mut files: Vec<(u64, &RecordBatch, u64)> = lake
            .iter()
            .filter(|(rel, _)| rel.rsplit_once('/').unwrap().0 == partition)
            .map(|(rel, b)| {
                let name = rel.rsplit_once('/').unwrap().1;
                let i: u64 = name
                    .strip_suffix(".parquet")
                    .and_then(|n| n.rsplit_once('-'))
                    .unwrap()
                    .1
                    .parse()
                    .unwrap();
                let size = std::fs::metadata(s.path(&format!("lake/{rel}")))
                    .unwrap()
                    .len();
                (i, b, size)
            })
            .collect();
        files.sort_by_key(|(i, _, _)| *i);
        let names: Vec<u64> = files.iter().map(|(i, _, _)| *i).collect();
        assert_eq!(
            names,
            (0..files.len() as u64).collect::<Vec<_>>(),
            "{partition}"
        );
        let mut all = Vec::new();
        for (i, b, size) in &files {
            assert!(
                *size <= file_size * 5 / 4,
                "{partition} file {i} is {size} bytes, over 1.25 × {file_size}"
            );
            all.extend(times(b));
            rows += b.num_rows();
        }
        assert!(
            all.windows(2).all(|w| w[0] >= w[1]),
            "{partition} sorted across its files"
        );
    }
    assert_eq!(rows, 100_000);
    // Lake files declare their order (order_time, descending) for readers.
    let (rel, _) = &lake[0];
    let f = std::fs::File::open(s.path(&format!("lake/{rel}"))).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .metadata()
        .clone();
    let columns = meta.file_metadata().schema_descr();
    let time_idx = (0..columns.num_columns())
        .find(|&i| columns.column(i).name() == "order_time")
        .unwrap();
    assert_eq!(
        meta.row_group(0).sorting_columns(),
        Some(&vec![parquet::file::metadata::SortingColumn {
            column_idx: time_idx as i32,
            descending: true,
            nulls_first: false
        }])
    );
}
