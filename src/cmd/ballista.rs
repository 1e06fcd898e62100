//! `kscope ballista scheduler|executor`: Ballista's own scheduler and executor, started from the
//! kscope binary.

use std::time::Duration;

use anyhow::Result;

use super::Outcome;
use crate::cli::{BallistaArgs, BallistaCommand};
use crate::distributed;

pub async fn run(a: BallistaArgs) -> Result<Outcome> {
    match a.command {
        BallistaCommand::Scheduler {
            bind,
            executor_timeout,
        } => distributed::scheduler(bind, Duration::from_secs(executor_timeout)).await?,
        BallistaCommand::Executor {
            scheduler,
            bind,
            grpc_bind,
            work_dir,
            heartbeat,
        } => {
            let grpc = grpc_bind.unwrap_or_else(|| {
                let mut g = bind;
                g.set_port(bind.port().wrapping_add(1));
                g
            });
            distributed::executor(
                &scheduler,
                bind,
                grpc,
                work_dir,
                Duration::from_secs(heartbeat),
            )
            .await?
        }
    }
    Ok(Outcome::done())
}
