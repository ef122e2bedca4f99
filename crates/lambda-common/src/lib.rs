//! Lambda-only glue shared by the dbsnaplake functions; no pipeline logic.
//!
//! - [`serve`] starts a function: JSON logs through `tracing-subscriber`,
//!   [`Config`] read once at cold start, then one core call per event.
//! - [`StepInput`] is what every pipeline function receives from the state
//!   machine: the job, and for workers the group manifest to work on.
//! - [`StepError`] turns a core error into the stable error name the state
//!   machine's Retry and Catch match on ([`ERROR_NAMES`]).
//! - [`executions::start`] starts a job's execution, once per snapshot.
//! - [`event::job_for`] is the job an export-complete or schedule event asks
//!   for; [`replay::replay`] starts the events the failed events queue kept.
//! - [`metrics::emf_line`] logs each invocation's counts as CloudWatch metrics.

pub mod event;
pub mod executions;
pub mod metrics;
pub mod replay;

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use dbsnaplake_core::storage::StoreCache;
use dbsnaplake_core::{Error, ErrorKind, Job, Run};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::{Deserialize, Serialize};

/// Error name of failures a retry may cure (throttling, timeouts, resets).
pub const TRANSIENT: &str = "dbsnaplake.Transient";
/// Error name of bad jobs, manifests or data: retrying cannot help.
pub const BAD_INPUT: &str = "dbsnaplake.BadInput";
/// Error name of a lake that does not match its snapshot.
pub const VALIDATION: &str = "dbsnaplake.Validation";
/// Every error name a dbsnaplake function can return.
pub const ERROR_NAMES: [&str; 3] = [TRANSIENT, BAD_INPUT, VALIDATION];

/// Settings read from the environment once, at cold start, and the S3
/// clients built for the first event that needs them and kept for the
/// invocations after it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `DBSNAPLAKE_ENDPOINT_URL`: another S3 endpoint (tests, MinIO).
    pub endpoint_url: Option<String>,
    /// `DBSNAPLAKE_DEFAULT_CONCURRENCY`: workers at once when the job gives none.
    pub default_concurrency: Option<usize>,
    stores: Arc<StoreCache>,
}

impl Config {
    /// Reads the configuration; a malformed value fails the cold start.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let default_concurrency = match get("DBSNAPLAKE_DEFAULT_CONCURRENCY") {
            None => None,
            Some(v) => Some(v.parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| {
                format!("DBSNAPLAKE_DEFAULT_CONCURRENCY={v:?} is not a positive number")
            })?),
        };
        let endpoint_url = get("DBSNAPLAKE_ENDPOINT_URL").filter(|v| !v.is_empty());
        Ok(Config {
            stores: Arc::new(StoreCache::new(endpoint_url.clone())),
            endpoint_url,
            default_concurrency,
        })
    }

    /// The run of `job`, with the stores its URIs need.
    pub async fn run(&self, mut job: Job) -> Result<Run, StepError> {
        job.check().map_err(StepError)?;
        if job.concurrency.is_none() {
            job.concurrency = self.default_concurrency;
        }
        let stores = self.stores.for_job(&job).await;
        Ok(Run::new(job, Arc::new(stores)))
    }
}

/// The event of every pipeline function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepInput {
    /// The job (the execution input).
    pub job: Job,
    /// For workers: the URI of the group's `manifest-summary-<n>.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// For the validator: register the validated lake in the job's catalog
    /// (the `Register` state) instead of validating.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub register: bool,
}

impl StepInput {
    /// The group a worker must process.
    pub fn group(&self) -> Result<&str, StepError> {
        self.group.as_deref().ok_or_else(|| {
            StepError(Error::Job(
                "the event has no `group`: which group manifest should this worker process?".into(),
            ))
        })
    }
}

/// A core error as the state machine sees it.
#[derive(Debug)]
pub struct StepError(pub Error);

impl StepError {
    /// The error name Retry and Catch match on.
    pub fn name(&self) -> &'static str {
        match self.0.kind() {
            ErrorKind::Transient => TRANSIENT,
            ErrorKind::Validation => VALIDATION,
            ErrorKind::BadInput => BAD_INPUT,
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        StepError(e)
    }
}

impl From<StepError> for Diagnostic {
    fn from(e: StepError) -> Diagnostic {
        Diagnostic {
            error_type: e.name().to_string(),
            error_message: e.0.to_string(),
        }
    }
}

/// Installs JSON logs on stdout (CloudWatch), level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(false)
        .with_ansi(false)
        .without_time()
        .init();
}

/// Runs the pipeline function `name`: `step` gets the run of each event's
/// job and the event, and returns a small result, whose counts are logged as
/// metrics of dimension `Step` = `name` ([`metrics`]).
pub async fn serve<O, F, Fut>(name: &'static str, step: F) -> Result<(), lambda_runtime::Error>
where
    O: Serialize,
    F: Fn(Run, StepInput) -> Fut,
    Fut: Future<Output = Result<O, StepError>>,
{
    init_tracing();
    let config = Config::from_env()?;
    let config = &config;
    let step = &step;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StepInput>| async move {
            let started = Instant::now();
            let input = event.payload;
            let run = config.run(input.job.clone()).await?;
            let out = step(run, input).await?;
            let value = serde_json::to_value(&out).expect("an output serializes");
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            // Not through tracing: EMF must be the whole line.
            println!(
                "{}",
                metrics::emf_line(
                    name,
                    &value,
                    started.elapsed().as_secs_f64(),
                    now.as_millis()
                )
            );
            Ok::<_, StepError>(out)
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_stable() {
        let d: Diagnostic = StepError(Error::Validation("x".into())).into();
        assert_eq!(d.error_type, "dbsnaplake.Validation");
        let d: Diagnostic = StepError(Error::Job("bad field".into())).into();
        assert_eq!(
            (d.error_type.as_str(), d.error_message.as_str()),
            ("dbsnaplake.BadInput", "invalid job: bad field")
        );
        let transient = Error::Storage {
            uri: "s3://b/k".into(),
            message: "503".into(),
            transient: true,
        };
        assert_eq!(StepError(transient).name(), TRANSIENT);
    }

    #[test]
    fn config_is_checked_at_cold_start() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = Config::from_lookup(env(&[])).unwrap();
        assert_eq!((c.endpoint_url, c.default_concurrency), (None, None));
        let c = Config::from_lookup(env(&[
            ("DBSNAPLAKE_DEFAULT_CONCURRENCY", "40"),
            ("DBSNAPLAKE_ENDPOINT_URL", "http://127.0.0.1:9"),
        ]))
        .unwrap();
        assert_eq!(c.default_concurrency, Some(40));
        assert_eq!(c.endpoint_url.as_deref(), Some("http://127.0.0.1:9"));
        let e =
            Config::from_lookup(env(&[("DBSNAPLAKE_DEFAULT_CONCURRENCY", "lots")])).unwrap_err();
        assert!(e.contains("\"lots\" is not a positive number"), "{e}");
    }

    #[test]
    fn events_refuse_unknown_fields() {
        let e = serde_json::from_value::<StepInput>(serde_json::json!({
            "job": {"source": {"manifest": "s3://b/m.json"}, "staging": "s3://b/s", "datalake": "s3://b/l"},
            "grup": "s3://b/x"
        }))
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `grup`"), "{e}");
    }
}

/// What a planner returns: where the Map reads its items, and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanOutput {
    /// Number of groups (Map items).
    pub n_group: usize,
    /// URI of the item list (`groups.json`).
    pub groups: String,
    /// The item list as the Map's ItemReader wants it; `None` off S3.
    pub items: Option<S3Location>,
    /// Workers at once for the Map (the job's, or the deployment's default).
    pub concurrency: usize,
}

/// A bucket and key, spelled as Step Functions' S3 integrations spell them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    /// Bucket name.
    #[serde(rename = "Bucket")]
    pub bucket: String,
    /// Object key.
    #[serde(rename = "Key")]
    pub key: String,
}

impl PlanOutput {
    /// The output of a planner that wrote `n_group` groups listed at `groups`.
    pub fn new(run: &Run, groups: String, n_group: usize) -> Self {
        let items = dbsnaplake_core::storage::split_s3_uri(&groups)
            .ok()
            .map(|(bucket, key)| S3Location {
                bucket: bucket.to_string(),
                key: key.to_string(),
            });
        PlanOutput {
            n_group,
            groups,
            items,
            concurrency: run
                .job
                .concurrency
                .unwrap_or(dbsnaplake_core::steps::plan_snapshot::DEFAULT_CONCURRENCY),
        }
    }
}
