//! `kscope report`: every selected query over the audit input, one findings document.

use std::io::Write;

use anyhow::Result;

use super::Outcome;
use super::input::{gather, report_input_problems};
use crate::analysis;
use crate::catalogue::Overrides;
use crate::cli::ReportArgs;
use crate::query;
use crate::render;

pub async fn run(a: ReportArgs, out: &mut dyn Write) -> Result<Outcome> {
    let queries = query::select(&a.queries, &a.select.skip)?;
    let params = Overrides::parse(&a.params.params, &queries)?;
    let input = gather(&a.sources, &a.input, super::input::REPORT_HOURS).await?;
    let started = std::time::Instant::now();
    let mut report =
        analysis::report(input.sources, input.origin, input.opts, &queries, &params).await?;
    report.ingest.read_errors.extend(input.problems);
    tracing::info!(
        "report: {} requests, {} queries, {} findings in {:.2?}",
        report.ingest.events,
        report.queries.len(),
        report.findings.len(),
        started.elapsed()
    );
    report_input_problems(&report.ingest);
    render::findings::report(&report, a.output.format, a.max_rows.max_rows, out)?;
    Ok(Outcome::of(
        report.ingest.fully_read(),
        a.output.fail_on,
        &report.findings,
    ))
}
