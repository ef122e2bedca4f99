//! Deterministic synthetic snapshots for demos, tests and benchmarks.
//!
//! [`generate`] writes Parquet files of "orders"-like rows and the snapshot
//! manifest that lists them. The same [`Spec`] always gives the same bytes.
//!
//! Columns: `order_id` (text, unique), `customer_id` (int64), `order_time`
//! (`timestamp[µs]`, spread over `months` months from 2022-01-01, at random or
//! growing with the row number), `amount`
//! (decimal(12,2)), `discount` (float64, ~30% null), `status` (5 values),
//! `note` (20–200 characters, some non-ASCII), `tags` (list of text, may be
//! empty), `ship_date` (date, ~10% null), `region` (text with awkward values:
//! `eu/west`, `a=b`, `100%`, `..`, `東京`, `São Paulo`, and NULL).

use std::sync::Arc;

use arrow::array::{
    ArrayRef, Date32Array, Decimal128Array, Float64Array, Int64Array, ListBuilder, RecordBatch,
    StringArray, StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::config::Compression;
use crate::error::Result;
use crate::manifest::{DataFile, ManifestSummary, write_manifest};
use crate::parquet_io::{FileWriter, writer_properties};
use crate::storage::{StorageRef, join};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Folder to write into: `data/…` and `manifests/…` below it.
    pub out: String,
    /// Rows per table.
    pub rows: u64,
    /// Files per table.
    pub files: usize,
    /// Table names (`database/schema/table`); empty for one table-less snapshot.
    pub tables: Vec<String>,
    /// Seed of the generator.
    pub seed: u64,
    /// Months covered by `order_time`.
    pub months: u32,
    /// `order_time` grows with the row number (a table exported in primary-key
    /// order whose keys follow insertion time) instead of being random.
    pub time_ordered: bool,
    /// Most rows in one Parquet row group.
    pub row_group_rows: usize,
}

impl Spec {
    /// A spec with defaults: one table-less table, 36 months, seed 42.
    pub fn new(out: &str, rows: u64, files: usize) -> Self {
        Spec {
            out: out.to_string(),
            rows,
            files: files.max(1),
            tables: Vec::new(),
            seed: 42,
            months: 36,
            time_ordered: false,
            row_group_rows: ROW_GROUP_ROWS,
        }
    }
}

/// Rows per generated batch (and Parquet row group granularity).
const BATCH_ROWS: u64 = 64 * 1024;
/// Most rows in one Parquet row group unless the spec says otherwise: the
/// Parquet writer's default.
pub const ROW_GROUP_ROWS: usize = 1024 * 1024;
/// 2022-01-01T00:00:00Z in microseconds.
const START_US: i64 = 1_640_995_200_000_000;
const STATUSES: [&str; 5] = ["pending", "paid", "shipped", "delivered", "cancelled"];
const REGIONS: [Option<&str>; 8] = [
    Some("us-east"),
    Some("eu/west"),
    Some("a=b"),
    Some("100%"),
    Some(".."),
    Some("東京"),
    Some("São Paulo"),
    None,
];
const WORDS: [&str; 16] = [
    "fast",
    "delivery",
    "gift",
    "wrap",
    "please",
    "call",
    "before",
    "arrival",
    "café",
    "naïve",
    "déjà vu",
    "東京",
    "Ünïcödé",
    "emoji 📦",
    "fragile",
    "thanks",
];

/// The schema of generated tables.
pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("order_id", DataType::Utf8, false),
        Field::new("customer_id", DataType::Int64, false),
        Field::new(
            "order_time",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("amount", DataType::Decimal128(12, 2), false),
        Field::new("discount", DataType::Float64, true),
        Field::new("status", DataType::Utf8, false),
        Field::new("note", DataType::Utf8, true),
        Field::new(
            "tags",
            DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            true,
        ),
        Field::new("ship_date", DataType::Date32, true),
        Field::new("region", DataType::Utf8, true),
    ]))
}

/// splitmix64: small, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Builds rows `first..first + n` of table number `table_no` of `spec`.
pub fn batch(spec: &Spec, table_no: u64, first: u64, n: u64) -> RecordBatch {
    let mut rng = Rng(spec.seed ^ (table_no << 48) ^ first.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let span_us = i64::from(spec.months.max(1)) * 30 * 24 * 3600 * 1_000_000;
    let rows = spec.rows.max(1);
    let mut ids = StringBuilder::with_capacity(n as usize, n as usize * 16);
    let mut notes = StringBuilder::new();
    let mut tags = ListBuilder::new(StringBuilder::new());
    let (mut customer, mut time, mut amount, mut discount, mut status, mut ship, mut region) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in first..first + n {
        ids.append_value(format!("t{table_no}-ord-{i:012}"));
        customer.push(rng.below(1_000_000) as i64 + 1);
        let random = rng.next() % span_us as u64;
        let t = START_US
            + if spec.time_ordered {
                (i128::from(i) * i128::from(span_us) / i128::from(rows)) as i64
            } else {
                random as i64
            };
        time.push(t);
        amount.push(rng.below(10_000_000) as i128 + 1);
        discount.push((rng.below(10) >= 3).then(|| rng.below(5000) as f64 / 100.0));
        status.push(STATUSES[rng.below(5) as usize]);
        if rng.below(20) == 0 {
            notes.append_null();
        } else {
            let len = 20 + rng.below(181) as usize;
            let mut s = String::with_capacity(len + 8);
            while s.chars().count() < len {
                s.push_str(WORDS[rng.below(WORDS.len() as u64) as usize]);
                s.push(' ');
            }
            notes.append_value(s.chars().take(len).collect::<String>());
        }
        for _ in 0..rng.below(4) {
            tags.values().append_value(WORDS[rng.below(8) as usize]);
        }
        tags.append(true);
        let day = (t / 86_400_000_000) as i32 + rng.below(10) as i32;
        ship.push((rng.below(10) != 0).then_some(day));
        region.push(REGIONS[rng.below(REGIONS.len() as u64) as usize]);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(Int64Array::from(customer)),
        Arc::new(TimestampMicrosecondArray::from(time)),
        Arc::new(
            Decimal128Array::from(amount)
                .with_precision_and_scale(12, 2)
                .expect("valid precision"),
        ),
        Arc::new(Float64Array::from(discount)),
        Arc::new(StringArray::from(status)),
        Arc::new(notes.finish()),
        Arc::new(tags.finish()),
        Arc::new(Date32Array::from(ship)),
        Arc::new(StringArray::from(region)),
    ];
    RecordBatch::try_new(schema(), columns).expect("columns match the schema")
}

/// Writes the snapshot and its manifest; returns the manifest's summary URI
/// and the summary.
pub async fn generate(store: &StorageRef, spec: &Spec) -> Result<(String, ManifestSummary)> {
    let tables: Vec<Option<String>> = if spec.tables.is_empty() {
        vec![None]
    } else {
        spec.tables.iter().cloned().map(Some).collect()
    };
    let mut files = Vec::new();
    for (t, table) in tables.iter().enumerate() {
        let folder = join(&join(&spec.out, "data"), table.as_deref().unwrap_or(""));
        let per_file = spec.rows.div_ceil(spec.files as u64);
        for f in 0..spec.files as u64 {
            let first = f * per_file;
            let last = ((f + 1) * per_file).min(spec.rows);
            let uri = join(&folder, &format!("part-{:05}.parquet", f + 1));
            let mut w = FileWriter::create_counted(
                store,
                &uri,
                schema(),
                writer_properties(Compression::Snappy)
                    .into_builder()
                    .set_max_row_group_row_count(Some(spec.row_group_rows.max(1)))
                    .build(),
                last.saturating_sub(first),
            )
            .await?;
            let mut at = first;
            while at < last {
                let n = BATCH_ROWS.min(last - at);
                if let Err(e) = w.write(&batch(spec, t as u64, at, n)).await {
                    w.abort().await;
                    return Err(e);
                }
                at += n;
            }
            let done = w.finish().await?;
            files.push(DataFile {
                n_record: Some(done.n_record),
                etag: done.meta.etag,
                table: table.clone(),
                ..DataFile::new(uri, done.meta.size)
            });
        }
    }
    let summary_uri = join(&spec.out, "manifests/manifest-summary.json");
    let summary = write_manifest(
        store,
        &summary_uri,
        &join(&spec.out, "manifests/manifest-data.parquet"),
        &files,
        Default::default(),
    )
    .await?;
    Ok((summary_uri, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;

    #[test]
    fn deterministic_and_well_formed() {
        let spec = |seed, time_ordered| Spec {
            seed,
            time_ordered,
            ..Spec::new("x", 1_000, 1)
        };
        let a = batch(&spec(7, false), 0, 100, 500);
        assert_eq!(a, batch(&spec(7, false), 0, 100, 500));
        assert_ne!(a, batch(&spec(8, false), 0, 100, 500));
        assert_eq!(a.num_rows(), 500);
        let ts = a.column_by_name("order_time").unwrap();
        let ts = ts
            .as_any()
            .downcast_ref::<TimestampMicrosecondArray>()
            .unwrap();
        let span = 36 * 30 * 24 * 3600 * 1_000_000i64;
        assert!(
            ts.values()
                .iter()
                .all(|t| (START_US..START_US + span).contains(t))
        );
        assert!(!ts.values().is_sorted());
        let discount = a.column_by_name("discount").unwrap();
        let nulls = discount.null_count() as f64 / 500.0;
        assert!((0.2..0.4).contains(&nulls), "{nulls}");

        // Time-ordered: the same rows otherwise, order_time ascending over the
        // whole span (row 500 of 1,000 is half way through).
        let b = batch(&spec(7, true), 0, 100, 500);
        let times = b.column_by_name("order_time").unwrap();
        let times = times.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
        assert!(times.values().is_sorted());
        assert_eq!(times.value(400), START_US + span / 2);
        assert_eq!(a.column_by_name("note"), b.column_by_name("note"));
    }

    #[tokio::test]
    async fn row_groups_hold_at_most_the_rows_asked() {
        let dir = tempfile::tempdir().unwrap();
        let store: StorageRef = Arc::new(crate::storage::Stores::local());
        let spec = Spec {
            row_group_rows: 300,
            ..Spec::new(dir.path().to_str().unwrap(), 1_000, 2)
        };
        let (_, summary) = generate(&store, &spec).await.unwrap();
        assert_eq!(summary.n_record, Some(1_000));
        for f in ["part-00001.parquet", "part-00002.parquet"] {
            let uri = join(&join(&spec.out, "data"), f);
            let size = store.head(&uri).await.unwrap().unwrap().size;
            let footer = crate::parquet_io::read_footer(&store, &uri, size)
                .await
                .unwrap();
            let rows: Vec<i64> = footer.row_groups().iter().map(|g| g.num_rows()).collect();
            assert_eq!(rows, [300, 200], "{uri}");
        }
    }
}
