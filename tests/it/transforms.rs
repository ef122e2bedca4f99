//! Transforms in a job: rename, drop, cast, derive and filter, run through
//! the whole pipeline, with filtered records accounted for by the validator.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Field, Float32Type, Float64Type, Int64Type, Schema,
    TimestampMicrosecondType,
};
use dbsnaplake_core::parquet_io::{write_file, writer_properties};
use serde_json::json;

use crate::common::{Scenario, read_parquet_tree, snapshot_tree, sorted_by_id, source_rows};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_drop_cast_derive_and_filter_reach_the_lake() {
    let s = Scenario::new();
    let manifest = s.generate(6_000, 3, &["db/public/orders"]).await;
    let job = s.job(
        &manifest,
        &json!({"tables": {"*": {
            "transform": [
                {"rename": {"note": "comment"}},
                {"drop": ["tags"]},
                {"cast": {"discount": "float32"}},
                {"derive": {"name": "order_day", "from": "order_time", "fn": "date"}},
                {"derive": {"name": "bucket", "from": "customer_id", "fn": "hash_bucket", "n": 4}},
                {"filter": {"and": [
                    {"column": "status", "op": "in", "value": ["paid", "shipped"]},
                    {"column": "amount", "op": ">=", "value": 100}]}}
            ],
            "partition_by": [{"name": "bucket", "from": "bucket", "fn": "value"}],
            "sort_by": [{"column": "order_time", "descending": true}]}}})
        .to_string(),
    );
    let v = s.run(&job).await.unwrap();
    assert!(v.valid);

    let source = source_rows(&s, "db/public/orders");
    let status = source.column_by_name("status").unwrap().as_string::<i32>();
    let amount = source
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    let keep: Vec<usize> = (0..source.num_rows())
        .filter(|&i| matches!(status.value(i), "paid" | "shipped") && amount.value(i) >= 100 * 100)
        .collect();
    assert!(keep.len() > 1_000 && keep.len() < 4_000, "{}", keep.len());
    let t = &v.tables[0];
    assert_eq!(t.n_record, keep.len() as u64);
    assert_eq!(t.filtered_records, 6_000 - keep.len() as u64);

    let tree = read_parquet_tree(&s.path("lake"));
    let mut bucket_of: BTreeMap<i64, String> = BTreeMap::new();
    for (rel, b) in &tree {
        let folder = rel.split('/').nth(3).unwrap().to_string();
        assert!(
            ["bucket=0", "bucket=1", "bucket=2", "bucket=3"].contains(&folder.as_str()),
            "{rel}"
        );
        let names: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "order_id",
                "customer_id",
                "order_time",
                "amount",
                "discount",
                "status",
                "comment",
                "ship_date",
                "region",
                "order_day"
            ],
            "{rel}"
        );
        for c in b
            .column_by_name("customer_id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
        {
            let prev = bucket_of.insert(*c, folder.clone());
            assert!(
                prev.is_none_or(|p| p == folder),
                "customer {c} in two buckets"
            );
        }
    }
    let lake = sorted_by_id(&tree.into_iter().map(|(_, b)| b).collect::<Vec<_>>());
    assert_eq!(lake.num_rows(), keep.len());
    let col = |b: &RecordBatch, n: &str| b.column_by_name(n).unwrap().clone();
    let (src_id, lake_id) = (col(&source, "order_id"), col(&lake, "order_id"));
    let (src_note, lake_comment) = (col(&source, "note"), col(&lake, "comment"));
    let (src_time, lake_day) = (col(&source, "order_time"), col(&lake, "order_day"));
    let (src_disc, lake_disc) = (col(&source, "discount"), col(&lake, "discount"));
    assert_eq!(lake_disc.data_type(), &DataType::Float32);
    for (j, &i) in keep.iter().enumerate() {
        assert_eq!(
            lake_id.as_string::<i32>().value(j),
            src_id.as_string::<i32>().value(i)
        );
        assert_eq!(
            lake_comment.as_string::<i32>().is_null(j),
            src_note.as_string::<i32>().is_null(i)
        );
        if src_note.is_valid(i) {
            assert_eq!(
                lake_comment.as_string::<i32>().value(j),
                src_note.as_string::<i32>().value(i)
            );
        }
        let micros = src_time.as_primitive::<TimestampMicrosecondType>().value(i);
        assert_eq!(
            lake_day.as_primitive::<Date32Type>().value(j) as i64,
            micros.div_euclid(86_400_000_000)
        );
        if src_disc.is_valid(i) {
            assert_eq!(
                lake_disc.as_primitive::<Float32Type>().value(j),
                src_disc.as_primitive::<Float64Type>().value(i) as f32
            );
        } else {
            assert!(lake_disc.is_null(j));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rds_style_string_timestamps_parse_and_partition() {
    let s = Scenario::new();
    // RDS exports of MySQL DATETIME columns often arrive as text.
    let created: Vec<String> = (0..500)
        .map(|i| {
            format!(
                "{}-0{}-1{} 0{}:15:30.{:06}",
                2020 + i % 3,
                1 + i % 9,
                i % 10,
                i % 10,
                i
            )
        })
        .collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("created", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow::array::Int64Array::from_iter_values(0..500)),
            Arc::new(StringArray::from_iter_values(created.iter())),
        ],
    )
    .unwrap();
    write_file(
        &s.store,
        &s.path("snap/part-1.parquet"),
        schema,
        writer_properties(Default::default()),
        &[batch],
    )
    .await
    .unwrap();
    let job = dbsnaplake_core::Job::from_json(
        &json!({
            "source": {"files": s.path("snap")},
            "staging": s.path("staging"), "datalake": s.path("lake"),
            "tables": {"*": {
                "transform": [
                    {"derive": {"name": "created_at", "from": "created", "fn": "parse_timestamp",
                                "format": "%Y-%m-%d %H:%M:%S%.f"}},
                    {"drop": ["created"]},
                    {"derive": {"name": "hour", "from": "created_at", "fn": "truncate", "unit": "hour"}}],
                "partition_by": [{"name": "year", "from": "created_at", "fn": "year"}],
                "sort_by": [{"column": "id"}]}}
        })
        .to_string(),
    )
    .unwrap();
    assert!(s.run(&job).await.unwrap().valid);
    let tree = read_parquet_tree(&s.path("lake"));
    let folders: BTreeSet<&str> = tree
        .iter()
        .map(|(rel, _)| rel.split('/').next().unwrap())
        .collect();
    assert_eq!(
        folders,
        BTreeSet::from(["year=2020", "year=2021", "year=2022"])
    );
    let mut seen = 0;
    for (rel, b) in &tree {
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let at = b
            .column_by_name("created_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let hour = b
            .column_by_name("hour")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert!(b.column_by_name("created").is_none());
        for r in 0..b.num_rows() {
            let i = ids.value(r) as usize;
            let want = chrono::NaiveDateTime::parse_from_str(&created[i], "%Y-%m-%d %H:%M:%S%.f")
                .unwrap()
                .and_utc()
                .timestamp_micros();
            assert_eq!(at.value(r), want, "{rel} row {r}");
            assert_eq!(hour.value(r), want - want.rem_euclid(3_600_000_000));
            assert!(rel.starts_with(&format!("year={}", 2020 + i % 3)));
            seen += 1;
        }
    }
    assert_eq!(seen, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transform_naming_a_missing_column_is_refused_before_staging() {
    let s = Scenario::new();
    let manifest = s.generate(1_000, 2, &["db/public/orders"]).await;
    let job = s.job(
        &manifest,
        r#"{"tables": {"db/public/orders": {"transform": [
            {"rename": {"note": "comment"}},
            {"filter": {"column": "note", "op": "is null"}}]}}}"#,
    );
    let e = s.run(&job).await.unwrap_err().to_string();
    assert_eq!(
        e,
        "table db/public/orders: transform[1] (filter): no column \"note\" (columns: order_id, \
         customer_id, order_time, amount, discount, status, comment, tags, ship_date, region)"
    );
    assert!(
        !std::path::Path::new(&s.path("staging")).exists()
            || snapshot_tree(&s.path("staging"))
                .keys()
                .all(|k| k.starts_with("manifests/")),
        "nothing was staged"
    );
    assert!(!s.success());
}
