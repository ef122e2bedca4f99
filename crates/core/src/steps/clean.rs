//! `dbsnaplake clean`: delete what a run left in its staging folder.
//!
//! Staging holds only intermediates (manifests, staging files, the validation
//! result); the lake never depends on them once it is validated. The job's
//! checks guarantee the staging folder overlaps neither the source nor the
//! datalake, so nothing else can be deleted.

use tracing::info;

use super::Run;
use crate::error::Result;

/// Deletes every object under the job's staging folder; returns how many.
pub async fn clean(run: &Run) -> Result<usize> {
    run.job.check()?;
    let objects = run.store.list(&run.job.staging).await?;
    for o in &objects {
        run.store.delete(&o.uri).await?;
    }
    info!(objects = objects.len(), staging = %run.job.staging, "staging cleaned");
    Ok(objects.len())
}
