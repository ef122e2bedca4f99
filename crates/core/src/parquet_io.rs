//! Parquet over [`Storage`](crate::storage::Storage): ranged reads through the
//! async reader, streaming writes through the async writer.
//!
//! Reading fetches the footer first (one ranged read of the tail), then only
//! the column chunks a stream needs. Writing hands encoded bytes to an
//! [`ObjectWriter`] as row groups complete, so a file is never held whole in
//! memory; on any error the object is aborted and nothing is published.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::arrow::async_writer::{AsyncArrowWriter, AsyncFileWriter};
use parquet::basic::{Compression as PqCompression, GzipLevel, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::{KeyValue, ParquetMetaData, ParquetMetaDataReader};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterPropertiesBuilder};

use crate::checksum::Checksum;
use crate::config::{Compression, Output};
use crate::error::{Error, Result};
use crate::storage::{ObjectMeta, ObjectWriter, StorageRef};
use crate::tasks::Spawned;

/// Key of the Parquet key-value metadata entry holding the record count.
pub const N_RECORD_KEY: &str = "dbsnaplake.n_record";
/// Key of the Parquet key-value metadata entry holding the file's content
/// [`Checksum`].
pub const CHECKSUM_KEY: &str = "dbsnaplake.checksum";
/// Key of the object metadata holding the record count (S3 returns it as
/// `x-amz-meta-n_record`), as the original dbsnaplake recorded it.
pub const OBJECT_N_RECORD_KEY: &str = "n_record";

/// A Parquet file in a [`Storage`](crate::storage::Storage), read by ranges
/// (or from its bytes, when they were fetched whole beforehand).
pub struct ObjectReader {
    store: StorageRef,
    uri: String,
    size: u64,
    etag: Option<String>,
    whole: Option<Bytes>,
    /// Most bytes of the row group being read and the next one, fetched
    /// ahead, together; 0: none is fetched ahead.
    ahead_max: u64,
    /// Byte span of each row group, every column (known once the footer is).
    row_groups: Vec<Range<u64>>,
    /// The row group being fetched ahead: its span and the fetch.
    ahead: Option<(Range<u64>, Spawned<Result<Bytes>>)>,
}

impl ObjectReader {
    /// A reader of `uri`, whose size is known (from a manifest or a listing).
    pub fn new(store: StorageRef, uri: &str, size: u64) -> Self {
        ObjectReader {
            store,
            uri: uri.to_string(),
            size,
            etag: None,
            whole: None,
            ahead_max: 0,
            row_groups: Vec::new(),
            ahead: None,
        }
    }

    /// Fetches each row group while the one before it is decoded, when the
    /// two hold at most `max` bytes, so that a large file read row group by
    /// row group does not wait for every fetch in turn. It fetches every
    /// column of the row group, so it is meant for reads of every column.
    pub fn with_read_ahead(mut self, max: u64) -> Self {
        self.ahead_max = max;
        self
    }

    /// Serves every read from `bytes`, the whole object already fetched.
    pub fn with_bytes(mut self, bytes: Bytes) -> Self {
        self.whole = Some(bytes);
        self
    }

    /// Fails every read once the object's entity tag is no longer `etag`
    /// (the file changed since the manifest was made).
    pub fn with_etag(mut self, etag: Option<String>) -> Self {
        self.etag = etag;
        self
    }

    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        match &self.whole {
            Some(whole) => slice_of(whole, &self.uri, range),
            None => {
                self.store
                    .get_range_if(&self.uri, range, self.size, self.etag.as_deref())
                    .await
            }
        }
    }

    /// The bytes of `ranges` if they lie in the row group fetched ahead; the
    /// fetch of the row group after it then starts. A fetch ahead that does
    /// not hold them is dropped (stopped).
    async fn fetched_ahead(&mut self, ranges: &[Range<u64>]) -> Result<Option<Vec<Bytes>>> {
        let Some((span, fetch)) = self.ahead.take() else {
            return Ok(None);
        };
        if !ranges
            .iter()
            .all(|r| span.start <= r.start && r.end <= span.end)
        {
            return Ok(None);
        }
        let bytes = fetch.join(&format!("reading {}", self.uri)).await??;
        self.start_ahead(span.clone());
        Ok(Some(
            ranges
                .iter()
                .map(|r| {
                    bytes.slice((r.start - span.start) as usize..(r.end - span.start) as usize)
                })
                .collect(),
        ))
    }

    /// Starts fetching the row group after the bytes `current` being read,
    /// if there is one and the two together are at most the read-ahead's
    /// bytes: a file read by row groups never holds more fetched bytes than
    /// one fetched whole ahead of its turn.
    fn start_ahead(&mut self, current: Range<u64>) {
        let next = self.row_groups.iter().find(|rg| rg.start >= current.end);
        let held = current.end - current.start;
        if let Some(span) = next.filter(|rg| held + (rg.end - rg.start) <= self.ahead_max) {
            let (store, uri, size, etag) = (
                self.store.clone(),
                self.uri.clone(),
                self.size,
                self.etag.clone(),
            );
            let range = span.clone();
            let fetch = Spawned::new(async move {
                store.get_range_if(&uri, range, size, etag.as_deref()).await
            });
            self.ahead = Some((span.clone(), fetch));
        }
    }
}

/// `range` of an object's bytes; a range past the end names the object.
fn slice_of(whole: &Bytes, uri: &str, range: Range<u64>) -> Result<Bytes> {
    let len = whole.len() as u64;
    if range.start > range.end || range.end > len {
        return Err(Error::bad_data(
            uri,
            format!(
                "a read of bytes {}..{} is past the end of the object ({len} bytes)",
                range.start, range.end
            ),
        ));
    }
    Ok(whole.slice(range.start as usize..range.end as usize))
}

fn to_pq(e: Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for ObjectReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move { self.read(range).await.map_err(to_pq) }.boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            if let Some(fetched) = self.fetched_ahead(&ranges).await.map_err(to_pq)? {
                return Ok(fetched);
            }
            if let (Some(start), Some(end)) = (
                ranges.iter().map(|r| r.start).min(),
                ranges.iter().map(|r| r.end).max(),
            ) {
                self.start_ahead(start..end);
            }
            // Column chunks of one row group are usually adjacent: read them
            // with one request per contiguous run instead of one per chunk.
            let mut out = Vec::with_capacity(ranges.len());
            let mut i = 0;
            while i < ranges.len() {
                let mut j = i + 1;
                while j < ranges.len() && ranges[j].start == ranges[j - 1].end {
                    j += 1;
                }
                let whole = ranges[i].start..ranges[j - 1].end;
                let data = self.read(whole.clone()).await.map_err(to_pq)?;
                for r in &ranges[i..j] {
                    let a = (r.start - whole.start) as usize;
                    let b = (r.end - whole.start) as usize;
                    out.push(data.slice(a..b));
                }
                i = j;
            }
            Ok(out)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let meta = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(64 * 1024))
                .load_and_finish(&mut *self, size)
                .await?;
            if self.ahead_max > 0 {
                self.row_groups = meta
                    .row_groups()
                    .iter()
                    .filter_map(|rg| {
                        let spans = rg.columns().iter().map(|c| {
                            let (start, len) = c.byte_range();
                            start..start + len
                        });
                        let start = spans.clone().map(|r| r.start).min()?;
                        Some(start..spans.map(|r| r.end).max()?)
                    })
                    .collect();
            }
            Ok(Arc::new(meta))
        }
        .boxed()
    }
}

/// Unwraps a Parquet error into ours, keeping a storage error as it was (so a
/// missing file stays "not found" and a reset stays transient).
pub(crate) fn from_pq(uri: &str, e: ParquetError) -> Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::parquet(uri, ParquetError::External(other)),
        },
        e => Error::parquet(uri, e),
    }
}

/// Reads the footer of a Parquet file (one or two ranged reads).
pub async fn read_footer(store: &StorageRef, uri: &str, size: u64) -> Result<Arc<ParquetMetaData>> {
    let mut r = ObjectReader::new(store.clone(), uri, size);
    match r.get_metadata(None).await {
        Ok(meta) => Ok(meta),
        Err(e) => Err(footer_error(store, uri, size, e).await),
    }
}

/// Says plainly why a footer did not load when the file is not Parquet at
/// all (empty, or without the trailing `PAR1` magic, as a truncated file);
/// storage errors and other decoding errors pass through.
async fn footer_error(store: &StorageRef, uri: &str, size: u64, e: ParquetError) -> Error {
    let e = from_pq(uri, e);
    if !matches!(e, Error::Parquet { .. }) {
        return e;
    }
    if size == 0 {
        return Error::bad_data(uri, "an empty file (0 bytes) is not Parquet");
    }
    let tail = match size.checked_sub(4) {
        Some(start) => store.get_range(uri, start..size).await.ok(),
        None => None,
    };
    if tail.as_deref() != Some(b"PAR1".as_slice()) {
        return Error::bad_data(
            uri,
            "not a Parquet file, or a truncated one: it does not end with the PAR1 magic",
        );
    }
    e
}

/// The content [`Checksum`] a footer records, if the file was written by a
/// [`FileWriter`].
pub fn footer_checksum(meta: &ParquetMetaData) -> Option<Checksum> {
    meta.file_metadata()
        .key_value_metadata()?
        .iter()
        .find(|kv| kv.key == CHECKSUM_KEY)?
        .value
        .as_deref()?
        .parse()
        .ok()
}

/// The Arrow schema of a file's footer as the planner takes it: what the
/// reader decodes (`schema`), but with INT96 columns (older Spark, Hive and
/// Impala timestamps, instants in UTC, which Arrow reads as nanoseconds
/// without a zone) marked UTC, so the lake keeps their meaning.
pub fn planned_schema(schema: &SchemaRef, footer: &ParquetMetaData) -> SchemaRef {
    let descr = footer.file_metadata().schema_descr();
    let int96: Vec<&str> = descr
        .columns()
        .iter()
        .filter(|c| c.physical_type() == parquet::basic::Type::INT96 && c.path().parts().len() == 1)
        .map(|c| c.name())
        .collect();
    if int96.is_empty() {
        return schema.clone();
    }
    let fields: Vec<arrow::datatypes::Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            arrow::datatypes::DataType::Timestamp(unit, None)
                if int96.contains(&f.name().as_str()) =>
            {
                f.as_ref()
                    .clone()
                    .with_data_type(arrow::datatypes::DataType::Timestamp(
                        *unit,
                        Some("+00:00".into()),
                    ))
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(arrow::datatypes::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ))
}

/// Opens a Parquet file for streaming record batches; with an `etag`, every
/// read checks the file has not changed since the manifest listed it.
pub async fn open(
    store: &StorageRef,
    uri: &str,
    size: u64,
    etag: Option<&str>,
) -> Result<ParquetRecordBatchStreamBuilder<ObjectReader>> {
    open_reader(ObjectReader::new(store.clone(), uri, size).with_etag(etag.map(str::to_string)))
        .await
}

/// Opens the Parquet file `reader` reads for streaming record batches.
pub async fn open_reader(
    reader: ObjectReader,
) -> Result<ParquetRecordBatchStreamBuilder<ObjectReader>> {
    let (store, uri, size) = (reader.store.clone(), reader.uri.clone(), reader.size);
    match ParquetRecordBatchStreamBuilder::new(reader).await {
        Ok(builder) => Ok(builder),
        Err(e) => Err(footer_error(&store, &uri, size, e).await),
    }
}

/// Writer properties for manifests and generated snapshot files.
pub fn writer_properties(compression: Compression) -> WriterProperties {
    properties(codec(compression), 1024 * 1024).build()
}

/// Rows per data page of a staging file.
pub const STAGING_PAGE_ROWS: usize = 1024;

/// Writer properties for staging files, which only compaction reads, once
/// and whole: snappy (they stay about the size of the lake files they
/// become, which is how step 2.1 sizes lake files), but no dictionaries and
/// no statistics. A staging file holds one flush of one partition (tens of
/// thousands of rows), too few for dictionaries to pay: building them cost
/// ~5% of a run, and compaction re-encodes every value anyway. Pages are
/// small ([`STAGING_PAGE_ROWS`]): a compaction merge decodes the current page
/// of every input whole, and may have hundreds of inputs.
pub fn staging_writer_properties() -> WriterProperties {
    properties(PqCompression::SNAPPY, 1024 * 1024)
        .set_data_page_row_count_limit(STAGING_PAGE_ROWS)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .build()
}

/// Writer properties for lake files, from the job's `output`; refuses what
/// [`Output::check`] refuses.
pub fn lake_writer_properties(output: &Output) -> std::result::Result<WriterProperties, String> {
    output.check()?;
    let codec = match (output.compression, output.compression_level) {
        (Compression::Zstd, Some(level)) => PqCompression::ZSTD(
            ZstdLevel::try_new(level).map_err(|e| format!("compression_level: {e}"))?,
        ),
        (Compression::Gzip, Some(level)) => PqCompression::GZIP(
            GzipLevel::try_new(level.unsigned_abs())
                .map_err(|e| format!("compression_level: {e}"))?,
        ),
        (c, _) => codec(c),
    };
    Ok(properties(codec, output.row_group_rows)
        .set_dictionary_enabled(output.dictionary)
        .set_statistics_enabled(if output.statistics {
            EnabledStatistics::Chunk
        } else {
            EnabledStatistics::None
        })
        .build())
}

fn codec(compression: Compression) -> PqCompression {
    match compression {
        Compression::Snappy => PqCompression::SNAPPY,
        Compression::Zstd => PqCompression::ZSTD(ZstdLevel::default()),
        Compression::Gzip => PqCompression::GZIP(Default::default()),
        Compression::Lz4 => PqCompression::LZ4_RAW,
        Compression::None => PqCompression::UNCOMPRESSED,
    }
}

fn properties(codec: PqCompression, row_group_rows: usize) -> WriterPropertiesBuilder {
    WriterProperties::builder()
        .set_compression(codec)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_created_by(format!("dbsnaplake {}", env!("CARGO_PKG_VERSION")))
}

/// Lets the async Arrow writer stream into an [`ObjectWriter`].
struct Sink(Box<dyn ObjectWriter>);

impl AsyncFileWriter for Sink {
    fn write(&mut self, bs: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move { self.0.write(bs).await.map_err(to_pq) }.boxed()
    }
    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        // Publishing happens in `FileWriter::finish`, after the footer is out.
        async { Ok(()) }.boxed()
    }
}

/// Starts the data file `uri`, which will hold `n_record` rows: the count
/// goes into the object's metadata.
pub(crate) async fn counted_sink(
    store: &StorageRef,
    uri: &str,
    n_record: u64,
) -> Result<Box<dyn ObjectWriter>> {
    let meta = vec![(OBJECT_N_RECORD_KEY.to_string(), n_record.to_string())];
    store.data_writer(uri, meta).await
}

/// Refuses to publish `uri` when `rows` were written where `expected` were
/// announced (in the object's metadata).
pub(crate) fn check_announced(uri: &str, rows: u64, expected: u64) -> Result<()> {
    if rows == expected {
        return Ok(());
    }
    Err(Error::Internal(format!(
        "{uri}: {rows} rows written where {expected} were announced; nothing was published"
    )))
}

/// A Parquet file being written to storage.
pub struct FileWriter {
    uri: String,
    inner: AsyncArrowWriter<Sink>,
    rows: u64,
    expected_rows: Option<u64>,
    checksum: Checksum,
}

/// What a finished [`FileWriter`] produced.
#[derive(Debug, Clone)]
pub struct Written {
    /// The object.
    pub meta: ObjectMeta,
    /// Rows written.
    pub n_record: u64,
    /// Content checksum of the rows written.
    pub checksum: Checksum,
}

impl FileWriter {
    /// Starts writing `uri` with `schema`.
    pub async fn create(
        store: &StorageRef,
        uri: &str,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Result<FileWriter> {
        Self::start(store.writer(uri).await?, uri, schema, props, None)
    }

    /// Starts writing `uri`, which will hold exactly `n_record` rows: the
    /// count goes into the object's metadata, and [`finish`](Self::finish)
    /// fails (publishing nothing) if another number of rows was written.
    pub async fn create_counted(
        store: &StorageRef,
        uri: &str,
        schema: SchemaRef,
        props: WriterProperties,
        n_record: u64,
    ) -> Result<FileWriter> {
        let sink = counted_sink(store, uri, n_record).await?;
        Self::start(sink, uri, schema, props, Some(n_record))
    }

    fn start(
        sink: Box<dyn ObjectWriter>,
        uri: &str,
        schema: SchemaRef,
        props: WriterProperties,
        expected_rows: Option<u64>,
    ) -> Result<FileWriter> {
        let inner = AsyncArrowWriter::try_new(Sink(sink), schema, Some(props))
            .map_err(|e| Error::parquet(uri, e))?;
        Ok(FileWriter {
            uri: uri.to_string(),
            inner,
            rows: 0,
            expected_rows,
            checksum: Checksum::default(),
        })
    }

    /// Appends a batch. On error, call [`abort`](Self::abort).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.checksum
            .add_batch(batch)
            .map_err(|e| Error::arrow(&self.uri, e))?;
        self.inner
            .write(batch)
            .await
            .map_err(|e| from_pq(&self.uri, e))
    }

    /// Bytes written plus the size of the row group in progress.
    pub fn approx_size(&self) -> u64 {
        (self.inner.bytes_written() + self.inner.in_progress_size()) as u64
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Writes the footer and publishes the object.
    pub async fn finish(mut self) -> Result<Written> {
        if let Some(expected) = self.expected_rows
            && let Err(e) = check_announced(&self.uri, self.rows, expected)
        {
            self.abort().await;
            return Err(e);
        }
        self.inner.append_key_value_metadata(KeyValue::new(
            N_RECORD_KEY.to_string(),
            self.rows.to_string(),
        ));
        self.inner.append_key_value_metadata(KeyValue::new(
            CHECKSUM_KEY.to_string(),
            self.checksum.to_string(),
        ));
        if let Err(e) = self.inner.finish().await {
            let mut sink = self.inner.into_inner();
            sink.0.abort().await.ok();
            return Err(from_pq(&self.uri, e));
        }
        let mut sink = self.inner.into_inner();
        let meta = sink.0.finish().await?;
        Ok(Written {
            meta,
            n_record: self.rows,
            checksum: self.checksum,
        })
    }

    /// Drops the file; nothing is published.
    pub async fn abort(self) {
        let mut sink = self.inner.into_inner();
        sink.0.abort().await.ok();
    }
}

/// Writes `batches` as one Parquet file, aborting on any error.
pub async fn write_file(
    store: &StorageRef,
    uri: &str,
    schema: SchemaRef,
    props: WriterProperties,
    batches: &[RecordBatch],
) -> Result<Written> {
    let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
    let mut w = FileWriter::create_counted(store, uri, schema, props, rows).await?;
    for b in batches {
        if let Err(e) = w.write(b).await {
            w.abort().await;
            return Err(e);
        }
    }
    w.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    /// `batch` written with `props`, opened for reading.
    fn written(batch: &RecordBatch, props: WriterProperties) -> SerializedFileReader<Bytes> {
        let mut out = Vec::new();
        let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
        w.write(batch).unwrap();
        w.close().unwrap();
        SerializedFileReader::new(Bytes::from(out)).unwrap()
    }

    fn encode(props: WriterProperties) -> ParquetMetaData {
        let status: ArrayRef = Arc::new(StringArray::from(vec!["paid", "open", "paid", "paid"]));
        let id: ArrayRef = Arc::new(Int64Array::from(vec![7, 7, 8, 7]));
        let batch = RecordBatch::try_from_iter([("status", status), ("id", id)]).unwrap();
        written(&batch, props).metadata().clone()
    }

    #[test]
    fn staging_files_skip_dictionaries_and_statistics_lake_files_keep_them() {
        let staging = encode(staging_writer_properties());
        let lake = encode(lake_writer_properties(&Output::default()).unwrap());
        for (meta, expect) in [(staging, false), (lake, true)] {
            for c in meta.row_group(0).columns() {
                assert_eq!(c.compression(), PqCompression::SNAPPY);
                assert_eq!(c.dictionary_page_offset().is_some(), expect, "{c:?}");
                assert_eq!(c.statistics().is_some(), expect, "{c:?}");
            }
        }
    }

    #[test]
    fn staging_pages_hold_at_most_staging_page_rows() {
        let n = 5 * STAGING_PAGE_ROWS + 1;
        let id: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
        let batch = RecordBatch::try_from_iter([("id", id)]).unwrap();
        let pages: Vec<usize> = written(&batch, staging_writer_properties())
            .get_row_group(0)
            .unwrap()
            .get_column_page_reader(0)
            .unwrap()
            .map(|p| p.unwrap().num_values() as usize)
            .collect();
        assert_eq!(pages.len(), 6, "{pages:?}");
        assert!(pages.iter().all(|&v| v <= STAGING_PAGE_ROWS), "{pages:?}");
        assert_eq!(pages.iter().sum::<usize>(), n);
    }
}
