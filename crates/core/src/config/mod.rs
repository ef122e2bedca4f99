//! The job's configuration: one JSON document that describes a run.
//!
//! The same document is the CLI's `--job` file and the Step Functions execution
//! input. Every field is documented here because this is the user reference;
//! unknown fields are refused with their path (`tables.*.partition_by[0].fn`),
//! so a typo never silently turns a setting off.
//!
//! This module family is a leaf: it imports the error type, serde and
//! `arrow::datatypes` only, never storage, readers, writers or steps. What
//! needs the runtime to check (a schema, a file) is checked by the step
//! that has it.
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

pub mod catalog;
pub mod output;
pub mod s3;
pub mod source;
pub mod table;
pub mod transform;
pub mod types;
pub mod uri;

pub use catalog::{AthenaTypes, Catalog, CatalogKind, Partitions};
pub use output::{Compression, Nanoseconds, Output, OutputFormat};
pub use s3::{S3Settings, Sse};
pub use source::{DataFormat, InputFormat, Source};
pub use table::{PartitionFn, PartitionSpec, SortSpec, TableSpec};
use table::{check_partition_name, check_table_key};
use uri::overlaps;

/// The JSON Schema of a job file (draft 2020-12), derived from [`Job`] and
/// its parts, with their documentation as descriptions: what an editor
/// needs to complete and check a job (`dbsnaplake schema`).
pub fn job_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Job)).expect("a schema serializes")
}

/// Default target size of a data lake file: 128 MiB.
pub const DEFAULT_FILE_SIZE: u64 = 128 * 1024 * 1024;

/// One run of the pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
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
    /// At most this many files in one snapshot file group (default
    /// [`DEFAULT_GROUP_FILES`]), whatever `group_size`: a group of many
    /// small files is bounded by its requests, not its bytes.
    #[serde(default = "default_group_files")]
    pub group_files: usize,
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
    /// Where the lake is registered once it validates (the Glue Data
    /// Catalog); none by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<Catalog>,
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

impl schemars::JsonSchema for GroupSize {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "GroupSize".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "\"auto\" (chosen from the snapshot's statistics) or a positive number of bytes",
            "oneOf": [{"const": "auto"}, {"type": "integer", "minimum": 1}]
        })
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

    /// Checks what serde cannot: sane names and sizes, folders that do not
    /// overlap (the source's form is checked as it is read, [`Source`]).
    pub fn check(&self) -> Result<()> {
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
        if let Some(files) = self.source.folder() {
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
        if self.group_files == 0 {
            return Err(Error::Job(
                "group_files: must be at least 1 file per group".into(),
            ));
        }
        if self.file_size == 0 {
            return Err(Error::Job(
                "file_size: must be a positive number of bytes".into(),
            ));
        }
        self.output
            .check()
            .map_err(|m| Error::Job(format!("output: {m}")))?;
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
        if let Some(c) = &self.catalog {
            c.check(&self.datalake, self.output.format)
                .map_err(Error::Job)?;
        } else if self.output.format == OutputFormat::Iceberg {
            return Err(Error::Job(
                "output.format iceberg: the tables are committed to a catalog; add \"catalog\": {\"type\": \"sql\", ...} or {\"type\": \"glue\", ...}".into(),
            ));
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

fn default_file_size() -> u64 {
    DEFAULT_FILE_SIZE
}

/// Files of one snapshot file group at most. A staging worker reads its
/// files one after another with one fetched ahead, so each small file costs
/// about one S3 request's latency (~30 ms): 10,000 files are ~5 minutes of
/// a 15-minute Lambda, leaving the rest for the writes, retries and slow
/// requests.
pub const DEFAULT_GROUP_FILES: usize = 10_000;

fn default_group_files() -> usize {
    DEFAULT_GROUP_FILES
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
        other.source = Source::Manifest {
            uri: format!("s3://b/{}/m.json", "x".repeat(200)),
        };
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
