//! Lambda: step 3. Validates the lake against the snapshot and writes
//! `_SUCCESS` when every count matches; otherwise fails with
//! `dbsnaplake.Validation`. The full result stays in S3
//! (`validate-datalake-result.json`); the function returns totals only.
//! Event: `{"job": {…}}`.

use dbsnaplake_core::Run;
use dbsnaplake_core::steps::validate::validate;
use dbsnaplake_lambda_common::{StepError, StepInput, serve};
use serde::Serialize;

/// The validator's small result.
#[derive(Debug, Serialize)]
struct Output {
    valid: bool,
    n_table: usize,
    n_file: u64,
    n_record: u64,
    size: u64,
    result: String,
}

async fn handler(run: Run, _input: StepInput) -> Result<Output, StepError> {
    let v = validate(&run).await?;
    Ok(Output {
        valid: v.valid,
        n_table: v.tables.len(),
        n_file: v.n_file(),
        n_record: v.n_record(),
        size: v.size(),
        result: run.layout.validate_result(),
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve(handler).await
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
        let out = handler(run.clone(), event.clone()).await.unwrap();
        assert!(out.valid);
        assert_eq!(out.n_record, 5_000);
        // Lose a lake file: the validator fails with dbsnaplake.Validation.
        let lake = run.store.list(&run.layout.datalake_root()).await.unwrap();
        let file = lake.iter().find(|m| m.uri.ends_with(".parquet")).unwrap();
        run.store.delete(&file.uri).await.unwrap();
        let e = handler(run, event).await.unwrap_err();
        assert_eq!(e.name(), VALIDATION);
    }
}
