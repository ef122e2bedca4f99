//! Step 2.2: compact one partition file group into lake files.
//!
//! A streaming k-way merge of the group's staging files (each sorted by the
//! table's `sort_by`) into lake files of at most 1.25 × `file_size`: from
//! the group's staging bytes `S`, `round(S / file_size)` files of equal row
//! counts, or `ceil(S / (1.25 × file_size))` where that is more
//! ([`planned_files`]). A
//! file that outgrows 1.25 × `file_size` anyway (lake bytes per row above
//! the staging files') is dropped as it passes the mark and the group
//! merged again into as many files as its measured bytes per row need
//! ([`Oversized::replan`]), so every file's row count is known, and
//! recorded in its metadata, before it is written. The worker holds one
//! batch per input, never the group's rows. One merge holds at
//! most [`MERGE_BYTES`] of its inputs' row groups and an estimated
//! [`MERGE_STATE`] of their decoded state ([`plan_runs`]); a bigger group is
//! merged in passes, each run of inputs into a sorted run file in the
//! system's temporary folder (`TMPDIR`; `/tmp` on Lambda, which needs room
//! for the group's staging bytes), then the runs. Files are named
//! `<fingerprint>-<i>.parquet` after the group's fingerprint and written in
//! the final partition folder; the datalake file group manifest listing them
//! is written last and makes a rerun a no-op.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowSchemaConverter;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use parquet::file::metadata::{ParquetMetaData, SortingColumn};
use parquet::file::properties::WriterProperties;
use tracing::{info, instrument};

use super::{Run, WorkerOutput, worker_input, worker_output};
use crate::config::SortSpec;
use crate::error::{Error, Result};
use crate::lake_file::{LakeFile, check_schema, extension};
use crate::layout::GroupKind;
use crate::manifest::DataFile;
use crate::parquet_io::{
    FileWriter, ObjectReader, Written, from_pq, lake_writer_properties, open,
    staging_writer_properties,
};
use crate::schema::check_same_schema;
use crate::sort::{BatchStream, Merger, SortKey, at_once};
use crate::storage::{LocalStore, StorageRef};

/// Most rows per batch read from an input: small, since a merge holds one
/// batch per input.
pub const READ_BATCH_ROWS: usize = 8 * 1024;
/// Fewest rows per batch read from an input.
pub const MIN_READ_BATCH_ROWS: usize = 1024;
/// Decoded bytes the current batches of a merge's inputs come to together,
/// which the read batch size keeps to when there are many inputs or wide
/// rows.
pub const MERGE_BATCH_BYTES: u64 = 16 * 1024 * 1024;
/// Most compressed bytes one merge holds of its inputs: the largest row
/// group of each (a staging file is one row group, fetched whole when the
/// merge starts reading it). A group of the default 128 MB lake files stays
/// within it.
pub const MERGE_BYTES: u64 = 256 * 1024 * 1024;
/// Most decoded state one merge holds of its inputs: the current page and
/// batch and the reader of each, estimated at 4,096 uncompressed
/// rows. 300 staging files of 7,000 rows (about 1 MB each) peaked at 625 MB
/// merged at once; more inputs than fit are merged in passes, through local
/// run files.
pub const MERGE_STATE: u64 = 96 * 1024 * 1024;
/// Uncompressed rows an input's decoded state comes to: measured, 0.89 MB
/// an input for rows of 215 bytes read 1,024 at a time.
const STATE_ROWS: u64 = 4 * MIN_READ_BATCH_ROWS as u64;
/// Rows per row group of a run file: the next pass holds one row group of
/// every run.
const RUN_ROW_GROUP_ROWS: usize = READ_BATCH_ROWS;

/// What reading one input costs a merge, from its footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputCost {
    /// Compressed bytes of its largest row group.
    pub held: u64,
    /// Uncompressed bytes per row.
    pub row_bytes: u64,
}

impl InputCost {
    /// The cost of reading the file `meta` describes.
    pub fn of(meta: &ParquetMetaData) -> Self {
        let groups = meta.row_groups();
        let non_negative = |v: i64| u64::try_from(v).unwrap_or(0);
        let rows: u64 = groups.iter().map(|g| non_negative(g.num_rows())).sum();
        let bytes: u64 = groups
            .iter()
            .map(|g| non_negative(g.total_byte_size()))
            .sum();
        InputCost {
            held: groups
                .iter()
                .map(|g| non_negative(g.compressed_size()))
                .max()
                .unwrap_or(0),
            row_bytes: bytes.div_ceil(rows.max(1)).max(1),
        }
    }
}

/// Rows per batch read from each of `inputs`, merged together:
/// [`MERGE_BATCH_BYTES`] of decoded rows shared between them, within
/// [`MIN_READ_BATCH_ROWS`]..=[`READ_BATCH_ROWS`]. 300 staging files of 7,000
/// rows peaked at 1.34 GB with batches of 8,192 rows, 0.99 GB with batches
/// of 1,024 (before merges took at most [`MERGE_STATE`]).
pub fn read_batch_rows(inputs: &[InputCost]) -> usize {
    let row_bytes: u64 = inputs.iter().map(|c| c.row_bytes).sum();
    usize::try_from(MERGE_BATCH_BYTES / row_bytes.max(1))
        .unwrap_or(usize::MAX)
        .clamp(MIN_READ_BATCH_ROWS, READ_BATCH_ROWS)
}

/// How `inputs` split into runs of consecutive inputs that one merge each
/// reads within [`MERGE_BYTES`] and [`MERGE_STATE`], as the number of
/// inputs in each run: one run when one merge reads them all. A run takes
/// two inputs even over the limits, so that a pass at least halves them.
pub fn plan_runs(inputs: &[InputCost]) -> Vec<usize> {
    let mut runs: Vec<(usize, u64, u64)> = vec![(0, 0, 0)];
    for c in inputs {
        let (n, held, row_bytes) = runs.last_mut().expect("runs is not empty");
        let fits =
            *held + c.held <= MERGE_BYTES && (*row_bytes + c.row_bytes) * STATE_ROWS <= MERGE_STATE;
        if fits || *n < 2 {
            *n += 1;
            *held += c.held;
            *row_bytes += c.row_bytes;
        } else {
            runs.push((1, c.held, c.row_bytes));
        }
    }
    runs.into_iter().map(|(n, _, _)| n).collect()
}

/// Name prefix of a compaction's run folder in the temporary folder.
const RUNS_PREFIX: &str = "dbsnaplake-merge-";

/// Removes the run folders in `dir` that a compaction killed mid-merge left
/// behind (a Lambda that timed out keeps its `/tmp` for the next
/// invocation); returns how many. Only for a process that compacts nothing
/// yet: the compaction Lambda calls it as it starts.
pub fn remove_stale_runs(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(RUNS_PREFIX))
        .filter(|e| match std::fs::remove_dir_all(e.path()) {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(folder = %e.path().display(), %err, "cannot remove a stale run folder");
                false
            }
        })
        .count()
}

/// An input of a merge: a file whose footer has been read, and nothing else
/// yet.
struct Input {
    store: StorageRef,
    uri: String,
    size: u64,
    builder: ParquetRecordBatchStreamBuilder<ObjectReader>,
    cost: InputCost,
}

impl Input {
    /// Opens `uri` (reads its footer).
    async fn open(store: &StorageRef, uri: &str, size: u64) -> Result<Self> {
        let builder = open(store, uri, size, None).await?;
        Ok(Self::new(store, uri, size, builder))
    }

    fn new(
        store: &StorageRef,
        uri: &str,
        size: u64,
        builder: ParquetRecordBatchStreamBuilder<ObjectReader>,
    ) -> Self {
        Input {
            store: store.clone(),
            uri: uri.to_string(),
            size,
            cost: InputCost::of(builder.metadata()),
            builder,
        }
    }
}

/// Opens again the inputs `sources` name, concurrently.
async fn reopen(sources: &[(StorageRef, String, u64)]) -> Result<Vec<Input>> {
    at_once(
        sources
            .iter()
            .map(|(store, uri, size)| Input::open(store, uri, *size))
            .collect(),
    )
    .await
    .into_iter()
    .collect()
}

/// Streams of the batches of `inputs`, which one merge reads together,
/// errors naming the file.
fn streams(inputs: Vec<Input>) -> Result<Vec<BatchStream>> {
    let costs: Vec<InputCost> = inputs.iter().map(|i| i.cost).collect();
    let rows = read_batch_rows(&costs);
    inputs
        .into_iter()
        .map(|i| {
            let stream = i
                .builder
                .with_batch_size(rows)
                .build()
                .map_err(|e| from_pq(&i.uri, e))?;
            let uri = i.uri;
            let stream: BatchStream = Box::pin(futures::TryStreamExt::map_err(stream, move |e| {
                from_pq(&uri, e)
            }));
            Ok(stream)
        })
        .collect()
}

/// Merges `inputs`, run by run (`runs` inputs each, in order), into sorted
/// run files in `dir` (snappy, small row groups, no statistics), and returns
/// the runs as inputs in the same order: merging those gives what merging
/// `inputs` would.
async fn merge_runs(
    schema: &SchemaRef,
    key: &SortKey,
    mut inputs: Vec<Input>,
    runs: &[usize],
    dir: &Path,
    level: usize,
) -> Result<Vec<Input>> {
    let local: StorageRef = Arc::new(LocalStore);
    let props = staging_writer_properties()
        .into_builder()
        .set_max_row_group_row_count(Some(RUN_ROW_GROUP_ROWS))
        .build();
    let mut out = Vec::with_capacity(runs.len());
    for (i, &n) in runs.iter().enumerate() {
        let uri = dir
            .join(format!("run-{level}-{i}.parquet"))
            .display()
            .to_string();
        let chunk: Vec<Input> = inputs.drain(..n).collect();
        // Runs of the previous pass, deleted once merged into this one.
        let merged: Vec<String> = chunk
            .iter()
            .filter(|i| Path::new(&i.uri).starts_with(dir))
            .map(|i| i.uri.clone())
            .collect();
        let mut merger = Merger::new(schema.clone(), key.clone(), streams(chunk)?).await?;
        // On an error the half-written run goes with the folder.
        let mut w = FileWriter::create(&local, &uri, schema.clone(), props.clone()).await?;
        while let Some(batch) = merger.next_batch().await? {
            w.write(&batch).await?;
        }
        let size = w.finish().await?.meta.size;
        for uri in merged {
            local.delete(&uri).await?;
        }
        out.push(Input::open(&local, &uri, size).await?);
    }
    Ok(out)
}

/// Attempts at a group's lake files: a merge is redone, into more files,
/// when a lake file outgrew its cap; the last attempt writes its plan
/// whatever the files' sizes come to.
const MAX_ATTEMPTS: usize = 3;

/// How many lake files a group of `total` staging bytes and `rows` rows is
/// planned to: the nearest number of files of `file_size`, or more where
/// those would be over 1.25 × `file_size` (a group the partition planner
/// made of about `file_size` stays one file; a staging file of 1.4 ×
/// `file_size` becomes two).
pub fn planned_files(total: u64, rows: u64, file_size: u64) -> u64 {
    let nearest = (total + file_size / 2) / file_size;
    let within_cap = total.div_ceil(file_size + file_size / 4);
    nearest.max(within_cap).clamp(1, rows.max(1))
}

/// A lake file that reached its cap before its planned rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Oversized {
    /// Rows it held.
    pub rows: u64,
    /// Bytes it came to.
    pub bytes: u64,
}

impl Oversized {
    /// The number of files of `file_size` that `rows` rows come to at this
    /// file's bytes per row.
    pub fn replan(&self, rows: u64, file_size: u64) -> u64 {
        let bytes = u128::from(rows) * u128::from(self.bytes) / u128::from(self.rows.max(1));
        u64::try_from(bytes.div_ceil(u128::from(file_size.max(1))))
            .unwrap_or(u64::MAX)
            .clamp(1, rows.max(1))
    }
}

/// Where and how a group's lake files are written.
struct Outputs<'a> {
    run: &'a Run,
    table: Option<&'a str>,
    partition: &'a str,
    fingerprint: &'a str,
    schema: &'a SchemaRef,
    props: WriterProperties,
}

impl Outputs<'_> {
    /// Merges `inputs` into `n_out` lake files of the group's `rows`, and
    /// again into more files while one outgrows 1.25 × `file_size` (at most
    /// [`MAX_ATTEMPTS`] merges, the last written whatever the sizes).
    async fn write_sized(
        &self,
        key: &SortKey,
        inputs: Vec<Input>,
        rows: u64,
        mut n_out: u64,
    ) -> Result<Vec<Written>> {
        let file_size = self.run.job.file_size.max(1);
        // What the merge reads, to read again if it must be redone.
        let sources: Vec<(StorageRef, String, u64)> = inputs
            .iter()
            .map(|i| (i.store.clone(), i.uri.clone(), i.size))
            .collect();
        let mut opened = Some(inputs);
        for attempt in 1.. {
            let inputs = match opened.take() {
                Some(inputs) => inputs,
                None => reopen(&sources).await?,
            };
            let merger = Merger::new(self.schema.clone(), key.clone(), streams(inputs)?).await?;
            let cap = (attempt < MAX_ATTEMPTS).then_some(file_size + file_size / 4);
            match self.write(merger, rows, n_out, cap).await? {
                Ok(written) => return Ok(written),
                Err(over) => {
                    let replanned = over.replan(rows, file_size).max(n_out + 1);
                    info!(
                        files = n_out,
                        replanned,
                        bytes = over.bytes,
                        rows = over.rows,
                        "a lake file outgrew the target: merging again into more files"
                    );
                    n_out = replanned;
                }
            }
        }
        unreachable!("the last attempt has no cap")
    }

    /// Writes the `rows` rows `merger` yields into `n_out` files of
    /// `rows / n_out` rows each (in sort order, named
    /// `<fingerprint>-<i>`), each announcing its count as it starts. A
    /// file that reaches `cap` bytes first is dropped, and what it held
    /// returned: the group must be written again into more files.
    async fn write(
        &self,
        mut merger: Merger,
        rows: u64,
        n_out: u64,
        cap: Option<u64>,
    ) -> Result<std::result::Result<Vec<Written>, Oversized>> {
        let rows_in = |i: u64| rows / n_out + u64::from(i < rows % n_out);
        let output = &self.run.job.output;
        let ext = extension(output);
        let mut written: Vec<Written> = Vec::new();
        let mut current: Option<LakeFile> = None;
        let result: Result<Option<Oversized>> = async {
            while let Some(mut batch) = merger.next_batch().await? {
                while batch.num_rows() > 0 {
                    let i = written.len() as u64;
                    let w = match current.as_mut() {
                        Some(w) => w,
                        None => {
                            let uri = self.run.layout.lake_file(
                                self.table,
                                self.partition,
                                self.fingerprint,
                                i,
                                ext,
                            );
                            let w = LakeFile::create(
                                &self.run.store,
                                &uri,
                                self.schema.clone(),
                                output,
                                &self.props,
                                rows_in(i),
                            );
                            current.insert(w.await?)
                        }
                    };
                    let room = rows_in(i) - w.rows();
                    let take = (batch.num_rows() as u64).min(room) as usize;
                    w.write(&batch.slice(0, take)).await?;
                    self.run.meter.add(0, take as u64);
                    batch = batch.slice(take, batch.num_rows() - take);
                    let bytes = w.approx_size();
                    if cap.is_some_and(|cap| bytes > cap) {
                        return Ok(Some(Oversized {
                            rows: w.rows(),
                            bytes,
                        }));
                    }
                    if w.rows() == rows_in(i) {
                        let done = current.take().expect("a writer is open").finish().await?;
                        self.run.meter.add(done.meta.size, 0);
                        written.push(done);
                    }
                }
            }
            Ok(None)
        }
        .await;
        if !matches!(result, Ok(None)) {
            // Failed, or outgrew its cap: the file being written goes.
            if let Some(w) = current.take() {
                w.abort().await;
            }
            return result.map(|over| Err(over.expect("not Ok(None)")));
        }
        if let Some(w) = current.take() {
            // Fewer rows than the manifests promised: finish() refuses to publish.
            let done = w.finish().await?;
            self.run.meter.add(done.meta.size, 0);
            written.push(done);
        }
        Ok(Ok(written))
    }
}

/// The order lake files declare (Parquet's `sorting_columns`, which readers
/// use to skip a sort): the table's `sort_by`, when every key is a leaf
/// column of its own; `None` when unsorted.
fn sorting_columns(schema: &SchemaRef, sort_by: &[SortSpec]) -> Option<Vec<SortingColumn>> {
    if sort_by.is_empty() {
        return None;
    }
    let leaves = ArrowSchemaConverter::new().convert(schema).ok()?;
    sort_by
        .iter()
        .map(|s| {
            let idx = (0..leaves.num_columns())
                .find(|&i| leaves.column(i).path().parts() == std::slice::from_ref(&s.column))?;
            Some(SortingColumn {
                column_idx: i32::try_from(idx).ok()?,
                descending: s.descending,
                nulls_first: s.nulls_first,
            })
        })
        .collect()
}

/// The table and partition of a group's staging files, which must all be
/// of one.
fn one_partition(group_uri: &str, files: &[DataFile]) -> Result<(Option<String>, String)> {
    let first = &files[0];
    let (table, partition) = (
        first.table.clone(),
        first.partition.clone().unwrap_or_default(),
    );
    if let Some(f) = files
        .iter()
        .find(|f| f.table != table || f.partition.as_deref().unwrap_or("") != partition)
    {
        return Err(Error::bad_data(
            group_uri,
            format!(
                "group mixes partitions: {} is not in {:?} {partition:?}",
                f.uri, table
            ),
        ));
    }
    Ok((table, partition))
}

/// Opens every staging file of a group (their footers, concurrently: on S3
/// their requests' latencies overlap; an input reads nothing more until the
/// merge reading it starts), and their one schema, which the output format
/// must hold.
async fn open_inputs(
    run: &Run,
    table_name: &str,
    files: &[DataFile],
) -> Result<(Vec<Input>, SchemaRef)> {
    let mut inputs: Vec<Input> = Vec::with_capacity(files.len());
    let mut schema: Option<(SchemaRef, String)> = None;
    let opens: Vec<_> = files
        .iter()
        .map(|f| open(&run.store, &f.uri, f.size, None))
        .collect();
    for (f, builder) in files.iter().zip(at_once(opens).await) {
        let builder = builder?;
        let s = builder.schema().clone();
        match &schema {
            Some((first, first_uri)) => {
                check_same_schema(table_name, first, first_uri, &s, &f.uri)?
            }
            None => schema = Some((s, f.uri.clone())),
        }
        inputs.push(Input::new(&run.store, &f.uri, f.size, builder));
    }
    let (schema, _) = schema.expect("a group lists at least one file");
    check_schema(&run.job.output, &schema).map_err(|message| Error::Schema {
        table: table_name.to_string(),
        message,
    })?;
    Ok((inputs, schema))
}

/// Merges `inputs` into run files, pass after pass, until one merge can
/// read them all ([`plan_runs`]); returns what the last merge reads and the
/// folder of the run files (`None`: the inputs merge at once), which must
/// outlive that merge.
async fn merge_in_passes(
    schema: &SchemaRef,
    key: &SortKey,
    mut inputs: Vec<Input>,
) -> Result<(Vec<Input>, Option<tempfile::TempDir>)> {
    let mut runs_dir = None;
    for level in 0.. {
        let costs: Vec<InputCost> = inputs.iter().map(|i| i.cost).collect();
        let runs = plan_runs(&costs);
        if runs.len() == 1 {
            break;
        }
        let dir = match &runs_dir {
            Some(dir) => dir,
            None => runs_dir.insert(
                tempfile::Builder::new()
                    .prefix(RUNS_PREFIX)
                    .tempdir()
                    .map_err(|e| Error::io(&std::env::temp_dir().display().to_string(), e))?,
            ),
        };
        info!(
            inputs = inputs.len(),
            runs = runs.len(),
            level,
            "merging in passes"
        );
        inputs = merge_runs(schema, key, inputs, &runs, dir.path(), level).await?;
    }
    Ok((inputs, runs_dir))
}

/// Compacts the partition file group whose summary is at `group_uri`.
#[instrument(skip_all, fields(group = %group_uri))]
pub async fn compact(run: &Run, group_uri: &str) -> Result<WorkerOutput> {
    let (input, done) = worker_input(
        run,
        GroupKind::PartitionFileGroups,
        GroupKind::DatalakeFileGroups,
        group_uri,
    )
    .await?;
    if let Some(done) = done {
        info!(n = input.n, "group already compacted");
        return Ok(done);
    }
    let (files, source_fp) = (&input.files, &input.fingerprint);
    let Some(first) = files.first() else {
        return Err(Error::bad_data(
            group_uri,
            "the group lists no staging file",
        ));
    };
    let (table, partition) = one_partition(group_uri, files)?;
    let table_name = table.as_deref().unwrap_or("*");
    let spec = run.job.table_spec(table.as_deref());

    let (inputs, schema) = open_inputs(run, table_name, files).await?;
    let key = SortKey::new(&schema, &spec.sort_by, table_name, &first.uri)?;
    // Kept until the merge ends: the run files the last pass reads.
    let (inputs, _runs_dir) = merge_in_passes(&schema, &key, inputs).await?;
    let total: u64 = files.iter().map(|f| f.size).sum();
    let Some(rows) = files.iter().map(|f| f.n_record).sum::<Option<u64>>() else {
        return Err(Error::bad_data(
            group_uri,
            "a staging file has no record count",
        ));
    };
    let file_size = run.job.file_size.max(1);
    let out = Outputs {
        run,
        table: table.as_deref(),
        partition: &partition,
        fingerprint: source_fp,
        schema: &schema,
        props: lake_writer_properties(&run.job.output)
            .map_err(|m| Error::Job(format!("output: {m}")))?
            .into_builder()
            // A file's size is known as it is written to within a page, so
            // pages stay small beside the target (1 MiB, the default, at
            // 64 MiB and above).
            .set_data_page_size_limit((file_size / 64).clamp(8 * 1024, 1024 * 1024) as usize)
            .set_sorting_columns(sorting_columns(&schema, &spec.sort_by))
            .build(),
    };
    let written = out
        .write_sized(&key, inputs, rows, planned_files(total, rows, file_size))
        .await?;
    let got: u64 = written.iter().map(|w| w.n_record).sum();
    if got != rows {
        return Err(Error::bad_data(
            group_uri,
            format!("the staging files list {rows} records but {got} were merged"),
        ));
    }
    let lake_files: Vec<DataFile> = written
        .into_iter()
        .map(|w| DataFile {
            n_record: Some(w.n_record),
            etag: w.meta.etag,
            table: table.clone(),
            partition: Some(partition.clone()),
            checksum: Some(w.checksum),
            ..DataFile::new(w.meta.uri, w.meta.size)
        })
        .collect();
    let out = worker_output(
        run,
        GroupKind::DatalakeFileGroups,
        &input,
        &lake_files,
        Default::default(),
    )
    .await?;
    info!(
        n = out.n,
        files = out.n_file,
        records = got,
        "group compacted"
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn cost(held: u64, row_bytes: u64) -> InputCost {
        InputCost { held, row_bytes }
    }

    #[test]
    fn read_batches_shrink_as_inputs_and_rows_grow() {
        // Rows of 215 bytes, as the reference snapshot's staging files.
        let narrow = |n| read_batch_rows(&vec![cost(MIB, 215); n]);
        assert_eq!(narrow(1), READ_BATCH_ROWS);
        assert_eq!(narrow(9), READ_BATCH_ROWS);
        assert_eq!(narrow(16), 4877);
        assert_eq!(narrow(300), MIN_READ_BATCH_ROWS);
        let wide = |n| read_batch_rows(&vec![cost(MIB, 4096); n]);
        assert_eq!(wide(1), 4096);
        assert_eq!(wide(16), MIN_READ_BATCH_ROWS);
    }

    #[test]
    fn an_input_costs_its_largest_row_group_and_its_row_width() {
        use arrow::array::{Int64Array, RecordBatch};
        let batch =
            RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from_iter_values(0..5)) as _)])
                .unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(Vec::new(), batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        let meta = w.close().unwrap();
        let groups = meta.row_groups();
        assert_eq!(groups.len(), 3);
        let c = InputCost::of(&meta);
        let largest = groups.iter().map(|g| g.compressed_size()).max().unwrap();
        assert_eq!(c.held, largest as u64);
        let bytes: i64 = groups.iter().map(|g| g.total_byte_size()).sum();
        assert_eq!(c.row_bytes, (bytes as u64).div_ceil(5));
    }

    #[test]
    fn inputs_one_merge_cannot_hold_split_into_runs() {
        // 300 staging files of 7,000 rows: 0.88 MB of state each, 114 a run.
        assert_eq!(
            plan_runs(&vec![cost(MIB / 2, 215); 300]),
            vec![114, 114, 72]
        );
        // A group of 100 such files of 1.3 MiB: one merge.
        assert_eq!(plan_runs(&vec![cost(13 * MIB / 10, 215); 100]), vec![100]);
        // Wide rows hold more: 8 MiB of state each, 12 a run.
        assert_eq!(plan_runs(&vec![cost(MIB, 2048); 30]), vec![12, 12, 6]);
        // Bytes count too: three row groups of 100 MiB are over 256 MiB.
        assert_eq!(plan_runs(&[cost(100 * MIB, 215); 2]), vec![2]);
        assert_eq!(plan_runs(&[cost(100 * MIB, 215); 3]), vec![2, 1]);
        // A run takes two inputs whatever their size, so passes end.
        let huge = cost(MERGE_BYTES + 1, 215);
        assert_eq!(plan_runs(&[huge; 2]), vec![2]);
        assert_eq!(plan_runs(&[huge; 5]), vec![2, 2, 1]);
    }

    #[test]
    fn groups_over_a_quarter_above_the_target_are_split() {
        let f = 100 * MIB;
        assert_eq!(planned_files(f, 1_000, f), 1);
        assert_eq!(planned_files(f * 5 / 4, 1_000, f), 1);
        assert_eq!(planned_files(f * 5 / 4 + 1, 1_000, f), 2);
        assert_eq!(planned_files(f * 14 / 10, 1_000, f), 2);
        assert_eq!(planned_files(f * 24 / 10, 1_000, f), 2);
        assert_eq!(planned_files(f * 26 / 10, 1_000, f), 3);
        assert_eq!(planned_files(f * 38 / 10, 1_000, f), 4);
        // Never more files than rows, never none.
        assert_eq!(planned_files(10 * f, 3, f), 3);
        assert_eq!(planned_files(0, 0, f), 1);
    }

    #[test]
    fn an_oversized_file_replans_at_its_bytes_per_row() {
        // 1,000 rows came to 150 bytes each: 10,000 rows of 100 KiB files.
        let over = Oversized {
            rows: 1_000,
            bytes: 150_000,
        };
        assert_eq!(over.replan(10_000, 100 * 1024), 15);
        assert_eq!(over.replan(10, 100 * 1024), 1);
        assert_eq!(over.replan(10, 1), 10, "not more files than rows");
    }

    #[test]
    fn stale_run_folders_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(format!("{RUNS_PREFIX}x1"));
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("run-0-0.parquet"), b"half").unwrap();
        let other = dir.path().join("other");
        std::fs::create_dir(&other).unwrap();
        assert_eq!(remove_stale_runs(dir.path()), 1);
        assert!(!stale.exists());
        assert!(other.exists());
        assert_eq!(remove_stale_runs(&dir.path().join("missing")), 0);
    }
}
