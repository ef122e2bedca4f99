//! The whole pipeline on one machine: every step in order, with the groups of
//! steps 1.2 and 2.2 spread over a pool of workers (the local counterpart of
//! the Distributed Map). Used by `dbsnaplake run` and the end-to-end tests.

use futures::StreamExt;

use super::validate::Validation;
use super::{
    Run, compact, import, plan_partitions, plan_snapshot, read_group_list, stage, validate,
};
use crate::error::{Error, Result};
use crate::layout::GroupKind;

/// The fanned-out phases of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Step 1.2.
    Staging,
    /// Step 2.2.
    Compacting,
}

/// What a phase will work through, as far as the plan knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Bytes: of the snapshot files (staging), of the staging files (compacting).
    pub bytes: u64,
    /// Records, when every manifest counts them.
    pub records: Option<u64>,
}

/// Receives progress of a local run (the CLI draws bars with it); the
/// counts within a group are the run's [`Meter`](super::Meter).
pub trait Progress: Send + Sync {
    /// A phase starts with `groups` groups over `totals`.
    fn start(&self, _phase: Phase, _groups: usize, _totals: Totals) {}
    /// Called every [`TICK`] while a phase runs, to show the meter.
    fn tick(&self) {}
    /// One group of the phase finished.
    fn advance(&self, _phase: Phase) {}
    /// The phase finished.
    fn finish(&self, _phase: Phase) {}
}

/// How often [`Progress::tick`] is called.
pub const TICK: std::time::Duration = std::time::Duration::from_millis(200);

/// Progress that goes nowhere.
#[derive(Debug, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// Runs every step, and registers the validated lake in the job's catalog
/// (if it names one); returns the validation result (an error if invalid).
pub async fn run_all(run: &Run, workers: usize, progress: &dyn Progress) -> Result<Validation> {
    import::import(run).await?;
    let plan = plan_snapshot::plan_snapshot(run).await?;
    let totals = Totals {
        bytes: plan.stats.total_size,
        records: plan.stats.n_record,
    };
    let phase = (Phase::Staging, totals);
    fan_out(run, GroupKind::SnapshotFileGroups, phase, workers, progress).await?;
    let plan = plan_partitions::plan_partitions(run).await?;
    let totals = Totals {
        bytes: plan.size,
        records: Some(plan.n_record),
    };
    let phase = (Phase::Compacting, totals);
    fan_out(
        run,
        GroupKind::PartitionFileGroups,
        phase,
        workers,
        progress,
    )
    .await?;
    let validation = validate::validate(run).await?;
    crate::catalog::register(run).await?;
    Ok(validation)
}

/// Runs one worker per group of `kind`, `workers` at a time, each on its own
/// task so they spread over the cores. Stops at the first error.
async fn fan_out(
    run: &Run,
    kind: GroupKind,
    (phase, totals): (Phase, Totals),
    workers: usize,
    progress: &dyn Progress,
) -> Result<()> {
    let groups = read_group_list(run, kind).await?;
    progress.start(phase, groups.len(), totals);
    let mut tasks = futures::stream::iter(groups)
        .map(|g| {
            let run = run.clone();
            tokio::spawn(async move {
                match phase {
                    Phase::Staging => stage::stage(&run, &g.group).await.map(|_| ()),
                    Phase::Compacting => compact::compact(&run, &g.group).await.map(|_| ()),
                }
            })
        })
        .buffer_unordered(workers.max(1));
    let mut ticks = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            done = tasks.next() => {
                let Some(done) = done else { break };
                done.map_err(|e| Error::Internal(format!("a worker panicked: {e}")))??;
                progress.advance(phase);
            }
            _ = ticks.tick() => progress.tick(),
        }
    }
    progress.finish(phase);
    Ok(())
}
