//! Per-hour partial aggregates over the Parquet store, computed once and reused.
//!
//! Most queries aggregate rows of `audit` after filtering and projecting them. DataFusion runs such
//! an aggregation in two steps: a *partial* aggregate next to the scan (one state per group per
//! input partition) and a *final* one that merges the states. A partial aggregate whose input is
//! only a scan, filters and projections can be computed for each hour partition of the store on
//! its own, and the states of the hours merged later give the same answer as one pass over all of
//! them. So the first report over an hour computes the states of its partial aggregates and writes
//! them next to the data (`_kscope/partials/KEY/cluster=…/date=…/hour=…/FILES.parquet`); later
//! reports read those few rows instead of the hour's requests, and only the final steps run.
//!
//! - KEY is a hash of the partial aggregate's plan without its file list (the query, its
//!   parameters and the filters below the aggregate, kscope's version): another query or other
//!   parameters use other states.
//! - FILES is a hash of the hour's data files (names and sizes): re-ingesting an hour replaces its
//!   files, so stale states are never read; they are deleted when the hour's new states are written.
//! - Only whole hours: a selection that cuts an hour (`--since 10:30`) filters rows below the
//!   aggregate, and such plans are not cached (see `Selection::whole_hours`).
//! - Plans with anything else below the aggregate (a join, a window, a sort, a non-deterministic
//!   function) run as they are, over the store.
//! - Failing to write states (a read-only store) is a warning: the query runs over the data.
//! - Each KEY directory holds a marker naming the kscope version that wrote it. States of other
//!   versions can never be read again (the version is part of KEY): `ingest` deletes them
//!   ([`prune`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutPayload};

use crate::store::Store;

use super::eligible::*;

/// Where the states live, below the store root.
pub const DIR: &str = "_kscope/partials";

/// The marker, in each KEY directory, of the kscope version that wrote its states.
const MARK: &str = concat!("written-by-kscope-", env!("CARGO_PKG_VERSION"));

/// What the partial-aggregate cache did during a run.
#[derive(Debug, Default)]
pub struct Counters {
    /// Hour states read from the cache (kept by an earlier run, or computed earlier in this one).
    pub hits: AtomicU64,
    /// Hour states computed (and written) in this run.
    pub computed: AtomicU64,
    /// Partial aggregates that could not use states (they run over the data).
    pub live: AtomicU64,
}

/// The cache over one store.
pub struct Partials {
    store: Store,
    pub counters: Counters,
    /// Set once writing failed (warned once; queries then read the data).
    read_only: AtomicBool,
    /// Hour states being computed or found in this run, by path.
    inflight: tokio::sync::Mutex<std::collections::HashMap<String, Arc<StateCell>>>,
    /// KEY directories whose version marker this run has written.
    marked: tokio::sync::Mutex<std::collections::HashSet<String>>,
}

/// An hour's state file once known (`None`: it could not be kept).
type StateCell = tokio::sync::OnceCell<Option<PartitionedFile>>;

impl Partials {
    pub fn new(store: &Store) -> Self {
        Partials {
            store: store.clone(),
            counters: Counters::default(),
            read_only: AtomicBool::new(false),
            inflight: Default::default(),
            marked: Default::default(),
        }
    }

    /// `plan` with every cacheable partial aggregate replaced by a scan of its per-hour states.
    pub async fn substitute(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        task: &Arc<TaskContext>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        // collect the candidates first (TreeNode rewrites are synchronous), then rewrite
        let mut found: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        plan.apply(|node| {
            if candidate(node).is_some() {
                found.push(node.clone());
                return Ok(datafusion::common::tree_node::TreeNodeRecursion::Jump);
            }
            Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
        })?;
        if found.is_empty() {
            return Ok(plan);
        }
        let mut replaced: Vec<(Arc<dyn ExecutionPlan>, Arc<dyn ExecutionPlan>)> = Vec::new();
        for node in found {
            match self.replacement(&node, task).await? {
                Some(r) => replaced.push((node, r)),
                None => {
                    self.counters.live.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let n = replaced.len() as u64;
        let out = plan
            .clone()
            .transform_down(|node| {
                match replaced.iter().find(|(old, _)| Arc::ptr_eq(old, &node)) {
                    Some((_, new)) => Ok(Transformed::new(
                        new.clone(),
                        true,
                        datafusion::common::tree_node::TreeNodeRecursion::Jump,
                    )),
                    None => Ok(Transformed::no(node)),
                }
            })?
            .data;
        // the states have no order: a plan with an operator above that relied on the scan's
        // order (the store's rows are sorted by time) runs as planned, over the data
        match requirements_met(out, task.session_config().options()) {
            Ok(p) => Ok(p),
            Err(e) => {
                tracing::debug!("partial aggregates not used: {e}");
                self.counters.live.fetch_add(n, Ordering::Relaxed);
                Ok(plan)
            }
        }
    }

    /// The replacement of a candidate aggregate, or `None` when it cannot use states.
    async fn replacement(
        &self,
        node: &Arc<dyn ExecutionPlan>,
        task: &Arc<TaskContext>,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(agg) = candidate(node) else {
            return Ok(None);
        };
        // a single-step aggregate is split into partial and final, as the planner does for
        // several input partitions
        let (partial, single) = match agg.mode() {
            AggregateMode::Partial => (node.clone(), false),
            _ => (
                Arc::new(AggregateExec::try_new(
                    AggregateMode::Partial,
                    agg.group_expr().clone(),
                    agg.aggr_expr().to_vec(),
                    agg.filter_expr().to_vec(),
                    agg.input().clone(),
                    agg.input_schema(),
                )?) as Arc<dyn ExecutionPlan>,
                true,
            ),
        };
        let Some(Chain { scan, one_cluster }) = chain(partial.children()[0]) else {
            return Ok(None);
        };
        let text = displayable(partial.as_ref()).indent(true).to_string();
        if VOLATILE.iter().any(|v| text.contains(v)) {
            return Ok(None);
        }
        let key = hash_hex(&format!(
            "{}\n{}",
            env!("CARGO_PKG_VERSION"),
            strip_files(&text)
        ));
        tracing::trace!("partial aggregate {key}:\n{}", strip_files(&text));
        // the scan's files by hour directory (a file split into ranges counted once)
        let mut hours: BTreeMap<String, BTreeMap<String, PartitionedFile>> = BTreeMap::new();
        for group in &scan.file_groups {
            for f in group.iter() {
                let loc = f.object_meta.location.clone();
                let rel = self.store.relative(&loc);
                let Some((dir, _)) = rel.rsplit_once('/') else {
                    return Ok(None);
                };
                if !dir.starts_with("cluster=") {
                    return Ok(None);
                }
                let mut whole = PartitionedFile::new_from_meta(f.object_meta.clone());
                whole.partition_values = f.partition_values.clone();
                hours.entry(dir.to_string()).or_default().insert(rel, whole);
            }
        }
        if hours.is_empty() {
            return Ok(None);
        }
        // an aggregate below whose groups would span clusters of the same hour
        let clusters: std::collections::BTreeSet<&str> =
            hours.keys().filter_map(|d| d.split('/').next()).collect();
        if one_cluster && clusters.len() > 1 {
            return Ok(None);
        }
        let mut states: Vec<PartitionedFile> = Vec::new();
        for (dir, files) in &hours {
            let id = hash_hex(
                &files
                    .iter()
                    .map(|(rel, f)| format!("{rel}:{}\n", f.object_meta.size))
                    .collect::<String>(),
            );
            let at = self.store.path(&format!("{DIR}/{key}/{dir}/{id}.parquet"));
            // one computation per hour state and run, however many queries (or uses in one
            // query) need it at once
            let cell = self
                .inflight
                .lock()
                .await
                .entry(at.to_string())
                .or_default()
                .clone();
            let mut computed = false;
            let state = cell
                .get_or_try_init(|| async {
                    match self.store.objects.head(&at).await {
                        Ok(meta) => return Ok(Some(PartitionedFile::new_from_meta(meta))),
                        Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(DataFusionError::ObjectStore(Box::new(e))),
                    }
                    if self.read_only.load(Ordering::Relaxed) {
                        return Ok(None);
                    }
                    let group: Vec<PartitionedFile> = files.values().cloned().collect();
                    let one_hour = rebuild(&partial, &scan, group)?;
                    let batches =
                        datafusion::physical_plan::collect(one_hour, task.clone()).await?;
                    computed = true;
                    let body = to_parquet(&partial.schema(), &batches)?;
                    let size = body.len() as u64;
                    match self.write(&key, dir, &at, body).await {
                        Ok(()) => Ok(Some(PartitionedFile::new(at.to_string(), size))),
                        Err(e) => {
                            if !self.read_only.swap(true, Ordering::Relaxed) {
                                tracing::warn!(
                                    "store {}: cannot keep partial aggregates ({e}); queries read the data",
                                    self.store.spec
                                );
                            }
                            Ok(None)
                        }
                    }
                })
                .await?;
            let Some(state) = state.clone() else {
                return Ok(None);
            };
            let counter = if computed {
                &self.counters.computed
            } else {
                &self.counters.hits
            };
            counter.fetch_add(1, Ordering::Relaxed);
            states.push(state);
        }
        let parts = partial.properties().output_partitioning().partition_count();
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); parts.clamp(1, states.len())];
        let n = groups.len();
        for (i, f) in states.into_iter().enumerate() {
            groups[i % n].push(f);
        }
        let source = ParquetSource::new(partial.schema());
        let config = FileScanConfigBuilder::new(scan.object_store_url.clone(), Arc::new(source))
            .with_file_groups(groups.into_iter().map(FileGroup::new).collect())
            .build();
        let states: Arc<dyn ExecutionPlan> = DataSourceExec::from_data_source(config);
        if !single {
            return Ok(Some(states));
        }
        // the final step of a split single-step aggregate
        let merged = Arc::new(CoalescePartitionsExec::new(states));
        Ok(Some(Arc::new(AggregateExec::try_new(
            AggregateMode::Final,
            agg.group_expr().as_final(),
            agg.aggr_expr().to_vec(),
            agg.filter_expr().to_vec(),
            merged,
            agg.input_schema(),
        )?)))
    }

    /// Writes one hour's states and deletes that hour's older ones (other data files).
    async fn write(
        &self,
        key: &str,
        dir: &str,
        at: &ObjPath,
        body: Vec<u8>,
    ) -> std::result::Result<(), object_store::Error> {
        let objects = &self.store.objects;
        if self.marked.lock().await.insert(key.to_string()) {
            let mark = self.store.path(&format!("{DIR}/{key}/{MARK}"));
            objects.put(&mark, PutPayload::new()).await?;
        }
        let prefix = self.store.path(&format!("{DIR}/{key}/{dir}"));
        let old: Vec<_> = objects.list(Some(&prefix)).try_collect().await?;
        objects.put(at, PutPayload::from(body)).await?;
        for o in old {
            if &o.location != at {
                let _ = objects.delete(&o.location).await;
            }
        }
        Ok(())
    }
}

/// Deletes the states that kscope versions other than this one wrote (KEY directories without
/// this version's marker): the number of files deleted.
pub async fn prune(store: &Store) -> std::result::Result<u64, object_store::Error> {
    let objects = &store.objects;
    let keys = objects
        .list_with_delimiter(Some(&store.path(DIR)))
        .await?
        .common_prefixes;
    let mut deleted = 0;
    for key in keys {
        match objects.head(&key.clone().join(MARK)).await {
            Ok(_) => continue,
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
        let files: Vec<_> = objects.list(Some(&key)).try_collect().await?;
        for f in files {
            objects.delete(&f.location).await?;
            deleted += 1;
        }
        // a local store keeps the emptied directories otherwise
        if let (Some(dir), Some(name)) = (&store.local, key.filename()) {
            let _ = std::fs::remove_dir_all(dir.join(DIR).join(name));
        }
    }
    Ok(deleted)
}

fn to_parquet(
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[datafusion::arrow::record_batch::RecordBatch],
) -> Result<Vec<u8>> {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::Compression;
    use datafusion::parquet::file::properties::WriterProperties;
    let props = WriterProperties::builder()
        .set_compression(Compression::LZ4_RAW)
        .build();
    let mut w = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props))?;
    for b in batches {
        w.write(b)?;
    }
    Ok(w.into_inner()?)
}
