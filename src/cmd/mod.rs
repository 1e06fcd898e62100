//! Commands: one module per subcommand, each `run(args, out) -> Result<Outcome>`. Commands
//! orchestrate: they read sources, call an engine (analysis, lint), hand its result to a renderer,
//! and return an [`Outcome`], the one place the exit code is decided.

#[cfg(feature = "ballista")]
pub mod ballista;
pub mod cache;
pub mod config;
pub mod gate;
pub mod ingest;
pub mod input;
pub mod lint;
pub mod preflight;
pub mod pricing;
pub mod queries;
pub mod report;
pub mod rules;
pub mod sql;
pub mod webhooks;

use std::io::Write;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::finding::{FailOn, Finding};

impl crate::cli::ClusterArgs {
    pub fn live_options(&self) -> crate::inventory::live::LiveOptions {
        crate::inventory::live::LiveOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            concurrency: self.concurrency,
            request_timeout: std::time::Duration::from_secs(self.request_timeout.max(1)),
            ..Default::default()
        }
    }
}

impl crate::cli::ManifestLimitArgs {
    pub fn limits(&self) -> crate::inventory::yaml::Limits {
        crate::inventory::yaml::Limits {
            max_document_bytes: self.max_document_size,
            max_depth: self.max_depth,
        }
    }
}

/// The Ballista session `--engine ballista` asks for (`None`: run here).
pub async fn engine(
    e: &crate::cli::EngineArgs,
) -> Result<Option<datafusion::execution::context::SessionContext>> {
    match e.engine {
        crate::cli::Engine::Local => Ok(None),
        #[cfg(feature = "ballista")]
        crate::cli::Engine::Ballista => {
            let url = e.scheduler.as_deref().ok_or_else(|| {
                anyhow::anyhow!("--engine ballista needs --scheduler df://HOST:PORT")
            })?;
            Ok(Some(crate::distributed::remote(url).await?))
        }
        #[cfg(not(feature = "ballista"))]
        crate::cli::Engine::Ballista => anyhow::bail!(
            "this kscope was built without the distributed engine: build it with \
             `cargo build --release --features ballista`"
        ),
    }
}

/// How a run ended: whether its input was fully read, and whether findings reached `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub fully_read: bool,
    pub failed: bool,
}

impl Outcome {
    /// A run with nothing to read and nothing to judge (listings, cache commands).
    pub fn done() -> Self {
        Outcome {
            fully_read: true,
            failed: false,
        }
    }

    /// A run that read its input (`fully_read`) and produced `findings`, judged by `fail_on`.
    pub fn of<'f>(
        fully_read: bool,
        fail_on: FailOn,
        findings: impl IntoIterator<Item = &'f Finding>,
    ) -> Self {
        Outcome {
            fully_read,
            failed: fail_on.fails(findings),
        }
    }

    /// The exit code: 2 input not fully read, 1 findings at or above `--fail-on`, 0 otherwise. (Usage
    /// errors and failures to run are 2 as well, decided where the error is printed.)
    pub fn code(self) -> u8 {
        if !self.fully_read {
            2
        } else if self.failed {
            1
        } else {
            0
        }
    }
}

/// Runs the command line to completion on `runtime`. Not generic and in the library, so the
/// commands' async code is compiled once here rather than again in every binary that drives it.
pub fn run_blocking(
    runtime: &tokio::runtime::Runtime,
    cli: Cli,
    out: &mut dyn Write,
) -> Result<Outcome> {
    runtime.block_on(run(cli, out))
}

/// Runs the command line.
pub async fn run(cli: Cli, out: &mut dyn Write) -> Result<Outcome> {
    let cfg = || gate::config(cli.config.as_deref()).map(|(_, c)| c);
    match cli.command {
        Command::Report(a) => report::run(a, &cfg()?, out).await,
        Command::Sql(a) => sql::run(a, out).await,
        Command::Ingest(a) => ingest::run(a, &cfg()?, out).await,
        #[cfg(feature = "ballista")]
        Command::Ballista(a) => ballista::run(a).await,
        Command::Queries(a) => queries::run(a, out),
        Command::Lint(a) => lint::run(a, &cfg()?, out).await,
        Command::Preflight(a) => preflight::run(*a, &cfg()?, out).await,
        Command::Config(a) => config::run(a, cli.config.as_deref(), out),
        Command::Completions(a) => config::completions(a, out),
        Command::Man(a) => config::man(a, out),
        Command::Rules(a) => rules::run(a, out),
        Command::Cache(a) => cache::run(a, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{Severity, Subject};

    #[test]
    fn one_exit_code_decision() {
        let f = |severity| Finding {
            code: "X001".into(),
            name: "x".into(),
            severity,
            subject: Subject {
                name: "s".into(),
                origin: "o".into(),
            },
            message: String::new(),
            remediation: String::new(),
            reference: None,
            location: None,
            object: None,
        };
        let warn = [f(Severity::Warning)];
        assert_eq!(Outcome::done().code(), 0);
        assert_eq!(Outcome::of(true, FailOn::Error, &warn).code(), 0);
        assert_eq!(Outcome::of(true, FailOn::Warning, &warn).code(), 1);
        assert_eq!(
            Outcome::of(true, FailOn::None, &[f(Severity::Error)]).code(),
            0
        );
        // input not fully read wins over findings
        assert_eq!(Outcome::of(false, FailOn::Warning, &warn).code(), 2);
        assert_eq!(Outcome::of(false, FailOn::None, &[]).code(), 2);
    }
}
