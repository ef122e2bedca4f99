//! Lambda: step 2.1. Plans the partition file groups from every staging file
//! group manifest and returns where the Map reads them from. Event: `{"job": {…}}`.

use dbsnaplake_core::Run;
use dbsnaplake_core::steps::plan_partitions::plan_partitions;
use dbsnaplake_lambda_common::{PlanOutput, StepError, StepInput, serve};

async fn handler(run: Run, _input: StepInput) -> Result<PlanOutput, StepError> {
    let plan = plan_partitions(&run).await?;
    Ok(PlanOutput::new(&run, plan.groups, plan.n_group))
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    serve("partition-planner", handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsnaplake_core::layout::GroupKind;
    use dbsnaplake_core::steps::{plan_snapshot::plan_snapshot, read_group_list, stage::stage};
    use dbsnaplake_lambda_common::Config;
    use dbsnaplake_testing::snapshot_event;

    #[tokio::test]
    async fn plans_partitions_once_every_group_is_staged() {
        let dir = tempfile::tempdir().unwrap();
        let event = snapshot_event(dir.path()).await;
        let run = Config::default().run(event.job.clone()).await.unwrap();
        plan_snapshot(&run).await.unwrap();
        let e = handler(run.clone(), event.clone()).await.unwrap_err();
        assert!(
            e.0.to_string().contains("has not been staged yet"),
            "{}",
            e.0
        );
        for g in read_group_list(&run, GroupKind::SnapshotFileGroups)
            .await
            .unwrap()
        {
            stage(&run, &g.group).await.unwrap();
        }
        let out = handler(run, event).await.unwrap();
        assert_eq!(out.n_group, 3, "one group per year: {out:?}");
    }
}
