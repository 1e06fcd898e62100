//! Running bound queries beside each other over one session: their outputs, findings, the time
//! range and window every query judges.

use super::*;

/// A query's task that panicked or was cancelled.
pub(crate) fn joined(e: tokio::task::JoinError) -> AnalysisError {
    AnalysisError::DataFusion(datafusion::error::DataFusionError::External(e.into()))
}

/// Runs `tasks`, up to `parallel` at once, each on the runtime's threads; the next starts as soon
/// as any one ends (a long one does not hold back a core). Their outputs in the tasks' order; the
/// first error ends the run.
pub(crate) async fn beside<T, F>(
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

/// What running the bound queries gave.
pub(crate) struct Ran {
    pub(crate) outputs: Vec<QueryOutput>,
    pub(crate) findings: Vec<Finding>,
    pub(crate) time_range: Option<(String, String)>,
    pub(crate) window: Option<String>,
    pub(crate) spilled_bytes: u64,
    pub(crate) spilled_queries: Vec<String>,
}

/// Runs one bound query: its output and the bytes it spilled.
pub(crate) async fn run_one(
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
pub(crate) async fn run_bound(
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

/// The requests in `audit` (every report says how many it read).
pub(crate) const COUNT_SQL: &str = "SELECT count(*) AS n FROM audit";

/// The first and last request (every report's time range).
/// Computes the engine's one-row relations (`${window}`, and `${ready}` when a query reads it) once,
/// as tables of the session, and points the bound queries and the time range at them: every query
/// judges the same window, and none scans the input again to find it (each did, 20 to 50 ms a query
/// over a GiB). Local engine only: a remote engine's executors cannot read the session's tables.
pub(crate) async fn materialize_relations(
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
pub(crate) fn range_sql() -> String {
    query::bind(query::RANGE_SQL, &Default::default())
}

/// Rows of `audit`.
pub(crate) async fn count_rows(
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
