//! Delta Lake output (`"output": {"format": "delta"}`): the lake files are
//! Parquet as usual, and once the validator has found the lake complete, each
//! table gets one Delta commit, `<table>/_delta_log/00000000000000000000.json`,
//! adding every file of the table with its partition values and record count.
//! Readers that speak Delta (delta-rs, Spark, DuckDB's delta extension) then
//! read the table without listing it.
//!
//! The commit is written once: a rerun finds version 0 and leaves it. Tables
//! with no rows have no files, hence no schema to commit, and get no log.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::{DataType, Field, TimeUnit};
use bytes::Bytes;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::manifest::DataFile;
use crate::parquet_io::read_footer;
use crate::partition::PartitionPath;
use crate::steps::Run;
use crate::storage::relative;

/// Writes the Delta commit of every table of `files` (the lake files the
/// validator accepted), unless it exists already.
pub async fn commit(run: &Run, files: &[DataFile]) -> Result<()> {
    let mut tables: BTreeMap<Option<String>, Vec<&DataFile>> = BTreeMap::new();
    for f in files {
        tables.entry(f.table.clone()).or_default().push(f);
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    for (table, files) in tables {
        let root = run.layout.datalake_table(table.as_deref());
        let log = run.layout.delta_commit(table.as_deref());
        if run.store.head(&log).await?.is_some() {
            continue;
        }
        let body = table_commit(run, table.as_deref(), &root, &files, now).await?;
        run.store.put(&log, Bytes::from(body)).await?;
    }
    Ok(())
}

async fn table_commit(
    run: &Run,
    table: Option<&str>,
    root: &str,
    files: &[&DataFile],
    now: u64,
) -> Result<String> {
    let name = table.unwrap_or("*");
    let schema_error = |message: String| Error::Schema {
        table: name.to_string(),
        message,
    };
    let first = files.first().expect("a table of the lake has files");
    let footer = read_footer(&run.store, &first.uri, first.size).await?;
    let m = footer.file_metadata();
    let arrow = parquet::arrow::parquet_to_arrow_schema(m.schema_descr(), m.key_value_metadata())
        .map_err(|e| Error::parquet(&first.uri, e))?;
    let partition_columns: Vec<String> = run
        .job
        .table_spec(table)
        .partition_by
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let mut fields = Vec::new();
    let mut ntz = false;
    for f in arrow.fields() {
        ntz |= matches!(f.data_type(), DataType::Timestamp(_, None));
        fields.push(delta_field(f).map_err(schema_error)?);
    }
    for p in &partition_columns {
        fields.push(json!({"name": p, "type": "string", "nullable": true, "metadata": {}}));
    }
    let schema = json!({"type": "struct", "fields": fields}).to_string();
    let protocol = if ntz {
        json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                            "readerFeatures": ["timestampNtz"], "writerFeatures": ["timestampNtz"]}})
    } else {
        json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}})
    };
    let digest = Sha256::digest(root.as_bytes());
    let h: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let id = format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    );
    let mut lines = vec![
        json!({"commitInfo": {"timestamp": now, "operation": "WRITE",
                              "operationParameters": {"mode": "ErrorIfExists"},
                              "engineInfo": format!("dbsnaplake {}", env!("CARGO_PKG_VERSION"))}}),
        protocol,
        json!({"metaData": {"id": id, "format": {"provider": "parquet", "options": {}},
                            "schemaString": schema, "partitionColumns": partition_columns,
                            "configuration": {}, "createdTime": now}}),
    ];
    for f in files {
        let rel = relative(root, &f.uri).ok_or_else(|| {
            Error::Internal(format!("{}: a lake file outside its table {root}", f.uri))
        })?;
        let values: BTreeMap<String, Option<String>> =
            PartitionPath::parse(f.partition.as_deref().unwrap_or(""))
                .ok_or_else(|| schema_error(format!("{}: unreadable partition path", f.uri)))?
                .into_iter()
                .collect();
        let stats = json!({"numRecords": f.n_record.unwrap_or(0)}).to_string();
        lines.push(
            json!({"add": {"path": encode_path(rel), "partitionValues": values,
                                  "size": f.size, "modificationTime": now, "dataChange": true,
                                  "stats": stats}}),
        );
    }
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// Fails, naming the column, when `schema` has a column Delta has no type
/// for: checked by the planner, before any file is written.
pub(crate) fn check_schema(schema: &arrow::datatypes::Schema) -> std::result::Result<(), String> {
    schema
        .fields()
        .iter()
        .try_for_each(|f| delta_field(f).map(drop))
}

/// The Delta schema of one column.
fn delta_field(f: &Field) -> std::result::Result<Value, String> {
    Ok(
        json!({"name": f.name(), "type": delta_type(f.name(), f.data_type())?,
              "nullable": true, "metadata": {}}),
    )
}

fn delta_type(name: &str, t: &DataType) -> std::result::Result<Value, String> {
    let simple = |s: &str| Ok(Value::String(s.to_string()));
    match t {
        DataType::Boolean => simple("boolean"),
        DataType::Int8 => simple("byte"),
        DataType::Int16 | DataType::UInt8 => simple("short"),
        DataType::Int32 | DataType::UInt16 => simple("integer"),
        DataType::Int64 | DataType::UInt32 => simple("long"),
        DataType::Float32 => simple("float"),
        DataType::Float64 => simple("double"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => simple("string"),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => simple("binary"),
        DataType::Date32 => simple("date"),
        DataType::Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond, tz) => {
            simple(if tz.is_some() {
                "timestamp"
            } else {
                "timestamp_ntz"
            })
        }
        DataType::Decimal128(p, s) if *s >= 0 => simple(&format!("decimal({p},{s})")),
        DataType::List(item) | DataType::LargeList(item) => Ok(json!({
            "type": "array",
            "elementType": delta_type(name, item.data_type())?,
            "containsNull": true,
        })),
        DataType::Struct(fields) => Ok(json!({
            "type": "struct",
            "fields": fields.iter().map(|f| delta_field(f)).collect::<std::result::Result<Vec<_>, _>>()?,
        })),
        other => Err(format!(
            "column {name:?} of type {other} has no Delta Lake type; cast it (timestamps to \
             timestamp[us], unsigned 64-bit integers to decimal(20,0))"
        )),
    }
}

/// A relative path as a Delta log `path`: a URI reference, so every byte
/// but unreserved ones, `/` and `=` is percent-encoded (our folder names
/// already hold `%XX` escapes, which become `%25XX`).
fn encode_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_types() {
        assert_eq!(
            encode_path("region=eu%2Fwest/x y-0.parquet"),
            "region=eu%252Fwest/x%20y-0.parquet"
        );
        assert_eq!(
            delta_type("t", &DataType::Timestamp(TimeUnit::Microsecond, None)).unwrap(),
            json!("timestamp_ntz")
        );
        assert_eq!(
            delta_type("d", &DataType::Decimal128(12, 2)).unwrap(),
            json!("decimal(12,2)")
        );
        let e = delta_type("n", &DataType::Timestamp(TimeUnit::Nanosecond, None)).unwrap_err();
        assert!(e.starts_with("column \"n\" of type Timestamp(ns)"), "{e}");
    }
}
