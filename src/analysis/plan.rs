//! Binding queries' parameters and planning them before any input is read: a bad query fails
//! first, and the plans say which columns of `audit` to load.

use super::*;

/// Queries with their bound SQL and parameter values (each planned where it runs).
pub(crate) type Bound<'a> = Vec<(&'a Query, String, query::Values)>;

/// The error of query `q` failing to plan or run.
pub(crate) fn failed(
    q: &Query,
) -> impl Fn(datafusion::error::DataFusionError) -> AnalysisError + '_ {
    move |source| AnalysisError::Query {
        code: q.code.clone(),
        file: q.file.clone(),
        source,
    }
}

/// Binds every query's parameters (and the fleet key).
pub(crate) fn bind_all<'a>(queries: &[&'a Query], params: &Overrides, fleet: bool) -> Bound<'a> {
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
pub(crate) async fn plan_all<'a>(
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

/// The columns of `audit` a plan reads (from its table scans), for loading only those.
pub(crate) fn scanned_columns(
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
