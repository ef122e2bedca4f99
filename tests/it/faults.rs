//! Faults: S3 requests failing on the wire, workers crashing mid-write,
//! retried and duplicated invocations. Each ends in the lake of one clean run.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::ops::Range;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use dbsnaplake_core::config::S3Settings;
use dbsnaplake_core::generate::{self, Spec};
use dbsnaplake_core::layout::GroupKind;
use dbsnaplake_core::steps::local::{Quiet, run_all};
use dbsnaplake_core::steps::{compact, read_group_list, stage, validate};
use dbsnaplake_core::storage::{ObjectMeta, ObjectWriter, Storage, StorageRef, Stores};
use dbsnaplake_core::{Error, Job, Result, Run};

use crate::common::*;
use crate::s3::Moto;

/// `tests/faults/s3_fault_proxy.py` in front of an S3 server.
struct FaultProxy {
    child: Child,
    endpoint: String,
    log: tempfile::NamedTempFile,
}

impl FaultProxy {
    fn start(upstream: &str, rate: f64, seed: u64) -> FaultProxy {
        let log = tempfile::NamedTempFile::new().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/faults/s3_fault_proxy.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--upstream", upstream, "--rate", &rate.to_string()])
            .args(["--seed", &seed.to_string()])
            .args(["--log", log.path().to_str().unwrap()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the fault proxy");
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        FaultProxy {
            child,
            endpoint: format!("http://127.0.0.1:{}", port.trim()),
            log,
        }
    }

    /// Faults injected so far, by kind.
    fn faults(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for line in std::fs::read_to_string(self.log.path()).unwrap().lines() {
            let kind = line.split_whitespace().nth(1).unwrap().to_string();
            *out.entry(kind).or_default() += 1;
        }
        out
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Every object under `prefix` but `_SUCCESS`: key, size and ETag (an MD5 of
/// the bytes, or of the parts for a multipart upload).
async fn objects(store: &StorageRef, prefix: &str) -> Vec<(String, u64, Option<String>)> {
    store
        .list(prefix)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| !m.uri.ends_with("/_SUCCESS"))
        .map(|m| (m.uri, m.size, m.etag))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_of_s3_requests_failing_give_the_same_lake() {
    let moto = Moto::start();
    let direct = moto.store().await;
    moto.bucket(&direct, "snap").await;
    moto.bucket(&direct, "work").await;
    let direct: StorageRef = Arc::new(Stores::with_s3(Arc::new(direct)));
    let spec = Spec {
        tables: vec!["db/public/orders".into(), "db/public/customers".into()],
        ..Spec::new("s3://snap/export", 20_000, 6)
    };
    let (manifest, _) = generate::generate(&direct, &spec).await.unwrap();
    let job = |s3: S3Settings| {
        Job::from_json(
            &serde_json::json!({
                "source": {"manifest": manifest},
                "staging": "s3://work/staging", "datalake": "s3://work/lake",
                "tables": {"*": {
                    "partition_by": [{"name": "year", "from": "order_time", "fn": "year"},
                                     {"name": "month", "from": "order_time", "fn": "month"}],
                    "sort_by": [{"column": "order_time", "descending": true}]}},
                "group_size": 200_000, "file_size": 40_000,
                "s3": s3,
            })
            .to_string(),
        )
        .unwrap()
    };

    let clean = run_all(&Run::new(job(moto.settings()), direct.clone()), 2, &Quiet)
        .await
        .unwrap();
    let lake = objects(&direct, "s3://work/lake").await;
    assert!(lake.len() > 40, "{} lake files", lake.len());
    for t in &clean.tables {
        assert!(t.checksum.is_some(), "{t:?}");
        assert_eq!(t.checksum, t.staging_checksum, "{t:?}");
    }
    for m in direct.list("s3://work").await.unwrap() {
        direct.delete(&m.uri).await.unwrap();
    }

    // The same job again, every request through the proxy.
    let proxy = FaultProxy::start(&moto.0.endpoint, 0.1, 7);
    let settings = S3Settings {
        endpoint_url: Some(proxy.endpoint.clone()),
        ..moto.settings()
    };
    let faulty: StorageRef = Arc::new(Stores::with_s3(Arc::new(moto.store_with(&settings).await)));
    let v = run_all(&Run::new(job(settings), faulty), 2, &Quiet)
        .await
        .unwrap();
    let faults = proxy.faults();
    for kind in ["503", "500", "reset", "slow"] {
        assert!(faults.get(kind).copied().unwrap_or(0) >= 3, "{faults:?}");
    }
    assert_eq!(objects(&direct, "s3://work/lake").await, lake);
    assert_eq!(v.tables, clean.tables, "same counts and checksums");
    assert!(v.valid);
}

/// A storage that dies after a number of writes: the write that would exceed
/// the budget fails and so does every request after it, as if the process had
/// been killed there. A writer caught by the crash is leaked, not aborted (a
/// killed process cleans nothing up: temporaries and multipart uploads stay).
#[derive(Debug)]
struct Crashing {
    inner: StorageRef,
    /// Writes left before the crash; at or below zero the process is dead.
    left: Arc<AtomicI64>,
    /// Writes done, across restarts.
    writes: Arc<AtomicU64>,
}

fn crashed() -> Error {
    Error::Internal("the process was killed here".into())
}

impl Crashing {
    fn new(inner: StorageRef) -> Crashing {
        Crashing {
            inner,
            left: Arc::new(AtomicI64::new(i64::MAX)),
            writes: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A restarted process that will die after `n` writes (`None`: never).
    fn restart(&self, n: Option<u64>) {
        let n = n.map_or(i64::MAX, |n| n as i64);
        self.left.store(n, Ordering::SeqCst);
    }

    fn alive(&self) -> Result<()> {
        alive(&self.left)
    }

    fn write(&self) -> Result<()> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        tick(&self.left)
    }
}

fn alive(left: &AtomicI64) -> Result<()> {
    if left.load(Ordering::SeqCst) > 0 {
        Ok(())
    } else {
        Err(crashed())
    }
}

fn tick(left: &AtomicI64) -> Result<()> {
    if left.fetch_sub(1, Ordering::SeqCst) > 0 {
        Ok(())
    } else {
        Err(crashed())
    }
}

struct CrashingWriter {
    inner: Option<Box<dyn ObjectWriter>>,
    left: Arc<AtomicI64>,
    writes: Arc<AtomicU64>,
}

impl CrashingWriter {
    fn step(&mut self) -> Result<&mut Box<dyn ObjectWriter>> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = tick(&self.left) {
            std::mem::forget(self.inner.take());
            return Err(e);
        }
        self.inner.as_mut().ok_or_else(crashed)
    }
}

#[async_trait]
impl ObjectWriter for CrashingWriter {
    async fn write(&mut self, data: Bytes) -> Result<()> {
        self.step()?.write(data).await
    }
    async fn finish(&mut self) -> Result<ObjectMeta> {
        self.step()?.finish().await
    }
    async fn abort(&mut self) -> Result<()> {
        if alive(&self.left).is_err() {
            std::mem::forget(self.inner.take());
            return Err(crashed());
        }
        self.inner.as_mut().ok_or_else(crashed)?.abort().await
    }
}

#[async_trait]
impl Storage for Crashing {
    async fn get(&self, uri: &str) -> Result<Bytes> {
        self.alive()?;
        self.inner.get(uri).await
    }
    async fn get_range(&self, uri: &str, range: Range<u64>) -> Result<Bytes> {
        self.alive()?;
        self.inner.get_range(uri, range).await
    }
    async fn head(&self, uri: &str) -> Result<Option<ObjectMeta>> {
        self.alive()?;
        self.inner.head(uri).await
    }
    async fn put(&self, uri: &str, data: Bytes) -> Result<ObjectMeta> {
        self.write()?;
        self.inner.put(uri, data).await
    }
    async fn writer(&self, uri: &str) -> Result<Box<dyn ObjectWriter>> {
        self.data_writer(uri, Vec::new()).await
    }
    async fn data_writer(
        &self,
        uri: &str,
        metadata: Vec<(String, String)>,
    ) -> Result<Box<dyn ObjectWriter>> {
        self.alive()?;
        Ok(Box::new(CrashingWriter {
            inner: Some(self.inner.data_writer(uri, metadata).await?),
            left: self.left.clone(),
            writes: self.writes.clone(),
        }))
    }
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        self.alive()?;
        self.inner.list(prefix).await
    }
    async fn delete(&self, uri: &str) -> Result<()> {
        self.write()?;
        self.inner.delete(uri).await
    }
}

/// SplitMix64: a small deterministic generator for the model test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One step a Step Functions execution or a user might take: the whole
/// pipeline, or a single worker invoked again (a retry, or a duplicate
/// delivery of an invocation that may already have succeeded).
async fn act(run: &Run, rng: &mut Rng) -> Result<()> {
    match rng.below(4) {
        0 | 1 => run_all(run, 2, &Quiet).await.map(|_| ()),
        2 => {
            let kind = if rng.below(2) == 0 {
                GroupKind::SnapshotFileGroups
            } else {
                GroupKind::PartitionFileGroups
            };
            let groups = read_group_list(run, kind).await?;
            let g = &groups[rng.below(groups.len() as u64) as usize];
            match kind {
                GroupKind::SnapshotFileGroups => stage::stage(run, &g.group).await.map(|_| ()),
                _ => compact::compact(run, &g.group).await.map(|_| ()),
            }
        }
        _ => validate::validate(run).await.map(|_| ()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_crashes_retries_and_reruns_end_in_the_lake_of_one_clean_run() {
    let s = Scenario::new();
    let manifest = s.generate(6_000, 4, &["db/public/orders"]).await;
    let job = s.job(
        &manifest,
        r#"{"tables": {"*": {
              "partition_by": [{"name": "year", "from": "order_time", "fn": "year"}],
              "sort_by": [{"column": "order_time", "descending": true}]}},
            "group_size": 100000, "file_size": 30000}"#,
    );
    let crashing = Arc::new(Crashing::new(s.store.clone()));
    let run = Run::new(job, crashing.clone());
    run_all(&run, 2, &Quiet).await.unwrap();
    let clean = snapshot_tree(&s.path("lake"));
    let clean_writes = crashing.writes.load(Ordering::SeqCst);
    assert!(clean.len() > 8, "{} lake files", clean.len());
    assert!(clean_writes > 40, "{clean_writes} writes");

    for seed in 0..12u64 {
        std::fs::remove_dir_all(s.path("lake")).unwrap();
        std::fs::remove_dir_all(s.path("staging")).unwrap();
        let mut rng = Rng(seed);
        let mut crashes = 0;
        for _ in 0..6 {
            crashing.restart(Some(1 + rng.below(clean_writes)));
            if act(&run, &mut rng).await.is_err() && crashing.alive().is_err() {
                crashes += 1;
            }
            crashing.restart(None);
            // A lake marked finished is always the finished lake.
            if s.success() {
                assert_eq!(snapshot_tree(&s.path("lake")), clean, "seed {seed}");
            }
        }
        assert!(crashes > 0, "seed {seed} never crashed");
        let v = run_all(&run, 2, &Quiet).await.unwrap();
        assert!(v.valid);
        assert_eq!(snapshot_tree(&s.path("lake")), clean, "seed {seed}");
    }
}
