//! `kscope config init|show`, `kscope completions SHELL`, `kscope man DIR`: the tool's own
//! setup.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use super::Outcome;
use crate::cli::{Cli, CompletionsArgs, ConfigArgs, ConfigCommand, ManArgs};
use crate::gate::config::EXAMPLE;

pub fn run(a: ConfigArgs, explicit: Option<&Path>, out: &mut dyn Write) -> Result<Outcome> {
    match a.command {
        ConfigCommand::Init { path, force } => {
            if path.exists() && !force {
                bail!("{} exists: give --force to replace it", path.display());
            }
            std::fs::write(&path, EXAMPLE)
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(out, "wrote {}", path.display())?;
        }
        ConfigCommand::Show => {
            let (path, cfg) = super::gate::config(explicit)?;
            let doc = serde_json::json!({
                "file": path.map(|p| p.display().to_string()),
                "config": cfg,
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
    }
    Ok(Outcome::done())
}

pub fn completions(a: CompletionsArgs, out: &mut dyn Write) -> Result<Outcome> {
    let mut cmd = Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "kscope", out);
    Ok(Outcome::done())
}

/// kscope.1 and one page per subcommand (kscope-lint.1, ...).
pub fn man(a: ManArgs, out: &mut dyn Write) -> Result<Outcome> {
    std::fs::create_dir_all(&a.dir)
        .with_context(|| format!("cannot create {}", a.dir.display()))?;
    let cmd = Cli::command();
    let mut pages = vec![("kscope".to_string(), cmd.clone())];
    for sub in cmd.get_subcommands() {
        pages.push((format!("kscope-{}", sub.get_name()), sub.clone()));
    }
    for (name, c) in pages {
        let path = a.dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(c)
            .title(name.clone())
            .render(&mut buf)?;
        std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    Ok(Outcome::done())
}
