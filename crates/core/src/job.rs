//! The job: one JSON document that describes a run.
//!
//! The same document is the CLI's `--job` file and the Step Functions execution
//! input. Every field is documented here because this is the user reference;
//! unknown fields are refused with their path (`tables.*.partition_by[0].fn`),
//! so a typo never silently turns a setting off.
//!
//! ```
//! let job = dbsnaplake_core::Job::from_json(r#"{
//!     "source": {"manifest": "/data/snap/manifests/manifest-summary.json"},
//!     "staging": "/data/staging", "datalake": "/data/lake",
//!     "tables": {"*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}]}}
//! }"#).unwrap();
//! assert_eq!(job.file_size, 128 * 1024 * 1024);
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use crate::error::{Error, Result};
use crate::storage::overlaps;

/// Default target size of a data lake file: 128 MiB.
pub const DEFAULT_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// One run of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Where the snapshot is: a snapshot manifest or a folder of files.
    pub source: Source,
    /// Folder for manifests and staging files of this run, e.g.
    /// `s3://bucket/prefix/staging/mydb/snapshot=2021-01-01T08:30:00Z/`.
    pub staging: String,
    /// Folder of the final data lake, e.g.
    /// `s3://bucket/prefix/datalake/mydb/snapshot=2021-01-01T08:30:00Z/`.
    pub datalake: String,
    /// Per-table settings by `database/schema/table`; the key `*` applies to
    /// every table without its own entry (and to a snapshot without tables).
    #[serde(default)]
    pub tables: BTreeMap<String, TableSpec>,
    /// Size in bytes of a snapshot file group (the work of one staging worker),
    /// or `"auto"` (the default) to choose it from the snapshot's statistics.
    #[serde(default)]
    pub group_size: GroupSize,
    /// Target size in bytes of a data lake file (default 128 MiB).
    #[serde(default = "default_file_size")]
    pub file_size: u64,
    /// How many workers run at once (the Map's concurrency, or the local
    /// worker pool). `"auto"` group sizing aims for at least this many groups.
    /// Default: 100 (on the CLI: the number of cores).
    #[serde(default)]
    pub concurrency: Option<usize>,
    /// Replace a finished lake of another snapshot found in `datalake`
    /// (its objects are deleted before anything is staged). Without it such
    /// a datalake folder is refused. The CLI's `run --overwrite` sets it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub overwrite: bool,
    /// Output format settings.
    #[serde(default)]
    pub output: Output,
    /// How to reach S3 (endpoint, addressing, bucket owner, encryption).
    #[serde(default)]
    pub s3: S3Settings,
}

/// S3 access settings. Credentials and region come from the default chain
/// (environment, `AWS_PROFILE`, SSO, instance or Lambda role); never from the job.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Another S3 endpoint (MinIO, a local test server). `AWS_ENDPOINT_URL`
    /// works too; the CLI's `--endpoint-url` wins over both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), which most non-AWS servers need.
    #[serde(default)]
    pub path_style: bool,
    /// Region, when not taken from the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Account id every bucket must belong to (`ExpectedBucketOwner` on every call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_bucket_owner: Option<String>,
    /// Server-side encryption of every object written: `AES256` (SSE-S3) or `aws:kms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<Sse>,
    /// KMS key id or ARN for `"sse": "aws:kms"` (default: the account's S3 key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
}

/// Server-side encryption modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sse {
    /// SSE-S3.
    #[serde(rename = "AES256")]
    Aes256,
    /// SSE-KMS.
    #[serde(rename = "aws:kms")]
    Kms,
}

fn default_file_size() -> u64 {
    DEFAULT_FILE_SIZE
}

/// Where the snapshot comes from. Exactly one of `manifest`, `files` or `rds_export`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// URI of a snapshot `manifest-summary.json` (the seed's DB Snapshot File
    /// Manifest), whose data Parquet lists every snapshot file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// URI of a folder of data files; step 0 lists it and writes the snapshot
    /// manifest into the staging folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<String>,
    /// Format of the files under `files`: `parquet` (the default), `ndjson`
    /// (`.json`, `.jsonl`, `.ndjson`) or `csv` (`.csv`, with a header line);
    /// text files may be gzip (`.gz`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<InputFormat>,
    /// For `files`: the table they hold, as `database/schema/table`. Without
    /// it the lake has no table level, as in the original dbsnaplake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// URI of an RDS / Aurora snapshot export task folder (the one holding
    /// `export_info_<task>.json`); step 0 reads its metadata and lists every
    /// exported table's Parquet files, one lake table per export table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rds_export: Option<String>,
    /// URI of a DynamoDB export folder (`…/AWSDynamoDB/<ExportId>/`, the one
    /// holding `manifest-summary.json`): a full export in DynamoDB JSON.
    /// `table` names its lake table; without it the lake has no table level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamodb_export: Option<String>,
    /// For `dynamodb_export`: column types pinned by attribute name
    /// (`string`, `decimal(p,s)`, `binary`, `bool`, `string_set`,
    /// `decimal_set(p,s)`, `binary_set`) instead of the inferred ones.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<String, crate::read::dynamodb::AttrType>,
    /// For `ndjson` and `csv` files: the columns, in file order, instead of a
    /// schema inferred from a sample of the files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Vec<crate::read::text::ColumnSpec>>,
}

impl Source {
    /// The URI the snapshot is read from, whichever kind of source it is.
    pub fn uri(&self) -> &str {
        self.manifest
            .as_deref()
            .or(self.files.as_deref())
            .or(self.rds_export.as_deref())
            .or(self.dynamodb_export.as_deref())
            .unwrap_or_default()
    }
}

/// Input file formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// Apache Parquet.
    #[default]
    Parquet,
    /// Newline-delimited JSON, one object per line.
    Ndjson,
    /// Comma-separated values with a header line.
    Csv,
}

/// Settings of one table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Hive partition keys, outermost first. Empty: one unpartitioned folder.
    #[serde(default)]
    pub partition_by: Vec<PartitionSpec>,
    /// Order of rows inside every staging and data lake file.
    #[serde(default)]
    pub sort_by: Vec<SortSpec>,
    /// Steps applied to every batch, in order, before partitioning
    /// ([`crate::transform`]); `partition_by` and `sort_by` name columns as
    /// they are after them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transform: Vec<crate::transform::Step>,
}

/// One hive partition key: `<name>=<fn(from)>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionSpec {
    /// Name of the key in the path (`year` in `year=2024`).
    pub name: String,
    /// The column it derives from.
    pub from: String,
    /// How the value derives from the column.
    #[serde(rename = "fn")]
    pub func: PartitionFn,
}

/// How a partition value derives from a column. Timestamps, dates and ISO-8601
/// strings (`2024-03-05`, `2024-03-05 07:08:09.123456+00`, `…T…Z`) are
/// accepted by the calendar functions; strings with an offset are converted to
/// UTC first, timestamps with a time zone use that zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionFn {
    /// Four-digit year: `2024`.
    Year,
    /// Two-digit month: `03`.
    Month,
    /// Two-digit day of month: `05`.
    Day,
    /// Two-digit hour: `07`.
    Hour,
    /// `YYYY-MM-DD`.
    Date,
    /// The column's value as text.
    Value,
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SortSpec {
    /// Column to sort by.
    pub column: String,
    /// Largest first (default: smallest first).
    #[serde(default)]
    pub descending: bool,
    /// Nulls before other values (default: nulls last).
    #[serde(default)]
    pub nulls_first: bool,
}

/// Snapshot file group size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupSize {
    /// Chosen from the snapshot's statistics.
    #[default]
    Auto,
    /// A fixed number of bytes.
    Bytes(u64),
}

impl Serialize for GroupSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            GroupSize::Auto => s.serialize_str("auto"),
            GroupSize::Bytes(b) => s.serialize_u64(*b),
        }
    }
}

impl<'de> Deserialize<'de> for GroupSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = GroupSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\" or a positive number of bytes")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<GroupSize, E> {
                if v == "auto" {
                    Ok(GroupSize::Auto)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<GroupSize, E> {
                if v == 0 {
                    Err(E::invalid_value(de::Unexpected::Unsigned(v), &self))
                } else {
                    Ok(GroupSize::Bytes(v))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<GroupSize, E> {
                u64::try_from(v)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                    .and_then(|v| self.visit_u64(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Output settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// File format of the lake: `parquet` (default), `delta` (Parquet plus
    /// a Delta Lake log per table), `ndjson` or `csv`.
    #[serde(default)]
    pub format: OutputFormat,
    /// For `ndjson` and `csv`: gzip every file (`.ndjson.gz`, `.csv.gz`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub gzip: bool,
    /// Parquet compression codec: `snappy` (default), `zstd`, `gzip`, `lz4`, `none`.
    #[serde(default)]
    pub compression: Compression,
    /// Level of `zstd` (1–22, default 3) or `gzip` (0–9, default 6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
    /// Rows per Parquet row group (default 1,048,576).
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Dictionary encoding (default on).
    #[serde(default = "yes")]
    pub dictionary: bool,
    /// Column chunk statistics, min/max and null counts (default on).
    #[serde(default = "yes")]
    pub statistics: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            format: OutputFormat::default(),
            gzip: false,
            compression: Compression::default(),
            compression_level: None,
            row_group_rows: default_row_group_rows(),
            dictionary: true,
            statistics: true,
        }
    }
}

fn default_row_group_rows() -> usize {
    1024 * 1024
}

fn yes() -> bool {
    true
}

/// Output file formats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// Apache Parquet.
    #[default]
    Parquet,
    /// Newline-delimited JSON, one object per row.
    Ndjson,
    /// Comma-separated values with a header line (no nested columns).
    Csv,
    /// Parquet files plus one Delta Lake commit per table after validation.
    Delta,
}

/// Parquet compression codecs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// Snappy: fast, the usual choice for lakes.
    #[default]
    Snappy,
    /// Zstandard, default level.
    Zstd,
    /// Gzip.
    Gzip,
    /// LZ4 (raw).
    Lz4,
    /// No compression.
    None,
}

impl Job {
    /// Parses and checks a job document. Errors name the field at fault.
    pub fn from_json(text: &str) -> Result<Job> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let job: Job = serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                Error::Job(e.into_inner().to_string())
            } else {
                Error::Job(format!("{path}: {}", e.into_inner()))
            }
        })?;
        job.check()?;
        Ok(job)
    }

    /// Checks what serde cannot: exactly one source, sane names and sizes,
    /// folders that do not overlap.
    pub fn check(&self) -> Result<()> {
        let s = &self.source;
        let given = [&s.manifest, &s.files, &s.rds_export, &s.dynamodb_export]
            .iter()
            .filter(|u| u.is_some())
            .count();
        if given != 1 {
            return Err(Error::Job(format!(
                "source: give exactly one of `manifest` (a snapshot manifest-summary.json), `files` \
                 (a folder of data files), `rds_export` (an RDS snapshot export folder) or \
                 `dynamodb_export` (a DynamoDB export folder); {given} given"
            )));
        }
        if s.files.is_none() && s.format.is_some() {
            return Err(Error::Job("source: `format` goes with `files` only".into()));
        }
        if s.files.is_none() && s.dynamodb_export.is_none() && s.table.is_some() {
            return Err(Error::Job(
                "source: `table` goes with `files` or `dynamodb_export` only".into(),
            ));
        }
        if let Some(columns) = &s.schema {
            if !matches!(s.format, Some(InputFormat::Ndjson | InputFormat::Csv)) {
                return Err(Error::Job(
                    "source.schema: goes with `files` of format `ndjson` or `csv` (Parquet files carry their schema)".into(),
                ));
            }
            crate::read::text::given_schema(columns).map_err(Error::Job)?;
        }
        if s.dynamodb_export.is_none() && !s.types.is_empty() {
            return Err(Error::Job(
                "source: `types` goes with `dynamodb_export` only".into(),
            ));
        }
        if let Some(t) = &s.table {
            check_table_key(t).map_err(|m| Error::Job(format!("source.table: {m}")))?;
        }
        for (field, uri) in [("staging", &self.staging), ("datalake", &self.datalake)] {
            if uri.trim().is_empty() {
                return Err(Error::Job(format!("{field}: must not be empty")));
            }
        }
        if overlaps(&self.staging, &self.datalake) {
            return Err(Error::Job(format!(
                "staging ({}) and datalake ({}) overlap; give them separate folders",
                self.staging, self.datalake
            )));
        }
        if let Some(files) = s
            .files
            .as_deref()
            .or(s.rds_export.as_deref())
            .or(s.dynamodb_export.as_deref())
        {
            for (field, uri) in [("staging", &self.staging), ("datalake", &self.datalake)] {
                if overlaps(files, uri) {
                    return Err(Error::Job(format!(
                        "{field} ({uri}) overlaps the source ({files}); give it a separate folder"
                    )));
                }
            }
        }
        if self.s3.kms_key_id.is_some() && self.s3.sse != Some(Sse::Kms) {
            return Err(Error::Job(
                "s3.kms_key_id: goes with \"sse\": \"aws:kms\"".into(),
            ));
        }
        if self.file_size == 0 {
            return Err(Error::Job(
                "file_size: must be a positive number of bytes".into(),
            ));
        }
        crate::parquet_io::lake_writer_properties(&self.output)
            .map_err(|m| Error::Job(format!("output: {m}")))?;
        if self.output.gzip
            && matches!(
                self.output.format,
                OutputFormat::Parquet | OutputFormat::Delta
            )
        {
            return Err(Error::Job(
                "output.gzip: goes with \"ndjson\" or \"csv\" (Parquet compresses with `compression`)".into(),
            ));
        }
        if self.concurrency == Some(0) {
            return Err(Error::Job("concurrency: must be at least 1".into()));
        }
        for (key, spec) in &self.tables {
            if key != "*" {
                check_table_key(key).map_err(|m| Error::Job(format!("tables.{key}: {m}")))?;
            }
            let mut names = std::collections::BTreeSet::new();
            for (i, p) in spec.partition_by.iter().enumerate() {
                let at = format!("tables.{key}.partition_by[{i}]");
                check_partition_name(&p.name).map_err(|m| Error::Job(format!("{at}.name: {m}")))?;
                if p.from.is_empty() {
                    return Err(Error::Job(format!("{at}.from: must name a column")));
                }
                if !names.insert(p.name.as_str()) {
                    return Err(Error::Job(format!("{at}.name: {:?} is used twice", p.name)));
                }
            }
            for (i, s) in spec.sort_by.iter().enumerate() {
                if s.column.is_empty() {
                    return Err(Error::Job(format!(
                        "tables.{key}.sort_by[{i}].column: must name a column"
                    )));
                }
            }
            for (i, t) in spec.transform.iter().enumerate() {
                t.check()
                    .map_err(|m| Error::Job(format!("tables.{key}.transform[{i}]: {m}")))?;
            }
        }
        Ok(())
    }

    /// The Step Functions execution name of this job: derived from the
    /// snapshot (the source URI) and the lake, so the same snapshot always
    /// gets the same name and a duplicate start is refused by Step Functions
    /// instead of running twice. At most 80 characters of `[A-Za-z0-9_-]`.
    pub fn execution_name(&self) -> String {
        let source = self.source.uri();
        let digest = sha2::Sha256::digest(format!("{source}\n{}", self.datalake).as_bytes());
        let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let readable: String = source
            .trim_end_matches('/')
            .rsplit('/')
            .take(3)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("-")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let keep = 80 - hash.len() - 1;
        let readable: String = readable
            .chars()
            .rev()
            .take(keep)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("{}-{hash}", readable.trim_start_matches(['-', '_']))
    }

    /// Every URI the job names: the source's, `staging` and `datalake`.
    pub fn uris(&self) -> impl Iterator<Item = &str> {
        [self.source.uri(), &self.staging, &self.datalake].into_iter()
    }

    /// Settings of `table` (`database/schema/table`, `None` for a table-less
    /// snapshot): its own entry, else `*`, else no partitions and no order.
    pub fn table_spec(&self, table: Option<&str>) -> TableSpec {
        table
            .and_then(|t| self.tables.get(t))
            .or_else(|| self.tables.get("*"))
            .cloned()
            .unwrap_or_default()
    }
}

fn check_table_key(key: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(format!(
            "{key:?} is not a table name; write `database/schema/table` (or `*` for every table)"
        ));
    }
    Ok(())
}

fn check_partition_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.starts_with('.') || name.starts_with('_') {
        return Err(format!(
            "{name:?} may not start with `.` or `_` (readers skip such folders)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, '/' | '=' | '%' | '\\') || c.is_control())
    {
        return Err(format!("{name:?} may not contain {c:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{
      "source": {"manifest": "s3://b/staging/manifests/manifest-summary.json"},
      "staging": "s3://b/staging/", "datalake": "s3://b/datalake/",
      "tables": {"*": {
          "partition_by": [{"name": "year",  "from": "order_time", "fn": "year"},
                           {"name": "month", "from": "order_time", "fn": "month"}],
          "sort_by": [{"column": "order_time", "descending": true}]}},
      "group_size": "auto",
      "file_size": 134217728,
      "output": {"format": "parquet", "compression": "snappy"}
    }"#;

    fn err(text: &str) -> String {
        Job::from_json(text).unwrap_err().to_string()
    }

    #[test]
    fn parses_the_documented_example() {
        let job = Job::from_json(EXAMPLE).unwrap();
        assert_eq!(job.group_size, GroupSize::Auto);
        let spec = job.table_spec(Some("db/public/orders"));
        assert_eq!(spec.partition_by[1].func, PartitionFn::Month);
        assert!(spec.sort_by[0].descending);
        let back = serde_json::to_string(&job).unwrap();
        assert_eq!(Job::from_json(&back).unwrap(), job);
    }

    #[test]
    fn unknown_and_wrong_fields_are_named() {
        let e = err(&EXAMPLE.replace("\"file_size\"", "\"filesize\""));
        assert!(
            e.starts_with("invalid job: filesize: unknown field `filesize`"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"fn\": \"month\"", "\"fn\": \"moon\""));
        assert!(
            e.contains("tables.*.partition_by[1].fn: unknown variant `moon`"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"descending\": true", "\"descending\": true, \"x\": 1"));
        assert!(
            e.contains("tables.*.sort_by[0].x: unknown field `x`"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"auto\"", "\"big\""));
        assert!(
            e.contains("group_size: invalid value: string \"big\""),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"snappy\"", "\"brotli\""));
        assert!(
            e.contains("output.compression: unknown variant `brotli`"),
            "{e}"
        );
        let e = err("{\"staging\": \"a\"}");
        assert!(e.contains("missing field `source`"), "{e}");
    }

    #[test]
    fn semantic_checks() {
        let e = err(&EXAMPLE.replace("s3://b/datalake/", "s3://b/staging/lake"));
        assert!(
            e.contains("staging (s3://b/staging/) and datalake (s3://b/staging/lake) overlap"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"*\"", "\"db.orders\""));
        assert!(
            e.contains("tables.db.orders: \"db.orders\" is not a table name"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"name\": \"month\"", "\"name\": \"year\""));
        assert!(
            e.contains("partition_by[1].name: \"year\" is used twice"),
            "{e}"
        );
        let e = err(&EXAMPLE.replace("\"name\": \"month\"", "\"name\": \"a/b\""));
        assert!(e.contains("may not contain '/'"), "{e}");
        let e = err(&EXAMPLE.replace(
            "{\"manifest\": \"s3://b/staging/manifests/manifest-summary.json\"}",
            "{}",
        ));
        assert!(e.contains("source: give exactly one of `manifest`"), "{e}");
        let e = err(&EXAMPLE.replace(
            "{\"manifest\": \"s3://b/staging/manifests/manifest-summary.json\"}",
            "{\"files\": \"s3://b/staging/in/\"}",
        ));
        assert!(e.contains("overlaps the source"), "{e}");
    }

    #[test]
    fn execution_names_derive_from_the_snapshot() {
        let job = Job::from_json(EXAMPLE).unwrap();
        let name = job.execution_name();
        assert_eq!(name, job.clone().execution_name(), "stable");
        assert!(
            name.starts_with("staging-manifests-manifest-summary_json-"),
            "{name}"
        );
        assert!(name.len() <= 80);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        let mut other = job.clone();
        other.datalake = "s3://b/other-lake/".into();
        assert_ne!(other.execution_name(), name, "another lake is another run");
        other = job.clone();
        other.source.manifest = Some(format!("s3://b/{}/m.json", "x".repeat(200)));
        assert!(other.execution_name().len() <= 80);
    }

    #[test]
    fn output_options_are_checked() {
        let with = |output: &str| {
            Job::from_json(&format!(
                r#"{{"source": {{"manifest": "m.json"}}, "staging": "s", "datalake": "l", "output": {output}}}"#
            ))
        };
        let job = with(r#"{"compression": "zstd", "compression_level": 9, "row_group_rows": 500}"#)
            .unwrap();
        assert_eq!(job.output.compression_level, Some(9));
        assert!(job.output.dictionary && job.output.statistics);
        for (output, message) in [
            (
                r#"{"compression": "snappy", "compression_level": 3}"#,
                "compression_level: Snappy takes no level (zstd and gzip do)",
            ),
            (
                r#"{"compression": "zstd", "compression_level": 30}"#,
                "compression_level 30: zstd takes 1 to 22",
            ),
            (
                r#"{"compression": "gzip", "compression_level": 12}"#,
                "compression_level 12: gzip takes 0 to 9",
            ),
            (
                r#"{"row_group_rows": 0}"#,
                "row_group_rows: must be at least 1",
            ),
        ] {
            let e = with(output).unwrap_err().to_string();
            assert_eq!(e, format!("invalid job: output: {message}"), "{output}");
        }
        let e = with(r#"{"compresion": "zstd"}"#).unwrap_err().to_string();
        assert!(e.contains("unknown field `compresion`"), "{e}");
    }

    #[test]
    fn table_spec_falls_back_to_star() {
        let mut job = Job::from_json(EXAMPLE).unwrap();
        job.tables.insert("db/s/t".into(), TableSpec::default());
        assert!(job.table_spec(Some("db/s/t")).partition_by.is_empty());
        assert_eq!(job.table_spec(Some("db/s/u")).partition_by.len(), 2);
        assert_eq!(job.table_spec(None).partition_by.len(), 2);
        job.tables.clear();
        assert_eq!(job.table_spec(None), TableSpec::default());
    }
}
