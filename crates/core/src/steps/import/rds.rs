//! An RDS / Aurora snapshot export (Parquet) as a list of tables and files.
//!
//! The export task folder holds `export_info_<task>.json` (the task's status),
//! one or more `export_tables_info_<task>_from_<i>_to_<j>.json` (one
//! `perTableStatus` entry per table), and per table
//! `<database>/<schema>.<table>/[<batch>/]part-<n>-<uuid>-c000.gz.parquet`.
//! MySQL and MariaDB have no schema level: their folders are
//! `<database>/<database>.<table>/` and their tables become
//! `<database>/<database>/<table>` in the lake, the database standing in for
//! the schema.
//!
//! Guarantees: an export whose task status is not `COMPLETE` is refused (a
//! cancelled or failed export leaves partial files behind); only tables whose
//! own status is `COMPLETE` are taken, the others are reported with their
//! warning; every `*.parquet` under a table's folder is taken whatever its
//! batch folder or part number (gaps are normal), markers such as `_SUCCESS`
//! are not. Keys of the metadata files are matched case-insensitively, as
//! their casing varies between engines.

use serde_json::Value;

use super::is_data_file;
use crate::error::{Error, Result};
use crate::manifest::{RdsDetails, SkippedTable};
use crate::restore::OriginalType;
use crate::storage::{ObjectMeta, StorageRef, file_name, join, relative};

/// What an export task folder holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// URI of the `export_info_<task>.json`.
    pub info: String,
    /// `exportTaskIdentifier`, `sourceArn` and `snapshotTime` as the export recorded them.
    pub task: serde_json::Map<String, Value>,
    /// The tables the export completed, sorted by key.
    pub tables: Vec<ExportedTable>,
    /// The tables the export did not complete (failed, skipped, cancelled).
    pub skipped: Vec<SkippedTable>,
    /// Warnings of the export not tied to one table (`target` is a database).
    pub warnings: Vec<String>,
    /// Parquet files under the folder that belong to no completed table.
    pub unlisted: usize,
}

/// One exported table and its data files.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedTable {
    /// The export's name: `db.schema.table` (PostgreSQL) or `db.table` (MySQL).
    pub target: String,
    /// The lake's name: `database/schema/table`.
    pub key: String,
    /// Its Parquet files, sorted by URI.
    pub files: Vec<ObjectMeta>,
    /// The database's types of its columns (`originalTypeMappings`).
    pub mappings: Vec<OriginalType>,
}

/// One `perTableStatus` entry.
struct TableStatus {
    status: String,
    warning: String,
    mappings: Vec<OriginalType>,
}

impl Export {
    /// What the snapshot manifest records of the export.
    pub fn details(&self) -> RdsDetails {
        RdsDetails {
            info: self.info.clone(),
            task: self.task.clone(),
            tables: self.tables.iter().map(|t| t.key.clone()).collect(),
            skipped: self.skipped.clone(),
            warnings: self.warnings.clone(),
            unlisted_files: self.unlisted,
            types: Default::default(),
        }
    }
}

/// Reads the export task folder `root`.
pub async fn read_export(store: &StorageRef, root: &str) -> Result<Export> {
    let listing = store.list(root).await?;
    let top = |prefix: &str| -> Vec<&ObjectMeta> {
        listing
            .iter()
            .filter(|m| {
                relative(root, &m.uri).is_some_and(|r| {
                    !r.contains('/') && r.starts_with(prefix) && r.ends_with(".json")
                })
            })
            .collect()
    };
    let (info, task) = read_info(store, root, &top("export_info_")).await?;
    let statuses = read_table_statuses(store, root, &top("export_tables_info_")).await?;
    let mut export = Export {
        info,
        task,
        tables: Vec::new(),
        skipped: Vec::new(),
        warnings: Vec::new(),
        unlisted: 0,
    };
    let mut taken = std::collections::BTreeSet::new();
    for (target, t) in statuses {
        let TableStatus {
            status,
            warning,
            mappings,
        } = t;
        if !target.contains('.') {
            if !warning.is_empty() {
                export.warnings.push(format!("{target}: {warning}"));
            }
            continue;
        }
        if status != "COMPLETE" {
            export.skipped.push(SkippedTable {
                target,
                status,
                warning,
            });
            continue;
        }
        let (folder, key) = table_folder(&target, |folder| {
            listing
                .iter()
                .any(|m| relative(&join(root, folder), &m.uri).is_some())
        })
        .map_err(|m| Error::bad_data(&export.info, m))?;
        let under = join(root, &folder);
        let files: Vec<ObjectMeta> = listing
            .iter()
            .filter(|m| relative(&under, &m.uri).is_some() && is_data_file(&m.uri))
            .cloned()
            .collect();
        taken.extend(files.iter().map(|m| m.uri.clone()));
        export.tables.push(ExportedTable {
            target,
            key,
            files,
            mappings,
        });
    }
    if export.tables.is_empty() {
        return Err(Error::bad_data(
            root,
            format!(
                "the export completed no table ({} skipped): nothing to load",
                export.skipped.len()
            ),
        ));
    }
    export.tables.sort_by(|a, b| a.key.cmp(&b.key));
    export.unlisted = listing
        .iter()
        .filter(|m| is_data_file(&m.uri) && !taken.contains(&m.uri))
        .count();
    Ok(export)
}

/// The one `export_info_*.json` of the folder (`found`), which must say the
/// export completed; returns its URI and the task's identity.
async fn read_info(
    store: &StorageRef,
    root: &str,
    found: &[&ObjectMeta],
) -> Result<(String, serde_json::Map<String, Value>)> {
    let info = match found {
        [one] => one.uri.clone(),
        [] => {
            return Err(Error::bad_data(
                root,
                "no export_info_*.json here: point `source.rds_export` at the export task folder \
                 (s3://<bucket>/<prefix>/<export task id>/), and wait until the export completes",
            ));
        }
        many => {
            let names: Vec<&str> = many.iter().map(|m| file_name(&m.uri)).collect();
            return Err(Error::bad_data(
                root,
                format!(
                    "several export_info files ({}): one export task per folder",
                    names.join(", ")
                ),
            ));
        }
    };
    let info_json = read_json(store, &info).await?;
    let status = text(&info_json, "status").unwrap_or_default();
    if status != "COMPLETE" {
        return Err(Error::bad_data(
            &info,
            format!(
                "the export's status is {status:?}, not \"COMPLETE\": dbsnaplake loads only \
                 completed exports (a cancelled or failed one leaves partial files behind)"
            ),
        ));
    }
    if let Some(p) = get(&info_json, "percentProgress").and_then(Value::as_f64)
        && p < 100.0
    {
        return Err(Error::bad_data(
            &info,
            format!("the export is {p}% done, not 100%: wait until it completes"),
        ));
    }
    let task = ["exportTaskIdentifier", "sourceArn", "snapshotTime"]
        .into_iter()
        .filter_map(|k| get(&info_json, k).map(|v| (k.to_string(), v.clone())))
        .collect();
    Ok((info, task))
}

/// Every export target's status, warning and type mappings, over the
/// folder's `export_tables_info_*.json` files (`found`).
async fn read_table_statuses(
    store: &StorageRef,
    root: &str,
    found: &[&ObjectMeta],
) -> Result<std::collections::BTreeMap<String, TableStatus>> {
    if found.is_empty() {
        return Err(Error::bad_data(
            root,
            "no export_tables_info_*.json here: the export's table list is missing, so which \
             tables completed cannot be told",
        ));
    }
    let mut statuses = std::collections::BTreeMap::new();
    for m in found {
        let json = read_json(store, &m.uri).await?;
        let entries = get(&json, "perTableStatus")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::bad_data(&m.uri, "no `perTableStatus` list"))?;
        for e in entries {
            let target = text(e, "target").ok_or_else(|| {
                Error::bad_data(
                    &m.uri,
                    format!("a perTableStatus entry has no `target`: {e}"),
                )
            })?;
            let warning = match get(e, "warningMessage") {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            let mappings = type_mappings(e);
            statuses.insert(
                target,
                TableStatus {
                    status: text(e, "status").unwrap_or_default(),
                    warning,
                    mappings,
                },
            );
        }
    }
    Ok(statuses)
}

/// The folder (below the export root) and the lake key of a `target`.
/// PostgreSQL's `db.schema.table` lives in `db/schema.table/`; MySQL's
/// `db.table` in `db/db.table/`. A three-part MySQL name (a table with a dot)
/// is told apart by which folder exists. Characters the export replaces in
/// paths (`\`, backtick, `"`, space) become `_`.
fn table_folder(
    target: &str,
    exists: impl Fn(&str) -> bool,
) -> std::result::Result<(String, String), String> {
    let clean: String = target
        .chars()
        .map(|c| {
            if matches!(c, '\\' | '`' | '"' | ' ') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let (db, rest) = clean.split_once('.').unwrap_or((&clean, ""));
    let mysql = (format!("{db}/{clean}"), format!("{db}/{db}/{rest}"));
    let postgres = rest
        .split_once('.')
        .map(|(schema, table)| (format!("{db}/{rest}"), format!("{db}/{schema}/{table}")));
    let (folder, key) = match postgres {
        Some(pg) if exists(&pg.0) || !exists(&mysql.0) => pg,
        _ => mysql,
    };
    if key
        .split('/')
        .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Err(format!(
            "table {target:?} does not name a database, schema and table"
        ));
    }
    Ok((folder, key))
}

/// A `perTableStatus` entry's `schemaMetadata.originalTypeMappings`
/// (none when it has none). An entry without a column name is skipped.
fn type_mappings(entry: &Value) -> Vec<OriginalType> {
    let list = get(entry, "schemaMetadata")
        .and_then(|m| get(m, "originalTypeMappings"))
        .and_then(Value::as_array);
    list.into_iter()
        .flatten()
        .filter_map(|m| {
            Some(OriginalType {
                column: text(m, "columnName")?,
                original_type: text(m, "originalType").unwrap_or_default(),
                num_precision: get(m, "originalNumPrecision")
                    .and_then(Value::as_u64)
                    .unwrap_or(0) as u32,
            })
        })
        .collect()
}

async fn read_json(store: &StorageRef, uri: &str) -> Result<Value> {
    let bytes = store.get(uri).await?;
    serde_json::from_slice(&bytes).map_err(|e| Error::bad_data(uri, format!("not valid JSON: {e}")))
}

/// The value of `key` in an object, matched case-insensitively.
fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn text(v: &Value, key: &str) -> Option<String> {
    get(v, key).and_then(Value::as_str).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_and_mysql_targets_map_to_folders_and_keys() {
        let none = |_: &str| false;
        assert_eq!(
            table_folder("appdb.public.orders", none).unwrap(),
            ("appdb/public.orders".into(), "appdb/public/orders".into())
        );
        assert_eq!(
            table_folder("shop.orders", none).unwrap(),
            ("shop/shop.orders".into(), "shop/shop/orders".into())
        );
        let mysql_dotted = |f: &str| f == "shop/shop.order.lines";
        assert_eq!(
            table_folder("shop.order.lines", mysql_dotted).unwrap(),
            (
                "shop/shop.order.lines".into(),
                "shop/shop/order.lines".into()
            )
        );
        assert_eq!(
            table_folder("app db.public.my table", none).unwrap(),
            (
                "app_db/public.my_table".into(),
                "app_db/public/my_table".into()
            )
        );
        assert!(table_folder("db..t", none).is_err());
    }

    #[test]
    fn type_mappings_are_read_whatever_their_case() {
        let e = serde_json::json!({"SchemaMetadata": {"originalTypeMappings": [
            {"columnName": "amount", "originalType": "numeric", "originalNumPrecision": 14,
             "originalCharMaxLength": 0, "originalDateTimePrecision": 0},
            {"ColumnName": "at", "OriginalType": "timestamp with time zone"},
            {"originalType": "text"}
        ]}});
        let m = type_mappings(&e);
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].column.as_str(), m[0].num_precision), ("amount", 14));
        assert_eq!(m[1].original_type, "timestamp with time zone");
        assert!(type_mappings(&serde_json::json!({})).is_empty());
    }

    #[test]
    fn keys_match_whatever_their_case() {
        let v = serde_json::json!({"PerTableStatus": [], "Status": "COMPLETE"});
        assert!(get(&v, "perTableStatus").is_some());
        assert_eq!(text(&v, "status").as_deref(), Some("COMPLETE"));
    }
}
