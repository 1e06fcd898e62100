//! One SQL statement over raw logs or the store (`kscope sql`).

use super::*;

/// Whether the selection spans several clusters (then fleet views split per cluster).
pub async fn fleet(
    store: &crate::store::Store,
    sel: &crate::store::Selection,
) -> Result<bool, AnalysisError> {
    Ok(if sel.clusters.is_empty() {
        store.clusters().await?.len() > 1
    } else {
        sel.clusters.len() > 1
    })
}

/// Runs one SQL statement over the selected part of a store (with the `cluster` column). Its
/// `IngestStats::events` are the rows of the answer: the store's requests are not counted.
pub async fn sql_store(
    store: &crate::store::Store,
    sel: &crate::store::Selection,
    opts: ScanOptions,
    sql: &str,
    tables: Vec<(&str, datafusion::arrow::record_batch::RecordBatch)>,
    remote: Option<(SessionContext, std::time::Duration)>,
) -> Result<(Table, IngestStats), AnalysisError> {
    let timeout = remote.as_ref().map(|(_, t)| *t);
    let ctx = match remote {
        Some((ctx, _)) => ctx,
        // one statement: reading every file's statistics to plan it costs more than it saves
        // (the hour partitions prune by path; row groups by their own statistics when read)
        None => session_with(
            &opts,
            opts.memory
                .config(opts.partitions)
                .with_collect_statistics(false),
        )?,
    };
    crate::store::register_audit(&ctx, store, sel, true).await?;
    register_tables(&ctx, tables)?;
    let sql = sql.replace(
        query::CLUSTER_KEY,
        if fleet(store, sel).await? {
            "cluster, "
        } else {
            ""
        },
    );
    let df = ctx.sql(&sql).await?;
    let schema = df.schema().as_arrow().clone();
    let (batches, spilled) = run(df, timeout, "the query", None)
        .await
        .map_err(over_budget("the query", &opts))?;
    log_spill(spilled, &opts);
    let events = batches.iter().map(|b| b.num_rows() as u64).sum();
    Ok((
        Table::from_batches(&schema, &batches),
        IngestStats {
            events,
            ..Default::default()
        },
    ))
}

/// Runs one SQL statement over the sources. Streams the input, except stdin, which is read once
/// (into memory within the budget, else into the run's spill directory) so that SQL scanning
/// `audit` more than once still sees it.
pub async fn sql(
    sources: Vec<SourceSpec>,
    opts: ScanOptions,
    sql: &str,
) -> Result<(Table, IngestStats), AnalysisError> {
    sql_with(sources, opts, sql, Vec::new()).await
}

/// [`sql`] with more (small, in-memory) tables the statement may join with the `audit` table.
pub async fn sql_with(
    sources: Vec<SourceSpec>,
    opts: ScanOptions,
    sql: &str,
    tables: Vec<(&str, datafusion::arrow::record_batch::RecordBatch)>,
) -> Result<(Table, IngestStats), AnalysisError> {
    let ctx = session(&opts)?;
    register_tables(&ctx, tables)?;
    // raw logs are one cluster: fleet views do not split
    let sql = &sql.replace(query::CLUSTER_KEY, "");
    let table = Arc::new(AuditTable::new(sources.clone(), opts.clone()));
    let budget = over_budget("the query", &opts);
    let preloaded = if sources.contains(&SourceSpec::Stdin) {
        let (schema, parts, stats) = streams(&table, None, ctx.task_ctx());
        let mut loaded = shared::load(schema, parts, &ctx.runtime_env(), &opts.memory, true)
            .await
            .map_err(&budget)?;
        loaded.register(&ctx).await?;
        Some((stats_of(&stats), loaded))
    } else {
        crate::apf::udf::register_audit(&ctx, table.clone()).await?;
        None
    };
    let df = ctx.sql(sql).await?;
    let schema = df.schema().as_arrow().clone();
    let (batches, spilled) = run(df, None, "the query", None).await.map_err(&budget)?;
    log_spill(spilled, &opts);
    let stats = match preloaded {
        Some((stats, _loaded)) => stats,
        None => table.stats(),
    };
    Ok((Table::from_batches(&schema, &batches), stats))
}
