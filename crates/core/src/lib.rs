//! dbsnaplake's core: everything that turns a database snapshot export into a
//! hive-partitioned, compacted, sorted and validated Parquet data lake.
//!
//! It knows nothing of Lambda or Step Functions: the Lambda crates and the
//! `dbsnaplake` CLI are thin shells around [`steps`].
//!
//! - [`Job`] describes a run (the CLI's `--job` file, the execution input).
//! - [`storage`] hides where files live behind the [`storage::Storage`] trait.
//! - [`manifest`] reads and writes the seed's manifests; [`layout`] names
//!   every path; [`grouping`] plans groups; [`partition`] derives hive paths.
//! - [`steps`] holds the pipeline: import (0), plan snapshot (1.1), stage (1.2),
//!   plan partitions (2.1), compact (2.2), validate (3), each over a [`Run`].
//! - [`checksum`] sums order-independent row hashes the validator compares.
//! - [`transform`] renames, drops, casts, derives and filters columns per table.
//! - [`generate`] makes deterministic synthetic snapshots for demos and tests.
//!
//! ```no_run
//! # async fn demo() -> dbsnaplake_core::Result<()> {
//! use std::sync::Arc;
//! use dbsnaplake_core::{Job, Run, storage::Stores, steps};
//! let job = Job::from_json(&std::fs::read_to_string("job.json").unwrap())?;
//! let run = Run::new(job, Arc::new(Stores::local()));
//! steps::import::import(&run).await?;
//! let plan = steps::plan_snapshot::plan_snapshot(&run).await?;
//! for g in steps::read_group_list(&run, dbsnaplake_core::layout::GroupKind::SnapshotFileGroups).await? {
//!     steps::stage::stage(&run, &g.group).await?;
//! }
//! // … plan_partitions, compact each group, validate.
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod catalog;
pub mod checksum;
pub mod config;
pub mod delta;
pub mod error;
pub mod exact;
pub mod generate;
pub mod grouping;
pub mod iceberg;
pub mod init;
pub mod lake_file;
pub mod layout;
pub mod manifest;
pub mod parquet_io;
pub mod partition;
pub mod read;
pub mod restore;
pub mod schema;
pub mod sort;
pub mod steps;
pub mod storage;
mod tasks;
pub mod transform;

pub use config::Job;
pub use error::{Error, ErrorKind, Result};
pub use steps::Run;
