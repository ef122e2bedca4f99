//! The one vocabulary of column types a job writes: `source.schema`,
//! `cast` steps and DynamoDB `source.types` all parse through
//! [`parse_type`].
//!
//! | name | Arrow type |
//! |---|---|
//! | `string` (`utf8`, `text`), `large_string` | Utf8, LargeUtf8 |
//! | `binary` | Binary |
//! | `bool` (`boolean`) | Boolean |
//! | `int8`, `int16`, `int32` (`int`), `int64` (`bigint`), `uint8` … `uint64` | integers |
//! | `float32` (`float`), `float64` (`double`) | floats |
//! | `date` (`date32`) | Date32 |
//! | `time` | Time64 µs |
//! | `timestamp`, `timestamp[s\|ms\|us\|ns]` | Timestamp without a zone (µs unless given) |
//! | `timestamptz`, `timestamptz[s\|ms\|us\|ns]`, `timestamp_ms` | Timestamp in UTC (µs unless given; `timestamp_ms`: ms) |
//! | `decimal(p,s)`, `decimal(p)` | Decimal128, 1 ≤ p ≤ 38, 0 ≤ s ≤ p |
//! | any Arrow type name (`Timestamp(µs, "UTC")`) | that type |
//!
//! `timestamp` is SQL's `timestamp without time zone`, `timestamptz` its
//! `timestamp with time zone`: text with an offset is converted to UTC
//! either way.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

/// Largest decimal precision Arrow's Decimal128 holds.
pub const MAX_PRECISION: u8 = 38;

/// What [`parse_type`] accepts, for error messages.
const NAMES: &str = "string, binary, bool, int8…int64, uint8…uint64, float32, float64, date, \
                     time, timestamp, timestamp[s|ms|us|ns], timestamptz, decimal(p,s)";

/// The Arrow type a type name of a job means.
pub fn parse_type(t: &str) -> Result<DataType, String> {
    let lower = t.trim().to_ascii_lowercase();
    let unit = |u: &str| match u {
        "s" => Some(TimeUnit::Second),
        "ms" => Some(TimeUnit::Millisecond),
        "" | "us" => Some(TimeUnit::Microsecond),
        "ns" => Some(TimeUnit::Nanosecond),
        _ => None,
    };
    let utc = || Some(Arc::from("+00:00"));
    let simple = match lower.as_str() {
        "string" | "utf8" | "text" => Some(DataType::Utf8),
        "large_string" => Some(DataType::LargeUtf8),
        "binary" => Some(DataType::Binary),
        "bool" | "boolean" => Some(DataType::Boolean),
        "int8" => Some(DataType::Int8),
        "int16" => Some(DataType::Int16),
        "int32" | "int" => Some(DataType::Int32),
        "int64" | "bigint" => Some(DataType::Int64),
        "uint8" => Some(DataType::UInt8),
        "uint16" => Some(DataType::UInt16),
        "uint32" => Some(DataType::UInt32),
        "uint64" => Some(DataType::UInt64),
        "float32" | "float" => Some(DataType::Float32),
        "float64" | "double" => Some(DataType::Float64),
        "date" | "date32" => Some(DataType::Date32),
        "time" => Some(DataType::Time64(TimeUnit::Microsecond)),
        "timestamp_ms" => Some(DataType::Timestamp(TimeUnit::Millisecond, utc())),
        _ => None,
    };
    if let Some(t) = simple {
        return Ok(t);
    }
    for (prefix, zone) in [("timestamptz", utc()), ("timestamp", None)] {
        if let Some(rest) = lower.strip_prefix(prefix) {
            let u = match rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                Some(u) => unit(u),
                None => unit(rest),
            };
            if let Some(u) = u {
                return Ok(DataType::Timestamp(u, zone));
            }
        }
    }
    if let Some(args) = lower
        .strip_prefix("decimal(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (p, s) = decimal_args(args).ok_or_else(|| {
            format!("{t:?} is not a column type: decimal(p,s) needs 1 <= p <= 38 and 0 <= s <= p")
        })?;
        return Ok(DataType::Decimal128(p, s));
    }
    t.parse::<DataType>()
        .map_err(|_| format!("{t:?} is not a column type; write {NAMES}"))
}

/// `p,s` (or `p`) of a decimal, within Decimal128's range.
fn decimal_args(args: &str) -> Option<(u8, i8)> {
    let (p, s) = args.split_once(',').unwrap_or((args, "0"));
    let (p, s): (u8, i8) = (p.trim().parse().ok()?, s.trim().parse().ok()?);
    ((1..=MAX_PRECISION).contains(&p) && (0..=p as i8).contains(&s)).then_some((p, s))
}

/// One column of a given schema (`source.schema`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    /// Column name (the JSON key, or the CSV header).
    pub name: String,
    /// Its type ([`parse_type`]).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The schema of a given column list (every column nullable).
pub fn given_schema(columns: &[ColumnSpec]) -> Result<SchemaRef, String> {
    let fields = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            parse_type(&c.kind)
                .map(|t| Field::new(&c.name, t, true))
                .map_err(|m| format!("source.schema[{i}].type: {m}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// The column type of one DynamoDB attribute: `string`, `decimal(p,s)`,
/// `binary` or `bool` as [`parse_type`] reads them, or a set of one of
/// them (`string_set`, `decimal_set(p,s)`, `binary_set`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "String", into = "String")]
pub enum AttrType {
    /// Text: S values, and any other value rendered as text.
    String,
    /// Exact numbers.
    Decimal {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// B values.
    Binary,
    /// BOOL values.
    Bool,
    /// SS values (or NS values that do not fit a decimal).
    StringSet,
    /// NS values.
    DecimalSet {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// BS values.
    BinarySet,
}

/// Attribute types pinned by attribute name.
pub type AttrTypes = BTreeMap<String, AttrType>;

impl From<AttrType> for String {
    fn from(t: AttrType) -> String {
        match t {
            AttrType::String => "string".into(),
            AttrType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
            AttrType::Binary => "binary".into(),
            AttrType::Bool => "bool".into(),
            AttrType::StringSet => "string_set".into(),
            AttrType::DecimalSet { precision, scale } => {
                format!("decimal_set({precision},{scale})")
            }
            AttrType::BinarySet => "binary_set".into(),
        }
    }
}

impl TryFrom<String> for AttrType {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let bad = || {
            format!(
                "{s:?} is not a column type; write string, decimal(p,s) (p ≤ 38, 0 ≤ s ≤ p), \
                 binary, bool, string_set, decimal_set(p,s) or binary_set"
            )
        };
        let lower = s.trim().to_ascii_lowercase();
        let (scalar, set) = match lower.split_once("_set") {
            Some((head, tail)) => (format!("{head}{tail}"), true),
            None => (lower, false),
        };
        let t = parse_type(&scalar).map_err(|_| bad())?;
        Ok(match (t, set) {
            (DataType::Utf8, false) => AttrType::String,
            (DataType::Utf8, true) => AttrType::StringSet,
            (DataType::Binary, false) => AttrType::Binary,
            (DataType::Binary, true) => AttrType::BinarySet,
            (DataType::Boolean, false) => AttrType::Bool,
            (DataType::Decimal128(precision, scale), false) => {
                AttrType::Decimal { precision, scale }
            }
            (DataType::Decimal128(precision, scale), true) => {
                AttrType::DecimalSet { precision, scale }
            }
            _ => return Err(bad()),
        })
    }
}

impl AttrType {
    /// The Arrow type of a column of this type.
    pub fn data_type(self) -> DataType {
        let item = |t: DataType| DataType::List(Arc::new(Field::new("item", t, true)));
        match self {
            AttrType::String => DataType::Utf8,
            AttrType::Decimal { precision, scale } => DataType::Decimal128(precision, scale),
            AttrType::Binary => DataType::Binary,
            AttrType::Bool => DataType::Boolean,
            AttrType::StringSet => item(DataType::Utf8),
            AttrType::DecimalSet { precision, scale } => {
                item(DataType::Decimal128(precision, scale))
            }
            AttrType::BinarySet => item(DataType::Binary),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_vocabulary() {
        assert_eq!(
            parse_type("decimal(12, 2)"),
            Ok(DataType::Decimal128(12, 2))
        );
        assert_eq!(parse_type("decimal(9)"), Ok(DataType::Decimal128(9, 0)));
        assert_eq!(parse_type("BIGINT"), Ok(DataType::Int64));
        assert_eq!(
            parse_type("timestamp"),
            Ok(DataType::Timestamp(TimeUnit::Microsecond, None))
        );
        assert_eq!(
            parse_type("timestamp[ms]"),
            Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
        );
        assert_eq!(
            parse_type("timestamptz"),
            Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("+00:00".into())
            ))
        );
        assert_eq!(
            parse_type("timestamptz[ns]"),
            Ok(DataType::Timestamp(
                TimeUnit::Nanosecond,
                Some("+00:00".into())
            ))
        );
        assert_eq!(
            parse_type("time"),
            Ok(DataType::Time64(TimeUnit::Microsecond))
        );
        assert_eq!(
            parse_type("Timestamp(µs, \"UTC\")"),
            Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            ))
        );
        let e = parse_type("money").unwrap_err();
        assert!(
            e.starts_with("\"money\" is not a column type; write string"),
            "{e}"
        );
        let e = parse_type("decimal(40,2)").unwrap_err();
        assert!(e.contains("1 <= p <= 38"), "{e}");
        assert!(parse_type("timestamp[h]").is_err());
    }

    #[test]
    fn dynamodb_types_are_the_same_names_and_their_sets() {
        let t = |s: &str| AttrType::try_from(s.to_string());
        assert_eq!(t("string"), Ok(AttrType::String));
        assert_eq!(
            t("decimal_set(20,4)"),
            Ok(AttrType::DecimalSet {
                precision: 20,
                scale: 4
            })
        );
        assert_eq!(t("binary_set"), Ok(AttrType::BinarySet));
        assert!(t("int64").unwrap_err().contains("is not a column type"));
        assert!(t("bool_set").is_err());
        for ty in [
            "string",
            "decimal(12,2)",
            "binary",
            "bool",
            "string_set",
            "decimal_set(5,0)",
        ] {
            assert_eq!(String::from(t(ty).unwrap()), ty, "round trip");
        }
    }
}
