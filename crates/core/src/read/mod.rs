//! Readers of snapshot files: [`files`] gives a table's reader of its
//! format (Parquet through `parquet_io`, or the decoders of [`text`] and
//! [`dynamodb`]), each turning one data file into Arrow record batches
//! against the schema step 1.1 resolved, so every file of a table gives the
//! same columns.

pub mod dynamodb;
pub mod files;
pub(crate) mod stream;
pub mod text;
