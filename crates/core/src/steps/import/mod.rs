//! Step 0: turn what the source holds into the snapshot manifest.
//!
//! - `"source": {"files": …}`: every data file of the format under the
//!   folder (Parquet, or NDJSON / CSV with a schema given or inferred from a
//!   sample, [`text_schema`]). Hidden files
//!   and files starting with `_` (markers such as `_SUCCESS`) are skipped, as
//!   every Hive-style reader does.
//! - `"source": {"rds_export": …}`: the tables an RDS / Aurora snapshot export
//!   completed, read from its metadata ([`rds`]).
//! - `"source": {"dynamodb_export": …}`: the data files a DynamoDB export
//!   lists, with their item counts, and the table's schema, inferred once
//!   over every file and recorded in the manifest ([`dynamodb`]).
//! - `"source": {"manifest": …}`: nothing to do; the manifest is read as it is.
//!
//! Record counts come from Parquet footers (one ranged read per file), or from
//! the DynamoDB export's manifest. The footers' schemas are kept on the
//! [`Run`] for step 1.1, which then reads no footer a second time. The
//! manifest is written once; a later run reuses it as it is, once a `files`
//! folder is checked to hold the same files.

pub mod dynamodb;
pub mod rds;

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use tracing::{info, warn};

use super::Run;
use crate::config::{InputFormat, Nanoseconds, Source};
use crate::error::{Error, Result};
use crate::manifest::{
    DataFile, Details, DynamodbDetails, ManifestSummary, SnapshotDetails, read_manifest,
    read_summary, write_manifest,
};
use crate::parquet_io::{from_pq, planned_schema, read_footer};
use crate::read::text;
use crate::restore::Decider;
use crate::schema::{TableSchema, sub_micro_nanos};
use crate::storage::{ObjectMeta, canonical, file_name};
use arrow::datatypes::SchemaRef;
use parquet::arrow::arrow_reader::ArrowReaderMetadata;
use parquet::file::metadata::ParquetMetaData;

/// Footers read at once.
const FOOTER_CONCURRENCY: usize = 32;

/// Writes the snapshot manifest of a `files`, `rds_export` or `dynamodb_export` source; returns
/// its summary. A manifest already written by an earlier run is reused as it is
/// (a `files` folder that gained or lost files since is refused).
pub async fn import(run: &Run) -> Result<ManifestSummary> {
    check_lake_is_ours(run).await?;
    let source = &run.job.source;
    if let Source::Manifest { .. } = source {
        return read_summary(&run.store, &run.snapshot_manifest()).await;
    }
    let summary_uri = run.layout.snapshot_summary();
    if run.store.head(&summary_uri).await?.is_some() {
        info!(manifest = %summary_uri, "snapshot manifest already written");
        if let Source::Files { uri, format, .. } = source {
            return same_files_as_before(run, uri, *format, &summary_uri).await;
        }
        return read_summary(&run.store, &summary_uri).await;
    }
    let mut details = SnapshotDetails {
        source: Some(source.uri().to_string()),
        ..Default::default()
    };
    let files = match source {
        Source::Manifest { .. } => unreachable!("a manifest source is read above"),
        Source::RdsExport {
            uri,
            restore_types,
            types,
        } => rds_files(run, uri, *restore_types, types, &mut details).await?,
        Source::DynamodbExport { uri, table, types } => {
            let export = dynamodb::read_export(&run.store, uri).await?;
            let columns = dynamodb::columns(&run.store, &export.files, types).await?;
            details.dynamodb_export = Some(DynamodbDetails {
                summary: export.summary,
                task: export.task,
                item_count: export.item_count,
                columns,
            });
            export
                .files
                .into_iter()
                .map(|f| DataFile {
                    table: table.clone(),
                    ..f
                })
                .collect()
        }
        Source::Files {
            uri, format, table, ..
        } => {
            let source = FilesSource {
                folder: uri,
                format: *format,
                table: table.as_deref(),
            };
            folder_files(run, source).await?
        }
    };
    let summary = write_manifest(
        &run.store,
        &summary_uri,
        &run.layout.snapshot_data(),
        &files,
        Details {
            snapshot: details,
            ..Default::default()
        },
    )
    .await?;
    info!(
        files = files.len(),
        bytes = summary.size,
        "snapshot manifest written"
    );
    Ok(summary)
}

/// The files of every table an RDS export completed, with their footers'
/// counts; decides every table's restored column types
/// ([`crate::restore`]) over the footers' statistics, and records them.
async fn rds_files(
    run: &Run,
    root: &str,
    restore_types: bool,
    pins: &BTreeMap<String, String>,
    details: &mut SnapshotDetails,
) -> Result<Vec<DataFile>> {
    let export = rds::read_export(&run.store, root).await?;
    for s in &export.skipped {
        warn!(export = root, table = %s.target, status = %s.status, warning = %s.warning, "table not exported; skipped");
    }
    let pins = pins_by_table(&export, pins)?;
    let deciders: BTreeMap<&str, Decider> = export
        .tables
        .iter()
        .map(|t| (t.key.as_str(), Decider::new(&t.mappings)))
        .collect();
    // One stream over every table's files: footers of many small tables
    // are read as concurrently as those of one big table.
    let files: Vec<(&ObjectMeta, Option<&str>)> = export
        .tables
        .iter()
        .flat_map(|t| t.files.iter().map(|m| (m, Some(t.key.as_str()))))
        .collect();
    let read = with_counts(run, files, |uri, table, footer, schema| {
        let decider = &deciders[table.expect("every RDS file has its table")];
        (decider.evidence(uri, footer, schema), schema.clone())
    })
    .await?;
    let mut rds = export.details();
    for t in &export.tables {
        let mut schema = TableSchema::new(&t.key);
        let mut evidence = Vec::new();
        for (f, (e, s)) in read
            .iter()
            .filter(|(f, _)| f.table.as_deref() == Some(&t.key))
        {
            schema.add(s, &f.uri)?;
            evidence.push(e.clone());
        }
        let no_pins = BTreeMap::new();
        let decided = deciders[t.key.as_str()]
            .decide(
                evidence,
                &schema.schema(),
                pins.get(t.key.as_str()).unwrap_or(&no_pins),
                restore_types,
            )
            .map_err(|m| Error::Schema {
                table: t.key.clone(),
                message: format!("source.types: {m}"),
            })?;
        for (column, d) in &decided {
            if let Some(why) = &d.why {
                info!(table = %t.key, column, lake = %d.lake, why, "column type not restored from the mapping");
            }
        }
        if !decided.is_empty() {
            rds.types.insert(t.key.clone(), decided);
        }
    }
    details.rds_export = Some(rds);
    Ok(read.into_iter().map(|(f, _)| f).collect())
}

/// The job's `source.types` pins by table, each key matched to one of the
/// export's tables (`<table>.<column>`).
fn pins_by_table<'a>(
    export: &'a rds::Export,
    pins: &BTreeMap<String, String>,
) -> Result<BTreeMap<&'a str, BTreeMap<String, String>>> {
    let mut out: BTreeMap<&str, BTreeMap<String, String>> = BTreeMap::new();
    for (key, t) in pins {
        let table = export
            .tables
            .iter()
            .map(|t| t.key.as_str())
            .filter(|table| {
                key.strip_prefix(table)
                    .is_some_and(|c| c.len() > 1 && c.starts_with('.'))
            })
            .max_by_key(|table| table.len())
            .ok_or_else(|| {
                Error::Job(format!(
                    "source.types: {key:?} names no table of the export (its tables: {})",
                    export
                        .tables
                        .iter()
                        .map(|t| t.key.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        out.entry(table)
            .or_default()
            .insert(key[table.len() + 1..].to_string(), t.clone());
    }
    Ok(out)
}

/// A `files` source.
struct FilesSource<'a> {
    folder: &'a str,
    format: InputFormat,
    table: Option<&'a str>,
}

/// The data files of a `files` source: Parquet with their footers' counts;
/// text files without (they are counted as they are staged, against the
/// schema step 1.1 resolves).
async fn folder_files(run: &Run, source: FilesSource<'_>) -> Result<Vec<DataFile>> {
    let FilesSource {
        folder,
        format,
        table,
    } = source;
    let data = source_files(run, folder, format).await?;
    if data.is_empty() {
        return Err(Error::bad_data(
            folder,
            format!("no {format:?} files under this folder; nothing to import"),
        ));
    }
    if format == InputFormat::Parquet {
        let files = data.iter().map(|m| (m, table)).collect();
        let read = with_counts(run, files, |_, _, _, _| ()).await?;
        return Ok(read.into_iter().map(|(f, ())| f).collect());
    }
    Ok(data
        .into_iter()
        .map(|m| DataFile {
            etag: m.etag,
            table: table.map(str::to_string),
            ..DataFile::new(m.uri, m.size)
        })
        .collect())
}

/// The data files of `format` under a `files` source's folder.
async fn source_files(run: &Run, folder: &str, format: InputFormat) -> Result<Vec<ObjectMeta>> {
    Ok(run
        .store
        .list(folder)
        .await?
        .into_iter()
        .filter(|m| is_data_file_of(format, &m.uri))
        .collect())
}

/// The snapshot manifest an earlier run wrote for the `files` source
/// `folder`, once the folder is checked to hold the same files: a file added
/// since would be left out of the lake while validation passed, and one
/// removed would fail its staging group later. (A file that changed in
/// place is refused when it is staged.)
async fn same_files_as_before(
    run: &Run,
    folder: &str,
    format: InputFormat,
    summary_uri: &str,
) -> Result<ManifestSummary> {
    let (summary, files) = read_manifest(&run.store, summary_uri).await?;
    // By canonical form (the job may spell the folder differently now), to
    // the URI as listed.
    let by_name = |uris: Vec<String>| -> BTreeMap<String, String> {
        uris.into_iter().map(|u| (canonical(&u), u)).collect()
    };
    let listed = by_name(files.into_iter().map(|f| f.uri).collect());
    let now = by_name(
        source_files(run, folder, format)
            .await?
            .into_iter()
            .map(|m| m.uri)
            .collect(),
    );
    let added: Vec<&String> = now
        .iter()
        .filter_map(|(k, u)| (!listed.contains_key(k)).then_some(u))
        .collect();
    let gone: Vec<&String> = listed
        .iter()
        .filter_map(|(k, u)| (!now.contains_key(k)).then_some(u))
        .collect();
    let change = match (added.first(), gone.first()) {
        (None, None) => return Ok(summary),
        (Some(uri), _) => format!("{uri} was added to it"),
        (None, Some(uri)) => format!("{uri} is gone from it"),
    };
    Err(Error::bad_data(
        folder,
        format!(
            "this folder changed since an earlier run of this job listed it in the snapshot \
             manifest {summary_uri}: {change} ({} added, {} gone in all). A run converts the \
             files that manifest lists; to convert the folder as it is now, give the job new \
             staging and datalake folders (or delete both)",
            added.len(),
            gone.len()
        ),
    ))
}

/// Refuses a datalake folder that already holds a finished lake of another
/// snapshot: its files would mix with this run's. A finished lake of this
/// same snapshot is fine (a rerun, which changes nothing). With the job's
/// `overwrite`, the other lake is deleted instead: `_SUCCESS` first, so a
/// reader never sees a half-deleted lake marked finished.
async fn check_lake_is_ours(run: &Run) -> Result<()> {
    let marker = run.layout.success_marker();
    let body: serde_json::Value = match run.store.get(&marker).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(Error::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let theirs = body.get("snapshot_manifest").and_then(|v| v.as_str());
    if theirs == Some(run.snapshot_manifest().as_str()) {
        return Ok(());
    }
    let theirs = theirs.unwrap_or("another snapshot");
    if !run.job.overwrite {
        return Err(Error::bad_data(
            &marker,
            format!(
                "the datalake folder already holds a finished lake (of {theirs}); write this \
                 snapshot to another datalake folder, or replace that lake with `run --overwrite` \
                 (job field \"overwrite\": true)"
            ),
        ));
    }
    run.store.delete(&marker).await?;
    let old = run.store.list(&run.layout.datalake_root()).await?;
    warn!(lake = %run.layout.datalake_root(), of = theirs, files = old.len(), "overwriting a finished lake");
    futures::stream::iter(old)
        .map(|m| async move { run.store.delete(&m.uri).await })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Whether a listed object is a Parquet data file (not a marker, not hidden).
fn is_data_file(uri: &str) -> bool {
    is_data_file_of(InputFormat::Parquet, uri)
}

/// Whether a listed object is a data file of `format` (not a marker, not hidden).
fn is_data_file_of(format: InputFormat, uri: &str) -> bool {
    let name = file_name(uri);
    !name.starts_with('_') && !name.starts_with('.') && text::is_file_of(format, name)
}

/// The manifest rows of `files` (each with its table), with record counts
/// from their footers, each with what `digest` takes from its footer and
/// Arrow schema; the schemas are kept for step 1.1.
async fn with_counts<T: Send>(
    run: &Run,
    files: Vec<(&ObjectMeta, Option<&str>)>,
    digest: impl Fn(&str, Option<&str>, &ParquetMetaData, &SchemaRef) -> T + Sync,
) -> Result<Vec<(DataFile, T)>> {
    let digest = &digest;
    futures::stream::iter(files)
        .map(|(m, table)| async move {
            let footer = read_footer(&run.store, &m.uri, m.size).await?;
            let meta = ArrowReaderMetadata::try_new(footer.clone(), Default::default())
                .map_err(|e| from_pq(&m.uri, e))?;
            let schema = planned_schema(meta.schema(), &footer);
            if run.job.output.nanoseconds == Nanoseconds::Refuse
                && let Some((column, v)) = sub_micro_nanos(&schema, &footer)
            {
                return Err(Error::Schema {
                    table: table.unwrap_or("*").to_string(),
                    message: format!(
                        "column {column:?} of {} holds {v} ns, which has digits below the \
                         microsecond: the lake holds microseconds (Spark and Athena read no \
                         nanoseconds); set output.nanoseconds to \"truncate\" to drop them",
                        m.uri
                    ),
                });
            }
            run.keep_footer_schema(&m.uri, schema.clone());
            let digested = digest(&m.uri, table, &footer, &schema);
            let file = DataFile {
                n_record: Some(footer.file_metadata().num_rows() as u64),
                etag: m.etag.clone(),
                table: table.map(str::to_string),
                ..DataFile::new(m.uri.clone(), m.size)
            };
            Ok::<_, Error>((file, digested))
        })
        .buffered(FOOTER_CONCURRENCY)
        .try_collect()
        .await
}
