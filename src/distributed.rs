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
    parse_scheduler(scheduler)?;
    SessionContext::remote(scheduler)
        .await
        .with_context(|| format!("cannot reach the Ballista scheduler at {scheduler}"))
}

/// Runs a Ballista scheduler on `bind` until the process ends. A lost executor is declared dead
/// after `executor_timeout` without a heartbeat; its tasks are then scheduled elsewhere.
pub async fn scheduler(bind: SocketAddr, executor_timeout: Duration) -> Result<()> {
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;
    let mut config = SchedulerConfig::default()
        .with_hostname(bind.ip().to_string())
        .with_port(bind.port());
    config.bind_host = bind.ip().to_string();
    config.executor_timeout_seconds = executor_timeout.as_secs().max(1);
    config.expire_dead_executor_interval_seconds = (executor_timeout.as_secs() / 3).max(1);
    config.no_executors_grace_period_seconds = executor_timeout.as_secs().max(1);
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(|e| anyhow!("Ballista scheduler: {e}"))?;
    eprintln!("kscope: Ballista scheduler listening on df://{bind}");
    ballista_scheduler::scheduler_process::start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(|e| anyhow!("Ballista scheduler: {e}"))
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
