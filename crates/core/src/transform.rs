//! Per-table transforms, applied to every batch in order before partitioning.
//!
//! A job lists them under `tables.<table>.transform`:
//!
//! ```json
//! "transform": [
//!   {"rename": {"created": "order_time"}},
//!   {"drop": ["internal_flags"]},
//!   {"cast": {"amount": "decimal(12,2)", "customer_id": "int64"}},
//!   {"derive": {"name": "order_date", "from": "order_time", "fn": "date"}},
//!   {"derive": {"name": "bucket", "from": "customer_id", "fn": "hash_bucket", "n": 16}},
//!   {"filter": {"or": [{"column": "status", "op": "in", "value": ["paid", "shipped"]},
//!                      {"column": "amount", "op": ">=", "value": 100}]}}
//! ]
//! ```
//!
//! `partition_by` and `sort_by` name columns as they are after the transforms.
//! Every step first checks the schema it receives ([`Transform::schema`]):
//! a missing column or an impossible cast is refused before any row is
//! read, naming the step and the column. Rust users add their own steps by
//! implementing [`Transform`] and passing them to
//! [`Run::with_transform`](crate::Run::with_transform).

use std::fmt::Debug;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, Scalar, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::kernels::cmp;
use arrow::compute::{
    CastOptions, and_kleene, can_cast_types, cast, cast_with_options, filter_record_batch,
    is_not_null, is_null, not, or_kleene,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use crate::config::PartitionFn;
pub use crate::config::transform::{Derive, DeriveFn, Op, Predicate, Step, TruncUnit};
use crate::config::types::parse_type;
use crate::partition::derive_key;

/// One step of a table's transform, as a Rust type. The job's steps are
/// [`Step`]s; implement this to plug in your own.
pub trait Transform: Send + Sync + Debug {
    /// The schema after this step, or why it cannot apply to `input` (naming
    /// the column).
    fn schema(&self, input: &SchemaRef) -> Result<SchemaRef, String>;
    /// Applies the step to one batch (whose schema `schema` accepted).
    fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, String>;
}

fn field_index(schema: &SchemaRef, col: &str) -> Result<usize, String> {
    schema.index_of(col).map_err(|_| {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        format!("no column {col:?} (columns: {})", names.join(", "))
    })
}

fn with_fields(fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new(fields))
}

fn rebuild(schema: SchemaRef, columns: Vec<ArrayRef>) -> Result<RecordBatch, String> {
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

impl Transform for Step {
    fn schema(&self, input: &SchemaRef) -> Result<SchemaRef, String> {
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        match self {
            Step::Rename(map) => {
                for (old, new) in map {
                    let i = field_index(input, old)?;
                    if old != new && input.index_of(new).is_ok() && !map.contains_key(new) {
                        return Err(format!(
                            "cannot rename {old:?} to {new:?}: that column exists"
                        ));
                    }
                    fields[i] = fields[i].clone().with_name(new);
                }
            }
            Step::Drop(cols) => {
                for c in cols {
                    field_index(input, c)?;
                }
                fields.retain(|f| !cols.contains(f.name()));
            }
            Step::Cast(casts) => {
                for (col, t) in casts {
                    let i = field_index(input, col)?;
                    let to = parse_type(t)?;
                    let from = input.field(i).data_type();
                    if !can_cast_types(from, &to) {
                        return Err(format!("cannot cast {col:?} from {from} to {to}"));
                    }
                    fields[i] = Field::new(col, to, true);
                }
            }
            Step::Derive(d) => {
                let from = input.field(field_index(input, &d.from)?).data_type();
                let t = derived_type(d, from)?;
                let f = Field::new(&d.name, t, true);
                match input.index_of(&d.name) {
                    Ok(i) => fields[i] = f,
                    Err(_) => fields.push(f),
                }
            }
            Step::Filter(p) => check_columns(p, input)?,
        }
        let mut seen = std::collections::BTreeSet::new();
        if let Some(f) = fields.iter().find(|f| !seen.insert(f.name())) {
            return Err(format!("two columns would be named {:?}", f.name()));
        }
        Ok(with_fields(fields))
    }

    fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
        let schema = self.schema(&batch.schema())?;
        match self {
            Step::Rename(_) => rebuild(schema, batch.columns().to_vec()),
            Step::Drop(cols) => {
                let input = batch.schema();
                let columns = (0..batch.num_columns())
                    .filter(|i| !cols.contains(input.field(*i).name()))
                    .map(|i| batch.column(i).clone())
                    .collect();
                rebuild(schema, columns)
            }
            Step::Cast(casts) => {
                let options = CastOptions {
                    safe: false,
                    ..Default::default()
                };
                let mut columns = batch.columns().to_vec();
                for (col, t) in casts {
                    let i = field_index(&batch.schema(), col)?;
                    let to = parse_type(t)?;
                    columns[i] = cast_with_options(&columns[i], &to, &options)
                        .map_err(|e| format!("cast {col:?} to {to}: {e}"))?;
                }
                rebuild(schema, columns)
            }
            Step::Derive(d) => {
                let from = batch
                    .column_by_name(&d.from)
                    .expect("schema checked the column");
                let values = derive(d, from)?;
                let mut columns = batch.columns().to_vec();
                match batch.schema().index_of(&d.name) {
                    Ok(i) => columns[i] = values,
                    Err(_) => columns.push(values),
                }
                rebuild(schema, columns)
            }
            Step::Filter(p) => {
                let mask = evaluate(p, batch)?;
                filter_record_batch(batch, &mask).map_err(|e| e.to_string())
            }
        }
    }
}

fn check_columns(p: &Predicate, schema: &SchemaRef) -> Result<(), String> {
    for q in p.and.iter().chain(p.or.iter()).flatten() {
        check_columns(q, schema)?;
    }
    if let Some(col) = &p.column {
        let i = field_index(schema, col)?;
        if let Some(v) = &p.value {
            let t = schema.field(i).data_type();
            let values = match v {
                serde_json::Value::Array(items) => items.iter().collect::<Vec<_>>(),
                v => vec![v],
            };
            for v in values {
                scalar(v, t).map_err(|e| format!("filter on {col}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// A one-element array of type `t` holding `v`.
fn scalar(v: &serde_json::Value, t: &DataType) -> Result<ArrayRef, String> {
    let raw: ArrayRef = match v {
        serde_json::Value::String(s) => Arc::new(StringArray::from(vec![s.as_str()])),
        serde_json::Value::Bool(b) => Arc::new(BooleanArray::from(vec![*b])),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Arc::new(Int64Array::from(vec![i])),
            None => Arc::new(Float64Array::from(vec![n.as_f64().unwrap_or(f64::NAN)])),
        },
        other => return Err(format!("{other} is not a value to compare with")),
    };
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(&raw, t, &options).map_err(|e| format!("{v} is not a {t}: {e}"))
}

fn evaluate(p: &Predicate, batch: &RecordBatch) -> Result<BooleanArray, String> {
    let arrow = |e: arrow::error::ArrowError| e.to_string();
    if let Some(all) = &p.and {
        let mut acc = BooleanArray::from(vec![true; batch.num_rows()]);
        for q in all {
            acc = and_kleene(&acc, &evaluate(q, batch)?).map_err(arrow)?;
        }
        return Ok(acc);
    }
    if let Some(any) = &p.or {
        let mut acc = BooleanArray::from(vec![false; batch.num_rows()]);
        for q in any {
            acc = or_kleene(&acc, &evaluate(q, batch)?).map_err(arrow)?;
        }
        return Ok(acc);
    }
    let col_name = p.column.as_deref().expect("checked: a comparison");
    let col = batch
        .column_by_name(col_name)
        .ok_or_else(|| format!("no column {col_name:?}"))?;
    let op = p.op.expect("checked: a comparison has an op");
    let t = col.data_type();
    let compare = |v: &serde_json::Value, op: Op| -> Result<BooleanArray, String> {
        let s = Scalar::new(scalar(v, t)?);
        match op {
            Op::Eq | Op::In | Op::NotIn => cmp::eq(col, &s),
            Op::Ne => cmp::neq(col, &s),
            Op::Lt => cmp::lt(col, &s),
            Op::Le => cmp::lt_eq(col, &s),
            Op::Gt => cmp::gt(col, &s),
            Op::Ge => cmp::gt_eq(col, &s),
            Op::IsNull | Op::IsNotNull => unreachable!("no value"),
        }
        .map_err(arrow)
    };
    match (op, &p.value) {
        (Op::IsNull, _) => is_null(col).map_err(arrow),
        (Op::IsNotNull, _) => is_not_null(col).map_err(arrow),
        (Op::In | Op::NotIn, Some(serde_json::Value::Array(items))) => {
            let mut acc = BooleanArray::from(vec![false; batch.num_rows()]);
            for v in items {
                acc = or_kleene(&acc, &compare(v, op)?).map_err(arrow)?;
            }
            if op == Op::NotIn {
                acc = not(&acc).map_err(arrow)?;
            }
            Ok(acc)
        }
        (_, Some(v)) => compare(v, op),
        (_, None) => Err(format!("filter on {col_name}: needs a `value`")),
    }
}

fn derived_type(d: &Derive, from: &DataType) -> Result<DataType, String> {
    let temporal = matches!(
        from,
        DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64
    );
    let text = matches!(
        from,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    let refuse = |what: &str| {
        Err(format!(
            "derive {}: fn {:?} needs {what} column, and {:?} is {from}",
            d.name,
            d.func.name(),
            d.from
        ))
    };
    Ok(match d.func {
        DeriveFn::Year | DeriveFn::Month | DeriveFn::Day | DeriveFn::Hour => {
            if !(temporal || text) {
                return refuse("a timestamp, date or ISO-8601 string");
            }
            DataType::Int32
        }
        DeriveFn::Date => {
            if !(temporal || text) {
                return refuse("a timestamp, date or ISO-8601 string");
            }
            DataType::Date32
        }
        DeriveFn::Value => {
            if !can_cast_types(from, &DataType::Utf8) {
                return refuse("a column with a text form; a nested");
            }
            DataType::Utf8
        }
        DeriveFn::Truncate => match from {
            DataType::Timestamp(_, _) => from.clone(),
            _ => return refuse("a timestamp"),
        },
        DeriveFn::Substring => {
            if !text {
                return refuse("a string");
            }
            DataType::Utf8
        }
        DeriveFn::HashBucket => DataType::Int32,
        DeriveFn::ParseTimestamp => {
            if !text {
                return refuse("a string");
            }
            DataType::Timestamp(TimeUnit::Microsecond, None)
        }
    })
}

fn derive(d: &Derive, from: &ArrayRef) -> Result<ArrayRef, String> {
    let fail = |m: String| format!("derive {} from {:?}: {m}", d.name, d.from);
    Ok(match d.func {
        DeriveFn::Year | DeriveFn::Month | DeriveFn::Day | DeriveFn::Hour | DeriveFn::Date => {
            let func = match d.func {
                DeriveFn::Year => PartitionFn::Year,
                DeriveFn::Month => PartitionFn::Month,
                DeriveFn::Day => PartitionFn::Day,
                DeriveFn::Hour => PartitionFn::Hour,
                _ => PartitionFn::Date,
            };
            let key = derive_key(from, func).map_err(fail)?;
            if d.func != DeriveFn::Date {
                return Ok(key);
            }
            // yyyymmdd -> days since 1970-01-01.
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
            let ymd = key.as_primitive::<arrow::datatypes::Int32Type>();
            let days: Date32Array = ymd
                .iter()
                .map(|v| {
                    v.and_then(|v| {
                        NaiveDate::from_ymd_opt(v / 10000, (v / 100 % 100) as u32, (v % 100) as u32)
                    })
                    .map(|date| (date - epoch).num_days() as i32)
                })
                .collect();
            Arc::new(days)
        }
        DeriveFn::Value => cast(from, &DataType::Utf8).map_err(|e| fail(e.to_string()))?,
        DeriveFn::Truncate => truncate(from, d.unit.expect("checked")).map_err(fail)?,
        DeriveFn::Substring => {
            let s = cast(from, &DataType::Utf8).map_err(|e| fail(e.to_string()))?;
            let start = d.start.expect("checked");
            let out: StringArray = s
                .as_string::<i32>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let chars = v.chars().skip(start);
                        match d.length {
                            Some(n) => chars.take(n).collect::<String>(),
                            None => chars.collect(),
                        }
                    })
                })
                .collect();
            Arc::new(out)
        }
        DeriveFn::HashBucket => {
            let n = u64::from(d.n.expect("checked"));
            let hashes = crate::checksum::cell_hashes(from).map_err(|e| fail(e.to_string()))?;
            let out: Int32Array = hashes
                .iter()
                .enumerate()
                .map(|(i, h)| from.is_valid(i).then_some((h % n) as i32))
                .collect();
            Arc::new(out)
        }
        DeriveFn::ParseTimestamp => {
            let format = d.format.as_deref().expect("checked");
            let s = cast(from, &DataType::Utf8).map_err(|e| fail(e.to_string()))?;
            let mut out = Vec::with_capacity(s.len());
            for v in s.as_string::<i32>().iter() {
                out.push(match v {
                    None => None,
                    Some(v) => Some(parse_with(v, format).ok_or_else(|| {
                        fail(format!("{v:?} does not match the format {format:?}"))
                    })?),
                });
            }
            Arc::new(TimestampMicrosecondArray::from(out))
        }
    })
}

fn parse_with(v: &str, format: &str) -> Option<i64> {
    let t = NaiveDateTime::parse_from_str(v, format).ok().or_else(|| {
        NaiveDate::parse_from_str(v, format)
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    Some(t.and_utc().timestamp_micros())
}

fn truncate(col: &ArrayRef, unit: TruncUnit) -> Result<ArrayRef, String> {
    let DataType::Timestamp(tu, tz) = col.data_type() else {
        return Err(format!(
            "truncate needs a timestamp, not {}",
            col.data_type()
        ));
    };
    if tz.is_some() && matches!(unit, TruncUnit::Year | TruncUnit::Month | TruncUnit::Day) {
        return Err("truncate to a year, month or day of a timestamp with a time zone is not supported; cast it to a timestamp without one first".into());
    }
    // Work in microseconds, then cast back to the column's unit.
    let us = cast(col, &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
        .map_err(|e| e.to_string())?;
    let us = us.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let out: TimestampMicrosecondArray = us
        .iter()
        .map(|v| {
            v.and_then(|v| {
                let t = chrono::DateTime::from_timestamp_micros(v)?.naive_utc();
                let t = match unit {
                    TruncUnit::Year => {
                        NaiveDate::from_ymd_opt(t.year(), 1, 1)?.and_hms_opt(0, 0, 0)?
                    }
                    TruncUnit::Month => {
                        NaiveDate::from_ymd_opt(t.year(), t.month(), 1)?.and_hms_opt(0, 0, 0)?
                    }
                    TruncUnit::Day => t.date().and_hms_opt(0, 0, 0)?,
                    TruncUnit::Hour => t.date().and_hms_opt(t.hour(), 0, 0)?,
                    TruncUnit::Minute => t.date().and_hms_opt(t.hour(), t.minute(), 0)?,
                    TruncUnit::Second => t.date().and_hms_opt(t.hour(), t.minute(), t.second())?,
                };
                Some(t.and_utc().timestamp_micros())
            })
        })
        .collect();
    let out: ArrayRef = Arc::new(out.with_timezone_opt(tz.clone()));
    cast(&out, &DataType::Timestamp(*tu, tz.clone())).map_err(|e| e.to_string())
}

/// A table's transform: the job's steps, then any plugged-in ones.
#[derive(Debug, Clone, Default)]
pub struct Pipeline {
    steps: Vec<(String, Arc<dyn Transform>)>,
}

impl Pipeline {
    /// The job's steps followed by `extra`.
    pub fn new(steps: &[Step], extra: &[Arc<dyn Transform>]) -> Self {
        let mut out: Vec<(String, Arc<dyn Transform>)> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    format!("transform[{i}] ({})", s.kind()),
                    Arc::new(s.clone()) as Arc<dyn Transform>,
                )
            })
            .collect();
        let n = out.len();
        out.extend(
            extra
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("transform[{}] (plugged in)", n + i), t.clone())),
        );
        Pipeline { steps: out }
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The schema after every step, or the first refusal, naming the step.
    pub fn schema(&self, input: &SchemaRef) -> Result<SchemaRef, String> {
        let mut s = input.clone();
        for (name, t) in &self.steps {
            s = t.schema(&s).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(s)
    }

    /// Applies every step to `batch`.
    pub fn apply(&self, batch: RecordBatch) -> Result<RecordBatch, String> {
        let mut b = batch;
        for (name, t) in &self.steps {
            b = t.apply(&b).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::ListArray;
    use arrow::datatypes::{
        Date32Type, Float32Type, Int32Type, Int64Type, TimestampMicrosecondType,
    };

    use super::*;

    /// 2021-03-04 05:06:07.5 UTC in microseconds.
    const T: i64 = 1_614_834_367_500_000;

    fn batch() -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("status", DataType::Utf8, true),
            Field::new("amount", DataType::Float64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
            Field::new("created", DataType::Utf8, true),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Int32, true))),
                true,
            ),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
                Arc::new(StringArray::from(vec![
                    Some("paid"),
                    Some("open"),
                    None,
                    Some("paid"),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(5.0),
                    Some(50.0),
                    Some(500.0),
                    None,
                ])),
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(T),
                    Some(T + 86_400_000_000),
                    None,
                    Some(T - 3_600_000_000),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("04/03/2021 05:06"),
                    Some("31/12/2020 23:59"),
                    None,
                    Some("01/01/2021 00:00"),
                ])),
                Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                    Some(vec![Some(1)]),
                    None,
                    Some(vec![]),
                    None,
                ])),
            ],
        )
        .unwrap()
    }

    fn step(json: &str) -> Step {
        let s: Step = serde_json::from_str(json).unwrap();
        s.check().unwrap();
        s
    }

    fn run(json: &str) -> RecordBatch {
        step(json).apply(&batch()).unwrap()
    }

    fn refused(json: &str) -> String {
        let s: Step = serde_json::from_str(json).unwrap();
        match s.check() {
            Err(e) => e,
            Ok(()) => s.schema(&batch().schema()).unwrap_err(),
        }
    }

    #[test]
    fn rename_drop_and_cast() {
        let b = run(r#"{"rename": {"status": "state", "id": "order_id"}}"#);
        assert_eq!(b.schema().field(0).name(), "order_id");
        assert_eq!(b.schema().field(1).name(), "state");
        assert_eq!(b.num_columns(), 6);
        let b = run(r#"{"drop": ["tags", "created"]}"#);
        assert_eq!(b.num_columns(), 4);
        assert!(b.column_by_name("tags").is_none());
        let b = run(r#"{"cast": {"amount": "float32", "id": "int32"}}"#);
        assert_eq!(
            b.column(0).as_primitive::<Int32Type>().values(),
            &[1, 2, 3, 4]
        );
        assert_eq!(b.column(2).as_primitive::<Float32Type>().value(1), 50.0);
        assert_eq!(
            parse_type("decimal(12, 2)"),
            Ok(DataType::Decimal128(12, 2))
        );
        assert_eq!(
            parse_type("Timestamp(µs, \"UTC\")"),
            Ok(DataType::Timestamp(
                TimeUnit::Microsecond,
                Some("UTC".into())
            ))
        );

        assert_eq!(
            refused(r#"{"drop": ["nope"]}"#),
            "no column \"nope\" (columns: id, status, amount, ts, created, tags)"
        );
        assert_eq!(
            refused(r#"{"rename": {"id": "status"}}"#),
            "cannot rename \"id\" to \"status\": that column exists"
        );
        assert_eq!(
            refused(r#"{"rename": {"id": "x", "status": "x"}}"#),
            "two columns would be named \"x\""
        );
        assert_eq!(
            refused(r#"{"cast": {"tags": "int64"}}"#),
            "cannot cast \"tags\" from List(Int32) to Int64"
        );
        assert!(
            refused(r#"{"cast": {"id": "int65"}}"#)
                .starts_with("cast id: \"int65\" is not a column type")
        );
        // A value that does not fit fails with the column named.
        let e = step(r#"{"cast": {"status": "int64"}}"#)
            .apply(&batch())
            .unwrap_err();
        assert!(e.starts_with("cast \"status\" to Int64: "), "{e}");
    }

    #[test]
    fn derive_functions() {
        let b = run(r#"{"derive": {"name": "y", "from": "ts", "fn": "year"}}"#);
        let y = b.column_by_name("y").unwrap().as_primitive::<Int32Type>();
        assert_eq!(
            y.iter().collect::<Vec<_>>(),
            [Some(2021), Some(2021), None, Some(2021)]
        );
        let b = run(r#"{"derive": {"name": "d", "from": "ts", "fn": "date"}}"#);
        let d = b.column_by_name("d").unwrap().as_primitive::<Date32Type>();
        assert_eq!(d.value(0), 18_690, "2021-03-04");
        assert_eq!(d.value(1), 18_691);
        let b = run(r#"{"derive": {"name": "h", "from": "ts", "fn": "truncate", "unit": "hour"}}"#);
        let h = b
            .column_by_name("h")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(h.value(0), T - (6 * 60 + 7) * 1_000_000 - 500_000);
        let b =
            run(r#"{"derive": {"name": "m", "from": "ts", "fn": "truncate", "unit": "month"}}"#);
        let m = b
            .column_by_name("m")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(m.value(0), 1_614_556_800_000_000, "2021-03-01");
        let b = run(
            r#"{"derive": {"name": "s", "from": "status", "fn": "substring", "start": 1, "length": 2}}"#,
        );
        let s = b.column_by_name("s").unwrap().as_string::<i32>();
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Some("ai"), Some("pe"), None, Some("ai")]
        );
        let b = run(r#"{"derive": {"name": "b", "from": "status", "fn": "hash_bucket", "n": 4}}"#);
        let k = b.column_by_name("b").unwrap().as_primitive::<Int32Type>();
        assert_eq!(k.value(0), k.value(3), "the same value, the same bucket");
        assert!(k.is_null(2));
        assert!(k.iter().flatten().all(|v| (0..4).contains(&v)));
        let b = run(
            r#"{"derive": {"name": "c", "from": "created", "fn": "parse_timestamp", "format": "%d/%m/%Y %H:%M"}}"#,
        );
        let c = b
            .column_by_name("c")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        assert_eq!(c.value(0), T - 7_500_000);
        assert!(c.is_null(2));
        // ISO-8601 strings work with the calendar functions.
        let b = run(r#"{"derive": {"name": "v", "from": "id", "fn": "value"}}"#);
        assert_eq!(
            b.column_by_name("v").unwrap().as_string::<i32>().value(0),
            "1"
        );

        assert_eq!(
            refused(r#"{"derive": {"name": "b", "from": "id", "fn": "hash_bucket"}}"#),
            "derive b: fn \"hash_bucket\" needs `n (at least 1)`"
        );
        assert_eq!(
            refused(r#"{"derive": {"name": "y", "from": "amount", "fn": "year"}}"#),
            "derive y: fn \"year\" needs a timestamp, date or ISO-8601 string column, and \"amount\" is Float64"
        );
        let e = step(r#"{"derive": {"name": "c", "from": "status", "fn": "parse_timestamp", "format": "%Y"}}"#)
            .apply(&batch())
            .unwrap_err();
        assert_eq!(
            e,
            "derive c from \"status\": \"paid\" does not match the format \"%Y\""
        );
    }

    fn ids(b: &RecordBatch) -> Vec<i64> {
        b.column(0).as_primitive::<Int64Type>().values().to_vec()
    }

    #[test]
    fn filters() {
        let f = |json: &str| ids(&run(&format!(r#"{{"filter": {json}}}"#)));
        assert_eq!(
            f(r#"{"column": "status", "op": "=", "value": "paid"}"#),
            [1, 4]
        );
        assert_eq!(
            f(r#"{"column": "status", "op": "!=", "value": "paid"}"#),
            [2]
        );
        assert_eq!(f(r#"{"column": "amount", "op": ">", "value": 5}"#), [2, 3]);
        assert_eq!(
            f(r#"{"column": "amount", "op": ">=", "value": 5}"#),
            [1, 2, 3]
        );
        assert_eq!(
            f(r#"{"column": "amount", "op": "<", "value": 50.5}"#),
            [1, 2]
        );
        assert_eq!(f(r#"{"column": "amount", "op": "<=", "value": 5}"#), [1]);
        assert_eq!(
            f(r#"{"column": "status", "op": "in", "value": ["open", "paid"]}"#),
            [1, 2, 4]
        );
        assert_eq!(
            f(r#"{"column": "status", "op": "not in", "value": ["open"]}"#),
            [1, 4]
        );
        assert_eq!(f(r#"{"column": "status", "op": "is null"}"#), [3]);
        assert_eq!(f(r#"{"column": "amount", "op": "is not null"}"#), [1, 2, 3]);
        assert_eq!(
            f(r#"{"column": "ts", "op": ">=", "value": "2021-03-04T00:00:00"}"#),
            [1, 2, 4]
        );
        assert_eq!(
            f(
                r#"{"and": [{"column": "status", "op": "=", "value": "paid"},
                          {"column": "amount", "op": "is not null"}]}"#
            ),
            [1]
        );
        assert_eq!(
            f(r#"{"or": [{"column": "status", "op": "is null"},
                         {"and": [{"column": "id", "op": ">", "value": 3}]}]}"#),
            [3, 4]
        );

        assert_eq!(
            refused(r#"{"filter": {"column": "status", "op": "in", "value": "paid"}}"#),
            "filter on status: `in` and `not in` need a list `value`"
        );
        assert_eq!(
            refused(r#"{"filter": {"column": "status", "op": "=", "value": null}}"#),
            "filter on status: needs a `value` (compare with null using \"is null\")"
        );
        assert!(
            refused(r#"{"filter": {"column": "amount", "op": "=", "value": "many"}}"#)
                .starts_with("filter on amount: \"many\" is not a Float64"),
        );
        assert!(
            refused(r#"{"filter": {"column": "nope", "op": "is null"}}"#)
                .starts_with("no column \"nope\"")
        );
        assert!(
            refused(r#"{"filter": {"and": [], "column": "id"}}"#)
                .starts_with("a filter is exactly one of")
        );
    }

    /// A transform of one's own: upper-cases a column.
    #[derive(Debug)]
    struct Upper(&'static str);

    impl Transform for Upper {
        fn schema(&self, input: &SchemaRef) -> Result<SchemaRef, String> {
            field_index(input, self.0)?;
            Ok(input.clone())
        }
        fn apply(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
            let i = field_index(&batch.schema(), self.0)?;
            let mut cols = batch.columns().to_vec();
            let up: StringArray = cols[i]
                .as_string::<i32>()
                .iter()
                .map(|v| v.map(str::to_uppercase))
                .collect();
            cols[i] = Arc::new(up);
            rebuild(batch.schema(), cols)
        }
    }

    #[test]
    fn a_pipeline_runs_job_steps_then_plugged_ones_and_names_the_failing_step() {
        let steps: Vec<Step> = serde_json::from_str(
            r#"[{"rename": {"status": "state"}},
                {"filter": {"column": "state", "op": "is not null"}}]"#,
        )
        .unwrap();
        let p = Pipeline::new(&steps, &[Arc::new(Upper("state"))]);
        let b = p.apply(batch()).unwrap();
        assert_eq!(ids(&b), [1, 2, 4]);
        assert_eq!(
            b.column_by_name("state")
                .unwrap()
                .as_string::<i32>()
                .value(0),
            "PAID"
        );
        let p = Pipeline::new(&steps, &[Arc::new(Upper("status"))]);
        assert_eq!(
            p.schema(&batch().schema()).unwrap_err(),
            "transform[2] (plugged in): no column \"status\" (columns: id, state, amount, ts, created, tags)"
        );
    }
}
