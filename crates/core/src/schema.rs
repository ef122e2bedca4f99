//! Table schemas: one per table and run, decided over all its files.
//!
//! Files of one table may drift: a column missing from some files is null
//! there, and types widen to one both sides cast to without loss (integers to
//! wider integers, `float32` to `float64`, timestamps to the finer unit,
//! strings and binaries to their large forms, decimals to a precision and
//! scale that hold both). Anything else is a conflict, reported with the
//! column and both files. The planner decides each table's [`TableSchema`]
//! once (step 1.1) and every staging worker [`conform`]s its batches to it, so
//! all staging and lake files of a table share one schema. Every column is
//! written as nullable. A column whose database type step 0 restored
//! ([`crate::restore`]) is planned in that type and converted exactly.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::config::PartitionSpec;
use crate::config::types::AttrTypes;
use crate::error::{Error, Result};

/// The type both `a` and `b` widen to without loss, if there is one.
pub fn widen(a: &DataType, b: &DataType) -> Option<DataType> {
    use DataType::*;
    if a == b {
        return Some(a.clone());
    }
    let int_rank = |t: &DataType| match t {
        Int8 => Some((8, true)),
        Int16 => Some((16, true)),
        Int32 => Some((32, true)),
        Int64 => Some((64, true)),
        UInt8 => Some((8, false)),
        UInt16 => Some((16, false)),
        UInt32 => Some((32, false)),
        UInt64 => Some((64, false)),
        _ => None,
    };
    let signed = |bits: u32| match bits {
        8 => Int8,
        16 => Int16,
        32 => Int32,
        _ => Int64,
    };
    let unit_rank = |u: &TimeUnit| match u {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 1,
        TimeUnit::Microsecond => 2,
        TimeUnit::Nanosecond => 3,
    };
    match (a, b) {
        (Null, t) | (t, Null) => Some(t.clone()),
        _ if int_rank(a).is_some() && int_rank(b).is_some() => {
            let ((ba, sa), (bb, sb)) = (int_rank(a)?, int_rank(b)?);
            match (sa, sb) {
                (true, true) | (false, false) => Some(if ba >= bb { a.clone() } else { b.clone() }),
                // Signed with unsigned: a signed type wider than the unsigned one.
                (true, false) if ba > bb => Some(a.clone()),
                (false, true) if bb > ba => Some(b.clone()),
                _ => {
                    let need = ba.max(bb) * 2;
                    (need <= 64).then(|| signed(need))
                }
            }
        }
        (Float16 | Float32, Float32 | Float64)
        | (Float64, Float16 | Float32)
        | (Float32, Float16) => Some(if a == &Float64 || b == &Float64 {
            Float64
        } else {
            Float32
        }),
        (Date32 | Date64, Date32 | Date64) => Some(Date64),
        (Timestamp(ua, za), Timestamp(ub, zb)) if same_zone(za, zb) => Some(Timestamp(
            if unit_rank(ua) >= unit_rank(ub) {
                *ua
            } else {
                *ub
            },
            za.clone(),
        )),
        (Utf8 | LargeUtf8, Utf8 | LargeUtf8) => Some(LargeUtf8),
        (Binary | LargeBinary, Binary | LargeBinary) => Some(LargeBinary),
        (Decimal128(pa, sa), Decimal128(pb, sb)) => {
            let scale = (*sa).max(*sb);
            let int_digits = (*pa as i16 - *sa as i16).max(*pb as i16 - *sb as i16);
            let precision = int_digits + scale as i16;
            (precision <= 38).then_some(Decimal128(precision as u8, scale))
        }
        _ => None,
    }
}

/// Whether a timestamp zone is UTC, however written.
pub fn is_utc(zone: &str) -> bool {
    matches!(zone, "UTC" | "Etc/UTC" | "+00:00" | "Z" | "+00")
}

/// Whether two timestamp zones are the same: equal, or both UTC however
/// written (`UTC`, `Etc/UTC`, `+00:00`, `Z`: pandas and Spark write different ones).
fn same_zone(a: &Option<Arc<str>>, b: &Option<Arc<str>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b || (is_utc(a) && is_utc(b)),
        (None, None) => true,
        _ => false,
    }
}

/// One column of a [`TableSchema`], as recorded in the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Arrow type, in Arrow's own notation (`Int64`, `Timestamp(µs)`, …).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// The schema of one table over all its files, with the file each column's
/// type was first seen in (to name both sides of a conflict).
#[derive(Debug, Clone)]
pub struct TableSchema {
    table: String,
    fields: Vec<Field>,
    origin: Vec<String>,
}

impl TableSchema {
    /// An empty schema of `table` (`*` for a snapshot without tables).
    pub fn new(table: &str) -> Self {
        TableSchema {
            table: table.to_string(),
            fields: Vec::new(),
            origin: Vec::new(),
        }
    }

    /// Adds the columns of one file: new columns are appended, known ones
    /// widen; a type that cannot widen fails naming the column and both files.
    pub fn add(&mut self, schema: &Schema, uri: &str) -> Result<()> {
        for f in schema.fields() {
            match self.fields.iter().position(|k| k.name() == f.name()) {
                None => {
                    self.fields
                        .push(Field::new(f.name(), f.data_type().clone(), true));
                    self.origin.push(uri.to_string());
                }
                Some(i) => {
                    let known = self.fields[i].data_type();
                    let Some(wide) = widen(known, f.data_type()) else {
                        return Err(Error::Schema {
                            table: self.table.clone(),
                            message: format!(
                                "column {:?} is {} in {} but {} in {uri}; the types do not widen to one",
                                f.name(),
                                known,
                                self.origin[i],
                                f.data_type()
                            ),
                        });
                    };
                    if &wide != known {
                        self.fields[i] = Field::new(f.name(), wide, true);
                    }
                }
            }
        }
        Ok(())
    }

    /// The schema decided.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(self.fields.clone()))
    }
}

/// `fields` as a plan records them.
fn columns_of<'a>(fields: impl IntoIterator<Item = &'a Field>) -> Vec<Column> {
    fields
        .into_iter()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
        })
        .collect()
}

/// Reads back the columns a plan recorded for `table`.
pub fn from_columns(table: &str, columns: &[Column]) -> Result<SchemaRef> {
    let fields = columns
        .iter()
        .map(|c| {
            c.data_type
                .parse::<DataType>()
                .map(|t| Field::new(&c.name, t, true))
                .map_err(|e| Error::Schema {
                    table: table.to_string(),
                    message: format!(
                        "column {:?}: unreadable type {:?} in the plan: {e}",
                        c.name, c.data_type
                    ),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// What step 1.1 resolved of one table, for every staging worker to read
/// the same way whatever the source format (`schemas.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredTable")]
pub struct ResolvedTable {
    /// Its columns: over every Parquet footer, given or inferred from a
    /// sample of text files, or from a DynamoDB export's attributes.
    pub columns: Vec<Column>,
    /// For a DynamoDB export: the attribute type each column reads as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttrTypes>,
}

/// A table of `schemas.json` as this or an earlier version wrote it (a bare
/// column list).
#[derive(Deserialize)]
#[serde(untagged)]
enum StoredTable {
    Resolved {
        columns: Vec<Column>,
        #[serde(default)]
        attributes: Option<AttrTypes>,
    },
    Columns(Vec<Column>),
}

impl From<StoredTable> for ResolvedTable {
    fn from(s: StoredTable) -> Self {
        match s {
            StoredTable::Resolved {
                columns,
                attributes,
            } => ResolvedTable {
                columns,
                attributes,
            },
            StoredTable::Columns(columns) => ResolvedTable {
                columns,
                attributes: None,
            },
        }
    }
}

impl ResolvedTable {
    /// A table of `schema`'s columns, in the types a lake holds them
    /// ([`lake_type`]).
    pub fn of(schema: &Schema) -> Self {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_data_type(lake_type(f.data_type())))
            .collect();
        ResolvedTable {
            columns: columns_of(&fields),
            attributes: None,
        }
    }

    /// Its Arrow schema.
    pub fn schema(&self, table: &str) -> Result<SchemaRef> {
        from_columns(table, &self.columns)
    }
}

/// Every table's resolved schema, by table name (`*` for a snapshot
/// without tables).
pub type TableSchemas = BTreeMap<String, ResolvedTable>;

/// The type a lake holds for a source column of type `t`, as every Parquet
/// reader expects it: nanosecond timestamps in microseconds (Spark and
/// Athena read no nanoseconds; a value that would lose digits fails its
/// group, naming it), second timestamps in milliseconds (Parquet has no
/// second unit: they would be written as plain integers), `date64` as a
/// date (`date32`). Every other type is kept.
pub fn lake_type(t: &DataType) -> DataType {
    match t {
        DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
            DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
        }
        DataType::Timestamp(TimeUnit::Second, tz) => {
            DataType::Timestamp(TimeUnit::Millisecond, tz.clone())
        }
        DataType::Date64 => DataType::Date32,
        other => other.clone(),
    }
}

/// The first nanosecond timestamp bound in a Parquet footer with digits
/// below the microsecond: its column and value (a lake holds microseconds).
pub fn sub_micro_nanos(
    schema: &Schema,
    footer: &parquet::file::metadata::ParquetMetaData,
) -> Option<(String, i64)> {
    use parquet::file::statistics::Statistics;
    let descr = footer.file_metadata().schema_descr();
    for (i, col) in descr.columns().iter().enumerate() {
        let name = &col.path().parts()[0];
        let nanos = col.path().parts().len() == 1
            && matches!(
                schema.field_with_name(name).map(|f| f.data_type()),
                Ok(DataType::Timestamp(TimeUnit::Nanosecond, _))
            );
        if !nanos {
            continue;
        }
        for rg in footer.row_groups() {
            if let Some(Statistics::Int64(s)) = rg.column(i).statistics() {
                for v in [s.min_opt(), s.max_opt()].into_iter().flatten() {
                    if v % 1000 != 0 {
                        return Some((name.clone(), *v));
                    }
                }
            }
        }
    }
    None
}

/// `batch` (read from `uri`) in the table's `schema`: columns in its order,
/// widened where the file's type is narrower, null where the file lacks them.
pub fn conform(
    batch: &RecordBatch,
    schema: &SchemaRef,
    table: &str,
    uri: &str,
) -> Result<RecordBatch> {
    let same = batch.num_columns() == schema.fields().len()
        && batch
            .schema()
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
    if same {
        return Ok(
            RecordBatch::try_new(schema.clone(), batch.columns().to_vec())
                .expect("same columns, only nullability relaxed"),
        );
    }
    let source = batch.schema();
    if let Some(extra) = source
        .fields()
        .iter()
        .find(|f| schema.field_with_name(f.name()).is_err())
    {
        return Err(Error::Schema {
            table: table.to_string(),
            message: format!(
                "column {:?} of {uri} is not in the table's planned schema (the snapshot changed after planning?)",
                extra.name()
            ),
        });
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            None => Ok(new_null_array(f.data_type(), batch.num_rows())),
            Some(c) if c.data_type() == f.data_type() => Ok(c.clone()),
            Some(c) => crate::restore::convert(c, f.data_type()).map_err(|e| Error::Schema {
                table: table.to_string(),
                message: format!(
                    "column {:?} of {uri}: {} does not convert to {}: {e}",
                    f.name(),
                    c.data_type(),
                    f.data_type()
                ),
            }),
        })
        .collect::<Result<Vec<ArrayRef>>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns).expect("columns follow the schema"))
}

/// Fails, naming both files and the column, when `b` differs from `a`.
pub fn check_same_schema(
    table: &str,
    a: &SchemaRef,
    a_uri: &str,
    b: &SchemaRef,
    b_uri: &str,
) -> Result<()> {
    let conflict = |message: String| Error::Schema {
        table: table.to_string(),
        message,
    };
    for fa in a.fields() {
        match b.field_with_name(fa.name()) {
            Err(_) => {
                return Err(conflict(format!(
                    "column {:?} is in {a_uri} but not in {b_uri}",
                    fa.name()
                )));
            }
            Ok(fb) if fb.data_type() != fa.data_type() => {
                return Err(conflict(format!(
                    "column {:?} is {} in {a_uri} but {} in {b_uri}",
                    fa.name(),
                    fa.data_type(),
                    fb.data_type()
                )));
            }
            Ok(_) => {}
        }
    }
    if let Some(fb) = b
        .fields()
        .iter()
        .find(|fb| a.field_with_name(fb.name()).is_err())
    {
        return Err(conflict(format!(
            "column {:?} is in {b_uri} but not in {a_uri}",
            fb.name()
        )));
    }
    let names = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    if names(a) != names(b) {
        return Err(conflict(format!(
            "columns are in a different order in {a_uri} and {b_uri}"
        )));
    }
    Ok(())
}

/// `batch` without the columns named like a partition key (their values live
/// in the path, as in Hive), and with every column nullable.
pub fn drop_partition_names(batch: &RecordBatch, specs: &[PartitionSpec]) -> RecordBatch {
    let schema = batch.schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|i| !specs.iter().any(|s| &s.name == schema.field(*i).name()))
        .collect();
    let fields: Vec<Field> = keep
        .iter()
        .map(|i| schema.field(*i).clone().with_nullable(true))
        .collect();
    let columns = keep.iter().map(|i| batch.column(*i).clone()).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("same columns, only nullability relaxed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray, Float32Array, Int32Array, StringArray};
    use arrow::datatypes::{Float64Type, Int64Type};

    fn s(fields: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn conflicts_name_both_files_and_the_column() {
        let a = s(&[("id", DataType::Int64), ("x", DataType::Utf8)]);
        let e = check_same_schema(
            "d/s/t",
            &a,
            "a.parquet",
            &s(&[("id", DataType::Int32), ("x", DataType::Utf8)]),
            "b.parquet",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "table d/s/t: column \"id\" is Int64 in a.parquet but Int32 in b.parquet"
        );
        let e = check_same_schema(
            "d/s/t",
            &a,
            "a.parquet",
            &s(&[("id", DataType::Int64)]),
            "b.parquet",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "table d/s/t: column \"x\" is in a.parquet but not in b.parquet"
        );
        check_same_schema("d/s/t", &a, "a.parquet", &a, "b.parquet").unwrap();
    }

    #[test]
    fn widening_rules() {
        use DataType::*;
        assert_eq!(widen(&Int32, &Int64), Some(Int64));
        assert_eq!(widen(&UInt32, &Int32), Some(Int64));
        assert_eq!(widen(&UInt8, &Int32), Some(Int32));
        assert_eq!(widen(&UInt64, &Int64), None);
        assert_eq!(widen(&Float32, &Float64), Some(Float64));
        assert_eq!(
            widen(
                &Timestamp(TimeUnit::Millisecond, None),
                &Timestamp(TimeUnit::Microsecond, None)
            ),
            Some(Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(
            widen(
                &Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                &Timestamp(TimeUnit::Millisecond, None)
            ),
            None
        );
        assert_eq!(widen(&Utf8, &LargeUtf8), Some(LargeUtf8));
        assert_eq!(
            widen(&Decimal128(10, 2), &Decimal128(12, 4)),
            Some(Decimal128(12, 4))
        );
        assert_eq!(widen(&Decimal128(38, 0), &Decimal128(10, 5)), None);
        assert_eq!(widen(&Null, &Date32), Some(Date32));
        assert_eq!(widen(&Int64, &Utf8), None);
        assert_eq!(widen(&Int64, &Float64), None);
        assert_eq!(widen(&Date32, &Date64), Some(Date64));
        let utc = |z: &str| Timestamp(TimeUnit::Nanosecond, Some(z.into()));
        assert_eq!(widen(&utc("UTC"), &utc("+00:00")), Some(utc("UTC")));
        assert_eq!(widen(&utc("UTC"), &utc("America/New_York")), None);
    }

    #[test]
    fn lakes_hold_timestamps_every_reader_reads() {
        use DataType::*;
        let tz = Some(Arc::from("+00:00"));
        assert_eq!(
            lake_type(&Timestamp(TimeUnit::Nanosecond, tz.clone())),
            Timestamp(TimeUnit::Microsecond, tz.clone())
        );
        assert_eq!(
            lake_type(&Timestamp(TimeUnit::Second, None)),
            Timestamp(TimeUnit::Millisecond, None)
        );
        assert_eq!(lake_type(&Date64), Date32);
        assert_eq!(
            lake_type(&Timestamp(TimeUnit::Millisecond, tz.clone())),
            Timestamp(TimeUnit::Millisecond, tz)
        );
    }

    #[test]
    fn drift_across_files_is_unified_and_conformed() {
        let a = s(&[("id", DataType::Int32), ("x", DataType::Float32)]);
        let b = s(&[
            ("x", DataType::Float64),
            ("id", DataType::Int64),
            ("note", DataType::Utf8),
        ]);
        let mut t = TableSchema::new("d/s/t");
        t.add(&a, "a.parquet").unwrap();
        t.add(&b, "b.parquet").unwrap();
        let cols = ResolvedTable::of(&t.schema()).columns;
        assert_eq!(
            cols.iter()
                .map(|c| (c.name.as_str(), c.data_type.as_str()))
                .collect::<Vec<_>>(),
            [("id", "Int64"), ("x", "Float64"), ("note", "Utf8")]
        );
        let schema = from_columns("d/s/t", &cols).unwrap();
        assert_eq!(schema, t.schema());

        let batch = RecordBatch::try_new(
            a.clone(),
            vec![
                Arc::new(Int32Array::from(vec![1, 2])),
                Arc::new(Float32Array::from(vec![0.5, 1.5])),
            ],
        )
        .unwrap();
        let out = conform(&batch, &schema, "d/s/t", "a.parquet").unwrap();
        assert_eq!(out.schema(), schema);
        assert_eq!(out.column(0).as_primitive::<Int64Type>().values(), &[1, 2]);
        assert_eq!(
            out.column(1).as_primitive::<Float64Type>().values(),
            &[0.5, 1.5]
        );
        assert_eq!(out.column(2).null_count(), 2);

        let mut t2 = TableSchema::new("d/s/t");
        t2.add(&a, "a.parquet").unwrap();
        let e = t2
            .add(&s(&[("id", DataType::Utf8)]), "c.parquet")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "table d/s/t: column \"id\" is Int32 in a.parquet but Utf8 in c.parquet; the types do not widen to one"
        );
        let stray = RecordBatch::try_new(
            s(&[("zzz", DataType::Utf8)]),
            vec![Arc::new(StringArray::from(vec!["q"]))],
        )
        .unwrap();
        let e = conform(&stray, &schema, "d/s/t", "z.parquet").unwrap_err();
        assert!(e.to_string().contains("column \"zzz\" of z.parquet"), "{e}");
    }
}
