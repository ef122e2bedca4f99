//! Manifests in the seed's format: a summary JSON plus a data Parquet.
//!
//! The summary is `{"manifest": <uri of the data parquet>, "size": <bytes>,
//! "n_record": <rows>}` plus optional [`Details`] (ours: `fingerprint`,
//! `n_file`, and what each kind of manifest records).
//! The data Parquet has one row per file: `uri`, `size`, `n_record`, `etag`,
//! and optionally `table` (`database/schema/table`) and `partition` (the hive
//! path below the table, for staging and lake files).
//!
//! Writing puts the data Parquet first and the summary last, so a summary that
//! exists always points at a complete data file: the summary is the commit.
//! Reading accepts what the original Python dbsnaplake wrote (large strings,
//! any integer width, null counts).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::checksum::Checksum;
use crate::config::Compression;
use crate::config::types::AttrTypes;
use crate::error::{Error, Result};
use crate::parquet_io::{write_file, writer_properties};
use crate::storage::StorageRef;

/// One file listed by a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DataFile {
    /// Full URI of the file.
    pub uri: String,
    /// Size in bytes.
    pub size: u64,
    /// Number of records, when known.
    pub n_record: Option<u64>,
    /// Entity tag when the manifest was made.
    pub etag: Option<String>,
    /// The table (`database/schema/table`) the file belongs to, if the snapshot names tables.
    pub table: Option<String>,
    /// Hive partition path below the table (`year=2024/month=03`), for staging
    /// and lake files; `None` for snapshot files.
    pub partition: Option<String>,
    /// Content checksum of the rows, for staging and lake files.
    pub checksum: Option<Checksum>,
}

impl DataFile {
    /// A file with only its URI and size known.
    pub fn new(uri: impl Into<String>, size: u64) -> Self {
        DataFile {
            uri: uri.into(),
            size,
            n_record: None,
            etag: None,
            table: None,
            partition: None,
            checksum: None,
        }
    }
}

/// The summary JSON of a manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSummary {
    /// URI of the data Parquet.
    pub manifest: String,
    /// Total bytes of the listed files.
    pub size: u64,
    /// Total records of the listed files, when every file's count is known.
    pub n_record: Option<u64>,
    /// What ours record beyond the seed's fields.
    #[serde(flatten)]
    pub details: Details,
}

impl ManifestSummary {
    /// The fingerprint recorded in the details, if any.
    pub fn fingerprint(&self) -> Option<&str> {
        self.details.fingerprint.as_deref()
    }
}

/// What a summary records beyond the seed's `manifest`, `size` and
/// `n_record`, by the kind of manifest that carries it: the contract
/// between the step that writes a manifest and the steps that read it.
/// Every field is optional, so manifests of earlier versions and of the
/// original dbsnaplake read; fields of other writers are kept as read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Details {
    /// Every manifest written by [`write_manifest`]: the fingerprint of its
    /// files ([`fingerprint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Every manifest written by [`write_manifest`]: how many files it lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_file: Option<usize>,
    /// Group manifests (a planner's) and worker outputs.
    #[serde(flatten)]
    pub group: GroupDetails,
    /// Worker outputs (staging and datalake file groups).
    #[serde(flatten)]
    pub worker: WorkerDetails,
    /// The snapshot manifest step 0 writes.
    #[serde(flatten)]
    pub snapshot: SnapshotDetails,
    /// Anything else (another writer's fields), kept as read.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

/// The details of a group manifest, and of a worker's output for a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupDetails {
    /// The group's number, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<usize>,
    /// The table of its files (`database/schema/table`), when they have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// For a partition file group: the partition of its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
}

/// What a worker's output manifest records of the work.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerDetails {
    /// The fingerprint of the input group it was made from: the same input
    /// again finds its work done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_fingerprint: Option<String>,
    /// For staging: the records the table's filters dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_filtered: Option<u64>,
}

/// What step 0 records of the source in the snapshot manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotDetails {
    /// The source's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// An RDS export: its metadata, the tables converted and skipped, warnings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rds_export: Option<RdsDetails>,
    /// A DynamoDB export: its summary and the table's columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamodb_export: Option<DynamodbDetails>,
}

/// What step 0 records of an RDS / Aurora snapshot export.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RdsDetails {
    /// URI of its `export_info_<task>.json`.
    pub info: String,
    /// `exportTaskIdentifier`, `sourceArn` and `snapshotTime` as the export recorded them.
    pub task: serde_json::Map<String, serde_json::Value>,
    /// The lake tables (`database/schema/table`) of the tables it completed.
    pub tables: Vec<String>,
    /// The tables it did not complete.
    pub skipped: Vec<SkippedTable>,
    /// Its warnings not tied to one table.
    pub warnings: Vec<String>,
    /// Parquet files under its folder that belong to no completed table.
    pub unlisted_files: usize,
    /// The lake type decided for each column whose database type is
    /// restored, kept (with why) or pinned, by table and column.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub types: crate::restore::RestoredTypes,
}

/// A table an RDS export did not complete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedTable {
    /// The export's name of the table.
    pub target: String,
    /// Its status (`FAILED`, `SKIPPED`, …).
    pub status: String,
    /// The warning the export gave, if any.
    pub warning: String,
}

/// What step 0 records of a DynamoDB export; staging reads `columns`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamodbDetails {
    /// URI of its `manifest-summary.json`.
    pub summary: String,
    /// `exportArn`, `tableArn` and `exportTime` as the export recorded them.
    pub task: serde_json::Map<String, serde_json::Value>,
    /// Its `itemCount`.
    pub item_count: u64,
    /// The table's columns, decided once over every file.
    pub columns: AttrTypes,
}

/// A stable fingerprint of a list of files: 16 hex digits of a SHA-256 over
/// the fields of every file, independent of list order.
///
/// The ETag counts only for source files (those without a `partition`):
/// staging and lake files are named after their inputs' fingerprints already,
/// and a local file's tag (size and mtime) would make two identical runs name
/// their outputs differently.
pub fn fingerprint(files: &[DataFile]) -> String {
    let mut sorted: Vec<&DataFile> = files.iter().collect();
    sorted.sort();
    let mut h = Sha256::new();
    for f in sorted {
        for part in [
            f.uri.as_str(),
            &f.size.to_string(),
            &f.n_record.map(|n| n.to_string()).unwrap_or_default(),
            if f.partition.is_none() {
                f.etag.as_deref().unwrap_or("")
            } else {
                ""
            },
            f.table.as_deref().unwrap_or(""),
            f.partition.as_deref().unwrap_or(""),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    h.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Total records, when every file's count is known.
pub fn total_records(files: &[DataFile]) -> Option<u64> {
    files.iter().map(|f| f.n_record).sum()
}

/// Writes a manifest: the data Parquet at `data_uri`, then the summary at
/// `summary_uri`. `details` are added to the summary.
pub async fn write_manifest(
    store: &StorageRef,
    summary_uri: &str,
    data_uri: &str,
    files: &[DataFile],
    mut details: Details,
) -> Result<ManifestSummary> {
    let batch = to_batch(files);
    write_file(
        store,
        data_uri,
        batch.schema(),
        writer_properties(Compression::Snappy),
        &[batch],
    )
    .await?;
    details.fingerprint = Some(fingerprint(files));
    details.n_file = Some(files.len());
    let summary = ManifestSummary {
        manifest: data_uri.to_string(),
        size: files.iter().map(|f| f.size).sum(),
        n_record: total_records(files),
        details,
    };
    let json = serde_json::to_vec_pretty(&summary).expect("a summary always serializes");
    store.put(summary_uri, Bytes::from(json)).await?;
    Ok(summary)
}

fn to_batch(files: &[DataFile]) -> RecordBatch {
    let mut fields = vec![
        Field::new("uri", DataType::Utf8, false),
        Field::new("size", DataType::Int64, false),
        Field::new("n_record", DataType::Int64, true),
        Field::new("etag", DataType::Utf8, true),
        Field::new("table", DataType::Utf8, true),
        Field::new("partition", DataType::Utf8, true),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(files.iter().map(|f| &f.uri))),
        Arc::new(Int64Array::from_iter_values(
            files.iter().map(|f| f.size as i64),
        )),
        Arc::new(Int64Array::from_iter(
            files.iter().map(|f| f.n_record.map(|n| n as i64)),
        )),
        Arc::new(StringArray::from_iter(
            files.iter().map(|f| f.etag.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            files.iter().map(|f| f.table.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            files.iter().map(|f| f.partition.as_deref()),
        )),
    ];
    // Only manifests of files we wrote carry checksums; snapshot manifests
    // keep the seed's columns.
    if files.iter().any(|f| f.checksum.is_some()) {
        fields.push(Field::new("checksum", DataType::Utf8, true));
        cols.push(Arc::new(StringArray::from_iter(
            files.iter().map(|f| f.checksum.map(|c| c.to_string())),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).expect("columns match the schema")
}

/// Reads a summary JSON.
pub async fn read_summary(store: &StorageRef, uri: &str) -> Result<ManifestSummary> {
    let bytes = store.get(uri).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::bad_data(
            uri,
            format!("not a manifest summary ({e}); expected {{\"manifest\": <uri>, \"size\": <bytes>, \"n_record\": <rows>}}"),
        )
    })
}

/// Reads a manifest: its summary and the files its data Parquet lists.
/// Checks that the summary's totals agree with the listed files.
pub async fn read_manifest(
    store: &StorageRef,
    summary_uri: &str,
) -> Result<(ManifestSummary, Vec<DataFile>)> {
    let summary = read_summary(store, summary_uri).await?;
    let files = read_data(store, &summary.manifest).await?;
    let size: u64 = files.iter().map(|f| f.size).sum();
    if size != summary.size {
        return Err(Error::bad_data(
            summary_uri,
            format!(
                "summary says {} bytes but its data file {} lists {} files of {size} bytes",
                summary.size,
                summary.manifest,
                files.len()
            ),
        ));
    }
    if let (Some(said), Some(listed)) = (summary.n_record, total_records(&files))
        && said != listed
    {
        return Err(Error::bad_data(
            summary_uri,
            format!(
                "summary says {said} records but its data file {} lists {listed}",
                summary.manifest
            ),
        ));
    }
    Ok((summary, files))
}

/// Reads the data Parquet of a manifest.
pub async fn read_data(store: &StorageRef, uri: &str) -> Result<Vec<DataFile>> {
    let bytes = store.get(uri).await?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.build())
        .map_err(|e| Error::parquet(uri, e))?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| Error::arrow(uri, e))?;
        let col = |name: &str, required: bool| -> Result<Option<ArrayRef>> {
            match batch.column_by_name(name) {
                Some(c) => Ok(Some(c.clone())),
                None if required => Err(Error::bad_data(
                    uri,
                    format!(
                        "manifest data has no `{name}` column (it needs uri, size, n_record, etag)"
                    ),
                )),
                None => Ok(None),
            }
        };
        let strings = |name: &str, c: Option<ArrayRef>| -> Result<Option<StringArray>> {
            c.map(|c| {
                cast(&c, &DataType::Utf8)
                    .map(|a| a.as_any().downcast_ref::<StringArray>().unwrap().clone())
                    .map_err(|e| Error::bad_data(uri, format!("column `{name}`: {e}")))
            })
            .transpose()
        };
        let ints = |name: &str, c: Option<ArrayRef>| -> Result<Option<Int64Array>> {
            c.map(|c| {
                if !c.data_type().is_integer() {
                    return Err(Error::bad_data(
                        uri,
                        format!(
                            "column `{name}` is {} but must be an integer",
                            c.data_type()
                        ),
                    ));
                }
                cast(&c, &DataType::Int64)
                    .map(|a| a.as_any().downcast_ref::<Int64Array>().unwrap().clone())
                    .map_err(|e| Error::bad_data(uri, format!("column `{name}`: {e}")))
            })
            .transpose()
        };
        let uris = strings("uri", col("uri", true)?)?.unwrap();
        let sizes = ints("size", col("size", true)?)?.unwrap();
        let counts = ints("n_record", col("n_record", false)?)?;
        let etags = strings("etag", col("etag", false)?)?;
        let tables = strings("table", col("table", false)?)?;
        let parts = strings("partition", col("partition", false)?)?;
        let checksums = strings("checksum", col("checksum", false)?)?;
        for i in 0..batch.num_rows() {
            let row = out.len() + 1;
            if uris.is_null(i) || sizes.is_null(i) {
                return Err(Error::bad_data(
                    uri,
                    format!("row {row}: `uri` and `size` must not be null"),
                ));
            }
            let size = u64::try_from(sizes.value(i)).map_err(|_| {
                Error::bad_data(uri, format!("row {row}: negative size {}", sizes.value(i)))
            })?;
            let n_record = match counts.as_ref().filter(|c| c.is_valid(i)) {
                Some(c) => Some(u64::try_from(c.value(i)).map_err(|_| {
                    Error::bad_data(uri, format!("row {row}: negative n_record {}", c.value(i)))
                })?),
                None => None,
            };
            let opt = |a: &Option<StringArray>| {
                a.as_ref()
                    .filter(|a| a.is_valid(i))
                    .map(|a| a.value(i).to_string())
            };
            let checksum = opt(&checksums)
                .map(|c| {
                    c.parse()
                        .map_err(|e| Error::bad_data(uri, format!("row {row}: {e}")))
                })
                .transpose()?;
            out.push(DataFile {
                uri: uris.value(i).to_string(),
                size,
                n_record,
                etag: opt(&etags),
                table: opt(&tables).filter(|t| !t.is_empty()),
                partition: opt(&parts),
                checksum,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_read_typed_and_keep_what_they_do_not_know() {
        let text = r#"{"manifest": "s3://b/m.parquet", "size": 10, "n_record": 3,
            "fingerprint": "ab", "n_file": 2, "group": 4, "table": "db/s/t",
            "source_fingerprint": "cd", "n_filtered": 1, "custom": {"x": 1}}"#;
        let s: ManifestSummary = serde_json::from_str(text).unwrap();
        assert_eq!(s.fingerprint(), Some("ab"));
        assert_eq!(s.details.n_file, Some(2));
        assert_eq!(s.details.group.group, Some(4));
        assert_eq!(s.details.group.table.as_deref(), Some("db/s/t"));
        assert_eq!(s.details.worker.source_fingerprint.as_deref(), Some("cd"));
        assert_eq!(s.details.worker.n_filtered, Some(1));
        assert_eq!(s.details.other.keys().collect::<Vec<_>>(), ["custom"]);
        let back: serde_json::Value = serde_json::to_value(&s).unwrap();
        let want: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, want, "written back as read");
        // The seed's bare summary reads too.
        let bare: ManifestSummary =
            serde_json::from_str(r#"{"manifest": "m", "size": 1, "n_record": null}"#).unwrap();
        assert_eq!(bare.details, Details::default());
    }
    use crate::storage::Stores;

    fn files() -> Vec<DataFile> {
        (1..=3)
            .map(|i| DataFile {
                n_record: Some(i * 10),
                etag: Some(format!("etag{i}")),
                table: Some("db/public/orders".into()),
                ..DataFile::new(format!("s3://b/f-{i}.parquet"), i * 1000)
            })
            .collect()
    }

    #[tokio::test]
    async fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let store: StorageRef = Arc::new(Stores::local());
        let s = format!("{root}/manifest-summary.json");
        let d = format!("{root}/manifest-data.parquet");
        let written = write_manifest(&store, &s, &d, &files(), Default::default())
            .await
            .unwrap();
        assert_eq!(written.size, 6000);
        assert_eq!(written.n_record, Some(60));
        let (summary, back) = read_manifest(&store, &s).await.unwrap();
        assert_eq!(summary, written);
        assert_eq!(back, files());
        assert_eq!(summary.fingerprint(), Some(fingerprint(&files()).as_str()));
    }

    #[test]
    fn fingerprint_is_stable_and_order_free() {
        let mut f = files();
        let a = fingerprint(&f);
        f.reverse();
        assert_eq!(fingerprint(&f), a);
        f[0].etag = Some("changed".into());
        assert_ne!(fingerprint(&f), a);
        let mut derived = files();
        derived[0].partition = Some("year=2024".into());
        let d = fingerprint(&derived);
        derived[0].etag = Some("another".into());
        assert_eq!(
            fingerprint(&derived),
            d,
            "a derived file's etag does not count"
        );
        // Pinned: a change here changes every output key of existing runs.
        assert_eq!(a, fingerprint(&files()));
        assert_eq!(a.len(), 16);
    }

    #[tokio::test]
    async fn disagreeing_summary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap();
        let store: StorageRef = Arc::new(Stores::local());
        let s = format!("{root}/manifest-summary.json");
        let d = format!("{root}/manifest-data.parquet");
        write_manifest(&store, &s, &d, &files(), Default::default())
            .await
            .unwrap();
        let text = std::fs::read_to_string(&s)
            .unwrap()
            .replace("\"n_record\": 60", "\"n_record\": 61");
        std::fs::write(&s, text).unwrap();
        let e = read_manifest(&store, &s).await.unwrap_err().to_string();
        assert!(
            e.contains("summary says 61 records but its data file"),
            "{e}"
        );
        std::fs::write(&s, "{not json").unwrap();
        let e = read_manifest(&store, &s).await.unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{s}: not a manifest summary")),
            "{e}"
        );
    }
}
