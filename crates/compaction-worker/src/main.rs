//! Lambda: step 2.2. Compacts one partition file group into lake files.
//! Event: `{"job": {…}, "group": "<uri of manifest-summary-<n>.json>"}`.

use dbsnaplake_core::Run;
use dbsnaplake_core::steps::WorkerOutput;
use dbsnaplake_core::steps::compact::{compact, remove_stale_runs};
use dbsnaplake_lambda_common::{StepError, StepInput, serve};

async fn handler(run: Run, input: StepInput) -> Result<WorkerOutput, StepError> {
    Ok(compact(&run, input.group()?).await?)
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Run files of an invocation killed mid-merge stay in /tmp otherwise.
    remove_stale_runs(&std::env::temp_dir());
    serve("compaction-worker", handler).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use dbsnaplake_core::layout::GroupKind;
    use dbsnaplake_core::steps::{
        plan_partitions::plan_partitions, plan_snapshot::plan_snapshot, read_group_list,
        stage::stage,
    };
    use dbsnaplake_lambda_common::Config;
    use dbsnaplake_testing::snapshot_event;

    #[tokio::test]
    async fn compacts_a_partition_group() {
        let dir = tempfile::tempdir().unwrap();
        let mut event = snapshot_event(dir.path()).await;
        let run = Config::default().run(event.job.clone()).await.unwrap();
        plan_snapshot(&run).await.unwrap();
        for g in read_group_list(&run, GroupKind::SnapshotFileGroups)
            .await
            .unwrap()
        {
            stage(&run, &g.group).await.unwrap();
        }
        plan_partitions(&run).await.unwrap();
        let mut total = 0;
        for g in read_group_list(&run, GroupKind::PartitionFileGroups)
            .await
            .unwrap()
        {
            event.group = Some(g.group);
            let out = handler(run.clone(), event.clone()).await.unwrap();
            assert_eq!(out.n_file, 1);
            total += out.n_record;
        }
        assert_eq!(total, 5_000);
    }
}
