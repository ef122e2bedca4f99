//! Hive partitions: deriving partition values from columns, and the escaped
//! `k=v/k=v` paths they become.
//!
//! A [`PartitionPath`] can only be built by [`PartitionPath::from_values`],
//! which escapes every value, so no value can form a path that leaves its
//! table's folder: `/`, `=`, `%`, `\`, control characters and the characters
//! S3 advises against are percent-encoded (`a/b` → `a%2Fb`), which Hive,
//! pyarrow and DuckDB decode back. Other text, including non-ASCII, is kept as
//! UTF-8 (as Hive does). A NULL or empty value becomes
//! `__HIVE_DEFAULT_PARTITION__`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int32Array, RecordBatch, UInt32Array};
use arrow::compute::kernels::cast::cast;
use arrow::compute::kernels::take::take_record_batch;
use arrow::compute::{DatePart, date_part};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};
use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::config::{PartitionFn, PartitionSpec};
use crate::error::{Error, Result};

/// The value Hive uses for a NULL partition value.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";
/// Longest escaped segment (`k=v`): file systems cap a name at 255 bytes.
pub const MAX_SEGMENT: usize = 255;

/// A relative hive path, `k1=v1/k2=v2`, or empty for an unpartitioned table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionPath(String);

impl PartitionPath {
    /// The path of an unpartitioned table.
    pub fn root() -> Self {
        PartitionPath(String::new())
    }

    /// Builds the path from (name, value) pairs, escaping each value.
    pub fn from_values<'a>(
        pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Result<Self> {
        let mut out = String::new();
        for (name, value) in pairs {
            let seg = format!("{name}={}", escape(value));
            if seg.len() > MAX_SEGMENT {
                return Err(Error::Schema {
                    table: String::new(),
                    message: format!(
                        "partition {name}: value {:?} is too long for a path segment ({} bytes escaped, at most {MAX_SEGMENT})",
                        value
                            .unwrap_or_default()
                            .chars()
                            .take(40)
                            .collect::<String>(),
                        seg.len()
                    ),
                });
            }
            if !out.is_empty() {
                out.push('/');
            }
            out.push_str(&seg);
        }
        Ok(PartitionPath(out))
    }

    /// The path as text (empty for the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses a path read back from storage into (name, value) pairs.
    pub fn parse(path: &str) -> Option<Vec<(String, Option<String>)>> {
        if path.is_empty() {
            return Some(Vec::new());
        }
        path.split('/')
            .map(|seg| {
                let (k, v) = seg.split_once('=')?;
                Some((k.to_string(), unescape(v)))
            })
            .collect()
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '"' | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '{'
                | '}'
                | '['
                | ']'
                | '^'
                | '|'
                | '<'
                | '>'
                | '~'
                | '`'
        )
}

/// Escapes one partition value (see the module docs).
pub fn escape(value: Option<&str>) -> String {
    let v = match value {
        None | Some("") => return DEFAULT_PARTITION.to_string(),
        Some(v) => v,
    };
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if needs_escape(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    // A value that is only dots would read as `.`/`..` if ever used alone.
    if out.bytes().all(|b| b == b'.') {
        out = out.replace('.', "%2E");
    }
    out
}

/// Reverses [`escape`]; `None` for the default partition.
pub fn unescape(s: &str) -> Option<String> {
    if s == DEFAULT_PARTITION {
        return None;
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(hi), Some(lo)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Rows of one batch split by partition.
#[derive(Debug)]
pub struct Split {
    /// The partition path of each part, with the batch's rows that belong there.
    pub parts: Vec<(PartitionPath, RecordBatch)>,
    /// Arrow bytes the parts hold: the batch's own when they are slices of it,
    /// the copies' when they were gathered.
    pub bytes: usize,
}

/// Derives the partition of every row of `batch` and splits it.
/// `table` and `file` only serve error messages.
///
/// When every partition's rows form one contiguous range of the batch (the
/// common case of sources clustered by time or by an ascending key), the parts
/// are zero-copy slices of it; otherwise each part's rows are copied out with
/// `take`, so that a few scattered rows never keep a whole batch alive.
pub fn split_batch(
    batch: &RecordBatch,
    specs: &[PartitionSpec],
    table: &str,
    file: &str,
) -> Result<Split> {
    if specs.is_empty() || batch.num_rows() == 0 {
        return Ok(Split {
            parts: vec![(PartitionPath::root(), batch.clone())],
            bytes: batch.get_array_memory_size(),
        });
    }
    let keys: Vec<ArrayRef> = specs
        .iter()
        .map(|s| {
            let col = batch.column_by_name(&s.from).ok_or_else(|| Error::Schema {
                table: table.to_string(),
                message: format!(
                    "partition {}: column {:?} is not in {file} (columns: {})",
                    s.name,
                    s.from,
                    column_list(batch)
                ),
            })?;
            derive_key(col, s.func).map_err(|m| Error::Schema {
                table: table.to_string(),
                message: format!(
                    "partition {} from column {:?} in {file}: {m}",
                    s.name, s.from
                ),
            })
        })
        .collect::<Result<_>>()?;
    let converter = RowConverter::new(
        keys.iter()
            .map(|k| SortField::new(k.data_type().clone()))
            .collect(),
    )
    .map_err(|e| Error::arrow(file, e))?;
    let rows = converter
        .convert_columns(&keys)
        .map_err(|e| Error::arrow(file, e))?;
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    let mut members: Vec<(usize, Vec<u32>)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let slot = *index.entry(row.data()).or_insert_with(|| {
            members.push((i, Vec::new()));
            members.len() - 1
        });
        members[slot].1.push(i as u32);
    }
    let contiguous = members.iter().all(|(_, idx)| {
        idx.last()
            .is_some_and(|l| (l - idx[0]) as usize + 1 == idx.len())
    });
    let mut parts = Vec::with_capacity(members.len());
    let mut bytes = if contiguous {
        batch.get_array_memory_size()
    } else {
        0
    };
    for (first, idx) in members {
        let values: Vec<Option<String>> = keys
            .iter()
            .zip(specs)
            .map(|(k, s)| format_value(k, first, s.func))
            .collect();
        let path = PartitionPath::from_values(
            specs
                .iter()
                .zip(&values)
                .map(|(s, v)| (s.name.as_str(), v.as_deref())),
        )
        .map_err(|e| match e {
            Error::Schema { message, .. } => Error::Schema {
                table: table.to_string(),
                message: format!("{message} in {file}"),
            },
            e => e,
        })?;
        let part = if contiguous {
            batch.slice(first, idx.len())
        } else {
            let part = take_record_batch(batch, &UInt32Array::from(idx))
                .map_err(|e| Error::arrow(file, e))?;
            bytes += part.get_array_memory_size();
            part
        };
        parts.push((path, part));
    }
    Ok(Split { parts, bytes })
}

fn column_list(batch: &RecordBatch) -> String {
    batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The key array of one partition function: Int32 for calendar functions
/// (`date` as `yyyymmdd`), Utf8 for `value`.
pub(crate) fn derive_key(
    col: &ArrayRef,
    func: PartitionFn,
) -> std::result::Result<ArrayRef, String> {
    if func == PartitionFn::Value {
        return cast(col, &DataType::Utf8).map_err(|e| e.to_string());
    }
    match col.data_type() {
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64 => {
            let part = |p| date_part(col.as_ref(), p).map_err(|e| e.to_string());
            Ok(match func {
                PartitionFn::Year => part(DatePart::Year)?,
                PartitionFn::Month => part(DatePart::Month)?,
                PartitionFn::Day => part(DatePart::Day)?,
                PartitionFn::Hour => part(DatePart::Hour)?,
                PartitionFn::Date => {
                    let (y, m, d) = (
                        part(DatePart::Year)?,
                        part(DatePart::Month)?,
                        part(DatePart::Day)?,
                    );
                    let (y, m, d) = (
                        y.as_primitive::<arrow::datatypes::Int32Type>(),
                        m.as_primitive::<arrow::datatypes::Int32Type>(),
                        d.as_primitive::<arrow::datatypes::Int32Type>(),
                    );
                    let out: Int32Array = (0..y.len())
                        .map(|i| {
                            y.is_valid(i)
                                .then(|| y.value(i) * 10000 + m.value(i) * 100 + d.value(i))
                        })
                        .collect();
                    Arc::new(out)
                }
                PartitionFn::Value => unreachable!("handled above"),
            })
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let strings = cast(col, &DataType::Utf8).map_err(|e| e.to_string())?;
            let strings = strings.as_string::<i32>();
            let mut out = Vec::with_capacity(strings.len());
            for v in strings.iter() {
                out.push(match v {
                    None => None,
                    Some(s) => {
                        let t = parse_iso8601(s).ok_or_else(|| {
                            format!("{s:?} is not an ISO-8601 date or timestamp (like 2024-03-05 07:08:09+00)")
                        })?;
                        Some(match func {
                            PartitionFn::Year => t.year(),
                            PartitionFn::Month => t.month() as i32,
                            PartitionFn::Day => t.day() as i32,
                            PartitionFn::Hour => t.hour() as i32,
                            PartitionFn::Date => t.year() * 10000 + t.month() as i32 * 100 + t.day() as i32,
                            PartitionFn::Value => unreachable!("handled above"),
                        })
                    }
                });
            }
            Ok(Arc::new(Int32Array::from(out)))
        }
        other => Err(format!(
            "{func:?} needs a timestamp, date or ISO-8601 string column, not {other}; use \"fn\": \"value\" for the value as text"
        )),
    }
}

fn format_value(key: &ArrayRef, row: usize, func: PartitionFn) -> Option<String> {
    if key.is_null(row) {
        return None;
    }
    if func == PartitionFn::Value {
        return Some(key.as_string::<i32>().value(row).to_string());
    }
    let v = key.as_primitive::<arrow::datatypes::Int32Type>().value(row);
    Some(match func {
        PartitionFn::Year => format!("{v:04}"),
        PartitionFn::Date => format!("{:04}-{:02}-{:02}", v / 10000, v / 100 % 100, v % 100),
        _ => format!("{v:02}"),
    })
}

/// Parses `YYYY-MM-DD[( |T)HH[:MM[:SS[.ffffff]]]][Z|±HH[[:]MM]]` into UTC.
pub fn parse_iso8601(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    let mut i = 10;
    let (mut h, mut mi, mut sec, mut nano) = (0, 0, 0, 0);
    if i < b.len() && (b[i] == b'T' || b[i] == b' ' || b[i] == b't') && b.len() >= i + 3 {
        h = num(i + 1..i + 3)?;
        i += 3;
        if b.get(i) == Some(&b':') {
            mi = num(i + 1..i + 3)?;
            i += 3;
            if b.get(i) == Some(&b':') {
                sec = num(i + 1..i + 3)?;
                i += 3;
                if b.get(i) == Some(&b'.') {
                    let start = i + 1;
                    i = start;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                    let frac = &s[start..i];
                    if frac.is_empty() {
                        return None;
                    }
                    let digits: String =
                        frac.chars().chain(std::iter::repeat('0')).take(9).collect();
                    nano = digits.parse().ok()?;
                }
            }
        }
    }
    let time = NaiveTime::from_hms_nano_opt(h, mi, sec, nano)?;
    let local = NaiveDateTime::new(date, time);
    let rest = s[i..].trim_start();
    let offset_secs: i64 = match rest.as_bytes() {
        [] | [b'Z'] | [b'z'] => 0,
        _ if rest.eq_ignore_ascii_case("UTC") => 0,
        [sign @ (b'+' | b'-'), digits @ ..] => {
            let d: Vec<u8> = digits.iter().copied().filter(|c| *c != b':').collect();
            if !d.iter().all(u8::is_ascii_digit) || !(d.len() == 2 || d.len() == 4) {
                return None;
            }
            let oh: i64 = std::str::from_utf8(&d[0..2]).ok()?.parse().ok()?;
            let om: i64 = if d.len() == 4 {
                std::str::from_utf8(&d[2..4]).ok()?.parse().ok()?
            } else {
                0
            };
            let secs = oh * 3600 + om * 60;
            if *sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    local.checked_sub_signed(chrono::Duration::seconds(offset_secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, Schema};

    #[test]
    fn timestamps_in_named_zones_partition_in_their_zone() {
        // 06:30Z on the day DST starts is 01:30 in New York (EST), day 10;
        // 04:30Z on the day it ends is 00:30 (EDT), day 03.
        let at = [1_710_052_200_000_000_i64, 1_730_608_200_000_000];
        for (zone, days, hours) in [
            ("America/New_York", [10, 3], [1, 0]),
            ("UTC", [10, 3], [6, 4]),
            ("Etc/UTC", [10, 3], [6, 4]),
        ] {
            let col: ArrayRef =
                Arc::new(TimestampMicrosecondArray::from(at.to_vec()).with_timezone(zone));
            let ints = |f| {
                let k = derive_key(&col, f).unwrap();
                k.as_primitive::<arrow::datatypes::Int32Type>()
                    .values()
                    .to_vec()
            };
            assert_eq!(ints(PartitionFn::Day), days, "{zone}");
            assert_eq!(ints(PartitionFn::Hour), hours, "{zone}");
            let text = derive_key(&col, PartitionFn::Value).unwrap();
            assert_eq!(text.as_string::<i32>().len(), 2, "{zone}: value as text");
        }
    }

    #[test]
    fn escaping_round_trips_and_stays_in_one_segment() {
        for v in [
            "a/b",
            "x=y",
            "100%",
            "..",
            ".",
            "a b",
            "naïve 東京",
            "tab\there",
            "new\nline",
            "../../etc",
            "back\\slash",
            "q?#*",
            "%2F",
            DEFAULT_PARTITION,
        ] {
            let e = escape(Some(v));
            assert!(
                !e.contains('/') && !e.contains('=') && !e.contains('\\'),
                "{v:?} -> {e}"
            );
            assert_ne!(e, "..");
            assert_ne!(e, ".");
            if v != DEFAULT_PARTITION {
                assert_eq!(unescape(&e).as_deref(), Some(v), "{v:?} -> {e}");
            }
        }
        assert_eq!(escape(Some("a/b")), "a%2Fb");
        assert_eq!(escape(Some("..")), "%2E%2E");
        assert_eq!(escape(None), DEFAULT_PARTITION);
        assert_eq!(unescape(DEFAULT_PARTITION), None);
        let p = PartitionPath::from_values([("k", Some("a/b")), ("j", None)]).unwrap();
        assert_eq!(p.as_str(), "k=a%2Fb/j=__HIVE_DEFAULT_PARTITION__");
        assert_eq!(
            PartitionPath::parse(p.as_str()).unwrap(),
            vec![
                ("k".to_string(), Some("a/b".to_string())),
                ("j".to_string(), None)
            ]
        );
        let long = "x".repeat(300);
        let e = PartitionPath::from_values([("k", Some(long.as_str()))]).unwrap_err();
        assert!(e.to_string().contains("too long"), "{e}");
    }

    #[test]
    fn iso8601() {
        let t = |s| parse_iso8601(s).map(|t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string());
        assert_eq!(t("2024-03-05").as_deref(), Some("2024-03-05 00:00:00"));
        assert_eq!(
            t("2024-03-05 07:08:09.123456+00").as_deref(),
            Some("2024-03-05 07:08:09.123456")
        );
        assert_eq!(
            t("2024-03-05T07:08:09Z").as_deref(),
            Some("2024-03-05 07:08:09")
        );
        assert_eq!(
            t("2024-12-31T23:30:00-01:00").as_deref(),
            Some("2025-01-01 00:30:00")
        );
        assert_eq!(
            t("2024-03-01 01:00:00+0530").as_deref(),
            Some("2024-02-29 19:30:00")
        );
        assert_eq!(t("2024-03-05 07"), Some("2024-03-05 07:00:00".into()));
        for bad in [
            "2024-13-01",
            "24-03-05",
            "2024/03/05",
            "2024-03-05 7:00",
            "2024-03-05 07:00:00 junk",
            "",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }

    fn batch() -> RecordBatch {
        let ts = TimestampMicrosecondArray::from(vec![
            Some(1_704_067_200_000_000), // 2024-01-01 00:00:00
            Some(1_706_745_599_000_000), // 2024-01-31 23:59:59
            Some(1_709_251_200_000_000), // 2024-03-01 00:00:00
            None,
        ]);
        let s = StringArray::from(vec![
            Some("2024-01-01 00:00:00+00"),
            Some("2024-01-31 23:59:59+00"),
            Some("2024-02-29 23:00:00-02"),
            None,
        ]);
        let v = StringArray::from(vec![Some("a/b"), Some("a/b"), Some(".."), Some("")]);
        let id = Int64Array::from(vec![1, 2, 3, 4]);
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("ts", ts.data_type().clone(), true),
                Field::new("s", DataType::Utf8, true),
                Field::new("v", DataType::Utf8, true),
                Field::new("id", DataType::Int64, false),
            ])),
            vec![Arc::new(ts), Arc::new(s), Arc::new(v), Arc::new(id)],
        )
        .unwrap()
    }

    fn spec(name: &str, from: &str, func: PartitionFn) -> PartitionSpec {
        PartitionSpec {
            name: name.into(),
            from: from.into(),
            func,
        }
    }

    fn paths(split: &Split) -> Vec<(String, Vec<i64>)> {
        split
            .parts
            .iter()
            .map(|(p, b)| {
                let ids = b
                    .column_by_name("id")
                    .unwrap()
                    .as_primitive::<arrow::datatypes::Int64Type>();
                (p.as_str().to_string(), ids.values().to_vec())
            })
            .collect()
    }

    #[test]
    fn split_by_timestamp_and_string() {
        let b = batch();
        let from_ts = split_batch(
            &b,
            &[
                spec("year", "ts", PartitionFn::Year),
                spec("month", "ts", PartitionFn::Month),
            ],
            "t",
            "f",
        )
        .unwrap();
        assert_eq!(
            paths(&from_ts),
            vec![
                ("year=2024/month=01".to_string(), vec![1, 2]),
                ("year=2024/month=03".to_string(), vec![3]),
                (
                    format!("year={DEFAULT_PARTITION}/month={DEFAULT_PARTITION}"),
                    vec![4]
                ),
            ]
        );
        let from_str = split_batch(&b, &[spec("date", "s", PartitionFn::Date)], "t", "f").unwrap();
        assert_eq!(
            paths(&from_str),
            vec![
                ("date=2024-01-01".to_string(), vec![1]),
                ("date=2024-01-31".to_string(), vec![2]),
                ("date=2024-03-01".to_string(), vec![3]),
                (format!("date={DEFAULT_PARTITION}"), vec![4]),
            ]
        );
        let by_value = split_batch(&b, &[spec("v", "v", PartitionFn::Value)], "t", "f").unwrap();
        assert_eq!(
            paths(&by_value),
            vec![
                ("v=a%2Fb".to_string(), vec![1, 2]),
                ("v=%2E%2E".to_string(), vec![3]),
                (format!("v={DEFAULT_PARTITION}"), vec![4]),
            ]
        );
        let hours = split_batch(
            &b,
            &[
                spec("h", "ts", PartitionFn::Hour),
                spec("d", "ts", PartitionFn::Day),
            ],
            "t",
            "f",
        )
        .unwrap();
        assert_eq!(paths(&hours)[1].0, "h=23/d=31");
    }

    /// Where the `id` column's values live.
    fn id_storage(b: &RecordBatch) -> *const u8 {
        let ids = b.column_by_name("id").unwrap();
        let ids = ids.as_primitive::<arrow::datatypes::Int64Type>();
        ids.values().inner().data_ptr().as_ptr()
    }

    #[test]
    fn contiguous_partitions_are_slices_and_scattered_ones_copies() {
        let b = batch();
        let by = [spec("v", "v", PartitionFn::Value)];
        let split = split_batch(&b, &by, "t", "f").unwrap();
        assert_eq!(split.parts.len(), 3);
        for (_, part) in &split.parts {
            assert_eq!(id_storage(part), id_storage(&b), "a slice shares the batch");
        }
        assert_eq!(split.bytes, b.get_array_memory_size());

        // Row 3 moves to the end: partition a/b is rows 0, 1 and 3.
        let scattered = take_record_batch(&b, &UInt32Array::from(vec![0, 1, 3, 0])).unwrap();
        let split = split_batch(&scattered, &by, "t", "f").unwrap();
        assert_eq!(
            paths(&split),
            vec![
                ("v=a%2Fb".to_string(), vec![1, 2, 1]),
                (format!("v={DEFAULT_PARTITION}"), vec![4]),
            ]
        );
        for (_, part) in &split.parts {
            assert_ne!(id_storage(part), id_storage(&scattered), "a copy");
        }
        let copied: usize = split
            .parts
            .iter()
            .map(|(_, p)| p.get_array_memory_size())
            .sum();
        assert_eq!(split.bytes, copied);
    }

    #[test]
    fn errors_name_table_file_column_and_value() {
        let b = batch();
        let e = split_batch(
            &b,
            &[spec("y", "nope", PartitionFn::Year)],
            "db/s/t",
            "f.parquet",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "table db/s/t: partition y: column \"nope\" is not in f.parquet (columns: ts, s, v, id)"
        );
        let e = split_batch(
            &b,
            &[spec("y", "v", PartitionFn::Year)],
            "db/s/t",
            "f.parquet",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("\"a/b\" is not an ISO-8601 date"),
            "{e}"
        );
        let e = split_batch(
            &b,
            &[spec("y", "id", PartitionFn::Year)],
            "db/s/t",
            "f.parquet",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("Year needs a timestamp, date or ISO-8601 string column, not Int64"),
            "{e}"
        );
    }
}
