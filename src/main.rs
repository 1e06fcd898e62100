use std::io::{BufWriter, Write};
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use kscope::cli::Cli;
use kscope::cmd;

fn main() -> ExitCode {
    let cli = parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // third-party crates (AWS SDK, hyper, kube) only at `error`: their warnings are for their
    // developers, and kscope reports what went wrong itself. A Ballista scheduler or executor
    // started by kscope logs Ballista's own account at kscope's level (warnings such as a lost
    // executor by default, jobs and plans with -v); elsewhere Ballista's client is quiet, as
    // kscope reports a failed remote query itself.
    #[cfg(feature = "ballista")]
    let serving = matches!(cli.command, kscope::cli::Command::Ballista(_));
    #[cfg(not(feature = "ballista"))]
    let serving = false;
    let ballista = if serving {
        format!("ballista_scheduler={level},ballista_executor={level},ballista_core={level}")
    } else {
        "ballista_core=off,ballista=off".to_string()
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KSCOPE_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("kscope={level},{ballista},error"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();

    // DataFusion and Ballista plan and serialize plans recursively: a query with joins, window
    // functions and subqueries (AUD030) overflowed the default 2 MiB worker stack in the Ballista
    // scheduler. The stack is reserved, not committed: memory use grows only with real depth.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(16 << 20)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kscope: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.spawn(interrupted());
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = cmd::run_blocking(&runtime, cli, &mut out);
    let flushed = out.flush();
    kscope::memory::cleanup();
    if let Some(kib) = peak_rss_kib() {
        tracing::info!("peak memory (RSS): {:.1} MB", kib as f64 / 1024.0);
    }
    match result {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            if let Err(fe) = flushed {
                if fe.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            let _ = kscope::render::stderr::error(&e, &mut std::io::stderr());
            ExitCode::from(2)
        }
    }
}

/// On Ctrl-C (SIGINT) or SIGTERM: removes the run's spill files and exits (130 or 143, as a shell
/// reports a process killed by the signal).
async fn interrupted() {
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    let code = tokio::select! {
        r = tokio::signal::ctrl_c() => match r {
            Ok(()) => 130,
            Err(_) => std::future::pending::<i32>().await,
        },
        () = term => 143,
    };
    kscope::memory::cleanup();
    eprintln!("kscope: interrupted; spill files removed");
    std::process::exit(code);
}

/// The command line. Invoked as `kubectl-kscope` (a kubectl plugin, through a symlink or krew),
/// help and errors name the command `kubectl kscope`.
fn parse() -> Cli {
    let mut cmd = Cli::command();
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let invoked = std::path::Path::new(&argv0)
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    if invoked == "kubectl-kscope" {
        cmd = cmd
            .bin_name("kubectl kscope")
            .display_name("kubectl kscope");
    }
    let matches = cmd.get_matches();
    match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    }
}

/// The error chain on one line, leaving out causes whose text the error before already shows
/// (DataFusion errors include their sources in their own message).
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The process's peak resident set size (Linux: `VmHWM` in /proc/self/status), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
