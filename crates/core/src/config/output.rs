//! The lake's format (`output`).

use serde::{Deserialize, Serialize};

/// Output settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Output {
    /// File format of the lake: `parquet` (default), `delta` (Parquet plus
    /// a Delta Lake log per table), `iceberg` (Parquet plus an Iceberg
    /// table version per snapshot, in the job's `catalog`), `ndjson` or `csv`.
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
    /// Source timestamps in nanoseconds, which the lake holds in
    /// microseconds: `refuse` (default) a value with digits below the
    /// microsecond, naming it, or `truncate` them (towards the past).
    #[serde(default, skip_serializing_if = "Nanoseconds::is_refuse")]
    pub nanoseconds: Nanoseconds,
}

/// What becomes of digits below the microsecond.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Nanoseconds {
    /// Refused: the planner (from the footers' statistics) or the staging
    /// worker names the column and the value.
    #[default]
    Refuse,
    /// Dropped: a value becomes the microsecond at or before it.
    Truncate,
}

impl Nanoseconds {
    fn is_refuse(&self) -> bool {
        *self == Nanoseconds::Refuse
    }
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
            nanoseconds: Nanoseconds::Refuse,
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
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
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
    /// Parquet files plus one Iceberg commit per table after validation.
    Iceberg,
}

impl OutputFormat {
    /// Whether lake files are Parquet.
    pub fn is_parquet(self) -> bool {
        matches!(
            self,
            OutputFormat::Parquet | OutputFormat::Delta | OutputFormat::Iceberg
        )
    }
}

/// Parquet compression codecs.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
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

/// Levels each codec takes.
const ZSTD_LEVELS: std::ops::RangeInclusive<i32> = 1..=22;
const GZIP_LEVELS: std::ops::RangeInclusive<i32> = 0..=9;

impl Output {
    /// Checks what serde cannot: a compression level the codec takes, a
    /// positive row group size. The message names the field.
    pub fn check(&self) -> Result<(), String> {
        match (self.compression, self.compression_level) {
            (Compression::Zstd, Some(level)) if !ZSTD_LEVELS.contains(&level) => {
                return Err(format!("compression_level {level}: zstd takes 1 to 22"));
            }
            (Compression::Gzip, Some(level)) if !GZIP_LEVELS.contains(&level) => {
                return Err(format!("compression_level {level}: gzip takes 0 to 9"));
            }
            (Compression::Zstd | Compression::Gzip, _) | (_, None) => {}
            (c, Some(_)) => {
                return Err(format!(
                    "compression_level: {c:?} takes no level (zstd and gzip do)"
                ));
            }
        }
        if self.row_group_rows == 0 {
            return Err("row_group_rows: must be at least 1".into());
        }
        if self.format == OutputFormat::Iceberg && !self.statistics {
            return Err(
                "statistics: Iceberg readers prune with the footers' statistics, which its manifests carry; keep them on"
                    .into(),
            );
        }
        if self.gzip && self.format.is_parquet() {
            return Err(
                "gzip: goes with \"ndjson\" or \"csv\" (Parquet compresses with `compression`)"
                    .into(),
            );
        }
        Ok(())
    }
}
