//! `"source": {"rds_export": …}` with the database's types restored: a
//! PostgreSQL export's numerics, dates, times and timestamps written as text
//! and a MySQL export's char columns written as bytes arrive typed; a value
//! that does not convert keeps its column text (when the statistics show it)
//! or fails its group naming it; `restore_types: false` and `source.types`
//! pins.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Decimal128Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Time64MicrosecondType, TimeUnit, TimestampMicrosecondType,
};
use dbsnaplake_core::Job;
use dbsnaplake_core::manifest::read_summary;

use crate::common::{Scenario, read_parquet_tree, sorted_by};
use crate::rds::{export_info, lake_rows, part, put, write};

const TASK: &str = "appdb-export-20240602";

fn mapping(column: &str, t: &str, precision: u32) -> serde_json::Value {
    serde_json::json!({"columnName": column, "originalType": t, "expectedExportedType": "binary (UTF8)",
                       "originalCharMaxLength": 0, "originalNumPrecision": precision,
                       "originalDateTimePrecision": 0})
}

fn tables_info(target: &str, mappings: Vec<serde_json::Value>) -> String {
    serde_json::json!({"perTableStatus": [{
        "tableStatistics": {"partitioningInfo": {"numberOfPartitions": 1, "numberOfCompletedPartitions": 1}},
        "schemaMetadata": {"originalTypeMappings": mappings},
        "status": "COMPLETE", "sizeGB": 1.0e-05, "target": target}]})
    .to_string()
}

fn strings(v: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(v))
}

/// PostgreSQL orders `from..to` as the export writes them: every mapped
/// type as text, with NULLs, `NaN` in `ratio`, offsets in `placed_at`.
fn pg_orders(from: i64, to: i64) -> RecordBatch {
    let ids: Vec<i64> = (from..to).collect();
    let each = |f: &dyn Fn(i64) -> Option<String>| strings(ids.iter().map(|i| f(*i)).collect());
    let offsets = ["+00", "+05:30", "-08", "+01:00"];
    RecordBatch::try_from_iter([
        (
            "order_id",
            Arc::new(Int64Array::from(ids.clone())) as ArrayRef,
        ),
        (
            "amount",
            each(&|i| (i % 9 != 4).then(|| format!("{}.{:02}", i * 37 % 100_000, i % 100))),
        ),
        (
            "ratio",
            each(&|i| {
                Some(if i % 40 == 0 {
                    "NaN".into()
                } else {
                    format!("0.{:04}", i % 10_000)
                })
            }),
        ),
        ("huge", each(&|i| Some(format!("{i}{}", "0".repeat(45))))),
        ("free", each(&|i| Some(format!("{i}.{}", i % 7)))),
        (
            "day",
            each(&|i| (i % 11 != 3).then(|| format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28))),
        ),
        (
            "at_time",
            each(&|i| {
                Some(format!(
                    "{:02}:{:02}:{:02}.{:03}",
                    i % 24,
                    i % 60,
                    (i * 7) % 60,
                    i % 1000
                ))
            }),
        ),
        (
            "local_ts",
            each(&|i| Some(format!("2023-06-{:02} {:02}:15:00.5", 1 + i % 30, i % 24))),
        ),
        (
            "placed_at",
            each(&|i| {
                (i % 13 != 5).then(|| {
                    format!(
                        "2024-03-31 {:02}:30:00{}",
                        20 + i % 4,
                        offsets[i as usize % 4]
                    )
                })
            }),
        ),
        ("doc", each(&|i| Some(format!("{{\"n\": {i}}}")))),
        (
            "flag",
            Arc::new(BooleanArray::from(
                ids.iter().map(|i| i % 2 == 0).collect::<Vec<_>>(),
            )),
        ),
    ])
    .unwrap()
}

fn pg_mappings() -> Vec<serde_json::Value> {
    vec![
        mapping("order_id", "bigint", 19),
        mapping("amount", "numeric", 12),
        mapping("ratio", "numeric", 10),
        mapping("huge", "numeric", 50),
        mapping("free", "numeric", 0),
        mapping("day", "date", 0),
        mapping("at_time", "time without time zone", 0),
        mapping("local_ts", "timestamp without time zone", 0),
        mapping("placed_at", "timestamp with time zone", 0),
        mapping("doc", "jsonb", 0),
        mapping("flag", "boolean", 0),
    ]
}

/// A PostgreSQL export of `orders` in two files; returns their rows.
fn pg_export(s: &Scenario, batches: &[RecordBatch]) {
    let root = s.path(&format!("export/{TASK}"));
    put(
        &format!("{root}/export_info_{TASK}.json"),
        &export_info(TASK, "COMPLETE"),
    );
    put(
        &format!("{root}/export_tables_info_{TASK}_from_1_to_1.json"),
        &tables_info("appdb.public.orders", pg_mappings()),
    );
    for (i, b) in batches.iter().enumerate() {
        write(
            &format!("{root}/appdb/public.orders/1/{}", part(i as u32)),
            b,
        );
    }
}

fn job(s: &Scenario, source: serde_json::Value, tables: serde_json::Value) -> Job {
    job_of(s, TASK, source, tables)
}

fn job_of(s: &Scenario, task: &str, source: serde_json::Value, tables: serde_json::Value) -> Job {
    let mut source = source;
    source["rds_export"] = s.path(&format!("export/{task}/")).into();
    Job::from_json(
        &serde_json::json!({"source": source, "staging": s.path("staging"),
                            "datalake": s.path("lake"), "tables": tables})
        .to_string(),
    )
    .unwrap()
}

/// Days since 1970 of a `YYYY-MM-DD`, by chrono (not the code under test).
fn days(d: &str) -> i32 {
    let d = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

#[tokio::test]
async fn postgres_text_columns_arrive_in_their_database_types() {
    let s = Scenario::new();
    let source = [pg_orders(0, 700), pg_orders(700, 1_200)];
    pg_export(&s, &source);
    let job = job(
        &s,
        serde_json::json!({}),
        serde_json::json!({"*": {
            "partition_by": [{"name": "month", "from": "placed_at", "fn": "month"}],
            "sort_by": [{"column": "placed_at"}]}}),
    );
    let v = s.run(&job).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    assert_eq!(v.n_record(), 1_200);

    let got = lake_rows(&s, "appdb/public/orders", "order_id");
    let want = sorted_by(&source, "order_id");
    let ty = |c: &str| got.column_by_name(c).unwrap().data_type().clone();
    assert_eq!(ty("amount"), DataType::Decimal128(12, 2));
    assert_eq!(ty("day"), DataType::Date32);
    assert_eq!(ty("at_time"), DataType::Time64(TimeUnit::Microsecond));
    assert_eq!(
        ty("local_ts"),
        DataType::Timestamp(TimeUnit::Microsecond, None)
    );
    assert_eq!(
        ty("placed_at"),
        DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
    );
    for kept in ["ratio", "huge", "free", "doc"] {
        assert_eq!(ty(kept), DataType::Utf8, "{kept} stays text");
    }
    assert_eq!(ty("flag"), DataType::Boolean);

    let text = |c: &str| crate::common::strings(&want, c);
    // Each restored value against the exported string, parsed by chrono
    // and by hand here.
    let amount = got
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    for (i, t) in text("amount").iter().enumerate() {
        let expect = t
            .as_ref()
            .map(|t| t.replace('.', "").parse::<i128>().unwrap());
        assert_eq!(
            amount.is_valid(i).then(|| amount.value(i)),
            expect,
            "amount {t:?}"
        );
    }
    let day = got
        .column_by_name("day")
        .unwrap()
        .as_primitive::<Date32Type>();
    for (i, t) in text("day").iter().enumerate() {
        assert_eq!(
            day.is_valid(i).then(|| day.value(i)),
            t.as_deref().map(days)
        );
    }
    let at = got
        .column_by_name("at_time")
        .unwrap()
        .as_primitive::<Time64MicrosecondType>();
    for (i, t) in text("at_time").iter().enumerate() {
        let t = chrono::NaiveTime::parse_from_str(t.as_deref().unwrap(), "%H:%M:%S%.f").unwrap();
        let micros = (t - chrono::NaiveTime::MIN).num_microseconds().unwrap();
        assert_eq!(at.value(i), micros);
    }
    let local = got
        .column_by_name("local_ts")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    for (i, t) in text("local_ts").iter().enumerate() {
        let t =
            chrono::NaiveDateTime::parse_from_str(t.as_deref().unwrap(), "%Y-%m-%d %H:%M:%S%.f")
                .unwrap();
        assert_eq!(local.value(i), t.and_utc().timestamp_micros());
    }
    let placed = got
        .column_by_name("placed_at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    for (i, t) in text("placed_at").iter().enumerate() {
        let expect = t.as_deref().map(|t| {
            let t = if t.len() == 22 {
                format!("{t}:00")
            } else {
                t.to_string()
            };
            chrono::DateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S%:z")
                .unwrap()
                .timestamp_micros()
        });
        assert_eq!(placed.is_valid(i).then(|| placed.value(i)), expect, "{t:?}");
    }
    for c in ["ratio", "huge", "free", "doc"] {
        assert_eq!(crate::common::strings(&got, c), text(c), "{c} unchanged");
    }

    // Partitioned by the UTC month: 2024-03-31 22:30-08 is April 1st in UTC.
    let mut months: Vec<String> = std::fs::read_dir(s.path("lake/appdb/public/orders"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    months.sort();
    assert_eq!(
        months,
        ["month=03", "month=04", "month=__HIVE_DEFAULT_PARTITION__"]
    );
    for (path, b) in read_parquet_tree(&s.path("lake/appdb/public/orders")) {
        let p = b
            .column_by_name("placed_at")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            let want_month = if p.is_null(i) {
                "__HIVE_DEFAULT_PARTITION__".to_string()
            } else {
                let at = chrono::DateTime::from_timestamp_micros(p.value(i)).unwrap();
                format!("{:02}", chrono::Datelike::month(&at))
            };
            assert!(path.starts_with(&format!("month={want_month}/")), "{path}");
        }
    }

    let summary = read_summary(&s.store, &s.path("staging/manifests/manifest-summary.json"))
        .await
        .unwrap();
    let types = &summary.details.snapshot.rds_export.unwrap().types["appdb/public/orders"];
    assert_eq!(types["amount"].original, "numeric(12)");
    assert_eq!(types["amount"].lake, "Decimal128(12, 2)");
    assert_eq!(types["amount"].why, None);
    let why = |c: &str| types[c].why.clone().unwrap_or_default();
    assert!(
        why("ratio").contains("\"NaN\" is not a number"),
        "{}",
        why("ratio")
    );
    assert!(why("huge").contains("over the 38"), "{}", why("huge"));
    assert!(why("free").contains("unconstrained"), "{}", why("free"));
    assert!(!types.contains_key("doc") && !types.contains_key("flag"));
}

#[tokio::test]
async fn a_value_the_statistics_hid_fails_its_group_naming_it() {
    let s = Scenario::new();
    // min 1.50 and max 9.99 look like decimal(12,2); 1.505 lies between.
    let mut b = pg_orders(0, 3);
    let amount = strings(vec![
        Some("1.50".into()),
        Some("1.505".into()),
        Some("9.99".into()),
    ]);
    b = RecordBatch::try_new(
        b.schema(),
        b.columns()
            .iter()
            .enumerate()
            .map(|(i, c)| if i == 1 { amount.clone() } else { c.clone() })
            .collect(),
    )
    .unwrap();
    pg_export(&s, &[b]);
    let e = s
        .run(&job(&s, serde_json::json!({}), serde_json::json!({})))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("appdb/public/orders")
            && e.contains("\"amount\"")
            && e.contains(&part(0))
            && e.contains("\"1.505\" has more than 2 digits after the point"),
        "{e}"
    );
    assert!(!s.success());
}

#[tokio::test]
async fn restore_types_false_keeps_the_export_and_pins_win() {
    let s = Scenario::new();
    let source = [pg_orders(0, 300)];
    pg_export(&s, &source);
    let v = s
        .run(&job(
            &s,
            serde_json::json!({"restore_types": false}),
            serde_json::json!({}),
        ))
        .await
        .unwrap();
    assert!(v.valid, "{v:?}");
    let got = lake_rows(&s, "appdb/public/orders", "order_id");
    for c in ["amount", "day", "placed_at"] {
        assert_eq!(
            got.column_by_name(c).unwrap().data_type(),
            &DataType::Utf8,
            "{c}"
        );
    }

    let s = Scenario::new();
    pg_export(&s, &source);
    let pins = serde_json::json!({"types": {
        "appdb/public/orders.amount": "decimal(20,4)",
        "appdb/public/orders.day": "string",
        "appdb/public/orders.huge": "decimal(38,0)"}});
    let e = s
        .run(&job(&s, pins.clone(), serde_json::json!({})))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("\"huge\""),
        "a 46-digit value fits no pin: {e}"
    );

    let s = Scenario::new();
    pg_export(&s, &source);
    let mut pins = pins;
    pins["types"]
        .as_object_mut()
        .unwrap()
        .remove("appdb/public/orders.huge");
    let v = s.run(&job(&s, pins, serde_json::json!({}))).await.unwrap();
    assert!(v.valid, "{v:?}");
    let got = lake_rows(&s, "appdb/public/orders", "order_id");
    assert_eq!(
        got.column_by_name("amount").unwrap().data_type(),
        &DataType::Decimal128(20, 4)
    );
    assert_eq!(
        got.column_by_name("day").unwrap().data_type(),
        &DataType::Utf8
    );
    assert_eq!(
        got.column_by_name("at_time").unwrap().data_type(),
        &DataType::Time64(TimeUnit::Microsecond)
    );
    let amount = got
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    let want = crate::common::strings(&sorted_by(&source, "order_id"), "amount");
    assert_eq!(
        (0..got.num_rows())
            .map(|i| amount.is_valid(i).then(|| amount.value(i)))
            .collect::<Vec<_>>(),
        want.iter()
            .map(|t| t
                .as_ref()
                .map(|t| t.replace('.', "").parse::<i128>().unwrap() * 100))
            .collect::<Vec<_>>()
    );

    let s = Scenario::new();
    pg_export(&s, &source);
    let e = s
        .run(&job(
            &s,
            serde_json::json!({"types": {"appdb/public/nope.x": "string"}}),
            serde_json::json!({}),
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"appdb/public/nope.x\" names no table of the export"),
        "{e}"
    );
}

const MYSQL_TASK: &str = "shop-export-20240602";

const NAMES: [&str; 4] = ["Zoë", "日本語", "Ørsted", "plain"];

/// A MySQL export of `customers` whose `name` bytes are UTF-8, but for one
/// value when `bad`; returns its data file.
fn mysql_export(s: &Scenario, bad: bool) -> String {
    let root = s.path(&format!("export/{MYSQL_TASK}"));
    put(
        &format!("{root}/export_info_{MYSQL_TASK}.json"),
        &export_info(MYSQL_TASK, "COMPLETE"),
    );
    put(
        &format!("{root}/export_tables_info_{MYSQL_TASK}_from_1_to_1.json"),
        &tables_info(
            "shop.customers",
            vec![
                mapping("id", "int", 10),
                mapping("name", "varchar", 0),
                mapping("code", "char", 0),
                mapping("photo", "blob", 0),
                mapping("opens", "time", 0),
                mapping("since", "date", 0),
                mapping("vip", "tinyint", 1),
                mapping("price", "decimal", 12),
            ],
        ),
    );
    let n = 400;
    let batch = {
        RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int32Array::from_iter_values(0..n)) as ArrayRef,
            ),
            (
                "name",
                Arc::new(BinaryArray::from_iter((0..n).map(|i| {
                    (i % 10 != 9).then(|| {
                        if bad && i == 7 {
                            vec![0x5a, 0xff, 0x41]
                        } else {
                            NAMES[i as usize % 4].as_bytes().to_vec()
                        }
                    })
                }))),
            ),
            (
                "code",
                Arc::new(BinaryArray::from_iter_values(
                    (0..n).map(|i| format!("C{i:03}").into_bytes()),
                )),
            ),
            (
                "photo",
                Arc::new(BinaryArray::from_iter_values(
                    (0..n).map(|i| vec![0xff, i as u8]),
                )),
            ),
            (
                "opens",
                strings(
                    (0..n)
                        .map(|i| Some(format!("{:02}:30:00", i % 24)))
                        .collect(),
                ),
            ),
            (
                "since",
                strings(
                    (0..n)
                        .map(|i| Some(format!("2020-01-{:02}", 1 + i % 31)))
                        .collect(),
                ),
            ),
            (
                "vip",
                Arc::new(Int32Array::from_iter_values((0..n).map(|i| i % 2))),
            ),
            (
                "price",
                Arc::new(
                    Decimal128Array::from_iter_values((0..n).map(i128::from))
                        .with_precision_and_scale(12, 2)
                        .unwrap(),
                ),
            ),
        ])
        .unwrap()
    };
    let file = format!("{root}/shop/shop.customers/1/{}", part(0));
    write(&file, &batch);
    file
}

#[tokio::test]
async fn mysql_char_bytes_become_text_and_times_dates_are_typed() {
    let s = Scenario::new();
    mysql_export(&s, false);
    let no = || serde_json::json!({});
    let v = s.run(&job_of(&s, MYSQL_TASK, no(), no())).await.unwrap();
    assert!(v.valid, "{v:?}");
    let got = lake_rows(&s, "shop/shop/customers", "id");
    let ty = |c: &str| got.column_by_name(c).unwrap().data_type().clone();
    assert_eq!(ty("name"), DataType::Utf8);
    assert_eq!(ty("code"), DataType::Utf8);
    assert_eq!(ty("photo"), DataType::Binary, "a blob stays bytes");
    assert_eq!(ty("opens"), DataType::Time64(TimeUnit::Microsecond));
    assert_eq!(ty("since"), DataType::Date32);
    assert_eq!(ty("vip"), DataType::Int32, "tinyint(1) stays an integer");
    assert_eq!(ty("price"), DataType::Decimal128(12, 2));
    let name = crate::common::strings(&got, "name");
    for (i, v) in name.iter().enumerate() {
        let want = (i % 10 != 9).then(|| NAMES[i % 4].to_string());
        assert_eq!(v, &want);
    }
    assert_eq!(
        got.column_by_name("opens")
            .unwrap()
            .as_primitive::<Time64MicrosecondType>()
            .value(25),
        3_600_000_000 + 1_800_000_000
    );
    assert_eq!(
        got.column_by_name("vip")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>()
            .value(3),
        1
    );

    let s2 = Scenario::new();
    let bad_file = mysql_export(&s2, true);
    let e = s2
        .run(&job_of(&s2, MYSQL_TASK, no(), no()))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"name\"") && e.contains(&bad_file) && e.contains("is not UTF-8 text"),
        "{e}"
    );
}
