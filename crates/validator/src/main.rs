//! Lambda: step 3. Validates the lake against the snapshot and writes
//! `_SUCCESS` when every count matches; otherwise fails with
//! `dbsnaplake.Validation`. The full result stays in S3
//! (`validate-datalake-result.json`); the function returns totals only.
//! Event: `{"job": {…}}`. With `"register": true` (the `Register` state),
//! step 4 instead: the validated lake registered in the job's catalog.

use dbsnaplake_core::Run;
use dbsnaplake_core::steps::validate::validate;
use dbsnaplake_lambda_common::{StepError, StepInput, serve};
use serde::Serialize;

/// The validator's small result, or what registering did.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Output {
    Validated(Totals),
    Registered {
        registered: Option<dbsnaplake_core::catalog::Registered>,
    },
}

/// Totals of a validation.
#[derive(Debug, Serialize)]
struct Totals {
    valid: bool,
    n_table: usize,
    n_file: u64,
    n_record: u64,
    size: u64,
    result: String,
}

async fn handler(run: Run, input: StepInput) -> Result<Output, StepError> {
    if input.register {
        let registered = dbsnaplake_core::catalog::register(&run).await?;
        return Ok(Output::Registered { registered });
    }
    let v = validate(&run).await?;
    Ok(Output::Validated(Totals {
        valid: v.valid,
        n_table: v.tables.len(),
        n_file: v.n_file(),
        n_record: v.n_record(),
        size: v.size(),
        result: run.layout.validate_result(),
    }))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("validator", handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsnaplake_core::steps::local::{Quiet, run_all};
    use dbsnaplake_lambda_common::{Config, VALIDATION};
    use dbsnaplake_testing::snapshot_event;

    #[tokio::test]
    async fn validates_and_fails_with_the_validation_name() {
        let dir = tempfile::tempdir().unwrap();
        let event = snapshot_event(dir.path()).await;
        let run = Config::default().run(event.job.clone()).await.unwrap();
        run_all(&run, 2, &Quiet).await.unwrap();
        let Output::Validated(out) = handler(run.clone(), event.clone()).await.unwrap() else {
            panic!("validating returns totals");
        };
        assert!(out.valid);
        assert_eq!(out.n_record, 5_000);
        // The Register state on a job without a catalog: nothing to do.
        let register = StepInput {
            register: true,
            ..event.clone()
        };
        let out = handler(run.clone(), register).await.unwrap();
        assert!(matches!(out, Output::Registered { registered: None }));
        // Lose a lake file: the validator fails with dbsnaplake.Validation.
        let lake = run.store.list(&run.layout.datalake_root()).await.unwrap();
        let file = lake.iter().find(|m| m.uri.ends_with(".parquet")).unwrap();
        run.store.delete(&file.uri).await.unwrap();
        let e = handler(run, event).await.unwrap_err();
        assert_eq!(e.name(), VALIDATION);
    }
}
