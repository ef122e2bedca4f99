//! A text or DynamoDB JSON data file as a blocking byte stream, so a worker
//! holds a few MiB of it at a time rather than the whole file (compressed,
//! and again decompressed): an async task fetches it in ranges of [`CHUNK`]
//! bytes, at most two ahead of the reader, each checked against the file's
//! ETag, while the decoder reads on a blocking thread.

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes};

use crate::error::{Error, Result};
use crate::manifest::DataFile;
use crate::storage::StorageRef;
use crate::tasks::Spawned;

/// Bytes fetched per range request.
const CHUNK: u64 = 8 * 1024 * 1024;

/// The UTF-8 byte order mark.
pub(crate) const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The first error behind a failed read (a fetch, or a gzip stream), kept
/// so the worker reports it as it is rather than as the parser's wrapping of
/// an I/O error.
#[derive(Clone, Default)]
struct Failure(Arc<Mutex<Option<Error>>>);

impl Failure {
    /// Keeps `e` unless an earlier error is kept; returns it as an I/O error
    /// for the reader in between.
    fn keep(&self, e: Error) -> std::io::Error {
        let io = std::io::Error::other(e.to_string());
        let mut kept = self.0.lock().expect("not poisoned");
        kept.get_or_insert(e);
        io
    }

    /// The kept error, if any: what a failed read should report.
    fn take(&self) -> Option<Error> {
        self.0.lock().expect("not poisoned").take()
    }
}

/// The blocking side of a fetch: the ranges in order.
struct Chunks {
    rx: tokio::sync::mpsc::Receiver<Result<Bytes>>,
    current: Bytes,
    failure: Failure,
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(self.failure.keep(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        self.current.copy_to_slice(&mut buf[..n]);
        Ok(n)
    }
}

/// Starts fetching `f` by ranges; the reader blocks until each arrives. The
/// fetch stops when the returned task handle is dropped.
fn fetch(store: StorageRef, f: &DataFile, failure: Failure) -> (Chunks, Spawned<()>) {
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let (uri, size, etag) = (f.uri.clone(), f.size, f.etag.clone());
    let task = Spawned::new(async move {
        let mut start = 0;
        while start < size {
            let end = (start + CHUNK).min(size);
            let chunk = store
                .get_range_if(&uri, start..end, size, etag.as_deref())
                .await;
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
            start = end;
        }
    });
    let chunks = Chunks {
        rx,
        current: Bytes::new(),
        failure,
    };
    (chunks, task)
}

/// Starts `read` on a blocking thread over the decoded stream of `f`
/// ([`decoded`]): its `bytes` when they were fetched already, otherwise
/// ranges fetched meanwhile ([`fetch`]). The work starts at once; the
/// returned future gives its outcome, a failed fetch or gzip stream reported
/// as itself rather than as `read` saw it. Dropping the future stops the
/// fetch.
pub(crate) fn read_decoded<T, R>(
    store: &StorageRef,
    f: &DataFile,
    bytes: Option<Bytes>,
    read: R,
) -> impl Future<Output = Result<T>> + Send + use<T, R>
where
    T: Send + 'static,
    R: FnOnce(String, Box<dyn BufRead + Send>) -> Result<T> + Send + 'static,
{
    let failure = Failure::default();
    let (raw, fetching): (Box<dyn Read + Send>, _) = match bytes {
        Some(b) => (Box::new(std::io::Cursor::new(b)), None),
        None => {
            let (chunks, task) = fetch(store.clone(), f, failure.clone());
            (Box::new(chunks), Some(task))
        }
    };
    let uri = f.uri.clone();
    let kept = failure.clone();
    let reading = tokio::task::spawn_blocking(move || {
        let decoded = decoded(&uri, raw, &kept).map_err(|e| {
            kept.take()
                .unwrap_or_else(|| Error::bad_data(&uri, format!("cannot read it: {e}")))
        })?;
        read(uri, decoded)
    });
    let uri = f.uri.clone();
    async move {
        let _fetching = fetching;
        let out = reading
            .await
            .map_err(|e| Error::Internal(format!("reading {uri}: {e}")))?;
        out.map_err(|e| failure.take().unwrap_or(e))
    }
}

/// A gzip stream whose errors name the file.
struct Gunzip<R: Read> {
    inner: flate2::read::MultiGzDecoder<R>,
    uri: String,
    failure: Failure,
}

impl<R: Read> Read for Gunzip<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|e| {
            self.failure.keep(Error::bad_data(
                &self.uri,
                format!("not a readable gzip file: {e}"),
            ))
        })
    }
}

/// The bytes of the file `uri` read from `raw`: gunzipped when its name ends
/// with `.gz`, without a leading UTF-8 byte order mark.
fn decoded(
    uri: &str,
    raw: impl Read + Send + 'static,
    failure: &Failure,
) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut out: Box<dyn BufRead + Send> = if uri.ends_with(".gz") {
        let mut raw = BufReader::new(raw);
        if raw.fill_buf()?.is_empty() {
            return Ok(Box::new(std::io::empty())); // An empty file, not a broken stream.
        }
        Box::new(BufReader::with_capacity(
            256 * 1024,
            Gunzip {
                inner: flate2::read::MultiGzDecoder::new(raw),
                uri: uri.to_string(),
                failure: failure.clone(),
            },
        ))
    } else {
        Box::new(BufReader::with_capacity(256 * 1024, raw))
    };
    if out.fill_buf()?.starts_with(UTF8_BOM) {
        out.consume(UTF8_BOM.len());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Stores;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn read_all(uri: &str, raw: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
        let failure = Failure::default();
        let mut out = Vec::new();
        decoded(uri, std::io::Cursor::new(raw), &failure)
            .and_then(|mut r| r.read_to_end(&mut out))
            .map_err(|e| failure.take().map_or(e.to_string(), |f| f.to_string()))?;
        Ok(out)
    }

    #[test]
    fn gzip_and_byte_order_marks_are_undone_and_errors_name_the_file() {
        assert_eq!(
            read_all("a.csv", b"\xEF\xBB\xBFid\n1\n".to_vec()).unwrap(),
            b"id\n1\n"
        );
        assert_eq!(
            read_all("a.csv.gz", gz(b"\xEF\xBB\xBFid\n1\n")).unwrap(),
            b"id\n1\n"
        );
        assert_eq!(read_all("a.csv.gz", Vec::new()).unwrap(), b"");
        let e = read_all("a.csv.gz", b"\x1f\x8b\x08 broken".to_vec()).unwrap_err();
        assert!(e.starts_with("a.csv.gz: not a readable gzip file"), "{e}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_file_is_read_by_ranges_and_a_change_midway_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.csv");
        let body: Vec<u8> = (0..(2 * CHUNK + 5)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &body).unwrap();
        let store: StorageRef = Arc::new(Stores::local());
        let uri = path.to_string_lossy().into_owned();
        let meta = store.head(&uri).await.unwrap().unwrap();
        let f = DataFile {
            etag: meta.etag.clone(),
            ..DataFile::new(uri.clone(), meta.size)
        };
        let failure = Failure::default();
        let (mut r, _task) = fetch(store.clone(), &f, failure.clone());
        let got = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            r.read_to_end(&mut out).map(|_| out)
        })
        .await
        .unwrap()
        .unwrap();
        assert!(got == body, "{} bytes read of {}", got.len(), body.len());

        // The file as the manifest recorded it no longer exists in this form.
        let stale = DataFile {
            etag: Some("stale".into()),
            ..f
        };
        let failure = Failure::default();
        let (mut r, _task) = fetch(store, &stale, failure.clone());
        let e = tokio::task::spawn_blocking(move || r.read_to_end(&mut Vec::new()))
            .await
            .unwrap()
            .unwrap_err();
        let kept = failure.take().expect("the fetch error is kept").to_string();
        assert_eq!(e.to_string(), kept);
        assert!(kept.contains(&uri), "{kept}");
    }
}
