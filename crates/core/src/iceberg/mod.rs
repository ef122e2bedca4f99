//! Iceberg output (`"output": {"format": "iceberg"}`): once the validator
//! has found the lake complete, every lake table gets one Iceberg commit in
//! the job's catalog (an Iceberg SQL catalog or Glue), so each database
//! snapshot is one version of the same table.
//!
//! - The first snapshot creates the table: a schema with field IDs (the
//!   Parquet files carry none; the table's name mapping gives them), the
//!   partition spec and sort order of `partition_by` and `sort_by`
//!   ([`schema`]), and an `append` of every lake file.
//! - A later snapshot commits an `overwrite`: its manifest list holds the
//!   new files, added, and the previous version's files, deleted, so the
//!   current version reads exactly the new snapshot and the previous
//!   version still reads the previous one. A column keeps its ID by name;
//!   a type only widens.
//! - Each version's summary records the snapshot (its datalake folder and
//!   manifest), the source, the snapshot time and the validated record
//!   count; a tag names it (`snapshot-2021-01-01T08:30:00Z`).
//! - A rerun finds its version and commits nothing. Every metadata file is
//!   written whole, under a new name, before the catalog points at it; the
//!   catalog's pointer moves only if it still points where this commit
//!   started from, and a conflict is retried on the new metadata.
//!
//! What is written here by hand: the table metadata JSON, the manifest and
//! manifest list records, the SQL catalog's rows and Glue's parameters.
//! `apache-avro` encodes the Avro files, SQLite (`rusqlite`) holds the SQL
//! catalog. The `iceberg` crate would do more of it, but pins arrow and
//! parquet 58 (we build on 60): a second arrow in every Lambda, and 7
//! minutes more of a cold build.

mod glue;
mod manifest;
pub mod schema;
mod sql;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::datatypes::Schema;
use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use parquet::file::metadata::ParquetMetaData;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::catalog::Registered;
use crate::config::{Catalog, CatalogKind, TableSpec};
use crate::error::{Error, Result};
use crate::manifest::DataFile;
use crate::parquet_io::read_footer;
use crate::steps::Run;
use crate::steps::validate::{Validation, lake_files};
use crate::storage::{file_name, is_s3};
use manifest::{DataFileEntry, ManifestFile};

/// Commits that lose to another writer are retried this often.
const ATTEMPTS: usize = 5;

/// Where a catalog points a table, as it held it when read.
#[derive(Debug, Clone)]
pub struct Held {
    /// The current metadata file.
    pub location: String,
    /// The catalog's version of the entry (Glue's `VersionId`).
    pub version: Option<String>,
}

/// A catalog of Iceberg tables: one pointer per table, moved atomically.
#[async_trait]
trait Pointers: Send + Sync {
    /// Creates the namespace when missing.
    async fn ensure_namespace(&self) -> Result<()>;
    /// The table's current metadata, `None` when it does not exist.
    async fn load(&self, table: &str) -> Result<Option<Held>>;
    /// Points `table` at `new` if it still is at `held` (`None`: creates
    /// it); `false` when another commit came first. `columns`: Hive names
    /// and types, for catalogs that show them.
    async fn swap(
        &self,
        table: &str,
        held: Option<&Held>,
        new: &str,
        location: &str,
        columns: &[(String, String)],
    ) -> Result<bool>;
}

/// What one commit is about: the snapshot and its validated counts.
struct Snapshot {
    datalake: String,
    manifest: String,
    source: String,
    time: Option<String>,
    tag_time: String,
    now_ms: i64,
}

/// Commits every lake table of the validated lake to the job's catalog.
pub async fn commit(run: &Run, catalog: &Catalog, validation: &Validation) -> Result<Registered> {
    let warehouse = catalog
        .warehouse
        .as_deref()
        .ok_or_else(|| Error::Job("catalog.warehouse: Iceberg tables need one".into()))?
        .trim_end_matches('/')
        .to_string();
    let pointers: Box<dyn Pointers> = match catalog.kind {
        CatalogKind::Sql => Box::new(sql::SqlCatalog::open(catalog)?),
        CatalogKind::Glue => Box::new(glue::GlueCatalog::new(run, catalog).await),
    };
    pointers.ensure_namespace().await?;
    let summary = crate::manifest::read_summary(&run.store, &run.snapshot_manifest()).await?;
    let time = crate::catalog::snapshot_time(&summary, &run.job.datalake);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let tag_time = time
        .as_deref()
        .and_then(crate::partition::parse_iso8601)
        .map(|t| t.and_utc())
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let snapshot = Snapshot {
        datalake: absolute(&run.layout.datalake_root()),
        manifest: run.snapshot_manifest(),
        source: run.job.source.uri().to_string(),
        time,
        tag_time,
        now_ms: now,
    };
    let mut files: BTreeMap<String, Vec<DataFile>> = BTreeMap::new();
    for f in lake_files(run).await? {
        files
            .entry(f.table.clone().unwrap_or_else(|| "*".into()))
            .or_default()
            .push(f);
    }
    let mut out = Registered {
        catalog: catalog.describe(run.job.output.format),
        database: catalog.database.clone(),
        iceberg: true,
        ..Default::default()
    };
    for t in &validation.tables {
        let Some(files) = files.get(&t.table) else {
            info!(table = %t.table, "no lake file: no Iceberg table");
            continue;
        };
        let table = (t.table != "*").then_some(t.table.as_str());
        let name = catalog.table_name(table);
        let footers: Vec<Arc<ParquetMetaData>> = futures::stream::iter(files)
            .map(|f| read_footer(&run.store, &f.uri, f.size))
            .buffered(16)
            .try_collect()
            .await?;
        let input = TableInput {
            key: &t.table,
            name: &name,
            spec: run.job.table_spec(table),
            files,
            footers: &footers,
            records: t.n_record,
            location: format!("{warehouse}/{}/{name}", catalog.database),
        };
        if commit_table(run, pointers.as_ref(), &snapshot, &input).await? {
            out.tables_written.push(name);
        }
    }
    info!(database = %catalog.database, tables = ?out.tables_written, "Iceberg tables committed");
    Ok(out)
}

/// One table's commit.
struct TableInput<'a> {
    /// The lake table (`db/schema/table`, `*`).
    key: &'a str,
    /// Its name in the catalog.
    name: &'a str,
    spec: TableSpec,
    files: &'a [DataFile],
    footers: &'a [Arc<ParquetMetaData>],
    records: u64,
    location: String,
}

impl TableInput<'_> {
    /// The error of a table the Iceberg table cannot take.
    fn refuse(&self, message: String) -> Error {
        Error::Schema {
            table: self.key.to_string(),
            message,
        }
    }
}

/// A path as Iceberg readers open it: an s3:// URI, or an absolute path.
fn absolute(uri: &str) -> String {
    if is_s3(uri) {
        return uri.to_string();
    }
    let path = uri.strip_prefix("file://").unwrap_or(uri);
    if path.starts_with('/') {
        return path.to_string();
    }
    std::env::current_dir()
        .map(|d| d.join(path).to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.to_string())
}

/// Commits one table; `false` when this snapshot's version is there already.
async fn commit_table(
    run: &Run,
    pointers: &dyn Pointers,
    snapshot: &Snapshot,
    input: &TableInput<'_>,
) -> Result<bool> {
    let first = &input.files[0];
    let m = input.footers[0].file_metadata();
    let arrow = parquet::arrow::parquet_to_arrow_schema(m.schema_descr(), m.key_value_metadata())
        .map_err(|e| Error::parquet(&first.uri, e))?;
    let columns: Vec<(String, String)> = arrow
        .fields()
        .iter()
        .filter_map(|f| {
            crate::catalog::hive_type(f.data_type())
                .ok()
                .map(|t| (f.name().clone(), t))
        })
        .collect();
    for attempt in 1..=ATTEMPTS {
        let held = pointers.load(input.name).await?;
        let current: Option<Value> = match &held {
            Some(h) => Some(
                serde_json::from_slice(&run.store.get(&h.location).await?).map_err(|e| {
                    Error::bad_data(&h.location, format!("not Iceberg table metadata: {e}"))
                })?,
            ),
            None => None,
        };
        if let Some(c) = &current
            && let Some(id) = committed(c, snapshot)
        {
            info!(
                table = input.name,
                snapshot = id,
                "this snapshot's Iceberg version is committed already"
            );
            return Ok(false);
        }
        let location = current
            .as_ref()
            .and_then(|c| c["location"].as_str())
            .map_or_else(|| input.location.clone(), str::to_string);
        let next = next_version(
            run,
            snapshot,
            input,
            &arrow,
            current.as_ref(),
            held.as_ref(),
            &location,
        )
        .await?;
        for (uri, bytes) in &next.files {
            run.store.put(uri, Bytes::from(bytes.clone())).await?;
        }
        let metadata_uri = &next
            .files
            .last()
            .expect("the metadata file is written last")
            .0;
        if pointers
            .swap(input.name, held.as_ref(), metadata_uri, &location, &columns)
            .await?
        {
            info!(table = input.name, metadata = %metadata_uri, snapshot = next.snapshot_id, "Iceberg version committed");
            return Ok(true);
        }
        warn!(
            table = input.name,
            attempt, "another commit came first; retrying on its metadata"
        );
        for (uri, _) in &next.files {
            run.store.delete(uri).await?;
        }
    }
    Err(Error::Service {
        call: format!("commit of Iceberg table {}", input.name),
        message: format!("{ATTEMPTS} attempts lost to other commits"),
        transient: true,
    })
}

/// The ID of the version that `snapshot` committed already, if any.
fn committed(metadata: &Value, snapshot: &Snapshot) -> Option<i64> {
    metadata["snapshots"].as_array()?.iter().find_map(|s| {
        let sum = &s["summary"];
        (sum["dbsnaplake.snapshot-manifest"] == snapshot.manifest.as_str()
            && sum["dbsnaplake.datalake"] == snapshot.datalake.as_str())
        .then(|| s["snapshot-id"].as_i64())
        .flatten()
    })
}

/// The files of a new version, the metadata file last, and its snapshot ID.
struct Next {
    files: Vec<(String, Vec<u8>)>,
    snapshot_id: i64,
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The ID of `entries` (a list of objects with `id_key`) whose `fields`
/// equal `fields`, or a new one after the largest.
fn find_or_add(
    list: &mut Vec<Value>,
    id_key: &str,
    fields_key: &str,
    fields: &Value,
    first: i64,
) -> i64 {
    if let Some(found) = list.iter().find(|s| &s[fields_key] == fields) {
        return found[id_key].as_i64().unwrap_or(first);
    }
    let id = list
        .iter()
        .filter_map(|s| s[id_key].as_i64())
        .max()
        .map_or(first, |m| m + 1);
    let mut entry = json!({id_key: id});
    entry[fields_key] = fields.clone();
    list.push(entry);
    id
}

async fn next_version(
    run: &Run,
    snapshot: &Snapshot,
    input: &TableInput<'_>,
    arrow: &Schema,
    current: Option<&Value>,
    held: Option<&Held>,
    location: &str,
) -> Result<Next> {
    let mut meta = current.cloned().unwrap_or_else(|| {
        json!({
            "format-version": 2,
            "table-uuid": uuid(),
            "location": location,
            "last-sequence-number": 0,
            "last-updated-ms": 0,
            "last-column-id": 0,
            "current-schema-id": 0,
            "schemas": [],
            "default-spec-id": 0,
            "partition-specs": [],
            "last-partition-id": 999,
            "default-sort-order-id": 0,
            "sort-orders": [{"order-id": 0, "fields": []}],
            "properties": {},
            "current-snapshot-id": -1,
            "snapshots": [],
            "snapshot-log": [],
            "metadata-log": [],
            "refs": {},
        })
    });
    let refuse = |m: String| input.refuse(m);
    if meta["format-version"] != 2 {
        return Err(refuse(format!(
            "the Iceberg table {} is format version {}; dbsnaplake commits to version 2 tables",
            input.name, meta["format-version"]
        )));
    }
    // Schema: IDs by name from the current schema, then older ones.
    let mut schemas: Vec<Value> = meta["schemas"].as_array().cloned().unwrap_or_default();
    let current_schema = meta["current-schema-id"].as_i64();
    schemas.sort_by_key(|s| {
        let id = s["schema-id"].as_i64();
        (id != current_schema, std::cmp::Reverse(id))
    });
    let prior: Vec<&Value> = schemas.iter().map(|s| &s["fields"]).collect();
    let last_id = meta["last-column-id"].as_i64().unwrap_or(0) as i32;
    let (fields, last_id) = schema::fields(arrow, &prior, last_id).map_err(refuse)?;
    let fields_json = Value::Array(fields.clone());
    let mut all_schemas = meta["schemas"].as_array().cloned().unwrap_or_default();
    let schema_id = find_or_add(&mut all_schemas, "schema-id", "fields", &fields_json, 0);
    for s in &mut all_schemas {
        s["type"] = json!("struct");
    }
    let mapping_order: Vec<Value> = std::iter::once(fields_json.clone())
        .chain(prior.iter().map(|p| (*p).clone()))
        .collect();
    let mapping = schema::name_mapping(&mapping_order.iter().collect::<Vec<_>>());
    meta["schemas"] = Value::Array(all_schemas);
    meta["current-schema-id"] = json!(schema_id);
    meta["last-column-id"] = json!(last_id);
    // Partition spec: field IDs kept for the same source and transform.
    let part = schema::partition_spec(&input.spec, arrow, &fields).map_err(refuse)?;
    let mut specs: Vec<Value> = meta["partition-specs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut last_part = meta["last-partition-id"].as_i64().unwrap_or(999);
    let spec_ids: Vec<i32> = part
        .iter()
        .map(|p| {
            let known = specs
                .iter()
                .flat_map(|s| s["fields"].as_array().cloned().unwrap_or_default())
                .find(|f| f["source-id"] == p.source_id && f["transform"] == p.transform.name());
            match known.and_then(|f| f["field-id"].as_i64()) {
                Some(id) => id as i32,
                None => {
                    last_part += 1;
                    last_part as i32
                }
            }
        })
        .collect();
    let spec_fields: Value = part
        .iter()
        .zip(&spec_ids)
        .map(|(p, id)| json!({"source-id": p.source_id, "field-id": id, "name": p.name, "transform": p.transform.name()}))
        .collect();
    let spec_id = find_or_add(&mut specs, "spec-id", "fields", &spec_fields, 0);
    meta["partition-specs"] = Value::Array(specs);
    meta["default-spec-id"] = json!(spec_id);
    meta["last-partition-id"] = json!(last_part);
    // Sort order.
    let sort = Value::Array(schema::sort_fields(&input.spec, &fields).map_err(refuse)?);
    let mut orders: Vec<Value> = meta["sort-orders"].as_array().cloned().unwrap_or_default();
    let order_id = if sort.as_array().is_some_and(Vec::is_empty) {
        0
    } else {
        find_or_add(&mut orders, "order-id", "fields", &sort, 1).max(1)
    };
    meta["sort-orders"] = Value::Array(orders);
    meta["default-sort-order-id"] = json!(order_id);
    // The new snapshot.
    let used: Vec<i64> = meta["snapshots"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["snapshot-id"].as_i64())
        .collect();
    let snapshot_id = loop {
        let id = (uuid::Uuid::new_v4().as_u128() as i64) & i64::MAX;
        if id != 0 && !used.contains(&id) {
            break id;
        }
    };
    let parent = meta["current-snapshot-id"].as_i64().filter(|id| *id >= 0);
    let sequence = meta["last-sequence-number"].as_i64().unwrap_or(0) + 1;
    let dir = format!("{location}/metadata");
    let schema_json = json!({"type": "struct", "schema-id": schema_id, "fields": fields_json});
    let entries: Vec<DataFileEntry> = input
        .files
        .iter()
        .zip(input.footers)
        .map(|(f, footer)| {
            let null_only = |column: &str| null_only(footer, column);
            let values = schema::partition_values(
                &input.spec,
                &part,
                f.partition.as_deref().unwrap_or(""),
                null_only,
            )
            .map_err(|m| refuse(format!("{}: {m}", f.uri)))?;
            Ok(DataFileEntry::of(
                absolute(&f.uri),
                f.size,
                footer,
                &fields,
                values,
            ))
        })
        .collect::<Result<_>>()?;
    let manifest_meta = [
        ("schema", schema_json.to_string()),
        ("schema-id", schema_id.to_string()),
        ("partition-spec", spec_fields.to_string()),
        ("partition-spec-id", spec_id.to_string()),
        ("format-version", "2".to_string()),
        ("content", "data".to_string()),
    ];
    let (bytes, partitions) = manifest::write_manifest(
        &part,
        &spec_ids,
        &entries,
        snapshot_id,
        order_id as i32,
        &manifest_meta,
    )
    .map_err(|m| Error::Internal(format!("the manifest of {}: {m}", input.name)))?;
    let added_records: i64 = entries.iter().map(|e| e.records as i64).sum();
    let added_size: u64 = entries.iter().map(|e| e.size).sum();
    if added_records as u64 != input.records {
        return Err(Error::Validation(format!(
            "table {}: the lake files hold {added_records} records and validation counted {}",
            input.name, input.records
        )));
    }
    let manifest_uri = format!("{dir}/{}-m0.avro", uuid());
    let mut lists = vec![ManifestFile {
        path: manifest_uri.clone(),
        length: bytes.len() as u64,
        spec_id: spec_id as i32,
        content: 0,
        sequence_number: sequence,
        min_sequence_number: sequence,
        snapshot_id,
        added: (entries.len() as i32, added_records),
        deleted: (0, 0),
        partitions,
    }];
    let mut files = vec![(manifest_uri, bytes)];
    // The previous version's files, deleted.
    let previous = parent.and_then(|p| {
        meta["snapshots"]
            .as_array()?
            .iter()
            .find(|s| s["snapshot-id"] == p)
            .cloned()
    });
    let (mut deleted_files, mut deleted_records) = (0i64, 0i64);
    if let Some(prev) = &previous
        && let Some(list_uri) = prev["manifest-list"].as_str()
    {
        let listed = manifest::read_list(&run.store.get(list_uri).await?)
            .map_err(|m| Error::bad_data(list_uri, m))?;
        for (i, m) in listed.iter().enumerate() {
            let bytes = run.store.get(&m.path).await?;
            let path = format!("{dir}/{}-m{}.avro", uuid(), i + 1);
            if let Some((bytes, file)) = manifest::delete_all(&bytes, m, snapshot_id, path.clone())
                .map_err(|e| Error::bad_data(&m.path, e))?
            {
                if file.content == 0 {
                    deleted_files += i64::from(file.deleted.0);
                    deleted_records += file.deleted.1;
                }
                files.push((path, bytes));
                lists.push(file);
            }
        }
    }
    let list_uri = format!("{dir}/snap-{snapshot_id}-1-{}.avro", uuid());
    let list_meta = [
        ("snapshot-id", snapshot_id.to_string()),
        (
            "parent-snapshot-id",
            parent.map_or_else(|| "null".to_string(), |p| p.to_string()),
        ),
        ("sequence-number", sequence.to_string()),
        ("format-version", "2".to_string()),
    ];
    let list = manifest::write_list(&lists, sequence, &list_meta).map_err(Error::Internal)?;
    files.push((list_uri.clone(), list));
    let now = snapshot
        .now_ms
        .max(meta["last-updated-ms"].as_i64().unwrap_or(0) + 1);
    let mut summary = json!({
        "operation": if parent.is_some() { "overwrite" } else { "append" },
        "added-data-files": entries.len().to_string(),
        "added-records": added_records.to_string(),
        "added-files-size": added_size.to_string(),
        "deleted-data-files": deleted_files.to_string(),
        "deleted-records": deleted_records.to_string(),
        "total-data-files": entries.len().to_string(),
        "total-records": added_records.to_string(),
        "total-files-size": added_size.to_string(),
        "total-delete-files": "0",
        "total-position-deletes": "0",
        "total-equality-deletes": "0",
        "dbsnaplake.datalake": snapshot.datalake,
        "dbsnaplake.snapshot-manifest": snapshot.manifest,
        "dbsnaplake.source": snapshot.source,
        "dbsnaplake.validated-records": input.records.to_string(),
        "engine-name": "dbsnaplake",
        "engine-version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(t) = &snapshot.time {
        summary["dbsnaplake.snapshot-time"] = json!(t);
    }
    let mut snap = json!({
        "snapshot-id": snapshot_id,
        "sequence-number": sequence,
        "timestamp-ms": now,
        "manifest-list": list_uri,
        "summary": summary,
        "schema-id": schema_id,
    });
    if let Some(p) = parent {
        snap["parent-snapshot-id"] = json!(p);
    }
    push(&mut meta, "snapshots", snap);
    push(
        &mut meta,
        "snapshot-log",
        json!({"timestamp-ms": now, "snapshot-id": snapshot_id}),
    );
    if let Some(h) = held {
        let at = meta["last-updated-ms"].clone();
        push(
            &mut meta,
            "metadata-log",
            json!({"timestamp-ms": at, "metadata-file": h.location}),
        );
    }
    meta["current-snapshot-id"] = json!(snapshot_id);
    meta["last-sequence-number"] = json!(sequence);
    meta["last-updated-ms"] = json!(now);
    let refs = meta["refs"]
        .as_object_mut()
        .ok_or_else(|| refuse("the table metadata's refs is not an object".into()))?;
    refs.insert(
        "main".into(),
        json!({"snapshot-id": snapshot_id, "type": "branch"}),
    );
    let base = format!("snapshot-{}", snapshot.tag_time);
    let tag = (1..)
        .map(|n| {
            if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            }
        })
        .find(|t| !refs.contains_key(t))
        .expect("some suffix is free");
    refs.insert(tag, json!({"snapshot-id": snapshot_id, "type": "tag"}));
    let props = meta["properties"]
        .as_object_mut()
        .ok_or_else(|| refuse("the table metadata's properties is not an object".into()))?;
    props.insert(
        "schema.name-mapping.default".into(),
        json!(mapping.to_string()),
    );
    props.insert("write.format.default".into(), json!("parquet"));
    let version = held
        .map(|h| file_name(&h.location))
        .and_then(|n| n.split('-').next()?.parse::<u64>().ok())
        .map_or(0, |v| v + 1);
    let metadata_uri = format!("{dir}/{version:05}-{}.metadata.json", uuid());
    files.push((
        metadata_uri,
        serde_json::to_vec_pretty(&meta).expect("json"),
    ));
    Ok(Next { files, snapshot_id })
}

fn push(meta: &mut Value, key: &str, v: Value) {
    match meta[key].as_array_mut() {
        Some(a) => a.push(v),
        None => meta[key] = json!([v]),
    }
}

/// Whether a file's `column` holds only NULLs (`Some(false)`: none), from
/// its footer's null counts; `None` when they do not tell.
fn null_only(footer: &ParquetMetaData, column: &str) -> Option<bool> {
    let descr = footer.file_metadata().schema_descr();
    let i = descr
        .columns()
        .iter()
        .position(|c| c.path().parts() == [column.to_string()])?;
    let mut nulls = 0u64;
    for rg in footer.row_groups() {
        nulls += rg.column(i).statistics()?.null_count_opt()?;
    }
    let rows = footer.file_metadata().num_rows().max(0) as u64;
    match nulls {
        0 => Some(false),
        n if n == rows => Some(true),
        _ => None,
    }
}
