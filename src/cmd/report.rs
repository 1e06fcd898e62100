//! `kscope report`: every selected query over the audit input, through the gate, one findings
//! document.

use std::io::Write;

use anyhow::Result;

use super::input::{Audit, report_input_problems};
use super::{Outcome, gate};
use crate::analysis;
use crate::catalogue::{Entry, Overrides};
use crate::cli::ReportArgs;
use crate::gate::config::Config;
use crate::gate::{Check, Objects};
use crate::query;
use crate::render;

/// `-v`: what the run did with its memory budget.
fn report_memory(m: &analysis::MemoryUse) {
    if let Some(p) = &m.shared {
        tracing::info!(
            "memory: {}; shared scan {}",
            m.budget,
            analysis::describe_placement(p)
        );
    }
    if m.query_spilled_bytes > 0 {
        tracing::info!(
            "memory: queries spilled {} to disk ({})",
            crate::memory::human(m.query_spilled_bytes),
            m.spilled_queries.join(", ")
        );
    }
}

/// The queries a report runs and their parameters: the configuration's, then the flags'. `ingest`
/// keeps the partial aggregates of the same set (with no flags).
pub(super) fn selected_queries(
    cfg: &Config,
    only: &[String],
    skip: &[String],
    params: &[String],
) -> Result<(Vec<&'static query::Query>, Overrides)> {
    let (only, skip) = gate::selection(only, skip, &cfg.queries);
    let queries = query::select(&only, &skip)?;
    let params = Overrides::parse(&gate::params(cfg, &queries, params), &queries)?;
    Ok((queries, params))
}

pub async fn run(a: ReportArgs, cfg: &Config, out: &mut dyn Write) -> Result<Outcome> {
    let (queries, params) = selected_queries(cfg, &a.queries, &a.select.skip, &a.params.params)?;
    super::pricing::prepare(&a.pricing).await?;
    let started = std::time::Instant::now();
    let audit = super::input::audit(
        &a.sources,
        &a.store,
        &a.input,
        Some(&a.engine),
        super::input::REPORT_HOURS,
    )
    .await?;
    let mut report = match audit {
        Audit::Store {
            store,
            sel,
            opts,
            remote,
        } => {
            analysis::report_store(
                &store,
                &sel,
                opts,
                &queries,
                &params,
                remote,
                !a.store.no_partials,
            )
            .await?
        }
        Audit::Raw(input) => {
            let mut r =
                analysis::report(input.sources, input.origin, input.opts, &queries, &params)
                    .await?;
            r.ingest.read_errors.extend(input.problems);
            r
        }
    };
    tracing::info!(
        "report: {} requests, {} queries, {} findings in {:.2?}",
        report.ingest.events,
        report.queries.len(),
        report.findings.len(),
        started.elapsed()
    );
    report_input_problems(&report.ingest);
    report_memory(&report.memory);
    let mut findings = std::mem::take(&mut report.findings);
    super::webhooks::explain(&a.webhooks, cfg, &mut findings).await?;
    let gated = gate::apply(&a.output, cfg, Objects::default(), findings)?;
    // a query checks the whole input: its subjects are what it found
    let checks: Vec<Check> = queries
        .iter()
        .map(|q| Check {
            code: q.code.clone(),
            name: q.name.clone(),
            subjects: Vec::new(),
            skipped: report
                .queries
                .iter()
                .find(|o| o.query.code == q.code)
                .and_then(|o| o.skipped.clone()),
        })
        .collect();
    let described: Vec<_> = queries.iter().map(|q| q.describe()).collect();
    let doc = gate::document(&a.output, "report", &gated, &described, &checks);
    let doc = render::build::report(doc, &report, a.max_rows.max_rows);
    gate::emit(&a.output, &doc, out)?;
    Ok(gate::outcome(&a.output, cfg, report.complete(), &gated))
}
