//! Audit evidence: callers of removed and deprecated API versions, found by joining the audit
//! table with the API removal table (`removed-api-callers.sql`).

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::Value;

use crate::analysis::{self, AnalysisError};
use crate::audit::scan::{IngestStats, ScanOptions};
use crate::audit::source::SourceSpec;
use crate::inventory::Version;
use crate::rules::apis::{self, Removal};
use crate::table::Table;

pub const SQL: &str = include_str!("removed-api-callers.sql");

/// One client's requests to one removed or deprecated group/version/resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditUse {
    pub group: String,
    pub version: String,
    pub resource: String,
    pub client: String,
    pub user: String,
    pub user_agent: String,
    pub requests: u64,
    pub first_seen: String,
    pub last_seen: String,
    /// `k8s.io/removed-release`, when the API server annotated the requests.
    pub removed_release: Option<String>,
    /// Where one of the requests was read (`file:line`).
    pub example: String,
}

impl AuditUse {
    /// A removal known only from the API server's annotation (an API kscope's table does not
    /// list): deprecated by the current version, removed in the annotated release.
    pub fn annotated_removal(&self, current: Version) -> Option<Removal> {
        let removed = Version::parse(self.removed_release.as_deref()?)?;
        Some(Removal {
            api_version: if self.group.is_empty() {
                self.version.clone()
            } else {
                format!("{}/{}", self.group, self.version)
            },
            kind: self.resource.clone(),
            deprecated: current.min(removed),
            removed: Some(removed),
            replacement: None,
            since: None,
            stage: if self.version.contains("alpha") {
                apis::Stage::Alpha
            } else {
                apis::Stage::Beta
            },
            control_plane_writes: false,
        })
    }
}

/// The removal table as an Arrow batch: api_group, api_version, resource, kind, writer
/// (`control-plane` for kinds the control plane writes itself).
fn removals_batch() -> Result<RecordBatch, AnalysisError> {
    let table = apis::table().map_err(|e| {
        AnalysisError::DataFusion(datafusion::error::DataFusionError::Plan(e.to_string()))
    })?;
    let mut cols: [Vec<String>; 5] = Default::default();
    for r in &table.rows {
        let (g, v) = r.group_version();
        cols[0].push(g.to_string());
        cols[1].push(v.to_string());
        cols[2].push(r.resource());
        cols[3].push(r.kind.clone());
        cols[4].push(
            if r.control_plane_writes {
                "control-plane"
            } else {
                ""
            }
            .to_string(),
        );
    }
    let schema = Arc::new(Schema::new(
        ["api_group", "api_version", "resource", "kind", "writer"]
            .iter()
            .map(|n| Field::new(*n, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let arrays = cols
        .into_iter()
        .map(|c| Arc::new(StringArray::from(c)) as _)
        .collect();
    RecordBatch::try_new(schema, arrays).map_err(|e| {
        AnalysisError::DataFusion(datafusion::error::DataFusionError::ArrowError(
            Box::new(e),
            None,
        ))
    })
}

fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(o) => o.to_string(),
    }
}

fn rows(t: &Table) -> Vec<AuditUse> {
    let col = |name: &str| t.columns.iter().position(|c| c == name);
    let idx: Vec<Option<usize>> = [
        "api_group",
        "api_version",
        "resource",
        "client",
        "user_name",
        "user_agent",
        "requests",
        "first_seen",
        "last_seen",
        "removed_release",
        "example",
    ]
    .iter()
    .map(|c| col(c))
    .collect();
    t.rows
        .iter()
        .map(|r| {
            let at = |i: usize| idx[i].and_then(|c| r.get(c));
            AuditUse {
                group: text(at(0)),
                version: text(at(1)),
                resource: text(at(2)),
                client: text(at(3)),
                user: text(at(4)),
                user_agent: text(at(5)),
                requests: at(6).and_then(Value::as_u64).unwrap_or(0),
                first_seen: text(at(7)),
                last_seen: text(at(8)),
                removed_release: Some(text(at(9))).filter(|s| !s.is_empty()),
                example: text(at(10)),
            }
        })
        .collect()
}

/// The evidence query over the selected part of a Parquet store.
pub async fn callers_store(
    store: &crate::store::Store,
    sel: &crate::store::Selection,
    opts: ScanOptions,
) -> Result<(Vec<AuditUse>, IngestStats), AnalysisError> {
    let (t, stats) = analysis::sql_store(
        store,
        sel,
        opts,
        SQL,
        vec![("api_removals", removals_batch()?)],
        None,
    )
    .await?;
    Ok((rows(&t), stats))
}

/// Streams the audit sources once through the evidence query.
pub async fn callers(
    sources: Vec<SourceSpec>,
    opts: ScanOptions,
) -> Result<(Vec<AuditUse>, IngestStats), AnalysisError> {
    let (t, stats) = analysis::sql_with(
        sources,
        opts,
        SQL,
        vec![("api_removals", removals_batch()?)],
    )
    .await?;
    Ok((rows(&t), stats))
}
