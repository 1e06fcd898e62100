//! The distributed engine: Apache DataFusion Ballista. kscope does not build its own: the scheduler
//! and executors are Ballista's, started from the kscope binary (`kscope ballista scheduler|executor`)
//! so nobody has to assemble a custom binary, and `--engine ballista` sends the same SQL plans to
//! them. The executors read the Parquet store (a shared directory or S3).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use ballista::prelude::SessionContextExt;
use datafusion::execution::context::SessionContext;

pub mod slots;

/// `df://host:port` → (host, port).
pub fn parse_scheduler(url: &str) -> Result<(String, u16)> {
    let rest = url
        .strip_prefix("df://")
        .ok_or_else(|| anyhow!("--scheduler {url:?}: expected df://HOST:PORT"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .ok_or_else(|| anyhow!("--scheduler {url:?}: expected df://HOST:PORT"))?;
    let port = port
        .trim_end_matches('/')
        .parse()
        .map_err(|_| anyhow!("--scheduler {url:?}: bad port"))?;
    Ok((host.to_string(), port))
}

/// A session whose queries run on the Ballista cluster behind `scheduler`.
pub async fn remote(scheduler: &str) -> Result<SessionContext> {
    use ballista_core::extension::SessionConfigExt;
    use datafusion::execution::session_state::SessionStateBuilder;
    parse_scheduler(scheduler)?;
    // Ballista's static planner: its adaptive one (AQE) cannot finish a job whose stage was
    // re-run after an executor was lost ("Can't find active stage to update stage outputs")
    let config = datafusion::prelude::SessionConfig::new_with_ballista().set_bool(
        ballista_core::config::BALLISTA_ADAPTIVE_PLANNER_ENABLED,
        false,
    );
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    SessionContext::remote_with_state(scheduler, state)
        .await
        .with_context(|| format!("cannot reach the Ballista scheduler at {scheduler}"))
}

/// Runs a Ballista scheduler on `bind` until the process ends. A lost executor is declared dead
/// after `executor_timeout` without a heartbeat; its tasks are then scheduled elsewhere, and the
/// vcores that Ballista 55 would leak on the surviving executors are given back ([`slots`]).
pub async fn scheduler(bind: SocketAddr, executor_timeout: Duration) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
    use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
    let mut config = SchedulerConfig::default()
        .with_hostname(bind.ip().to_string())
        .with_port(bind.port());
    config.bind_host = bind.ip().to_string();
    config.executor_timeout_seconds = executor_timeout.as_secs().max(1);
    config.expire_dead_executor_interval_seconds = (executor_timeout.as_secs() / 3).max(1);
    config.no_executors_grace_period_seconds = executor_timeout.as_secs().max(1);
    let config = Arc::new(config);
    let stock = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow!("Ballista scheduler: {e}"))?;
    let (ledger, mut lost) = slots::Ledger::new(stock.cluster_state());
    let ledger = Arc::new(ledger);
    let cluster = BallistaCluster::new(ledger.clone(), stock.job_state());
    config
        .validate()
        .map_err(|e| anyhow!("Ballista scheduler: {e}"))?;
    let server = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| anyhow!("Ballista scheduler: {e}"))?;
    let watched = server.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(slots::CHECK_EVERY);
        loop {
            tokio::select! {
                Some(executor) = lost.recv() => {
                    // a job that lost an executor is cancelled; the client re-submits it
                    let jobs = watched.state.task_manager.get_running_job_cache();
                    for job in jobs.keys() {
                        tracing::warn!(
                            "executor {executor} lost: job {job} cancelled, to be re-submitted on the other executors"
                        );
                        if let Err(e) = watched.cancel_job(job.clone()).await {
                            tracing::warn!("cannot cancel job {job}: {e}");
                        }
                    }
                }
                _ = tick.tick() => {
                    let seen = ledger.generation();
                    let jobs = watched.state.task_manager.get_running_job_cache();
                    let Some(running) = slots::running_tasks(&jobs) else {
                        continue;
                    };
                    for (executor, n) in ledger.leaked(&running, seen) {
                        give_back(&watched, &ledger, executor, n).await;
                    }
                }
            }
        }
    });
    eprintln!("kscope: Ballista scheduler listening on df://{bind}");
    start_grpc_service(bind, server)
        .await
        .map_err(|e| anyhow!("Ballista scheduler: {e}"))
}

/// Gives `n` vcores that no running task accounts for back to `executor` and has the scheduler
/// offer its pending tasks again.
async fn give_back<T, U>(
    server: &ballista_scheduler::scheduler_server::SchedulerServer<T, U>,
    ledger: &slots::Ledger,
    executor: String,
    n: u32,
) where
    T: 'static + datafusion_proto::logical_plan::AsLogicalPlan,
    U: 'static + datafusion_proto::physical_plan::AsExecutionPlan,
{
    use ballista_core::serde::protobuf::UpdateTaskStatusParams;
    use ballista_core::serde::protobuf::scheduler_grpc_server::SchedulerGrpc;
    tracing::warn!(
        "executor {executor}: {n} vcore(s) held by tasks of a rolled-back stage, given back"
    );
    if let Err(e) = ledger.give_back(vec![(executor.clone(), n)]).await {
        tracing::warn!("executor {executor}: cannot give vcores back: {e}");
        return;
    }
    // an empty status update makes the scheduler offer its pending tasks again
    let nudge = tonic::Request::new(UpdateTaskStatusParams {
        executor_id: executor,
        task_status: vec![],
    });
    if let Err(e) = server.update_task_status(nudge).await {
        tracing::warn!("cannot ask the scheduler to offer its tasks again: {e}");
    }
}

/// Runs a Ballista executor: Arrow Flight on `bind`, gRPC on `grpc`, registered with `scheduler`.
pub async fn executor(
    scheduler: &str,
    bind: SocketAddr,
    grpc: SocketAddr,
    work_dir: Option<String>,
    heartbeat: Duration,
) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let (host, port) = parse_scheduler(scheduler)?;
    let config = ExecutorProcessConfig {
        bind_host: bind.ip().to_string(),
        external_host: Some(bind.ip().to_string()),
        port: bind.port(),
        grpc_port: grpc.port(),
        scheduler_host: host,
        scheduler_port: port,
        scheduler_connect_timeout_seconds: 30,
        work_dir,
        executor_heartbeat_interval_seconds: heartbeat.as_secs().max(1),
        print_thread_info: false,
        ..Default::default()
    };
    eprintln!(
        "kscope: Ballista executor {} on {bind} (gRPC {grpc}), scheduler {scheduler}",
        config.executor_id
    );
    start_executor_process(Arc::new(config))
        .await
        .map_err(|e| anyhow!("Ballista executor: {e}"))
}
