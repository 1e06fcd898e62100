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
        let sql = query::bind(&q.sql, &values);
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
        let batches = df.collect().await.map_err(wrap)?;
        let t = Table::from_batches(&schema, &batches);
        tracing::debug!(
            "{}: {} rows in {:.2?}",
            q.code,
            t.rows.len(),
            started.elapsed()
        );
        let findings = query::findings(q, &t, &values, &origin);
        all_findings.extend(findings.iter().cloned());
        outputs.push(QueryOutput {
            query: q.clone(),
            table: t,
            findings,
        });
    }
    crate::finding::sort_and_dedup(&mut all_findings);

    let range = ctx
        .sql(
            "SELECT min(request_received_ts) AS first, max(request_received_ts) AS last FROM audit",
        )
        .await?
        .collect()
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
    Ok(Report {
        queries: outputs,
        findings: all_findings,
        ingest,
        time_range: rt,
        origin,
    })
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
    for (name, batch) in tables {
        let mem = datafusion::datasource::MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        ctx.register_table(name, Arc::new(mem))?;
    }
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
