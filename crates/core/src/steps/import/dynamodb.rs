//! A DynamoDB export to S3 (`AWSDynamoDB/<ExportId>/`) as data files and a schema.
//!
//! `manifest-summary.json` is the export's commit marker: without it the
//! export is still running or failed. Only full exports in `DYNAMODB_JSON`
//! are loaded; ION and incremental exports are refused with a message saying
//! so. `manifest-files.json` (JSON lines) lists every data file with its item
//! count; the counts must add up to the summary's `itemCount`, and each file
//! must hold exactly its count (checked here, while the schema is inferred,
//! and again by the staging worker that reads it).
//!
//! Data file keys in the manifests are whole object keys, prefix included:
//! on S3 they resolve against the bucket; an export copied elsewhere resolves
//! them below its `AWSDynamoDB/<ExportId>/` folder.

use std::collections::BTreeMap;

use futures::{StreamExt, TryStreamExt};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::manifest::DataFile;
use crate::read::dynamodb::{AttrType, Columns, Seen, check_count, infer};
use crate::read::stream::read_decoded;
use crate::storage::{StorageRef, join, split_s3_uri};

/// Data files read at once while inferring the schema.
const INFER_CONCURRENCY: usize = 4;

/// What an export folder holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// URI of `manifest-summary.json`.
    pub summary: String,
    /// The data files, with their item counts as `n_record`.
    pub files: Vec<DataFile>,
    /// The summary's `itemCount`.
    pub item_count: u64,
    /// `exportArn`, `tableArn` and `exportTime` as the export recorded them.
    pub task: serde_json::Map<String, Value>,
}

/// Reads the export folder `root` (`…/AWSDynamoDB/<ExportId>/`).
pub async fn read_export(store: &StorageRef, root: &str) -> Result<Export> {
    let summary_uri = join(root, "manifest-summary.json");
    let summary: Value = match store.get(&summary_uri).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_data(&summary_uri, format!("not valid JSON: {e}")))?,
        Err(Error::NotFound { .. }) => {
            return Err(Error::bad_data(
                &summary_uri,
                "not found: point `source.dynamodb_export` at the export's AWSDynamoDB/<ExportId>/ \
                 folder; without this file the export is still running or has failed",
            ));
        }
        Err(e) => return Err(e),
    };
    let field = |k: &str| summary.get(k).and_then(Value::as_str);
    match field("outputFormat") {
        Some("DYNAMODB_JSON") => {}
        Some("ION") => {
            return Err(Error::bad_data(
                &summary_uri,
                "this export is in ION, which dbsnaplake does not read: export the table again \
                 with ExportFormat DYNAMODB_JSON",
            ));
        }
        other => {
            return Err(Error::bad_data(
                &summary_uri,
                format!("outputFormat is {other:?}, not \"DYNAMODB_JSON\""),
            ));
        }
    }
    if let Some(kind) = field("exportType").filter(|k| *k != "FULL_EXPORT") {
        return Err(Error::bad_data(
            &summary_uri,
            format!(
                "exportType is {kind:?}: incremental exports hold changes, not a snapshot; \
                 load a full export (FULL_EXPORT)"
            ),
        ));
    }
    let item_count = summary
        .get("itemCount")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::bad_data(&summary_uri, "no `itemCount`: is the export finished?"))?;
    let resolve = |key: &str| resolve_key(root, key);
    let files_uri = match field("manifestFilesS3Key") {
        Some(key) => resolve(key).map_err(|m| Error::bad_data(&summary_uri, m))?,
        None => join(root, "manifest-files.json"),
    };
    let listing: BTreeMap<String, _> = store
        .list(root)
        .await?
        .into_iter()
        .map(|m| (m.uri.clone(), m))
        .collect();
    let text = store.get(&files_uri).await?;
    let mut files = Vec::new();
    for (i, line) in String::from_utf8_lossy(&text).lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = |m: String| Error::bad_data(&files_uri, format!("line {}: {m}", i + 1));
        let v: Value = serde_json::from_str(line).map_err(|e| at(format!("not JSON: {e}")))?;
        let key = v
            .get("dataFileS3Key")
            .and_then(Value::as_str)
            .ok_or_else(|| at("no `dataFileS3Key`".into()))?;
        let n = v
            .get("itemCount")
            .and_then(Value::as_u64)
            .ok_or_else(|| at("no `itemCount`".into()))?;
        let uri = resolve(key).map_err(at)?;
        let meta = listing.get(&uri).ok_or_else(|| {
            Error::bad_data(
                &uri,
                format!("listed by {files_uri} but not found in the export"),
            )
        })?;
        files.push(DataFile {
            n_record: Some(n),
            etag: meta.etag.clone(),
            ..DataFile::new(uri, meta.size)
        });
    }
    let listed: u64 = files.iter().filter_map(|f| f.n_record).sum();
    if listed != item_count {
        return Err(Error::bad_data(
            &files_uri,
            format!("its files hold {listed} items but {summary_uri} says itemCount {item_count}"),
        ));
    }
    let task = ["exportArn", "tableArn", "exportTime"]
        .into_iter()
        .filter_map(|k| summary.get(k).map(|v| (k.to_string(), v.clone())))
        .collect();
    Ok(Export {
        summary: summary_uri,
        files,
        item_count,
        task,
    })
}

/// The URI of an object key named in the export's manifests.
fn resolve_key(root: &str, key: &str) -> std::result::Result<String, String> {
    if let Ok((bucket, _)) = split_s3_uri(root) {
        return Ok(format!("s3://{bucket}/{key}"));
    }
    let below = key
        .split_once("AWSDynamoDB/")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(_, rel)| rel)
        .ok_or_else(|| format!("key {key:?} is not under an AWSDynamoDB/<ExportId>/ folder"))?;
    Ok(join(root, below))
}

/// The table's columns: the union of the attributes of every data file, with
/// `pinned` types winning. Also checks each file's item count.
pub async fn columns(
    store: &StorageRef,
    files: &[DataFile],
    pinned: &BTreeMap<String, AttrType>,
) -> Result<Columns> {
    let seen: Vec<BTreeMap<String, Seen>> = futures::stream::iter(files)
        .map(|f| async move {
            let (seen, n) = read_decoded(store, f, None, |uri, items| infer(&uri, items)).await?;
            check_count(f, n)?;
            Ok::<_, Error>(seen)
        })
        .buffer_unordered(INFER_CONCURRENCY)
        .try_collect()
        .await?;
    let mut all: BTreeMap<String, Seen> = BTreeMap::new();
    for s in &seen {
        for (name, x) in s {
            all.entry(name.clone()).or_default().merge(x);
        }
    }
    let mut columns: Columns = all.iter().map(|(k, s)| (k.clone(), s.column())).collect();
    columns.extend(pinned.iter().map(|(k, t)| (k.clone(), *t)));
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_resolve_against_the_bucket_or_below_the_export() {
        let key = "ddb/orders/AWSDynamoDB/01717211538104-5f2a9c1e/data/abc.json.gz";
        assert_eq!(
            resolve_key(
                "s3://acme/ddb/orders/AWSDynamoDB/01717211538104-5f2a9c1e/",
                key
            )
            .unwrap(),
            "s3://acme/ddb/orders/AWSDynamoDB/01717211538104-5f2a9c1e/data/abc.json.gz"
        );
        assert_eq!(
            resolve_key("/tmp/copy/", key).unwrap(),
            "/tmp/copy/data/abc.json.gz"
        );
        assert!(resolve_key("/tmp/copy", "data/abc.json.gz").is_err());
    }
}
