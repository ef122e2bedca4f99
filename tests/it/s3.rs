//! The pipeline and the S3 store against a real S3 server (moto) on loopback.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use async_trait::async_trait;
use aws_sdk_s3::config::interceptors::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use bytes::Bytes;
use dbsnaplake_core::config::S3Settings;
use dbsnaplake_core::generate::{self, Spec};
use dbsnaplake_core::steps::local::{Quiet, run_all};
use dbsnaplake_core::storage::{ObjectMeta, ObjectWriter, S3Store, Storage, StorageRef, Stores};
use dbsnaplake_core::{Error, Job, Run};
use futures::TryStreamExt;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::common::*;

/// A moto server with the S3 store and settings the tests use.
pub struct Moto(pub dbsnaplake_testing::Moto);

impl Moto {
    pub fn start() -> Moto {
        Moto(dbsnaplake_testing::Moto::start())
    }

    pub fn settings(&self) -> S3Settings {
        S3Settings {
            endpoint_url: Some(self.0.endpoint.clone()),
            path_style: true,
            ..Default::default()
        }
    }

    pub async fn store(&self) -> S3Store {
        self.store_with(&self.settings()).await
    }

    pub async fn store_with(&self, settings: &S3Settings) -> S3Store {
        S3Store::with_config(&self.sdk_config(settings).await, settings)
    }

    async fn sdk_config(&self, settings: &S3Settings) -> aws_config::SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
            .region(Region::new("us-east-1"))
            .endpoint_url(settings.endpoint_url.as_deref().unwrap_or(&self.0.endpoint))
            .load()
            .await
    }

    /// The store, with `interceptor` on its client.
    async fn store_intercepted(&self, interceptor: impl Intercept + 'static) -> S3Store {
        let config = self.sdk_config(&self.settings()).await;
        let builder = aws_sdk_s3::config::Builder::from(&config).interceptor(interceptor);
        S3Store::with_s3_config(builder, &self.settings())
    }

    pub async fn bucket(&self, store: &S3Store, name: &str) {
        store
            .client()
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap();
    }
}

/// Counts the requests of a client under way at once, and the most seen.
#[derive(Debug, Clone, Default)]
struct InFlight(Arc<Requests>);

#[derive(Debug, Default)]
struct Requests {
    now: AtomicI64,
    most: AtomicI64,
}

impl Intercept for InFlight {
    fn name(&self) -> &'static str {
        "InFlight"
    }
    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let now = self.0.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.0.most.fetch_max(now, Ordering::SeqCst);
        Ok(())
    }
    fn read_after_attempt(
        &self,
        _: &FinalizerInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

/// Records the objects GETs read and counts the bytes they read; can hold
/// a read or the publishing of a write behind a [`Gate`].
#[derive(Debug)]
struct Counting {
    inner: StorageRef,
    bytes: AtomicU64,
    gets: std::sync::Mutex<Vec<String>>,
    /// Every ranged read, in the order asked.
    ranges: std::sync::Mutex<Vec<Range<u64>>>,
    gate: Arc<Gate>,
}

/// Once set to a prefix, holds the first object under it that is read (or
/// published, for a write) until another object there is: a worker that
/// reads (or publishes) its objects strictly one after the other never gets
/// past its first.
#[derive(Debug)]
struct Gate {
    /// The prefix, and the objects seen under it so far.
    seen: std::sync::Mutex<Option<(String, Vec<String>)>>,
    opened: tokio::sync::watch::Sender<usize>,
}

impl Gate {
    async fn pass(&self, uri: &str) {
        let first = match &mut *self.seen.lock().unwrap() {
            Some((prefix, seen)) if uri.starts_with(prefix.as_str()) => {
                if !seen.iter().any(|s| s == uri) {
                    seen.push(uri.to_string());
                    self.opened.send_replace(seen.len());
                }
                seen[0] == uri
            }
            _ => false,
        };
        if first {
            let mut opened = self.opened.subscribe();
            opened.wait_for(|n| *n >= 2).await.unwrap();
        }
    }
}

impl Counting {
    fn new(inner: StorageRef) -> Counting {
        Counting {
            inner,
            bytes: AtomicU64::new(0),
            gets: Default::default(),
            ranges: Default::default(),
            gate: Arc::new(Gate {
                seen: Default::default(),
                opened: tokio::sync::watch::Sender::new(0),
            }),
        }
    }

    /// Runs `work` with the [`Gate`] set to `prefix`; a worker that never
    /// has two objects there under way at once fails, saying `why`, at 60 s.
    async fn through_gate<T>(
        &self,
        prefix: &str,
        why: &str,
        work: impl std::future::Future<Output = dbsnaplake_core::Result<T>>,
    ) -> T {
        *self.gate.seen.lock().unwrap() = Some((prefix.to_string(), Vec::new()));
        tokio::time::timeout(Duration::from_secs(60), work)
            .await
            .expect(why)
            .unwrap()
    }

    fn count(&self, uri: &str, b: Bytes) -> Bytes {
        self.gets.lock().unwrap().push(uri.to_string());
        self.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
        b
    }

    /// The GETs since the last call of objects under `prefix`.
    fn gets_under(&self, prefix: &str) -> usize {
        let gets = std::mem::take(&mut *self.gets.lock().unwrap());
        gets.iter().filter(|u| u.starts_with(prefix)).count()
    }
}

#[async_trait]
impl Storage for Counting {
    async fn get(&self, uri: &str) -> dbsnaplake_core::Result<Bytes> {
        Ok(self.count(uri, self.inner.get(uri).await?))
    }
    async fn get_range(&self, uri: &str, range: Range<u64>) -> dbsnaplake_core::Result<Bytes> {
        self.gate.pass(uri).await;
        self.ranges.lock().unwrap().push(range.clone());
        Ok(self.count(uri, self.inner.get_range(uri, range).await?))
    }
    async fn head(&self, uri: &str) -> dbsnaplake_core::Result<Option<ObjectMeta>> {
        self.inner.head(uri).await
    }
    async fn writer(&self, uri: &str) -> dbsnaplake_core::Result<Box<dyn ObjectWriter>> {
        Ok(Box::new(GatedWriter {
            inner: self.inner.writer(uri).await?,
            uri: uri.to_string(),
            gate: self.gate.clone(),
        }))
    }
    async fn list(&self, prefix: &str) -> dbsnaplake_core::Result<Vec<ObjectMeta>> {
        self.inner.list(prefix).await
    }
    async fn delete(&self, uri: &str) -> dbsnaplake_core::Result<()> {
        self.inner.delete(uri).await
    }
}

/// A write whose publishing passes the [`Gate`] first.
struct GatedWriter {
    inner: Box<dyn ObjectWriter>,
    uri: String,
    gate: Arc<Gate>,
}

#[async_trait]
impl ObjectWriter for GatedWriter {
    async fn write(&mut self, data: Bytes) -> dbsnaplake_core::Result<()> {
        self.inner.write(data).await
    }
    async fn finish(&mut self) -> dbsnaplake_core::Result<ObjectMeta> {
        self.gate.pass(&self.uri).await;
        self.inner.finish().await
    }
    async fn abort(&mut self) -> dbsnaplake_core::Result<()> {
        self.inner.abort().await
    }
}

/// Every .parquet object under `prefix`: (key relative to it, rows).
async fn read_tree(store: &StorageRef, prefix: &str) -> Vec<(String, RecordBatch, u64)> {
    let mut out = Vec::new();
    for m in store.list(prefix).await.unwrap() {
        if !m.uri.ends_with(".parquet") {
            continue;
        }
        let bytes = store.get(&m.uri).await.unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
            .unwrap()
            .build()
            .unwrap();
        let schema = arrow::array::RecordBatchReader::schema(&reader);
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        let rel = m
            .uri
            .strip_prefix(&format!("{prefix}/"))
            .unwrap()
            .to_string();
        out.push((
            rel,
            arrow::compute::concat_batches(&schema, &batches).unwrap(),
            m.size,
        ));
    }
    out
}

async fn open_uploads(store: &S3Store, bucket: &str) -> usize {
    let out = store
        .client()
        .list_multipart_uploads()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    out.uploads().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_runs_on_s3_uris() {
    let moto = Moto::start();
    let s3 = moto.store().await;
    moto.bucket(&s3, "snapshots").await;
    moto.bucket(&s3, "lake").await;
    let s3_client = s3.client().clone();
    let store: StorageRef = Arc::new(Stores::with_s3(Arc::new(s3)));
    let spec = Spec {
        tables: vec!["db/public/orders".into()],
        ..Spec::new("s3://snapshots/export", 30_000, 4)
    };
    let (manifest, _) = generate::generate(&store, &spec).await.unwrap();
    let job = Job::from_json(
        &serde_json::json!({
            "source": {"manifest": manifest},
            "staging": "s3://lake/staging/mydb/snapshot=2021-01-01T08:30:00Z",
            "datalake": "s3://lake/datalake/mydb/snapshot=2021-01-01T08:30:00Z",
            "tables": {"*": {
                "partition_by": [{"name": "year", "from": "order_time", "fn": "year"},
                                 {"name": "month", "from": "order_time", "fn": "month"}],
                "sort_by": [{"column": "order_time", "descending": true}]}},
            "group_size": 1_000_000,
            "file_size": 1_000_000,
            "s3": moto.settings(),
        })
        .to_string(),
    )
    .unwrap();
    let run = Run::new(job, store.clone());
    let v = run_all(&run, 2, &Quiet).await.unwrap();
    assert_eq!(v.n_record(), 30_000);
    let root = "s3://lake/datalake/mydb/snapshot=2021-01-01T08:30:00Z";
    assert!(
        store
            .head(&format!("{root}/_SUCCESS"))
            .await
            .unwrap()
            .is_some()
    );

    let source: Vec<RecordBatch> = read_tree(&store, "s3://snapshots/export/data")
        .await
        .into_iter()
        .map(|(_, b, _)| b)
        .collect();
    let lake = read_tree(&store, root).await;
    assert_eq!(lake.len(), 36);
    for (rel, batch, size) in &lake {
        assert!(rel.starts_with("db/public/orders/year=20"), "{rel}");
        // One file per partition: each month's ~60 KB stays far below file_size.
        assert!(*size > 0 && *size < 1_000_000, "{rel} is {size} bytes");
        let times = batch
            .column_by_name("order_time")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .unwrap()
            .values()
            .to_vec();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "{rel} sorted");
        let (y, m) = {
            let p: Vec<&str> = rel.split('/').collect();
            (p[3].to_string(), p[4].to_string())
        };
        for t in times {
            let dt = chrono::DateTime::from_timestamp_micros(t).unwrap();
            assert_eq!(format!("year={}", dt.format("%Y")), y);
            assert_eq!(format!("month={}", dt.format("%m")), m);
        }
    }
    // Every lake object records its row count in its S3 metadata.
    let (rel, first, _) = &lake[0];
    let head = s3_client
        .head_object()
        .bucket("lake")
        .key(format!("datalake/mydb/snapshot=2021-01-01T08:30:00Z/{rel}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.metadata().unwrap()["n_record"],
        first.num_rows().to_string()
    );
    assert_eq!(head.content_type(), Some("application/vnd.apache.parquet"));
    let batches: Vec<RecordBatch> = lake.into_iter().map(|(_, b, _)| b).collect();
    assert_same_rows(&sorted_by_id(&source), &sorted_by_id(&batches));

    // A rerun on S3 is a no-op too.
    let before: Vec<_> = store
        .list(root)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.uri, m.etag))
        .collect();
    run_all(&run, 2, &Quiet).await.unwrap();
    let after: Vec<_> = store
        .list(root)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.uri, m.etag))
        .collect();
    assert_eq!(before.len(), after.len());
    assert_eq!(
        before
            .iter()
            .filter(|(u, _)| !u.ends_with("_SUCCESS"))
            .collect::<Vec<_>>(),
        after
            .iter()
            .filter(|(u, _)| !u.ends_with("_SUCCESS"))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_past_1000_keys() {
    let moto = Moto::start();
    let s3 = moto.store().await;
    moto.bucket(&s3, "many").await;
    let s3 = Arc::new(s3);
    let puts: Vec<_> = (0..1_500)
        .map(|i| {
            let s3 = s3.clone();
            tokio::spawn(async move {
                s3.put(&format!("s3://many/p/{i:05}.bin"), Bytes::from_static(b"x"))
                    .await
            })
        })
        .collect();
    for p in puts {
        p.await.unwrap().unwrap();
    }
    s3.put("s3://many/other/x.bin", Bytes::from_static(b"x"))
        .await
        .unwrap();
    let listed = s3.list("s3://many/p").await.unwrap();
    assert_eq!(listed.len(), 1_500);
    assert_eq!(listed[1_499].uri, "s3://many/p/01499.bin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_round_trips_and_ranged_footer_reads_stay_small() {
    let moto = Moto::start();
    let in_flight = InFlight::default();
    let s3 = moto.store_intercepted(in_flight.clone()).await;
    moto.bucket(&s3, "big").await;
    let data: Vec<u8> = (0..36 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut w = s3.writer("s3://big/blob.bin").await.unwrap();
    for chunk in data.chunks(3 * 1024 * 1024 + 17) {
        w.write(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    let meta = w.finish().await.unwrap();
    assert_eq!(meta.size, data.len() as u64);
    assert!(
        meta.etag.as_deref().unwrap().contains("-5"),
        "5 parts: {:?}",
        meta.etag
    );
    // Only the parts can overlap (the upload is created before them and
    // completed after them): they were sent side by side.
    let most = in_flight.0.most.load(Ordering::SeqCst);
    assert!(
        (2..=dbsnaplake_core::storage::PARTS_AT_ONCE as i64).contains(&most),
        "{most} requests at once"
    );
    assert_eq!(
        s3.get("s3://big/blob.bin").await.unwrap().as_ref(),
        data.as_slice()
    );
    assert_eq!(
        s3.get_range("s3://big/blob.bin", 100..200)
            .await
            .unwrap()
            .as_ref(),
        &data[100..200]
    );
    assert_eq!(open_uploads(&s3, "big").await, 0);

    // A 6 MB Parquet file: its footer is read with a few kilobytes.
    let counting = Arc::new(Counting::new(Arc::new(Stores::with_s3(Arc::new(
        s3.clone(),
    )))));
    let store: StorageRef = counting.clone();
    let spec = Spec::new("s3://big/snap", 80_000, 1);
    generate::generate(&store, &spec).await.unwrap();
    let file = s3
        .head("s3://big/snap/data/part-00001.parquet")
        .await
        .unwrap()
        .unwrap();
    counting.bytes.store(0, Ordering::Relaxed);
    let footer = dbsnaplake_core::parquet_io::read_footer(&store, &file.uri, file.size)
        .await
        .unwrap();
    assert_eq!(footer.file_metadata().num_rows(), 80_000);
    let read = counting.bytes.load(Ordering::Relaxed);
    assert!(
        read * 50 < file.size,
        "read {read} bytes of a {}-byte object",
        file.size
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parquet_reader_fetches_the_next_row_group_while_one_decodes() {
    let moto = Moto::start();
    let s3 = moto.store().await;
    moto.bucket(&s3, "groups").await;
    let counting = Arc::new(Counting::new(Arc::new(Stores::with_s3(Arc::new(s3)))));
    let store: StorageRef = counting.clone();
    // 200,000 rows in 4 row groups.
    let ids = arrow::array::Int64Array::from_iter_values(0..200_000);
    let notes =
        arrow::array::StringArray::from_iter_values((0..200_000).map(|i| format!("note {i}")));
    let batch = RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as arrow::array::ArrayRef),
        ("note", Arc::new(notes) as arrow::array::ArrayRef),
    ])
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(50_000))
        .build();
    let mut file = Vec::new();
    let mut w =
        parquet::arrow::ArrowWriter::try_new(&mut file, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let uri = "s3://groups/file.parquet";
    store.put(uri, Bytes::from(file)).await.unwrap();
    let whole = store.get(uri).await.unwrap();
    let size = whole.len() as u64;
    let expected: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(whole)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap())
        .collect();

    let reader = dbsnaplake_core::parquet_io::ObjectReader::new(store.clone(), uri, size)
        .with_read_ahead(64 << 20);
    let builder = dbsnaplake_core::parquet_io::open_reader(reader)
        .await
        .unwrap();
    let starts: Vec<u64> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|rg| rg.columns()[0].byte_range().0)
        .collect();
    assert_eq!(starts.len(), 4);
    let mut stream = builder.with_batch_size(1000).build().unwrap();
    counting.ranges.lock().unwrap().clear();
    let first = stream.try_next().await.unwrap().unwrap();
    // The first batch is out: the second row group is on its way already.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !counting
        .ranges
        .lock()
        .unwrap()
        .iter()
        .any(|r| r.start == starts[1])
    {
        assert!(
            Instant::now() < deadline,
            "row group 2 not fetched ahead: {:?}",
            counting.ranges.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut got = vec![first];
    while let Some(b) = stream.try_next().await.unwrap() {
        got.push(b);
    }
    assert_eq!(
        arrow::compute::concat_batches(&got[0].schema(), &got).unwrap(),
        arrow::compute::concat_batches(&expected[0].schema(), &expected).unwrap()
    );
    // Each row group was fetched once: one request each, from its start (in
    // any order: a fetch ahead may be recorded before the one it follows).
    let ranges = counting.ranges.lock().unwrap().clone();
    let mut fetched: Vec<u64> = ranges.iter().map(|r| r.start).collect();
    fetched.sort_unstable();
    assert_eq!(fetched, starts, "{ranges:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_and_dropped_uploads_leave_nothing_open() {
    let moto = Moto::start();
    let s3 = moto.store().await;
    moto.bucket(&s3, "uploads").await;
    let part = Bytes::from(vec![7u8; 9 * 1024 * 1024]);
    let mut w = s3.writer("s3://uploads/a.bin").await.unwrap();
    w.write(part.clone()).await.unwrap();
    assert_eq!(open_uploads(&s3, "uploads").await, 1, "a part was uploaded");
    w.abort().await.unwrap();
    assert_eq!(open_uploads(&s3, "uploads").await, 0);
    let mut w = s3.writer("s3://uploads/b.bin").await.unwrap();
    w.write(part).await.unwrap();
    drop(w);
    let started = Instant::now();
    while open_uploads(&s3, "uploads").await != 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a dropped upload stays open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        s3.list("s3://uploads").await.unwrap().is_empty(),
        "no object appeared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_objects_buckets_and_changed_files_are_named() {
    let moto = Moto::start();
    let s3 = moto.store().await;
    moto.bucket(&s3, "snap").await;
    moto.bucket(&s3, "work").await;
    let e = s3.get("s3://snap/nope.json").await.unwrap_err();
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
    assert_eq!(e.to_string(), "s3://snap/nope.json: not found");
    let e = s3.get("s3://no-such-bucket/k").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "s3://no-such-bucket/k: bucket \"no-such-bucket\" does not exist"
    );
    assert_eq!(e.kind(), dbsnaplake_core::ErrorKind::BadInput);

    // A snapshot file replaced after the manifest was made fails its group.
    let store: StorageRef = Arc::new(Stores::with_s3(Arc::new(s3.clone())));
    let (manifest, _) = generate::generate(&store, &Spec::new("s3://snap/x", 5_000, 2))
        .await
        .unwrap();
    let changed = "s3://snap/x/data/part-00002.parquet";
    let other = generate::generate(
        &store,
        &Spec {
            seed: 7,
            ..Spec::new("s3://snap/y", 5_000, 2)
        },
    )
    .await;
    other.unwrap();
    let replacement = store
        .get("s3://snap/y/data/part-00002.parquet")
        .await
        .unwrap();
    store.put(changed, replacement).await.unwrap();
    let job = Job::from_json(
        &serde_json::json!({
            "source": {"manifest": manifest},
            "staging": "s3://work/staging", "datalake": "s3://work/lake",
            "s3": moto.settings(),
        })
        .to_string(),
    )
    .unwrap();
    let e = run_all(&Run::new(job, store.clone()), 2, &Quiet)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{changed}: changed since the manifest was made (its ETag no longer matches); make a new snapshot manifest"
        )
    );
    assert!(
        store
            .head("s3://work/lake/_SUCCESS")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_prefix_is_imported_with_counts_from_footers() {
    let moto = Moto::start();
    let s3 = moto.store().await;
    moto.bucket(&s3, "plain").await;
    let client = s3.client().clone();
    let settings = S3Settings {
        sse: Some(dbsnaplake_core::config::Sse::Aes256),
        ..moto.settings()
    };
    let s3 = moto.store_with(&settings).await;
    let store: StorageRef = Arc::new(Stores::with_s3(Arc::new(s3)));
    generate::generate(&store, &Spec::new("s3://plain/export", 9_000, 3))
        .await
        .unwrap();
    store
        .put("s3://plain/export/data/_SUCCESS", Bytes::new())
        .await
        .unwrap();
    let job = Job::from_json(&serde_json::json!({
        "source": {"files": "s3://plain/export/data/", "format": "parquet", "table": "app/public/events"},
        "staging": "s3://plain/staging", "datalake": "s3://plain/lake",
        "s3": moto.settings(),
    }).to_string())
    .unwrap();
    let run = Run::new(job, store.clone());
    let v = run_all(&run, 2, &Quiet).await.unwrap();
    assert_eq!(v.tables.len(), 1);
    assert_eq!(v.tables[0].table, "app/public/events");
    assert_eq!(v.tables[0].snapshot_records, Some(9_000));
    let (summary, files) = dbsnaplake_core::manifest::read_manifest(
        &store,
        "s3://plain/staging/manifests/manifest-summary.json",
    )
    .await
    .unwrap();
    assert_eq!(files.len(), 3, "_SUCCESS is not a data file");
    assert!(
        files
            .iter()
            .all(|f| f.etag.as_deref().is_some_and(|e| e.len() > 8))
    );
    assert_eq!(summary.n_record, Some(9_000));
    assert!(
        store
            .head("s3://plain/lake/app/public/events/_SUCCESS")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .head("s3://plain/lake/_SUCCESS")
            .await
            .unwrap()
            .is_some()
    );
    // Every object written carries the job's server-side encryption.
    let lake = store.list("s3://plain/lake").await.unwrap();
    let (_, key) = dbsnaplake_core::storage::split_s3_uri(&lake[0].uri).unwrap();
    let head = client
        .head_object()
        .bucket("plain")
        .key(key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption(),
        Some(&aws_sdk_s3::types::ServerSideEncryption::Aes256)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_reads_each_snapshot_footer_once() {
    let moto = Moto::start();
    let s3 = moto.store().await;
    moto.bucket(&s3, "footers").await;
    let counting = Arc::new(Counting::new(Arc::new(Stores::with_s3(Arc::new(
        s3.clone(),
    )))));
    let store: StorageRef = counting.clone();
    generate::generate(&store, &Spec::new("s3://footers/snap", 6_000, 3))
        .await
        .unwrap();
    let job = Job::from_json(
        &serde_json::json!({
            "source": {"files": "s3://footers/snap/data"},
            "staging": "s3://footers/staging", "datalake": "s3://footers/lake",
            "s3": moto.settings(),
        })
        .to_string(),
    )
    .unwrap();
    let data = "s3://footers/snap/data/";
    let run = Run::new(job.clone(), store.clone());
    counting.gets_under(data);
    dbsnaplake_core::steps::import::import(&run).await.unwrap();
    let footers = counting.gets_under(data);
    assert!(footers >= 3, "import read the 3 footers: {footers} GETs");

    // Step 1.1 in the same process decides the schemas from what import read.
    let plan = dbsnaplake_core::steps::plan_snapshot::plan_snapshot(&run)
        .await
        .unwrap();
    assert_eq!(plan.n_group, 1);
    assert_eq!(counting.gets_under(data), 0, "no footer read again");

    // A planner of its own (the manifest written by an earlier process)
    // reads the footers itself, and decides the same schemas.
    let schemas = run.layout.schemas();
    let decided = store.get(&schemas).await.unwrap();
    for name in ["schemas.json", "plan.json", "groups.json"] {
        store
            .delete(&format!(
                "s3://footers/staging/manifests/snapshot-file-groups/{name}"
            ))
            .await
            .unwrap();
    }
    dbsnaplake_core::steps::plan_snapshot::plan_snapshot(&Run::new(job, store.clone()))
        .await
        .unwrap();
    let again = counting.gets_under(data);
    assert!(again >= 3, "{again} GETs");
    assert_eq!(store.get(&schemas).await.unwrap(), decided);
}

/// A 9,000-row snapshot of 3 files in `bucket` on `moto`, imported and
/// planned by a job with `extra` fields, through a [`Counting`] store.
async fn planned(
    moto: &Moto,
    bucket: &str,
    extra: serde_json::Value,
) -> (Arc<Counting>, Run, Vec<dbsnaplake_core::steps::GroupItem>) {
    use dbsnaplake_core::layout::GroupKind;
    use dbsnaplake_core::steps::{import, plan_snapshot, read_group_list};

    let s3 = moto.store().await;
    moto.bucket(&s3, bucket).await;
    let counting = Arc::new(Counting::new(Arc::new(Stores::with_s3(Arc::new(s3)))));
    let store: StorageRef = counting.clone();
    let root = format!("s3://{bucket}");
    generate::generate(&store, &Spec::new(&format!("{root}/snap"), 9_000, 3))
        .await
        .unwrap();
    let mut job = serde_json::json!({
        "source": {"files": format!("{root}/snap/data/")},
        "staging": format!("{root}/staging"), "datalake": format!("{root}/lake"),
        "s3": moto.settings(),
    });
    job.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let run = Run::new(Job::from_json(&job.to_string()).unwrap(), store);
    import::import(&run).await.unwrap();
    plan_snapshot::plan_snapshot(&run).await.unwrap();
    let groups = read_group_list(&run, GroupKind::SnapshotFileGroups)
        .await
        .unwrap();
    (counting, run, groups)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_worker_fetches_the_next_file_while_it_reads_one() {
    let moto = Moto::start();
    let (counting, run, groups) = planned(&moto, "ahead", serde_json::json!({})).await;
    assert_eq!(groups.len(), 1, "the three files make one group");
    let data = "s3://ahead/snap/data/";
    counting.gets_under(data);

    let staged = counting
        .through_gate(
            data,
            "the first file's read waits for the second file's fetch to start",
            dbsnaplake_core::steps::stage::stage(&run, &groups[0].group),
        )
        .await;
    assert_eq!(staged.n_record, 9_000);
    assert_eq!(
        counting.gets_under(data),
        3,
        "each snapshot file is fetched whole, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staging_worker_publishes_a_staging_file_while_it_writes_the_next() {
    let moto = Moto::start();
    let (counting, run, groups) = planned(
        &moto,
        "publish",
        serde_json::json!({
            "tables": {"*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}]}},
        }),
    )
    .await;
    assert_eq!(groups.len(), 1);

    let staging = "s3://publish/staging/datalake/";
    let staged = counting
        .through_gate(
            staging,
            "the first staging file's PUT waits for another one's to start",
            dbsnaplake_core::steps::stage::stage(&run, &groups[0].group),
        )
        .await;
    assert_eq!(
        (staged.n_record, staged.n_file),
        (9_000, 3),
        "a file a year"
    );
    let (_, files) = dbsnaplake_core::manifest::read_manifest(&run.store, &staged.manifest)
        .await
        .unwrap();
    let listed = run.store.list(staging).await.unwrap();
    assert_eq!(
        files.iter().map(|f| (&f.uri, f.size)).collect::<Vec<_>>(),
        listed.iter().map(|m| (&m.uri, m.size)).collect::<Vec<_>>(),
        "the manifest names every staging file published, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compaction_worker_reads_its_staging_files_concurrently() {
    use dbsnaplake_core::layout::GroupKind;
    use dbsnaplake_core::steps::{compact, plan_partitions, read_group_list, stage};

    // One staging group per snapshot file, so each partition has 3 staging files.
    let moto = Moto::start();
    let (counting, run, groups) = planned(
        &moto,
        "merge",
        serde_json::json!({
            "group_size": 1024,
            "tables": {"*": {"partition_by": [{"name": "year", "from": "order_time", "fn": "year"}],
                             "sort_by": [{"column": "order_time"}]}},
        }),
    )
    .await;
    assert_eq!(groups.len(), 3);
    for g in &groups {
        stage::stage(&run, &g.group).await.unwrap();
    }
    plan_partitions::plan_partitions(&run).await.unwrap();
    let partitions = read_group_list(&run, GroupKind::PartitionFileGroups)
        .await
        .unwrap();

    let lake = counting
        .through_gate(
            "s3://merge/staging/datalake/year=",
            "the first staging file's read waits for another file's read to start",
            compact::compact(&run, &partitions[0].group),
        )
        .await;
    assert_eq!(lake.n_file, 1);
    let (_, inputs) = dbsnaplake_core::manifest::read_manifest(&run.store, &partitions[0].group)
        .await
        .unwrap();
    assert_eq!(inputs.len(), 3, "the partition's 3 staging files");
    let staged: u64 = inputs.iter().filter_map(|f| f.n_record).sum();
    assert_eq!(lake.n_record, staged);
}
