//! Step 2.2: compact one partition file group into lake files.
//!
//! A streaming k-way merge of the group's staging files (each sorted by the
//! table's `sort_by`) into `max(1, round(S / file_size))` files of about
//! `S / n` bytes each, where `S` is the group's staging bytes: the worker
//! holds one batch per input, never the group's rows. A merge reads at most
//! [`MERGE_FAN_IN`] staging files of [`MERGE_BYTES`]; a bigger group is
//! merged in passes, each run of inputs into a sorted run file in the
//! system's temporary folder (`TMPDIR`; `/tmp` on Lambda, which needs room
//! for the group's staging bytes), then the runs. Files are named
//! `<fingerprint>-<i>.parquet` after the group's fingerprint and written in
//! the final partition folder; the datalake file group manifest listing them
//! is written last and makes a rerun a no-op.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use tracing::{info, instrument};

use super::{Run, WorkerOutput, worker_input, worker_output};
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
use crate::storage::{LocalStore, StorageRef, join};

/// Most rows per batch read from a staging file: small, since a merge holds
/// one batch per input.
pub const READ_BATCH_ROWS: usize = 8 * 1024;
/// Fewest rows per batch read from a staging file.
pub const MIN_READ_BATCH_ROWS: usize = 1024;
/// Rows the merge's current batches hold together, which the read batch
/// size keeps to when there are many inputs.
pub const MERGE_ROWS: usize = 64 * 1024;

/// Rows per batch read from each of `inputs` staging files: [`MERGE_ROWS`]
/// shared between them, within [`MIN_READ_BATCH_ROWS`]..=[`READ_BATCH_ROWS`].
/// A group of many small staging files (a partition that every staging
/// group touched a little of, as day partitions over many groups) would
/// otherwise hold most of its rows decoded at once: 300 staging files of
/// 7,000 rows peaked at 1.34 GB with batches of 8,192 rows, 0.99 GB with
/// batches of 1,024.
pub fn read_batch_rows(inputs: usize) -> usize {
    (MERGE_ROWS / inputs.max(1)).clamp(MIN_READ_BATCH_ROWS, READ_BATCH_ROWS)
}

/// Most inputs one merge reads at once. Each costs its current page and
/// batch and its reader (about 1 MB for a staging file of 7,000 rows), on
/// top of its bytes: a group of 300 small staging files (a partition that
/// every staging group touched a little of) peaked at 625 MB merged in one
/// pass. More inputs are merged in passes, through local run files.
pub const MERGE_FAN_IN: usize = 64;
/// Most staging bytes one merge reads at once, since a staging file of one
/// row group is fetched whole when the merge starts reading it. A group of
/// the default 128 MB lake files stays within it and merges in one pass.
pub const MERGE_BYTES: u64 = 256 * 1024 * 1024;
/// Rows per row group of a run file: the next pass holds one row group of
/// every run.
const RUN_ROW_GROUP_ROWS: usize = READ_BATCH_ROWS;

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

/// How inputs of `sizes` bytes split into runs of consecutive inputs for a
/// first pass, as the number of inputs in each run; `None` when one merge
/// reads them all (at most [`MERGE_FAN_IN`] inputs of [`MERGE_BYTES`]).
pub fn first_pass_runs(sizes: &[u64]) -> Option<Vec<usize>> {
    let mut runs: Vec<(usize, u64)> = vec![(0, 0)];
    for &size in sizes {
        let (n, bytes) = runs.last_mut().expect("runs is not empty");
        if *n > 0 && (*n == MERGE_FAN_IN || *bytes + size > MERGE_BYTES) {
            runs.push((1, size));
        } else {
            *n += 1;
            *bytes += size;
        }
    }
    (runs.len() > 1).then(|| runs.into_iter().map(|(n, _)| n).collect())
}

/// Merges `inputs`, run by run (`runs` inputs each, in order), into sorted
/// run files in `dir` (snappy, small row groups, no statistics), and returns
/// streams reading the runs in the same order: merging those gives what
/// merging `inputs` would.
async fn merge_runs(
    schema: &SchemaRef,
    key: &SortKey,
    mut inputs: Vec<BatchStream>,
    runs: &[usize],
    dir: &Path,
    level: usize,
) -> Result<Vec<BatchStream>> {
    let local: StorageRef = Arc::new(LocalStore);
    let props = staging_writer_properties()
        .into_builder()
        .set_max_row_group_row_count(Some(RUN_ROW_GROUP_ROWS))
        .build();
    let batch_rows = read_batch_rows(runs.len().min(MERGE_FAN_IN));
    let mut out = Vec::with_capacity(runs.len());
    for (i, &n) in runs.iter().enumerate() {
        let uri = dir
            .join(format!("run-{level}-{i}.parquet"))
            .display()
            .to_string();
        let chunk: Vec<BatchStream> = inputs.drain(..n).collect();
        let mut merger = Merger::new(schema.clone(), key.clone(), chunk).await?;
        // On an error the half-written run goes with the folder.
        let mut w = FileWriter::create(&local, &uri, schema.clone(), props.clone()).await?;
        while let Some(batch) = merger.next_batch().await? {
            w.write(&batch).await?;
        }
        let size = w.finish().await?.meta.size;
        out.push(batch_stream(
            open(&local, &uri, size, None).await?,
            &uri,
            batch_rows,
        )?);
    }
    Ok(out)
}

/// The batches of the file `uri`, `rows` at a time, errors naming it.
fn batch_stream(
    builder: ParquetRecordBatchStreamBuilder<ObjectReader>,
    uri: &str,
    rows: usize,
) -> Result<BatchStream> {
    let stream = builder
        .with_batch_size(rows)
        .build()
        .map_err(|e| from_pq(uri, e))?;
    let uri = uri.to_string();
    Ok(Box::pin(futures::TryStreamExt::map_err(stream, move |e| {
        from_pq(&uri, e)
    })))
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
    let table_name = table.as_deref().unwrap_or("*");
    let spec = run.job.table_spec(table.as_deref());

    let mut inputs: Vec<BatchStream> = Vec::with_capacity(files.len());
    let batch_rows = read_batch_rows(files.len().min(MERGE_FAN_IN));
    let mut schema: Option<(SchemaRef, String)> = None;
    // The footers concurrently: on S3 their requests' latencies overlap.
    // A stream reads nothing until the merge reading it starts.
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
        inputs.push(batch_stream(builder, &f.uri, batch_rows)?);
    }
    let (schema, _) = schema.expect("files is not empty");
    check_schema(&run.job.output, &schema).map_err(|message| Error::Schema {
        table: table_name.to_string(),
        message,
    })?;
    let key = SortKey::new(&schema, &spec.sort_by, table_name, &first.uri)?;
    let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
    // Kept until the merge ends: the run files the last pass reads.
    let mut runs_dir = None;
    let mut lens = first_pass_runs(&sizes);
    let mut level = 0;
    while let Some(runs) = lens {
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
            "merging in passes"
        );
        inputs = merge_runs(&schema, &key, inputs, &runs, dir.path(), level).await?;
        level += 1;
        // A run file is read a row group at a time: its size does not count.
        lens = first_pass_runs(&vec![0; inputs.len()]);
    }
    let mut merger = Merger::new(schema.clone(), key, inputs).await?;

    let total: u64 = files.iter().map(|f| f.size).sum();
    let Some(rows) = files.iter().map(|f| f.n_record).sum::<Option<u64>>() else {
        return Err(Error::bad_data(
            group_uri,
            "a staging file has no record count",
        ));
    };
    let file_size = run.job.file_size.max(1);
    let n_out = ((total + file_size / 2) / file_size).clamp(1, rows.max(1));
    // Output file i holds rows_in(i) rows: the group's rows split evenly, so
    // every file's count is known (and recorded) before it is written.
    let rows_in = |i: u64| rows / n_out + u64::from(i < rows % n_out);
    let folder = join(&run.layout.datalake_table(table.as_deref()), &partition);
    let props =
        lake_writer_properties(&run.job.output).map_err(|m| Error::Job(format!("output: {m}")))?;

    let mut written: Vec<Written> = Vec::new();
    let ext = extension(&run.job.output);
    let mut current: Option<LakeFile> = None;
    let result: Result<()> = async {
        while let Some(mut batch) = merger.next_batch().await? {
            while batch.num_rows() > 0 {
                let w = match current.as_mut() {
                    Some(w) => w,
                    None => {
                        let i = written.len() as u64;
                        let uri = join(&folder, &format!("{source_fp}-{i}.{ext}"));
                        let w = LakeFile::create(
                            &run.store,
                            &uri,
                            schema.clone(),
                            &run.job.output,
                            &props,
                            rows_in(i),
                        );
                        current.insert(w.await?)
                    }
                };
                let room = rows_in(written.len() as u64) - w.rows();
                let take = (batch.num_rows() as u64).min(room) as usize;
                w.write(&batch.slice(0, take)).await?;
                batch = batch.slice(take, batch.num_rows() - take);
                if w.rows() == rows_in(written.len() as u64) {
                    written.push(current.take().expect("a writer is open").finish().await?);
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        if let Some(w) = current.take() {
            w.abort().await;
        }
        return Err(e);
    }
    if let Some(w) = current.take() {
        // Fewer rows than the manifests promised: finish() refuses to publish.
        written.push(w.finish().await?);
    }
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

    #[test]
    fn read_batches_shrink_as_inputs_grow() {
        assert_eq!(read_batch_rows(1), READ_BATCH_ROWS);
        assert_eq!(read_batch_rows(8), READ_BATCH_ROWS);
        assert_eq!(read_batch_rows(16), 4096);
        assert_eq!(read_batch_rows(64), MIN_READ_BATCH_ROWS);
        assert_eq!(read_batch_rows(300), MIN_READ_BATCH_ROWS);
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

    #[test]
    fn more_inputs_than_one_merge_reads_split_into_runs() {
        const MIB: u64 = 1024 * 1024;
        assert_eq!(first_pass_runs(&[MIB; MERGE_FAN_IN]), None);
        assert_eq!(first_pass_runs(&[MIB; MERGE_FAN_IN + 1]), Some(vec![64, 1]));
        assert_eq!(first_pass_runs(&[MIB; 300]), Some(vec![64, 64, 64, 64, 44]));
        // Bytes count too: three files of 100 MiB are more than 256 MiB.
        assert_eq!(first_pass_runs(&[100 * MIB; 2]), None);
        assert_eq!(first_pass_runs(&[100 * MIB; 3]), Some(vec![2, 1]));
        // A run holds at least one input, whatever its size.
        assert_eq!(first_pass_runs(&[MERGE_BYTES + 1]), None);
        assert_eq!(first_pass_runs(&[MERGE_BYTES + 1; 2]), Some(vec![1, 1]));
        assert_eq!(first_pass_runs(&[]), None);
    }
}
