//! Ordering rows by a table's `sort_by`: sorting buffered batches (staging)
//! and the streaming k-way merge of sorted files (compaction).
//!
//! Only the sort key columns are concatenated or converted; whole rows are
//! moved once, by `interleave`, into output batches of bounded size.

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{
    SortColumn, SortOptions, concat, interleave_record_batch, lexsort_to_indices,
};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows, SortField};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::config::SortSpec;
use crate::error::{Error, Result};

/// Rows per output batch of a sort or merge.
pub const OUTPUT_BATCH_ROWS: usize = 64 * 1024;
/// Inputs of a merge whose footers and first batches are read concurrently.
pub const FIRST_READS_AT_ONCE: usize = 16;

/// Awaits `reads` [`FIRST_READS_AT_ONCE`] at a time; their outputs in order.
pub(crate) async fn at_once<F: std::future::Future>(reads: Vec<F>) -> Vec<F::Output> {
    futures::stream::iter(reads)
        .buffered(FIRST_READS_AT_ONCE)
        .collect()
        .await
}

/// A table's sort key resolved against a schema.
#[derive(Debug, Clone)]
pub struct SortKey {
    columns: Vec<(usize, SortOptions)>,
}

impl SortKey {
    /// Resolves `specs` in `schema`; an unknown column is an error naming the
    /// table, the column and the file.
    pub fn new(schema: &SchemaRef, specs: &[SortSpec], table: &str, file: &str) -> Result<Self> {
        let columns = specs
            .iter()
            .map(|s| {
                let i = schema.index_of(&s.column).map_err(|_| Error::Schema {
                    table: table.to_string(),
                    message: format!("sort_by: column {:?} is not in {file}", s.column),
                })?;
                Ok((
                    i,
                    SortOptions {
                        descending: s.descending,
                        nulls_first: s.nulls_first,
                    },
                ))
            })
            .collect::<Result<_>>()?;
        Ok(SortKey { columns })
    }

    /// Whether there is nothing to sort by.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    fn converter(
        &self,
        schema: &SchemaRef,
    ) -> std::result::Result<RowConverter, arrow::error::ArrowError> {
        RowConverter::new(
            self.columns
                .iter()
                .map(|(i, o)| SortField::new_with_options(schema.field(*i).data_type().clone(), *o))
                .collect(),
        )
    }

    fn key_columns(&self, batch: &RecordBatch) -> Vec<ArrayRef> {
        self.columns
            .iter()
            .map(|(i, _)| batch.column(*i).clone())
            .collect()
    }
}

/// The rows of `batches` in key order, as (batch, row) pairs for `interleave`.
/// With an empty key, the rows in input order.
pub fn sorted_order(batches: &[RecordBatch], key: &SortKey) -> Result<Vec<(usize, usize)>> {
    let mut starts = Vec::with_capacity(batches.len());
    let mut total = 0usize;
    for b in batches {
        starts.push(total);
        total += b.num_rows();
    }
    let locate = |g: usize| {
        let b = starts.partition_point(|s| *s <= g) - 1;
        (b, g - starts[b])
    };
    if key.is_empty() {
        return Ok((0..total).map(locate).collect());
    }
    let columns = key
        .columns
        .iter()
        .map(|(i, options)| {
            let parts: Vec<&dyn arrow::array::Array> =
                batches.iter().map(|b| b.column(*i).as_ref()).collect();
            Ok(SortColumn {
                values: concat(&parts).map_err(|e| Error::arrow("sort", e))?,
                options: Some(*options),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let idx = lexsort_to_indices(&columns, None).map_err(|e| Error::arrow("sort", e))?;
    Ok(idx.values().iter().map(|g| locate(*g as usize)).collect())
}

/// Builds one output batch from `order[range]`.
pub fn gather(batches: &[RecordBatch], order: &[(usize, usize)]) -> Result<RecordBatch> {
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    interleave_record_batch(&refs, order).map_err(|e| Error::arrow("sort", e))
}

/// A stream of batches of one sorted input.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

struct Cursor {
    stream: BatchStream,
    /// Index of the current batch in `Merger::batches`.
    slot: usize,
    rows: Option<Rows>,
    pos: usize,
    len: usize,
    live: bool,
}

/// Streaming k-way merge of sorted inputs: holds one batch per input (plus the
/// ones still referenced by the output being built), never whole files.
pub struct Merger {
    schema: SchemaRef,
    key: SortKey,
    converter: RowConverter,
    cursors: Vec<Cursor>,
    /// Min-heap of live cursor indices, ordered by their current row.
    heap: Vec<usize>,
    batches: Vec<RecordBatch>,
}

impl Merger {
    /// Starts merging `inputs`, each sorted by `key`.
    pub async fn new(schema: SchemaRef, key: SortKey, inputs: Vec<BatchStream>) -> Result<Self> {
        let converter = key
            .converter(&schema)
            .map_err(|e| Error::arrow("merge", e))?;
        let mut m = Merger {
            schema,
            key,
            converter,
            cursors: Vec::with_capacity(inputs.len()),
            heap: Vec::new(),
            batches: Vec::new(),
        };
        for stream in inputs {
            m.cursors.push(Cursor {
                stream,
                slot: usize::MAX,
                rows: None,
                pos: 0,
                len: 0,
                live: true,
            });
        }
        // The inputs' first batches concurrently: on S3 each costs a
        // request, whose latencies then overlap.
        let reads: Vec<_> = m.cursors.iter_mut().map(|c| c.stream.try_next()).collect();
        for (c, first) in at_once(reads).await.into_iter().enumerate() {
            if m.load(c, first?).await? {
                m.heap.push(c);
                let at = m.heap.len() - 1;
                m.sift_up(at);
            }
        }
        Ok(m)
    }

    /// Loads the next non-empty batch of cursor `c`; false when it is exhausted.
    async fn advance_batch(&mut self, c: usize) -> Result<bool> {
        let next = self.cursors[c].stream.try_next().await?;
        self.load(c, next).await
    }

    /// Makes `next` (read from cursor `c`), or the cursor's first non-empty
    /// batch from there, the cursor's current one; false when it is exhausted.
    async fn load(&mut self, c: usize, mut next: Option<RecordBatch>) -> Result<bool> {
        loop {
            let Some(batch) = next.take() else {
                self.cursors[c].rows = None;
                self.cursors[c].live = false;
                return Ok(false);
            };
            if batch.num_rows() == 0 {
                next = self.cursors[c].stream.try_next().await?;
                continue;
            }
            let rows = if self.key.is_empty() {
                None
            } else {
                Some(
                    self.converter
                        .convert_columns(&self.key.key_columns(&batch))
                        .map_err(|e| Error::arrow("merge", e))?,
                )
            };
            let cur = &mut self.cursors[c];
            cur.len = batch.num_rows();
            cur.pos = 0;
            cur.rows = rows;
            cur.slot = self.batches.len();
            self.batches.push(batch);
            return Ok(true);
        }
    }

    fn less(&self, a: usize, b: usize) -> bool {
        let (ca, cb) = (&self.cursors[a], &self.cursors[b]);
        match (&ca.rows, &cb.rows) {
            (Some(ra), Some(rb)) => {
                let (x, y) = (ra.row(ca.pos), rb.row(cb.pos));
                // Ties go to the earlier input, which keeps the merge stable.
                x < y || (x == y && a < b)
            }
            _ => a < b,
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.less(self.heap[i], self.heap[p]) {
                self.heap.swap(i, p);
                i = p;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut m = i;
            if l < self.heap.len() && self.less(self.heap[l], self.heap[m]) {
                m = l;
            }
            if r < self.heap.len() && self.less(self.heap[r], self.heap[m]) {
                m = r;
            }
            if m == i {
                break;
            }
            self.heap.swap(i, m);
            i = m;
        }
    }

    /// The next merged batch of up to [`OUTPUT_BATCH_ROWS`] rows, `None` at the end.
    pub async fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        let mut order: Vec<(usize, usize)> = Vec::with_capacity(OUTPUT_BATCH_ROWS);
        while order.len() < OUTPUT_BATCH_ROWS && !self.heap.is_empty() {
            let c = self.heap[0];
            let cur = &mut self.cursors[c];
            order.push((cur.slot, cur.pos));
            cur.pos += 1;
            if cur.pos == cur.len {
                if self.advance_batch(c).await? {
                    self.sift_down(0);
                } else {
                    let last = self.heap.pop().expect("heap is not empty");
                    if !self.heap.is_empty() {
                        self.heap[0] = last;
                        self.sift_down(0);
                    }
                }
            } else if !self.key.is_empty() {
                self.sift_down(0);
            }
        }
        if order.is_empty() {
            return Ok(None);
        }
        let out = if self.batches.is_empty() {
            RecordBatch::new_empty(self.schema.clone())
        } else {
            gather(&self.batches, &order)?
        };
        self.compact_slots();
        Ok(Some(out))
    }

    /// Drops batches no cursor points at any more, renumbering the rest.
    fn compact_slots(&mut self) {
        let mut kept = Vec::new();
        for c in &mut self.cursors {
            if c.live {
                kept.push(self.batches[c.slot].clone());
                c.slot = kept.len() - 1;
            }
        }
        self.batches = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use std::sync::Arc;

    fn batch(v: &[Option<i64>]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)])),
            vec![Arc::new(Int64Array::from(v.to_vec()))],
        )
        .unwrap()
    }

    fn spec(descending: bool) -> Vec<SortSpec> {
        vec![SortSpec {
            column: "x".into(),
            descending,
            nulls_first: false,
        }]
    }

    fn values(b: &RecordBatch) -> Vec<Option<i64>> {
        b.column(0).as_primitive::<Int64Type>().iter().collect()
    }

    #[test]
    fn sorts_across_batches() {
        let bs = [batch(&[Some(3), None, Some(1)]), batch(&[Some(2), Some(5)])];
        let key = SortKey::new(&bs[0].schema(), &spec(true), "t", "f").unwrap();
        let order = sorted_order(&bs, &key).unwrap();
        let out = gather(&bs, &order).unwrap();
        assert_eq!(values(&out), vec![Some(5), Some(3), Some(2), Some(1), None]);
        let e = SortKey::new(
            &bs[0].schema(),
            &[SortSpec {
                column: "y".into(),
                descending: false,
                nulls_first: false,
            }],
            "db/s/t",
            "f.parquet",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "table db/s/t: sort_by: column \"y\" is not in f.parquet"
        );
    }

    #[tokio::test]
    async fn merges_streams() {
        let schema = batch(&[]).schema();
        let key = SortKey::new(&schema, &spec(false), "t", "f").unwrap();
        let input = |bs: Vec<RecordBatch>| -> BatchStream {
            Box::pin(futures::stream::iter(bs.into_iter().map(Ok)))
        };
        let inputs = vec![
            input(vec![
                batch(&[Some(1), Some(4)]),
                batch(&[]),
                batch(&[Some(9)]),
            ]),
            input(vec![]),
            input(vec![
                batch(&[Some(2), Some(4), Some(6)]),
                batch(&[Some(7), None]),
            ]),
            input(vec![batch(&[Some(0)])]),
        ];
        let mut m = Merger::new(schema, key, inputs).await.unwrap();
        let mut all = Vec::new();
        while let Some(b) = m.next_batch().await.unwrap() {
            all.extend(values(&b));
        }
        assert_eq!(
            all,
            vec![
                Some(0),
                Some(1),
                Some(2),
                Some(4),
                Some(4),
                Some(6),
                Some(7),
                Some(9),
                None
            ]
        );
    }
}
