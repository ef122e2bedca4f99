use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use dbsnaplake_core::config::Compression;
use dbsnaplake_core::manifest::{DataFile, write_manifest};
use dbsnaplake_core::parquet_io::{write_file, writer_properties};
use dbsnaplake_core::partition::{DEFAULT_PARTITION, unescape};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_round_trip_and_stay_under_the_table() {
    let s = Scenario::new();
    let manifest = s.generate(8_000, 2, &[]).await;
    let job = s.job(
        &manifest,
        r#"{"tables": {"*": {"partition_by": [{"name": "region", "from": "region", "fn": "value"}]}}}"#,
    );
    s.run(&job).await.unwrap();
    let source = source_rows(&s, "");
    let region_of: HashMap<String, Option<String>> = strings(&source, "order_id")
        .into_iter()
        .map(Option::unwrap)
        .zip(strings(&source, "region"))
        .collect();
    let lake_root = std::fs::canonicalize(s.path("lake")).unwrap();
    let mut folders = std::collections::BTreeSet::new();
    let mut rows = 0;
    for (rel, batch) in read_parquet_tree(&s.path("lake")) {
        let (folder, _) = rel.split_once('/').unwrap();
        assert!(
            !rel[folder.len() + 1..].contains('/'),
            "one level only: {rel}"
        );
        let real = std::fs::canonicalize(s.path(&format!("lake/{rel}"))).unwrap();
        assert!(real.starts_with(&lake_root), "{rel} escaped the lake");
        let value = unescape(folder.strip_prefix("region=").unwrap());
        assert!(
            batch.column_by_name("region").is_none(),
            "partition column stays in the path"
        );
        for id in strings(&batch, "order_id") {
            assert_eq!(region_of[&id.unwrap()], value, "row in {folder}");
            rows += 1;
        }
        folders.insert(folder.to_string());
    }
    assert_eq!(rows, 8_000);
    let expected: std::collections::BTreeSet<String> = [
        "region=us-east",
        "region=eu%2Fwest",
        "region=a%3Db",
        "region=100%25",
        "region=%2E%2E",
        "region=東京",
        "region=São Paulo",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("region={DEFAULT_PARTITION}")])
    .collect();
    assert_eq!(folders, expected);
}

/// PostgreSQL RDS exports hold timestamps as ISO-8601 strings with offsets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iso8601_string_timestamps_partition_in_utc() {
    let s = Scenario::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("created_at", DataType::Utf8, true),
    ]));
    let created = [
        Some("2023-05-01 10:00:00+00"),
        Some("2023-05-31 23:30:00-02"), // 2023-06-01 01:30 UTC
        Some("2023-06-15T08:00:00.123456Z"),
        Some("2023-06-15"),
        None,
    ];
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Int64Array::from((1..=5).collect::<Vec<i64>>())),
            Arc::new(StringArray::from(created.to_vec())),
        ],
    )
    .unwrap();
    let uri = s.path("snap/data/t.parquet");
    let w = write_file(
        &s.store,
        &uri,
        schema,
        writer_properties(Compression::Snappy),
        &[batch],
    )
    .await
    .unwrap();
    let file = DataFile {
        n_record: Some(5),
        ..DataFile::new(uri, w.meta.size)
    };
    let manifest = s.path("snap/manifests/manifest-summary.json");
    write_manifest(
        &s.store,
        &manifest,
        &s.path("snap/manifests/manifest-data.parquet"),
        &[file],
        Default::default(),
    )
    .await
    .unwrap();
    let job = s.job(
        &manifest,
        r#"{"tables": {"*": {"partition_by": [
            {"name": "date", "from": "created_at", "fn": "date"},
            {"name": "hour", "from": "created_at", "fn": "hour"}],
            "sort_by": [{"column": "id"}]}}}"#,
    );
    s.run(&job).await.unwrap();
    let mut got: Vec<(String, Vec<i64>)> = read_parquet_tree(&s.path("lake"))
        .into_iter()
        .map(|(rel, b)| {
            let ids = b
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec();
            (rel.rsplit_once('/').unwrap().0.to_string(), ids)
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("date=2023-05-01/hour=10".to_string(), vec![1]),
            ("date=2023-06-01/hour=01".to_string(), vec![2]),
            ("date=2023-06-15/hour=00".to_string(), vec![4]),
            ("date=2023-06-15/hour=08".to_string(), vec![3]),
            (
                format!("date={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}"),
                vec![5]
            ),
        ]
    );
}

/// A source timestamp in a named zone (pyarrow's and pandas's usual
/// `timestamp[us, tz=…]`) partitions and derives in that zone, across DST.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_in_a_named_zone_partition_in_that_zone() {
    use arrow::array::{AsArray, TimestampMicrosecondArray};
    let s = Scenario::new();
    // 06:30Z on 2024-03-10 (01:30 EST) and an hour later, 03:30 EDT (the
    // clocks sprang forward); 04:30Z on 2024-11-03 (00:30 EDT) and an hour
    // later, 01:30 EDT.
    let at = [
        1_710_052_200_000_000_i64,
        1_710_055_800_000_000,
        1_730_608_200_000_000,
        1_730_611_800_000_000,
    ];
    let ts = TimestampMicrosecondArray::from(at.to_vec()).with_timezone("America/New_York");
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as _),
        ("at", Arc::new(ts) as _),
    ])
    .unwrap();
    let store = s.store.clone();
    write_file(
        &store,
        &s.path("in/a.parquet"),
        batch.schema(),
        writer_properties(Compression::Snappy),
        &[batch],
    )
    .await
    .unwrap();
    let job = dbsnaplake_core::Job::from_json(
        &serde_json::json!({
            "source": {"files": s.path("in")},
            "staging": s.path("staging"), "datalake": s.path("lake"),
            "tables": {"*": {
                "partition_by": [{"name": "day", "from": "at", "fn": "day"}],
                "transform": [{"derive": {"name": "hour", "from": "at", "fn": "hour"}}],
                "sort_by": [{"column": "id"}]}}
        })
        .to_string(),
    )
    .unwrap();
    let v = s.run(&job).await.unwrap();
    assert!(v.valid, "{v:?}");
    let mut got = Vec::new();
    for (rel, b) in read_parquet_tree(&s.path("lake")) {
        let day = rel.split('/').next().unwrap().to_string();
        let ids = b
            .column_by_name("id")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        let hours = b
            .column_by_name("hour")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>();
        for i in 0..b.num_rows() {
            got.push((ids.value(i), day.clone(), hours.value(i)));
        }
    }
    got.sort();
    assert_eq!(
        got,
        [
            (1, "day=10".to_string(), 1),
            (2, "day=10".to_string(), 3),
            (3, "day=03".to_string(), 0),
            (4, "day=03".to_string(), 1),
        ]
    );
}
