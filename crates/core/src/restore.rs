//! The database's own column types, restored from an RDS / Aurora snapshot
//! export.
//!
//! An export writes PostgreSQL `numeric`, `date`, `time`, `timestamp` and
//! `timestamptz` columns as text, and MySQL `char` / `varchar` / `text` /
//! `enum` / `set` columns as bytes without the UTF8 annotation. Its
//! `export_tables_info_*.json` names each column's `originalType`; from it
//! and the Parquet files' own types, step 0 decides each column's lake type
//! once ([`Decider`]) and records the decision in the snapshot manifest
//! ([`RestoredType`]); step 1.1 plans the tables in those types and every
//! staging worker converts the values exactly ([`convert`]).
//!
//! | database type (`originalType`) | exported as | lake type |
//! |---|---|---|
//! | `numeric(p)` / `decimal(p)`, 1 ≤ p ≤ 38 | text | `decimal(p,s)`, `s` the digits after the point the values show |
//! | `date` | text | date32 |
//! | `time` (`time without time zone`) | text | time64 µs |
//! | `timestamp` (`timestamp without time zone`) | text | timestamp µs, no zone |
//! | `timestamptz` (`timestamp with time zone`) | text | timestamp µs UTC (offsets converted) |
//! | `char`, `varchar`, `text`, `enum`, `set` (MySQL) | bytes | UTF-8 text |
//!
//! A candidate column stays as exported when its footers' statistics show
//! a value that does not convert (PostgreSQL's `NaN`, `Infinity`,
//! `infinity` dates, MySQL's `838:59:59` times), when a numeric has no
//! precision (unconstrained) or more than 38 digits, or when no statistics
//! tell a numeric's scale; the decision says why. Every other type
//! (`boolean`, integers, `json`, `uuid`, arrays, ranges, MySQL `decimal` and
//! `datetime`, which the export already types) is left as it is.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, GenericBinaryArray, GenericStringArray, OffsetSizeTrait,
    PrimitiveArray, StringArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Schema, Time64MicrosecondType,
    TimeUnit, TimestampMicrosecondType,
};
use parquet::file::metadata::ParquetMetaData;
use serde::{Deserialize, Serialize};

use crate::config::types::{MAX_PRECISION, parse_type};
use crate::exact;

/// One column's entry of an export's `schemaMetadata.originalTypeMappings`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginalType {
    /// `columnName`.
    pub column: String,
    /// `originalType`, as the database names it.
    pub original_type: String,
    /// `originalNumPrecision` (0 when the database declares none).
    pub num_precision: u32,
}

impl OriginalType {
    /// The type's name, lower case, without arguments: `numeric(14,2)` → `numeric`.
    fn base(&self) -> String {
        let lower = self.original_type.trim().to_ascii_lowercase();
        let head = lower.split('(').next().unwrap_or_default();
        head.split_whitespace().collect::<Vec<_>>().join(" ")
    }

    /// The type as the decision records it: `numeric(14)`, `date`.
    fn declared(&self) -> String {
        match self.num_precision {
            0 => self.original_type.clone(),
            p => format!("{}({p})", self.original_type),
        }
    }
}

/// What step 0 decided for one column of an exported table, recorded in the
/// snapshot manifest summary (`rds_export.types`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoredType {
    /// The database's type (`originalType`, with its precision).
    pub original: String,
    /// The Arrow type the export wrote.
    pub exported: String,
    /// The Arrow type the lake holds.
    pub lake: String,
    /// Why the column keeps its exported type, or was pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// The restored types of every table, by lake table and column.
pub type RestoredTypes = BTreeMap<String, BTreeMap<String, RestoredType>>;

/// What a column's database type restores to, before its values are seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Decimal { precision: u8 },
    Date,
    Time,
    Timestamp,
    TimestampUtc,
    Utf8,
}

impl Target {
    /// The target of a column the export wrote as `exported`; `Err` says why
    /// a candidate cannot be restored whatever its values.
    fn of(
        original: &OriginalType,
        exported: &DataType,
    ) -> std::result::Result<Option<Target>, String> {
        let base = original.base();
        let text = matches!(exported, DataType::Utf8 | DataType::LargeUtf8);
        let bytes = matches!(exported, DataType::Binary | DataType::LargeBinary);
        Ok(Some(match base.as_str() {
            "numeric" | "decimal" if text => match original.num_precision {
                0 => {
                    return Err("an unconstrained numeric (no declared precision) may hold \
                                any number of digits"
                        .into());
                }
                p if p > u32::from(MAX_PRECISION) => {
                    return Err(format!(
                        "its precision, {p} digits, is over the 38 a Parquet decimal holds"
                    ));
                }
                p => Target::Decimal { precision: p as u8 },
            },
            "date" if text => Target::Date,
            "time" | "time without time zone" if text => Target::Time,
            "timestamp" | "timestamp without time zone" if text => Target::Timestamp,
            "timestamptz" | "timestamp with time zone" if text => Target::TimestampUtc,
            "char" | "varchar" | "character" | "character varying" | "text" | "tinytext"
            | "mediumtext" | "longtext" | "enum" | "set"
                if bytes =>
            {
                Target::Utf8
            }
            _ => return Ok(None),
        }))
    }

    fn what(self) -> &'static str {
        match self {
            Target::Decimal { .. } => "number",
            Target::Date => "date",
            Target::Time => "time of day",
            Target::Timestamp | Target::TimestampUtc => "timestamp",
            Target::Utf8 => "UTF-8 text",
        }
    }

    /// Checks one value the statistics show; returns its digits before and
    /// after the point for a number.
    fn check(self, v: &str) -> std::result::Result<(usize, usize), String> {
        match self {
            Target::Decimal { precision } => {
                let (_, int, frac) =
                    exact::split_number(v).ok_or_else(|| format!("{v:?} is not a number"))?;
                let int = int.trim_start_matches('0').len();
                exact::decimal(v, precision, frac.len().min(38) as i8)?;
                Ok((int, frac.len()))
            }
            Target::Date => exact::date(v).map(|_| (0, 0)),
            Target::Time => exact::time(v).map(|_| (0, 0)),
            Target::Timestamp | Target::TimestampUtc => exact::timestamp(v).map(|_| (0, 0)),
            Target::Utf8 => Ok((0, 0)),
        }
    }
}

/// What the footers of one file show of one candidate column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Values (row groups' bounds) seen.
    values: u64,
    /// The first value that does not convert, why, and its file.
    unfit: Option<(String, String)>,
    /// Most digits before and after the point a number showed.
    int_digits: usize,
    scale: usize,
    /// A file with a row group without statistics.
    blind: Option<String>,
}

impl Evidence {
    fn merge(&mut self, o: Evidence) {
        self.values += o.values;
        self.unfit = self.unfit.take().or(o.unfit);
        self.int_digits = self.int_digits.max(o.int_digits);
        self.scale = self.scale.max(o.scale);
        self.blind = self.blind.take().or(o.blind);
    }
}

/// Decides the lake types of one exported table's columns.
#[derive(Debug, Clone, Default)]
pub struct Decider {
    /// The database's types, by column.
    mappings: BTreeMap<String, OriginalType>,
}

/// The footers' evidence of a table's candidate columns, by column.
pub type TableEvidence = BTreeMap<String, Evidence>;

impl Decider {
    /// A decider over a table's type mappings.
    pub fn new(mappings: &[OriginalType]) -> Decider {
        Decider {
            mappings: mappings
                .iter()
                .map(|m| (m.column.clone(), m.clone()))
                .collect(),
        }
    }

    /// What the footer of `uri` (whose Arrow schema is `schema`) shows of
    /// the candidate columns: every row group's minimum and maximum,
    /// checked as the column's target type.
    pub fn evidence(&self, uri: &str, footer: &ParquetMetaData, schema: &Schema) -> TableEvidence {
        let mut out = TableEvidence::new();
        let descr = footer.file_metadata().schema_descr();
        for (i, col) in descr.columns().iter().enumerate() {
            let path = col.path().parts();
            let (Some(m), Ok(field)) = (
                self.mappings.get(&path[0]),
                schema.field_with_name(&path[0]),
            ) else {
                continue;
            };
            let Ok(Some(target)) = Target::of(m, field.data_type()) else {
                continue;
            };
            if path.len() != 1 || target == Target::Utf8 {
                continue;
            }
            let e = out.entry(path[0].clone()).or_default();
            for rg in footer.row_groups() {
                let chunk = rg.column(i);
                let Some(stats) = chunk.statistics() else {
                    if chunk.num_values() > 0 {
                        e.blind.get_or_insert_with(|| uri.to_string());
                    }
                    continue;
                };
                let bounds = [
                    (stats.min_bytes_opt(), stats.min_is_exact()),
                    (stats.max_bytes_opt(), stats.max_is_exact()),
                ];
                for (bound, exact) in bounds {
                    let Some(b) = bound else { continue };
                    let Some(v) = std::str::from_utf8(b).ok().filter(|_| exact) else {
                        e.blind.get_or_insert_with(|| uri.to_string());
                        continue;
                    };
                    e.values += 1;
                    match target.check(v) {
                        Ok((int, frac)) => {
                            e.int_digits = e.int_digits.max(int);
                            e.scale = e.scale.max(frac);
                        }
                        Err(why) => {
                            e.unfit.get_or_insert_with(|| (why, uri.to_string()));
                        }
                    }
                }
            }
        }
        out
    }

    /// The decision for every candidate and pinned column of the table
    /// (whose columns are `exported`), over the evidence of all its files;
    /// `pins` are its columns pinned by `source.types` (column → type
    /// name), `restore` whether mappings are applied at all. Fails for a pin
    /// of no column or type.
    pub fn decide(
        &self,
        evidence: impl IntoIterator<Item = TableEvidence>,
        exported: &Schema,
        pins: &BTreeMap<String, String>,
        restore: bool,
    ) -> std::result::Result<BTreeMap<String, RestoredType>, String> {
        let mut seen = TableEvidence::new();
        for file in evidence {
            for (column, e) in file {
                seen.entry(column).or_default().merge(e);
            }
        }
        let mut out = BTreeMap::new();
        for field in exported.fields().iter().filter(|_| restore) {
            let Some(original) = self.mappings.get(field.name()) else {
                continue;
            };
            let lake = match Target::of(original, field.data_type()) {
                Ok(None) => continue,
                Ok(Some(target)) => {
                    decide_one(target, &seen.get(field.name()).cloned().unwrap_or_default())
                }
                Err(why) => Err(why),
            };
            let (lake, why) = match lake {
                Ok(t) => (t, None),
                Err(why) => (field.data_type().clone(), Some(why)),
            };
            out.insert(
                field.name().clone(),
                RestoredType {
                    original: original.declared(),
                    exported: field.data_type().to_string(),
                    lake: lake.to_string(),
                    why,
                },
            );
        }
        for (column, pin) in pins {
            let lake = parse_type(pin).map_err(|e| format!("column {column:?}: {e}"))?;
            let Ok(field) = exported.field_with_name(column) else {
                let names: Vec<&str> = exported
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect();
                return Err(format!(
                    "no column {column:?} to pin (its columns: {})",
                    names.join(", ")
                ));
            };
            out.insert(
                column.clone(),
                RestoredType {
                    original: self
                        .mappings
                        .get(column)
                        .map(OriginalType::declared)
                        .unwrap_or_default(),
                    exported: field.data_type().to_string(),
                    lake: lake.to_string(),
                    why: Some(format!("pinned by source.types ({pin})")),
                },
            );
        }
        Ok(out)
    }
}

/// The lake type of one candidate column, or why it stays as exported.
fn decide_one(target: Target, e: &Evidence) -> std::result::Result<DataType, String> {
    if let Some((why, uri)) = &e.unfit {
        return Err(format!(
            "the statistics of {uri} show a value that is not a {}: {why}",
            target.what()
        ));
    }
    let micros = |tz: Option<&str>| DataType::Timestamp(TimeUnit::Microsecond, tz.map(Arc::from));
    Ok(match target {
        Target::Decimal { precision } => {
            if e.values == 0 {
                return Err(match &e.blind {
                    Some(uri) => format!(
                        "{uri} has no statistics to tell the values' scale (digits after the point)"
                    ),
                    None => "no value to tell the scale (digits after the point) from".into(),
                });
            }
            if e.int_digits + e.scale > usize::from(precision) {
                return Err(format!(
                    "values with {} digits before and {} after the point do not fit its \
                     precision of {precision}",
                    e.int_digits, e.scale
                ));
            }
            DataType::Decimal128(precision, e.scale as i8)
        }
        Target::Date => DataType::Date32,
        Target::Time => DataType::Time64(TimeUnit::Microsecond),
        Target::Timestamp => micros(None),
        Target::TimestampUtc => micros(Some("+00:00")),
        Target::Utf8 => DataType::Utf8,
    })
}

/// `array` in type `to`, every value exactly: text to decimals, dates,
/// times of day and microsecond timestamps through [`exact`], bytes to
/// strictly checked UTF-8 text, anything else through Arrow's cast (which
/// fails rather than turn a value into null). `Err` names the value.
pub fn convert(array: &ArrayRef, to: &DataType) -> std::result::Result<ArrayRef, String> {
    use DataType::*;
    let micros = matches!(to, Timestamp(TimeUnit::Microsecond, _));
    match (array.data_type(), to) {
        (Utf8, Decimal128(..) | Date32 | Time64(TimeUnit::Microsecond)) => {
            from_text(array.as_string::<i32>(), to)
        }
        (LargeUtf8, Decimal128(..) | Date32 | Time64(TimeUnit::Microsecond)) => {
            from_text(array.as_string::<i64>(), to)
        }
        (Utf8, Timestamp(..)) if micros => from_text(array.as_string::<i32>(), to),
        (LargeUtf8, Timestamp(..)) if micros => from_text(array.as_string::<i64>(), to),
        (Timestamp(TimeUnit::Nanosecond, _), Timestamp(TimeUnit::Microsecond, tz)) => {
            let ns = array.as_primitive::<arrow::datatypes::TimestampNanosecondType>();
            let us: PrimitiveArray<TimestampMicrosecondType> = ns
                .iter()
                .map(|v| {
                    v.map(|v| match v % 1000 {
                        0 => Ok(v / 1000),
                        _ => Err(format!(
                            "{v} ns has digits below the microsecond, which Athena would lose"
                        )),
                    })
                    .transpose()
                })
                .collect::<std::result::Result<_, _>>()?;
            Ok(Arc::new(us.with_timezone_opt(tz.clone())))
        }
        (Binary, Utf8) => utf8(array.as_binary::<i32>()),
        (LargeBinary, Utf8) => utf8(array.as_binary::<i64>()),
        _ => cast_with_options(
            array,
            to,
            &CastOptions {
                safe: false,
                ..Default::default()
            },
        )
        .map_err(|e| e.to_string()),
    }
}

/// Text in one of the types [`exact`] converts to.
fn from_text<O: OffsetSizeTrait>(
    a: &GenericStringArray<O>,
    to: &DataType,
) -> std::result::Result<ArrayRef, String> {
    fn each<T: ArrowPrimitiveType, O: OffsetSizeTrait>(
        a: &GenericStringArray<O>,
        f: impl Fn(&str) -> exact::Exact<T::Native>,
    ) -> std::result::Result<PrimitiveArray<T>, String> {
        a.iter().map(|v| v.map(&f).transpose()).collect()
    }
    Ok(match to {
        DataType::Decimal128(p, s) => Arc::new(
            each::<Decimal128Type, O>(a, |v| exact::decimal(v, *p, *s))?
                .with_precision_and_scale(*p, *s)
                .map_err(|e| e.to_string())?,
        ) as ArrayRef,
        DataType::Date32 => Arc::new(each::<Date32Type, O>(a, exact::date)?),
        DataType::Time64(_) => Arc::new(each::<Time64MicrosecondType, O>(a, exact::time)?),
        DataType::Timestamp(_, tz) => Arc::new(
            each::<TimestampMicrosecondType, O>(a, exact::timestamp)?.with_timezone_opt(tz.clone()),
        ),
        _ => unreachable!("convert calls this for the types above only"),
    })
}

/// Bytes as UTF-8 text, every value valid.
fn utf8<O: OffsetSizeTrait>(a: &GenericBinaryArray<O>) -> std::result::Result<ArrayRef, String> {
    let strings: StringArray = a
        .iter()
        .map(|v| {
            v.map(|b| {
                std::str::from_utf8(b).map_err(|e| {
                    format!(
                        "value {:?} is not UTF-8 text ({e})",
                        String::from_utf8_lossy(b)
                    )
                })
            })
            .transpose()
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(Arc::new(strings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(column: &str, t: &str, p: u32) -> OriginalType {
        OriginalType {
            column: column.into(),
            original_type: t.into(),
            num_precision: p,
        }
    }

    fn evidence(values: &[&str]) -> Evidence {
        let mut e = Evidence::default();
        for v in values {
            e.values += 1;
            let (int, frac) = exact::split_number(v)
                .map(|(_, i, f)| (i.len(), f.len()))
                .unwrap_or((0, 0));
            e.int_digits = e.int_digits.max(int);
            e.scale = e.scale.max(frac);
        }
        e
    }

    #[test]
    fn targets_follow_the_database_type_and_the_exported_type() {
        use DataType::*;
        let t = |o: &str, p: u32, e: &DataType| Target::of(&mapping("c", o, p), e);
        assert_eq!(
            t("numeric", 14, &Utf8),
            Ok(Some(Target::Decimal { precision: 14 }))
        );
        assert!(
            t("numeric", 0, &Utf8)
                .unwrap_err()
                .contains("unconstrained")
        );
        assert!(t("NUMERIC", 40, &Utf8).unwrap_err().contains("over the 38"));
        assert_eq!(
            t("decimal", 12, &Decimal128(12, 2)),
            Ok(None),
            "MySQL types it"
        );
        assert_eq!(
            t("timestamp with time zone", 0, &Utf8),
            Ok(Some(Target::TimestampUtc))
        );
        assert_eq!(
            t("timestamp(3) without time zone", 0, &Utf8),
            Ok(Some(Target::Timestamp))
        );
        assert_eq!(t("char", 0, &Binary), Ok(Some(Target::Utf8)));
        assert_eq!(t("binary", 0, &Binary), Ok(None));
        assert_eq!(t("tinyint", 1, &Int32), Ok(None));
        assert_eq!(t("jsonb", 0, &Utf8), Ok(None));
        assert_eq!(t("time with time zone", 0, &Utf8), Ok(None));
    }

    #[test]
    fn a_numeric_takes_the_scale_its_values_show_or_stays_text() {
        let d = Target::Decimal { precision: 14 };
        assert_eq!(
            decide_one(d, &evidence(&["1.50", "9999.25"])),
            Ok(DataType::Decimal128(14, 2))
        );
        let e = decide_one(d, &Evidence::default()).unwrap_err();
        assert!(e.contains("no value"), "{e}");
        let e = decide_one(
            Target::Decimal { precision: 4 },
            &evidence(&["1.50", "9999.25"]),
        )
        .unwrap_err();
        assert!(e.contains("do not fit its precision of 4"), "{e}");
        let nan = Evidence {
            unfit: Some(("\"NaN\" is not a number".into(), "a.parquet".into())),
            ..evidence(&["1.50"])
        };
        let e = decide_one(d, &nan).unwrap_err();
        assert!(e.contains("a.parquet") && e.contains("NaN"), "{e}");
        assert_eq!(Target::Date.check("2024-01-01"), Ok((0, 0)));
        assert!(Target::Date.check("infinity").is_err());
    }

    #[test]
    fn conversions_are_exact_and_name_the_value() {
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("12.50"), None, Some("-3.01")]));
        let d = convert(&text, &DataType::Decimal128(5, 2)).unwrap();
        let d = d
            .as_any()
            .downcast_ref::<arrow::array::Decimal128Array>()
            .unwrap();
        assert_eq!(d.iter().collect::<Vec<_>>(), [Some(1250), None, Some(-301)]);
        let e = convert(&text, &DataType::Decimal128(5, 1)).unwrap_err();
        assert!(
            e.contains("\"12.50\" has more than 1 digits after the point"),
            "{e}"
        );
        let ts: ArrayRef = Arc::new(StringArray::from(vec!["2024-03-02 08:22:24+05:30"]));
        let t = convert(
            &ts,
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into())),
        )
        .unwrap();
        assert_eq!(
            t.as_primitive::<TimestampMicrosecondType>().value(0),
            1_709_347_944_000_000
        );
        assert_eq!(
            t.data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("+00:00".into()))
        );
        let bytes: ArrayRef = Arc::new(arrow::array::BinaryArray::from(vec![
            "Zoë".as_bytes(),
            &[0xff, 0x41][..],
        ]));
        let e = convert(&bytes, &DataType::Utf8).unwrap_err();
        assert!(e.contains("is not UTF-8 text"), "{e}");
        let ok: ArrayRef = Arc::new(arrow::array::BinaryArray::from(vec!["Zoë".as_bytes()]));
        assert_eq!(
            convert(&ok, &DataType::Utf8)
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "Zoë"
        );
    }
}
