//! `kscope lint`: the selected rules over manifests or a live cluster, through the gate, one
//! findings document.

use std::io::Write;

use anyhow::Result;

use super::{Outcome, gate};
use crate::catalogue::{Entry, Overrides};
use crate::cli::LintArgs;
use crate::gate::Objects;
use crate::gate::config::Config;
use crate::lint::{self, Source};
use crate::render;
use crate::rules;

pub async fn run(a: LintArgs, cfg: &Config, out: &mut dyn Write) -> Result<Outcome> {
    let (only, skip) = gate::selection(&a.rules, &a.select.skip, &cfg.rules);
    let selected = rules::select(&only, &skip)?;
    let params = Overrides::parse(&gate::params(cfg, &selected, &a.params.params), &selected)?;
    let source = if a.files.is_empty() {
        Source::Cluster(a.cluster.live_options())
    } else {
        if a.cluster.context.is_some() {
            anyhow::bail!("--context reads a live cluster: it cannot be combined with -f");
        }
        Source::Files(a.files.clone(), a.limits.limits())
    };
    let started = std::time::Instant::now();
    let inv = lint::inventory(&source, &selected, &|f| cfg.ignores_file(f)).await?;
    let target = lint::target(&inv, a.target_version.or(cfg.target_version()))?;
    let mut report = lint::run(&inv, &selected, target, &params);
    tracing::info!(
        "lint: {} API requests, {} objects, {} rules in {:.2?}",
        inv.requests,
        report.objects,
        selected.len(),
        started.elapsed()
    );
    let _ = crate::render::stderr::problems("invalid", &report.problems, &mut std::io::stderr());
    let checks = lint::checks(&inv, &selected, &report.outcome);
    let findings = std::mem::take(&mut report.outcome.findings);
    let gated = gate::apply(&a.output, cfg, Objects::from_inventories(&[&inv]), findings)?;
    let described: Vec<_> = selected.iter().map(|r| r.describe()).collect();
    let doc = gate::document(&a.output, "lint", &gated, &described, &checks);
    gate::emit(&a.output, &render::build::lint(doc, &report), out)?;
    Ok(gate::outcome(
        &a.output,
        cfg,
        report.problems.is_empty(),
        &gated,
    ))
}
