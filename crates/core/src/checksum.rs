//! Order-independent content checksums.
//!
//! Every row hashes to 64 bits: each cell is hashed with XXH3 (a null apart
//! from every value), the cells are folded in column order, and the result is
//! finalized. A file's (or a partition's, or a table's) [`Checksum`] is the
//! wrapping sum of its rows' hashes, so it depends neither on row order nor
//! on how rows are batched or split across files: the staging files of a
//! table and its lake files must sum to the same checksum. A lost, doubled or
//! altered row changes it.
//!
//! Staging and compaction workers compute it while writing (see
//! [`FileWriter`](crate::parquet_io::FileWriter)); the validator compares
//! what the staging manifests recorded with what the lake files' footers hold.

use std::fmt;
use std::str::FromStr;

use arrow::array::{Array, ArrayRef, AsArray, GenericListArray, OffsetSizeTrait, RecordBatch};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use arrow::row::{RowConverter, SortField};
use serde::{Deserialize, Serialize};
use twox_hash::XxHash3_64;

/// Hash of a null cell (any value other than a real cell's hash would do).
const NULL: u64 = 0x5bd1_e995_9e37_79b9;
/// Odd multiplier folding one cell into its row.
const FOLD: u64 = 0x9e37_79b9_7f4a_7c15;

/// The wrapping sum of row hashes of some set of rows; written as 16 hex digits.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(into = "String", try_from = "String")]
pub struct Checksum(u64);

impl Checksum {
    /// Adds every row of `batch`.
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<(), ArrowError> {
        let mut rows = vec![0u64; batch.num_rows()];
        for col in batch.columns() {
            fold_column(col, &mut rows)?;
        }
        self.0 = rows
            .into_iter()
            .fold(self.0, |sum, h| sum.wrapping_add(finalize(h)));
        Ok(())
    }
}

impl std::ops::Add for Checksum {
    type Output = Checksum;
    fn add(self, other: Checksum) -> Checksum {
        Checksum(self.0.wrapping_add(other.0))
    }
}

impl std::iter::Sum for Checksum {
    fn sum<I: Iterator<Item = Checksum>>(iter: I) -> Checksum {
        iter.fold(Checksum::default(), |a, b| a + b)
    }
}

impl fmt::Display for Checksum {
    /// 16 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl From<Checksum> for String {
    fn from(c: Checksum) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for Checksum {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl FromStr for Checksum {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() != 16 {
            return Err(format!("checksum {s:?} is not 16 hex digits"));
        }
        u64::from_str_radix(s, 16)
            .map(Checksum)
            .map_err(|_| format!("checksum {s:?} is not 16 hex digits"))
    }
}

/// A stable 64-bit hash of each cell of `col` (the same value hashes alike
/// in every run and on every machine).
pub(crate) fn cell_hashes(col: &ArrayRef) -> Result<Vec<u64>, ArrowError> {
    let mut rows = vec![0u64; col.len()];
    fold_column(col, &mut rows)?;
    Ok(rows.into_iter().map(finalize).collect())
}

/// MurmurHash3's 64-bit finalizer: spreads a folded row over all bits.
fn finalize(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn fold(row: &mut u64, cell: u64) {
    *row = (row.rotate_left(27) ^ cell).wrapping_mul(FOLD);
}

fn fold_cells<'a>(rows: &mut [u64], cells: impl Iterator<Item = Option<&'a [u8]>>) {
    for (row, cell) in rows.iter_mut().zip(cells) {
        fold(row, cell.map_or(NULL, XxHash3_64::oneshot));
    }
}

/// Folds each list of `list` into its row's hash: its length, then the
/// hashes of its elements in order.
fn fold_list<O: OffsetSizeTrait>(
    rows: &mut [u64],
    list: &GenericListArray<O>,
) -> Result<(), ArrowError> {
    let elements = cell_hashes(list.values())?;
    let offsets = list.value_offsets();
    for (i, row) in rows.iter_mut().enumerate() {
        if list.is_null(i) {
            fold(row, NULL);
            continue;
        }
        let (a, b) = (offsets[i].as_usize(), offsets[i + 1].as_usize());
        let mut h = (b - a) as u64;
        for e in &elements[a..b] {
            fold(&mut h, *e);
        }
        fold(row, finalize(h));
    }
    Ok(())
}

/// Folds each cell of `col` into its row's hash.
fn fold_column(col: &ArrayRef, rows: &mut [u64]) -> Result<(), ArrowError> {
    let dt = col.data_type();
    if let Some(width) = dt.primitive_width() {
        // Fixed-width values: hash each value's bytes straight from the buffer.
        let data = col.to_data();
        let values = &data.buffers()[0].as_slice()[data.offset() * width..];
        let cells = values.chunks_exact(width);
        if col.null_count() == 0 {
            fold_cells(rows, cells.map(Some));
        } else {
            fold_cells(
                rows,
                cells.enumerate().map(|(i, v)| col.is_valid(i).then_some(v)),
            );
        }
        return Ok(());
    }
    match dt {
        DataType::Null => rows.iter_mut().for_each(|r| fold(r, NULL)),
        DataType::Boolean => fold_cells(
            rows,
            col.as_boolean()
                .iter()
                .map(|v| v.map(|b| if b { &[1u8][..] } else { &[0u8][..] })),
        ),
        DataType::Utf8 => fold_cells(
            rows,
            col.as_string::<i32>().iter().map(|v| v.map(str::as_bytes)),
        ),
        DataType::LargeUtf8 => fold_cells(
            rows,
            col.as_string::<i64>().iter().map(|v| v.map(str::as_bytes)),
        ),
        DataType::Utf8View => fold_cells(
            rows,
            col.as_string_view().iter().map(|v| v.map(str::as_bytes)),
        ),
        DataType::Binary => fold_cells(rows, col.as_binary::<i32>().iter()),
        DataType::LargeBinary => fold_cells(rows, col.as_binary::<i64>().iter()),
        DataType::BinaryView => fold_cells(rows, col.as_binary_view().iter()),
        DataType::List(_) => fold_list(rows, col.as_list::<i32>())?,
        DataType::LargeList(_) => fold_list(rows, col.as_list::<i64>())?,
        _ => {
            // Nested and dictionary columns: their row-format encoding is a
            // canonical byte form of each value (nulls included).
            let converter = RowConverter::new(vec![SortField::new(dt.clone())])?;
            let encoded = converter.convert_columns(std::slice::from_ref(col))?;
            fold_cells(rows, encoded.iter().map(|r| Some(r.data())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Float64Array, Int32Array, ListArray, StringArray, TimestampMicrosecondArray,
    };
    use arrow::datatypes::{Field, Int32Type, Schema};

    use super::*;

    fn batch(ids: &[Option<i32>], names: &[Option<&str>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int32Array::from(ids.to_vec())),
                Arc::new(StringArray::from(names.to_vec())),
            ],
        )
        .unwrap()
    }

    fn sum(batches: &[RecordBatch]) -> Checksum {
        let mut c = Checksum::default();
        for b in batches {
            c.add_batch(b).unwrap();
        }
        c
    }

    #[test]
    fn independent_of_order_and_split() {
        let all = batch(
            &[Some(1), Some(2), None, Some(4)],
            &[Some("a"), None, Some("c"), Some("d")],
        );
        let whole = sum(std::slice::from_ref(&all));
        let reversed = batch(
            &[Some(4), None, Some(2), Some(1)],
            &[Some("d"), Some("c"), None, Some("a")],
        );
        assert_eq!(sum(&[reversed]), whole);
        assert_eq!(sum(&[all.slice(0, 1), all.slice(1, 3)]), whole);
        assert_eq!(sum(&[all.slice(2, 2)]) + sum(&[all.slice(0, 2)]), whole);
        assert_eq!(sum(&[all.slice(0, 0)]), Checksum::default());
    }

    #[test]
    fn sensitive_to_loss_doubling_and_change() {
        let all = batch(&[Some(1), Some(2)], &[Some("a"), Some("b")]);
        let whole = sum(std::slice::from_ref(&all));
        assert_ne!(sum(&[all.slice(0, 1)]), whole, "a lost row");
        assert_ne!(sum(&[all.clone(), all.slice(1, 1)]), whole, "a doubled row");
        assert_ne!(
            sum(&[batch(&[Some(1), Some(2)], &[Some("a"), Some("c")])]),
            whole
        );
        // Cells swapped between rows, a value moved between columns, a null
        // where an empty string was: all differ.
        assert_ne!(
            sum(&[batch(&[Some(1), Some(2)], &[Some("b"), Some("a")])]),
            whole
        );
        assert_ne!(
            sum(&[batch(&[Some(1)], &[Some("")])]),
            sum(&[batch(&[Some(1)], &[None])])
        );
        assert_ne!(
            sum(&[batch(&[Some(0)], &[Some("")])]),
            sum(&[batch(&[None], &[Some("")])])
        );
    }

    #[test]
    fn every_column_kind_counts_and_offsets_are_respected() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
            Some(vec![]),
        ]);
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "t",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
                true,
            ),
            Field::new("f", DataType::Float64, true),
            Field::new("l", list.data_type().clone(), true),
        ]));
        let b = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(TimestampMicrosecondArray::from(vec![
                    Some(5),
                    None,
                    Some(7),
                ])),
                Arc::new(Float64Array::from(vec![Some(0.5), Some(-0.0), None])),
                Arc::new(list),
            ],
        )
        .unwrap();
        let whole = sum(std::slice::from_ref(&b));
        assert_eq!(sum(&[b.slice(1, 2), b.slice(0, 1)]), whole);
        let mut other = b.clone().columns().to_vec();
        other[1] = Arc::new(Float64Array::from(vec![Some(0.5), Some(0.0), None]));
        assert_ne!(
            sum(&[RecordBatch::try_new(b.schema(), other).unwrap()]),
            whole
        );
    }

    #[test]
    fn text_form_round_trips() {
        let c = sum(&[batch(&[Some(1)], &[Some("a")])]);
        let text = c.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(text.parse::<Checksum>(), Ok(c));
        assert!("xyz".parse::<Checksum>().is_err());
    }
}
