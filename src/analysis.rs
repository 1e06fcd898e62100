//! Runs queries over the `audit` table: planning, one ingest for many queries, findings.

use std::sync::Arc;

use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;

use crate::audit::scan::{AuditTable, IngestStats, ScanOptions, load};
use crate::audit::schema::Col;
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
}

/// A whole `kscope report`.
#[derive(Debug, Clone)]
pub struct Report {
    pub queries: Vec<QueryOutput>,
    pub findings: Vec<Finding>,
    pub ingest: IngestStats,
    /// First and last request time in the input.
    pub time_range: Option<(String, String)>,
    pub origin: String,
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
    #[error(
        "{what} did not finish within {secs} s on the Ballista cluster (an executor lost or overloaded?); no partial answer is shown"
    )]
    Timeout { what: String, secs: u64 },
}

/// Collects a query's batches, within `timeout` when one is given (remote engines).
async fn collect(
    df: datafusion::dataframe::DataFrame,
    timeout: Option<std::time::Duration>,
    what: &str,
) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>, AnalysisError> {
    match timeout {
        None => Ok(df.collect().await?),
        Some(t) => match tokio::time::timeout(t, df.collect()).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(AnalysisError::Timeout {
                what: what.to_string(),
                secs: t.as_secs(),
            }),
        },
    }
}

/// A DataFusion session sized for the scan.
pub fn session(opts: &ScanOptions) -> SessionContext {
    let cfg = SessionConfig::new()
        .with_target_partitions(opts.partitions.max(1))
        .with_information_schema(true);
    SessionContext::new_with_config(cfg)
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
    // plan every query against the streaming table to learn which columns they read
    let planner = session(&opts);
    planner.register_table("audit", table.clone())?;
    let mut bound = Vec::new();
    for q in queries {
        let values = params.values_for(q);
        let sql = query::bind_fleet(&q.sql, &values, false);
        let wrap = |source| AnalysisError::Query {
            code: q.code.clone(),
            file: q.file.clone(),
            source,
        };
        planner
            .sql(&sql)
            .await
            .map_err(wrap)?
            .create_physical_plan()
            .await
            .map_err(wrap)?;
        bound.push((*q, sql, values));
    }
    let mut cols = table.projected_columns();
    cols.push(Col::RequestReceivedTs.index());
    cols.sort_unstable();
    cols.dedup();

    let ctx = session(&opts);
    let started = std::time::Instant::now();
    let ncols = cols.len();
    let (mem, ingest) = load(&table, Some(cols), ctx.task_ctx()).await?;
    tracing::info!(
        "ingest: {} requests, {ncols} columns in {:.2?}",
        ingest.events,
        started.elapsed()
    );
    ctx.register_table("audit", Arc::new(mem))?;

    let (outputs, all_findings, rt) = run_bound(&ctx, bound, &origin, None).await?;
    Ok(Report {
        queries: outputs,
        findings: all_findings,
        ingest,
        time_range: rt,
        origin,
    })
}

type Bound<'a> = Vec<(&'a Query, String, query::Values)>;

/// Runs bound queries over `audit` in `ctx`: their tables, their findings (one order), and the
/// first and last request time.
async fn run_bound(
    ctx: &SessionContext,
    bound: Bound<'_>,
    origin: &str,
    timeout: Option<std::time::Duration>,
) -> Result<(Vec<QueryOutput>, Vec<Finding>, Option<(String, String)>), AnalysisError> {
    let mut outputs = Vec::new();
    let mut all_findings = Vec::new();
    for (q, sql, values) in bound {
        let wrap = |source| AnalysisError::Query {
            code: q.code.clone(),
            file: q.file.clone(),
            source,
        };
        let started = std::time::Instant::now();
        let df = ctx.sql(&sql).await.map_err(wrap)?;
        let schema = df.schema().as_arrow().clone();
        let batches = match collect(df, timeout, &format!("query {}", q.code)).await {
            Err(AnalysisError::DataFusion(e)) => return Err(wrap(e)),
            other => other?,
        };
        let t = Table::from_batches(&schema, &batches);
        tracing::debug!(
            "{}: {} rows in {:.2?}",
            q.code,
            t.rows.len(),
            started.elapsed()
        );
        let findings = query::findings(q, &t, &values, origin);
        all_findings.extend(findings.iter().cloned());
        outputs.push(QueryOutput {
            query: q.clone(),
            table: t,
            findings,
        });
    }
    crate::finding::sort_and_dedup(&mut all_findings);

    let range = collect(
        ctx.sql(
            "SELECT min(request_received_ts) AS first, max(request_received_ts) AS last FROM audit",
        )
        .await?,
        timeout,
        "the time range",
    )
    .await?;
    let rt = range.first().and_then(|b| {
        let t = Table::from_batches(b.schema().as_ref(), std::slice::from_ref(b));
        match (
            t.rows.first()?.first()?.as_str(),
            t.rows.first()?.get(1)?.as_str(),
        ) {
            (Some(a), Some(b)) => Some((a.to_string(), b.to_string())),
            _ => None,
        }
    });
    Ok((outputs, all_findings, rt))
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
/// (with partition and projection pruning), then every query runs in memory, as over raw files.
pub async fn report_store(
    store: &crate::store::Store,
    sel: &crate::store::Selection,
    opts: ScanOptions,
    queries: &[&Query],
    params: &Overrides,
    remote: Option<(SessionContext, std::time::Duration)>,
) -> Result<Report, AnalysisError> {
    let planner = match &remote {
        Some((ctx, _)) => ctx.clone(),
        None => session(&opts),
    };
    crate::store::register_audit(&planner, store, sel).await?;
    let fleet = fleet(store, sel).await?;
    let mut bound = Vec::new();
    let mut cols = std::collections::BTreeSet::new();
    cols.insert("request_received_ts".to_string());
    if fleet {
        cols.insert("cluster".to_string());
    }
    for q in queries {
        let values = params.values_for(q);
        let sql = query::bind_fleet(&q.sql, &values, fleet);
        let wrap = |source| AnalysisError::Query {
            code: q.code.clone(),
            file: q.file.clone(),
            source,
        };
        let plan = planner
            .sql(&sql)
            .await
            .map_err(wrap)?
            .into_optimized_plan()
            .map_err(wrap)?;
        scanned_columns(&plan, &mut cols);
        bound.push((*q, sql, values));
    }
    let known: std::collections::BTreeSet<&str> = crate::audit::schema::COLUMNS
        .iter()
        .map(|c| c.name)
        .chain(["cluster"])
        .collect();
    let cols: Vec<String> = cols
        .into_iter()
        .filter(|c| known.contains(c.as_str()))
        .collect();
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
        let count = collect(
            ctx.sql("SELECT count(*) AS n FROM audit").await?,
            Some(timeout),
            "counting the requests",
        )
        .await?;
        let events = count
            .first()
            .and_then(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::Int64Array>()
                    .map(|a| a.value(0) as u64)
            })
            .unwrap_or(0);
        let ran = run_bound(&ctx, bound, &origin, Some(timeout)).await?;
        return Ok(store_report(ran, events, origin));
    }
    let started = std::time::Instant::now();
    let df = planner
        .sql(&format!(
            "SELECT {} FROM audit",
            cols.iter()
                .map(|c| format!("\"{c}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await?;
    let schema = std::sync::Arc::new(df.schema().as_arrow().clone());
    let batches = df.collect_partitioned().await?;
    let events: u64 = batches.iter().flatten().map(|b| b.num_rows() as u64).sum();
    tracing::info!(
        "store: {events} requests, {} columns in {:.2?}",
        cols.len(),
        started.elapsed()
    );
    let ctx = session(&opts);
    ctx.register_table(
        "audit",
        Arc::new(datafusion::datasource::MemTable::try_new(schema, batches)?),
    )?;
    let ran = run_bound(&ctx, bound, &origin, None).await?;
    Ok(store_report(ran, events, origin))
}

/// A report over the store: its input is `events` requests, all of them read (malformed lines
/// were reported when they were ingested).
fn store_report(
    (queries, findings, time_range): (Vec<QueryOutput>, Vec<Finding>, Option<(String, String)>),
    events: u64,
    origin: String,
) -> Report {
    Report {
        queries,
        findings,
        ingest: IngestStats {
            events,
            ..Default::default()
        },
        time_range,
        origin,
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

/// Runs one SQL statement over the selected part of a store (with the `cluster` column).
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
        None => session(&opts),
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
    let batches = collect(df, timeout, "the query").await?;
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
/// into memory so that SQL scanning `audit` more than once still sees it.
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
    let ctx = session(&opts);
    register_tables(&ctx, tables)?;
    // raw logs are one cluster: fleet views do not split
    let sql = &sql.replace(query::CLUSTER_KEY, "");
    let table = Arc::new(AuditTable::new(sources.clone(), opts.clone()));
    let preloaded = if sources.contains(&SourceSpec::Stdin) {
        let (mem, stats) = load(&table, None, ctx.task_ctx()).await?;
        ctx.register_table("audit", Arc::new(mem))?;
        Some(stats)
    } else {
        ctx.register_table("audit", table.clone())?;
        None
    };
    let df = ctx.sql(sql).await?;
    let schema = df.schema().as_arrow().clone();
    let batches = df.collect().await?;
    let stats = preloaded.unwrap_or_else(|| table.stats());
    Ok((Table::from_batches(&schema, &batches), stats))
}
