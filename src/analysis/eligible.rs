//! Which partial aggregates of a physical plan can be kept per hour: an aggregate over only a
//! scan, filters and projections of row-local, deterministic expressions, with its requirements
//! met; the plan rebuilt over one hour's files; the key of a state (the plan without its files).

use std::sync::Arc;

use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{ExecutionPlan, Partitioning};

/// `plan` if every operator's distribution and sort requirements are met by its inputs.
/// (Enforcing them again, with DataFusion's `EnsureRequirements`, is not idempotent on an
/// optimized plan: measured, it dropped a final sort.)
pub(super) fn requirements_met(
    plan: Arc<dyn ExecutionPlan>,
    config: &datafusion::config::ConfigOptions,
) -> Result<Arc<dyn ExecutionPlan>> {
    use datafusion::physical_optimizer::PhysicalOptimizerRule;
    use datafusion::physical_optimizer::sanity_checker::SanityCheckPlan;
    SanityCheckPlan::new().optimize(plan, config)
}

/// Functions whose value differs between runs: a plan with one is never cached. The APF estimate
/// depends on the run's inputs (objects, counts, version), which the plan does not show.
pub(super) const VOLATILE: [&str; 6] = [
    "now()",
    "random()",
    "uuid()",
    "current_date",
    "current_time",
    crate::apf::udf::FUNCTION,
];

/// `node` as an aggregate that may use states: a partial (or single-step) aggregate over a scan of
/// the store with only operators that commute with splitting it by hour between (see [`chain`]).
pub(super) fn candidate(node: &Arc<dyn ExecutionPlan>) -> Option<&AggregateExec> {
    let agg = node.downcast_ref::<AggregateExec>()?;
    if !matches!(agg.mode(), AggregateMode::Partial | AggregateMode::Single) {
        return None;
    }
    if agg.limit_options().is_some() {
        return None;
    }
    chain(agg.input())?;
    Some(agg)
}

/// What lies below a candidate aggregate: its one file scan, and whether an hour-local aggregate
/// in between needs the scan to read one cluster (see [`hour_local`]).
pub(super) struct Chain {
    pub(super) scan: FileScanConfig,
    pub(super) one_cluster: bool,
}

/// The one file scan below a chain of operators that commute with splitting the scan by hour
/// partition: row-local ones, partial aggregates, and aggregates whose groups never span two
/// hours (with the repartitioning that feeds them).
pub(super) fn chain(plan: &Arc<dyn ExecutionPlan>) -> Option<Chain> {
    if let Some(ds) = plan.downcast_ref::<DataSourceExec>() {
        let config = ds.data_source().downcast_ref::<FileScanConfig>()?;
        if config.limit.is_some() {
            return None;
        }
        config.file_source.downcast_ref::<ParquetSource>()?;
        return Some(Chain {
            scan: config.clone(),
            one_cluster: false,
        });
    }
    if let Some(r) = plan.downcast_ref::<RepartitionExec>() {
        if !matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)) {
            return None;
        }
    } else if let Some(agg) = plan.downcast_ref::<AggregateExec>() {
        if agg.limit_options().is_some() {
            return None;
        }
        if *agg.mode() != AggregateMode::Partial {
            // a complete aggregate: only if its groups never span two hours; then the hash
            // repartitioning (or merge) that feeds it is below it in the chain too
            let one_cluster = !hour_local(agg)?;
            let input = agg.input();
            let below = if input.downcast_ref::<RepartitionExec>().is_some()
                || input.downcast_ref::<CoalescePartitionsExec>().is_some()
            {
                input.children().first().map(|c| (*c).clone())?
            } else {
                input.clone()
            };
            let mut c = chain(&below)?;
            c.one_cluster |= one_cluster;
            return Some(c);
        }
    } else if !ROW_LOCAL.contains(&plan.name()) {
        return None;
    }
    match plan.children().as_slice() {
        [child] => chain(child),
        _ => None,
    }
}

/// For a complete aggregate: `Some(with_cluster)` when its groups never span two hour partitions,
/// that is, one of its grouping keys is the request time truncated to an hour or less (the store
/// partitions rows by the hour of that time) and there are no grouping sets; `with_cluster` says
/// whether `cluster` is a key too (else the aggregate is hour-local only over one cluster).
pub(super) fn hour_local(agg: &AggregateExec) -> Option<bool> {
    static BUCKET: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r#"^date_trunc\(Utf8\("(hour|minute|second|millisecond|microsecond)"\),(\w+\.)?request_received_ts\)$"#,
        )
        .ok()
    });
    let group = agg.group_expr();
    if !group.is_single() {
        return None;
    }
    let names: Vec<&str> = group.expr().iter().map(|(_, n)| n.as_str()).collect();
    let bucket = BUCKET.as_ref()?;
    if !names.iter().any(|n| bucket.is_match(n)) {
        return None;
    }
    Some(
        names
            .iter()
            .any(|n| *n == "cluster" || n.ends_with(".cluster")),
    )
}

/// Operators that work row by row (or batch by batch) and so commute with splitting by hour.
pub(super) const ROW_LOCAL: [&str; 4] = [
    "ProjectionExec",
    "FilterExec",
    "CoalesceBatchesExec",
    "CooperativeExec",
];

/// `partial` over one hour's files: the same operators, the scan limited to `files`, and no
/// repartitioning or merging (one partition is enough for an hour).
pub(super) fn rebuild(
    partial: &Arc<dyn ExecutionPlan>,
    scan: &FileScanConfig,
    files: Vec<PartitionedFile>,
) -> Result<Arc<dyn ExecutionPlan>> {
    fn walk(
        node: &Arc<dyn ExecutionPlan>,
        scan: &FileScanConfig,
        files: &[PartitionedFile],
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if node.downcast_ref::<DataSourceExec>().is_some() {
            let mut config = scan.clone();
            config.file_groups = vec![FileGroup::new(files.to_vec())];
            config.output_partitioning = None;
            return Ok(DataSourceExec::from_data_source(config));
        }
        let children: Vec<Arc<dyn ExecutionPlan>> = node
            .children()
            .into_iter()
            .map(|c| walk(c, scan, files))
            .collect::<Result<_>>()?;
        if node.downcast_ref::<RepartitionExec>().is_some()
            || node.downcast_ref::<CoalescePartitionsExec>().is_some()
        {
            return children
                .into_iter()
                .next()
                .ok_or_else(|| DataFusionError::Internal("repartition without input".into()));
        }
        datafusion::physical_plan::replace_children_if_necessary(node.clone(), children)
    }
    walk(partial, scan, &files)
}

/// A plan's text without the scan's file list (the states of each hour are stored apart).
pub(super) fn strip_files(text: &str) -> String {
    static FILES: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"file_groups=\{[^}]*\}").ok());
    match FILES.as_ref() {
        Some(re) => re.replace_all(text, "").into_owned(),
        None => text.to_string(),
    }
}

/// 16 hex digits of a stable hash (FNV-1a, 64 bits): names, not security.
pub(super) fn hash_hex(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_ignores_which_files_a_plan_reads_and_nothing_else() {
        let a = "AggregateExec: mode=Partial\n  DataSourceExec: file_groups={2 groups: [[a/x.parquet:0..10], [a/y.parquet]]}, projection=[verb]";
        let b = "AggregateExec: mode=Partial\n  DataSourceExec: file_groups={1 group: [[b/z.parquet]]}, projection=[verb]";
        let c = "AggregateExec: mode=Partial\n  DataSourceExec: file_groups={1 group: [[b/z.parquet]]}, projection=[user_name]";
        assert_eq!(strip_files(a), strip_files(b));
        assert_ne!(strip_files(b), strip_files(c));
        assert_ne!(hash_hex(&strip_files(b)), hash_hex(&strip_files(c)));
        assert_eq!(hash_hex("x").len(), 16);
    }
}
