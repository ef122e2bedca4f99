//! Spawned tasks that overlap storage requests with the CPU work of a worker:
//! the next snapshot file fetched while one decodes, staging files and
//! multipart parts uploaded while the next ones encode.

use std::collections::VecDeque;
use std::future::Future;

use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// A spawned task that is stopped when its handle is dropped, so a worker
/// that fails or is cancelled leaves no request of its own running.
pub(crate) struct Spawned<T>(JoinHandle<T>);

impl<T: Send + 'static> Spawned<T> {
    /// Starts `task` on the runtime.
    pub(crate) fn new(task: impl Future<Output = T> + Send + 'static) -> Self {
        Spawned(tokio::spawn(task))
    }

    /// Waits for the task's output; `what` names its work if it panicked.
    pub(crate) async fn join(mut self, what: &str) -> Result<T> {
        (&mut self.0)
            .await
            .map_err(|e| Error::Internal(format!("{what}: {e}")))
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Fallible tasks awaited in the order they were started, with at most
/// `limit` of them and `budget` bytes (each task's weight, as its caller
/// states it: the bytes it holds until it ends) under way at once. Dropping
/// the queue stops the tasks still running.
pub(crate) struct Queue<T> {
    tasks: VecDeque<(u64, Spawned<Result<T>>)>,
    limit: usize,
    budget: u64,
    held: u64,
    what: &'static str,
}

impl<T: Send + 'static> Queue<T> {
    /// An empty queue; `what` names its tasks in the error of one that panicked.
    pub(crate) fn new(limit: usize, budget: u64, what: &'static str) -> Self {
        Queue {
            tasks: VecDeque::new(),
            limit,
            budget,
            held: 0,
            what,
        }
    }

    /// Starts `task`, which holds `bytes` until it ends, once the tasks
    /// before it leave room for it (a task larger than the budget starts when
    /// the queue is empty). Returns the outputs of the tasks it waited for,
    /// in order; the first failure is returned instead.
    pub(crate) async fn push(
        &mut self,
        bytes: u64,
        task: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<Vec<T>> {
        let mut done = Vec::new();
        while !self.tasks.is_empty()
            && (self.tasks.len() >= self.limit || self.held + bytes > self.budget)
        {
            done.push(self.next().await?);
        }
        self.held += bytes;
        self.tasks.push_back((bytes, Spawned::new(task)));
        Ok(done)
    }

    /// Waits for every task; their outputs in the order they were started.
    pub(crate) async fn drain(&mut self) -> Result<Vec<T>> {
        let mut done = Vec::with_capacity(self.tasks.len());
        while !self.tasks.is_empty() {
            done.push(self.next().await?);
        }
        Ok(done)
    }

    /// Tasks under way.
    pub(crate) fn len(&self) -> usize {
        self.tasks.len()
    }

    /// Stops every task under way.
    pub(crate) fn stop(&mut self) {
        self.tasks.clear();
        self.held = 0;
    }

    async fn next(&mut self) -> Result<T> {
        let (bytes, task) = self.tasks.pop_front().expect("a task is under way");
        self.held -= bytes;
        task.join(self.what).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// A task that records how many of its kind run at once.
    fn task(
        n: usize,
        running: &Arc<AtomicUsize>,
        most: &Arc<AtomicUsize>,
    ) -> impl Future<Output = Result<usize>> + Send + 'static {
        let (running, most) = (running.clone(), most.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            if n == 99 {
                return Err(Error::Internal("task 99 fails".into()));
            }
            Ok(n)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn runs_tasks_side_by_side_within_limit_and_budget_and_keeps_their_order() {
        let (running, most) = (Arc::default(), Arc::default());
        let mut q = Queue::new(3, 100, "test task");
        let mut out = Vec::new();
        for n in 0..10 {
            out.extend(q.push(10, task(n, &running, &most)).await.unwrap());
        }
        out.extend(q.drain().await.unwrap());
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3, "the count limit binds");

        // 40 bytes each under a budget of 100: two at once.
        most.store(0, Ordering::SeqCst);
        for n in 0..6 {
            out.extend(q.push(40, task(n, &running, &most)).await.unwrap());
        }
        q.drain().await.unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 2, "the byte budget binds");

        // A task above the budget runs alone.
        most.store(0, Ordering::SeqCst);
        q.push(10, task(0, &running, &most)).await.unwrap();
        q.push(500, task(1, &running, &most)).await.unwrap();
        q.push(10, task(2, &running, &most)).await.unwrap();
        q.drain().await.unwrap();
        assert_eq!(most.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failure_is_returned_and_dropping_the_queue_stops_the_rest() {
        let (running, most) = (Arc::default(), Arc::default());
        let mut q = Queue::new(4, u64::MAX, "test task");
        q.push(1, task(99, &running, &most)).await.unwrap();
        let stopped = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let stopped = stopped.clone();
            q.push(1, async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                stopped.fetch_add(1, Ordering::SeqCst);
                Ok(0)
            })
            .await
            .unwrap();
        }
        let e = q.drain().await.unwrap_err();
        assert!(e.to_string().contains("task 99 fails"), "{e}");
        drop(q);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            stopped.load(Ordering::SeqCst),
            0,
            "the other tasks were stopped"
        );
    }
}
