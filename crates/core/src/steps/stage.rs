//! Step 1.2: stage one snapshot file group into partition folders.
//!
//! Streams every file of the group, derives each row's partition, and buffers
//! rows per partition up to [`MEMORY_BUDGET`] bytes of Arrow data. At the end
//! (or whenever the budget is reached) each partition's rows are sorted by the
//! table's `sort_by` and written as one staging file, `<fingerprint>-<run>.parquet`
//! in the partition folder, where `<fingerprint>` is the group's. A group that
//! fits the budget gives one file per partition; a larger one gives one sorted
//! run per flush, which compaction merges like any other staging files. A
//! file is published (on S3, its PUT) while the next one is sorted and
//! encoded, [`UPLOADS_AT_ONCE`] at most.
//!
//! The staging file group manifest is written last and records the group's
//! fingerprint: a rerun of a finished group returns at once, and a rerun of an
//! interrupted one rewrites the same keys.

use std::collections::BTreeMap;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use tracing::{info, instrument};

use super::{Run, WorkerOutput, read_json, worker_input, worker_output};
use crate::config::{OutputFormat, TableSpec};
use crate::error::{Error, Result};
use crate::layout::GroupKind;
use crate::manifest::{DataFile, WorkerDetails};
use crate::parquet_io::{FileWriter, staging_writer_properties};
use crate::partition::{PartitionPath, split_batch};
use crate::read::files::{self, READ_AHEAD_MAX, Sink};
use crate::schema::{TableSchemas, drop_partition_names};
use crate::sort::{OUTPUT_BATCH_ROWS, SortKey, gather, sorted_order};
use crate::storage::is_s3;
use crate::tasks::{Queue, Spawned};
use crate::transform::Pipeline;

/// Arrow bytes a staging worker buffers before it writes sorted runs.
pub const MEMORY_BUDGET: usize = 256 * 1024 * 1024;
/// Staging files a worker publishes at once while it writes the next ones.
pub const UPLOADS_AT_ONCE: usize = 4;
/// Encoded bytes of the staging files being published at once (a larger
/// file is published alone).
pub const UPLOAD_BUDGET: u64 = 32 * 1024 * 1024;
/// Batches of fewer rows (a small file's) are gathered until they hold this
/// many, then transformed and split as one: every buffered array costs its
/// own allocations and headers, which the byte budget does not see, and
/// tens of thousands of tiny files would otherwise multiply them.
pub const COALESCE_ROWS: usize = 8192;

/// Stages the snapshot file group whose summary is at `group_uri`.
#[instrument(skip_all, fields(group = %group_uri))]
pub async fn stage(run: &Run, group_uri: &str) -> Result<WorkerOutput> {
    let (input, done) = worker_input(
        run,
        GroupKind::SnapshotFileGroups,
        GroupKind::StagingFileGroups,
        group_uri,
    )
    .await?;
    if let Some(done) = done {
        info!(n = input.n, "group already staged");
        return Ok(done);
    }
    let files = &input.files;
    let table = files.first().and_then(|f| f.table.clone());
    if let Some(f) = files.iter().find(|f| f.table != table) {
        return Err(Error::bad_data(
            group_uri,
            format!(
                "group mixes tables: {} is in {:?}, not {:?}",
                f.uri, f.table, table
            ),
        ));
    }
    let spec = run.job.table_spec(table.as_deref());
    let table_name = table.as_deref().unwrap_or("*");
    let tables: Option<TableSchemas> = read_json(run, &run.layout.schemas()).await?;
    let mut reader = files::for_table(
        &run.store,
        run.job.source.data_format(),
        table_name,
        tables.as_ref().and_then(|t| t.get(table_name)),
        &run.layout.schemas(),
        run.job.output.nanoseconds,
    )?;
    let mut stager = Stager {
        run,
        table: table.clone(),
        spec,
        pipeline: run.pipeline(table.as_deref()),
        filtered: 0,
        prefix: input.fingerprint.clone(),
        pending: Vec::new(),
        pending_rows: 0,
        buffers: BTreeMap::new(),
        buffered: 0,
        runs: 0,
        written: Vec::new(),
        uploads: Queue::new(UPLOADS_AT_ONCE, UPLOAD_BUDGET, "publishing a staging file"),
    };
    let mut read_records = 0u64;
    let mut ahead = ReadAhead::start(run, files.first());
    for (i, f) in files.iter().enumerate() {
        let next = ReadAhead::start(run, files.get(i + 1));
        let bytes = std::mem::replace(&mut ahead, next).bytes(f).await?;
        read_records += reader.read(f, bytes, &mut stager).await?;
        run.meter.add(f.size, 0);
    }
    stager.split_pending().await?;
    stager.flush().await?;
    let finished = stager.uploads.drain().await?;
    stager.written.extend(finished);
    let (written, filtered) = (stager.written, stager.filtered);
    let staged: u64 = written.iter().filter_map(|f| f.n_record).sum();
    if staged + filtered != read_records {
        return Err(Error::bad_data(
            group_uri,
            format!(
                "read {read_records} records but staged {staged} and filtered out {filtered}; nothing was recorded"
            ),
        ));
    }
    let details = WorkerDetails {
        n_filtered: Some(filtered),
        ..Default::default()
    };
    let out = worker_output(run, GroupKind::StagingFileGroups, &input, &written, details).await?;
    info!(
        n = out.n,
        files = out.n_file,
        records = staged,
        "group staged"
    );
    Ok(out)
}

/// The fetch of the next snapshot file on S3, under way while the worker
/// decodes the current one, so that the next file's latency and transfer
/// overlap the decoding instead of adding to it. At most one file is fetched
/// ahead, and only one of at most [`READ_AHEAD_MAX`] bytes; larger files are
/// read by ranges in their turn (a Parquet file's next row group fetched
/// while one decodes, when the two fit these bytes), as are local files,
/// which the kernel reads ahead itself (a copy of our own cost memory and
/// gained nothing there). Dropping it stops the fetch.
struct ReadAhead(Option<Spawned<Result<bytes::Bytes>>>);

impl ReadAhead {
    fn start(run: &Run, f: Option<&DataFile>) -> Self {
        ReadAhead(
            f.filter(|f| is_s3(&f.uri) && (1..=READ_AHEAD_MAX).contains(&f.size))
                .map(|f| {
                    let (store, uri, size) = (run.store.clone(), f.uri.clone(), f.size);
                    let etag = f.etag.clone();
                    Spawned::new(async move {
                        store
                            .get_range_if(&uri, 0..size, size, etag.as_deref())
                            .await
                    })
                }),
        )
    }

    /// The bytes of `f` if they were fetched ahead.
    async fn bytes(self, f: &DataFile) -> Result<Option<bytes::Bytes>> {
        match self.0 {
            None => Ok(None),
            Some(fetch) => fetch.join(&format!("reading {}", f.uri)).await?.map(Some),
        }
    }
}

struct Stager<'a> {
    run: &'a Run,
    table: Option<String>,
    spec: TableSpec,
    /// The table's transform.
    pipeline: Pipeline,
    /// Records the transform filtered out.
    filtered: u64,
    prefix: String,
    /// Small batches read but not yet split, with the file each came from.
    pending: Vec<(RecordBatch, String)>,
    pending_rows: usize,
    buffers: BTreeMap<PartitionPath, Vec<RecordBatch>>,
    buffered: usize,
    runs: usize,
    /// Staging files published, in the order they were written.
    written: Vec<DataFile>,
    /// Staging files being published.
    uploads: Queue<DataFile>,
}

#[async_trait]
impl Sink for Stager<'_> {
    async fn add(&mut self, batch: RecordBatch, uri: &str) -> Result<()> {
        Stager::add(self, batch, uri).await
    }
}

impl Stager<'_> {
    fn table_name(&self) -> &str {
        self.table.as_deref().unwrap_or("*")
    }

    /// Splits a batch read from `uri` into the partition buffers (a small
    /// one with the next, [`COALESCE_ROWS`] rows at once), flushing sorted
    /// runs when the memory budget is reached.
    async fn add(&mut self, batch: RecordBatch, uri: &str) -> Result<()> {
        self.run.meter.add(0, batch.num_rows() as u64);
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if batch.num_rows() >= COALESCE_ROWS {
            return self.split(batch, uri).await;
        }
        self.pending_rows += batch.num_rows();
        self.pending.push((batch, uri.to_string()));
        if self.pending_rows >= COALESCE_ROWS {
            self.split_pending().await?;
        }
        Ok(())
    }

    /// Splits the small batches gathered so far as one. Should that fail,
    /// each is split on its own, so that the error names its file.
    async fn split_pending(&mut self) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        match pending.as_slice() {
            [] => return Ok(()),
            [(batch, uri)] => return self.split(batch.clone(), uri).await,
            _ => {}
        }
        let (first, last) = (&pending[0].1, &pending[pending.len() - 1].1);
        let whole =
            arrow::compute::concat_batches(&pending[0].0.schema(), pending.iter().map(|(b, _)| b));
        let filtered = self.filtered;
        let attempt = match whole {
            Ok(b) => self.split(b, &format!("{first} … {last}")).await,
            Err(e) => Err(Error::arrow(first, e)),
        };
        // A value the transform or the partitions refuse: nothing of the
        // failed split was buffered but what the filter counted, and the
        // batches split one by one name the file at fault.
        if !matches!(attempt, Err(Error::Schema { .. } | Error::BadData { .. })) {
            return attempt;
        }
        self.filtered = filtered;
        for (batch, uri) in pending {
            self.split(batch, &uri).await?;
        }
        attempt
    }

    /// Splits one batch read from `uri` into the partition buffers.
    async fn split(&mut self, batch: RecordBatch, uri: &str) -> Result<()> {
        let table = self.table_name().to_string();
        let batch = if self.pipeline.is_empty() {
            batch
        } else {
            let before = batch.num_rows() as u64;
            let out = self
                .pipeline
                .apply(batch)
                .map_err(|message| Error::Schema {
                    table: table.clone(),
                    message: format!("{message} (in {uri})"),
                })?;
            self.filtered += before - out.num_rows() as u64;
            if out.num_rows() == 0 {
                return Ok(());
            }
            out
        };
        let split = split_batch(&batch, &self.spec.partition_by, &table, uri)?;
        self.buffered += split.bytes;
        // Iceberg readers take partition values from the files' columns.
        let dropped = if self.run.job.output.format == OutputFormat::Iceberg {
            &[][..]
        } else {
            &self.spec.partition_by[..]
        };
        for (path, part) in split.parts {
            let part = drop_partition_names(&part, dropped);
            self.buffers.entry(path).or_default().push(part);
        }
        if self.buffered >= MEMORY_BUDGET {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sorts and writes every buffered partition as one run.
    async fn flush(&mut self) -> Result<()> {
        let buffers = std::mem::take(&mut self.buffers);
        self.buffered = 0;
        if buffers.is_empty() {
            return Ok(());
        }
        let run_no = self.runs;
        self.runs += 1;
        for (path, batches) in buffers {
            let schema = batches[0].schema();
            let key = SortKey::new(
                &schema,
                &self.spec.sort_by,
                self.table_name(),
                "the staged rows",
            )?;
            let order = sorted_order(&batches, &key)?;
            let uri = self.run.layout.staging_file(
                self.table.as_deref(),
                path.as_str(),
                &self.prefix,
                run_no,
            );
            let mut w = FileWriter::create_counted(
                &self.run.store,
                &uri,
                schema,
                staging_writer_properties(),
                order.len() as u64,
            )
            .await?;
            for chunk in order.chunks(OUTPUT_BATCH_ROWS) {
                let out = match gather(&batches, chunk) {
                    Ok(b) => b,
                    Err(e) => {
                        w.abort().await;
                        return Err(e);
                    }
                };
                if let Err(e) = w.write(&out).await {
                    w.abort().await;
                    return Err(e);
                }
            }
            // Publishing the file (on S3, its PUT) goes on while the next
            // partition sorts and encodes.
            let (table, partition) = (self.table.clone(), path.as_str().to_string());
            let finished = self
                .uploads
                .push(w.approx_size(), async move {
                    let done = w.finish().await?;
                    Ok(DataFile {
                        n_record: Some(done.n_record),
                        etag: done.meta.etag,
                        table,
                        partition: Some(partition),
                        checksum: Some(done.checksum),
                        ..DataFile::new(uri, done.meta.size)
                    })
                })
                .await?;
            self.written.extend(finished);
        }
        Ok(())
    }
}
