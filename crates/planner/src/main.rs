//! Lambda: steps 0 + 1.1. Writes the snapshot manifest (for a `files`
//! source), plans the snapshot file groups, and returns where the Map reads
//! them from. Event: `{"job": {…}}`. Environment: see lambda-common's `Config`.

use dbsnaplake_core::Run;
use dbsnaplake_core::steps::{import, plan_snapshot};
use dbsnaplake_lambda_common::{PlanOutput, StepError, StepInput, serve};

async fn handler(run: Run, _input: StepInput) -> Result<PlanOutput, StepError> {
    import::import(&run).await?;
    let plan = plan_snapshot::plan_snapshot(&run).await?;
    Ok(PlanOutput::new(&run, plan.groups, plan.n_group))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("planner", handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsnaplake_lambda_common::Config;
    use dbsnaplake_testing::snapshot_event;

    #[tokio::test]
    async fn plans_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let event = snapshot_event(dir.path()).await;
        let run = Config::default().run(event.job.clone()).await.unwrap();
        let out = handler(run, event).await.unwrap();
        assert!(out.n_group >= 2, "{out:?}");
        assert!(
            out.groups
                .ends_with("manifests/snapshot-file-groups/groups.json")
        );
        assert_eq!(out.items, None, "local folders have no S3 location");
        assert_eq!(out.concurrency, 100);
    }
}
