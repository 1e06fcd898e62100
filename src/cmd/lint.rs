//! `kscope lint`: the selected rules over manifests or a live cluster, one findings document.

use std::io::Write;

use anyhow::Result;

use super::Outcome;
use crate::catalogue::Overrides;
use crate::cli::LintArgs;
use crate::lint::{self, Source};
use crate::render;
use crate::rules;

pub async fn run(a: LintArgs, out: &mut dyn Write) -> Result<Outcome> {
    let selected = rules::select(&a.rules, &a.select.skip)?;
    let params = Overrides::parse(&a.params.params, &selected)?;
    let source = if a.files.is_empty() {
        Source::Cluster(a.cluster.live_options())
    } else {
        if a.cluster.context.is_some() {
            anyhow::bail!("--context reads a live cluster: it cannot be combined with -f");
        }
        Source::Files(a.files.clone(), a.limits.limits())
    };
    let started = std::time::Instant::now();
    let inv = lint::inventory(&source, &selected).await?;
    let target = lint::target(&inv, a.target_version)?;
    let report = lint::run(&inv, &selected, target, &params);
    if inv.live {
        tracing::info!(
            "lint: {} API requests, {} objects, {} rules in {:.2?}",
            inv.requests,
            report.objects,
            selected.len(),
            started.elapsed()
        );
    } else {
        tracing::info!(
            "lint: {} objects, {} rules in {:.2?}",
            report.objects,
            selected.len(),
            started.elapsed()
        );
    }
    for p in &report.problems {
        eprintln!("kscope: invalid: {p}");
    }
    render::findings::lint(&report, a.output.format, out)?;
    Ok(Outcome::of(
        report.problems.is_empty(),
        a.output.fail_on,
        &report.outcome.findings,
    ))
}
