//! The Iceberg side of a lake table: its schema with field IDs (kept from
//! the table's earlier versions by name), the name mapping that gives the
//! Parquet files' columns those IDs, the partition spec and sort order of
//! the job's `partition_by` and `sort_by`, and each data file's partition
//! values.

use std::collections::{BTreeMap, BTreeSet};

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::config::{PartitionFn, TableSpec};
use crate::partition::PartitionPath;
use crate::schema::is_utc;

/// The Iceberg primitive type of an Arrow type, or why Iceberg has none.
fn primitive(t: &DataType) -> Result<Option<String>, String> {
    use DataType::*;
    Ok(Some(match t {
        Boolean => "boolean".into(),
        Int8 | Int16 | Int32 => "int".into(),
        Int64 => "long".into(),
        Float32 => "float".into(),
        Float64 => "double".into(),
        Decimal128(p, s) if *s >= 0 => format!("decimal({p}, {s})"),
        Date32 => "date".into(),
        Time64(TimeUnit::Microsecond) => "time".into(),
        Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond, None) => "timestamp".into(),
        Timestamp(TimeUnit::Microsecond | TimeUnit::Millisecond, Some(_)) => "timestamptz".into(),
        Utf8 | LargeUtf8 | Utf8View => "string".into(),
        Binary | LargeBinary | BinaryView => "binary".into(),
        FixedSizeBinary(n) => format!("fixed[{n}]"),
        UInt8 | UInt16 | UInt32 | UInt64 => {
            return Err(format!("{t}: Iceberg has no unsigned integers"));
        }
        Timestamp(TimeUnit::Nanosecond, _) => {
            return Err("a nanosecond timestamp, which Iceberg v2 has no type for".into());
        }
        List(_) | LargeList(_) | FixedSizeList(..) | Struct(_) | Map(..) => return Ok(None),
        other => return Err(format!("{other}, which Iceberg has no type for")),
    }))
}

/// Whether Iceberg reads a column of type `from` as `to` (the same type, or
/// a promotion the spec allows).
fn promotes(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    match (from, to) {
        ("int", "long") | ("float", "double") => true,
        _ => match (decimal_of(from), decimal_of(to)) {
            (Some((p1, s1)), Some((p2, s2))) => s1 == s2 && p1 <= p2,
            _ => false,
        },
    }
}

fn decimal_of(t: &str) -> Option<(u32, u32)> {
    let inner = t.strip_prefix("decimal(")?.strip_suffix(')')?;
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

/// The Iceberg type of a table's column this snapshot's `new` type reads
/// as, given the table's `old` type: the wider one.
fn merge_primitive(old: &str, new: &str) -> Option<String> {
    if promotes(new, old) {
        Some(old.to_string())
    } else if promotes(old, new) {
        Some(new.to_string())
    } else {
        None
    }
}

/// Assigns field IDs to a schema, keeping the ID (and widest type) of a
/// column the table already has by that name.
struct Assign<'a> {
    last: i32,
    /// The table's schemas' field lists, the current one first.
    prior: &'a [&'a Value],
}

/// A converted type and whether it continues the prior one.
struct Typed {
    ty: Value,
    continues: bool,
}

fn named<'v>(fields: &'v Value, name: &str) -> Option<&'v Value> {
    fields.as_array()?.iter().find(|f| f["name"] == name)
}

fn id_of(v: &Value, key: &str) -> Option<i32> {
    v.get(key)?.as_i64().map(|i| i as i32)
}

impl Assign<'_> {
    fn fresh(&mut self) -> i32 {
        self.last += 1;
        self.last
    }

    /// The top-level fields of `schema`.
    fn top(&mut self, schema: &Schema) -> Result<Vec<Value>, String> {
        let prior = self.prior;
        schema
            .fields()
            .iter()
            .map(|f| {
                let found = prior
                    .iter()
                    .enumerate()
                    .find_map(|(i, fields)| named(fields, f.name()).map(|p| (p, i == 0)));
                self.field(f, found, f.name())
            })
            .collect()
    }

    /// One field; `prior`: the table's field of that name and whether it is
    /// in the current schema.
    fn field(
        &mut self,
        f: &Field,
        prior: Option<(&Value, bool)>,
        at: &str,
    ) -> Result<Value, String> {
        let typed = self.ty(f.data_type(), prior.map(|(p, _)| &p["type"]), at)?;
        let id = match prior {
            Some((p, _)) if typed.continues => id_of(p, "id").unwrap_or_else(|| self.fresh()),
            Some((p, true)) => {
                return Err(format!(
                    "column {at:?} is {} in the Iceberg table and {} in this snapshot: Iceberg \
                     changes a column's type only by widening (int to long, float to double, \
                     a decimal's precision); name this table differently in catalog.tables",
                    p["type"],
                    f.data_type()
                ));
            }
            _ => self.fresh(),
        };
        Ok(json!({"id": id, "name": f.name(), "required": false, "type": typed.ty}))
    }

    fn struct_fields(
        &mut self,
        fields: &Fields,
        prior: Option<&Value>,
        at: &str,
    ) -> Result<Vec<Value>, String> {
        fields
            .iter()
            .map(|f| {
                let found = prior.and_then(|p| named(&p["fields"], f.name()).map(|p| (p, true)));
                self.field(f, found, &format!("{at}.{}", f.name()))
            })
            .collect()
    }

    fn ty(&mut self, t: &DataType, prior: Option<&Value>, at: &str) -> Result<Typed, String> {
        if let Some(p) = primitive(t).map_err(|why| format!("column {at:?} is {why}"))? {
            return Ok(
                match prior
                    .and_then(Value::as_str)
                    .and_then(|old| merge_primitive(old, &p))
                {
                    Some(merged) => Typed {
                        ty: Value::String(merged),
                        continues: true,
                    },
                    None => Typed {
                        ty: Value::String(p),
                        continues: false,
                    },
                },
            );
        }
        let kind = |k: &str| prior.filter(|p| p["type"] == k);
        use DataType::*;
        Ok(match t {
            Struct(fields) => {
                let p = kind("struct");
                Typed {
                    ty: json!({"type": "struct", "fields": self.struct_fields(fields, p, at)?}),
                    continues: p.is_some(),
                }
            }
            List(item) | LargeList(item) | FixedSizeList(item, _) => {
                let p = kind("list");
                let inner = self.ty(
                    item.data_type(),
                    p.map(|p| &p["element"]),
                    &format!("{at}[]"),
                )?;
                let id = match p.and_then(|p| id_of(p, "element-id")) {
                    Some(id) if inner.continues => id,
                    _ => self.fresh(),
                };
                Typed {
                    ty: json!({"type": "list", "element-id": id, "element-required": false, "element": inner.ty}),
                    continues: p.is_some() && inner.continues,
                }
            }
            Map(entries, _) => {
                let DataType::Struct(kv) = entries.data_type() else {
                    return Err(format!("column {at:?} is a map without key and value"));
                };
                let p = kind("map");
                let key = self.ty(
                    kv[0].data_type(),
                    p.map(|p| &p["key"]),
                    &format!("{at}.key"),
                )?;
                let value = self.ty(
                    kv[1].data_type(),
                    p.map(|p| &p["value"]),
                    &format!("{at}.value"),
                )?;
                let continues = p.is_some() && key.continues && value.continues;
                let (key_id, value_id) = match p {
                    Some(p) if continues => (
                        id_of(p, "key-id").unwrap_or_else(|| self.fresh()),
                        id_of(p, "value-id").unwrap_or_else(|| self.fresh()),
                    ),
                    _ => (self.fresh(), self.fresh()),
                };
                Typed {
                    ty: json!({"type": "map", "key-id": key_id, "key": key.ty,
                               "value-id": value_id, "value-required": false, "value": value.ty}),
                    continues,
                }
            }
            other => {
                return Err(format!(
                    "column {at:?} is {other}, which Iceberg has no type for"
                ));
            }
        })
    }
}

/// The fields of the Iceberg schema of `arrow`, IDs kept from `prior` (the
/// table's schemas' field lists, current first) and new ones after
/// `last_id`; returns them with the new last column ID.
pub fn fields(arrow: &Schema, prior: &[&Value], last_id: i32) -> Result<(Vec<Value>, i32), String> {
    let mut a = Assign {
        last: last_id,
        prior,
    };
    let fields = a.top(arrow)?;
    Ok((fields, a.last))
}

/// Checks that Iceberg can hold every column of `arrow` (the planner runs it).
pub fn check_types(arrow: &Schema) -> Result<(), String> {
    fields(arrow, &[], 0).map(|_| ())
}

/// The name mapping (`schema.name-mapping.default`) of every field of
/// `schemas` (their field lists, newest first): the lake's Parquet files
/// carry no field IDs, so readers find a column's ID by its name. A name
/// maps to the ID it has in the newest schema that holds it.
pub fn name_mapping(schemas: &[&Value]) -> Value {
    fn merge(into: &mut Vec<Value>, fields: &Value) {
        for f in fields.as_array().into_iter().flatten() {
            let name = f["name"].clone();
            if into.iter().any(|m| m["names"][0] == name) {
                continue;
            }
            let mut entry = json!({"field-id": f["id"], "names": [name]});
            let inner = nested(&f["type"]);
            if !inner.is_empty() {
                entry["fields"] = Value::Array(inner);
            }
            into.push(entry);
        }
    }
    fn nested(t: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        match t["type"].as_str() {
            Some("struct") => merge(&mut out, &t["fields"]),
            Some("list") => out.push(with_inner(
                json!({"field-id": t["element-id"], "names": ["element"]}),
                &t["element"],
            )),
            Some("map") => {
                out.push(with_inner(
                    json!({"field-id": t["key-id"], "names": ["key"]}),
                    &t["key"],
                ));
                out.push(with_inner(
                    json!({"field-id": t["value-id"], "names": ["value"]}),
                    &t["value"],
                ));
            }
            _ => {}
        }
        out
    }
    fn with_inner(mut entry: Value, t: &Value) -> Value {
        let inner = nested(t);
        if !inner.is_empty() {
            entry["fields"] = Value::Array(inner);
        }
        entry
    }
    let mut out = Vec::new();
    for fields in schemas {
        merge(&mut out, fields);
    }
    Value::Array(out)
}

/// An Iceberg partition transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Transform {
    /// The value itself (`fn: value`).
    Identity,
    /// Years since 1970.
    Year,
    /// Months since 1970-01.
    Month,
    /// Days since 1970-01-01 (a date).
    Day,
    /// Hours since 1970-01-01 00:00.
    Hour,
}

impl Transform {
    /// The name in a partition spec.
    pub fn name(self) -> &'static str {
        match self {
            Transform::Identity => "identity",
            Transform::Year => "year",
            Transform::Month => "month",
            Transform::Day => "day",
            Transform::Hour => "hour",
        }
    }
}

/// One field of the partition spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartField {
    /// The source column.
    pub column: String,
    /// Its field ID.
    pub source_id: i32,
    /// The transform.
    pub transform: Transform,
    /// The partition field's name.
    pub name: String,
    /// The source column's Arrow type.
    pub source_type: DataType,
}

impl PartField {
    /// The partition field's Iceberg result type.
    pub fn result_type(&self) -> String {
        match self.transform {
            Transform::Identity => primitive(&self.source_type)
                .ok()
                .flatten()
                .unwrap_or_default(),
            Transform::Day => "date".into(),
            _ => "int".into(),
        }
    }
}

/// The partition spec of a table's `partition_by`: a `value` key is an
/// identity partition of its column; the calendar keys of one date or
/// timestamp column are the finest Iceberg transform they fix (`year` +
/// `month` is `month`, `date` is `day`). `fields`: the schema's top-level
/// fields with IDs; `arrow`: the lake schema.
pub fn partition_spec(
    spec: &TableSpec,
    arrow: &Schema,
    fields: &[Value],
) -> Result<Vec<PartField>, String> {
    let mut by_column: Vec<(&str, BTreeSet<PartitionFn>)> = Vec::new();
    let mut identity = Vec::new();
    for p in &spec.partition_by {
        if p.func == PartitionFn::Value {
            if !identity.contains(&p.from.as_str()) {
                identity.push(p.from.as_str());
            }
            continue;
        }
        match by_column.iter_mut().find(|(c, _)| *c == p.from) {
            Some((_, fns)) => {
                fns.insert(p.func);
            }
            None => by_column.push((p.from.as_str(), BTreeSet::from([p.func]))),
        }
    }
    let source = |column: &str| -> Result<(i32, DataType), String> {
        let t = arrow
            .field_with_name(column)
            .map_err(|_| {
                format!("partition_by names column {column:?}, which the table does not have")
            })?
            .data_type()
            .clone();
        let id = fields
            .iter()
            .find(|f| f["name"] == column)
            .and_then(|f| id_of(f, "id"))
            .ok_or_else(|| format!("column {column:?} has no field ID"))?;
        Ok((id, t))
    };
    let mut out = Vec::new();
    for column in identity {
        let (source_id, t) = source(column)?;
        use DataType::*;
        if !matches!(
            t,
            Boolean
                | Int8
                | Int16
                | Int32
                | Int64
                | Utf8
                | LargeUtf8
                | Utf8View
                | Date32
                | Decimal128(..)
        ) {
            return Err(format!(
                "partition by the value of {column:?}: an Iceberg identity partition of a {t} column is not written; \
                 partition a timestamp by year, month, day or hour instead"
            ));
        }
        out.push(PartField {
            column: column.to_string(),
            source_id,
            transform: Transform::Identity,
            name: column.to_string(),
            source_type: t,
        });
    }
    for (column, fns) in by_column {
        use PartitionFn::*;
        let has = |f| fns.contains(&f);
        let day = has(Date) || (has(Year) && has(Month) && has(Day));
        let transform = if has(Hour) && day {
            Transform::Hour
        } else if day && !has(Hour) {
            Transform::Day
        } else if has(Year) && has(Month) && !has(Day) && !has(Hour) {
            Transform::Month
        } else if has(Year) && fns.len() == 1 {
            Transform::Year
        } else {
            let names: Vec<&str> = fns
                .iter()
                .map(|f| match f {
                    Year => "year",
                    Month => "month",
                    Day => "day",
                    Hour => "hour",
                    Date => "date",
                    Value => "value",
                })
                .collect();
            return Err(format!(
                "partition by {} of {column:?}: Iceberg partitions by years, months, days or hours since 1970, \
                 which these keys alone do not fix; partition by year, year and month, date (or year, month \
                 and day), and hour after those",
                names.join(" and ")
            ));
        };
        let (source_id, t) = source(column)?;
        match &t {
            DataType::Date32 if transform != Transform::Hour => {}
            DataType::Timestamp(_, None) => {}
            DataType::Timestamp(_, Some(z)) if is_utc(z) => {}
            DataType::Timestamp(_, Some(z)) => {
                return Err(format!(
                    "partition by {} of {column:?}: its zone is {z}, and Iceberg's transforms take UTC; \
                     convert the column to UTC first",
                    transform.name()
                ));
            }
            other => {
                return Err(format!(
                    "partition by {} of {column:?}: Iceberg's {} transform takes a date or timestamp column, \
                     and {column:?} is {other}; cast it first (a transform step)",
                    transform.name(),
                    transform.name()
                ));
            }
        }
        let name = format!("{column}_{}", transform.name());
        if fields.iter().any(|f| f["name"] == name.as_str()) {
            return Err(format!(
                "partition by {} of {column:?}: its Iceberg name {name:?} is also a column's",
                transform.name()
            ));
        }
        out.push(PartField {
            column: column.to_string(),
            source_id,
            transform,
            name,
            source_type: t,
        });
    }
    Ok(out)
}

/// The sort order fields of `sort_by`.
pub fn sort_fields(spec: &TableSpec, fields: &[Value]) -> Result<Vec<Value>, String> {
    spec.sort_by
        .iter()
        .map(|s| {
            let id = fields
                .iter()
                .find(|f| f["name"] == s.column.as_str())
                .and_then(|f| id_of(f, "id"))
                .ok_or_else(|| {
                    format!(
                        "sort_by names column {:?}, which the table does not have",
                        s.column
                    )
                })?;
            Ok(json!({
                "transform": "identity",
                "source-id": id,
                "direction": if s.descending { "desc" } else { "asc" },
                "null-order": if s.nulls_first { "nulls-first" } else { "nulls-last" },
            }))
        })
        .collect()
}

/// One partition value.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum PartValue {
    /// No value.
    Null,
    /// An `int` or a `date` (days).
    Int(i32),
    /// A `long`.
    Long(i64),
    /// A `string`.
    Str(String),
    /// A `boolean`.
    Bool(bool),
    /// A decimal's unscaled value.
    Decimal(i128),
}

impl PartValue {
    /// Iceberg's single-value binary form (manifest list bounds), `None` for NULL.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        Some(match self {
            PartValue::Null => return None,
            PartValue::Int(v) => v.to_le_bytes().to_vec(),
            PartValue::Long(v) => v.to_le_bytes().to_vec(),
            PartValue::Str(s) => s.as_bytes().to_vec(),
            PartValue::Bool(b) => vec![u8::from(*b)],
            PartValue::Decimal(v) => decimal_bytes(*v),
        })
    }
}

/// A decimal's unscaled value as Iceberg stores it: big-endian two's
/// complement in as few bytes as hold it.
pub fn decimal_bytes(v: i128) -> Vec<u8> {
    let b = v.to_be_bytes();
    let mut start = 0;
    while start < 15 {
        let (lead, next) = (b[start], b[start + 1]);
        let redundant = (lead == 0 && next & 0x80 == 0) || (lead == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    b[start..].to_vec()
}

/// The partition values of a data file in the folder `path` (its hive path
/// below the table), one per spec field. `null_only`: for an identity
/// string column in the default partition, whether the file's column holds
/// only NULLs (`Some(false)`: only empty strings), which the folder name
/// alone does not tell.
pub fn partition_values(
    specs: &TableSpec,
    fields: &[PartField],
    path: &str,
    null_only: impl Fn(&str) -> Option<bool>,
) -> Result<Vec<PartValue>, String> {
    let pairs =
        PartitionPath::parse(path).ok_or_else(|| format!("{path:?} is not a partition path"))?;
    let values: BTreeMap<&str, Option<&str>> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_deref()))
        .collect();
    fields
        .iter()
        .map(|f| {
            let keys: BTreeMap<PartitionFn, Option<&str>> = specs
                .partition_by
                .iter()
                .filter(|p| p.from == f.column)
                .map(|p| (p.func, values.get(p.name.as_str()).copied().flatten()))
                .collect();
            let bad = |what: &str| format!("partition folder {path:?}: {what} for {}", f.name);
            if f.transform == Transform::Identity {
                let v = keys.get(&PartitionFn::Value).copied().flatten();
                return identity(&f.source_type, v, || null_only(&f.column)).map_err(|m| bad(&m));
            }
            if keys.values().any(Option::is_none) {
                return Ok(PartValue::Null);
            }
            let num = |func| -> Result<Option<i64>, String> {
                keys.get(&func)
                    .copied()
                    .flatten()
                    .map(|s| {
                        s.parse::<i64>()
                            .map_err(|_| bad(&format!("{s:?} is not a number")))
                    })
                    .transpose()
            };
            let (y, m, d) = match keys.get(&PartitionFn::Date).copied().flatten() {
                Some(date) => {
                    let days = crate::exact::date(date).map_err(|m| bad(&m))?;
                    let t = NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")
                        + chrono::Duration::days(i64::from(days));
                    use chrono::Datelike;
                    (
                        i64::from(t.year()),
                        Some(i64::from(t.month())),
                        Some(i64::from(t.day())),
                    )
                }
                None => (
                    num(PartitionFn::Year)?.unwrap_or(1970),
                    num(PartitionFn::Month)?,
                    num(PartitionFn::Day)?,
                ),
            };
            Ok(match f.transform {
                Transform::Year => PartValue::Int((y - 1970) as i32),
                Transform::Month => PartValue::Int(((y - 1970) * 12 + m.unwrap_or(1) - 1) as i32),
                Transform::Day | Transform::Hour => {
                    let date = NaiveDate::from_ymd_opt(
                        y as i32,
                        m.unwrap_or(1) as u32,
                        d.unwrap_or(1) as u32,
                    )
                    .ok_or_else(|| bad("not a date"))?;
                    let days =
                        (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days();
                    if f.transform == Transform::Day {
                        PartValue::Int(days as i32)
                    } else {
                        PartValue::Int((days * 24 + num(PartitionFn::Hour)?.unwrap_or(0)) as i32)
                    }
                }
                Transform::Identity => unreachable!("handled above"),
            })
        })
        .collect()
}

/// The identity partition value of a folder's text `v` (`None`: the
/// default partition).
fn identity(
    t: &DataType,
    v: Option<&str>,
    null_only: impl Fn() -> Option<bool>,
) -> Result<PartValue, String> {
    use DataType::*;
    let Some(v) = v else {
        return match t {
            Utf8 | LargeUtf8 | Utf8View => match null_only() {
                Some(true) => Ok(PartValue::Null),
                Some(false) => Ok(PartValue::Str(String::new())),
                None => Err("the folder holds both NULL and empty values, which are one Iceberg partition each".into()),
            },
            _ => Ok(PartValue::Null),
        };
    };
    let bad = || format!("{v:?} is not a {t}");
    Ok(match t {
        Boolean => PartValue::Bool(v.parse().map_err(|_| bad())?),
        Int8 | Int16 | Int32 => PartValue::Int(v.parse().map_err(|_| bad())?),
        Int64 => PartValue::Long(v.parse().map_err(|_| bad())?),
        Date32 => PartValue::Int(crate::exact::date(v)?),
        Decimal128(p, s) => PartValue::Decimal(crate::exact::decimal(v, *p, *s)?),
        _ => PartValue::Str(v.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PartitionSpec;

    fn spec(keys: &[(&str, &str, PartitionFn)]) -> TableSpec {
        TableSpec {
            partition_by: keys
                .iter()
                .map(|(n, f, func)| PartitionSpec {
                    name: n.to_string(),
                    from: f.to_string(),
                    func: *func,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ids_are_kept_by_name_and_types_widen() {
        let a = Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new(
                "tags",
                DataType::List(Field::new("item", DataType::Utf8, true).into()),
                true,
            ),
        ]);
        let (first, last) = fields(&a, &[], 0).unwrap();
        assert_eq!(last, 3);
        assert_eq!(first[0]["id"], 1);
        assert_eq!(
            (
                first[1]["type"]["element-id"].clone(),
                first[1]["id"].clone()
            ),
            (json!(2), json!(3))
        );
        let current = Value::Array(first);
        let b = Schema::new(vec![
            Field::new("name", DataType::Utf8, true),
            Field::new("id", DataType::Int64, true),
        ]);
        let (second, last) = fields(&b, &[&current], 3).unwrap();
        assert_eq!(
            (second[0]["id"].clone(), second[1]["id"].clone(), last),
            (json!(4), json!(1), 4)
        );
        assert_eq!(second[1]["type"], "long");
        let c = Schema::new(vec![Field::new("id", DataType::Utf8, true)]);
        let e = fields(&c, &[&current], 3).unwrap_err();
        assert!(
            e.contains("column \"id\" is \"int\" in the Iceberg table and Utf8"),
            "{e}"
        );
        let mapping = name_mapping(&[&Value::Array(second), &current]);
        assert_eq!(mapping[0], json!({"field-id": 4, "names": ["name"]}));
        assert_eq!(
            mapping[2]["fields"][0],
            json!({"field-id": 2, "names": ["element"]})
        );
        let e =
            check_types(&Schema::new(vec![Field::new("n", DataType::UInt64, true)])).unwrap_err();
        assert!(e.contains("\"n\"") && e.contains("unsigned"), "{e}");
    }

    #[test]
    fn calendar_keys_become_the_finest_transform_they_fix() {
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let arrow = Schema::new(vec![
            Field::new("at", ts, true),
            Field::new("shop", DataType::Utf8, true),
        ]);
        let (f, _) = fields(&arrow, &[], 0).unwrap();
        use PartitionFn::*;
        let s = spec(&[
            ("year", "at", Year),
            ("month", "at", Month),
            ("shop", "shop", Value),
        ]);
        let p = partition_spec(&s, &arrow, &f).unwrap();
        assert_eq!(
            p.iter()
                .map(|p| (p.name.as_str(), p.transform))
                .collect::<Vec<_>>(),
            [
                ("shop", Transform::Identity),
                ("at_month", Transform::Month)
            ]
        );
        let v = partition_values(&s, &p, "year=2021/month=03/shop=a%2Fb", |_| None).unwrap();
        assert_eq!(
            v,
            [PartValue::Str("a/b".into()), PartValue::Int(51 * 12 + 2)]
        );
        let v = partition_values(&s, &p, "year=__HIVE_DEFAULT_PARTITION__/month=__HIVE_DEFAULT_PARTITION__/shop=__HIVE_DEFAULT_PARTITION__", |_| Some(false)).unwrap();
        assert_eq!(v, [PartValue::Str(String::new()), PartValue::Null]);
        let d = spec(&[("date", "at", Date), ("hour", "at", Hour)]);
        let p = partition_spec(&d, &arrow, &f).unwrap();
        assert_eq!(p[0].transform, Transform::Hour);
        assert_eq!(
            partition_values(&d, &p, "date=1970-01-02/hour=03", |_| None).unwrap(),
            [PartValue::Int(27)]
        );
        let e = partition_spec(&spec(&[("month", "at", Month)]), &arrow, &f).unwrap_err();
        assert!(e.contains("partition by month of \"at\""), "{e}");
        let e = partition_spec(&spec(&[("y", "shop", Year)]), &arrow, &f).unwrap_err();
        assert!(e.contains("takes a date or timestamp column"), "{e}");
    }

    #[test]
    fn decimals_take_the_fewest_bytes() {
        assert_eq!(decimal_bytes(0), [0]);
        assert_eq!(decimal_bytes(127), [0x7f]);
        assert_eq!(decimal_bytes(128), [0, 0x80]);
        assert_eq!(decimal_bytes(-1), [0xff]);
        assert_eq!(decimal_bytes(-129), [0xff, 0x7f]);
    }
}
