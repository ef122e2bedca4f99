//! End-to-end tests of the pipeline on local folders: each generates a
//! snapshot, runs the steps, and reads every produced file back.

/// Bad input: missing and corrupt files, leftovers in the lake.
mod bad_input;
/// Shared helpers: scenarios in a temp dir, reading the lake back.
mod common;
/// The state machine and the SAM template agree with each other and with the code.
mod deploy;
/// Schema drift across the files of a table.
mod drift;
/// DynamoDB exports as a source: every attribute type, broken exports.
mod dynamodb;
/// S3 requests failing, workers crashing mid-write, retries and duplicates.
mod faults;
/// Manifests written by the original Python dbsnaplake.
mod manifests;
/// Partition values: hostile text, NULL, ISO-8601 strings.
mod partitions;
/// The whole pipeline: rows, ids, values, types, partitions, order, sizes, reruns.
mod pipeline;
/// RDS / Aurora snapshot exports as a source.
mod rds;
/// Database column types restored from RDS exports' type mappings.
mod restore;
/// The S3 store and the pipeline against a real S3 server (moto) on loopback.
mod s3;
/// NDJSON and CSV files as a source.
mod text;
/// Transforms: rename, drop, cast, derive, filter.
mod transforms;
