//! DynamoDB JSON (the `DYNAMODB_JSON` export format) into Arrow.
//!
//! A data file is gzip with one item per line, `{"Item": {<attr>: {<tag>: <value>}}}`.
//! Items are sparse, so a table's schema is the union of the attributes seen
//! in every file ([`infer`]), decided once per run and recorded in the
//! snapshot manifest; every file is then read against it ([`read_file`]).
//!
//! | tag | column |
//! |---|---|
//! | `S` | string |
//! | `N` | decimal(p, s) when every value of the attribute fits 38 digits without an exponent, else string (the number's text, nothing lost) |
//! | `B` | binary (base64-decoded) |
//! | `BOOL` | boolean |
//! | `NULL` | null |
//! | `SS` / `NS` / `BS` | list of string / decimal (or string) / binary |
//! | `M` / `L` | string: the value's DynamoDB JSON (`{"zip":{"S":"75001"}}`), every type kept |
//!
//! An attribute whose items disagree on the tag becomes a string column
//! holding each value as text (S as is, N its digits, BOOL `true`/`false`,
//! B base64, others their DynamoDB JSON). An attribute seen only as NULL is a
//! string column of nulls. `source.types` pins a column's type instead.
//! Attribute names are kept as they are, even when they are not valid SQL
//! identifiers (quote them in queries).

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Decimal128Builder, ListBuilder,
    RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use base64::Engine;

use serde_json::Value;

pub use crate::config::types::AttrType;
use crate::config::types::{AttrTypes, MAX_PRECISION};
use crate::error::{Error, Result};
use crate::exact::{decimal, split_number};

/// A table's columns: attribute name → type, in name order.
pub type Columns = AttrTypes;

/// The Arrow schema of `columns` (every column nullable: items are sparse).
pub fn schema(columns: &Columns) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, t)| Field::new(name, t.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

/// Digits of the numbers of one attribute, to size its decimal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Digits {
    int: u32,
    scale: u32,
    unfit: bool,
}

impl Digits {
    fn add(&mut self, n: &str) {
        match split_number(n) {
            Some((_, int, frac)) => {
                self.int = self.int.max(int.trim_start_matches('0').len() as u32);
                self.scale = self.scale.max(frac.len() as u32);
            }
            None => self.unfit = true,
        }
    }
    fn merge(&mut self, o: Digits) {
        self.int = self.int.max(o.int);
        self.scale = self.scale.max(o.scale);
        self.unfit |= o.unfit;
    }
    /// `(precision, scale)`, or `None` when the values need a string.
    fn decimal(self) -> Option<(u8, i8)> {
        let precision = (self.int + self.scale).max(1);
        (!self.unfit && precision <= u32::from(MAX_PRECISION))
            .then_some((precision as u8, self.scale as i8))
    }
}

/// What one attribute's values looked like across the items seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Seen {
    tags: std::collections::BTreeSet<&'static str>,
    n: Digits,
    ns: Digits,
}

impl Seen {
    fn add(&mut self, tag: &str, v: &Value) {
        let tag = match tag {
            "S" => "S",
            "N" => {
                self.n.add(v.as_str().unwrap_or("?"));
                "N"
            }
            "B" => "B",
            "BOOL" => "BOOL",
            "NULL" => return,
            "SS" => "SS",
            "NS" => {
                for x in v.as_array().into_iter().flatten() {
                    self.ns.add(x.as_str().unwrap_or("?"));
                }
                "NS"
            }
            "BS" => "BS",
            _ => "M", // M, L, and anything newer: kept as JSON text.
        };
        self.tags.insert(tag);
    }

    /// Folds what another file saw into this.
    pub fn merge(&mut self, o: &Seen) {
        self.tags.extend(o.tags.iter().copied());
        self.n.merge(o.n);
        self.ns.merge(o.ns);
    }

    /// The column type these values need.
    pub fn column(&self) -> AttrType {
        let mut tags = self.tags.iter();
        let (Some(only), None) = (tags.next(), tags.next()) else {
            return AttrType::String;
        };
        match *only {
            "N" => match self.n.decimal() {
                Some((precision, scale)) => AttrType::Decimal { precision, scale },
                None => AttrType::String,
            },
            "B" => AttrType::Binary,
            "BOOL" => AttrType::Bool,
            "SS" => AttrType::StringSet,
            "NS" => match self.ns.decimal() {
                Some((precision, scale)) => AttrType::DecimalSet { precision, scale },
                None => AttrType::StringSet,
            },
            "BS" => AttrType::BinarySet,
            _ => AttrType::String,
        }
    }
}

/// One line's item: attribute name → (tag, value).
fn parse_item<'a>(
    uri: &str,
    line_no: usize,
    item: &'a Value,
) -> Result<Vec<(&'a str, &'a str, &'a Value)>> {
    let attrs = item.get("Item").and_then(Value::as_object).ok_or_else(|| {
        Error::bad_data(
            uri,
            format!("line {line_no}: not a DynamoDB JSON item (expected {{\"Item\": {{…}}}})"),
        )
    })?;
    attrs
        .iter()
        .map(|(name, typed)| {
            let (tag, v) = typed
                .as_object()
                .filter(|o| o.len() == 1)
                .and_then(|o| o.iter().next())
                .ok_or_else(|| {
                    Error::bad_data(
                        uri,
                        format!(
                            "line {line_no}: attribute {name:?} is not a typed value ({typed})"
                        ),
                    )
                })?;
            Ok((name.as_str(), tag.as_str(), v))
        })
        .collect()
}

/// Calls `each` with every item of a gzip DynamoDB JSON file (its 1-based line number and the parsed line).
fn for_each_item(
    uri: &str,
    items: impl BufRead,
    mut each: impl FnMut(usize, &Value) -> Result<()>,
) -> Result<u64> {
    let mut n = 0;
    for (i, line) in items.lines().enumerate() {
        let line =
            line.map_err(|e| Error::bad_data(uri, format!("not a readable gzip file: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line)
            .map_err(|e| Error::bad_data(uri, format!("line {}: not JSON: {e}", i + 1)))?;
        each(i + 1, &v)?;
        n += 1;
    }
    Ok(n)
}

/// What the items of one file look like; returns the attributes and the item count.
pub fn infer(uri: &str, items: impl BufRead) -> Result<(BTreeMap<String, Seen>, u64)> {
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let n = for_each_item(uri, items, |line_no, v| {
        for (name, tag, value) in parse_item(uri, line_no, v)? {
            seen.entry(name.to_string()).or_default().add(tag, value);
        }
        Ok(())
    })?;
    Ok((seen, n))
}

/// Reads a gzip DynamoDB JSON file as batches of at most `batch_rows` rows
/// of `columns`, handing each to `emit`; returns the number of items.
pub fn read_file(
    uri: &str,
    items: impl BufRead,
    columns: &Columns,
    batch_rows: usize,
    emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<u64> {
    let schema = schema(columns);
    let index: BTreeMap<&str, usize> = columns
        .keys()
        .enumerate()
        .map(|(i, k)| (k.as_str(), i))
        .collect();
    let types: Vec<AttrType> = columns.values().copied().collect();
    let mut builders: Vec<Box<dyn ArrayBuilder>> = types.iter().map(|t| builder(*t)).collect();
    let mut filled = vec![false; types.len()];
    let mut rows = 0;
    let n = for_each_item(uri, items, |line_no, v| {
        filled.iter_mut().for_each(|f| *f = false);
        for (name, tag, value) in parse_item(uri, line_no, v)? {
            let Some(&i) = index.get(name) else {
                return Err(Error::bad_data(
                    uri,
                    format!(
                        "line {line_no}: attribute {name:?} is not in the table's schema (the export changed since it was planned?)"
                    ),
                ));
            };
            append(builders[i].as_mut(), types[i], tag, value).map_err(|m| {
                Error::bad_data(uri, format!("line {line_no}: attribute {name:?}: {m}"))
            })?;
            filled[i] = true;
        }
        for (i, f) in filled.iter().enumerate() {
            if !f {
                append_null(builders[i].as_mut(), types[i]);
            }
        }
        rows += 1;
        if rows == batch_rows {
            emit(finish(&schema, &mut builders)?)?;
            rows = 0;
        }
        Ok(())
    })?;
    if rows > 0 {
        emit(finish(&schema, &mut builders)?)?;
    }
    Ok(n)
}

fn finish(schema: &SchemaRef, builders: &mut [Box<dyn ArrayBuilder>]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| Error::Internal(e.to_string()))
}

fn builder(t: AttrType) -> Box<dyn ArrayBuilder> {
    match t {
        AttrType::String => Box::new(StringBuilder::new()),
        AttrType::Decimal { precision, scale } => Box::new(
            Decimal128Builder::new().with_data_type(DataType::Decimal128(precision, scale)),
        ),
        AttrType::Binary => Box::new(BinaryBuilder::new()),
        AttrType::Bool => Box::new(BooleanBuilder::new()),
        AttrType::StringSet => Box::new(ListBuilder::new(StringBuilder::new())),
        AttrType::DecimalSet { precision, scale } => Box::new(ListBuilder::new(
            Decimal128Builder::new().with_data_type(DataType::Decimal128(precision, scale)),
        )),
        AttrType::BinarySet => Box::new(ListBuilder::new(BinaryBuilder::new())),
    }
}

fn downcast<T: 'static>(b: &mut dyn ArrayBuilder) -> &mut T {
    b.as_any_mut()
        .downcast_mut::<T>()
        .expect("builders are made by `builder` for their column's type")
}

fn append_null(b: &mut dyn ArrayBuilder, t: AttrType) {
    match t {
        AttrType::String => downcast::<StringBuilder>(b).append_null(),
        AttrType::Decimal { .. } => downcast::<Decimal128Builder>(b).append_null(),
        AttrType::Binary => downcast::<BinaryBuilder>(b).append_null(),
        AttrType::Bool => downcast::<BooleanBuilder>(b).append_null(),
        AttrType::StringSet => downcast::<ListBuilder<StringBuilder>>(b).append_null(),
        AttrType::DecimalSet { .. } => downcast::<ListBuilder<Decimal128Builder>>(b).append_null(),
        AttrType::BinarySet => downcast::<ListBuilder<BinaryBuilder>>(b).append_null(),
    }
}

fn text_of<'a>(v: &'a Value, what: &str) -> std::result::Result<&'a str, String> {
    v.as_str()
        .ok_or_else(|| format!("{what} value {v} is not a string"))
}

fn binary(v: &Value) -> std::result::Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(text_of(v, "B")?)
        .map_err(|e| format!("not base64: {e}"))
}

/// A value as text, for string columns.
fn as_text(tag: &str, v: &Value) -> String {
    match (tag, v) {
        ("S" | "N" | "B", Value::String(s)) => s.clone(),
        ("BOOL", Value::Bool(b)) => b.to_string(),
        _ => v.to_string(),
    }
}

fn append(
    b: &mut dyn ArrayBuilder,
    t: AttrType,
    tag: &str,
    v: &Value,
) -> std::result::Result<(), String> {
    if tag == "NULL" {
        append_null(b, t);
        return Ok(());
    }
    let want = |expected: &str| {
        if tag == expected {
            Ok(())
        } else {
            Err(format!("a {tag} value in a column of {expected} values"))
        }
    };
    let list = |v: &Value| {
        v.as_array()
            .cloned()
            .ok_or_else(|| format!("{tag} value {v} is not a list"))
    };
    match t {
        AttrType::String => downcast::<StringBuilder>(b).append_value(as_text(tag, v)),
        AttrType::Decimal { precision, scale } => {
            want("N")?;
            downcast::<Decimal128Builder>(b).append_value(decimal(
                text_of(v, "N")?,
                precision,
                scale,
            )?)
        }
        AttrType::Binary => {
            want("B")?;
            downcast::<BinaryBuilder>(b).append_value(binary(v)?)
        }
        AttrType::Bool => {
            want("BOOL")?;
            downcast::<BooleanBuilder>(b)
                .append_value(v.as_bool().ok_or("BOOL value is not true or false")?)
        }
        AttrType::StringSet => {
            let l = downcast::<ListBuilder<StringBuilder>>(b);
            for x in list(v)? {
                l.values()
                    .append_value(as_text(if tag == "SS" { "S" } else { "N" }, &x));
            }
            l.append(true)
        }
        AttrType::DecimalSet { precision, scale } => {
            want("NS")?;
            let l = downcast::<ListBuilder<Decimal128Builder>>(b);
            for x in list(v)? {
                l.values()
                    .append_value(decimal(text_of(&x, "NS")?, precision, scale)?);
            }
            l.append(true)
        }
        AttrType::BinarySet => {
            want("BS")?;
            let l = downcast::<ListBuilder<BinaryBuilder>>(b);
            for x in list(v)? {
                l.values().append_value(binary(&x)?);
            }
            l.append(true)
        }
    }
    Ok(())
}

/// Fails when a data file holds another number of items than the export says.
pub fn check_count(f: &crate::manifest::DataFile, n: u64) -> Result<()> {
    match f.n_record {
        Some(expected) if expected != n => Err(Error::bad_data(
            &f.uri,
            format!(
                "the export's manifest-files.json says {expected} items but the file holds {n}"
            ),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use std::io::Write;

    fn gunzip(gz: &[u8]) -> impl BufRead + '_ {
        std::io::BufReader::new(flate2::read::MultiGzDecoder::new(gz))
    }

    fn gz(lines: &[&str]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for l in lines {
            writeln!(e, "{l}").unwrap();
        }
        e.finish().unwrap()
    }

    #[test]
    fn every_tag_maps_to_a_column() {
        let file = gz(&[
            r#"{"Item":{"PK":{"S":"ORDER#0007"},"total":{"N":"123.45"},"blob":{"B":"AP8="},"vip":{"BOOL":true},"gone":{"NULL":true},"addr":{"M":{"zip":{"S":"75001"}}},"lines":{"L":[{"N":"1"},{"S":"x"}]},"tags":{"SS":["a","b"]},"ns":{"NS":["1","2.5"]},"bs":{"BS":["AQ=="]}}}"#,
            r#"{"Item":{"PK":{"S":"ORDER#0008"},"total":{"N":"-12345678901234567890123456789012.345678"},"mixed":{"N":"7"}}}"#,
            r#"{"Item":{"PK":{"S":"ORDER#0009"},"mixed":{"S":"seven"}}}"#,
        ]);
        let (seen, n) = infer("f.json.gz", gunzip(&file)).unwrap();
        assert_eq!(n, 3);
        let columns: Columns = seen.iter().map(|(k, s)| (k.clone(), s.column())).collect();
        assert_eq!(
            columns["total"],
            AttrType::Decimal {
                precision: 38,
                scale: 6
            }
        );
        assert_eq!(columns["mixed"], AttrType::String);
        assert_eq!(columns["gone"], AttrType::String);
        assert_eq!(
            columns["ns"],
            AttrType::DecimalSet {
                precision: 2,
                scale: 1
            }
        );
        let mut batches = Vec::new();
        let n = read_file("f.json.gz", gunzip(&file), &columns, 2, &mut |b| {
            batches.push(b);
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
            [2, 1]
        );
        let b = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let total = b
            .column_by_name("total")
            .unwrap()
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!(total.value(0), 123_450_000);
        assert_eq!(
            total.value(1),
            -12_345_678_901_234_567_890_123_456_789_012_345_678
        );
        assert!(total.is_null(2));
        let addr = b.column_by_name("addr").unwrap().as_string::<i32>();
        assert_eq!(addr.value(0), r#"{"zip":{"S":"75001"}}"#);
        let mixed = b.column_by_name("mixed").unwrap().as_string::<i32>();
        assert_eq!((mixed.value(1), mixed.value(2)), ("7", "seven"));
        assert_eq!(
            b.column_by_name("blob")
                .unwrap()
                .as_binary::<i32>()
                .value(0),
            [0u8, 255]
        );
        assert_eq!(
            b.column_by_name("tags")
                .unwrap()
                .as_list::<i32>()
                .value(0)
                .len(),
            2
        );
    }

    #[test]
    fn pinned_types_parse_and_print() {
        for t in [
            "string",
            "decimal(38,6)",
            "binary",
            "bool",
            "string_set",
            "decimal_set(5,0)",
            "binary_set",
        ] {
            let parsed = AttrType::try_from(t.to_string()).unwrap();
            assert_eq!(String::from(parsed), t);
        }
        let e = AttrType::try_from("decimal(40,2)".to_string()).unwrap_err();
        assert!(e.contains("\"decimal(40,2)\" is not a column type"), "{e}");
    }

    #[test]
    fn numbers_that_do_not_fit_a_decimal_stay_text() {
        let file = gz(&[
            r#"{"Item":{"big":{"N":"123456789012345678901234567890123456789"},"e":{"N":"1E+2"}}}"#,
        ]);
        let (seen, _) = infer("f", gunzip(&file)).unwrap();
        assert_eq!(seen["big"].column(), AttrType::String);
        assert_eq!(seen["e"].column(), AttrType::String);
    }

    #[test]
    fn bad_lines_and_bad_gzip_name_the_file() {
        let e = infer("s3://b/data/x.json.gz", gunzip(b"not gzip at all"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("s3://b/data/x.json.gz: not a readable gzip file"),
            "{e}"
        );
        let e = infer("f", gunzip(&gz(&[r#"{"Item":{"a":{"S":"x"}}}"#, "{oops"])))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("f: line 2: not JSON"), "{e}");
        let e = infer("f", gunzip(&gz(&[r#"{"Item":{"a":"x"}}"#])))
            .unwrap_err()
            .to_string();
        assert!(e.contains("attribute \"a\" is not a typed value"), "{e}");
    }
}
