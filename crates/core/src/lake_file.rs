//! A lake file being written in the job's output format: Parquet (through
//! [`FileWriter`]), or NDJSON / CSV text, optionally gzip. Text is encoded a
//! batch at a time and streamed to the object, never held whole; like
//! Parquet files, a text file records its row count in the object metadata,
//! is published only when complete, and has its content [`Checksum`]
//! computed as it is written (the datalake manifest records it, since text
//! has no footer to hold it).

use std::io::Write;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use bytes::Bytes;
use flate2::write::GzEncoder;
use parquet::file::properties::WriterProperties;

use crate::checksum::Checksum;
use crate::config::{Output, OutputFormat};
use crate::error::{Error, Result};
use crate::parquet_io::{FileWriter, Written, check_announced, counted_sink};
use crate::storage::{ObjectWriter, StorageRef};

/// The file extension of lake files in `output`'s format.
pub fn extension(output: &Output) -> &'static str {
    match (output.format, output.gzip) {
        (OutputFormat::Parquet | OutputFormat::Delta | OutputFormat::Iceberg, _) => "parquet",
        (OutputFormat::Ndjson, false) => "ndjson",
        (OutputFormat::Ndjson, true) => "ndjson.gz",
        (OutputFormat::Csv, false) => "csv",
        (OutputFormat::Csv, true) => "csv.gz",
    }
}

/// Whether a lake file holds its own row count and checksum (a Parquet
/// footer) or only its manifest row does.
pub fn has_footer(uri: &str) -> bool {
    uri.ends_with(".parquet")
}

/// Refuses a schema the output format cannot hold (CSV has no nested values,
/// Delta no nanosecond timestamps or unsigned 64-bit integers), before any
/// file is written.
pub fn check_schema(output: &Output, schema: &SchemaRef) -> std::result::Result<(), String> {
    if output.format == OutputFormat::Delta {
        return crate::delta::check_schema(schema);
    }
    if output.format != OutputFormat::Csv {
        return Ok(());
    }
    match schema.fields().iter().find(|f| f.data_type().is_nested()) {
        Some(f) => Err(format!(
            "CSV output cannot hold column {:?} of type {}; drop it or write NDJSON or Parquet",
            f.name(),
            f.data_type()
        )),
        None => Ok(()),
    }
}

/// One lake file being written.
pub enum LakeFile {
    /// Apache Parquet.
    Parquet(FileWriter),
    /// NDJSON or CSV.
    Text(TextWriter),
}

impl LakeFile {
    /// Starts `uri`, which will hold exactly `n_record` rows of `schema`.
    pub async fn create(
        store: &StorageRef,
        uri: &str,
        schema: SchemaRef,
        output: &Output,
        props: &WriterProperties,
        n_record: u64,
    ) -> Result<LakeFile> {
        Ok(match output.format {
            f if f.is_parquet() => LakeFile::Parquet(
                FileWriter::create_counted(store, uri, schema, props.clone(), n_record).await?,
            ),
            format => LakeFile::Text(TextWriter {
                uri: uri.to_string(),
                sink: counted_sink(store, uri, n_record).await?,
                csv: format == OutputFormat::Csv,
                gzip: output
                    .gzip
                    .then(|| GzEncoder::new(Vec::new(), flate2::Compression::default())),
                rows: 0,
                bytes: 0,
                expected_rows: n_record,
                checksum: Checksum::default(),
            }),
        })
    }

    /// Appends a batch. On error, call [`abort`](Self::abort).
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            LakeFile::Parquet(w) => w.write(batch).await,
            LakeFile::Text(w) => w.write(batch).await,
        }
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        match self {
            LakeFile::Parquet(w) => w.rows(),
            LakeFile::Text(w) => w.rows,
        }
    }

    /// Bytes the file comes to so far: written, plus what is encoded and
    /// not yet written (a Parquet row group in progress; text a gzip
    /// stream still holds is not counted).
    pub fn approx_size(&self) -> u64 {
        match self {
            LakeFile::Parquet(w) => w.approx_size(),
            LakeFile::Text(w) => w.bytes,
        }
    }

    /// Completes and publishes the file.
    pub async fn finish(self) -> Result<Written> {
        match self {
            LakeFile::Parquet(w) => w.finish().await,
            LakeFile::Text(w) => w.finish().await,
        }
    }

    /// Drops the file; nothing is published.
    pub async fn abort(self) {
        match self {
            LakeFile::Parquet(w) => w.abort().await,
            LakeFile::Text(mut w) => {
                w.sink.abort().await.ok();
            }
        }
    }
}

/// An NDJSON or CSV lake file being written.
pub struct TextWriter {
    uri: String,
    sink: Box<dyn ObjectWriter>,
    csv: bool,
    gzip: Option<GzEncoder<Vec<u8>>>,
    rows: u64,
    bytes: u64,
    expected_rows: u64,
    checksum: Checksum,
}

impl TextWriter {
    async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let uri = self.uri.clone();
        let arrow = |e| Error::arrow(&uri, e);
        self.checksum.add_batch(batch).map_err(arrow)?;
        let mut text = Vec::new();
        if self.csv {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(self.rows == 0)
                .build(&mut text);
            w.write(batch).map_err(arrow)?;
        } else {
            let mut w = arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, arrow::json::writer::LineDelimited>(&mut text);
            w.write(batch).map_err(arrow)?;
            w.finish().map_err(arrow)?;
        }
        self.rows += batch.num_rows() as u64;
        let data = match &mut self.gzip {
            Some(gz) => {
                gz.write_all(&text).map_err(|e| Error::io(&self.uri, e))?;
                std::mem::take(gz.get_mut())
            }
            None => text,
        };
        if data.is_empty() {
            return Ok(());
        }
        self.bytes += data.len() as u64;
        self.sink.write(Bytes::from(data)).await
    }

    async fn finish(mut self) -> Result<Written> {
        if let Err(e) = check_announced(&self.uri, self.rows, self.expected_rows) {
            self.sink.abort().await.ok();
            return Err(e);
        }
        if let Some(gz) = self.gzip.take() {
            let rest = match gz.finish() {
                Ok(rest) => rest,
                Err(e) => {
                    self.sink.abort().await.ok();
                    return Err(Error::io(&self.uri, e));
                }
            };
            if let Err(e) = self.sink.write(Bytes::from(rest)).await {
                self.sink.abort().await.ok();
                return Err(e);
            }
        }
        let meta = self.sink.finish().await?;
        Ok(Written {
            meta,
            n_record: self.rows,
            checksum: self.checksum,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::parquet_io::lake_writer_properties;
    use crate::storage::Stores;

    #[tokio::test]
    async fn only_a_file_with_the_announced_row_count_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let store: StorageRef = Arc::new(Stores::local());
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let ids = Arc::new(Int64Array::from(vec![1, 2]));
        let batch = RecordBatch::try_new(schema.clone(), vec![ids]).unwrap();
        for format in [
            OutputFormat::Parquet,
            OutputFormat::Ndjson,
            OutputFormat::Csv,
        ] {
            let output = Output {
                format,
                ..Output::default()
            };
            let props = lake_writer_properties(&output).unwrap();
            let uri = format!("{}/f.{}", dir.path().display(), extension(&output));
            for announced in [3, 2] {
                let mut w =
                    LakeFile::create(&store, &uri, schema.clone(), &output, &props, announced)
                        .await
                        .unwrap();
                w.write(&batch).await.unwrap();
                let done = w.finish().await;
                let published = store.head(&uri).await.unwrap();
                if announced == 2 {
                    assert_eq!(done.unwrap().n_record, 2);
                    assert!(published.is_some(), "{uri} was not published");
                } else {
                    let e = done.unwrap_err().to_string();
                    assert!(e.contains("2 rows written where 3 were announced"), "{e}");
                    assert!(published.is_none(), "{uri} was published");
                }
            }
        }
    }
}
