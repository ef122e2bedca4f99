//! Object storage behind one small async trait.
//!
//! The pipeline steps only see [`Storage`]: get, ranged get, head, put, a
//! streaming [`ObjectWriter`], list and delete, all addressed by full URIs
//! (`s3://bucket/key`, `file:///path` or a plain local path). Dispatch by URI
//! scheme lives in [`Stores`], so a step never cares where a file lives.
//!
//! Guarantees every implementation gives:
//! - a written object appears whole or not at all ([`ObjectWriter::finish`]
//!   publishes it; [`ObjectWriter::abort`] or a crash leaves nothing visible);
//! - [`Storage::list`] returns every object under a prefix, sorted by URI, and
//!   never an object that is still being written.

mod local;
mod s3;

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub use crate::config::uri::{canonical, file_name, is_s3, join, overlaps, relative};
pub use local::LocalStore;
pub use s3::{PARTS_AT_ONCE, S3Store, split_s3_uri};

use crate::error::{Error, Result};

/// Why a read of an object whose entity tag changed fails.
pub(crate) const CHANGED: &str = "changed since the manifest was made (its ETag no longer matches); make a new snapshot manifest";

/// What a listing or a head request knows of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    /// Full URI of the object.
    pub uri: String,
    /// Size in bytes.
    pub size: u64,
    /// Entity tag: S3's ETag, or a size-and-mtime tag for local files (a
    /// local file is also checked against S3's forms of it, see
    /// [`LocalStore`]).
    pub etag: Option<String>,
}

/// A streaming write of one object. Nothing is visible until [`finish`](Self::finish).
#[async_trait]
pub trait ObjectWriter: Send {
    /// Appends bytes to the object.
    async fn write(&mut self, data: Bytes) -> Result<()>;
    /// Publishes the object and returns what it became.
    async fn finish(&mut self) -> Result<ObjectMeta>;
    /// Drops everything written so far; the object is not created.
    async fn abort(&mut self) -> Result<()>;
}

/// Object storage addressed by full URIs.
#[async_trait]
pub trait Storage: Send + Sync + Debug {
    /// Reads a whole object. Meant for small objects (manifests, JSON).
    async fn get(&self, uri: &str) -> Result<Bytes>;
    /// Reads `range` of an object.
    async fn get_range(&self, uri: &str, range: Range<u64>) -> Result<Bytes>;
    /// Reads `range` of an object only if it is still the one a manifest
    /// listed with `size` bytes and entity tag `etag`; a changed object
    /// fails with an error naming it.
    async fn get_range_if(
        &self,
        uri: &str,
        range: Range<u64>,
        size: u64,
        etag: Option<&str>,
    ) -> Result<Bytes> {
        let _ = (size, etag);
        self.get_range(uri, range).await
    }
    /// Size and tag of an object, `None` when it does not exist.
    async fn head(&self, uri: &str) -> Result<Option<ObjectMeta>>;
    /// Writes a whole object at once.
    async fn put(&self, uri: &str, data: Bytes) -> Result<ObjectMeta> {
        let mut w = self.writer(uri).await?;
        if let Err(e) = w.write(data).await {
            w.abort().await.ok();
            return Err(e);
        }
        w.finish().await
    }
    /// Starts a streaming write.
    async fn writer(&self, uri: &str) -> Result<Box<dyn ObjectWriter>>;
    /// Starts a streaming write of a data file (a staging or lake file)
    /// carrying user `metadata` (S3 object metadata; local files have none and
    /// ignore it). A store may make a data file durable lazily, but must make
    /// it durable before any later [`writer`](Self::writer) or
    /// [`put`](Self::put) (the commits: manifests, plans, `_SUCCESS`) finishes.
    async fn data_writer(
        &self,
        uri: &str,
        metadata: Vec<(String, String)>,
    ) -> Result<Box<dyn ObjectWriter>> {
        let _ = metadata;
        self.writer(uri).await
    }
    /// Every object under `prefix` (a folder URI), recursively, sorted by URI.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>>;
    /// Deletes an object; deleting a missing object is not an error.
    async fn delete(&self, uri: &str) -> Result<()>;
}

/// Shared handle to a storage.
pub type StorageRef = Arc<dyn Storage>;

/// Dispatches by URI scheme: local paths and `file://` to [`LocalStore`],
/// `s3://` to the S3 store when one is configured.
#[derive(Debug, Clone)]
pub struct Stores {
    local: LocalStore,
    s3: Option<StorageRef>,
}

impl Default for Stores {
    fn default() -> Self {
        Self::local()
    }
}

impl Stores {
    /// Local files only; `s3://` URIs are refused with a clear message.
    pub fn local() -> Self {
        Stores {
            local: LocalStore,
            s3: None,
        }
    }

    /// Local files plus the given store for `s3://` URIs.
    pub fn with_s3(s3: StorageRef) -> Self {
        Stores {
            local: LocalStore,
            s3: Some(s3),
        }
    }

    /// The stores a job needs: local files always, and S3 (from the default
    /// credential and region chain, with the job's `s3` settings) when any of
    /// its URIs is `s3://`. `endpoint_override` wins over the job's endpoint.
    /// A process running many jobs keeps a [`StoreCache`] instead.
    pub async fn for_job(job: &crate::Job, endpoint_override: Option<&str>) -> Self {
        StoreCache::new(endpoint_override.map(str::to_string))
            .for_job(job)
            .await
    }

    fn pick(&self, uri: &str) -> Result<&dyn Storage> {
        if is_s3(uri) {
            return self.s3.as_deref().ok_or_else(|| {
                Error::Unsupported(format!(
                    "{uri}: this run has no S3 access, which a job has when its `source`, \
                     `staging` or `datalake` is an s3:// URI (credentials and region from the \
                     environment, the job's `s3` settings); here all three are local, so copy \
                     the object to a local folder or name its S3 folder in the job"
                ))
            });
        }
        if let Some((scheme, _)) = uri.split_once("://")
            && scheme != "file"
        {
            return Err(Error::Unsupported(format!(
                "{uri}: unsupported URI scheme {scheme:?}; use s3://, file:// or a local path"
            )));
        }
        Ok(&self.local)
    }
}

/// The S3 stores of a process that runs many jobs (a warm Lambda), built
/// once for each distinct `s3` settings and shared by every later job with
/// them, so their clients' connections and credentials are reused.
#[derive(Debug, Default)]
pub struct StoreCache {
    endpoint_override: Option<String>,
    s3: tokio::sync::Mutex<Vec<(crate::config::S3Settings, StorageRef)>>,
}

impl StoreCache {
    /// An empty cache; `endpoint_override` wins over every job's endpoint.
    pub fn new(endpoint_override: Option<String>) -> Self {
        StoreCache {
            endpoint_override,
            s3: Default::default(),
        }
    }

    /// The stores `job` needs (see [`Stores::for_job`]), its S3 store built
    /// at the first job with its settings.
    pub async fn for_job(&self, job: &crate::Job) -> Stores {
        if !job.uris().any(is_s3) {
            return Stores::local();
        }
        let mut built = self.s3.lock().await;
        if let Some((_, store)) = built.iter().find(|(settings, _)| *settings == job.s3) {
            return Stores::with_s3(store.clone());
        }
        let store: StorageRef =
            Arc::new(S3Store::from_env(&job.s3, self.endpoint_override.as_deref()).await);
        built.push((job.s3.clone(), store.clone()));
        Stores::with_s3(store)
    }
}

#[async_trait]
impl Storage for Stores {
    async fn get(&self, uri: &str) -> Result<Bytes> {
        self.pick(uri)?.get(uri).await
    }
    async fn get_range(&self, uri: &str, range: Range<u64>) -> Result<Bytes> {
        self.pick(uri)?.get_range(uri, range).await
    }
    async fn get_range_if(
        &self,
        uri: &str,
        range: Range<u64>,
        size: u64,
        etag: Option<&str>,
    ) -> Result<Bytes> {
        self.pick(uri)?.get_range_if(uri, range, size, etag).await
    }
    async fn head(&self, uri: &str) -> Result<Option<ObjectMeta>> {
        self.pick(uri)?.head(uri).await
    }
    async fn put(&self, uri: &str, data: Bytes) -> Result<ObjectMeta> {
        self.pick(uri)?.put(uri, data).await
    }
    async fn writer(&self, uri: &str) -> Result<Box<dyn ObjectWriter>> {
        self.pick(uri)?.writer(uri).await
    }
    async fn data_writer(
        &self,
        uri: &str,
        metadata: Vec<(String, String)>,
    ) -> Result<Box<dyn ObjectWriter>> {
        self.pick(uri)?.data_writer(uri, metadata).await
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.pick(prefix)?.list(prefix).await
    }
    async fn delete(&self, uri: &str) -> Result<()> {
        self.pick(uri)?.delete(uri).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cache_builds_one_s3_store_for_each_settings() {
        let job = |staging: &str, region: &str| {
            crate::Job::from_json(&format!(
                r#"{{"source": {{"rds_export": "s3://exp/task/"}}, "staging": "{staging}",
                    "datalake": "/tmp/lake", "s3": {{"region": "{region}"}}}}"#
            ))
            .unwrap()
        };
        let cache = StoreCache::new(Some("http://127.0.0.1:9".into()));
        let s3 = |s: Stores| s.s3.expect("an S3 store");
        let first = s3(cache.for_job(&job("/tmp/a", "us-east-1")).await);
        let again = s3(cache.for_job(&job("/tmp/b", "us-east-1")).await);
        assert!(Arc::ptr_eq(&first, &again), "built once");
        let other = s3(cache.for_job(&job("/tmp/a", "eu-west-1")).await);
        assert!(
            !Arc::ptr_eq(&first, &other),
            "other settings, another client"
        );
        // The source alone brings the S3 store; a job naming only local
        // folders has none.
        let local = crate::Job::from_json(
            r#"{"source": {"files": "/tmp/in"}, "staging": "/tmp/s", "datalake": "/tmp/l"}"#,
        )
        .unwrap();
        assert!(cache.for_job(&local).await.s3.is_none());
    }

    #[tokio::test]
    async fn dispatch_refuses_unknown_schemes() {
        let s = Stores::local();
        let e = s.get("s3://bucket/key").await.unwrap_err();
        assert!(e.to_string().contains("s3://bucket/key"), "{e}");
        assert!(
            e.to_string().contains("`source`, `staging` or `datalake`"),
            "{e}"
        );
        let e = s.get("gs://bucket/key").await.unwrap_err();
        assert!(
            e.to_string().contains("unsupported URI scheme \"gs\""),
            "{e}"
        );
    }
}
