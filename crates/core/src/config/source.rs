//! Where the snapshot comes from (`source`).
//!
//! A job writes one of four forms, each with the fields that go with it:
//!
//! ```json
//! {"manifest": "s3://…/manifest-summary.json"}
//! {"files": "s3://…/", "format": "csv", "table": "db/schema/t", "schema": [{"name": "id", "type": "int64"}]}
//! {"rds_export": "s3://…/<export task>/", "restore_types": true, "types": {"appdb/public/orders.amount": "decimal(20,4)"}}
//! {"dynamodb_export": "s3://…/AWSDynamoDB/<ExportId>/", "table": "db/schema/t", "types": {"total": "string"}}
//! ```
//!
//! [`Source`] is that choice as an enum, checked as it is read: a field
//! that does not go with the form given is refused, naming it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::table::check_table_key;
use super::types::{AttrType, AttrTypes, ColumnSpec, given_schema, parse_type};

/// Where the snapshot comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "SourceFields", into = "SourceFields")]
pub enum Source {
    /// A snapshot `manifest-summary.json` (the seed's DB Snapshot File
    /// Manifest), whose data Parquet lists every snapshot file.
    Manifest {
        /// Its URI.
        uri: String,
    },
    /// A folder of data files; step 0 lists it and writes the snapshot
    /// manifest into the staging folder.
    Files {
        /// The folder's URI.
        uri: String,
        /// Their format.
        format: InputFormat,
        /// The table they hold (`database/schema/table`); without it the
        /// lake has no table level, as in the original dbsnaplake.
        table: Option<String>,
        /// For text files: the columns, instead of a schema inferred from
        /// a sample of the files.
        schema: Option<Vec<ColumnSpec>>,
    },
    /// An RDS / Aurora snapshot export task folder: one lake table per
    /// exported table.
    RdsExport {
        /// The folder's URI (the one holding `export_info_<task>.json`).
        uri: String,
        /// Whether the database's column types are restored from the
        /// export's type mappings ([`crate::restore`]); on by default.
        restore_types: bool,
        /// Column types pinned by `<db>/<schema>/<table>.<column>`, winning
        /// over the mappings.
        types: BTreeMap<String, String>,
    },
    /// A DynamoDB export in DynamoDB JSON.
    DynamodbExport {
        /// The export's folder (`…/AWSDynamoDB/<ExportId>/`).
        uri: String,
        /// Its lake table; without it the lake has no table level.
        table: Option<String>,
        /// Column types pinned by attribute name, instead of inferred ones.
        types: AttrTypes,
    },
}

impl Source {
    /// The URI the snapshot is read from, whichever kind of source it is.
    pub fn uri(&self) -> &str {
        match self {
            Source::Manifest { uri }
            | Source::Files { uri, .. }
            | Source::RdsExport { uri, .. }
            | Source::DynamodbExport { uri, .. } => uri,
        }
    }

    /// The folder the snapshot's files are in, for a source that names one
    /// (not a manifest, whose files may be anywhere).
    pub fn folder(&self) -> Option<&str> {
        match self {
            Source::Manifest { .. } => None,
            _ => Some(self.uri()),
        }
    }

    /// The lake table a single-table source names.
    pub fn table(&self) -> Option<&str> {
        match self {
            Source::Files { table, .. } | Source::DynamodbExport { table, .. } => table.as_deref(),
            Source::Manifest { .. } | Source::RdsExport { .. } => None,
        }
    }

    /// How the snapshot's data files are read (a manifest lists Parquet files).
    pub fn data_format(&self) -> DataFormat<'_> {
        match self {
            Source::Manifest { .. } | Source::RdsExport { .. } => DataFormat::Parquet,
            Source::Files {
                format: InputFormat::Parquet,
                ..
            } => DataFormat::Parquet,
            Source::Files {
                format: format @ (InputFormat::Ndjson | InputFormat::Csv),
                schema,
                ..
            } => DataFormat::Text {
                format: *format,
                schema: schema.as_deref(),
            },
            Source::DynamodbExport { .. } => DataFormat::DynamodbJson,
        }
    }

    /// The URI of the snapshot manifest a `manifest` source names.
    pub fn manifest(&self) -> Option<&str> {
        match self {
            Source::Manifest { uri } => Some(uri),
            _ => None,
        }
    }
}

/// How a source's data files are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataFormat<'a> {
    /// Parquet files, whose footers carry schema and counts.
    Parquet,
    /// NDJSON or CSV files, with the columns the job gives, if it does.
    Text {
        /// `ndjson` or `csv`.
        format: InputFormat,
        /// The job's `source.schema`.
        schema: Option<&'a [ColumnSpec]>,
    },
    /// DynamoDB JSON (gzip), whose schema step 0 infers.
    DynamodbJson,
}

/// The JSON form of a [`Source`]: exactly one of `manifest`, `files`,
/// `rds_export` or `dynamodb_export`, with the fields that go with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[doc(hidden)]
pub struct SourceFields {
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
    /// For `rds_export`: whether the database's column types are restored
    /// from the export's type mappings (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_types: Option<bool>,
    /// Column types pinned instead of the inferred or restored ones. For
    /// `dynamodb_export`, by attribute name (`string`, `decimal(p,s)`,
    /// `binary`, `bool`, `string_set`, `decimal_set(p,s)`, `binary_set`);
    /// for `rds_export`, by `<db>/<schema>/<table>.<column>`, in the types
    /// of `source.schema`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub types: BTreeMap<String, String>,
    /// For `ndjson` and `csv` files: the columns, in file order, instead of a
    /// schema inferred from a sample of the files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Vec<ColumnSpec>>,
}

impl TryFrom<SourceFields> for Source {
    type Error = String;
    fn try_from(f: SourceFields) -> Result<Self, String> {
        let given = [&f.manifest, &f.files, &f.rds_export, &f.dynamodb_export]
            .iter()
            .filter(|u| u.is_some())
            .count();
        if given != 1 {
            return Err(format!(
                "give exactly one of `manifest` (a snapshot manifest-summary.json), `files` \
                 (a folder of data files), `rds_export` (an RDS snapshot export folder) or \
                 `dynamodb_export` (a DynamoDB export folder); {given} given"
            ));
        }
        if f.files.is_none() && f.format.is_some() {
            return Err("`format` goes with `files` only".into());
        }
        if f.files.is_none() && f.dynamodb_export.is_none() && f.table.is_some() {
            return Err("`table` goes with `files` or `dynamodb_export` only".into());
        }
        if f.schema.is_some() && !matches!(f.format, Some(InputFormat::Ndjson | InputFormat::Csv)) {
            return Err(
                "`schema` goes with `files` of format `ndjson` or `csv` (Parquet files carry their schema)"
                    .into(),
            );
        }
        if let Some(columns) = &f.schema {
            given_schema(columns)?;
        }
        if f.dynamodb_export.is_none() && f.rds_export.is_none() && !f.types.is_empty() {
            return Err("`types` goes with `dynamodb_export` or `rds_export` only".into());
        }
        if f.rds_export.is_none() && f.restore_types.is_some() {
            return Err("`restore_types` goes with `rds_export` only".into());
        }
        if let Some(t) = &f.table {
            check_table_key(t).map_err(|m| format!("table: {m}"))?;
        }
        Ok(if let Some(uri) = f.manifest {
            Source::Manifest { uri }
        } else if let Some(uri) = f.files {
            Source::Files {
                uri,
                format: f.format.unwrap_or_default(),
                table: f.table,
                schema: f.schema,
            }
        } else if let Some(uri) = f.rds_export {
            for (key, t) in &f.types {
                check_column_key(key).map_err(|m| format!("types: {m}"))?;
                parse_type(t).map_err(|m| format!("types.{key}: {m}"))?;
            }
            Source::RdsExport {
                uri,
                restore_types: f.restore_types.unwrap_or(true),
                types: f.types,
            }
        } else {
            let types = f
                .types
                .into_iter()
                .map(|(name, t)| {
                    AttrType::try_from(t)
                        .map(|t| (name.clone(), t))
                        .map_err(|m| format!("types.{name}: {m}"))
                })
                .collect::<Result<AttrTypes, String>>()?;
            Source::DynamodbExport {
                uri: f.dynamodb_export.unwrap_or_default(),
                table: f.table,
                types,
            }
        })
    }
}

impl From<Source> for SourceFields {
    fn from(s: Source) -> Self {
        match s {
            Source::Manifest { uri } => SourceFields {
                manifest: Some(uri),
                ..Default::default()
            },
            Source::Files {
                uri,
                format,
                table,
                schema,
            } => SourceFields {
                files: Some(uri),
                format: (format != InputFormat::default()).then_some(format),
                table,
                schema,
                ..Default::default()
            },
            Source::RdsExport {
                uri,
                restore_types,
                types,
            } => SourceFields {
                rds_export: Some(uri),
                restore_types: (!restore_types).then_some(false),
                types,
                ..Default::default()
            },
            Source::DynamodbExport { uri, table, types } => SourceFields {
                dynamodb_export: Some(uri),
                table,
                types: types
                    .into_iter()
                    .map(|(name, t)| (name, t.into()))
                    .collect(),
                ..Default::default()
            },
        }
    }
}

/// Checks a pinned column's key: `<db>/<schema>/<table>.<column>`.
fn check_column_key(key: &str) -> Result<(), String> {
    let bad = || format!("{key:?} does not name a column: write <db>/<schema>/<table>.<column>");
    let (head, last) = key.rsplit_once('/').ok_or_else(bad)?;
    let (table, column) = last.split_once('.').ok_or_else(bad)?;
    if column.is_empty() {
        return Err(bad());
    }
    check_table_key(&format!("{head}/{table}")).map_err(|m| format!("{key:?}: {m}"))
}

/// Input file formats.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
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
