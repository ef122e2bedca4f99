//! Iceberg manifests and manifest lists (format version 2): Avro object
//! files whose schemas carry the spec's field IDs, written with
//! `apache-avro`. A data file's entry carries what readers prune with,
//! taken from its Parquet footer.

use std::collections::BTreeMap;

use apache_avro::types::Value as Avro;
use apache_avro::{Reader, Schema as AvroSchema, Writer};
use parquet::basic::{LogicalType, TimeUnit as PqTimeUnit};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use serde_json::{Value, json};

use super::schema::{PartField, PartValue, decimal_bytes};

/// A manifest entry's status.
pub const ADDED: i32 = 1;
/// A manifest entry's status: removed by the snapshot that wrote it.
pub const DELETED: i32 = 2;

/// One data file as a manifest lists it.
#[derive(Debug, Clone, Default)]
pub struct DataFileEntry {
    /// Its absolute path or URI.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its rows.
    pub records: u64,
    /// Its partition values, one per spec field.
    pub partition: Vec<PartValue>,
    /// Compressed bytes by field ID.
    pub column_sizes: BTreeMap<i32, i64>,
    /// Values (NULLs included) by field ID.
    pub value_counts: BTreeMap<i32, i64>,
    /// NULLs by field ID.
    pub null_counts: BTreeMap<i32, i64>,
    /// Lower bounds by field ID, in Iceberg's single-value form.
    pub lower: BTreeMap<i32, Vec<u8>>,
    /// Upper bounds by field ID.
    pub upper: BTreeMap<i32, Vec<u8>>,
}

/// A bound being merged over row groups.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Bound {
    Int(i128),
    Bytes(Vec<u8>),
    Bool(bool),
}

/// The bound of one row group's statistics, in the Iceberg type `ty`;
/// `min`: the lower one. `None` when inexact or absent.
fn bound(s: &Statistics, ty: &str, millis: bool, min: bool) -> Option<Bound> {
    if (min && !s.min_is_exact()) || (!min && !s.max_is_exact()) {
        return None;
    }
    let scale = if millis { 1000 } else { 1 };
    macro_rules! pick {
        ($v:expr) => {
            if min { $v.min_opt() } else { $v.max_opt() }
        };
    }
    let decimal = ty.starts_with("decimal");
    match s {
        Statistics::Boolean(v) => pick!(v).map(|b| Bound::Bool(*b)),
        Statistics::Int32(v) => pick!(v).map(|x| Bound::Int(i128::from(*x) * scale)),
        Statistics::Int64(v) => pick!(v).map(|x| Bound::Int(i128::from(*x) * scale)),
        Statistics::ByteArray(v) if !decimal => pick!(v).map(|b| Bound::Bytes(b.data().to_vec())),
        Statistics::FixedLenByteArray(v) if !decimal => {
            pick!(v).map(|b| Bound::Bytes(b.data().to_vec()))
        }
        Statistics::ByteArray(v) => pick!(v).and_then(|b| be_int(b.data())).map(Bound::Int),
        Statistics::FixedLenByteArray(v) => pick!(v).and_then(|b| be_int(b.data())).map(Bound::Int),
        _ => None,
    }
}

/// A big-endian two's complement integer.
fn be_int(b: &[u8]) -> Option<i128> {
    if b.is_empty() || b.len() > 16 {
        return None;
    }
    let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 16];
    buf[16 - b.len()..].copy_from_slice(b);
    Some(i128::from_be_bytes(buf))
}

/// Iceberg's single-value form of a bound of type `ty`.
fn encode(b: &Bound, ty: &str) -> Option<Vec<u8>> {
    Some(match (b, ty) {
        (Bound::Bool(v), _) => vec![u8::from(*v)],
        (Bound::Int(v), "int" | "date") => i32::try_from(*v).ok()?.to_le_bytes().to_vec(),
        (Bound::Int(v), "long" | "time" | "timestamp" | "timestamptz") => {
            i64::try_from(*v).ok()?.to_le_bytes().to_vec()
        }
        (Bound::Int(v), t) if t.starts_with("decimal") => decimal_bytes(*v),
        (Bound::Bytes(v), "string" | "binary") => v.clone(),
        (Bound::Bytes(v), t) if t.starts_with("fixed") => v.clone(),
        _ => return None,
    })
}

impl DataFileEntry {
    /// The entry of a data file from its footer; `fields`: the table's
    /// top-level Iceberg fields. Only top-level primitive columns get
    /// statistics, and only bounds every row group has exactly (floats
    /// none: their statistics leave NaN out).
    pub fn of(
        path: String,
        size: u64,
        footer: &ParquetMetaData,
        fields: &[Value],
        partition: Vec<PartValue>,
    ) -> Self {
        let mut e = DataFileEntry {
            path,
            size,
            records: footer.file_metadata().num_rows().max(0) as u64,
            partition,
            ..Default::default()
        };
        let descr = footer.file_metadata().schema_descr();
        for (i, col) in descr.columns().iter().enumerate() {
            let parts = col.path().parts();
            let [name] = parts else { continue };
            let Some(field) = fields.iter().find(|f| f["name"] == name.as_str()) else {
                continue;
            };
            let (Some(id), Some(ty)) = (field["id"].as_i64(), field["type"].as_str()) else {
                continue;
            };
            let id = id as i32;
            let millis = match col.logical_type_ref() {
                Some(LogicalType::Timestamp(t)) => t.unit == PqTimeUnit::MILLIS,
                Some(LogicalType::Time(t)) => t.unit == PqTimeUnit::MILLIS,
                _ => false,
            };
            let (mut size, mut values, mut nulls) = (0i64, 0i64, Some(0i64));
            let (mut lower, mut upper): (Option<Bound>, Option<Bound>) = (None, None);
            let mut bounded = !matches!(ty, "float" | "double");
            for rg in footer.row_groups() {
                let c = rg.column(i);
                size += c.compressed_size();
                values += c.num_values();
                let stats = c.statistics();
                nulls = match (nulls, stats.and_then(Statistics::null_count_opt)) {
                    (Some(n), Some(k)) => Some(n + k as i64),
                    _ => None,
                };
                let (Some(s), true) = (stats, bounded) else {
                    bounded = false;
                    continue;
                };
                let (Some(lo), Some(hi)) =
                    (bound(s, ty, millis, true), bound(s, ty, millis, false))
                else {
                    // A row group of only NULLs has no bounds, and narrows none.
                    if s.null_count_opt() != Some(rg.num_rows() as u64) {
                        bounded = false;
                    }
                    continue;
                };
                lower = Some(match lower {
                    Some(l) if l <= lo => l,
                    _ => lo,
                });
                upper = Some(match upper {
                    Some(u) if u >= hi => u,
                    _ => hi,
                });
            }
            e.column_sizes.insert(id, size);
            e.value_counts.insert(id, values);
            if let Some(n) = nulls {
                e.null_counts.insert(id, n);
            }
            if bounded {
                if let Some(b) = lower.as_ref().and_then(|b| encode(b, ty)) {
                    e.lower.insert(id, b);
                }
                if let Some(b) = upper.as_ref().and_then(|b| encode(b, ty)) {
                    e.upper.insert(id, b);
                }
            }
        }
        e
    }
}

/// The Avro type of a partition field's result type.
fn avro_type(f: &PartField) -> Value {
    let t = f.result_type();
    match t.as_str() {
        "date" => json!({"type": "int", "logicalType": "date"}),
        "int" | "long" | "string" | "boolean" => json!(t),
        d => match d
            .strip_prefix("decimal(")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|r| r.split_once(','))
        {
            Some((p, s)) => {
                let p: u32 = p.trim().parse().unwrap_or(38);
                json!({"type": "fixed", "name": format!("decimal_{p}_{}", s.trim()), "size": decimal_size(p),
                       "logicalType": "decimal", "precision": p, "scale": s.trim().parse::<u32>().unwrap_or(0)})
            }
            None => json!("string"),
        },
    }
}

/// The bytes a fixed decimal of precision `p` takes.
fn decimal_size(p: u32) -> usize {
    (1..=16)
        .find(|n| 2f64.powi(8 * *n as i32 - 1) >= 10f64.powi(p as i32))
        .unwrap_or(16)
}

fn map_type(name: &str, id: i32, key: i32, value: i32, value_type: &str) -> Value {
    json!({"name": name, "type": ["null", {"type": "array", "logicalType": "map", "items": {
        "type": "record", "name": format!("k{key}_v{value}"), "fields": [
            {"name": "key", "type": "int", "field-id": key},
            {"name": "value", "type": value_type, "field-id": value}]}}],
        "default": null, "field-id": id})
}

/// The manifest entry schema of a partition spec.
pub fn entry_schema(spec: &[PartField], spec_ids: &[i32]) -> Value {
    let partition: Vec<Value> = spec
        .iter()
        .zip(spec_ids)
        .map(|(f, id)| json!({"name": f.name, "type": ["null", avro_type(f)], "default": null, "field-id": id}))
        .collect();
    json!({"type": "record", "name": "manifest_entry", "fields": [
        {"name": "status", "type": "int", "field-id": 0},
        {"name": "snapshot_id", "type": ["null", "long"], "default": null, "field-id": 1},
        {"name": "sequence_number", "type": ["null", "long"], "default": null, "field-id": 3},
        {"name": "file_sequence_number", "type": ["null", "long"], "default": null, "field-id": 4},
        {"name": "data_file", "field-id": 2, "type": {"type": "record", "name": "r2", "fields": [
            {"name": "content", "type": "int", "field-id": 134},
            {"name": "file_path", "type": "string", "field-id": 100},
            {"name": "file_format", "type": "string", "field-id": 101},
            {"name": "partition", "type": {"type": "record", "name": "r102", "fields": partition}, "field-id": 102},
            {"name": "record_count", "type": "long", "field-id": 103},
            {"name": "file_size_in_bytes", "type": "long", "field-id": 104},
            map_type("column_sizes", 108, 117, 118, "long"),
            map_type("value_counts", 109, 119, 120, "long"),
            map_type("null_value_counts", 110, 121, 122, "long"),
            map_type("nan_value_counts", 137, 138, 139, "long"),
            map_type("lower_bounds", 125, 126, 127, "bytes"),
            map_type("upper_bounds", 128, 129, 130, "bytes"),
            {"name": "key_metadata", "type": ["null", "bytes"], "default": null, "field-id": 131},
            {"name": "split_offsets", "type": ["null", {"type": "array", "items": "long", "element-id": 133}],
             "default": null, "field-id": 132},
            {"name": "equality_ids", "type": ["null", {"type": "array", "items": "int", "element-id": 136}],
             "default": null, "field-id": 135},
            {"name": "sort_order_id", "type": ["null", "int"], "default": null, "field-id": 140}]}}]})
}

/// The manifest list schema.
fn list_schema() -> Value {
    json!({"type": "record", "name": "manifest_file", "fields": [
        {"name": "manifest_path", "type": "string", "field-id": 500},
        {"name": "manifest_length", "type": "long", "field-id": 501},
        {"name": "partition_spec_id", "type": "int", "field-id": 502},
        {"name": "content", "type": "int", "field-id": 517},
        {"name": "sequence_number", "type": "long", "field-id": 515},
        {"name": "min_sequence_number", "type": "long", "field-id": 516},
        {"name": "added_snapshot_id", "type": "long", "field-id": 503},
        {"name": "added_files_count", "type": "int", "field-id": 504},
        {"name": "existing_files_count", "type": "int", "field-id": 505},
        {"name": "deleted_files_count", "type": "int", "field-id": 506},
        {"name": "added_rows_count", "type": "long", "field-id": 512},
        {"name": "existing_rows_count", "type": "long", "field-id": 513},
        {"name": "deleted_rows_count", "type": "long", "field-id": 514},
        {"name": "partitions", "type": ["null", {"type": "array", "element-id": 508, "items": {
            "type": "record", "name": "r508", "fields": [
                {"name": "contains_null", "type": "boolean", "field-id": 509},
                {"name": "contains_nan", "type": ["null", "boolean"], "default": null, "field-id": 518},
                {"name": "lower_bound", "type": ["null", "bytes"], "default": null, "field-id": 510},
                {"name": "upper_bound", "type": ["null", "bytes"], "default": null, "field-id": 511}]}}],
         "default": null, "field-id": 507},
        {"name": "key_metadata", "type": ["null", "bytes"], "default": null, "field-id": 519}]})
}

fn parse(schema: &Value) -> Result<AvroSchema, String> {
    AvroSchema::parse(schema).map_err(|e| format!("an Avro schema of ours does not parse: {e}"))
}

fn null() -> Avro {
    Avro::Union(0, Box::new(Avro::Null))
}

fn some(v: Avro) -> Avro {
    Avro::Union(1, Box::new(v))
}

fn long(v: &i64) -> Avro {
    Avro::Long(*v)
}

/// An Iceberg map with int keys: an Avro array of key/value records.
fn map<V>(m: &BTreeMap<i32, V>, value: impl Fn(&V) -> Avro) -> Avro {
    some(Avro::Array(
        m.iter()
            .map(|(k, v)| {
                Avro::Record(vec![
                    ("key".into(), Avro::Int(*k)),
                    ("value".into(), value(v)),
                ])
            })
            .collect(),
    ))
}

fn part_value(v: &PartValue, f: &PartField) -> Avro {
    match v {
        PartValue::Null => null(),
        PartValue::Int(i) if f.result_type() == "date" => some(Avro::Date(*i)),
        PartValue::Int(i) => some(Avro::Int(*i)),
        PartValue::Long(i) => some(Avro::Long(*i)),
        PartValue::Str(s) => some(Avro::String(s.clone())),
        PartValue::Bool(b) => some(Avro::Boolean(*b)),
        PartValue::Decimal(d) => {
            let size = avro_type(f)["size"].as_u64().unwrap_or(16) as usize;
            let b = d.to_be_bytes();
            some(Avro::Decimal(apache_avro::Decimal::from(&b[16 - size..])))
        }
    }
}

/// What a manifest holds, for its manifest list entry.
#[derive(Debug, Clone)]
pub struct ManifestFile {
    /// Where it is.
    pub path: String,
    /// Its size.
    pub length: u64,
    /// Its partition spec.
    pub spec_id: i32,
    /// 0 data, 1 deletes.
    pub content: i32,
    /// The sequence number of the snapshot that wrote it.
    pub sequence_number: i64,
    /// The smallest data sequence number of its entries.
    pub min_sequence_number: i64,
    /// The snapshot that wrote it.
    pub snapshot_id: i64,
    /// Files added, and their rows.
    pub added: (i32, i64),
    /// Files deleted, and their rows.
    pub deleted: (i32, i64),
    /// Partition field summaries: (contains_null, lower, upper), or the
    /// Avro value copied from the manifest it replaces.
    pub partitions: Summaries,
}

/// One partition field's summary over a manifest: whether it holds a
/// NULL, and its lower and upper bounds.
pub type FieldSummary = (bool, Option<Vec<u8>>, Option<Vec<u8>>);

/// A manifest's partition summaries.
#[derive(Debug, Clone)]
pub enum Summaries {
    /// Computed from its entries.
    Made(Vec<FieldSummary>),
    /// Copied (an Avro `partitions` value).
    Copied(Avro),
}

/// The Avro bytes of the manifest of `entries` (all added by `snapshot`);
/// `meta`: the schema, spec and format metadata readers expect.
pub fn write_manifest(
    spec: &[PartField],
    spec_ids: &[i32],
    entries: &[DataFileEntry],
    snapshot: i64,
    sort_order: i32,
    meta: &[(&str, String)],
) -> Result<(Vec<u8>, Summaries), String> {
    let schema = parse(&entry_schema(spec, spec_ids))?;
    let mut w = Writer::new(&schema, Vec::new());
    for (k, v) in meta {
        w.add_user_metadata((*k).to_string(), v.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let mut summaries: Vec<(bool, Option<PartValue>, Option<PartValue>)> =
        vec![(false, None, None); spec.len()];
    for e in entries {
        for (s, v) in summaries.iter_mut().zip(&e.partition) {
            if *v == PartValue::Null {
                s.0 = true;
                continue;
            }
            if s.1.as_ref().is_none_or(|l| v < l) {
                s.1 = Some(v.clone());
            }
            if s.2.as_ref().is_none_or(|u| v > u) {
                s.2 = Some(v.clone());
            }
        }
        let partition = Avro::Record(
            spec.iter()
                .zip(&e.partition)
                .map(|(f, v)| (f.name.clone(), part_value(v, f)))
                .collect(),
        );
        let data_file = Avro::Record(vec![
            ("content".into(), Avro::Int(0)),
            ("file_path".into(), Avro::String(e.path.clone())),
            ("file_format".into(), Avro::String("PARQUET".into())),
            ("partition".into(), partition),
            ("record_count".into(), Avro::Long(e.records as i64)),
            ("file_size_in_bytes".into(), Avro::Long(e.size as i64)),
            ("column_sizes".into(), map(&e.column_sizes, long)),
            ("value_counts".into(), map(&e.value_counts, long)),
            ("null_value_counts".into(), map(&e.null_counts, long)),
            ("nan_value_counts".into(), null()),
            (
                "lower_bounds".into(),
                map(&e.lower, |b| Avro::Bytes(b.clone())),
            ),
            (
                "upper_bounds".into(),
                map(&e.upper, |b| Avro::Bytes(b.clone())),
            ),
            ("key_metadata".into(), null()),
            ("split_offsets".into(), null()),
            ("equality_ids".into(), null()),
            ("sort_order_id".into(), some(Avro::Int(sort_order))),
        ]);
        let entry = Avro::Record(vec![
            ("status".into(), Avro::Int(ADDED)),
            ("snapshot_id".into(), some(Avro::Long(snapshot))),
            ("sequence_number".into(), null()),
            ("file_sequence_number".into(), null()),
            ("data_file".into(), data_file),
        ]);
        w.append_value_ref(&entry)
            .map_err(|e| format!("a manifest entry of {}: {e}", e_path(&entry)))?;
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    let summaries = summaries
        .into_iter()
        .map(|(n, l, u)| (n, l.and_then(|v| v.bytes()), u.and_then(|v| v.bytes())))
        .collect();
    Ok((bytes, Summaries::Made(summaries)))
}

fn e_path(entry: &Avro) -> String {
    field(entry, "data_file")
        .and_then(|d| field(d, "file_path"))
        .map_or_else(String::new, |p| format!("{p:?}"))
}

/// A record's field.
pub fn field<'a>(v: &'a Avro, name: &str) -> Option<&'a Avro> {
    match v {
        Avro::Record(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        Avro::Union(_, inner) => field(inner, name),
        _ => None,
    }
}

/// An integer (or optional integer) value.
pub fn int(v: Option<&Avro>) -> Option<i64> {
    match v? {
        Avro::Int(i) => Some(i64::from(*i)),
        Avro::Long(i) => Some(*i),
        Avro::Union(_, inner) => int(Some(inner)),
        _ => None,
    }
}

/// A string value.
pub fn string(v: Option<&Avro>) -> Option<String> {
    match v? {
        Avro::String(s) => Some(s.clone()),
        Avro::Union(_, inner) => string(Some(inner)),
        _ => None,
    }
}

/// Every record of an Avro file.
pub fn read_records(bytes: &[u8]) -> Result<Vec<Avro>, String> {
    Reader::new(bytes)
        .map_err(|e| e.to_string())?
        .map(|r| r.map_err(|e| e.to_string()))
        .collect()
}

/// The copy of a manifest (`bytes`, listed with `listed`'s sequence
/// number) that marks its live entries deleted by `snapshot`; `None` when
/// it has none. Written with the manifest's own schema and metadata, so a
/// manifest of any writer's spec is carried over.
pub fn delete_all(
    bytes: &[u8],
    listed: &ManifestFile,
    snapshot: i64,
    path: String,
) -> Result<Option<(Vec<u8>, ManifestFile)>, String> {
    let reader = Reader::new(bytes).map_err(|e| e.to_string())?;
    let schema = reader.writer_schema().clone();
    let meta = reader.user_metadata().clone();
    let mut w = Writer::new(&schema, Vec::new());
    for (k, v) in &meta {
        w.add_user_metadata(k.clone(), v)
            .map_err(|e| e.to_string())?;
    }
    let (mut n, mut rows, mut min_seq) = (0, 0i64, i64::MAX);
    for entry in reader {
        let entry = entry.map_err(|e| e.to_string())?;
        let Avro::Record(fields) = entry else {
            return Err("a manifest entry is not a record".into());
        };
        if int(fields.iter().find(|(k, _)| k == "status").map(|(_, v)| v))
            == Some(i64::from(DELETED))
        {
            continue;
        }
        let mut out = Vec::with_capacity(fields.len());
        let mut data_seq = listed.sequence_number;
        for (k, v) in fields {
            let v = match k.as_str() {
                "status" => Avro::Int(DELETED),
                "snapshot_id" => some(Avro::Long(snapshot)),
                "sequence_number" | "file_sequence_number" => {
                    let seq = int(Some(&v)).unwrap_or(listed.sequence_number);
                    if k == "sequence_number" {
                        data_seq = seq;
                    }
                    some(Avro::Long(seq))
                }
                "data_file" => {
                    rows += int(field(&v, "record_count")).unwrap_or(0);
                    v
                }
                _ => v,
            };
            out.push((k, v));
        }
        min_seq = min_seq.min(data_seq);
        n += 1;
        w.append_value_ref(&Avro::Record(out))
            .map_err(|e| e.to_string())?;
    }
    if n == 0 {
        return Ok(None);
    }
    let bytes = w.into_inner().map_err(|e| e.to_string())?;
    let file = ManifestFile {
        path,
        length: bytes.len() as u64,
        spec_id: listed.spec_id,
        content: listed.content,
        sequence_number: 0,
        min_sequence_number: min_seq,
        snapshot_id: snapshot,
        added: (0, 0),
        deleted: (n, rows),
        partitions: listed.partitions.clone(),
    };
    Ok(Some((bytes, file)))
}

/// The manifests a manifest list holds.
pub fn read_list(bytes: &[u8]) -> Result<Vec<ManifestFile>, String> {
    read_records(bytes)?
        .iter()
        .map(|r| {
            let i = |k| int(field(r, k));
            Ok(ManifestFile {
                path: string(field(r, "manifest_path"))
                    .ok_or("a manifest list entry without manifest_path")?,
                length: i("manifest_length").unwrap_or(0) as u64,
                spec_id: i("partition_spec_id").unwrap_or(0) as i32,
                content: i("content").unwrap_or(0) as i32,
                sequence_number: i("sequence_number").unwrap_or(0),
                min_sequence_number: i("min_sequence_number").unwrap_or(0),
                snapshot_id: i("added_snapshot_id").unwrap_or(0),
                added: (
                    i("added_files_count").unwrap_or(0) as i32,
                    i("added_rows_count").unwrap_or(0),
                ),
                deleted: (
                    i("deleted_files_count").unwrap_or(0) as i32,
                    i("deleted_rows_count").unwrap_or(0),
                ),
                partitions: Summaries::Copied(field(r, "partitions").cloned().unwrap_or_else(null)),
            })
        })
        .collect()
}

/// The Avro bytes of a manifest list of manifests all written by the
/// snapshot of sequence number `sequence`.
pub fn write_list(
    files: &[ManifestFile],
    sequence: i64,
    meta: &[(&str, String)],
) -> Result<Vec<u8>, String> {
    let schema = parse(&list_schema())?;
    let mut w = Writer::new(&schema, Vec::new());
    for (k, v) in meta {
        w.add_user_metadata((*k).to_string(), v.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    for f in files {
        let partitions = match &f.partitions {
            Summaries::Copied(v) => v.clone(),
            Summaries::Made(s) => some(Avro::Array(
                s.iter()
                    .map(|(n, l, u)| {
                        let b = |b: &Option<Vec<u8>>| {
                            b.clone().map_or_else(null, |b| some(Avro::Bytes(b)))
                        };
                        Avro::Record(vec![
                            ("contains_null".into(), Avro::Boolean(*n)),
                            ("contains_nan".into(), null()),
                            ("lower_bound".into(), b(l)),
                            ("upper_bound".into(), b(u)),
                        ])
                    })
                    .collect(),
            )),
        };
        let rec = Avro::Record(vec![
            ("manifest_path".into(), Avro::String(f.path.clone())),
            ("manifest_length".into(), Avro::Long(f.length as i64)),
            ("partition_spec_id".into(), Avro::Int(f.spec_id)),
            ("content".into(), Avro::Int(f.content)),
            ("sequence_number".into(), Avro::Long(sequence)),
            (
                "min_sequence_number".into(),
                Avro::Long(f.min_sequence_number),
            ),
            ("added_snapshot_id".into(), Avro::Long(f.snapshot_id)),
            ("added_files_count".into(), Avro::Int(f.added.0)),
            ("existing_files_count".into(), Avro::Int(0)),
            ("deleted_files_count".into(), Avro::Int(f.deleted.0)),
            ("added_rows_count".into(), Avro::Long(f.added.1)),
            ("existing_rows_count".into(), Avro::Long(0)),
            ("deleted_rows_count".into(), Avro::Long(f.deleted.1)),
            ("partitions".into(), partitions),
            ("key_metadata".into(), null()),
        ]);
        w.append_value_ref(&rec)
            .map_err(|e| format!("the manifest list entry of {}: {e}", f.path))?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_integers_sign_extend() {
        assert_eq!(be_int(&[0xff, 0x7f]), Some(-129));
        assert_eq!(be_int(&[0x00, 0x80]), Some(128));
        assert_eq!(decimal_size(9), 4);
        assert_eq!(decimal_size(10), 5);
        assert_eq!(decimal_size(38), 16);
    }
}
