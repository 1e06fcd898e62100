//! DataFusion sessions within the run's memory budget, and the small tables queries may join.

use super::*;

/// A DataFusion session sized for the scan, within the run's memory budget (spilling to the run's
/// spill directory beyond it).
pub fn session(opts: &ScanOptions) -> Result<SessionContext, AnalysisError> {
    session_with(opts, opts.memory.config(opts.partitions))
}

/// A session with `cfg` (and `information_schema`) in the run's memory budget.
pub(crate) fn session_with(
    opts: &ScanOptions,
    cfg: datafusion::prelude::SessionConfig,
) -> Result<SessionContext, AnalysisError> {
    let ctx = SessionContext::new_with_config_rt(
        cfg.with_information_schema(true),
        opts.memory.runtime()?,
    );
    // the APF estimate (`est_seats` and the rest of the `audit` view) on the local engine
    crate::apf::udf::register(&ctx, crate::apf::current())?;
    Ok(ctx)
}

/// The session of queries that read partial aggregates. A state's key is its plan, so the plan of
/// an hour's aggregate must not depend on which other files a scan reads: one partition per query
/// (queries run beside each other instead), and no file statistics, whose sort orders hold over
/// several files only when their times do not overlap.
pub(crate) fn partials_session(opts: &ScanOptions) -> Result<SessionContext, AnalysisError> {
    session_with(opts, opts.memory.config(1).with_collect_statistics(false))
}

/// Registers small in-memory tables the SQL may join with `audit` (the API removal table).
pub(crate) fn register_tables(
    ctx: &SessionContext,
    tables: Vec<(&str, datafusion::arrow::record_batch::RecordBatch)>,
) -> Result<(), AnalysisError> {
    for (name, batch) in tables {
        let mem = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(name, Arc::new(mem))?;
    }
    Ok(())
}
