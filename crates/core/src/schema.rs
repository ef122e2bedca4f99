//! Schema checks shared by staging and compaction.
//!
//! Files of one table must agree on column names and types (order included);
//! nullability may differ, since every column is written as nullable.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema, SchemaRef};

use crate::error::{Error, Result};
use crate::job::PartitionSpec;

/// Fails, naming both files and the column, when `b` differs from `a`.
pub fn check_same_schema(
    table: &str,
    a: &SchemaRef,
    a_uri: &str,
    b: &SchemaRef,
    b_uri: &str,
) -> Result<()> {
    let conflict = |message: String| Error::Schema {
        table: table.to_string(),
        message,
    };
    for fa in a.fields() {
        match b.field_with_name(fa.name()) {
            Err(_) => {
                return Err(conflict(format!(
                    "column {:?} is in {a_uri} but not in {b_uri}",
                    fa.name()
                )));
            }
            Ok(fb) if fb.data_type() != fa.data_type() => {
                return Err(conflict(format!(
                    "column {:?} is {} in {a_uri} but {} in {b_uri}",
                    fa.name(),
                    fa.data_type(),
                    fb.data_type()
                )));
            }
            Ok(_) => {}
        }
    }
    if let Some(fb) = b
        .fields()
        .iter()
        .find(|fb| a.field_with_name(fb.name()).is_err())
    {
        return Err(conflict(format!(
            "column {:?} is in {b_uri} but not in {a_uri}",
            fb.name()
        )));
    }
    let names = |s: &Schema| {
        s.fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>()
    };
    if names(a) != names(b) {
        return Err(conflict(format!(
            "columns are in a different order in {a_uri} and {b_uri}"
        )));
    }
    Ok(())
}

/// `batch` without the columns named like a partition key (their values live
/// in the path, as in Hive), and with every column nullable.
pub fn drop_partition_names(batch: &RecordBatch, specs: &[PartitionSpec]) -> RecordBatch {
    let schema = batch.schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|i| !specs.iter().any(|s| &s.name == schema.field(*i).name()))
        .collect();
    let fields: Vec<Field> = keep
        .iter()
        .map(|i| schema.field(*i).clone().with_nullable(true))
        .collect();
    let columns = keep.iter().map(|i| batch.column(*i).clone()).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .expect("same columns, only nullability relaxed")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    fn s(fields: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(
            fields
                .iter()
                .map(|(n, t)| Field::new(*n, t.clone(), true))
                .collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn conflicts_name_both_files_and_the_column() {
        let a = s(&[("id", DataType::Int64), ("x", DataType::Utf8)]);
        let e = check_same_schema(
            "d/s/t",
            &a,
            "a.parquet",
            &s(&[("id", DataType::Int32), ("x", DataType::Utf8)]),
            "b.parquet",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "table d/s/t: column \"id\" is Int64 in a.parquet but Int32 in b.parquet"
        );
        let e = check_same_schema(
            "d/s/t",
            &a,
            "a.parquet",
            &s(&[("id", DataType::Int64)]),
            "b.parquet",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "table d/s/t: column \"x\" is in a.parquet but not in b.parquet"
        );
        check_same_schema("d/s/t", &a, "a.parquet", &a, "b.parquet").unwrap();
    }
}
