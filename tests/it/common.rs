use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use dbsnaplake_core::generate::{self, Spec};
use dbsnaplake_core::steps::local::{Quiet, run_all};
use dbsnaplake_core::steps::validate::Validation;
use dbsnaplake_core::storage::{StorageRef, Stores};
use dbsnaplake_core::{Job, Result, Run};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tempfile::TempDir;

pub struct Scenario {
    _dir: TempDir,
    pub root: String,
    pub store: StorageRef,
}

impl Scenario {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_str().unwrap().to_string();
        Scenario {
            _dir: dir,
            root,
            store: Arc::new(Stores::local()),
        }
    }

    pub fn path(&self, rel: &str) -> String {
        format!("{}/{rel}", self.root)
    }

    /// Generates a snapshot under `snap/`; returns the manifest summary URI.
    pub async fn generate(&self, rows: u64, files: usize, tables: &[&str]) -> String {
        let spec = Spec {
            tables: tables.iter().map(|t| t.to_string()).collect(),
            ..Spec::new(&self.path("snap"), rows, files)
        };
        generate::generate(&self.store, &spec).await.unwrap().0
    }

    /// A job over `manifest` with `extra` fields merged in (JSON object text).
    pub fn job(&self, manifest: &str, extra: &str) -> Job {
        let mut v: serde_json::Value = serde_json::json!({
            "source": {"manifest": manifest},
            "staging": self.path("staging"),
            "datalake": self.path("lake"),
        });
        let extra: serde_json::Value = serde_json::from_str(extra).unwrap();
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        Job::from_json(&v.to_string()).unwrap()
    }

    pub async fn run(&self, job: &Job) -> Result<Validation> {
        let run = Run::new(job.clone(), self.store.clone());
        run_all(&run, 2, &Quiet).await
    }

    pub fn success(&self) -> bool {
        Path::new(&self.path("lake/_SUCCESS")).exists()
    }
}

/// Every file under `folder` (relative path -> bytes), skipping hidden files.
pub fn snapshot_tree(folder: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(dir: &Path, rel: &str, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let r = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &r, out);
            } else {
                out.insert(r, std::fs::read(e.path()).unwrap());
            }
        }
    }
    walk(Path::new(folder), "", &mut out);
    out
}

/// Reads one Parquet file whole.
pub fn read_file(path: &str) -> RecordBatch {
    let f = std::fs::File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    concat_batches(&schema, &batches).unwrap()
}

/// Every .parquet file under `folder`: (path relative to it, rows).
pub fn read_parquet_tree(folder: &str) -> Vec<(String, RecordBatch)> {
    snapshot_tree(folder)
        .into_keys()
        .filter(|k| k.ends_with(".parquet"))
        .map(|k| {
            let b = read_file(&format!("{folder}/{k}"));
            (k, b)
        })
        .collect()
}

/// All rows of `batches`, sorted by `order_id`, with every field nullable
/// (the lake relaxes nullability).
pub fn sorted_by_id(batches: &[RecordBatch]) -> RecordBatch {
    sorted_by(batches, "order_id")
}

/// All rows of `batches`, sorted by the column `col`.
pub fn sorted_by(batches: &[RecordBatch], col: &str) -> RecordBatch {
    let schema = batches[0].schema();
    let all = concat_batches(&schema, batches).unwrap();
    let idx = lexsort_to_indices(
        &[SortColumn {
            values: all.column_by_name(col).unwrap().clone(),
            options: None,
        }],
        None,
    )
    .unwrap();
    take_record_batch(&all, &idx).unwrap()
}

pub fn strings(b: &RecordBatch, col: &str) -> Vec<Option<String>> {
    b.column_by_name(col)
        .unwrap()
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

/// Asserts `lake` holds the same columns, types and values as `source`.
pub fn assert_same_rows(source: &RecordBatch, lake: &RecordBatch) {
    assert_eq!(source.num_rows(), lake.num_rows(), "row count");
    for field in source.schema().fields() {
        let name = field.name();
        let got = lake
            .column_by_name(name)
            .unwrap_or_else(|| panic!("column {name} missing"));
        assert_eq!(got.data_type(), field.data_type(), "type of {name}");
        let want = source.column_by_name(name).unwrap();
        assert!(want.as_ref() == got.as_ref(), "values of {name} differ");
    }
    assert_eq!(source.num_columns(), lake.num_columns(), "column count");
}

/// Rows read from every source file of a generated snapshot.
pub fn source_rows(scenario: &Scenario, table_folder: &str) -> RecordBatch {
    let tree = read_parquet_tree(&scenario.path(&format!("snap/data/{table_folder}")));
    let batches: Vec<RecordBatch> = tree.into_iter().map(|(_, b)| b).collect();
    sorted_by_id(&batches)
}
