//! Lambda: step 1.2. Stages one snapshot file group into partition folders.
//! Event: `{"job": {…}, "group": "<uri of manifest-summary-<n>.json>"}`.

use dbsnaplake_core::Run;
use dbsnaplake_core::steps::WorkerOutput;
use dbsnaplake_core::steps::stage::stage;
use dbsnaplake_lambda_common::{StepError, StepInput, serve};

async fn handler(run: Run, input: StepInput) -> Result<WorkerOutput, StepError> {
    Ok(stage(&run, input.group()?).await?)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("staging-worker", handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsnaplake_core::layout::GroupKind;
    use dbsnaplake_core::steps::{plan_snapshot::plan_snapshot, read_group_list};
    use dbsnaplake_lambda_common::{BAD_INPUT, Config};
    use dbsnaplake_testing::snapshot_event;

    #[tokio::test]
    async fn stages_a_group_and_reruns_as_a_no_op() {
        let dir = tempfile::tempdir().unwrap();
        let mut event = snapshot_event(dir.path()).await;
        let run = Config::default().run(event.job.clone()).await.unwrap();
        plan_snapshot(&run).await.unwrap();
        let groups = read_group_list(&run, GroupKind::SnapshotFileGroups)
            .await
            .unwrap();
        event.group = Some(groups[0].group.clone());
        let out = handler(run.clone(), event.clone()).await.unwrap();
        assert!(out.n_record > 0 && !out.skipped, "{out:?}");
        let again = handler(run.clone(), event.clone()).await.unwrap();
        assert!(again.skipped);
        assert_eq!(again.n_record, out.n_record);
        event.group = None;
        let e = handler(run, event).await.unwrap_err();
        assert_eq!(e.name(), BAD_INPUT);
    }
}
