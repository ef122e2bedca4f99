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
use futures::{StreamExt, TryStreamExt};
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
    // Every file's footer, for its stats (read a few at once).
    let footers: Vec<_> = futures::stream::iter(files.iter())
        .map(|f| read_footer(&run.store, &f.uri, f.size))
        .buffered(16)
        .try_collect()
        .await?;
    for (f, footer) in files.iter().zip(&footers) {
        let rel = relative(root, &f.uri).ok_or_else(|| {
            Error::Internal(format!("{}: a lake file outside its table {root}", f.uri))
        })?;
        let values: BTreeMap<String, Option<String>> =
            PartitionPath::parse(f.partition.as_deref().unwrap_or(""))
                .ok_or_else(|| schema_error(format!("{}: unreadable partition path", f.uri)))?
                .into_iter()
                .collect();
        let stats = file_stats(footer, &arrow, f.n_record.unwrap_or(0))
            .map_err(|e| Error::parquet(&f.uri, e))?;
        lines.push(
            json!({"add": {"path": encode_path(rel), "partitionValues": values,
                                  "size": f.size, "modificationTime": now, "dataChange": true,
                                  "stats": stats}}),
        );
    }
    Ok(lines.iter().map(|l| format!("{l}\n")).collect())
}

/// The `stats` of an add action: `numRecords`, and from the file's footer
/// each column's `nullCount` and, for the types whose Delta bounds are
/// exact (integers, decimals, strings, dates), `minValues` / `maxValues`,
/// so engines can skip the file. A column whose row groups lack
/// statistics is left out (no bound is better than a wrong one);
/// timestamps and floats too (Delta's millisecond bounds and NaN).
fn file_stats(
    footer: &parquet::file::metadata::ParquetMetaData,
    schema: &arrow::datatypes::Schema,
    n_record: u64,
) -> std::result::Result<String, parquet::errors::ParquetError> {
    use arrow::array::Array;
    use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
    let descr = footer.file_metadata().schema_descr();
    let groups = footer.row_groups();
    let (mut mins, mut maxes, mut nulls) = (Vec::new(), Vec::new(), Vec::new());
    for field in schema.fields() {
        let name = serde_json::to_string(field.name()).expect("a string serializes");
        let conv = StatisticsConverter::try_new(field.name(), schema, descr)?;
        let null_counts = conv.row_group_null_counts(groups.iter())?;
        if null_counts.null_count() == 0 {
            nulls.push(format!(
                "{name}:{}",
                null_counts.values().iter().sum::<u64>()
            ));
        }
        let bounded = matches!(
            field.data_type(),
            DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Decimal128(..)
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Date32
        );
        if !bounded || null_counts.null_count() != 0 {
            continue;
        }
        // A row group without a bound must hold nulls only.
        let rows: Vec<u64> = groups.iter().map(|g| g.num_rows() as u64).collect();
        let (lo, hi) = (
            conv.row_group_mins(groups.iter())?,
            conv.row_group_maxes(groups.iter())?,
        );
        let complete = (0..groups.len())
            .all(|i| (lo.is_valid(i) && hi.is_valid(i)) || null_counts.value(i) == rows[i]);
        if !complete {
            continue;
        }
        let pick = |a: &arrow::array::ArrayRef, descending: bool| {
            let order = arrow::compute::SortOptions {
                descending,
                nulls_first: false,
            };
            let idx = arrow::compute::sort_to_indices(a, Some(order), Some(1)).ok()?;
            let i = idx.values().first().copied()? as usize;
            a.is_valid(i).then(|| json_value(a, i))
        };
        if let (Some(min), Some(max)) = (pick(&lo, false), pick(&hi, true)) {
            mins.push(format!("{name}:{min}"));
            maxes.push(format!("{name}:{max}"));
        }
    }
    Ok(format!(
        "{{\"numRecords\":{n_record},\"minValues\":{{{}}},\"maxValues\":{{{}}},\"nullCount\":{{{}}}}}",
        mins.join(","),
        maxes.join(","),
        nulls.join(",")
    ))
}

/// Value `i` of `a` as JSON text: numbers (decimals exactly, as written),
/// strings and dates quoted.
fn json_value(a: &arrow::array::ArrayRef, i: usize) -> String {
    let text = arrow::util::display::array_value_to_string(a, i).unwrap_or_default();
    match a.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Date32 => {
            serde_json::to_string(&text).expect("a string serializes")
        }
        _ => text,
    }
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

/// A relative path as a Delta log `path`, encoded exactly as delta-rs
/// encodes one (and decodes it back to the folder, byte for byte): control
/// bytes, non-ASCII bytes, space, backtick and `\ { ^ } % ] " > [ < # | * ?` are
/// percent-encoded, everything else (`+ $ & , ; @ = : ~ ! ' ( )`) stays as
/// it is. Log replay matches a remove to its add by this string, so a
/// `delete` or `update` by delta-rs or Spark removes the files we added.
/// Our folder names already hold `%XX` escapes, which become `%25XX`.
fn encode_path(rel: &str) -> String {
    let mut out = String::with_capacity(rel.len());
    for b in rel.bytes() {
        if !(0x20..0x7F).contains(&b) || b" \\{^}%`]\"><[#|*?".contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(b as char);
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
            encode_path("k=a+b$&,;@:~!'()/é#?.parquet"),
            "k=a+b$&,;@:~!'()/%C3%A9%23%3F.parquet"
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
