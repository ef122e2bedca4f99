//! The S3 store, on `aws-sdk-s3`. The only module that talks to the SDK.
//!
//! - Reads are ranged GETs; Parquet readers fetch the footer first, then the
//!   column chunks they need, never whole objects.
//! - Writes stream: below [`PART_SIZE`] one PUT; above, a multipart upload of
//!   [`PART_SIZE`] parts, [`PARTS_AT_ONCE`] of them sent at once while the
//!   writer produces the next, that is completed on finish and aborted on
//!   error, abort or drop, so no upload is left open.
//! - Throttling (503 SlowDown), 5xx, timeouts and connection resets are
//!   retried by the SDK's standard strategy (exponential backoff with full
//!   jitter, [`MAX_ATTEMPTS`] attempts); every other error is returned at once
//!   and names the bucket and key.
//! - `ExpectedBucketOwner` goes on every call and server-side encryption on
//!   every write when the job asks for them.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Region};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, ServerSideEncryption};
use bytes::{Bytes, BytesMut};
use tracing::warn;

use super::{ObjectMeta, ObjectWriter, Storage};
use crate::config::{S3Settings, Sse};
use crate::error::{Error, Result};
use crate::tasks::Queue;

/// Size of a multipart upload part, and the threshold for using one.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one multipart upload sent at once, while the writer goes on.
pub const PARTS_AT_ONCE: usize = 4;
/// Attempts per request, first included.
pub const MAX_ATTEMPTS: u32 = 8;

/// Splits `s3://bucket/key` into bucket and key.
pub fn split_s3_uri(uri: &str) -> Result<(&str, &str)> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| Error::bad_data(uri, "not an s3:// URI"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::bad_data(
            uri,
            "an s3:// URI needs a bucket: s3://bucket/key",
        ));
    }
    Ok((bucket, key))
}

/// Objects in S3 (or any S3-compatible server).
#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    owner: Option<String>,
    sse: Option<Sse>,
    kms_key_id: Option<String>,
}

impl S3Store {
    /// A store from the default credential and region chain, with `settings`
    /// and an optional endpoint override (the CLI's `--endpoint-url`).
    pub async fn from_env(settings: &S3Settings, endpoint_override: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(ep) = endpoint_override.or(settings.endpoint_url.as_deref()) {
            loader = loader.endpoint_url(ep);
        }
        if let Some(r) = &settings.region {
            loader = loader.region(Region::new(r.clone()));
        }
        Self::with_config(&loader.load().await, settings)
    }

    /// A store over an SDK configuration (tests pass one with static credentials).
    pub fn with_config(config: &aws_config::SdkConfig, settings: &S3Settings) -> Self {
        Self::with_s3_config(aws_sdk_s3::config::Builder::from(config), settings)
    }

    /// A store over an S3 client configuration, for callers that add to it
    /// (an interceptor, say); `settings`, retries and timeouts are applied
    /// on top.
    pub fn with_s3_config(builder: aws_sdk_s3::config::Builder, settings: &S3Settings) -> Self {
        let conf = builder
            .force_path_style(settings.path_style)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(50))
                    .with_max_backoff(Duration::from_secs(8)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(10))
                    .operation_attempt_timeout(Duration::from_secs(120))
                    .build(),
            )
            .build();
        S3Store {
            client: Client::from_conf(conf),
            owner: settings.expected_bucket_owner.clone(),
            sse: settings.sse,
            kms_key_id: settings.kms_key_id.clone(),
        }
    }

    /// The SDK client (for tests and tools that need a call the trait lacks).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn sse(&self) -> Option<ServerSideEncryption> {
        self.sse.map(|s| match s {
            Sse::Aes256 => ServerSideEncryption::Aes256,
            Sse::Kms => ServerSideEncryption::AwsKms,
        })
    }
}

/// Maps an SDK error to ours, naming the object.
fn sdk_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    uri: &str,
    e: SdkError<E>,
) -> Error {
    let status = e.raw_response().map(|r| r.status().as_u16());
    let code = e.code().map(str::to_string);
    match (&e, status, code.as_deref()) {
        (_, Some(404), Some("NoSuchBucket")) | (_, _, Some("NoSuchBucket")) => {
            let bucket = split_s3_uri(uri).map(|(b, _)| b).unwrap_or(uri);
            Error::Storage {
                uri: uri.to_string(),
                message: format!("bucket {bucket:?} does not exist"),
                transient: false,
            }
        }
        (_, Some(404), _) | (_, _, Some("NoSuchKey" | "NotFound")) => Error::NotFound {
            uri: uri.to_string(),
        },
        (_, Some(412), _) | (_, _, Some("PreconditionFailed")) => Error::BadData {
            uri: uri.to_string(),
            message: super::CHANGED.into(),
        },
        (
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_),
            _,
            _,
        ) => Error::Storage {
            uri: uri.to_string(),
            message: format!(
                "S3 unreachable after {MAX_ATTEMPTS} attempts: {}",
                err_chain(&e)
            ),
            transient: true,
        },
        (_, Some(s), _) => Error::Storage {
            uri: uri.to_string(),
            message: format!(
                "S3 answered {s} {}: {}",
                code.as_deref().unwrap_or(""),
                e.message().unwrap_or("no message")
            ),
            transient: s >= 500 || s == 429 || code.as_deref() == Some("SlowDown"),
        },
        _ => Error::Storage {
            uri: uri.to_string(),
            message: err_chain(&e),
            transient: false,
        },
    }
}

fn err_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn quoted(etag: &str) -> String {
    if etag.starts_with('"') || etag.starts_with("W/") {
        etag.to_string()
    } else {
        format!("\"{etag}\"")
    }
}

#[async_trait]
impl Storage for S3Store {
    async fn get(&self, uri: &str) -> Result<Bytes> {
        let (bucket, key) = split_s3_uri(uri)?;
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.owner.clone())
            .send()
            .await
            .map_err(|e| sdk_error(uri, e))?;
        let body = out.body.collect().await.map_err(|e| Error::Storage {
            uri: uri.to_string(),
            message: format!("reading the body failed: {e}"),
            transient: true,
        })?;
        Ok(body.into_bytes())
    }

    async fn get_range(&self, uri: &str, range: Range<u64>) -> Result<Bytes> {
        self.get_range_if(uri, range, 0, None).await
    }

    /// The ETag is checked by S3 (`If-Match`); the size goes with it.
    async fn get_range_if(
        &self,
        uri: &str,
        range: Range<u64>,
        _size: u64,
        etag: Option<&str>,
    ) -> Result<Bytes> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let (bucket, key) = split_s3_uri(uri)?;
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .set_if_match(etag.map(quoted))
            .set_expected_bucket_owner(self.owner.clone())
            .send()
            .await
            .map_err(|e| sdk_error(uri, e))?;
        let body = out.body.collect().await.map_err(|e| Error::Storage {
            uri: uri.to_string(),
            message: format!("reading bytes {}..{} failed: {e}", range.start, range.end),
            transient: true,
        })?;
        let bytes = body.into_bytes();
        if bytes.len() as u64 != range.end - range.start {
            return Err(Error::bad_data(
                uri,
                format!(
                    "asked for bytes {}..{} but got {} bytes (the object is shorter than the manifest says?)",
                    range.start,
                    range.end,
                    bytes.len()
                ),
            ));
        }
        Ok(bytes)
    }

    async fn head(&self, uri: &str) -> Result<Option<ObjectMeta>> {
        let (bucket, key) = split_s3_uri(uri)?;
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.owner.clone())
            .send()
            .await
        {
            Ok(out) => Ok(Some(ObjectMeta {
                uri: uri.to_string(),
                size: out.content_length().unwrap_or(0).max(0) as u64,
                etag: out.e_tag().map(str::to_string),
            })),
            Err(e) => match sdk_error(uri, e) {
                Error::NotFound { .. } => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn writer(&self, uri: &str) -> Result<Box<dyn ObjectWriter>> {
        self.data_writer(uri, Vec::new()).await
    }

    async fn data_writer(
        &self,
        uri: &str,
        metadata: Vec<(String, String)>,
    ) -> Result<Box<dyn ObjectWriter>> {
        let (bucket, key) = split_s3_uri(uri)?;
        Ok(Box::new(S3Writer {
            store: self.clone(),
            uri: uri.to_string(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            buf: BytesMut::new(),
            upload: None,
            parts: Vec::new(),
            uploading: Queue::new(
                PARTS_AT_ONCE,
                (PARTS_AT_ONCE * PART_SIZE) as u64,
                "uploading a part",
            ),
            size: 0,
            done: false,
            metadata: (!metadata.is_empty()).then(|| metadata.into_iter().collect()),
        }))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let (bucket, key) = split_s3_uri(prefix)?;
        let key_prefix = if key.is_empty() || key.ends_with('/') {
            key.to_string()
        } else {
            format!("{key}/")
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(&key_prefix)
            .set_expected_bucket_owner(self.owner.clone())
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(prefix, e))?;
            for o in page.contents() {
                let Some(k) = o.key() else { continue };
                if k.ends_with('/') {
                    continue;
                }
                out.push(ObjectMeta {
                    uri: format!("s3://{bucket}/{k}"),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: o.e_tag().map(str::to_string),
                });
            }
        }
        out.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(out)
    }

    async fn delete(&self, uri: &str) -> Result<()> {
        let (bucket, key) = split_s3_uri(uri)?;
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .set_expected_bucket_owner(self.owner.clone())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(uri, e))
    }
}

struct S3Writer {
    store: S3Store,
    uri: String,
    bucket: String,
    key: String,
    buf: BytesMut,
    upload: Option<String>,
    /// Parts uploaded, in order.
    parts: Vec<CompletedPart>,
    /// Parts being uploaded.
    uploading: Queue<CompletedPart>,
    size: u64,
    done: bool,
    metadata: Option<HashMap<String, String>>,
}

/// The Content-Type of an object we write, by its extension.
fn content_type(key: &str) -> Option<String> {
    let t = match key.rsplit_once('.').map(|(_, ext)| ext) {
        Some("parquet") => "application/vnd.apache.parquet",
        Some("json") => "application/json",
        Some("ndjson") => "application/x-ndjson",
        Some("csv") => "text/csv",
        Some("gz") => "application/gzip",
        _ => return None,
    };
    Some(t.to_string())
}

impl S3Writer {
    /// Starts uploading `data` as the next part, in the background once
    /// the multipart upload exists, while the caller produces the next one.
    async fn upload_part(&mut self, data: Bytes) -> Result<()> {
        let s = &self.store;
        let upload_id = match &self.upload {
            Some(id) => id.clone(),
            None => {
                let out = s
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .set_metadata(self.metadata.clone())
                    .set_content_type(content_type(&self.key))
                    .set_server_side_encryption(s.sse())
                    .set_ssekms_key_id(s.kms_key_id.clone())
                    .set_expected_bucket_owner(s.owner.clone())
                    .send()
                    .await
                    .map_err(|e| sdk_error(&self.uri, e))?;
                let id = out
                    .upload_id()
                    .ok_or_else(|| Error::bad_data(&self.uri, "S3 returned no upload id"))?
                    .to_string();
                self.upload = Some(id.clone());
                id
            }
        };
        let number = (self.parts.len() + self.uploading.len() + 1) as i32;
        let bytes = data.len() as u64;
        let request = s
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(data))
            .set_expected_bucket_owner(s.owner.clone());
        let uri = self.uri.clone();
        let uploaded = self
            .uploading
            .push(bytes, async move {
                let out = request.send().await.map_err(|e| sdk_error(&uri, e))?;
                Ok(CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build())
            })
            .await?;
        self.parts.extend(uploaded);
        Ok(())
    }

    async fn abort_upload(&mut self) -> Result<()> {
        self.uploading.stop();
        if let Some(id) = self.upload.take() {
            self.store
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(id)
                .set_expected_bucket_owner(self.store.owner.clone())
                .send()
                .await
                .map_err(|e| sdk_error(&self.uri, e))?;
        }
        Ok(())
    }

    async fn finish_inner(&mut self) -> Result<Option<String>> {
        let s = self.store.clone();
        if self.upload.is_none() {
            let data = std::mem::take(&mut self.buf).freeze();
            let out = s
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .set_metadata(self.metadata.clone())
                .set_content_type(content_type(&self.key))
                .body(ByteStream::from(data))
                .set_server_side_encryption(s.sse())
                .set_ssekms_key_id(s.kms_key_id.clone())
                .set_expected_bucket_owner(s.owner.clone())
                .send()
                .await
                .map_err(|e| sdk_error(&self.uri, e))?;
            return Ok(out.e_tag().map(str::to_string));
        }
        if !self.buf.is_empty() {
            let data = std::mem::take(&mut self.buf).freeze();
            self.upload_part(data).await?;
        }
        let uploaded = self.uploading.drain().await?;
        self.parts.extend(uploaded);
        let out = s
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(self.upload.clone().expect("an upload is open"))
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .set_expected_bucket_owner(s.owner.clone())
            .send()
            .await
            .map_err(|e| sdk_error(&self.uri, e))?;
        self.upload = None;
        Ok(out.e_tag().map(str::to_string))
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.size += data.len() as u64;
        self.buf.extend_from_slice(&data);
        while self.buf.len() >= PART_SIZE {
            let part = self.buf.split_to(PART_SIZE).freeze();
            if let Err(e) = self.upload_part(part).await {
                self.abort_upload().await.ok();
                self.done = true;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<ObjectMeta> {
        if self.done {
            return Err(Error::bad_data(
                &self.uri,
                "finish after the write was finished or aborted",
            ));
        }
        self.done = true;
        match self.finish_inner().await {
            Ok(etag) => Ok(ObjectMeta {
                uri: self.uri.clone(),
                size: self.size,
                etag,
            }),
            Err(e) => {
                self.abort_upload().await.ok();
                Err(e)
            }
        }
    }

    async fn abort(&mut self) -> Result<()> {
        self.done = true;
        self.buf.clear();
        self.abort_upload().await
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // Dropped mid-upload (an early return, a cancelled task): abort in the
        // background so no multipart upload is left open to be billed; the
        // parts under way are stopped first.
        self.uploading.stop();
        if let (Some(id), Ok(rt)) = (self.upload.take(), tokio::runtime::Handle::try_current()) {
            let (client, bucket, key, owner) = (
                self.store.client.clone(),
                self.bucket.clone(),
                self.key.clone(),
                self.store.owner.clone(),
            );
            let uri = self.uri.clone();
            rt.spawn(async move {
                if let Err(e) = client
                    .abort_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(id)
                    .set_expected_bucket_owner(owner)
                    .send()
                    .await
                {
                    warn!(uri = %uri, error = %e, "aborting a dropped multipart upload failed");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        assert_eq!(
            split_s3_uri("s3://b/k/x.parquet").unwrap(),
            ("b", "k/x.parquet")
        );
        assert_eq!(split_s3_uri("s3://b").unwrap(), ("b", ""));
        assert!(split_s3_uri("s3:///k").is_err());
        assert_eq!(quoted("abc"), "\"abc\"");
        assert_eq!(quoted("\"abc\""), "\"abc\"");
    }
}
