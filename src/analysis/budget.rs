//! The memory budget as queries meet it: "resources exhausted" made into errors that name the
//! budget, and what plans spilled.

use super::*;

/// DataFusion's "resources exhausted" (memory pool or spill space) at the root of `e`.
pub(crate) fn exhausted(e: &datafusion::error::DataFusionError) -> Option<String> {
    match e.find_root() {
        datafusion::error::DataFusionError::ResourcesExhausted(m) => {
            let detail = m
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Some(match detail.char_indices().nth(400) {
                Some((i, _)) => format!("{}…", &detail[..i]),
                None => detail,
            })
        }
        _ => None,
    }
}

/// Maps DataFusion's "resources exhausted" to [`AnalysisError::Budget`] naming `what` and the budget.
pub(crate) fn over_budget<'a>(
    what: &'a str,
    opts: &'a ScanOptions,
) -> impl Fn(AnalysisError) -> AnalysisError + 'a {
    move |e| match e {
        AnalysisError::DataFusion(e) => match exhausted(&e) {
            Some(detail) => AnalysisError::Budget {
                what: what.to_string(),
                budget: opts.memory.describe(),
                detail,
            },
            None => AnalysisError::DataFusion(e),
        },
        e => e,
    }
}

/// `-v`: what a single statement spilled, and where.
pub(crate) fn log_spill(bytes: u64, opts: &ScanOptions) {
    if bytes > 0 {
        tracing::info!(
            "memory: {}; the query spilled {} to {}",
            opts.memory.describe(),
            crate::memory::human(bytes),
            opts.memory.spill_root.display()
        );
    }
}

/// Bytes a finished plan's operators spilled to disk.
pub(crate) fn spilled(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> u64 {
    let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
    own + plan.children().iter().map(|c| spilled(c)).sum::<u64>()
}
