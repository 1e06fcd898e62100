//! Runs queries over the `audit` table: planning, one ingest for many queries, findings.

use std::sync::Arc;

use datafusion::execution::context::SessionContext;

mod budget;
mod eligible;
mod partials;
mod plan;
mod remote;
mod report;
mod session;
mod shared;
mod sql;
mod tasks;

use budget::*;
use plan::*;
use remote::*;
use tasks::*;

pub use remote::executor_lost;
pub use report::{report, report_store, warm_partials};
pub use session::session;
pub(crate) use session::{partials_session, register_tables, session_with};
pub use sql::{fleet, sql, sql_store, sql_with};

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
    /// What the APF estimate rested on, when a query read it.
    pub estimate: Vec<String>,
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

impl Report {
    /// Every line read and every query run.
    pub fn complete(&self) -> bool {
        self.ingest.fully_read() && self.queries.iter().all(|q| q.skipped.is_none())
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
