//! `"source": {"dynamodb_export": …}`: a DynamoDB export in its documented
//! layout, with every attribute type, run through the whole pipeline and
//! read back; broken exports fail naming the export and the file.

use std::io::Write;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Decimal128Type;
use dbsnaplake_core::Job;
use serde_json::{Value, json};

use crate::common::{Scenario, read_parquet_tree, sorted_by, strings};

const EXPORT_ID: &str = "01717211538104-5f2a9c1e";
const PREFIX: &str = "ddb/orders-table";
const N_FILES: usize = 3;
const ITEMS: usize = 900;

const REGIONS: [&str; 4] = ["eu/west", "東京", "a=b", "us-east"];

/// Item `i`: sparse, with every DynamoDB type, nested maps and lists, and 38-digit numbers.
fn item(i: usize) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("PK".into(), json!({"S": format!("ORDER#{i:05}")}));
    m.insert(
        "total".into(),
        json!({"N": format!("{}.{:02}", i * 37 % 1000, i % 100)}),
    );
    let big = if i.is_multiple_of(2) {
        "99999999999999999999999999999999999999".to_string()
    } else {
        format!("-1234567890123456789012345678901234{i:04}")
    };
    m.insert("big".into(), json!({"N": big}));
    if i.is_multiple_of(2) {
        m.insert("vip".into(), json!({"BOOL": i.is_multiple_of(4)}));
        m.insert("region".into(), json!({"S": REGIONS[i / 2 % 4]}));
    }
    if i.is_multiple_of(3) {
        m.insert(
            "addr".into(),
            json!({"M": {"zip": {"S": format!("7500{}", i % 10)},
                         "geo": {"M": {"lat": {"N": "48.8566"}, "tags": {"L": [{"S": "x"}, {"NULL": true}]}}}}}),
        );
    }
    match i % 4 {
        0 => {
            m.insert(
                "lines".into(),
                json!({"L": [{"N": "1"}, {"S": "x"}, {"M": {}}]}),
            );
        }
        1 => {
            m.insert("lines".into(), json!({"L": []}));
        }
        _ => {}
    }
    m.insert("tags".into(), json!({"SS": ["a", format!("b{}", i % 3)]}));
    m.insert("ns".into(), json!({"NS": ["1", "2.5"]}));
    m.insert("bs".into(), json!({"BS": ["AQ==", "/w=="]}));
    let blob = ["AP8=", "AQI=", "AwQF"][i % 3];
    m.insert("blob".into(), json!({ "B": blob }));
    if i.is_multiple_of(5) {
        m.insert("gone".into(), json!({"NULL": true}));
    }
    m.insert("attr with space".into(), json!({"S": "kept"}));
    json!({"Item": m})
}

fn gz(lines: &[String]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for l in lines {
        writeln!(e, "{l}").unwrap();
    }
    e.finish().unwrap()
}

/// Writes the export under `<root>/export/<prefix>/AWSDynamoDB/<id>/`; returns its folder.
/// `tweak` may change the summary and the manifest-files lines before they are written.
fn export(s: &Scenario, tweak: impl FnOnce(&mut Value, &mut Vec<Value>)) -> String {
    let key_root = format!("{PREFIX}/AWSDynamoDB/{EXPORT_ID}");
    let folder = s.path(&format!("export/{key_root}"));
    std::fs::create_dir_all(format!("{folder}/data")).unwrap();
    std::fs::write(format!("{folder}/_started"), "").unwrap();
    let mut lines = Vec::new();
    for f in 0..N_FILES {
        let items: Vec<String> = (0..ITEMS)
            .filter(|i| i % N_FILES == f)
            .map(|i| item(i).to_string())
            .collect();
        let name = format!("stvp2mugf3af34ellkr5jwkpr{f}.json.gz");
        std::fs::write(format!("{folder}/data/{name}"), gz(&items)).unwrap();
        lines.push(
            json!({"itemCount": items.len(), "md5Checksum": "sQMSpEILNgoQmarvDFonGQ==",
                          "etag": "af83d6f217c19b8b0fff8023d8ca4716-1",
                          "dataFileS3Key": format!("{key_root}/data/{name}")}),
        );
    }
    // An empty table partition gives an empty file.
    std::fs::write(
        format!("{folder}/data/empty00000000000000000000.json.gz"),
        gz(&[]),
    )
    .unwrap();
    lines.push(json!({"itemCount": 0, "dataFileS3Key": format!("{key_root}/data/empty00000000000000000000.json.gz")}));
    let mut summary = json!({
        "version": "2020-06-30",
        "exportArn": format!("arn:aws:dynamodb:us-east-1:123456789012:table/Orders/export/{EXPORT_ID}"),
        "startTime": "2024-06-01T04:00:00.000Z", "endTime": "2024-06-01T04:06:51.000Z",
        "tableArn": "arn:aws:dynamodb:us-east-1:123456789012:table/Orders", "tableId": "t",
        "exportTime": "2024-06-01T04:00:00.000Z", "s3Bucket": "acme-ddb-exports", "s3Prefix": PREFIX,
        "s3SseAlgorithm": "AES256", "s3SseKmsKeyId": null,
        "manifestFilesS3Key": format!("{key_root}/manifest-files.json"),
        "billedSizeBytes": 19843, "itemCount": ITEMS, "outputFormat": "DYNAMODB_JSON"
    });
    tweak(&mut summary, &mut lines);
    let files: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(
        format!("{folder}/manifest-files.json"),
        files.join("\n") + "\n",
    )
    .unwrap();
    std::fs::write(
        format!("{folder}/manifest-files.md5"),
        "sQMSpEILNgoQmarvDFonGQ==",
    )
    .unwrap();
    std::fs::write(
        format!("{folder}/manifest-summary.json"),
        summary.to_string(),
    )
    .unwrap();
    folder
}

fn job(s: &Scenario, folder: &str) -> Job {
    Job::from_json(
        &json!({
            "source": {"dynamodb_export": folder, "table": "ddb/default/orders"},
            "staging": s.path("staging"),
            "datalake": s.path("lake"),
            "tables": {"*": {"partition_by": [{"name": "r", "from": "region", "fn": "value"}],
                             "sort_by": [{"column": "PK"}]}},
            "group_size": 20_000,
            "file_size": 100_000,
        })
        .to_string(),
    )
    .unwrap()
}

/// The DynamoDB JSON of an attribute's inner value (`{"zip":{"S":…}}` for an M).
fn inner(v: &Value) -> &Value {
    v.as_object().unwrap().values().next().unwrap()
}

#[tokio::test]
async fn a_dynamodb_export_arrives_with_every_value() {
    let s = Scenario::new();
    let folder = export(&s, |_, _| {});
    let v = s.run(&job(&s, &folder)).await.unwrap();
    assert!(v.valid && s.success(), "{v:?}");
    assert_eq!(v.n_record(), ITEMS as u64);
    // Step 1.1 recorded the columns and the attribute types staging read with.
    let schemas: Value = serde_json::from_slice(
        &std::fs::read(s.path("staging/manifests/snapshot-file-groups/schemas.json")).unwrap(),
    )
    .unwrap();
    let table = &schemas["ddb/default/orders"];
    assert_eq!(table["attributes"]["tags"], "string_set");
    assert!(
        table["columns"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "vip", "type": "Boolean"})),
        "{table}"
    );

    let tree = read_parquet_tree(&s.path("lake/ddb/default/orders"));
    for (path, b) in &tree {
        let pk = strings(b, "PK");
        let mut sorted = pk.clone();
        sorted.sort();
        assert_eq!(pk, sorted, "{path} is sorted by PK");
        for r in strings(b, "region") {
            let want = match r {
                None => "r=__HIVE_DEFAULT_PARTITION__".to_string(),
                Some(r) => format!("r={}", r.replace('/', "%2F").replace('=', "%3D")),
            };
            assert!(
                path.starts_with(&format!("{want}/")),
                "{path} holds region {want}"
            );
        }
    }
    let batches: Vec<RecordBatch> = tree.into_iter().map(|(_, b)| b).collect();
    let all = sorted_by(&batches, "PK");
    assert_eq!(all.num_rows(), ITEMS);
    let pk = strings(&all, "PK");
    let big = all
        .column_by_name("big")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    assert_eq!(big.precision(), 38);
    let total = all
        .column_by_name("total")
        .unwrap()
        .as_primitive::<Decimal128Type>();
    assert_eq!((total.precision(), total.scale()), (5, 2));
    let addr = strings(&all, "addr");
    let lines = strings(&all, "lines");
    let vip = all.column_by_name("vip").unwrap().as_boolean();
    let tags = all.column_by_name("tags").unwrap().as_list::<i32>();
    let ns = all.column_by_name("ns").unwrap().as_list::<i32>();
    let bs = all.column_by_name("bs").unwrap().as_list::<i32>();
    let blob = all.column_by_name("blob").unwrap().as_binary::<i32>();
    assert_eq!(all.column_by_name("gone").unwrap().null_count(), ITEMS);
    assert_eq!(
        strings(&all, "attr with space"),
        vec![Some("kept".to_string()); ITEMS]
    );
    for (row, i) in (0..ITEMS).enumerate() {
        let want = item(i);
        let want = &want["Item"];
        assert_eq!(pk[row].as_deref(), Some(format!("ORDER#{i:05}").as_str()));
        assert_eq!(
            big.value(row).to_string(),
            inner(&want["big"]).as_str().unwrap()
        );
        let t = inner(&want["total"]).as_str().unwrap().replace('.', "");
        assert_eq!(total.value(row), t.parse::<i128>().unwrap(), "total of {i}");
        let json_of = |col: &Option<String>| {
            col.as_deref()
                .map(|t| serde_json::from_str::<Value>(t).unwrap())
        };
        assert_eq!(
            json_of(&addr[row]),
            want.get("addr").map(|a| inner(a).clone()),
            "addr of {i}"
        );
        assert_eq!(
            json_of(&lines[row]),
            want.get("lines").map(|a| inner(a).clone()),
            "lines of {i}"
        );
        assert_eq!(
            vip.is_valid(row).then(|| vip.value(row)),
            want.get("vip").map(|v| inner(v).as_bool().unwrap())
        );
        let tag_values = tags.value(row);
        let tag_values: Vec<&str> = tag_values
            .as_string::<i32>()
            .iter()
            .map(Option::unwrap)
            .collect();
        assert_eq!(tag_values, ["a", &format!("b{}", i % 3)]);
        let n = ns.value(row);
        let n = n.as_primitive::<Decimal128Type>();
        assert_eq!((n.value(0), n.value(1), n.scale()), (10, 25, 1));
        assert_eq!(bs.value(row).as_binary::<i32>().value(1), [255u8]);
        assert_eq!(
            blob.value(row),
            [[0u8, 255].as_slice(), &[1, 2], &[3, 4, 5]][i % 3]
        );
    }
}

#[tokio::test]
async fn pinned_types_win_over_inferred_ones() {
    let s = Scenario::new();
    let folder = export(&s, |_, _| {});
    let mut job = job(&s, &folder);
    let dbsnaplake_core::config::Source::DynamodbExport { types, .. } = &mut job.source else {
        panic!("a DynamoDB source")
    };
    *types = serde_json::from_value(json!({"total": "string", "big": "string"})).unwrap();
    let v = s.run(&job).await.unwrap();
    assert!(v.valid, "{v:?}");
    let batches: Vec<RecordBatch> = read_parquet_tree(&s.path("lake/ddb/default/orders"))
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let all = sorted_by(&batches, "PK");
    assert_eq!(strings(&all, "total")[1].as_deref(), Some("37.01"));
    assert_eq!(
        strings(&all, "big")[0].as_deref(),
        Some("99999999999999999999999999999999999999")
    );
}

async fn fails(s: &Scenario, folder: &str) -> String {
    let e = s.run(&job(s, folder)).await.unwrap_err().to_string();
    assert!(!s.success(), "no _SUCCESS after: {e}");
    e
}

#[tokio::test]
async fn broken_exports_fail_naming_the_export_and_the_file() {
    let s = Scenario::new();
    let folder = export(&s, |summary, _| summary["itemCount"] = json!(901));
    let e = fails(&s, &folder).await;
    assert!(
        e.contains(&format!(
            "{EXPORT_ID}/manifest-files.json: its files hold 900 items but"
        )) && e.contains("says itemCount 901"),
        "{e}"
    );

    let s = Scenario::new();
    let folder = export(&s, |summary, lines| {
        lines[0]["itemCount"] = json!(299);
        summary["itemCount"] = json!(899);
    });
    let e = fails(&s, &folder).await;
    assert!(
        e.contains("stvp2mugf3af34ellkr5jwkpr0.json.gz: the export's manifest-files.json says 299 items but the file holds 300"),
        "{e}"
    );

    let s = Scenario::new();
    let folder = export(&s, |_, _| {});
    std::fs::write(
        format!("{folder}/data/stvp2mugf3af34ellkr5jwkpr1.json.gz"),
        b"\x1f\x8b\x08garbage",
    )
    .unwrap();
    let e = fails(&s, &folder).await;
    assert!(
        e.contains(&format!(
            "{EXPORT_ID}/data/stvp2mugf3af34ellkr5jwkpr1.json.gz: not a readable gzip file"
        )),
        "{e}"
    );

    let s = Scenario::new();
    let folder = export(&s, |summary, _| summary["outputFormat"] = json!("ION"));
    let e = fails(&s, &folder).await;
    assert!(
        e.contains("manifest-summary.json: this export is in ION"),
        "{e}"
    );

    let s = Scenario::new();
    let folder = export(&s, |summary, _| {
        summary["exportType"] = json!("INCREMENTAL_EXPORT")
    });
    let e = fails(&s, &folder).await;
    assert!(
        e.contains("exportType is \"INCREMENTAL_EXPORT\": incremental exports"),
        "{e}"
    );

    let s = Scenario::new();
    let folder = export(&s, |_, _| {});
    std::fs::remove_file(format!("{folder}/manifest-summary.json")).unwrap();
    let e = fails(&s, &folder).await;
    assert!(
        e.contains("manifest-summary.json: not found: point `source.dynamodb_export`"),
        "{e}"
    );
}
