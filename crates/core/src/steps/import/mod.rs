//! Step 0: list a folder of data files and write the snapshot manifest.
//!
//! Only for `"source": {"files": …}`; a job that names a manifest skips it.
//! Record counts come from Parquet footers (one ranged read per file).
//! Hidden files and files starting with `_` (markers such as `_SUCCESS`) are
//! skipped, as every Hive-style reader does.

use futures::{StreamExt, TryStreamExt};
use tracing::info;

use super::Run;
use crate::error::{Error, Result};
use crate::manifest::{DataFile, ManifestSummary, read_summary, write_manifest};
use crate::parquet_io::read_footer;
use crate::storage::file_name;

/// Footers read at once.
const FOOTER_CONCURRENCY: usize = 32;

/// Writes the snapshot manifest for a `files` source; returns its summary.
/// A manifest already written by an earlier run is reused as it is.
pub async fn import(run: &Run) -> Result<ManifestSummary> {
    let Some(folder) = run.job.source.files.as_deref() else {
        return read_summary(&run.store, &run.snapshot_manifest()).await;
    };
    let summary_uri = run.layout.snapshot_summary();
    if run.store.head(&summary_uri).await?.is_some() {
        info!(manifest = %summary_uri, "snapshot manifest already written");
        return read_summary(&run.store, &summary_uri).await;
    }
    let listed = run.store.list(folder).await?;
    let data: Vec<_> = listed
        .into_iter()
        .filter(|m| {
            let name = file_name(&m.uri);
            !name.starts_with('_') && !name.starts_with('.') && name.ends_with(".parquet")
        })
        .collect();
    if data.is_empty() {
        return Err(Error::bad_data(
            folder,
            "no .parquet files under this folder; nothing to import",
        ));
    }
    let table = run.job.source.table.clone();
    let files: Vec<DataFile> = futures::stream::iter(data)
        .map(|m| {
            let table = table.clone();
            async move {
                let footer = read_footer(&run.store, &m.uri, m.size).await?;
                Ok::<_, Error>(DataFile {
                    n_record: Some(footer.file_metadata().num_rows() as u64),
                    etag: m.etag.clone(),
                    table,
                    ..DataFile::new(m.uri.clone(), m.size)
                })
            }
        })
        .buffered(FOOTER_CONCURRENCY)
        .try_collect()
        .await?;
    let mut details = serde_json::Map::new();
    details.insert("source".into(), folder.into());
    let summary = write_manifest(
        &run.store,
        &summary_uri,
        &run.layout.snapshot_data(),
        &files,
        details,
    )
    .await?;
    info!(
        files = files.len(),
        bytes = summary.size,
        "snapshot manifest written"
    );
    Ok(summary)
}
