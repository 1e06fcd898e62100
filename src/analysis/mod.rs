//! Runs queries over the `audit` table: planning, one ingest for many queries, findings.

use std::sync::Arc;

use datafusion::execution::context::SessionContext;

mod partials;
mod shared;

pub use partials::Partials;

pub use shared::Placement;

use crate::audit::scan::{AuditTable, IngestStats, ScanOptions, stats_of, streams};
use crate::audit::source::SourceSpec;
use crate::catalogue::Overrides;
use crate::finding::Finding;
use crate::query::{self, Query};
use crate::table::Table;

/// One query's result in a report.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    pub query: Query,
    pub table: Table,
    pub findings: Vec<Finding>,
    /// Why the query has no result (it needed more memory than the budget allows).
    pub skipped: Option<String>,
}

/// What a report's run did with its memory budget.
#[derive(Debug, Clone, Default)]
pub struct MemoryUse {
    /// The budget, as the user gave it or by default (`--memory-limit 512.0 MiB`).
    pub budget: String,
    /// Where the shared scan went (none on a remote engine).
    pub shared: Option<Placement>,
    /// Bytes the queries' sorts and aggregations spilled to disk, and which queries spilled.
    pub query_spilled_bytes: u64,
    pub spilled_queries: Vec<String>,
}

/// A whole `kscope report`.
#[derive(Debug, Clone)]
pub struct Report {
    pub queries: Vec<QueryOutput>,
    pub findings: Vec<Finding>,
    pub ingest: IngestStats,
    /// First and last request time in the input.
    pub time_range: Option<(String, String)>,
    /// The window's length as the queries judged it (`60 min`).
    pub window: Option<String>,
    pub origin: String,
    pub memory: MemoryUse,
}

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("query {code} ({file}) failed: {source}")]
    Query {
        code: String,
        file: String,
        source: datafusion::error::DataFusionError,
    },
    #[error("{0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Memory(#[from] crate::memory::MemoryError),
    #[error(
        "{what} needs more memory than {budget} allows ({detail}); raise --memory-limit (a query with exact percentiles or many distinct values per group cannot spill its largest group)"
    )]
    Budget {
        what: String,
        budget: String,
        detail: String,
    },
    #[error("query {code} failed on the Ballista cluster: {source}; no partial answer is shown")]
    Remote {
        code: String,
        source: datafusion::error::DataFusionError,
    },
    #[error(
        "{what} did not finish within {secs} s on the Ballista cluster ({why}); no partial answer is shown"
    )]
    Timeout {
        what: String,
        secs: u64,
        /// What kscope knows: an executor lost under an earlier submission, or nothing.
        why: String,
    },
}

/// Collects a query's batches, within `timeout` when one is given (remote engines).
async fn collect(
    df: datafusion::dataframe::DataFrame,
    timeout: Option<std::time::Duration>,
    what: &str,
    partials: Option<&Partials>,
) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, AnalysisError> {
    Ok(run(df, timeout, what, partials).await?.0)
}

/// How many times a remote query is submitted when an executor is lost under it.
const REMOTE_ATTEMPTS: u32 = 3;

/// Runs a query: its batches and the bytes its sorts and aggregations spilled to disk. With a
/// `timeout` (a remote engine) the query must finish within it, and a job that lost an executor
/// ([`executor_lost`]) is submitted again, up to [`REMOTE_ATTEMPTS`] times within the same
/// timeout, so the answer comes from the executors that remain: never a partial one.
async fn run(
    df: datafusion::dataframe::DataFrame,
    timeout: Option<std::time::Duration>,
    what: &str,
    partials: Option<&Partials>,
) -> Result<(Vec<datafusion::arrow::record_batch::RecordBatch>, u64), AnalysisError> {
    let task_ctx = std::sync::Arc::new(df.task_ctx());
    let started = std::time::Instant::now();
    let mut plan = df.create_physical_plan().await?;
    let planned = started.elapsed();
    // the plan over the data, when partial aggregates replaced part of it
    let mut over_data = None;
    if let Some(p) = partials {
        let with = p.substitute(plan.clone(), &task_ctx).await?;
        if !Arc::ptr_eq(&with, &plan) {
            over_data = Some(std::mem::replace(&mut plan, with));
        }
    }
    tracing::debug!(
        "{what}: planned in {planned:.2?}, partial aggregates placed in {:.2?}",
        started.elapsed() - planned
    );
    let collect = || datafusion::physical_plan::collect(plan.clone(), task_ctx.clone());
    let Some(limit) = timeout else {
        let batches = match (collect().await, over_data) {
            // kept states that cannot be read (damaged, or not what this plan expects): the
            // answer comes from the data, and the warning says how to rebuild them
            (Err(e), Some(data)) if exhausted(&e).is_none() => {
                tracing::warn!(
                    "{what}: the kept partial aggregates could not be read ({}); read the data \
                     instead (delete STORE/{} to compute them again)",
                    first_line(&e),
                    partials::DIR
                );
                let batches =
                    datafusion::physical_plan::collect(data.clone(), task_ctx.clone()).await?;
                return Ok((batches, spilled(&data)));
            }
            (batches, _) => batches?,
        };
        return Ok((batches, spilled(&plan)));
    };
    let deadline = std::time::Instant::now() + limit;
    let mut lost: Option<String> = None;
    let timed_out = |lost: &Option<String>| AnalysisError::Timeout {
        what: what.to_string(),
        secs: limit.as_secs(),
        why: match lost {
            Some(e) => format!(
                "re-submitted after an executor was lost under it ({e}); the executors left did \
                 not finish it: are any left?"
            ),
            None => "an executor lost or overloaded?".to_string(),
        },
    };
    let mut attempt = 1;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let e = match tokio::time::timeout(left, collect()).await {
            Err(_) => return Err(timed_out(&lost)),
            Ok(Ok(batches)) => return Ok((batches, spilled(&plan))),
            Ok(Err(e)) => e,
        };
        if attempt >= REMOTE_ATTEMPTS || !executor_lost(&e) {
            return Err(e.into());
        }
        let why = first_line(&e);
        tracing::warn!(
            "{what}: an executor was lost under it ({why}); submitting it again ({} of {REMOTE_ATTEMPTS})",
            attempt + 1
        );
        lost = Some(why);
        attempt += 1;
        // the scheduler needs a moment to take the executor out
        let pause = std::time::Duration::from_secs(attempt as u64 - 1);
        if tokio::time::timeout(left, tokio::time::sleep(pause))
            .await
            .is_err()
        {
            return Err(timed_out(&lost));
        }
    }
}

/// Whether a remote query failed because an executor went away under it: a shuffle or result
/// fetch that cannot reach it, or a job kscope's scheduler cancelled because it lost one.
pub fn executor_lost(e: &datafusion::error::DataFusionError) -> bool {
    const GONE: [&str; 6] = [
        "Shuffle fetch partition error",
        "tcp connect error",
        "h2 protocol error",
        "broken pipe",
        "Connection reset",
        "transport error",
    ];
    let msg = e.to_string();
    GONE.iter().any(|g| msg.contains(g))
        || (msg.contains("Job ") && msg.contains("failed: Cancelled"))
}

fn first_line(e: &datafusion::error::DataFusionError) -> String {
    let msg = e.to_string();
    let line = msg.lines().next().unwrap_or_default();
    match line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}

/// A DataFusion session sized for the scan, within the run's memory budget (spilling to the run's
/// spill directory beyond it).
pub fn session(opts: &ScanOptions) -> Result<SessionContext, AnalysisError> {
    session_with(opts, opts.memory.config(opts.partitions))
}

/// A session with `cfg` (and `information_schema`) in the run's memory budget.
fn session_with(
    opts: &ScanOptions,
    cfg: datafusion::prelude::SessionConfig,
) -> Result<SessionContext, AnalysisError> {
    Ok(SessionContext::new_with_config_rt(
        cfg.with_information_schema(true),
        opts.memory.runtime()?,
    ))
}

/// The session of queries that read partial aggregates. A state's key is its plan, so the plan of
/// an hour's aggregate must not depend on which other files a scan reads: one partition per query
/// (queries run beside each other instead), and no file statistics, whose sort orders hold over
/// several files only when their times do not overlap.
fn partials_session(opts: &ScanOptions) -> Result<SessionContext, AnalysisError> {
    session_with(opts, opts.memory.config(1).with_collect_statistics(false))
}

impl Report {
    /// Every line read and every query run.
    pub fn complete(&self) -> bool {
        self.ingest.fully_read() && self.queries.iter().all(|q| q.skipped.is_none())
    }
}

/// DataFusion's "resources exhausted" (memory pool or spill space) at the root of `e`.
fn exhausted(e: &datafusion::error::DataFusionError) -> Option<String> {
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
fn over_budget<'a>(
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

/// Describes the sources for findings' `origin`.
pub fn origin(sources: &[SourceSpec]) -> String {
    match sources {
        [] => "audit log: (none)".into(),
        [one] => format!("audit log: {}", one.label()),
        [first, ..] => format!(
            "audit log: {} and {} more",
            first.label(),
            sources.len() - 1
        ),
    }
}

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
    ctx.register_table("audit", table.clone())?;
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
    })
}

/// `in memory: 300.0 MiB` or `spilled 120.0 MiB to DIR`.
pub fn describe_placement(p: &Placement) -> String {
    match p {
        Placement::Memory { bytes } => format!("in memory: {}", crate::memory::human(*bytes)),
        Placement::Spilled { dir, bytes } => format!(
            "beyond the memory budget: spilled {} of Parquet to {}",
            crate::memory::human(*bytes),
            dir.display()
        ),
        Placement::Direct => "beyond the memory budget: every query reads the store".into(),
    }
}

/// Queries with their bound SQL and parameter values (each planned where it runs).
type Bound<'a> = Vec<(&'a Query, String, query::Values)>;

/// A query's task that panicked or was cancelled.
fn joined(e: tokio::task::JoinError) -> AnalysisError {
    AnalysisError::DataFusion(datafusion::error::DataFusionError::External(e.into()))
}

/// Runs `tasks`, up to `parallel` at once, each on the runtime's threads; the next starts as soon
/// as any one ends (a long one does not hold back a core). Their outputs in the tasks' order; the
/// first error ends the run.
async fn beside<T, F>(
    tasks: impl Iterator<Item = F>,
    parallel: usize,
) -> Result<Vec<T>, AnalysisError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, AnalysisError>> + Send + 'static,
{
    use futures::StreamExt;
    let spawned = tasks.enumerate().map(|(i, task)| async move {
        let out = tokio::spawn(task).await.map_err(joined)??;
        Ok::<_, AnalysisError>((i, out))
    });
    let mut done = futures::stream::iter(spawned).buffer_unordered(parallel.max(1));
    let mut outs = Vec::new();
    while let Some(one) = done.next().await {
        outs.push(one?);
    }
    outs.sort_by_key(|(i, _)| *i);
    Ok(outs.into_iter().map(|(_, out)| out).collect())
}

/// The error of query `q` failing to plan or run.
fn failed(q: &Query) -> impl Fn(datafusion::error::DataFusionError) -> AnalysisError + '_ {
    move |source| AnalysisError::Query {
        code: q.code.clone(),
        file: q.file.clone(),
        source,
    }
}

/// Binds every query's parameters (and the fleet key).
fn bind_all<'a>(queries: &[&'a Query], params: &Overrides, fleet: bool) -> Bound<'a> {
    queries
        .iter()
        .map(|q| {
            let values = params.values_for(q);
            let sql = query::bind_fleet(&q.sql, &values, fleet);
            (*q, sql, values)
        })
        .collect()
}

/// Binds every query (see [`bind_all`]) and plans it against `audit` in `planner`, so a bad query
/// fails before any input is read. Returns the bound queries and the columns of `audit` their
/// plans scan, with `request_received_ts` (for the time range) and, for fleet views, `cluster`.
async fn plan_all<'a>(
    planner: &SessionContext,
    queries: &[&'a Query],
    params: &Overrides,
    fleet: bool,
) -> Result<(Bound<'a>, Vec<String>), AnalysisError> {
    let bound = bind_all(queries, params, fleet);
    let mut cols = std::collections::BTreeSet::new();
    // the report's time range and window (query::RANGE_SQL)
    for c in ["request_received_ts", "verb", "subresource"] {
        cols.insert(c.to_string());
    }
    if fleet {
        cols.insert("cluster".to_string());
    }
    for (q, sql, _) in &bound {
        let wrap = failed(q);
        let df = planner.sql(sql).await.map_err(&wrap)?;
        scanned_columns(&df.into_optimized_plan().map_err(&wrap)?, &mut cols);
    }
    let known: std::collections::BTreeSet<&str> = crate::audit::schema::COLUMNS
        .iter()
        .map(|c| c.name)
        .chain(["cluster"])
        .collect();
    let cols = cols
        .into_iter()
        .filter(|c| known.contains(c.as_str()))
        .collect();
    Ok((bound, cols))
}

/// What running the bound queries gave.
struct Ran {
    outputs: Vec<QueryOutput>,
    findings: Vec<Finding>,
    time_range: Option<(String, String)>,
    window: Option<String>,
    spilled_bytes: u64,
    spilled_queries: Vec<String>,
}

/// Bytes a finished plan's operators spilled to disk.
fn spilled(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> u64 {
    let own = plan.metrics().and_then(|m| m.spilled_bytes()).unwrap_or(0) as u64;
    own + plan.children().iter().map(|c| spilled(c)).sum::<u64>()
}

/// Runs one bound query: its output and the bytes it spilled.
async fn run_one(
    df: datafusion::dataframe::DataFrame,
    q: Query,
    values: query::Values,
    origin: &str,
    timeout: Option<std::time::Duration>,
    partials: Option<&Partials>,
) -> Result<(QueryOutput, u64), AnalysisError> {
    let started = std::time::Instant::now();
    let schema = df.schema().as_arrow().clone();
    let (batches, bytes) = match run(df, timeout, &format!("query {}", q.code), partials).await {
        Err(AnalysisError::DataFusion(e)) => match exhausted(&e) {
            Some(detail) => {
                tracing::warn!("{}: skipped, over the memory budget: {detail}", q.code);
                let output = QueryOutput {
                    query: q.clone(),
                    table: Table::from_batches(&schema, &[]),
                    findings: Vec::new(),
                    skipped: Some(format!(
                        "needs more memory than the budget allows ({detail}); raise --memory-limit"
                    )),
                };
                return Ok((output, 0));
            }
            // on Ballista: a failure that re-submitting did not cure (see `run`)
            None if timeout.is_some() => {
                return Err(AnalysisError::Remote {
                    code: q.code.clone(),
                    source: e,
                });
            }
            None => return Err(failed(&q)(e)),
        },
        other => other?,
    };
    let t = Table::from_batches(&schema, &batches);
    tracing::debug!(
        "{}: {} rows in {:.2?}{}",
        q.code,
        t.rows.len(),
        started.elapsed(),
        if bytes > 0 {
            format!(", spilled {}", crate::memory::human(bytes))
        } else {
            String::new()
        }
    );
    let findings = query::findings(&q, &t, &values, origin);
    Ok((
        QueryOutput {
            query: q,
            table: t,
            findings,
            skipped: None,
        },
        bytes,
    ))
}

/// Runs bound queries over `audit` in `ctx`: their tables, their findings (one order), the first
/// and last request time, and what they spilled. A query that needs more memory than the budget
/// allows is skipped with the reason; the others still run. Up to `parallel` queries run at once
/// (their results keep the order of `bound`).
async fn run_bound(
    ctx: &SessionContext,
    bound: Bound<'_>,
    origin: &str,
    timeout: Option<std::time::Duration>,
    partials: Option<&Arc<Partials>>,
    parallel: usize,
) -> Result<Ran, AnalysisError> {
    let mut ran = Ran {
        outputs: Vec::new(),
        findings: Vec::new(),
        time_range: None,
        window: None,
        spilled_bytes: 0,
        spilled_queries: Vec::new(),
    };
    let mut bound = bound;
    let mut range = range_sql();
    if timeout.is_none() {
        materialize_relations(ctx, &mut bound, &mut range).await?;
    }
    let tasks = bound.into_iter().map(|(q, sql, values)| {
        let (ctx, q, origin, partials) = (
            ctx.clone(),
            q.clone(),
            origin.to_string(),
            partials.cloned(),
        );
        async move {
            let df = ctx.sql(&sql).await.map_err(failed(&q))?;
            run_one(df, q, values, &origin, timeout, partials.as_deref()).await
        }
    });
    for (output, bytes) in beside(tasks, parallel).await? {
        if bytes > 0 {
            ran.spilled_bytes += bytes;
            ran.spilled_queries.push(output.query.code.clone());
        }
        ran.findings.extend(output.findings.iter().cloned());
        ran.outputs.push(output);
    }
    crate::finding::sort_and_dedup(&mut ran.findings);

    let range = collect(
        ctx.sql(&range).await?,
        timeout,
        "the time range",
        partials.map(|p| p.as_ref()),
    )
    .await?;
    let range = range
        .first()
        .map(|b| Table::from_batches(b.schema().as_ref(), std::slice::from_ref(b)));
    let cell = |i: usize| {
        range
            .as_ref()
            .and_then(|t| t.rows.first()?.get(i)?.as_str().map(str::to_string))
    };
    ran.time_range = cell(0).zip(cell(1));
    ran.window = cell(2);
    Ok(ran)
}

/// The columns of `audit` a plan reads (from its table scans), for loading only those.
fn scanned_columns(
    plan: &datafusion::logical_expr::LogicalPlan,
    out: &mut std::collections::BTreeSet<String>,
) {
    use datafusion::common::tree_node::TreeNode;
    let _ = plan.apply(|node| {
        if let datafusion::logical_expr::LogicalPlan::TableScan(scan) = node {
            for f in scan.projected_schema.fields() {
                out.insert(f.name().clone());
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
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
    let planner = match &remote {
        Some((ctx, _)) => ctx.clone(),
        None if partial => partials_session(&opts)?,
        None => session(&opts)?,
    };
    crate::store::register_audit(&planner, store, sel).await?;
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
    let ran = run_bound(&ctx, bound, &origin, None, None, 1).await?;
    let mut r = store_report(ran, events, origin);
    r.memory = MemoryUse {
        budget: opts.memory.describe(),
        shared: Some(loaded.placement.clone()),
        query_spilled_bytes: r.memory.query_spilled_bytes,
        spilled_queries: std::mem::take(&mut r.memory.spilled_queries),
    };
    Ok(r)
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
        crate::store::register_audit(&ctx, store, sel).await?;
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

/// `-v`: what a single statement spilled, and where.
fn log_spill(bytes: u64, opts: &ScanOptions) {
    if bytes > 0 {
        tracing::info!(
            "memory: {}; the query spilled {} to {}",
            opts.memory.describe(),
            crate::memory::human(bytes),
            opts.memory.spill_root.display()
        );
    }
}

/// The requests in `audit` (every report says how many it read).
const COUNT_SQL: &str = "SELECT count(*) AS n FROM audit";
/// The first and last request (every report's time range).
/// Computes the engine's one-row relations (`${window}`, and `${ready}` when a query reads it) once,
/// as tables of the session, and points the bound queries and the time range at them: every query
/// judges the same window, and none scans the input again to find it (each did, 20 to 50 ms a query
/// over a GiB). Local engine only: a remote engine's executors cannot read the session's tables.
async fn materialize_relations(
    ctx: &SessionContext,
    bound: &mut Bound<'_>,
    range: &mut String,
) -> Result<(), AnalysisError> {
    for name in ["window", "ready"] {
        let Some(exp) = query::expansion(name) else {
            continue;
        };
        if name != "window" && !bound.iter().any(|(_, sql, _)| sql.contains(exp)) {
            continue;
        }
        let batches = ctx
            .sql(&format!("SELECT * FROM {exp} AS r"))
            .await?
            .collect()
            .await?;
        let Some(schema) = batches.first().map(|b| b.schema()) else {
            continue;
        };
        let table = format!("kscope_{name}");
        let mem = datafusion::datasource::MemTable::try_new(schema, vec![batches])?;
        ctx.deregister_table(&table)?;
        ctx.register_table(&table, Arc::new(mem))?;
        let local = format!("(SELECT * FROM {table})");
        for (_, sql, _) in bound.iter_mut() {
            *sql = sql.replace(exp, &local);
        }
        *range = range.replace(exp, &local);
    }
    Ok(())
}

/// The report's time range and window ([`query::RANGE_SQL`], its placeholders expanded).
fn range_sql() -> String {
    query::bind(query::RANGE_SQL, &Default::default())
}

/// Rows of `audit`.
async fn count_rows(
    ctx: &SessionContext,
    timeout: Option<std::time::Duration>,
    partials: Option<&Partials>,
) -> Result<u64, AnalysisError> {
    let count = collect(
        ctx.sql(COUNT_SQL).await?,
        timeout,
        "counting the requests",
        partials,
    )
    .await?;
    Ok(count
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .map(|a| a.value(0) as u64)
        })
        .unwrap_or(0))
}

/// A report over the store: its input is `events` requests, all of them read (malformed lines
/// were reported when they were ingested).
fn store_report(ran: Ran, events: u64, origin: String) -> Report {
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
    }
}

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
        None => session(&opts)?,
    };
    crate::store::register_audit(&ctx, store, sel).await?;
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

/// Registers small in-memory tables the SQL may join with `audit` (the API removal table).
fn register_tables(
    ctx: &SessionContext,
    tables: Vec<(&str, datafusion::arrow::record_batch::RecordBatch)>,
) -> Result<(), AnalysisError> {
    for (name, batch) in tables {
        let mem = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(name, Arc::new(mem))?;
    }
    Ok(())
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
        ctx.register_table("audit", table.clone())?;
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

#[cfg(test)]
mod tests {
    use super::executor_lost;
    use datafusion::error::DataFusionError;

    #[test]
    fn only_a_lost_executor_makes_a_remote_query_run_again() {
        let lost = [
            "Job 038HFK6H28000 failed: Cancelled",
            "Shuffle fetch partition error from Executor 99a8, map_stage 2: tcp connect error",
            "Job 038HFKCQ9M000 failed: Task failed: h2 protocol error: error reading a body from connection",
        ];
        for m in lost {
            assert!(executor_lost(&DataFusionError::Execution(m.into())), "{m}");
        }
        let not = [
            "Job 038HFK6H28000 failed: Error during planning: table 'audit' not found",
            "Resources exhausted: Failed to allocate additional 1.0 MB",
            "Cancelled",
        ];
        for m in not {
            assert!(!executor_lost(&DataFusionError::Execution(m.into())), "{m}");
        }
    }
}
