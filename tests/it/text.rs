//! NDJSON and CSV sources (plain and gzip): schemas inferred from a sample or
//! given in the job, run through the whole pipeline and read back.

use std::io::Write;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Decimal128Type, Float64Type, Int64Type, TimestampMicrosecondType};
use dbsnaplake_core::Job;
use serde_json::json;

use crate::common::{Scenario, read_parquet_tree, sorted_by, strings};

fn gz(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn put(s: &Scenario, rel: &str, bytes: &[u8]) {
    let path = s.path(rel);
    std::fs::create_dir_all(std::path::Path::new(&path).parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// `2022-01-01` plus `i` hours, as ISO-8601 text.
fn time(i: i64) -> String {
    let t = chrono::DateTime::from_timestamp(1_640_995_200 + i * 3_600 * 7, 0).unwrap();
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn job(s: &Scenario, source: serde_json::Value, partition_from: &str) -> Job {
    Job::from_json(
        &json!({
            "source": source,
            "staging": s.path("staging"),
            "datalake": s.path("lake"),
            "tables": {"*": {
                "partition_by": [{"name": "year", "from": partition_from, "fn": "year"}],
                "sort_by": [{"column": partition_from, "descending": true}]}},
            "group_size": 50_000,
            "file_size": 100_000,
        })
        .to_string(),
    )
    .unwrap()
}

fn lake(s: &Scenario) -> (Vec<(String, RecordBatch)>, RecordBatch) {
    let tree = read_parquet_tree(&s.path("lake"));
    let batches: Vec<RecordBatch> = tree.iter().map(|(_, b)| b.clone()).collect();
    let all = sorted_by(&batches, "id");
    (tree, all)
}

#[tokio::test]
async fn ndjson_files_with_an_inferred_schema() {
    let s = Scenario::new();
    let n = 4_000i64;
    let line = |i: i64| {
        let note = if i % 3 == 0 {
            json!(null)
        } else {
            json!(format!("note {i} ✓"))
        };
        json!({"id": i, "amount": i as f64 / 4.0, "at": time(i), "note": note}).to_string()
    };
    for f in 0..4 {
        let text: String = (0..n)
            .filter(|i| i % 4 == f)
            .map(|i| line(i) + "\n")
            .collect();
        if f == 3 {
            put(&s, "in/part-3.jsonl", text.as_bytes());
        } else {
            put(&s, &format!("in/part-{f}.ndjson.gz"), &gz(&text));
        }
    }
    put(&s, "in/_SUCCESS", b"");
    let source = json!({"files": s.path("in"), "format": "ndjson"});
    let v = s.run(&job(&s, source, "at")).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    let (tree, all) = lake(&s);
    assert_eq!(all.num_rows(), n as usize);
    let ids = all
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert!(ids.values().iter().copied().eq(0..n), "every id once");
    let amount = all
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Float64Type>();
    let sum: f64 = amount.values().iter().sum();
    assert_eq!(sum, (0..n).map(|i| i as f64 / 4.0).sum::<f64>());
    let notes = strings(&all, "note");
    assert_eq!(notes[1].as_deref(), Some("note 1 ✓"));
    assert_eq!(
        notes.iter().filter(|x| x.is_none()).count(),
        (n as usize).div_ceil(3)
    );
    for (path, b) in &tree {
        let at = strings(b, "at");
        assert!(
            at.iter()
                .all(|t| path.starts_with(&format!("year={}/", &t.as_deref().unwrap()[..4]))),
            "{path}"
        );
        let mut sorted = at.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(at, sorted, "{path} sorted");
    }
}

#[tokio::test]
async fn csv_files_with_a_given_schema() {
    let s = Scenario::new();
    let rows = |from: i64, to: i64| {
        let mut text = String::from("id,name,price,at\n");
        for i in from..to {
            text += &format!("{i},\"Smith, J{i}\",{}.{:02},{}\n", i * 3, i % 100, time(i));
        }
        text
    };
    put(&s, "in/a.csv", rows(0, 1_500).as_bytes());
    put(&s, "in/b.csv.gz", &gz(&rows(1_500, 3_000)));
    let source = json!({"files": s.path("in"), "format": "csv", "schema": [
        {"name": "id", "type": "int64"}, {"name": "name", "type": "string"},
        {"name": "price", "type": "decimal(12,2)"}, {"name": "at", "type": "timestamp"}]});
    let v = s.run(&job(&s, source, "at")).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    let (_, all) = lake(&s);
    assert_eq!(all.num_rows(), 3_000);
    let price = all
        .column_by_name("price")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    assert_eq!(price.value(1_234), 1_234 * 3 * 100 + 34);
    assert_eq!(strings(&all, "name")[7].as_deref(), Some("Smith, J7"));
    let at = all
        .column_by_name("at")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(2), (1_640_995_200 + 2 * 3_600 * 7) * 1_000_000);
    assert_eq!(at.null_count(), 0);
    // Step 1.1 recorded the schema every staging worker read the files with.
    let schemas: serde_json::Value = serde_json::from_slice(
        &std::fs::read(s.path("staging/manifests/snapshot-file-groups/schemas.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        schemas["*"]["columns"][2],
        json!({"name": "price", "type": "Decimal128(12, 2)"})
    );
}

#[tokio::test]
async fn values_the_sample_did_not_foresee_and_bad_gzip_name_the_file() {
    let s = Scenario::new();
    // The first MiB of the file has integers in `x`, text comes later.
    let mut text: String = (0..40_000)
        .map(|i| json!({"id": i, "x": i, "at": time(i % 1000)}).to_string() + "\n")
        .collect();
    text += &(json!({"id": 40_000, "x": "n/a", "at": time(0)}).to_string() + "\n");
    put(&s, "in/big.ndjson", text.as_bytes());
    let source = json!({"files": s.path("in"), "format": "ndjson"});
    let e = s.run(&job(&s, source, "at")).await.unwrap_err().to_string();
    assert!(
        e.contains("in/big.ndjson: ") && e.contains("give it in source.schema"),
        "{e}"
    );
    assert!(!s.success());

    let s = Scenario::new();
    put(
        &s,
        "in/a.ndjson.gz",
        &gz(&(json!({"id": 1, "at": time(1)}).to_string() + "\n")),
    );
    put(&s, "in/b.ndjson.gz", b"\x1f\x8b\x08 broken");
    let source = json!({"files": s.path("in"), "format": "ndjson"});
    let e = s.run(&job(&s, source, "at")).await.unwrap_err().to_string();
    assert!(
        e.contains("in/b.ndjson.gz: not a readable gzip file"),
        "{e}"
    );
    assert!(!s.success());

    let e = Job::from_json(
        &json!({"source": {"files": "/in", "format": "csv", "schema": [{"name": "a", "type": "money"}]},
                "staging": "/s", "datalake": "/l"})
        .to_string(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("source.schema[0].type: \"money\" is not a column type"),
        "{e}"
    );
}

#[tokio::test]
async fn a_rerun_refuses_a_source_folder_that_gained_or_lost_files() {
    let s = Scenario::new();
    let rows = |ids: std::ops::Range<i64>| -> String {
        ids.map(|i| json!({"id": i, "at": time(i)}).to_string() + "\n")
            .collect()
    };
    put(&s, "in/a.ndjson", rows(0..100).as_bytes());
    put(&s, "in/b.ndjson", rows(100..200).as_bytes());
    let j = job(&s, json!({"files": s.path("in"), "format": "ndjson"}), "at");
    assert_eq!(s.run(&j).await.unwrap().n_record(), 200);
    // The same folder again: a rerun that changes nothing.
    assert_eq!(s.run(&j).await.unwrap().n_record(), 200);

    // A file added since would be left out of a lake that still validated.
    put(&s, "in/c.ndjson", rows(200..250).as_bytes());
    let e = s.run(&j).await.unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}: this folder changed since an earlier run of this job listed it in the snapshot \
             manifest {}: {} was added to it (1 added, 0 gone in all). A run converts the files \
             that manifest lists; to convert the folder as it is now, give the job new staging \
             and datalake folders (or delete both)",
            s.path("in"),
            s.path("staging/manifests/manifest-summary.json"),
            s.path("in/c.ndjson")
        )
    );
    std::fs::remove_file(s.path("in/c.ndjson")).unwrap();
    std::fs::remove_file(s.path("in/a.ndjson")).unwrap();
    let e = s.run(&j).await.unwrap_err().to_string();
    assert!(
        e.contains(&format!(
            "{} is gone from it (0 added, 1 gone in all)",
            s.path("in/a.ndjson")
        )),
        "{e}"
    );

    // New folders convert the folder as it is now.
    put(&s, "in/c.ndjson", rows(200..250).as_bytes());
    let mut j = j;
    j.staging = s.path("staging2");
    j.datalake = s.path("lake2");
    assert_eq!(s.run(&j).await.unwrap().n_record(), 150);
    let ids: i64 = read_parquet_tree(&s.path("lake2"))
        .iter()
        .map(|(_, b)| {
            b.column_by_name("id")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .iter()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(ids, (100..250).sum::<i64>());
}

#[tokio::test]
async fn csv_columns_are_matched_by_header_name_and_unknown_ones_refused() {
    let s = Scenario::new();
    // Ten files, so the last two are beyond the sample of the first eight;
    // the headers list the columns in three orders, and f3 lacks `city`.
    let row = |i: i64, cols: &[&str]| -> String {
        cols.iter()
            .map(|c| match *c {
                "id" => i.to_string(),
                "name" => format!("name {i}"),
                "city" => format!("city {i}"),
                "at" => time(i),
                _ => "extra".to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    let write = |s: &Scenario, f: i64, cols: &[&str]| {
        // f2 starts with a byte order mark, as spreadsheet exports write.
        let bom = if f == 2 { "\u{feff}" } else { "" };
        let mut text = format!("{bom}{}\n", cols.join(","));
        for i in f * 10..f * 10 + 10 {
            text += &(row(i, cols) + "\n");
        }
        put(s, &format!("in/f{f}.csv"), text.as_bytes());
    };
    for f in 0..10 {
        let cols: &[&str] = match f % 3 {
            0 => &["id", "name", "city", "at"],
            1 => &["city", "at", "id", "name"],
            _ => &["name", "id", "at", "city"],
        };
        let cols: Vec<&str> = cols
            .iter()
            .copied()
            .filter(|c| f != 3 || *c != "city")
            .collect();
        write(&s, f, &cols);
    }
    let source = json!({"files": s.path("in"), "format": "csv"});
    let v = s.run(&job(&s, source.clone(), "at")).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    let (_, all) = lake(&s);
    assert_eq!(all.num_rows(), 100);
    let ids = all
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    for (r, (name, city)) in strings(&all, "name")
        .into_iter()
        .zip(strings(&all, "city"))
        .enumerate()
    {
        let i = ids.value(r);
        assert_eq!(name, Some(format!("name {i}")), "row {i}");
        let want = (i / 10 != 3).then(|| format!("city {i}"));
        assert_eq!(city, want, "row {i}");
    }

    // A column beyond the sample (f9, not sampled) would be lost: refused.
    let s = Scenario::new();
    for f in 0..10 {
        let extra: &[&str] = if f == 9 {
            &["id", "name", "zip", "city", "at"]
        } else {
            &["id", "name", "city", "at"]
        };
        write(&s, f, extra);
    }
    let e = s
        .run(&job(
            &s,
            json!({"files": s.path("in"), "format": "csv"}),
            "at",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{}: its header has column \"zip\", which the table's schema (id, name, city, at; \
             inferred from a sample of the table's files) lacks: its values would be lost",
            s.path("in/f9.csv")
        )
    );
    assert!(!s.success());

    // A given schema chooses the columns: `zip` and `city` are left out.
    let s2 = Scenario::new();
    std::fs::rename(s.path("in"), s2.path("in")).unwrap();
    let source = json!({"files": s2.path("in"), "format": "csv", "schema": [
        {"name": "at", "type": "timestamp"}, {"name": "id", "type": "int64"},
        {"name": "name", "type": "string"}]});
    let v = s2.run(&job(&s2, source, "at")).await.unwrap();
    assert!(v.valid && s2.success(), "{v:?}");
    let (_, all) = lake(&s2);
    assert_eq!(all.num_rows(), 100);
    assert!(all.column_by_name("city").is_none() && all.column_by_name("zip").is_none());
    let ids = all
        .column_by_name("id")
        .unwrap()
        .as_primitive::<Int64Type>();
    for (r, name) in strings(&all, "name").into_iter().enumerate() {
        assert_eq!(name, Some(format!("name {}", ids.value(r))));
    }
}

#[tokio::test]
async fn an_ndjson_key_beyond_the_sample_is_refused_unless_the_schema_is_given() {
    let s = Scenario::new();
    for f in 0..9 {
        let text: String = (f * 10..f * 10 + 10)
            .map(|i| {
                let mut v = json!({"id": i, "at": time(i)});
                if f == 8 {
                    v["late"] = json!("only in the last file");
                }
                v.to_string() + "\n"
            })
            .collect();
        put(&s, &format!("in/f{f}.ndjson"), text.as_bytes());
    }
    let e = s
        .run(&job(
            &s,
            json!({"files": s.path("in"), "format": "ndjson"}),
            "at",
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with(&format!("{}: ", s.path("in/f8.ndjson")))
            && e.contains("column 'late' missing from schema")
            && e.ends_with("(if the sampled schema is wrong, give it in source.schema)"),
        "{e}"
    );

    // A given schema chooses the columns: keys it does not name are left out.
    let s2 = Scenario::new();
    std::fs::rename(s.path("in"), s2.path("in")).unwrap();
    let source = json!({"files": s2.path("in"), "format": "ndjson", "schema": [
        {"name": "id", "type": "int64"}, {"name": "at", "type": "timestamp"}]});
    let v = s2.run(&job(&s2, source, "at")).await.unwrap();
    assert!(v.valid && s2.success(), "{v:?}");
    let (_, all) = lake(&s2);
    assert_eq!(all.num_rows(), 90);
    assert!(all.column_by_name("late").is_none());
}
