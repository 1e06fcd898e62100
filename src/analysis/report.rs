//! `kscope report` over raw logs and over the Parquet store (locally, with partial aggregates, or
//! on Ballista), and warming the store's partial aggregates after an ingest.

use super::*;

/// Runs `queries` over the sources, reading them once.
pub async fn report(
    sources: Vec<SourceSpec>,
    origin: String,
    opts: ScanOptions,
    queries: &[&Query],
    params: &Overrides,
) -> Result<Report, AnalysisError> {
    let table = Arc::new(AuditTable::new(sources, opts.clone()));
    // plan every query against the streaming table to learn which columns they read; the same
    // session then runs them over what was loaded
    let ctx = session(&opts)?;
    crate::apf::udf::register_audit(&ctx, table.clone()).await?;
    let (bound, names) = plan_all(&ctx, queries, params, false).await?;
    let cols: Vec<usize> = crate::audit::schema::COLUMNS
        .iter()
        .enumerate()
        .filter(|(_, c)| names.iter().any(|n| n == c.name))
        .map(|(i, _)| i)
        .collect();

    let started = std::time::Instant::now();
    let ncols = cols.len();
    let (schema, parts, stats) = streams(&table, Some(cols), ctx.task_ctx());
    let mut loaded = shared::load(schema, parts, &ctx.runtime_env(), &opts.memory, true)
        .await
        .map_err(over_budget("reading the audit log", &opts))?;
    let ingest = stats_of(&stats);
    tracing::info!(
        "ingest: {} requests, {ncols} columns in {:.2?} ({})",
        ingest.events,
        started.elapsed(),
        describe_placement(&loaded.placement)
    );
    loaded.register(&ctx).await?;
    let estimate = estimate_inputs(&ctx, &bound, Some(&loaded.placement)).await;

    let ran = run_bound(&ctx, bound, &origin, None, None, 1).await?;
    Ok(Report {
        queries: ran.outputs,
        findings: ran.findings,
        ingest,
        time_range: ran.time_range,
        window: ran.window,
        origin,
        memory: MemoryUse {
            budget: opts.memory.describe(),
            shared: Some(loaded.placement.clone()),
            query_spilled_bytes: ran.spilled_bytes,
            spilled_queries: ran.spilled_queries,
        },
        estimate,
    })
}

/// When a bound query reads the APF estimate: the server version found in the log (if nothing
/// else gave it) and the lines saying what the estimate rests on.
async fn estimate_inputs(
    ctx: &SessionContext,
    bound: &Bound<'_>,
    loaded: Option<&Placement>,
) -> Vec<String> {
    let mut reads = false;
    for (_, sql, _) in bound {
        // from the plan, not the text: a query may name its own column `served_from`
        if let Ok(df) = ctx.sql(sql).await {
            if let Ok(plan) = df.into_optimized_plan() {
                if format!("{}", plan.display_indent()).contains(crate::apf::udf::FUNCTION)
                    || sql.contains(crate::apf::udf::LEVELS)
                {
                    reads = true;
                    break;
                }
            }
        }
    }
    if !reads {
        return Vec::new();
    }
    let pricing = crate::apf::current();
    crate::apf::udf::detect_version(ctx, &pricing).await;
    // one pass prices every request for all the queries that read the estimate (when the
    // requests are loaded; over the store each query reads its own)
    let spill = match loaded {
        Some(Placement::Memory { .. }) => None,
        Some(Placement::Spilled { dir, .. }) => Some(dir.join("priced")),
        _ => return pricing.describe(),
    };
    let started = std::time::Instant::now();
    let done = crate::apf::udf::materialize(ctx, spill.as_deref()).await;
    tracing::debug!(
        "APF estimate: every request priced in {:.2?}",
        started.elapsed()
    );
    if let Err(e) = done {
        tracing::warn!("the APF estimate is computed per query: {e}");
    }
    pricing.describe()
}

/// Runs `queries` over the selected part of a Parquet store: the columns they read are loaded once
/// (with partition and projection pruning) and every query runs over them in memory, as over raw
/// files; when they do not fit in the budget's share, every query reads the store itself.
pub async fn report_store(
    store: &crate::store::Store,
    sel: &crate::store::Selection,
    opts: ScanOptions,
    queries: &[&Query],
    params: &Overrides,
    remote: Option<(SessionContext, std::time::Duration)>,
    use_partials: bool,
) -> Result<Report, AnalysisError> {
    let partial = use_partials && remote.is_none() && sel.whole_hours();
    // the APF estimate runs on the local engine only: on a remote one its columns are NULL
    // (unknown), and the queries that read the levels' seats do not run
    let (queries, local_only): (Vec<&Query>, Vec<&Query>) = queries
        .iter()
        .partition(|q| remote.is_none() || !crate::apf::udf::local_only(&q.sql));
    if !local_only.is_empty() {
        tracing::warn!(
            "{}: not run on the remote engine (they read the APF estimate, which runs on the local engine)",
            local_only
                .iter()
                .map(|q| q.code.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let queries = queries.as_slice();
    let planner = match &remote {
        Some((ctx, _)) => ctx.clone(),
        None if partial => partials_session(&opts)?,
        None => session(&opts)?,
    };
    crate::store::register_audit(&planner, store, sel, false).await?;
    let fleet = fleet(store, sel).await?;
    let (bound, cols) = if partial {
        // each query is planned where it runs, beside the others
        (bind_all(queries, params, fleet), Vec::new())
    } else {
        plan_all(&planner, queries, params, fleet).await?
    };
    let origin = format!(
        "audit store {}{}",
        store.spec,
        if sel.clusters.is_empty() {
            String::new()
        } else {
            format!(" (cluster {})", sel.clusters.join(", "))
        }
    );
    if let Some((ctx, timeout)) = remote {
        // on Ballista every query scans the store on the executors
        let events = count_rows(&ctx, Some(timeout), None).await?;
        let ran = run_bound(&ctx, bound, &origin, Some(timeout), None, 1).await?;
        return Ok(store_report(ran, events, origin));
    }
    if partial {
        // every query reads the store, its aggregations the per-hour states (see `partials`)
        let partials = Arc::new(Partials::new(store));
        // counted from the hours' states, beside the first queries
        let counting = {
            let ctx = planner.clone();
            let partials = partials.clone();
            tokio::spawn(async move { count_rows(&ctx, None, Some(&partials)).await })
        };
        let estimate = estimate_inputs(&planner, &bound, None).await;
        let ran = run_bound(
            &planner,
            bound,
            &origin,
            None,
            Some(&partials),
            opts.partitions.max(1),
        )
        .await?;
        let events = counting.await.map_err(joined)??;
        let c = &partials.counters;
        tracing::info!(
            "store: {events} requests; partial aggregates: {} hour states read, {} computed, {} over the data",
            c.hits.load(std::sync::atomic::Ordering::Relaxed),
            c.computed.load(std::sync::atomic::Ordering::Relaxed),
            c.live.load(std::sync::atomic::Ordering::Relaxed),
        );
        let mut r = store_report(ran, events, origin);
        r.memory.budget = opts.memory.describe();
        r.estimate = estimate;
        return Ok(r);
    }
    let started = std::time::Instant::now();
    let ctx = planner;
    let df = ctx
        .sql(&format!(
            "SELECT {} FROM audit",
            cols.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await?;
    let schema = Arc::new(df.schema().as_arrow().clone());
    let parts = df.execute_stream_partitioned().await?;
    let mut loaded = shared::load(schema, parts, &ctx.runtime_env(), &opts.memory, false)
        .await
        .map_err(over_budget("reading the store", &opts))?;
    let events = match loaded.placement {
        Placement::Direct => count_rows(&ctx, None, None).await?,
        _ => {
            loaded.register(&ctx).await?;
            loaded.rows
        }
    };
    tracing::info!(
        "store: {events} requests, {} columns in {:.2?} ({})",
        cols.len(),
        started.elapsed(),
        describe_placement(&loaded.placement)
    );
    let estimate = estimate_inputs(&ctx, &bound, Some(&loaded.placement)).await;
    let ran = run_bound(&ctx, bound, &origin, None, None, 1).await?;
    let mut r = store_report(ran, events, origin);
    r.estimate = estimate;
    r.memory = MemoryUse {
        budget: opts.memory.describe(),
        shared: Some(loaded.placement.clone()),
        query_spilled_bytes: r.memory.query_spilled_bytes,
        spilled_queries: std::mem::take(&mut r.memory.spilled_queries),
    };
    Ok(r)
}

/// A report over the store: its input is `events` requests, all of them read (malformed lines
/// were reported when they were ingested).
pub(crate) fn store_report(ran: Ran, events: u64, origin: String) -> Report {
    Report {
        queries: ran.outputs,
        findings: ran.findings,
        ingest: IngestStats {
            events,
            ..Default::default()
        },
        time_range: ran.time_range,
        window: ran.window,
        origin,
        memory: MemoryUse {
            budget: String::new(),
            shared: None,
            query_spilled_bytes: ran.spilled_bytes,
            spilled_queries: ran.spilled_queries,
        },
        estimate: Vec::new(),
    }
}

/// Computes the per-hour partial aggregates `queries` need over the selected part of a store that
/// are not kept yet (after an ingest, so the next report reads them): for the selection alone and,
/// when the store holds several clusters, for the fleet view; then deletes the states other kscope
/// versions kept. Returns the states computed and the files deleted.
pub async fn warm_partials(
    store: &crate::store::Store,
    sel: &crate::store::Selection,
    opts: &ScanOptions,
    queries: &[&Query],
    params: &Overrides,
) -> Result<(u64, u64), AnalysisError> {
    let partials = Arc::new(Partials::new(store));
    let whole = crate::store::Selection::default();
    let mut views = vec![(sel, false)];
    if store.clusters().await?.len() > 1 {
        views.push((&whole, true));
    }
    for (sel, fleet) in views {
        let ctx = partials_session(opts)?;
        crate::store::register_audit(&ctx, store, sel, false).await?;
        // each query's states beside another's (one partition each), then the report's count
        // and time range
        // the window and the start-up as the report computes them (their own states too), so
        // that every plan below is the report's
        let mut bound = bind_all(queries, params, fleet);
        let mut range = range_sql();
        materialize_relations(&ctx, &mut bound, &mut range).await?;
        let statements = bound
            .into_iter()
            .map(|(q, sql, _)| (Some(q.clone()), sql))
            .chain([COUNT_SQL.to_string(), range].map(|sql| (None, sql)));
        let tasks = statements.map(|(q, sql)| {
            let (ctx, partials) = (ctx.clone(), partials.clone());
            async move {
                let states = async {
                    let df = ctx.sql(&sql).await?;
                    let task = Arc::new(df.task_ctx());
                    let plan = df.create_physical_plan().await?;
                    partials.substitute(plan, &task).await
                };
                match (states.await, &q) {
                    (Ok(_), _) => Ok(()),
                    (Err(e), Some(q)) => Err(failed(q)(e)),
                    (Err(e), None) => Err(AnalysisError::DataFusion(e)),
                }
            }
        });
        beside(tasks, opts.partitions).await?;
    }
    // a store that keeps old states is still right: a warning, not a failed ingest
    let pruned = partials::prune(store).await.unwrap_or_else(|e| {
        tracing::warn!(
            "store {}: cannot delete the partial aggregates other kscope versions kept: {e}",
            store.spec
        );
        0
    });
    Ok((
        partials
            .counters
            .computed
            .load(std::sync::atomic::Ordering::Relaxed),
        pruned,
    ))
}
