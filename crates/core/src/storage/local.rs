//! The local-folder store: `file:///path` or plain paths.
//!
//! Writes go to a hidden temporary file beside the target and are renamed into
//! place on finish, so a reader (or a crash) never sees half a file. Listing
//! skips hidden files (names starting with `.`), which is where those
//! temporaries live.
//!
//! Durability: a data file (a staging or lake file, written with
//! [`Storage::data_writer`]) is renamed into place without waiting for the
//! disk; its fsync starts in the background at once, and the next plain write
//! (a manifest, a plan, `_SUCCESS`: every commit point) first waits for every
//! such fsync, then syncs itself. So no commit ever names a file that is not on
//! disk, the workers do not wait for the disk once per file, and the disk
//! writes while the workers compute instead of all at once at a commit. After
//! a power loss, an uncommitted data file may hold garbage; nothing reads it,
//! and the rerun of its group rewrites it.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::{ObjectMeta, ObjectWriter, Storage};
use crate::error::{Error, Result};

/// Files in a local folder.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalStore;

/// A data file's fsync, running in the background since the file was renamed
/// into place.
type Syncing = (PathBuf, tokio::task::JoinHandle<std::io::Result<()>>);

/// Data files whose fsync has not been awaited yet (see the module docs).
static SYNCING: Mutex<Vec<Syncing>> = Mutex::new(Vec::new());

/// Held by a commit while it waits for the syncs: a concurrent commit waits
/// behind it rather than return while a sync it did not take still runs.
/// Holds the first failed sync, which fails every later commit of this
/// process (the data file it named may be lost).
static SYNC_FAILED: tokio::sync::Mutex<Option<String>> = tokio::sync::Mutex::const_new(None);

/// Waits until every data file written so far is on disk.
async fn sync_deferred() -> Result<()> {
    wait_for_syncs(&SYNC_FAILED, &SYNCING).await
}

/// Takes every sync of `pending` and awaits them holding `failed` (see
/// [`SYNC_FAILED`]).
async fn wait_for_syncs(
    failed: &tokio::sync::Mutex<Option<String>>,
    pending: &Mutex<Vec<Syncing>>,
) -> Result<()> {
    let mut failed = failed.lock().await;
    if let Some(e) = failed.as_ref() {
        return Err(Error::Internal(format!(
            "a data file written earlier did not reach the disk ({e}); rerun the step"
        )));
    }
    let syncs = std::mem::take(&mut *pending.lock().expect("not poisoned"));
    await_all(syncs)
        .await
        .inspect_err(|e| *failed = Some(e.to_string()))
}

/// Awaits every sync of `syncs`, even after one failed; the first failure is
/// the error, naming its file. A failed fsync is not retried (the kernel may
/// have dropped the pages it could not write): the commit fails, and the
/// rerun of the step rewrites the file.
async fn await_all(syncs: Vec<Syncing>) -> Result<()> {
    let mut failed = None;
    for (path, sync) in syncs {
        let r = match sync.await {
            Ok(r) => r.map_err(|e| Error::io(&path.to_string_lossy(), e)),
            Err(e) => Err(Error::Internal(format!("syncing {}: {e}", path.display()))),
        };
        if let Err(e) = r {
            failed.get_or_insert(e);
        }
    }
    failed.map_or(Ok(()), Err)
}

fn path_of(uri: &str) -> PathBuf {
    PathBuf::from(uri.strip_prefix("file://").unwrap_or(uri))
}

fn meta_of(uri: &str, m: &std::fs::Metadata) -> ObjectMeta {
    let mtime = m
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    ObjectMeta {
        uri: uri.to_string(),
        size: m.len(),
        etag: Some(format!("{:x}-{:x}", m.len(), mtime)),
    }
}

/// The forms an ETag in a manifest takes, as far as a local file can be
/// checked against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TagForm<'a> {
    /// Ours: size and modification time, as [`LocalStore`] lists files.
    Ours(&'a str),
    /// What S3 gives a single-part upload: the hex MD5 of the bytes (what
    /// the original dbsnaplake and a copy of an S3 snapshot's manifest hold).
    Md5(&'a str),
    /// What S3 gives a multipart upload (`<md5 of the parts' md5s>-<parts>`):
    /// it depends on the part sizes, which the file does not tell.
    Multipart,
}

impl<'a> TagForm<'a> {
    fn of(etag: &'a str) -> Self {
        let tag = etag.trim_matches('"');
        let md5 = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
        match tag.split_once('-') {
            None if md5(tag) => TagForm::Md5(tag),
            Some((digest, parts))
                if md5(digest)
                    && !parts.is_empty()
                    && parts.bytes().all(|b| b.is_ascii_digit()) =>
            {
                TagForm::Multipart
            }
            _ => TagForm::Ours(etag),
        }
    }
}

/// Files whose MD5 matched their manifest's tag: their tag in our form then,
/// and the MD5. A later read of the same file against the same MD5 compares
/// the tag of ours instead of hashing the file again.
static VERIFIED: Mutex<BTreeMap<PathBuf, (String, String)>> = Mutex::new(BTreeMap::new());

/// Whether the one log line about multipart tags has been written.
static SIZE_ONLY_LOGGED: AtomicBool = AtomicBool::new(false);

/// Checks `now` (the file at `uri`) against `want`, the tag its manifest
/// gives, with `size` the manifest's size:
/// - a tag of ours must equal the file's (size and modification time);
/// - an MD5 must equal the MD5 of the file's bytes, hashed once per file
///   (a later read compares the file's tag of ours as it was then);
/// - a multipart S3 tag cannot be computed from the file: its size must
///   equal the manifest's, and one log line says so.
async fn check_tag(uri: &str, now: &ObjectMeta, size: u64, want: &str) -> Result<()> {
    let changed = || Err(Error::bad_data(uri, super::CHANGED));
    match TagForm::of(want) {
        TagForm::Ours(want) if now.etag.as_deref() == Some(want) => Ok(()),
        TagForm::Ours(_) => changed(),
        TagForm::Multipart if now.size == size => {
            if !SIZE_ONLY_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::info!(
                    file = uri,
                    "the manifest holds multipart S3 ETags, which a local file cannot be checked \
                     against: such files are checked by their size only"
                );
            }
            Ok(())
        }
        TagForm::Multipart => Err(Error::bad_data(
            uri,
            format!(
                "is {} bytes where the manifest says {size}: it changed since the manifest was made; \
                 make a new snapshot manifest",
                now.size
            ),
        )),
        TagForm::Md5(md5) => {
            let path = path_of(uri);
            let verified = (
                now.etag.clone().unwrap_or_default(),
                md5.to_ascii_lowercase(),
            );
            if VERIFIED.lock().expect("not poisoned").get(&path) == Some(&verified) {
                return Ok(());
            }
            let hashed = path.clone();
            let digest = tokio::task::spawn_blocking(move || md5_of(&hashed))
                .await
                .map_err(|e| Error::io(uri, std::io::Error::other(e)))?
                .map_err(|e| Error::io(uri, e))?;
            if !digest.eq_ignore_ascii_case(md5) {
                return Err(Error::bad_data(
                    uri,
                    format!(
                        "changed since the manifest was made: its bytes' MD5 is {digest} where the \
                         manifest's ETag is {md5}; make a new snapshot manifest"
                    ),
                ));
            }
            VERIFIED
                .lock()
                .expect("not poisoned")
                .insert(path, verified);
            Ok(())
        }
    }
}

/// The hex MD5 of the file at `path`, read in 1 MiB pieces.
fn md5_of(path: &Path) -> std::io::Result<String> {
    use md5::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = md5::Md5::new();
    let mut buf = vec![0; 1024 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

#[async_trait]
impl Storage for LocalStore {
    async fn get(&self, uri: &str) -> Result<Bytes> {
        let data = tokio::fs::read(path_of(uri))
            .await
            .map_err(|e| Error::io(uri, e))?;
        Ok(data.into())
    }

    /// One blocking task opens, seeks and reads straight into the returned
    /// buffer (tokio's file reads would hop to the blocking pool per call and
    /// copy through a buffer of their own).
    async fn get_range(&self, uri: &str, range: Range<u64>) -> Result<Bytes> {
        let len = usize::try_from(range.end.saturating_sub(range.start))
            .map_err(|_| Error::bad_data(uri, "range too large"))?;
        let path = path_of(uri);
        // Allocated here, not on the blocking thread: the buffer is freed on
        // this runtime's threads, and memory allocated on the blocking pool's
        // many threads would spread over as many malloc arenas.
        let mut buf = Vec::with_capacity(len);
        let read = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
            let mut f = std::fs::File::open(path)?;
            f.seek(SeekFrom::Start(range.start))?;
            f.take(len as u64).read_to_end(&mut buf)?;
            if buf.len() < len {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file ends {} bytes short of the range read",
                        len - buf.len()
                    ),
                ));
            }
            Ok(buf)
        })
        .await
        .map_err(|e| Error::io(uri, std::io::Error::other(e)))?;
        Ok(read.map_err(|e| Error::io(uri, e))?.into())
    }

    /// Checks the file against the tag a manifest gives for it
    /// ([`check_tag`]), then reads the range.
    async fn get_range_if(
        &self,
        uri: &str,
        range: Range<u64>,
        size: u64,
        etag: Option<&str>,
    ) -> Result<Bytes> {
        if let Some(want) = etag {
            let now = self.head(uri).await?.ok_or_else(|| Error::NotFound {
                uri: uri.to_string(),
            })?;
            check_tag(uri, &now, size, want).await?;
        }
        self.get_range(uri, range).await
    }

    async fn head(&self, uri: &str) -> Result<Option<ObjectMeta>> {
        match tokio::fs::metadata(path_of(uri)).await {
            Ok(m) if m.is_file() => Ok(Some(meta_of(uri, &m))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(uri, e)),
        }
    }

    async fn writer(&self, uri: &str) -> Result<Box<dyn ObjectWriter>> {
        open_writer(uri, false).await
    }

    /// Data files: their fsync runs in the background, awaited by the next commit.
    async fn data_writer(
        &self,
        uri: &str,
        _metadata: Vec<(String, String)>,
    ) -> Result<Box<dyn ObjectWriter>> {
        open_writer(uri, true).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let root = path_of(prefix);
        let prefix = prefix.trim_end_matches('/').to_string();
        let found = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            walk(&root, &prefix, &mut out).map(|()| out)
        })
        .await
        .map_err(|e| Error::Io {
            uri: "listing".into(),
            source: std::io::Error::other(e),
        })??;
        let mut found = found;
        found.sort_by(|a, b| a.uri.cmp(&b.uri));
        Ok(found)
    }

    async fn delete(&self, uri: &str) -> Result<()> {
        match tokio::fs::remove_file(path_of(uri)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(uri, e)),
        }
    }
}

fn walk(dir: &Path, uri: &str, out: &mut Vec<ObjectMeta>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(uri, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(uri, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let child = format!("{uri}/{name}");
        let m = entry.metadata().map_err(|e| Error::io(&child, e))?;
        if m.is_dir() {
            walk(&entry.path(), &child, out)?;
        } else {
            out.push(meta_of(&child, &m));
        }
    }
    Ok(())
}

/// A writer of `uri` through a hidden temporary; with `deferred_sync`, a
/// data file whose fsync waits for the next commit.
async fn open_writer(uri: &str, deferred_sync: bool) -> Result<Box<dyn ObjectWriter>> {
    let target = path_of(uri);
    let dir = target
        .parent()
        .ok_or_else(|| Error::bad_data(uri, "not a file path"))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| Error::io(uri, e))?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let file = tokio::fs::File::create(&tmp)
        .await
        .map_err(|e| Error::io(uri, e))?;
    Ok(Box::new(LocalWriter {
        uri: uri.to_string(),
        target,
        tmp,
        file: Some(BufWriter::with_capacity(1 << 20, file)),
        deferred_sync,
    }))
}

struct LocalWriter {
    uri: String,
    target: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<tokio::fs::File>>,
    /// A data file: fsync in the background, awaited by the next commit.
    deferred_sync: bool,
}

#[async_trait]
impl ObjectWriter for LocalWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| Error::bad_data(&self.uri, "write after finish"))?;
        f.write_all(&data)
            .await
            .map_err(|e| Error::io(&self.uri, e))
    }

    async fn finish(&mut self) -> Result<ObjectMeta> {
        let mut f = self
            .file
            .take()
            .ok_or_else(|| Error::bad_data(&self.uri, "finish called twice"))?;
        f.flush().await.map_err(|e| Error::io(&self.uri, e))?;
        let f = f.into_inner();
        if !self.deferred_sync {
            sync_deferred().await?;
            f.sync_data().await.map_err(|e| Error::io(&self.uri, e))?;
        }
        tokio::fs::rename(&self.tmp, &self.target)
            .await
            .map_err(|e| Error::io(&self.uri, e))?;
        if self.deferred_sync {
            let file = f.into_std().await;
            let sync = tokio::task::spawn_blocking(move || file.sync_data());
            SYNCING
                .lock()
                .expect("not poisoned")
                .push((self.target.clone(), sync));
        }
        let m = tokio::fs::metadata(&self.target)
            .await
            .map_err(|e| Error::io(&self.uri, e))?;
        Ok(meta_of(&self.uri, &m))
    }

    async fn abort(&mut self) -> Result<()> {
        self.file.take();
        match tokio::fs::remove_file(&self.tmp).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io(&self.uri, e)),
        }
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // A writer dropped without finish (an error path that returned early,
        // a cancelled task) must not leave its temporary behind.
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn tags_are_told_apart_by_their_form() {
        let md5 = "9e107d9d372bb6826bd81d3542a419d6";
        assert_eq!(TagForm::of(md5), TagForm::Md5(md5));
        assert_eq!(TagForm::of(&format!("\"{md5}\"")), TagForm::Md5(md5));
        assert_eq!(TagForm::of(&format!("\"{md5}-12\"")), TagForm::Multipart);
        // Ours: hex size, hex modification time in nanoseconds.
        assert_eq!(
            TagForm::of("5a-1873fa2b3c4d5e6f"),
            TagForm::Ours("5a-1873fa2b3c4d5e6f")
        );
        assert_eq!(
            TagForm::of(&format!("{md5}-x")),
            TagForm::Ours(&format!("{md5}-x"))
        );
        assert_eq!(TagForm::of("etag1"), TagForm::Ours("etag1"));
    }

    #[tokio::test]
    async fn a_local_file_is_checked_against_each_form_of_tag() {
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("{}/f.bin", dir.path().display());
        std::fs::write(&uri, b"The quick brown fox jumps over the lazy dog").unwrap();
        let s = LocalStore;
        let ours = s.head(&uri).await.unwrap().unwrap().etag.unwrap();
        let read = |etag: String| {
            let uri = uri.clone();
            async move { s.get_range_if(&uri, 4..9, 43, Some(&etag)).await }
        };
        assert_eq!(&read(ours.clone()).await.unwrap()[..], b"quick");
        let md5 = "9e107d9d372bb6826bd81d3542a419d6";
        assert_eq!(&read(md5.into()).await.unwrap()[..], b"quick");
        // Hashed once: a second read compares our tag of the file then.
        assert_eq!(&read(md5.to_uppercase()).await.unwrap()[..], b"quick");
        let e = read("0".repeat(32)).await.unwrap_err().to_string();
        assert!(e.contains(&format!("its bytes' MD5 is {md5}")), "{e}");
        assert!(e.contains("f.bin"), "{e}");
        assert_eq!(&read(format!("{md5}-3")).await.unwrap()[..], b"quick");
        let e = s
            .get_range_if(&uri, 4..9, 44, Some(&format!("{md5}-3")))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("is 43 bytes where the manifest says 44"), "{e}");
        let e = read("other".into()).await.unwrap_err().to_string();
        assert!(e.contains(crate::storage::CHANGED), "{e}");
        // Rewritten since it was hashed: the MD5 is taken again.
        std::fs::write(&uri, b"The quick brown fox jumps over the lazy cat").unwrap();
        let e = read(md5.into()).await.unwrap_err().to_string();
        assert!(e.contains("MD5 is"), "{e}");
    }

    #[tokio::test]
    async fn write_list_read_delete() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        let s = LocalStore;
        let uri = format!("{root}/a/b/c.bin");
        let mut w = s.writer(&uri).await.unwrap();
        w.write(Bytes::from_static(b"hello ")).await.unwrap();
        assert!(
            s.list(&root).await.unwrap().is_empty(),
            "unfinished write is invisible"
        );
        w.write(Bytes::from_static(b"world")).await.unwrap();
        let m = w.finish().await.unwrap();
        assert_eq!(m.size, 11);
        assert_eq!(
            s.get(&uri).await.unwrap(),
            Bytes::from_static(b"hello world")
        );
        assert_eq!(
            s.get_range(&uri, 6..11).await.unwrap(),
            Bytes::from_static(b"world")
        );
        assert_eq!(s.get_range(&uri, 11..11).await.unwrap(), Bytes::new());
        let e = s.get_range(&uri, 6..14).await.unwrap_err().to_string();
        assert_eq!(
            e,
            format!("{uri}: the file ends 3 bytes short of the range read")
        );
        let file_uri = format!("file://{uri}");
        assert_eq!(s.head(&file_uri).await.unwrap().unwrap().size, 11);
        let listed = s.list(&format!("{root}/")).await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].uri, uri);
        s.delete(&uri).await.unwrap();
        s.delete(&uri).await.unwrap();
        assert!(s.head(&uri).await.unwrap().is_none());
        let e = s.get(&uri).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
        let e = s.get_range(&uri, 0..1).await.unwrap_err();
        assert!(matches!(e, Error::NotFound { .. }), "{e}");
    }

    #[tokio::test]
    async fn data_files_are_synced_before_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        let s = LocalStore;
        let data = format!("{root}/part/f.parquet");
        let mut w = s.data_writer(&data, Vec::new()).await.unwrap();
        w.write(Bytes::from_static(b"rows")).await.unwrap();
        w.finish().await.unwrap();
        assert_eq!(s.get(&data).await.unwrap(), Bytes::from_static(b"rows"));
        let pending = |p: &Path| SYNCING.lock().unwrap().iter().any(|(u, _)| u == p);
        s.put(&format!("{root}/manifest.json"), Bytes::from_static(b"{}"))
            .await
            .unwrap();
        assert!(
            !pending(&path_of(&data)),
            "a commit left a data file unsynced"
        );
    }

    /// A sync that sleeps, then sets `flag` and returns `result`.
    fn slow_sync(name: &str, flag: &Arc<AtomicBool>, result: std::io::Result<()>) -> Syncing {
        let flag = flag.clone();
        let sync = tokio::task::spawn_blocking(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            flag.store(true, Ordering::SeqCst);
            result
        });
        (PathBuf::from(format!("/lake/{name}")), sync)
    }

    #[tokio::test]
    async fn a_failed_sync_fails_its_commit_once_every_sync_ended_and_every_later_one() {
        let (failed, pending) = (tokio::sync::Mutex::const_new(None), Mutex::new(Vec::new()));
        let ended = Arc::new(AtomicBool::new(false));
        let disk_gone = Err(std::io::Error::other("disk gone"));
        pending
            .lock()
            .unwrap()
            .push(slow_sync("a.parquet", &Arc::default(), disk_gone));
        pending
            .lock()
            .unwrap()
            .push(slow_sync("b.parquet", &ended, Ok(())));
        let e = wait_for_syncs(&failed, &pending)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("a.parquet") && e.contains("disk gone"), "{e}");
        assert!(
            ended.load(Ordering::SeqCst),
            "returned before every sync ended"
        );
        let e = wait_for_syncs(&failed, &pending)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("did not reach the disk") && e.contains("a.parquet"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_waits_for_syncs_another_commit_took() {
        let state: &'static _ = Box::leak(Box::new((
            tokio::sync::Mutex::const_new(None),
            Mutex::new(Vec::new()),
        )));
        let ended = Arc::new(AtomicBool::new(false));
        state
            .1
            .lock()
            .unwrap()
            .push(slow_sync("a.parquet", &ended, Ok(())));
        let first = tokio::spawn(wait_for_syncs(&state.0, &state.1));
        // Let the first commit take the sync, then commit with nothing pending.
        while !state.1.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        wait_for_syncs(&state.0, &state.1).await.unwrap();
        assert!(
            ended.load(Ordering::SeqCst),
            "a commit returned while a data file was still syncing"
        );
        first.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn aborted_and_dropped_writes_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        let s = LocalStore;
        let mut w = s.writer(&format!("{root}/x")).await.unwrap();
        w.write(Bytes::from_static(b"abc")).await.unwrap();
        w.abort().await.unwrap();
        let w = s.writer(&format!("{root}/y")).await.unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
