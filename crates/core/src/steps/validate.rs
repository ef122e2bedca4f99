//! Step 3: check that every record of the snapshot arrived in the lake.
//!
//! Counts come from three independent places: the snapshot manifest (per
//! table), the staging file group manifests (per table and partition) and the
//! Parquet footers of the files actually in the lake (no data pages are read;
//! NDJSON and CSV lake files have no footer, so their datalake manifest rows
//! count, for as long as the object keeps the size the worker recorded).
//! The lake must hold exactly the files the compaction workers recorded, no
//! more (a leftover of another run would double records) and no fewer.
//! Contents are compared too: the [`Checksum`]s the staging workers recorded
//! for each partition must add up to those in the lake files' footers (the
//! compaction workers computed them over the rows they wrote).
//!
//! The result is written to `<staging>/manifests/validate-datalake-result.json`.
//! `<datalake>/_SUCCESS` is written only when everything matches; otherwise it
//! is removed and the step fails with an error naming the table and partition.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tracing::{info, instrument, warn};

use super::{Run, read_group_list, write_json};
use crate::checksum::Checksum;
use crate::config::OutputFormat;
use crate::error::{Error, Result};
use crate::lake_file::has_footer;
use crate::layout::GroupKind;
use crate::manifest::{DataFile, ManifestSummary, read_manifest};
use crate::parquet_io::{footer_checksum, read_footer};
use crate::storage::relative;

/// Footers and manifests read at once.
const CONCURRENCY: usize = 32;

/// Counts of one partition of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionCounts {
    /// Hive path below the table (empty when unpartitioned).
    pub partition: String,
    /// Lake files.
    pub n_file: u64,
    /// Lake bytes.
    pub size: u64,
    /// Records in the lake files' footers.
    pub n_record: u64,
    /// Records the staging workers wrote for this partition.
    pub staging_records: u64,
    /// Content checksum of the lake files (`None` if one lacks it).
    pub checksum: Option<Checksum>,
    /// Content checksum of the staged rows (`None` if a staging file lacks it).
    pub staging_checksum: Option<Checksum>,
}

/// Counts of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableCounts {
    /// `database/schema/table`, or `*` for a snapshot without tables.
    pub table: String,
    /// Records the snapshot manifest lists, when it lists counts.
    pub snapshot_records: Option<u64>,
    /// Records staged.
    pub staging_records: u64,
    /// Records the table's filters removed while staging.
    #[serde(default)]
    pub filtered_records: u64,
    /// Records in the lake.
    pub n_record: u64,
    /// Lake files.
    pub n_file: u64,
    /// Lake bytes.
    pub size: u64,
    /// Content checksum of the table's lake files.
    pub checksum: Option<Checksum>,
    /// Content checksum of the table's staged rows.
    pub staging_checksum: Option<Checksum>,
    /// Per partition.
    pub partitions: Vec<PartitionCounts>,
}

/// The validation result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// True when every count matches.
    pub valid: bool,
    /// The snapshot manifest validated against.
    pub snapshot_manifest: String,
    /// The lake validated.
    pub datalake: String,
    /// Per table.
    pub tables: Vec<TableCounts>,
    /// Every difference found, each naming its table and partition.
    pub errors: Vec<String>,
}

impl Validation {
    /// Total records in the lake.
    pub fn n_record(&self) -> u64 {
        self.tables.iter().map(|t| t.n_record).sum()
    }
    /// Total lake files.
    pub fn n_file(&self) -> u64 {
        self.tables.iter().map(|t| t.n_file).sum()
    }
    /// Total lake bytes.
    pub fn size(&self) -> u64 {
        self.tables.iter().map(|t| t.size).sum()
    }
}

/// Adds `c` to a running checksum, which starts at the empty sum
/// (`Some(Checksum::default())`): once a part is unknown, the sum is too.
fn add(sum: &mut Option<Checksum>, c: Option<Checksum>) {
    *sum = sum.zip(c).map(|(a, b)| a + b);
}

/// A table's counts before any partition of it is seen.
fn empty_table(table: &str, snapshot_records: Option<u64>) -> TableCounts {
    TableCounts {
        table: table.to_string(),
        snapshot_records,
        checksum: Some(Checksum::default()),
        staging_checksum: Some(Checksum::default()),
        ..Default::default()
    }
}

/// A partition's counts before any file of it is seen.
fn empty_partition() -> PartitionCounts {
    PartitionCounts {
        checksum: Some(Checksum::default()),
        staging_checksum: Some(Checksum::default()),
        ..Default::default()
    }
}

fn show(c: Option<Checksum>) -> String {
    c.map_or_else(|| "none".to_string(), |c| c.to_string())
}

fn table_name(t: &Option<String>) -> String {
    t.clone().unwrap_or_else(|| "*".to_string())
}

/// Reads every manifest of a group list's output kind.
async fn outputs(
    run: &Run,
    plan: GroupKind,
    out: GroupKind,
) -> Result<Vec<(ManifestSummary, Vec<DataFile>)>> {
    let items = read_group_list(run, plan).await?;
    futures::stream::iter(items)
        .map(|g| async move {
            let uri = run.layout.group_summary(out, g.n);
            match read_manifest(&run.store, &uri).await {
                Ok(manifest) => Ok(manifest),
                Err(Error::NotFound { .. }) => Err(Error::Validation(format!(
                    "{} group {} has no output manifest ({uri}): its worker has not finished",
                    plan.folder(),
                    g.n
                ))),
                Err(e) => Err(e),
            }
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// What validation has counted so far, by table and partition, and what it
/// found wrong.
struct Tally {
    tables: BTreeMap<String, TableCounts>,
    partitions: BTreeMap<(String, String), PartitionCounts>,
    errors: Vec<String>,
}

impl Tally {
    /// The snapshot manifest's tables and their records.
    fn of_snapshot(snapshot: &[DataFile]) -> Self {
        let mut records: BTreeMap<String, Option<u64>> = BTreeMap::new();
        for f in snapshot {
            let n = records.entry(table_name(&f.table)).or_insert(Some(0));
            *n = n.zip(f.n_record).map(|(a, b)| a + b);
        }
        Tally {
            tables: records
                .into_iter()
                .map(|(table, n)| {
                    let counts = empty_table(&table, n);
                    (table, counts)
                })
                .collect(),
            partitions: BTreeMap::new(),
            errors: Vec::new(),
        }
    }

    /// Adds what the staging workers recorded: records filtered out per
    /// table, records and checksums per partition.
    fn add_staged(&mut self, staged: Vec<(ManifestSummary, Vec<DataFile>)>) {
        for (summary, files) in staged {
            let table = summary.details.group.table.as_deref().unwrap_or("*");
            if let Some(t) = self.tables.get_mut(table) {
                t.filtered_records += summary.details.worker.n_filtered.unwrap_or(0);
            }
            for f in files {
                let key = (
                    table_name(&f.table),
                    f.partition.clone().unwrap_or_default(),
                );
                let p = self.partitions.entry(key).or_insert_with(empty_partition);
                add(&mut p.staging_checksum, f.checksum);
                p.staging_records += f.n_record.unwrap_or(0);
            }
        }
    }

    /// Adds the files in the lake (`found`, with their footers' counts),
    /// each of which the compaction workers must have `recorded`, and which
    /// must all be there.
    fn add_lake(
        &mut self,
        root: &str,
        named_tables: bool,
        recorded: &BTreeMap<String, DataFile>,
        found: Vec<LakeFileCounts>,
    ) {
        let seen: BTreeSet<&str> = found.iter().map(|f| f.uri.as_str()).collect();
        for missing in recorded.keys().filter(|u| !seen.contains(u.as_str())) {
            self.errors.push(format!(
                "{missing}: written by a compaction worker but missing from the lake"
            ));
        }
        for f in found {
            if !recorded.contains_key(&f.uri) {
                self.errors.push(format!(
                    "{}: in the lake but not written by this run (a leftover would count twice); remove it or use a fresh datalake folder",
                    f.uri
                ));
                continue;
            }
            let rel = relative(root, &f.uri).unwrap_or(&f.uri);
            let mut parts: Vec<&str> = rel.split('/').collect();
            parts.pop();
            let key = if named_tables && parts.len() >= 3 {
                (parts[..3].join("/"), parts[3..].join("/"))
            } else {
                ("*".to_string(), parts.join("/"))
            };
            let p = self.partitions.entry(key).or_insert_with(empty_partition);
            add(&mut p.checksum, f.checksum);
            p.n_file += 1;
            p.size += f.size;
            p.n_record += f.n_record;
        }
    }

    /// Compares each partition's lake with what was staged for it, and adds
    /// it to its table.
    fn compare_partitions(&mut self) {
        for ((table, partition), mut p) in std::mem::take(&mut self.partitions) {
            p.partition = partition;
            if p.n_record != p.staging_records {
                self.errors.push(format!(
                    "table {table} partition {:?}: {} records in the lake but {} staged",
                    p.partition, p.n_record, p.staging_records
                ));
            } else if p.staging_checksum.is_some() && p.checksum != p.staging_checksum {
                self.errors.push(format!(
                    "table {table} partition {:?}: the lake's content checksum {} differs from the staged rows' {} (rows were altered between staging and the lake)",
                    p.partition,
                    show(p.checksum),
                    show(p.staging_checksum)
                ));
            }
            let errors = &mut self.errors;
            let t = self.tables.entry(table.clone()).or_insert_with(|| {
                errors.push(format!(
                    "table {table}: in the lake but not in the snapshot manifest"
                ));
                empty_table(&table, None)
            });
            add(&mut t.checksum, p.checksum);
            add(&mut t.staging_checksum, p.staging_checksum);
            t.staging_records += p.staging_records;
            t.n_record += p.n_record;
            t.n_file += p.n_file;
            t.size += p.size;
            t.partitions.push(p);
        }
    }

    /// Compares each table's lake (and what its filters dropped) with the
    /// snapshot manifest.
    fn compare_tables(&mut self) {
        for t in self.tables.values() {
            if let Some(s) = t.snapshot_records
                && s != t.n_record + t.filtered_records
            {
                self.errors.push(if t.filtered_records > 0 {
                    format!(
                        "table {}: {} records in the lake and {} filtered out, but {s} in the snapshot manifest",
                        t.table, t.n_record, t.filtered_records
                    )
                } else {
                    format!(
                        "table {}: {} records in the lake but {s} in the snapshot manifest",
                        t.table, t.n_record
                    )
                });
            }
        }
    }
}

/// One file found in the lake, with its counts.
struct LakeFileCounts {
    uri: String,
    size: u64,
    n_record: u64,
    checksum: Option<Checksum>,
}

/// The data files in the lake (not markers, logs or hidden temporaries),
/// with their footers' counts; text files, which have no footer, with the
/// counts the compaction workers `recorded` while they keep their size.
async fn lake_counts(
    run: &Run,
    root: &str,
    recorded: &BTreeMap<String, DataFile>,
) -> Result<Vec<LakeFileCounts>> {
    let listed: Vec<_> = run
        .store
        .list(root)
        .await?
        .into_iter()
        .filter(|m| {
            // Markers, logs (`_delta_log/`) and hidden temporaries are not data.
            relative(root, &m.uri)
                .unwrap_or(&m.uri)
                .split('/')
                .all(|seg| !seg.starts_with('_') && !seg.starts_with('.'))
        })
        .collect();
    futures::stream::iter(listed)
        .map(|m| async move {
            if has_footer(&m.uri) {
                let footer = read_footer(&run.store, &m.uri, m.size).await?;
                return Ok::<_, Error>(LakeFileCounts {
                    n_record: footer.file_metadata().num_rows() as u64,
                    checksum: footer_checksum(&footer),
                    uri: m.uri,
                    size: m.size,
                });
            }
            let (n_record, checksum) = match recorded.get(&m.uri) {
                Some(f) if f.size == m.size => (f.n_record.unwrap_or(0), f.checksum),
                _ => (0, None),
            };
            Ok(LakeFileCounts {
                uri: m.uri,
                size: m.size,
                n_record,
                checksum,
            })
        })
        .buffered(CONCURRENCY)
        .try_collect()
        .await
}

/// Every lake file the compaction workers' manifests record.
pub(crate) async fn lake_files(run: &Run) -> Result<Vec<DataFile>> {
    Ok(outputs(
        run,
        GroupKind::PartitionFileGroups,
        GroupKind::DatalakeFileGroups,
    )
    .await?
    .into_iter()
    .flat_map(|(_, files)| files)
    .collect())
}

/// Validates the lake; writes the result and, when valid, `_SUCCESS`.
#[instrument(skip_all)]
pub async fn validate(run: &Run) -> Result<Validation> {
    let snapshot_uri = run.snapshot_manifest();
    let (_, snapshot) = read_manifest(&run.store, &snapshot_uri).await?;
    let named_tables = snapshot.iter().any(|f| f.table.is_some());
    let mut tally = Tally::of_snapshot(&snapshot);
    tally.add_staged(
        outputs(
            run,
            GroupKind::SnapshotFileGroups,
            GroupKind::StagingFileGroups,
        )
        .await?,
    );
    let recorded: BTreeMap<String, DataFile> = lake_files(run)
        .await?
        .into_iter()
        .map(|f| (f.uri.clone(), f))
        .collect();
    let root = run.layout.datalake_root();
    let found = lake_counts(run, &root, &recorded).await?;
    tally.add_lake(&root, named_tables, &recorded, found);
    tally.compare_partitions();
    tally.compare_tables();
    let result = Validation {
        valid: tally.errors.is_empty(),
        snapshot_manifest: snapshot_uri,
        datalake: root,
        tables: tally.tables.into_values().collect(),
        errors: tally.errors,
    };
    write_json(run, &run.layout.validate_result(), &result).await?;
    if result.valid {
        if run.job.output.format == OutputFormat::Delta {
            let files: Vec<DataFile> = recorded.into_values().collect();
            crate::delta::commit(run, &files).await?;
        }
        succeed(run, result).await
    } else {
        fail(run, result).await
    }
}

/// Writes `_SUCCESS` for a valid lake.
async fn succeed(run: &Run, result: Validation) -> Result<Validation> {
    let body = serde_json::json!({
        "snapshot_manifest": result.snapshot_manifest,
        "n_table": result.tables.len(),
        "n_file": result.n_file(),
        "n_record": result.n_record(),
        "size": result.size(),
    });
    run.store
        .put(
            &run.layout.success_marker(),
            Bytes::from(serde_json::to_vec_pretty(&body).expect("json")),
        )
        .await?;
    info!(
        records = result.n_record(),
        files = result.n_file(),
        "lake is valid"
    );
    Ok(result)
}

/// Removes `_SUCCESS` and fails with the first errors of an invalid lake.
async fn fail(run: &Run, result: Validation) -> Result<Validation> {
    run.store.delete(&run.layout.success_marker()).await?;
    for e in &result.errors {
        warn!(error = %e, "validation");
    }
    let shown: Vec<&str> = result.errors.iter().take(5).map(String::as_str).collect();
    let more = result.errors.len().saturating_sub(shown.len());
    Err(Error::Validation(format!(
        "{}{} (details in {})",
        shown.join("; "),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        },
        run.layout.validate_result()
    )))
}
