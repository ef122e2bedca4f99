//! Schema drift across the files of one table: missing columns become nulls,
//! narrower types widen, conflicts name the column and both files.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray, TimestampMillisecondArray,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType,
};
use dbsnaplake_core::Job;
use dbsnaplake_core::parquet_io::{write_file, writer_properties};
use serde_json::json;

use crate::common::{Scenario, read_parquet_tree, sorted_by};

/// Hours after 2022-01-01 in microseconds.
const T0_US: i64 = 1_640_995_200_000_000;
const HOUR_US: i64 = 3_600_000_000;

async fn put(s: &Scenario, rel: &str, columns: Vec<(&str, ArrayRef)>) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .unwrap();
    write_file(
        &s.store,
        &s.path(rel),
        schema,
        writer_properties(Default::default()),
        &[batch],
    )
    .await
    .unwrap();
}

fn job(s: &Scenario) -> Job {
    Job::from_json(
        &json!({
            "source": {"files": s.path("snap"), "table": "db/public/orders"},
            "staging": s.path("staging"),
            "datalake": s.path("lake"),
            "tables": {"*": {
                "partition_by": [{"name": "year", "from": "ts", "fn": "year"}],
                "sort_by": [{"column": "ts", "descending": true}]}},
            // One group per file: the files' rows meet only in compaction.
            "group_size": 1,
        })
        .to_string(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drifting_files_share_one_widened_schema_with_nulls_for_missing_columns() {
    let s = Scenario::new();
    let ids = |from: i32| (from..from + 100).collect::<Vec<i32>>();
    let hours = |from: i64| (from..from + 100).map(|h| T0_US + h * HOUR_US * 50);
    // a: narrow types, no note.
    put(
        &s,
        "snap/a.parquet",
        vec![
            ("id", Arc::new(Int32Array::from(ids(0)))),
            (
                "amount",
                Arc::new(Float32Array::from_iter_values(
                    (0..100).map(|i| i as f32 + 0.5),
                )),
            ),
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    hours(0).map(|t| t / 1000),
                )),
            ),
        ],
    )
    .await;
    // b: wide types, columns in another order, an extra note.
    put(
        &s,
        "snap/b.parquet",
        vec![
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from_iter_values(hours(100))),
            ),
            (
                "note",
                Arc::new(StringArray::from_iter_values(
                    (0..100).map(|i| format!("n{i}")),
                )),
            ),
            ("id", Arc::new(Int64Array::from_iter_values(100..200))),
            (
                "amount",
                Arc::new(Float64Array::from_iter_values(
                    (100..200).map(|i| i as f64 + 0.25),
                )),
            ),
        ],
    )
    .await;
    // c: no amount.
    put(
        &s,
        "snap/c.parquet",
        vec![
            ("id", Arc::new(Int32Array::from(ids(200)))),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from_iter_values(hours(200))),
            ),
        ],
    )
    .await;

    let v = s.run(&job(&s)).await.unwrap();
    assert_eq!(v.n_record(), 300);
    let tree = read_parquet_tree(&s.path("lake"));
    let want = Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("note", DataType::Utf8, true),
    ]);
    for (rel, b) in &tree {
        assert_eq!(b.schema().as_ref(), &want, "{rel}");
    }
    let all = sorted_by(&tree.into_iter().map(|(_, b)| b).collect::<Vec<_>>(), "id");
    let id = all.column(0).as_primitive::<Int64Type>();
    assert_eq!(id.values().to_vec(), (0..300).collect::<Vec<i64>>());
    let amount = all.column(1).as_primitive::<Float64Type>();
    let ts = all.column(2).as_primitive::<TimestampMicrosecondType>();
    let note = all.column(3).as_string::<i32>();
    for i in 0..300usize {
        let h = i as i64;
        assert_eq!(ts.value(i), T0_US + h * HOUR_US * 50, "ts of {i}");
        match i {
            0..100 => {
                assert_eq!(amount.value(i), i as f64 + 0.5);
                assert!(note.is_null(i));
            }
            100..200 => {
                assert_eq!(amount.value(i), i as f64 + 0.25);
                assert_eq!(note.value(i), format!("n{}", i - 100));
            }
            _ => {
                assert!(amount.is_null(i), "amount of {i}");
                assert!(note.is_null(i));
            }
        }
    }
    // The plan records the schema it decided.
    let schemas: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path("staging/manifests/snapshot-file-groups/schemas.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        schemas["db/public/orders"]["columns"],
        json!([{"name": "id", "type": "Int64"}, {"name": "amount", "type": "Float64"},
               {"name": "ts", "type": "Timestamp(µs)"}, {"name": "note", "type": "Utf8"}])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_conflict_between_files_names_the_column_and_both_files() {
    let s = Scenario::new();
    put(
        &s,
        "snap/a.parquet",
        vec![
            ("id", Arc::new(Int64Array::from_iter_values(0..10))),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from_iter_values(0..10)),
            ),
        ],
    )
    .await;
    put(
        &s,
        "snap/b.parquet",
        vec![
            (
                "id",
                Arc::new(StringArray::from_iter_values(
                    (0..10).map(|i| i.to_string()),
                )),
            ),
            (
                "ts",
                Arc::new(TimestampMicrosecondArray::from_iter_values(0..10)),
            ),
        ],
    )
    .await;
    let e = s.run(&job(&s)).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "table db/public/orders: column \"id\" is Int64 in {} but Utf8 in {}; the types do not widen to one",
            s.path("snap/a.parquet"),
            s.path("snap/b.parquet")
        )
    );
    assert!(!s.success());
}
