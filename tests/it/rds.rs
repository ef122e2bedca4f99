//! `"source": {"rds_export": …}`: RDS / Aurora snapshot exports in their
//! documented layouts (PostgreSQL- and MySQL-flavoured), run through the whole
//! pipeline and read back.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Decimal128Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use dbsnaplake_core::Job;
use dbsnaplake_core::manifest::read_summary;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel};
use parquet::file::properties::WriterProperties;

use crate::common::{Scenario, assert_same_rows, read_parquet_tree, sorted_by};

const PG_TASK: &str = "appdb-export-20240601";
const MYSQL_TASK: &str = "shop-export-20240601";

pub(crate) fn write(path: &str, batch: &RecordBatch) {
    std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::GZIP(GzipLevel::default()))
        .build();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(batch).unwrap();
    w.close().unwrap();
}

pub(crate) fn put(path: &str, text: &str) {
    std::fs::create_dir_all(std::path::Path::new(path).parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

pub(crate) fn part(n: u32) -> String {
    format!("part-{n:05}-7a1c6b1e-2f43-4e7a-9d55-0c6a3c1b2d4e-c000.gz.parquet")
}

/// PostgreSQL orders `from..to`: numerics and timestamps as strings, as RDS exports them.
fn pg_orders(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let amount: Vec<Option<String>> = ids
        .iter()
        .map(|i| match i % 50 {
            0 => Some("NaN".into()),
            7 => None,
            _ => Some(format!("{}.{:02}", i * 7 % 10_000, i % 100)),
        })
        .collect();
    let created: Vec<String> = ids
        .iter()
        .map(|i| {
            let month = 1 + (i % 24) as u32 % 12;
            let year = 2022 + (i % 24) / 12;
            format!(
                "{year}-{month:02}-{:02} {:02}:{:02}:24+00",
                1 + i % 28,
                i % 24,
                i % 60
            )
        })
        .collect();
    let note: Vec<Option<String>> = ids
        .iter()
        .map(|i| (i % 3 != 0).then(|| format!("note {i} — ünïcode")))
        .collect();
    RecordBatch::try_from_iter([
        ("order_id", Arc::new(Int64Array::from(ids)) as ArrayRef),
        ("amount", Arc::new(StringArray::from(amount))),
        ("created_at", Arc::new(StringArray::from(created))),
        ("note", Arc::new(StringArray::from(note))),
    ])
    .unwrap()
}

fn pg_customers(from: i32, to: i32) -> RecordBatch {
    let ids: Vec<i32> = (from..to).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("客户 {i}")).collect();
    let signup: Vec<String> = ids
        .iter()
        .map(|i| format!("2023-{:02}-01", 1 + i % 12))
        .collect();
    RecordBatch::try_from_iter([
        ("customer_id", Arc::new(Int32Array::from(ids)) as ArrayRef),
        ("name", Arc::new(StringArray::from(names))),
        ("signup", Arc::new(StringArray::from(signup))),
    ])
    .unwrap()
}

/// MySQL orders: DATETIME as microsecond timestamps, DECIMAL as decimal, BOOL as int.
fn mysql_orders(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let t0 = 1_672_531_200_000_000_i64; // 2023-01-01
    let created: Vec<i64> = ids.iter().map(|i| t0 + i * 86_400_000_000 / 3).collect();
    let price: Vec<i128> = ids.iter().map(|i| i128::from(*i) * 1_234 + 5).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Int64, false),
        Field::new(
            "created",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            true,
        ),
        Field::new("price", DataType::Decimal128(12, 2), true),
        Field::new("paid", DataType::Int32, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(TimestampMicrosecondArray::from(created)),
            Arc::new(
                Decimal128Array::from(price)
                    .with_precision_and_scale(12, 2)
                    .unwrap(),
            ),
            Arc::new(Int32Array::from_iter_values(
                ids.iter().map(|i| (i % 2) as i32),
            )),
        ],
    )
    .unwrap()
}

pub(crate) fn export_info(task: &str, status: &str) -> String {
    serde_json::json!({
        "exportTaskIdentifier": task,
        "sourceArn": format!("arn:aws:rds:us-east-1:123456789012:cluster-snapshot:rds:{task}"),
        "exportOnly": [], "snapshotTime": "2024-06-01T03:05:00Z",
        "taskStartTime": "2024-06-01T03:10:00Z", "taskEndTime": "2024-06-01T03:40:00Z",
        "s3Bucket": "acme-rds-exports", "s3Prefix": "exports/nightly",
        "status": status, "percentProgress": if status == "COMPLETE" { 100 } else { 40 },
        "totalExportedDataInGB": 0.0312
    })
    .to_string()
}

fn table_status(target: &str, status: &str) -> serde_json::Value {
    serde_json::json!({
        "TableStatistics": {"partitioningInfo": {"numberOfPartitions": 4, "numberOfCompletedPartitions": 4}},
        "schemaMetadata": {"originalTypeMappings": []},
        "status": status, "sizeGB": 1.2e-05, "target": target
    })
}

/// A PostgreSQL export under `export/<task>/`: orders over two batch folders
/// with a gap in part numbers, customers, a failed table (with leftover
/// files) and a database-level warning; two tables-info files with different
/// key casing. Returns the batches written per table.
fn pg_export(s: &Scenario, status: &str) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let root = s.path(&format!("export/{PG_TASK}"));
    put(
        &format!("{root}/export_info_{PG_TASK}.json"),
        &export_info(PG_TASK, status),
    );
    put(
        &format!("{root}/export_tables_info_{PG_TASK}_from_1_to_2.json"),
        &serde_json::json!({"perTableStatus": [
            table_status("appdb.public.orders", "COMPLETE"),
            table_status("appdb.public.customers", "COMPLETE"),
        ]})
        .to_string(),
    );
    let mut failed = table_status("appdb.public.secrets", "FAILED");
    failed["warningMessage"] = "PERMISSIONS_DO_NOT_EXIST".into();
    put(
        &format!("{root}/export_tables_info_{PG_TASK}_from_3_to_4.json"),
        &serde_json::json!({"PerTableStatus": [
            failed,
            {"target": "appdb", "status": "COMPLETE",
             "warningMessage": "{\"skippedTables\":[],\"general\":[{\"reason\":\"FAILED_TO_EXTRACT_TABLES_LIST_FOR_DATABASE\"}]}"}
        ]})
        .to_string(),
    );
    let orders = vec![
        pg_orders(0, 1_500),
        pg_orders(1_500, 2_600),
        pg_orders(2_600, 4_000),
        pg_orders(4_000, 4_300),
    ];
    write(
        &format!("{root}/appdb/public.orders/1/{}", part(0)),
        &orders[0],
    );
    write(
        &format!("{root}/appdb/public.orders/1/{}", part(1)),
        &orders[1],
    );
    write(
        &format!("{root}/appdb/public.orders/1/{}", part(3)),
        &orders[2],
    );
    write(
        &format!("{root}/appdb/public.orders/2/{}", part(0)),
        &orders[3],
    );
    put(&format!("{root}/appdb/public.orders/1/_SUCCESS"), "");
    put(&format!("{root}/appdb/public.orders/2/_SUCCESS"), "");
    let customers = vec![pg_customers(0, 700)];
    write(
        &format!("{root}/appdb/public.customers/1/{}", part(0)),
        &customers[0],
    );
    write(
        &format!("{root}/appdb/public.secrets/1/{}", part(0)),
        &pg_customers(0, 5),
    );
    (orders, customers)
}

fn job(s: &Scenario, task: &str, tables: serde_json::Value) -> Job {
    Job::from_json(
        &serde_json::json!({
            "source": {"rds_export": s.path(&format!("export/{task}/"))},
            "staging": s.path("staging"),
            "datalake": s.path("lake"),
            "tables": tables,
            "group_size": 60_000,
            "file_size": 60_000,
        })
        .to_string(),
    )
    .unwrap()
}

/// Every row of the lake's `table`, sorted by `id`, without the hive columns.
pub(crate) fn lake_rows(s: &Scenario, table: &str, id: &str) -> RecordBatch {
    let batches: Vec<RecordBatch> = read_parquet_tree(&s.path(&format!("lake/{table}")))
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    assert!(!batches.is_empty(), "no file in lake/{table}");
    sorted_by(&batches, id)
}

#[tokio::test]
async fn a_postgres_export_becomes_one_lake_folder_per_table() {
    let s = Scenario::new();
    let (orders, customers) = pg_export(&s, "COMPLETE");
    let job = job(
        &s,
        PG_TASK,
        serde_json::json!({
            "appdb/public/orders": {
                "partition_by": [{"name": "year", "from": "created_at", "fn": "year"},
                                 {"name": "month", "from": "created_at", "fn": "month"}],
                "sort_by": [{"column": "created_at", "descending": true}]},
            "*": {"sort_by": [{"column": "customer_id"}]}
        }),
    );
    let v = s.run(&job).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    assert_eq!(v.n_record(), 4_300 + 700);

    let got = lake_rows(&s, "appdb/public/orders", "order_id");
    assert_same_rows(&sorted_by(&orders, "order_id"), &got);
    for (path, b) in read_parquet_tree(&s.path("lake/appdb/public/orders")) {
        let times = crate::common::strings(&b, "created_at");
        let (year, month) = (&path[5..9], &path[16..18]);
        assert!(
            path.starts_with("year=") && path[10..].starts_with("month="),
            "{path}"
        );
        for t in &times {
            let t = t.as_deref().unwrap();
            assert_eq!((&t[..4], &t[5..7]), (year, month), "{path}");
        }
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(times, sorted, "{path} is sorted by created_at descending");
    }
    let got = lake_rows(&s, "appdb/public/customers", "customer_id");
    assert_same_rows(&sorted_by(&customers, "customer_id"), &got);
    assert!(
        !std::path::Path::new(&s.path("lake/appdb/public/secrets")).exists(),
        "a failed table is not loaded"
    );
    let lake_tables: Vec<_> = std::fs::read_dir(s.path("lake/appdb/public"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(lake_tables.len(), 2, "{lake_tables:?}");

    let summary = read_summary(&s.store, &s.path("staging/manifests/manifest-summary.json"))
        .await
        .unwrap();
    let details = summary.details.snapshot.rds_export.as_ref().unwrap();
    assert_eq!(details.skipped[0].target, "appdb.public.secrets");
    assert_eq!(details.skipped[0].status, "FAILED");
    assert_eq!(details.skipped[0].warning, "PERMISSIONS_DO_NOT_EXIST");
    assert!(details.warnings[0].starts_with("appdb: "));
    assert_eq!(details.task["exportTaskIdentifier"], PG_TASK);
    assert_eq!(
        details.unlisted_files, 1,
        "the failed table's leftover file"
    );
    assert_eq!(summary.n_record, Some(5_000));
}

#[tokio::test]
async fn a_mysql_export_uses_the_database_as_schema() {
    let s = Scenario::new();
    let root = s.path(&format!("export/{MYSQL_TASK}"));
    put(
        &format!("{root}/export_info_{MYSQL_TASK}.json"),
        &export_info(MYSQL_TASK, "COMPLETE"),
    );
    put(
        &format!("{root}/export_tables_info_{MYSQL_TASK}_from_1_to_2.json"),
        &serde_json::json!({"perTableStatus": [
            table_status("shop.orders", "COMPLETE"),
            table_status("shop.items", "COMPLETE"),
        ]})
        .to_string(),
    );
    let orders = vec![mysql_orders(0, 2_000), mysql_orders(2_000, 2_500)];
    write(
        &format!("{root}/shop/shop.orders/1/{}", part(0)),
        &orders[0],
    );
    write(
        &format!("{root}/shop/shop.orders/1/{}", part(2)),
        &orders[1],
    );
    // An older layout: no batch folder.
    let items = vec![pg_customers(0, 300)];
    write(&format!("{root}/shop/shop.items/{}", part(0)), &items[0]);

    let job = job(
        &s,
        MYSQL_TASK,
        serde_json::json!({
            "shop/shop/orders": {"partition_by": [{"name": "year", "from": "created", "fn": "year"}],
                                 "sort_by": [{"column": "created"}]}
        }),
    );
    let v = s.run(&job).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    let got = lake_rows(&s, "shop/shop/orders", "order_id");
    assert_same_rows(&sorted_by(&orders, "order_id"), &got);
    let years: Vec<_> = std::fs::read_dir(s.path("lake/shop/shop/orders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        years.contains(&"year=2023".to_string()) && years.len() >= 2,
        "{years:?}"
    );
    let got = lake_rows(&s, "shop/shop/items", "customer_id");
    assert_same_rows(&sorted_by(&items, "customer_id"), &got);
}

#[tokio::test]
async fn an_export_that_is_not_complete_is_refused() {
    let s = Scenario::new();
    pg_export(&s, "CANCELED");
    let job = job(&s, PG_TASK, serde_json::json!({}));
    let e = s.run(&job).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!("export_info_{PG_TASK}.json"))
            && e.contains("the export's status is \"CANCELED\", not \"COMPLETE\""),
        "{e}"
    );
    assert!(!s.success());

    let s = Scenario::new();
    std::fs::create_dir_all(s.path("export/nothing")).unwrap();
    let job = Job::from_json(
        &serde_json::json!({"source": {"rds_export": s.path("export/nothing")},
                            "staging": s.path("staging"), "datalake": s.path("lake")})
        .to_string(),
    )
    .unwrap();
    let e = s.run(&job).await.unwrap_err().to_string();
    assert!(
        e.contains("export/nothing") && e.contains("no export_info_*.json here"),
        "{e}"
    );
    assert!(!s.success());
}
