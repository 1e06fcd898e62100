//! Keeps the scheduler's vcore accounting honest after an executor is lost.
//!
//! Ballista 55's push scheduler takes vcores from an executor's budget when it binds a task and
//! gives them back when the task's status arrives, looking the task up in its stage. When an
//! executor is lost, the stages that read its shuffle output are rolled back; a task of such a
//! stage still running on a *surviving* executor then reports into a stage that no longer knows
//! it, and its vcores are never returned. The survivor's budget shrinks for good, and once it is
//! zero the re-run tasks are never offered to anyone: every query on the cluster hangs.
//!
//! [`Ledger`] wraps the cluster state the scheduler uses: it mirrors every bind and release per
//! executor and, once a second, compares what an executor holds with what the running tasks of
//! the active jobs account for. Vcores held beyond that, twice in a row with nothing bound or
//! released in between, are returned and the scheduler is asked to offer its pending tasks again.
//!
//! It also tells of every executor the scheduler removes, so that the jobs running at that moment
//! can be cancelled: Ballista 55 re-runs a lost executor's stages but can then count some of their
//! output twice (duplicated rows, measured), so kscope's client re-submits a cancelled job rather
//! than trust a recovered one.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use ballista_core::JobId;
use ballista_core::error::Result;
use ballista_core::serde::protobuf::ExecutorHeartbeat;
use ballista_core::serde::scheduler::{ExecutorData, ExecutorMetadata};
use ballista_scheduler::cluster::{BoundTask, ClusterState, ClusterStateEventStream, ExecutorSlot};
use ballista_scheduler::config::TaskDistributionPolicy;
use ballista_scheduler::state::task_manager::JobInfoCache;

/// A task's identity in the scheduler: job, stage, task.
type TaskId = (String, usize, usize);

#[derive(Default)]
struct Book {
    /// Vcores each executor holds: bound and not yet released.
    held: HashMap<String, u32>,
    /// Vcores each bound task took.
    tasks: HashMap<TaskId, u32>,
    /// Bumped on every bind and release.
    generation: u64,
    /// The excess seen at the last check, and the generation it was seen at.
    suspect: HashMap<String, (u32, u64)>,
}

/// The scheduler's cluster state with a ledger of who holds which vcores.
pub struct Ledger {
    inner: Arc<dyn ClusterState>,
    book: std::sync::Mutex<Book>,
    /// Where a removed executor is told ("ID (host:port)").
    lost: tokio::sync::mpsc::UnboundedSender<String>,
}

impl Ledger {
    /// The ledger, and where it tells of each executor the scheduler removes.
    pub fn new(
        inner: Arc<dyn ClusterState>,
    ) -> (Self, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (lost, rx) = tokio::sync::mpsc::unbounded_channel();
        let ledger = Ledger {
            inner,
            book: std::sync::Mutex::new(Book::default()),
            lost,
        };
        (ledger, rx)
    }

    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        // a poisoned lock only means a panic elsewhere: the counts are still usable
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The books' generation: read it before listing the running tasks for [`Ledger::leaked`].
    pub fn generation(&self) -> u64 {
        self.book().generation
    }

    /// Compares what each executor holds with what the running tasks account for (`running`:
    /// task → executor, listed when the books were at generation `seen`) and returns, per
    /// executor, the vcores to give back: an excess seen at two consecutive checks with no bind
    /// or release in between. A list made while tasks were bound or released is not judged.
    pub fn leaked(&self, running: &[(TaskId, String)], seen: u64) -> Vec<ExecutorSlot> {
        let mut book = self.book();
        if book.generation != seen {
            return Vec::new();
        }
        let mut expected: HashMap<&str, u32> = HashMap::new();
        let live: HashSet<&TaskId> = running.iter().map(|(t, _)| t).collect();
        for (task, executor) in running {
            // a task bound before this scheduler's ledger existed counts as one vcore
            let v = book.tasks.get(task).copied().unwrap_or(1);
            *expected.entry(executor.as_str()).or_default() += v;
        }
        book.tasks.retain(|t, _| live.contains(t));
        let generation = book.generation;
        let mut leaked = Vec::new();
        let mut suspect = HashMap::new();
        for (executor, &held) in &book.held {
            let excess = held.saturating_sub(expected.get(executor.as_str()).copied().unwrap_or(0));
            if excess == 0 {
                continue;
            }
            match book.suspect.get(executor) {
                Some(&(e, g)) if e == excess && g == generation => {
                    leaked.push((executor.clone(), excess))
                }
                _ => {
                    suspect.insert(executor.clone(), (excess, generation));
                }
            }
        }
        book.suspect = suspect;
        leaked
    }

    /// Returns `slots` to their executors' budgets.
    pub async fn give_back(&self, slots: Vec<ExecutorSlot>) -> Result<()> {
        self.unbind_tasks(slots).await
    }
}

/// The running tasks of the active jobs (task → executor); `None` when a job's graph is being
/// changed right now (then this check is skipped).
pub fn running_tasks(jobs: &HashMap<JobId, JobInfoCache>) -> Option<Vec<(TaskId, String)>> {
    let mut out = Vec::new();
    for (job, info) in jobs {
        let graph = info.execution_graph.try_read().ok()?;
        for t in graph.running_tasks() {
            out.push(((job.to_string(), t.stage_id, t.task_id), t.executor_id));
        }
    }
    Some(out)
}

/// How often the ledger is checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

#[async_trait::async_trait]
impl ClusterState for Ledger {
    async fn init(&self) -> Result<()> {
        self.inner.init().await
    }

    async fn bind_schedulable_tasks(
        &self,
        distribution: TaskDistributionPolicy,
        active_jobs: Arc<HashMap<JobId, JobInfoCache>>,
        executors: Option<HashSet<String>>,
    ) -> Result<Vec<BoundTask>> {
        let bound = self
            .inner
            .bind_schedulable_tasks(distribution, active_jobs, executors)
            .await?;
        let mut book = self.book();
        book.generation += 1;
        for (executor, task) in &bound {
            let key = (
                task.key.job_id.to_string(),
                task.key.stage_id,
                task.key.task_id,
            );
            *book.held.entry(executor.clone()).or_default() += task.vcores_consumed;
            book.tasks.insert(key, task.vcores_consumed);
        }
        Ok(bound)
    }

    async fn unbind_tasks(&self, executor_slots: Vec<ExecutorSlot>) -> Result<()> {
        self.inner.unbind_tasks(executor_slots.clone()).await?;
        let mut book = self.book();
        book.generation += 1;
        for (executor, n) in executor_slots {
            if let Some(h) = book.held.get_mut(&executor) {
                *h = h.saturating_sub(n);
            }
        }
        Ok(())
    }

    async fn register_executor(
        &self,
        metadata: ExecutorMetadata,
        spec: ExecutorData,
    ) -> Result<()> {
        let id = metadata.id.clone();
        self.inner.register_executor(metadata, spec).await?;
        let mut book = self.book();
        book.generation += 1;
        book.held.insert(id, 0);
        Ok(())
    }

    async fn save_executor_metadata(&self, metadata: ExecutorMetadata) -> Result<()> {
        self.inner.save_executor_metadata(metadata).await
    }

    async fn get_executor_metadata(&self, executor_id: &str) -> Result<ExecutorMetadata> {
        self.inner.get_executor_metadata(executor_id).await
    }

    async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
        self.inner.registered_executor_metadata().await
    }

    async fn save_executor_heartbeat(&self, heartbeat: ExecutorHeartbeat) -> Result<()> {
        self.inner.save_executor_heartbeat(heartbeat).await
    }

    async fn remove_executor(&self, executor_id: &str) -> Result<()> {
        let name = match self.inner.get_executor_metadata(executor_id).await {
            Ok(m) => format!("{executor_id} ({}:{})", m.host, m.port),
            Err(_) => executor_id.to_string(),
        };
        self.inner.remove_executor(executor_id).await?;
        {
            let mut book = self.book();
            book.generation += 1;
            book.held.remove(executor_id);
            book.suspect.remove(executor_id);
        }
        // nobody listening only means the scheduler is shutting down
        let _ = self.lost.send(name);
        Ok(())
    }

    fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
        self.inner.executor_heartbeats()
    }

    fn get_executor_heartbeat(&self, executor_id: &str) -> Option<ExecutorHeartbeat> {
        self.inner.get_executor_heartbeat(executor_id)
    }

    async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
        self.inner.cluster_state_events().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger_holding(executor: &str, n: u32) -> Ledger {
        let (l, _) = Ledger::new(Arc::new(NoCluster));
        l.book().held.insert(executor.into(), n);
        l
    }

    struct NoCluster;

    #[async_trait::async_trait]
    impl ClusterState for NoCluster {
        async fn bind_schedulable_tasks(
            &self,
            _: TaskDistributionPolicy,
            _: Arc<HashMap<JobId, JobInfoCache>>,
            _: Option<HashSet<String>>,
        ) -> Result<Vec<BoundTask>> {
            Ok(vec![])
        }
        async fn unbind_tasks(&self, _: Vec<ExecutorSlot>) -> Result<()> {
            Ok(())
        }
        async fn register_executor(&self, _: ExecutorMetadata, _: ExecutorData) -> Result<()> {
            Ok(())
        }
        async fn save_executor_metadata(&self, _: ExecutorMetadata) -> Result<()> {
            Ok(())
        }
        async fn get_executor_metadata(&self, id: &str) -> Result<ExecutorMetadata> {
            Err(ballista_core::error::BallistaError::General(id.into()))
        }
        async fn registered_executor_metadata(&self) -> Vec<ExecutorMetadata> {
            vec![]
        }
        async fn save_executor_heartbeat(&self, _: ExecutorHeartbeat) -> Result<()> {
            Ok(())
        }
        async fn remove_executor(&self, _: &str) -> Result<()> {
            Ok(())
        }
        fn executor_heartbeats(&self) -> HashMap<String, ExecutorHeartbeat> {
            HashMap::new()
        }
        fn get_executor_heartbeat(&self, _: &str) -> Option<ExecutorHeartbeat> {
            None
        }
        async fn cluster_state_events(&self) -> Result<ClusterStateEventStream> {
            Ok(Box::pin(futures::stream::empty()))
        }
    }

    fn task(job: &str, stage: usize, task: usize, executor: &str) -> (TaskId, String) {
        ((job.into(), stage, task), executor.into())
    }

    #[test]
    fn vcores_held_by_no_running_task_are_given_back_after_two_quiet_checks() {
        let l = ledger_holding("a", 2);
        l.book().tasks.insert(("j".into(), 1, 0), 2);
        let g = l.generation();
        // the task runs: nothing to give back
        assert!(l.leaked(&[task("j", 1, 0, "a")], g).is_empty());
        // its stage was rolled back: the first check only suspects, the second gives back
        assert!(l.leaked(&[], g).is_empty());
        assert_eq!(l.leaked(&[], g), vec![("a".to_string(), 2)]);
    }

    #[tokio::test]
    async fn a_bind_or_release_between_two_checks_defers_the_verdict() {
        let l = ledger_holding("a", 3);
        let g = l.generation();
        assert!(l.leaked(&[task("j", 0, 0, "a")], g).is_empty()); // 2 in excess (unknown task: 1)
        l.unbind_tasks(vec![("a".into(), 1)]).await.unwrap();
        // a list made before the release is not judged
        assert!(l.leaked(&[task("j", 0, 0, "a")], g).is_empty());
        // the excess is now 1 and the books moved: suspect again, not yet give back
        let g = l.generation();
        assert!(l.leaked(&[task("j", 0, 0, "a")], g).is_empty());
        assert_eq!(
            l.leaked(&[task("j", 0, 0, "a")], g),
            vec![("a".to_string(), 1)]
        );
        // a removed executor is forgotten
        l.remove_executor("a").await.unwrap();
        let g = l.generation();
        assert!(l.leaked(&[], g).is_empty() && l.leaked(&[], g).is_empty());
    }
}
