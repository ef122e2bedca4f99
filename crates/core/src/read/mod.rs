//! Readers of input formats other than Parquet (which `parquet_io` reads).
//!
//! Each turns one data file into Arrow record batches against a schema
//! decided once per run, so every file of a table gives the same columns.

pub mod dynamodb;
pub(crate) mod stream;
pub mod text;
