//! The pipeline steps, one module each, as plain async functions over a
//! [`Run`] (the job, its layout and the storage).
//!
//! | step | function | reads | writes |
//! |---|---|---|---|
//! | 0 | [`import::import`] | a folder of files | the snapshot manifest |
//! | 1.1 | [`plan_snapshot::plan_snapshot`] | the snapshot manifest | snapshot file group manifests |
//! | 1.2 | [`stage::stage`] | one snapshot file group | staging files + one staging file group manifest |
//! | 2.1 | [`plan_partitions::plan_partitions`] | every staging file group manifest | partition file group manifests |
//! | 2.2 | [`compact::compact`] | one partition file group | lake files + one datalake file group manifest |
//! | 3 | [`validate::validate`] | all of the above and the lake | the validation result, `_SUCCESS` |
//!
//! [`clean::clean`] deletes a run's staging folder when it is no longer wanted.
//!
//! Every step is idempotent: outputs are named after their input's
//! fingerprint, data is written before the manifest that lists it, and a step
//! whose output manifest already records the same input fingerprint returns
//! at once.

pub mod clean;
pub mod compact;
pub mod import;
pub mod local;
pub mod plan_partitions;
pub mod plan_snapshot;
pub mod stage;
pub mod validate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::Job;
use crate::error::{Error, Result};
use crate::layout::{GroupKind, Layout};
use crate::manifest::{
    DataFile, Details, GroupDetails, WorkerDetails, fingerprint, read_manifest, read_summary,
    write_manifest,
};
use crate::storage::StorageRef;
use crate::transform::{Pipeline, Transform};

/// One run: the job, where its files go, and the storage they live in.
#[derive(Debug, Clone)]
pub struct Run {
    /// The job.
    pub job: Job,
    /// Its paths.
    pub layout: Layout,
    /// The storage every URI resolves in.
    pub store: StorageRef,
    /// Transforms plugged in from Rust, by table (`*`: every table), applied
    /// after the job's own.
    plugged: BTreeMap<String, Vec<Arc<dyn Transform>>>,
    /// Schemas of the Parquet footers step 0 read in this process.
    footer_schemas: FooterSchemas,
    /// What this process's workers have read and written so far.
    pub meter: Meter,
}

/// Running counts of the work of a process's workers, for progress: bytes
/// (a staging worker's read, a compaction worker's written) and records.
/// Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<(AtomicU64, AtomicU64)>);

impl Meter {
    /// Counts `bytes` and `records` more.
    pub fn add(&self, bytes: u64, records: u64) {
        self.0.0.fetch_add(bytes, Ordering::Relaxed);
        self.0.1.fetch_add(records, Ordering::Relaxed);
    }

    /// The bytes and records counted so far.
    pub fn read(&self) -> (u64, u64) {
        (
            self.0.0.load(Ordering::Relaxed),
            self.0.1.load(Ordering::Relaxed),
        )
    }
}

/// The Arrow schemas of the Parquet footers step 0 read for their record
/// counts, by file URI, so that step 1.1 in the same process (the planner
/// Lambda, a local run) decides table schemas without reading every footer
/// again: one ranged GET per snapshot file instead of two. Step 1.1 takes
/// each entry once; files with equal schemas share one in memory.
#[derive(Clone, Default)]
struct FooterSchemas(Arc<Mutex<KeptSchemas>>);

#[derive(Default)]
struct KeptSchemas {
    by_uri: HashMap<String, SchemaRef>,
    distinct: HashSet<SchemaRef>,
}

impl std::fmt::Debug for FooterSchemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |k| k.by_uri.len());
        write!(f, "FooterSchemas({n} files)")
    }
}

impl Run {
    /// A run of `job` over `store`.
    pub fn new(job: Job, store: StorageRef) -> Self {
        let layout = Layout::new(&job.staging, &job.datalake);
        Run {
            job,
            layout,
            store,
            plugged: BTreeMap::new(),
            footer_schemas: FooterSchemas::default(),
            meter: Meter::default(),
        }
    }

    /// Remembers the schema of `uri`'s footer for [`take_footer_schema`](Self::take_footer_schema).
    pub(crate) fn keep_footer_schema(&self, uri: &str, schema: SchemaRef) {
        let mut kept = self.footer_schemas.0.lock().expect("not poisoned");
        let schema = match kept.distinct.get(&schema) {
            Some(equal) => equal.clone(),
            None => {
                kept.distinct.insert(schema.clone());
                schema
            }
        };
        kept.by_uri.insert(uri.to_string(), schema);
    }

    /// The schema step 0 read from `uri`'s footer in this process, once.
    pub(crate) fn take_footer_schema(&self, uri: &str) -> Option<SchemaRef> {
        let mut kept = self.footer_schemas.0.lock().expect("not poisoned");
        let schema = kept.by_uri.remove(uri);
        if kept.by_uri.is_empty() {
            kept.distinct.clear();
        }
        schema
    }

    /// Adds a transform of your own to `table` (`database/schema/table`, or
    /// `*` for every table), applied after the job's steps. Every process
    /// running workers of the run (each Lambda) must add the same ones.
    pub fn with_transform(mut self, table: &str, t: Arc<dyn Transform>) -> Self {
        self.plugged.entry(table.to_string()).or_default().push(t);
        self
    }

    /// The transform of `table`: the job's steps, then the plugged-in ones.
    pub fn pipeline(&self, table: Option<&str>) -> Pipeline {
        let name = table.unwrap_or("*");
        let extra: Vec<Arc<dyn Transform>> = self
            .plugged
            .get(name)
            .into_iter()
            .chain(if name == "*" {
                None
            } else {
                self.plugged.get("*")
            })
            .flatten()
            .cloned()
            .collect();
        let mut extra = extra;
        if self
            .job
            .catalog
            .as_ref()
            .is_some_and(|c| c.athena_types == crate::config::AthenaTypes::Coerce)
        {
            extra.push(Arc::new(crate::catalog::Coerce));
        }
        Pipeline::new(&self.job.table_spec(table).transform, &extra)
    }

    /// URI of the snapshot manifest summary: the job's, or the one step 0 writes.
    pub fn snapshot_manifest(&self) -> String {
        self.job
            .source
            .manifest()
            .map_or_else(|| self.layout.snapshot_summary(), str::to_string)
    }
}

/// One item of a group list: what a Distributed Map iteration receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupItem {
    /// Group number, 1-based.
    pub n: usize,
    /// URI of the group's manifest summary.
    pub group: String,
}

/// Reads a group list written by a planner.
pub async fn read_group_list(run: &Run, kind: GroupKind) -> Result<Vec<GroupItem>> {
    let uri = run.layout.group_list(kind);
    let bytes = run.store.get(&uri).await.map_err(|e| match e {
        Error::NotFound { uri } => Error::bad_data(
            &uri,
            format!(
                "not found: the {} have not been planned yet (run the planning step first)",
                kind.folder().replace('-', " ")
            ),
        ),
        e => e,
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::bad_data(&uri, format!("not a group list: {e}")))
}

async fn write_json<T: Serialize>(run: &Run, uri: &str, value: &T) -> Result<()> {
    let body = serde_json::to_vec_pretty(value).expect("plain data always serializes");
    run.store.put(uri, Bytes::from(body)).await.map(|_| ())
}

pub(crate) async fn read_json<T: for<'de> Deserialize<'de>>(
    run: &Run,
    uri: &str,
) -> Result<Option<T>> {
    match run.store.get(uri).await {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::bad_data(uri, format!("unreadable JSON: {e}"))),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What one worker invocation (staging or compaction) did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerOutput {
    /// Group number.
    pub n: usize,
    /// The output manifest (staging or datalake file group).
    pub manifest: String,
    /// Files written.
    pub n_file: usize,
    /// Records written.
    pub n_record: u64,
    /// Bytes written.
    pub size: u64,
    /// True when the group had been done already and nothing was done now.
    pub skipped: bool,
}

/// A worker's input group: its number, its files, and their fingerprint.
struct WorkerInput {
    n: usize,
    files: Vec<DataFile>,
    fingerprint: String,
}

/// Reads the group a worker was given and, when its output manifest (of
/// `out`) already records the same input, what the earlier run did.
async fn worker_input(
    run: &Run,
    kind: GroupKind,
    out: GroupKind,
    group_uri: &str,
) -> Result<(WorkerInput, Option<WorkerOutput>)> {
    let n = group_number(run, kind, group_uri)?;
    let (summary, files) = read_manifest(&run.store, group_uri).await?;
    let fp = summary
        .fingerprint()
        .map(str::to_string)
        .unwrap_or_else(|| fingerprint(&files));
    let out_uri = run.layout.group_summary(out, n);
    let mut done = None;
    if run.store.head(&out_uri).await?.is_some() {
        let s = read_summary(&run.store, &out_uri).await?;
        if s.details.worker.source_fingerprint.as_deref() == Some(fp.as_str()) {
            done = Some(WorkerOutput {
                n,
                manifest: out_uri,
                n_file: s.details.n_file.unwrap_or(0),
                n_record: s.n_record.unwrap_or(0),
                size: s.size,
                skipped: true,
            });
        }
    }
    Ok((
        WorkerInput {
            n,
            files,
            fingerprint: fp,
        },
        done,
    ))
}

/// Writes a worker's output manifest (of `out`), the commit of its work.
async fn worker_output(
    run: &Run,
    out: GroupKind,
    input: &WorkerInput,
    written: &[DataFile],
    mut worker: WorkerDetails,
) -> Result<WorkerOutput> {
    worker.source_fingerprint = Some(input.fingerprint.clone());
    let details = Details {
        group: GroupDetails {
            group: Some(input.n),
            table: input.files.first().and_then(|f| f.table.clone()),
            partition: None,
        },
        worker,
        ..Default::default()
    };
    let manifest = run.layout.group_summary(out, input.n);
    let data = run.layout.group_data(out, input.n);
    let summary = write_manifest(&run.store, &manifest, &data, written, details).await?;
    Ok(WorkerOutput {
        n: input.n,
        manifest,
        n_file: written.len(),
        n_record: summary.n_record.unwrap_or(0),
        size: summary.size,
        skipped: false,
    })
}

/// Writes one manifest per group of `kind` and the group list; returns the list.
async fn write_groups(
    run: &Run,
    kind: GroupKind,
    groups: &[Vec<DataFile>],
) -> Result<Vec<GroupItem>> {
    let mut items = Vec::with_capacity(groups.len());
    for (i, group) in groups.iter().enumerate() {
        let n = i + 1;
        let summary = run.layout.group_summary(kind, n);
        let details = Details {
            group: GroupDetails {
                group: Some(n),
                table: group[0].table.clone(),
                partition: group[0].partition.clone(),
            },
            ..Default::default()
        };
        write_manifest(
            &run.store,
            &summary,
            &run.layout.group_data(kind, n),
            group,
            details,
        )
        .await?;
        items.push(GroupItem { n, group: summary });
    }
    write_json(run, &run.layout.group_list(kind), &items).await?;
    Ok(items)
}

/// The group number of a group summary URI, or an error naming it.
fn group_number(run: &Run, kind: GroupKind, uri: &str) -> Result<usize> {
    run.layout.group_number(kind, uri).ok_or_else(|| {
        Error::bad_data(
            uri,
            format!(
                "not a {} manifest of this job (expected {})",
                kind.folder(),
                run.layout
                    .group_summary(kind, 1)
                    .replace("-1.json", "-<n>.json")
            ),
        )
    })
}
