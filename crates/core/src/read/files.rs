//! One reader per format of snapshot files, behind [`FileReader`]: a
//! staging worker asks [`for_table`] for its table's reader and hands every
//! file of its group to it. Adding a format touches its module, this one
//! and the config only.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use bytes::Bytes;
use futures::TryStreamExt;

use crate::config::{DataFormat, Nanoseconds};
use crate::error::{Error, Result};
use crate::manifest::DataFile;
use crate::parquet_io::{ObjectReader, from_pq, open_reader};
use crate::read::{dynamodb, stream, text};
use crate::schema::{ResolvedTable, check_same_schema, conform};
use crate::storage::{StorageRef, is_s3};

/// Rows per batch read from a snapshot file.
pub const READ_BATCH_ROWS: usize = 64 * 1024;

/// Largest snapshot file a staging worker fetches whole ahead of its turn,
/// and most bytes of a bigger Parquet file's row groups it holds at once
/// (the one decoding and the next, fetched ahead).
pub const READ_AHEAD_MAX: u64 = 64 * 1024 * 1024;

/// Where a reader hands the batches it decodes, one at a time.
#[async_trait]
pub trait Sink: Send {
    /// Takes one batch read from `uri`.
    async fn add(&mut self, batch: RecordBatch, uri: &str) -> Result<()>;
}

/// Reads the snapshot files of one table, of one format.
#[async_trait]
pub trait FileReader: Send {
    /// Reads `f` (from its `bytes` when they were fetched ahead) into
    /// `sink`, in the table's schema; returns its record count.
    async fn read(
        &mut self,
        f: &DataFile,
        bytes: Option<Bytes>,
        sink: &mut dyn Sink,
    ) -> Result<u64>;
}

/// The reader of `table`'s files in the source's `format`, with the schema
/// step 1.1 `resolved` for the table (`schemas` names where it is recorded,
/// for the error when it is missing; Parquet files can do without: their
/// footers must then agree). `nanoseconds` says whether digits below the
/// microsecond are dropped or refused.
pub fn for_table(
    store: &StorageRef,
    format: DataFormat<'_>,
    table: &str,
    resolved: Option<&ResolvedTable>,
    schemas: &str,
    nanoseconds: Nanoseconds,
) -> Result<Box<dyn FileReader>> {
    let missing = |what: &str| {
        Error::bad_data(
            schemas,
            format!("no {what} of table {table}: plan the snapshot again (step 1.1)"),
        )
    };
    let store = store.clone();
    Ok(match format {
        DataFormat::Parquet => Box::new(ParquetFiles {
            store,
            table: table.to_string(),
            planned: resolved.map(|r| r.schema(table)).transpose()?,
            first: None,
            truncate: nanoseconds == Nanoseconds::Truncate,
        }),
        DataFormat::Text { format, schema } => {
            let resolved = resolved.ok_or_else(|| missing("schema"))?;
            let schema = text::TextSchema {
                schema: resolved.schema(table)?,
                given: schema.is_some(),
            };
            Box::new(TextFiles {
                store,
                format,
                schema: Arc::new(schema),
            })
        }
        DataFormat::DynamodbJson => {
            let columns = resolved
                .and_then(|r| r.attributes.clone())
                .ok_or_else(|| missing("DynamoDB attribute types"))?;
            Box::new(DynamodbFiles {
                store,
                columns: Arc::new(columns),
            })
        }
    })
}

/// Parquet files: read by ranges (or from their fetched bytes), conformed
/// to the planned schema, or all of one schema when none was planned.
struct ParquetFiles {
    store: StorageRef,
    table: String,
    planned: Option<SchemaRef>,
    /// Without a plan: the first file's schema and URI.
    first: Option<(SchemaRef, String)>,
    /// Nanoseconds are truncated to microseconds rather than refused.
    truncate: bool,
}

#[async_trait]
impl FileReader for ParquetFiles {
    async fn read(
        &mut self,
        f: &DataFile,
        bytes: Option<Bytes>,
        sink: &mut dyn Sink,
    ) -> Result<u64> {
        let reader =
            ObjectReader::new(self.store.clone(), &f.uri, f.size).with_etag(f.etag.clone());
        let builder = open_reader(match bytes {
            Some(b) => reader.with_bytes(b),
            None if is_s3(&f.uri) => reader.with_read_ahead(READ_AHEAD_MAX),
            None => reader,
        })
        .await?;
        let rows = builder.metadata().file_metadata().num_rows() as u64;
        if let Some(expected) = f.n_record
            && expected != rows
        {
            return Err(Error::bad_data(
                &f.uri,
                format!("the manifest says {expected} records but the file holds {rows}"),
            ));
        }
        if self.planned.is_none() {
            let schema = builder.schema().clone();
            match &self.first {
                Some((first, first_uri)) => {
                    check_same_schema(&self.table, first, first_uri, &schema, &f.uri)?
                }
                None => self.first = Some((schema, f.uri.clone())),
            }
        }
        let mut stream = builder
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(|e| from_pq(&f.uri, e))?;
        while let Some(batch) = stream.try_next().await.map_err(|e| from_pq(&f.uri, e))? {
            let batch = match &self.planned {
                Some(schema) if self.truncate => {
                    conform(&truncate_nanos(&batch), schema, &self.table, &f.uri)?
                }
                Some(schema) => conform(&batch, schema, &self.table, &f.uri)?,
                None => batch,
            };
            sink.add(batch, &f.uri).await?;
        }
        Ok(rows)
    }
}

/// `batch` with its nanosecond timestamps in microseconds, each the
/// microsecond at or before it.
fn truncate_nanos(batch: &RecordBatch) -> RecordBatch {
    use arrow::array::{Array, AsArray, PrimitiveArray};
    use arrow::datatypes::{
        DataType, Field, Schema, TimeUnit, TimestampMicrosecondType, TimestampNanosecondType,
    };
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in batch.schema().fields().iter().zip(batch.columns()) {
        match c.data_type() {
            DataType::Timestamp(TimeUnit::Nanosecond, tz) => {
                let us: PrimitiveArray<TimestampMicrosecondType> = c
                    .as_primitive::<TimestampNanosecondType>()
                    .unary(|v| v.div_euclid(1000));
                let us = us.with_timezone_opt(tz.clone());
                fields.push(Field::new(f.name(), us.data_type().clone(), true));
                columns.push(Arc::new(us) as arrow::array::ArrayRef);
            }
            _ => {
                fields.push(f.as_ref().clone());
                columns.push(c.clone());
            }
        }
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("one column per field")
}

/// NDJSON or CSV files, read against the table's resolved schema.
struct TextFiles {
    store: StorageRef,
    format: crate::config::InputFormat,
    schema: Arc<text::TextSchema>,
}

#[async_trait]
impl FileReader for TextFiles {
    async fn read(
        &mut self,
        f: &DataFile,
        bytes: Option<Bytes>,
        sink: &mut dyn Sink,
    ) -> Result<u64> {
        let (format, schema) = (self.format, self.schema.clone());
        read_blocking(&self.store, f, bytes, sink, move |uri, decoded, emit| {
            text::read_file(format, &uri, decoded, &schema, READ_BATCH_ROWS, &mut |b| {
                emit.send(b)
            })
        })
        .await
    }
}

/// DynamoDB JSON files, read against the table's attribute types; each
/// must hold the items the export's manifest says.
struct DynamodbFiles {
    store: StorageRef,
    columns: Arc<dynamodb::Columns>,
}

#[async_trait]
impl FileReader for DynamodbFiles {
    async fn read(
        &mut self,
        f: &DataFile,
        bytes: Option<Bytes>,
        sink: &mut dyn Sink,
    ) -> Result<u64> {
        let columns = self.columns.clone();
        let n = read_blocking(&self.store, f, bytes, sink, move |uri, items, emit| {
            dynamodb::read_file(&uri, items, &columns, READ_BATCH_ROWS, &mut |b| {
                emit.send(b)
            })
        })
        .await?;
        dynamodb::check_count(f, n)?;
        Ok(n)
    }
}

/// Hands decoded batches from a blocking reader to the sink.
struct Emit(tokio::sync::mpsc::Sender<RecordBatch>);

impl Emit {
    fn send(&self, batch: RecordBatch) -> Result<()> {
        self.0
            .blocking_send(batch)
            .map_err(|_| Error::Internal("the staging worker stopped reading".into()))
    }
}

/// Decodes a text or DynamoDB JSON file with `decode` on a blocking thread,
/// which reads it as a stream ([`stream::read_decoded`]), so a file of any
/// size takes a few MiB. The batches come over one at a time through
/// [`Emit`] (at most two wait), so a file's rows are never all in memory as
/// Arrow.
async fn read_blocking<D>(
    store: &StorageRef,
    f: &DataFile,
    bytes: Option<Bytes>,
    sink: &mut dyn Sink,
    decode: D,
) -> Result<u64>
where
    D: FnOnce(String, Box<dyn std::io::BufRead + Send>, Emit) -> Result<u64> + Send + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let reading = stream::read_decoded(store, f, bytes, move |uri, decoded| {
        decode(uri, decoded, Emit(tx))
    });
    while let Some(batch) = rx.recv().await {
        sink.add(batch, &f.uri).await?;
    }
    reading.await
}
