//! Step 2.2: compact one partition file group into lake files.
//!
//! A streaming k-way merge of the group's staging files (each sorted by the
//! table's `sort_by`) into `max(1, round(S / file_size))` files of about
//! `S / n` bytes each, where `S` is the group's staging bytes: the worker
//! holds one batch per input, never the group. Files are named
//! `<fingerprint>-<i>.parquet` after the group's fingerprint and written in
//! the final partition folder; the datalake file group manifest listing them
//! is written last and makes a rerun a no-op.

use tracing::{info, instrument};

use super::{Run, WorkerOutput, worker_input, worker_output};
use crate::error::{Error, Result};
use crate::lake_file::{LakeFile, check_schema, extension};
use crate::layout::GroupKind;
use crate::manifest::DataFile;
use crate::parquet_io::{Written, from_pq, lake_writer_properties, open};
use crate::schema::check_same_schema;
use crate::sort::{BatchStream, Merger, SortKey, at_once};
use crate::storage::join;

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
    let batch_rows = read_batch_rows(files.len());
    let mut schema: Option<(arrow::datatypes::SchemaRef, String)> = None;
    // The footers concurrently: on S3 their requests' latencies overlap.
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
        let uri = f.uri.clone();
        let stream = builder
            .with_batch_size(batch_rows)
            .build()
            .map_err(|e| from_pq(&f.uri, e))?;
        inputs.push(Box::pin(futures::TryStreamExt::map_err(stream, move |e| {
            from_pq(&uri, e)
        })));
    }
    let (schema, _) = schema.expect("files is not empty");
    check_schema(&run.job.output, &schema).map_err(|message| Error::Schema {
        table: table_name.to_string(),
        message,
    })?;
    let key = SortKey::new(&schema, &spec.sort_by, table_name, &first.uri)?;
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
}
