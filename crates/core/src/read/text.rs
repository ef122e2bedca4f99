//! NDJSON and CSV data files, plain or gzip (`.gz`), into Arrow.
//!
//! A table's schema is either given in the job (`source.schema`, a list of
//! `{"name", "type"}` in file order) or inferred from a sample: the first
//! [`SAMPLE_BYTES`] of the table's first [`SAMPLE_FILES`] files (by URI, as
//! the snapshot manifest lists them). The sample is the same wherever it is
//! taken, so the planner and every staging worker decide the same schema
//! without passing it around. A value the sample did not foresee (a float in
//! a column the sample saw as integers) fails the file that holds it, naming
//! it and the column: give the schema then.
//!
//! Columns are matched by name, never by position alone: a CSV file whose
//! header orders the columns otherwise is read by its header, and a column
//! it lacks is null. With an inferred schema, a CSV column or NDJSON key
//! that the schema lacks fails the file, naming it: its values would be
//! lost. A given schema chooses the columns: others are left out, as asked;
//! one whose names match none of a CSV header's, with as many columns,
//! renames them in file order.

use std::io::{BufRead, Read};
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, new_null_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::error::ArrowError;

use crate::config::InputFormat;
use futures::{StreamExt, TryStreamExt};

use crate::config::types::{ColumnSpec, given_schema};
use crate::error::{Error, Result};
use crate::manifest::DataFile;
use crate::read::stream::UTF8_BOM;
use crate::storage::StorageRef;

/// Bytes read from the start of each sampled file.
pub const SAMPLE_BYTES: u64 = 1024 * 1024;
/// Files sampled per table.
pub const SAMPLE_FILES: usize = 8;

/// Sampled files read at once.
const SAMPLES_AT_ONCE: usize = 8;

/// The schema of a table of NDJSON or CSV files: the job's, or the one a
/// sample of `files` (every file of the table) implies. The same wherever it
/// is computed: the sample is the first files by URI.
pub async fn table_schema(
    store: &StorageRef,
    format: InputFormat,
    given: Option<&[ColumnSpec]>,
    table: Option<&str>,
    files: &[DataFile],
) -> Result<SchemaRef> {
    if let Some(columns) = given {
        return given_schema(columns).map_err(Error::Job);
    }
    let mut sample: Vec<DataFile> = files.to_vec();
    sample.sort_by(|a, b| a.uri.cmp(&b.uri));
    sample.truncate(SAMPLE_FILES);
    let texts: Vec<(String, Vec<u8>)> = futures::stream::iter(sample)
        .map(|f: DataFile| {
            let store = store.clone();
            async move {
                let end = f.size.min(SAMPLE_BYTES);
                let bytes = store
                    .get_range_if(&f.uri, 0..end, f.size, f.etag.as_deref())
                    .await?;
                let text = decode(&f.uri, &bytes, end < f.size)?;
                Ok::<_, Error>((f.uri, text))
            }
        })
        .buffered(SAMPLES_AT_ONCE)
        .try_collect()
        .await?;
    infer(format, table.unwrap_or("*"), &texts)
}

/// Whether `name` is a data file of `format` (`.gz` allowed).
pub fn is_file_of(format: InputFormat, name: &str) -> bool {
    let name = name.strip_suffix(".gz").unwrap_or(name);
    match format {
        InputFormat::Parquet => name.ends_with(".parquet"),
        InputFormat::Ndjson => [".json", ".jsonl", ".ndjson"]
            .iter()
            .any(|e| name.ends_with(e)),
        InputFormat::Csv => name.ends_with(".csv"),
    }
}

/// The bytes of a file, gunzipped when its name ends with `.gz`, without a
/// leading UTF-8 byte order mark (spreadsheet exports write one, which would
/// otherwise start the first column's name). With `partial`, the bytes are
/// the start of a longer file: what decompresses is kept and the text is cut
/// after its last complete line.
pub fn decode(uri: &str, bytes: &[u8], partial: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    if uri.ends_with(".gz") {
        let read = flate2::read::MultiGzDecoder::new(bytes).read_to_end(&mut out);
        if let Err(e) = read
            && !partial
        {
            return Err(Error::bad_data(
                uri,
                format!("not a readable gzip file: {e}"),
            ));
        }
    } else {
        out.extend_from_slice(bytes);
    }
    if partial && let Some(end) = out.iter().rposition(|b| *b == b'\n') {
        out.truncate(end + 1);
    }
    if out.starts_with(UTF8_BOM) {
        out.drain(..UTF8_BOM.len());
    }
    Ok(out)
}

/// The schema a sample of decoded files implies; `table` names the table in errors.
pub fn infer(format: InputFormat, table: &str, samples: &[(String, Vec<u8>)]) -> Result<SchemaRef> {
    let mut schemas = Vec::new();
    for (uri, text) in samples {
        let inferred = match format {
            InputFormat::Ndjson => {
                arrow::json::reader::infer_json_schema(std::io::Cursor::new(text), None)
                    .map(|(s, _)| s)
            }
            InputFormat::Csv => arrow::csv::reader::Format::default()
                .with_header(true)
                .infer_schema(std::io::Cursor::new(text), None)
                .map(|(s, _)| s),
            InputFormat::Parquet => unreachable!("Parquet files carry their schema"),
        };
        schemas.push(
            inferred.map_err(|e| Error::bad_data(uri, format!("cannot infer a schema: {e}")))?,
        );
    }
    let merged = Schema::try_merge(schemas).map_err(|e| Error::Schema {
        table: table.to_string(),
        message: format!(
            "the sampled files disagree on a column's type ({e}); give the schema in source.schema"
        ),
    })?;
    // Every column may be null: a later file may lack what the sample had.
    let mut fields: Vec<Field> = merged
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    if format == InputFormat::Csv {
        for f in &mut fields {
            if let Some(t) = exact_csv_type(f, samples) {
                *f = f.clone().with_data_type(t);
            }
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// A CSV column's type from its sampled text where Arrow's inference would
/// lose what the text says: numbers that are all plain decimals stay exact
/// (`decimal(p,s)`, not float64), timestamps that all carry `Z` or an
/// offset are instants (in UTC, not local times).
fn exact_csv_type(f: &Field, samples: &[(String, Vec<u8>)]) -> Option<DataType> {
    let candidate = matches!(
        f.data_type(),
        DataType::Float64 | DataType::Timestamp(_, None)
    );
    if !candidate {
        return None;
    }
    let mut values: Vec<String> = Vec::new();
    for (_, text) in samples {
        let (names, _) = arrow::csv::reader::Format::default()
            .with_header(true)
            .infer_schema(std::io::Cursor::new(text), Some(0))
            .ok()?;
        let schema = Schema::new(
            names
                .fields()
                .iter()
                .map(|n| Field::new(n.name(), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let Ok(i) = schema.index_of(f.name()) else {
            continue;
        };
        let reader = arrow::csv::ReaderBuilder::new(Arc::new(schema))
            .with_header(true)
            .build(std::io::Cursor::new(text))
            .ok()?;
        for batch in reader {
            let batch = batch.ok()?;
            let col = batch.column(i).as_string::<i32>();
            values.extend(
                col.iter()
                    .flatten()
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            );
        }
    }
    if values.is_empty() {
        return None;
    }
    match f.data_type() {
        DataType::Float64 => {
            let (mut int, mut scale) = (0usize, 0usize);
            for v in &values {
                let (_, i, frac) = crate::exact::split_number(v)?;
                int = int.max(i.trim_start_matches('0').len());
                scale = scale.max(frac.len());
            }
            let precision = (int + scale).max(1);
            (scale > 0 && precision <= 38)
                .then_some(DataType::Decimal128(precision as u8, scale as i8))
        }
        DataType::Timestamp(unit, None) => {
            let zoned = |v: &str| {
                v.ends_with('Z') || v.get(19..).is_some_and(|tail| tail.contains(['+', '-']))
            };
            values
                .iter()
                .all(|v| zoned(v))
                .then(|| DataType::Timestamp(*unit, Some("+00:00".into())))
        }
        _ => None,
    }
}

/// A table's schema for its text files, and whether the job gave it
/// (`source.schema`) or a sample implied it.
#[derive(Debug, Clone)]
pub struct TextSchema {
    /// The table's columns.
    pub schema: SchemaRef,
    /// Given in the job rather than inferred.
    pub given: bool,
}

impl TextSchema {
    /// Where the schema came from, for messages.
    fn origin(&self) -> &'static str {
        if self.given {
            "given in source.schema"
        } else {
            "inferred from a sample of the table's files"
        }
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        names.join(", ")
    }

    /// How to read a CSV file whose header is not the table's columns in
    /// order: the file's columns (in its header's order; one the schema
    /// lacks read as text) and the indices of those to keep. `None` to read
    /// the file as the table's.
    fn csv_columns(&self, uri: &str, text: &[u8]) -> Result<Option<(SchemaRef, Vec<usize>)>> {
        let (header, _) = arrow::csv::reader::Format::default()
            .with_header(true)
            .infer_schema(std::io::Cursor::new(text), Some(0))
            .map_err(|e| Error::bad_data(uri, format!("cannot read its header: {e}")))?;
        let header: Vec<&str> = header.fields().iter().map(|f| f.name().as_str()).collect();
        let fields = self.schema.fields();
        if header.is_empty()
            || header
                .iter()
                .copied()
                .eq(fields.iter().map(|f| f.name().as_str()))
        {
            return Ok(None);
        }
        let known = |h: &&str| self.schema.field_with_name(h).ok();
        if self.given && header.len() == fields.len() && !header.iter().any(|h| known(h).is_some())
        {
            return Ok(None);
        }
        let mut seen = std::collections::HashSet::new();
        let mut columns = Vec::with_capacity(header.len());
        let mut keep = Vec::with_capacity(fields.len());
        for (i, h) in header.iter().enumerate() {
            let Some(field) = known(h) else {
                if !self.given {
                    return Err(Error::bad_data(
                        uri,
                        format!(
                            "its header has column {h:?}, which the table's schema ({}; {}) \
                             lacks: its values would be lost",
                            self.names(),
                            self.origin()
                        ),
                    ));
                }
                // A given schema chooses the columns: this one is left out.
                columns.push(Field::new(format!("column {i}"), DataType::Utf8, true));
                continue;
            };
            if !seen.insert(*h) {
                return Err(Error::bad_data(
                    uri,
                    format!("its header names column {h:?} twice"),
                ));
            }
            columns.push(field.as_ref().clone());
            keep.push(i);
        }
        if let Some(f) = fields
            .iter()
            .find(|f| !f.is_nullable() && !seen.contains(f.name().as_str()))
        {
            return Err(Error::bad_data(
                uri,
                format!(
                    "its header lacks column {:?}, which may not be null",
                    f.name()
                ),
            ));
        }
        Ok(Some((Arc::new(Schema::new(columns)), keep)))
    }
}

/// `batch`'s columns in `schema`'s order, by name; a column it lacks is null.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> std::result::Result<RecordBatch, ArrowError> {
    let n = batch.num_rows();
    let columns = schema
        .fields()
        .iter()
        .map(|f| {
            batch
                .column_by_name(f.name())
                .cloned()
                .unwrap_or_else(|| new_null_array(f.data_type(), n))
        })
        .collect();
    RecordBatch::try_new(schema.clone(), columns)
}

/// Reads a decoded file ([`decoded`](crate::read::stream::decoded)) as
/// batches of at most `batch_rows` rows of the table's schema, handing each
/// to `emit`; returns the number of records.
pub fn read_file(
    format: InputFormat,
    uri: &str,
    mut text: Box<dyn BufRead + Send>,
    table: &TextSchema,
    batch_rows: usize,
    emit: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<u64> {
    let bad = |e: ArrowError| {
        let hint = if table.given {
            String::new()
        } else {
            " (if the sampled schema is wrong, give it in source.schema)".to_string()
        };
        Error::bad_data(uri, format!("{e}{hint}"))
    };
    let schema = &table.schema;
    let mut reorder = None;
    let batches: Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>>> =
        match format {
            InputFormat::Ndjson => Box::new(
                arrow::json::ReaderBuilder::new(schema.clone())
                    .with_batch_size(batch_rows)
                    // A key the sample did not see would be dropped silently.
                    .with_strict_mode(!table.given)
                    .build(text)
                    .map_err(bad)?,
            ),
            InputFormat::Csv => {
                let mut header = Vec::new();
                text.read_until(b'\n', &mut header)
                    .map_err(|e| Error::bad_data(uri, format!("cannot read its header: {e}")))?;
                let mut builder = arrow::csv::ReaderBuilder::new(schema.clone());
                if let Some((columns, keep)) = table.csv_columns(uri, &header)? {
                    builder = arrow::csv::ReaderBuilder::new(columns).with_projection(keep);
                    reorder = Some(schema.clone());
                }
                Box::new(
                    builder
                        .with_header(true)
                        .with_batch_size(batch_rows)
                        .build(std::io::Cursor::new(header).chain(text))
                        .map_err(bad)?,
                )
            }
            InputFormat::Parquet => unreachable!("Parquet files are read by parquet_io"),
        };
    let mut n = 0;
    for b in batches {
        let mut b = b.map_err(bad)?;
        if let Some(schema) = &reorder {
            b = conform(b, schema).map_err(bad)?;
        }
        n += b.num_rows() as u64;
        emit(b)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use std::io::Write;

    fn gz(text: &str) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn csv_decimals_stay_exact_and_zoned_timestamps_are_instants() {
        let csv = "id,amount,ratio,at,local\n\
                   1,12.50,1e3,2024-01-13T12:30:00Z,2024-01-13 12:30:00\n\
                   2,-3.1,2.5,2024-01-13 14:30:00+02:00,2024-01-13 12:31:00\n";
        let schema = infer(
            InputFormat::Csv,
            "*",
            &[("c".into(), csv.as_bytes().to_vec())],
        )
        .unwrap();
        let t = |c: &str| schema.field_with_name(c).unwrap().data_type().clone();
        assert_eq!(t("amount"), DataType::Decimal128(4, 2));
        assert_eq!(
            t("ratio"),
            DataType::Float64,
            "an exponent is no plain decimal"
        );
        assert_eq!(
            t("at"),
            DataType::Timestamp(arrow::datatypes::TimeUnit::Second, Some("+00:00".into()))
        );
        assert_eq!(
            t("local"),
            DataType::Timestamp(arrow::datatypes::TimeUnit::Second, None)
        );
        let table = TextSchema {
            schema,
            given: false,
        };
        let mut batches = Vec::new();
        read_file(
            InputFormat::Csv,
            "c",
            Box::new(csv.as_bytes()),
            &table,
            10,
            &mut |b| {
                batches.push(b);
                Ok(())
            },
        )
        .unwrap();
        let b = &batches[0];
        let amount = b
            .column(1)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        assert_eq!((amount.value(0), amount.value(1)), (1250, -310));
        let at = b
            .column(3)
            .as_primitive::<arrow::datatypes::TimestampSecondType>();
        assert_eq!((at.value(0), at.value(1)), (1_705_149_000, 1_705_149_000));
    }

    #[test]
    fn ndjson_and_csv_infer_and_read() {
        let nd = "{\"id\": 1, \"x\": 1.5, \"s\": \"a\"}\n{\"id\": 2, \"s\": null}\n";
        let text = decode("f.ndjson.gz", &gz(nd), false).unwrap();
        let schema = infer(InputFormat::Ndjson, "*", &[("f".into(), text.clone())]).unwrap();
        assert_eq!(
            schema.field_with_name("id").unwrap().data_type(),
            &DataType::Int64
        );
        let mut rows = Vec::new();
        let schema = TextSchema {
            schema,
            given: false,
        };
        let n = read_file(
            InputFormat::Ndjson,
            "f",
            Box::new(std::io::Cursor::new(text)),
            &schema,
            1,
            &mut |b| {
                rows.push(b);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!((n, rows.len()), (2, 2));
        let csv = "id,name\n1,\"a, b\"\n2,c\n";
        let schema = infer(
            InputFormat::Csv,
            "*",
            &[("c".into(), csv.as_bytes().to_vec())],
        )
        .unwrap();
        let schema = TextSchema {
            schema,
            given: false,
        };
        let mut names = Vec::new();
        read_file(
            InputFormat::Csv,
            "c",
            Box::new(csv.as_bytes()),
            &schema,
            10,
            &mut |b| {
                names.extend(
                    b.column(1)
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.unwrap().to_string()),
                );
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(names, ["a, b", "c"]);
    }

    #[test]
    fn partial_samples_end_at_a_line_and_types_parse() {
        let text = gz("{\"a\": 1}\n{\"a\": 2}\n{\"a\": 3}\n");
        let cut = decode("f.json.gz", &text[..text.len() - 4], true).unwrap();
        assert!(cut.ends_with(b"\n"));
        assert_eq!(
            decode("f.json", b"{\"a\": 1}\n{\"a\"", true).unwrap(),
            b"{\"a\": 1}\n"
        );
        assert_eq!(
            decode("f.csv", b"\xEF\xBB\xBFid,x\n1,2\n", false).unwrap(),
            b"id,x\n1,2\n"
        );
        assert_eq!(
            decode("f.csv.gz", &gz("\u{feff}id\n1\n"), true).unwrap(),
            b"id\n1\n"
        );
        let e = decode("f.csv.gz", b"nope", false).unwrap_err().to_string();
        assert!(e.starts_with("f.csv.gz: not a readable gzip file"), "{e}");
    }
}
