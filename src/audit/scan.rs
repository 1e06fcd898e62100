//! The `audit` table: parallel, streaming ingest of audit sources into Arrow record batches, behind a
//! DataFusion `TableProvider` that decodes only the projected columns.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use serde::Serialize;

use super::batch::{BatchBuilder, RowMeta, cols_of, need_for};
use super::event::{Need, RawEvent, parse_rfc3339_micros};
use super::normalize;
use super::schema::{Col, audit_schema};
use super::source;
use super::source::{Chunk, ChunkReader, Format, SourceSpec};

/// How to read the sources.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Keep requests received at or after this instant (µs since the epoch, UTC).
    pub since_us: Option<i64>,
    /// Keep requests received before this instant.
    pub until_us: Option<i64>,
    /// Fail on the first malformed line instead of counting it.
    pub strict: bool,
    /// Parse workers (and DataFusion partitions).
    pub partitions: usize,
    /// Bytes per chunk handed to a worker.
    pub chunk_size: usize,
    /// Memory for the run and where it spills beyond that.
    pub memory: crate::memory::Budget,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            since_us: None,
            until_us: None,
            strict: false,
            partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            chunk_size: 4 << 20,
            memory: crate::memory::Budget::default(),
        }
    }
}

/// How many malformed lines are reported by location and reason.
pub const MAX_SAMPLES: usize = 10;

/// One malformed line (or document item) and why it was not read.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Malformed {
    pub source: String,
    pub reason: String,
    #[serde(skip)]
    key: (usize, u64),
}

/// What an ingest read, skipped and could not read.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct IngestStats {
    /// Sources (files, stdin) named.
    pub sources: usize,
    /// Non-empty lines (or document items) read.
    pub lines: u64,
    /// Rows in the `audit` table: one per request.
    pub events: u64,
    /// Lines that are not audit events (bad JSON, cut short, bad UTF-8, missing fields).
    pub malformed: u64,
    /// The first malformed lines, in input order.
    pub malformed_samples: Vec<Malformed>,
    /// `ResponseStarted` events whose `ResponseComplete` (same audit ID) is in the input: counted once.
    pub merged_started: u64,
    /// `RequestReceived` events: skipped, the later stage of the same request is counted.
    pub skipped_request_received: u64,
    /// Events delivered more than once (same `auditID`, `stage` and `stageTimestamp`, in any source):
    /// counted once.
    pub duplicates: u64,
    /// Records of a known export that are not Kubernetes API audit events (GKE entries of other
    /// services, AKS records of other categories, CloudWatch events of other log streams): skipped.
    pub not_audit: u64,
    /// Events outside `--since`/`--until`.
    pub outside_window: u64,
    /// Sources that could not be read, or not to their end.
    pub read_errors: Vec<String>,
}

impl IngestStats {
    /// True when every line of every source became a row (or was deliberately skipped).
    pub fn fully_read(&self) -> bool {
        self.malformed == 0 && self.read_errors.is_empty()
    }

    fn merge(&mut self, o: &IngestStats) {
        self.lines += o.lines;
        self.events += o.events;
        self.malformed += o.malformed;
        self.merged_started += o.merged_started;
        self.skipped_request_received += o.skipped_request_received;
        self.duplicates += o.duplicates;
        self.not_audit += o.not_audit;
        self.outside_window += o.outside_window;
        self.read_errors.extend(o.read_errors.iter().cloned());
        self.malformed_samples
            .extend(o.malformed_samples.iter().cloned());
        self.malformed_samples.sort_by_key(|m| m.key);
        self.malformed_samples.dedup();
        self.malformed_samples.truncate(MAX_SAMPLES);
    }
}

/// Errors that end a scan.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("malformed audit event at {location}: {reason} (--strict)")]
    Strict { location: String, reason: String },
    #[error("{0} (--strict)")]
    StrictRead(String),
    #[error("cannot start a parse worker: {0}")]
    Thread(std::io::Error),
}

/// A request that logged `ResponseStarted` and whose completion has not been seen (yet).
struct Pending {
    source: usize,
    /// `path:` or `path#` (document items), as the row's `source` starts.
    prefix: Box<str>,
    line: u64,
    bytes: Vec<u8>,
}

/// The events seen so far, to count an event delivered twice once. Each event is kept as a 64-bit
/// hash of its `auditID`, `stage` and `stageTimestamp` (about 10 to 20 bytes of memory per event;
/// two distinct events share a hash with a probability of about n²/2⁶⁵: 3·10⁻⁶ for 10 million
/// events), in shards so that parse workers rarely wait on each other.
struct Seen {
    shards: Vec<Shard>,
}

/// One shard on its own cache lines: workers inserting into different shards do not contend for
/// the same line.
#[repr(align(128))]
struct Shard(Mutex<HashSet<u64, foldhash::fast::FixedState>>);

impl Seen {
    const SHARDS: usize = 64;

    fn new() -> Self {
        Seen {
            shards: (0..Self::SHARDS)
                .map(|_| {
                    Shard(Mutex::new(HashSet::with_capacity_and_hasher(
                        4096,
                        foldhash::fast::FixedState::default(),
                    )))
                })
                .collect(),
        }
    }

    /// An event's key: a hash of its audit ID, stage and stage time (with a fixed seed, the same
    /// in every worker and every run).
    fn key(audit_id: &str, stage: &str, stage_ts: &str) -> u64 {
        use std::hash::BuildHasher;
        foldhash::quality::FixedState::with_seed(0x6b73_636f_7065)
            .hash_one((audit_id, stage, stage_ts))
    }

    fn shard(key: u64) -> usize {
        (key >> 58) as usize % Self::SHARDS
    }

    /// False when the same event was seen before.
    fn first(&self, key: u64) -> bool {
        lock(&self.shards[Self::shard(key)].0).insert(key)
    }

    /// [`Seen::first`] for the keys of a chunk's rows (None: not judged, kept), one lock per shard
    /// rather than one per event (two workers taking a lock per event spent a tenth of the scan
    /// passing the locks' cache lines between cores). Within a shard the keys go in row order, so
    /// the first of two equal rows is the one kept.
    fn first_all(&self, keys: &[Option<u64>]) -> Vec<bool> {
        let mut keep = vec![true; keys.len()];
        let mut order: Vec<(usize, usize, u64)> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, k)| k.map(|k| (Self::shard(k), i, k)))
            .collect();
        order.sort_unstable();
        for run in order.chunk_by(|a, b| a.0 == b.0) {
            let mut set = lock(&self.shards[run[0].0].0);
            for &(_, i, k) in run {
                keep[i] = set.insert(k);
            }
        }
        keep
    }
}

#[derive(Default)]
struct Dedup {
    completed: HashSet<Box<str>>,
    pending: HashMap<Box<str>, Pending>,
    merged: u64,
}

struct Shared {
    reader: Mutex<ChunkReader>,
    dedup: Mutex<Dedup>,
    seen: Seen,
    stats: Arc<Mutex<IngestStats>>,
    remaining: AtomicUsize,
    cols: Vec<Col>,
    need: Need,
    opts: ScanOptions,
    /// Per source: the prefix of `source` values for lines (`path:`) and document items (`path#`).
    prefixes: Vec<(String, String)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // a worker that panicked cannot leave these structures half-updated in a way that matters here
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The `audit` table over a set of sources. Every scan reads the sources again (use [`load`] to read
/// them once for many queries); [`AuditTable::stats`] reports the first planned scan.
pub struct AuditTable {
    sources: Vec<SourceSpec>,
    opts: ScanOptions,
    scans: Mutex<Vec<Arc<Mutex<IngestStats>>>>,
}

impl fmt::Debug for AuditTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditTable")
            .field("sources", &self.sources)
            .finish()
    }
}

impl AuditTable {
    pub fn new(sources: Vec<SourceSpec>, opts: ScanOptions) -> Self {
        AuditTable {
            sources,
            opts,
            scans: Mutex::new(Vec::new()),
        }
    }

    /// Statistics of the first scan (so far, if it is still running).
    pub fn stats(&self) -> IngestStats {
        match lock(&self.scans).first() {
            Some(s) => lock(s).clone(),
            None => IngestStats {
                sources: self.sources.len(),
                ..Default::default()
            },
        }
    }

    fn partitions(
        &self,
        cols: Vec<Col>,
    ) -> (Vec<Arc<dyn PartitionStream>>, Arc<Mutex<IngestStats>>) {
        let n = self.opts.partitions.max(1);
        let (shared, stats) = self.shared(cols, n);
        let schema = BatchBuilder::new(&shared.cols).schema();
        let parts = (0..n)
            .map(|_| {
                Arc::new(AuditPartition {
                    shared: shared.clone(),
                    schema: schema.clone(),
                }) as _
            })
            .collect();
        (parts, stats)
    }

    fn shared(&self, cols: Vec<Col>, n: usize) -> (Arc<Shared>, Arc<Mutex<IngestStats>>) {
        let stats = Arc::new(Mutex::new(IngestStats {
            sources: self.sources.len(),
            ..Default::default()
        }));
        let shared = Arc::new(Shared {
            reader: Mutex::new(ChunkReader::new(self.sources.clone(), self.opts.chunk_size)),
            dedup: Mutex::new(Dedup::default()),
            seen: Seen::new(),
            stats: stats.clone(),
            remaining: AtomicUsize::new(n),
            need: need_for(&cols),
            cols,
            opts: self.opts.clone(),
            prefixes: self
                .sources
                .iter()
                .map(|s| {
                    let l = s.label();
                    (format!("{l}:"), format!("{l}#"))
                })
                .collect(),
        });
        (shared, stats)
    }
}

/// Decodes the sources into rows of every column on one worker thread, without DataFusion: the
/// path a scan takes (format detection, per-line envelopes, stage merging), for fuzzing and tests.
/// Returns the number of rows and the ingest statistics.
pub fn decode_all(
    sources: Vec<SourceSpec>,
    opts: ScanOptions,
) -> Result<(usize, IngestStats), String> {
    let table = AuditTable::new(sources, opts);
    let (shared, stats) = table.shared(cols_of(None), 1);
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let worker = std::thread::Builder::new()
        .name("kscope-decode".into())
        .spawn(move || worker(&shared, &tx))
        .map_err(|e| e.to_string())?;
    let mut rows = 0;
    let mut first_error = None;
    while let Some(b) = rx.blocking_recv() {
        match b {
            Ok(b) => rows += b.num_rows(),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    worker
        .join()
        .map_err(|_| "the decode worker panicked".to_string())?;
    match first_error {
        Some(e) => Err(e),
        None => Ok((rows, lock(&stats).clone())),
    }
}

#[async_trait]
impl TableProvider for AuditTable {
    fn schema(&self) -> SchemaRef {
        audit_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let cols = cols_of(projection);
        let (parts, stats) = self.partitions(cols);
        lock(&self.scans).push(stats);
        let schema = parts
            .first()
            .map(|p| p.schema().clone())
            .unwrap_or_else(audit_schema);
        Ok(Arc::new(StreamingTableExec::try_new(
            schema,
            parts,
            None,
            Vec::new(),
            false,
            None,
        )?))
    }
}

struct AuditPartition {
    shared: Arc<Shared>,
    schema: SchemaRef,
}

impl fmt::Debug for AuditPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditPartition({} columns)", self.shared.cols.len())
    }
}

type BatchResult = datafusion::error::Result<RecordBatch>;

impl PartitionStream for AuditPartition {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (tx, rx) = tokio::sync::mpsc::channel::<BatchResult>(2);
        let shared = self.shared.clone();
        let spawned = std::thread::Builder::new()
            .name("kscope-parse".into())
            .spawn({
                let tx = tx.clone();
                move || worker(&shared, &tx)
            });
        if let Err(e) = spawned {
            let _ = tx.try_send(Err(DataFusionError::External(Box::new(ScanError::Thread(
                e,
            )))));
        }
        drop(tx);
        let stream =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) });
        Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), stream))
    }
}

fn external(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// One parse worker: takes chunks in turn, parses them into batches, sends them on.
fn worker(shared: &Shared, tx: &tokio::sync::mpsc::Sender<BatchResult>) {
    let mut builder = BatchBuilder::new(&shared.cols);
    let mut spent: Option<Vec<u8>> = None;
    loop {
        let next = {
            let mut reader = lock(&shared.reader);
            if let Some(buf) = spent.take() {
                reader.recycle(buf);
            }
            reader.next_chunk()
        };
        let chunk = match next {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(f) => {
                if shared.opts.strict {
                    let _ = tx.blocking_send(Err(external(ScanError::StrictRead(f.message))));
                    return;
                }
                tracing::debug!("{}", f.message); // printed once by the CLI with the other input problems
                let mut st = IngestStats::default();
                st.read_errors.push(f.message);
                lock(&shared.stats).merge(&st);
                continue;
            }
        };
        let mut local = IngestStats::default();
        if let Err(e) = parse_chunk(shared, &chunk, &mut builder, &mut local) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        // the rows whose event was delivered before (in this chunk or anywhere else) go
        let mut keys = std::mem::take(&mut builder.keys);
        keys.resize(builder.len(), None);
        let keep = shared.seen.first_all(&keys);
        let dropped = keep.iter().filter(|k| !**k).count() as u64;
        local.duplicates += dropped;
        local.events -= dropped;
        lock(&shared.stats).merge(&local);
        spent = Some(chunk.data);
        if !builder.is_empty() {
            let batch = builder.finish().map_err(DataFusionError::from);
            let batch = match batch {
                Ok(b) if dropped > 0 => datafusion::arrow::compute::filter_record_batch(
                    &b,
                    &datafusion::arrow::array::BooleanArray::from(keep),
                )
                .map_err(DataFusionError::from),
                other => other,
            };
            if tx.blocking_send(batch).is_err() {
                return; // the consumer is gone (LIMIT reached, or an error elsewhere)
            }
        }
    }
    // the last worker to finish emits the long-running requests whose completion never came
    if shared.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
        let (pending, merged) = {
            let mut d = lock(&shared.dedup);
            let mut p: Vec<Pending> = d.pending.drain().map(|(_, v)| v).collect();
            p.sort_by_key(|p| (p.source, p.line));
            (p, d.merged)
        };
        let mut local = IngestStats {
            merged_started: merged,
            ..Default::default()
        };
        for p in pending {
            // the bytes were read once already and are valid: this cannot fail
            if let Ok(ev) = RawEvent::parse(&p.bytes, &shared.need) {
                if let Ok((rr, st)) = times(&ev) {
                    builder.append(
                        &ev,
                        &RowMeta {
                            source: &p.prefix,
                            line: p.line,
                            request_received_us: rr,
                            stage_us: st,
                        },
                    );
                    local.events += 1;
                }
            }
        }
        lock(&shared.stats).merge(&local);
        if !builder.is_empty() {
            let _ = tx.blocking_send(builder.finish().map_err(DataFusionError::from));
        }
    }
}

/// The request's receipt and stage times in µs, or why they cannot be read.
fn times(ev: &RawEvent<'_>) -> Result<(i64, Option<i64>), String> {
    let rr_s = ev.request_received.as_deref().unwrap_or_default();
    let rr = parse_rfc3339_micros(rr_s)
        .ok_or_else(|| format!("invalid timestamp in `requestReceivedTimestamp`: {rr_s:?}"))?;
    let st = match ev.stage_timestamp.as_deref() {
        Some(s) => Some(
            parse_rfc3339_micros(s)
                .ok_or_else(|| format!("invalid timestamp in `stageTimestamp`: {s:?}"))?,
        ),
        None => None,
    };
    Ok((rr, st))
}

fn parse_chunk(
    shared: &Shared,
    chunk: &Chunk,
    builder: &mut BatchBuilder,
    local: &mut IngestStats,
) -> datafusion::error::Result<()> {
    let (line_prefix, item_prefix) = &shared.prefixes[chunk.source];
    let prefix = if chunk.items {
        item_prefix
    } else {
        line_prefix
    };
    let mut extracted = Vec::new();
    let data = &chunk.data[..];
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len()));
    for (n, end) in (chunk.first_line..).zip(ends) {
        let raw_line = &data[start.min(end)..end];
        start = end + 1;
        let line = trim(raw_line);
        if line.is_empty() {
            continue;
        }
        local.lines += 1;
        let malformed = |local: &mut IngestStats, reason: String| {
            record_malformed(shared, local, prefix, chunk.source, n, reason)
        };
        if let Some(reason) = line.strip_prefix(b"\x00") {
            if normalize::is_not_audit(reason) {
                local.not_audit += 1;
            } else {
                malformed(local, String::from_utf8_lossy(reason).into_owned())?;
            }
            continue;
        }
        let mut ctx = LineCtx {
            shared,
            source: chunk.source,
            n,
            prefix,
            builder: &mut *builder,
            local: &mut *local,
            extracted: &mut extracted,
        };
        // The line is read in the file's format; a line that does not fit it is read in the format
        // its own shape says (a file may mix envelopes line by line), and only a line that fits no
        // format is malformed.
        let mut result = decode_line(&mut ctx, chunk.format, line);
        if result.is_err() && chunk.format != Format::Document {
            let own = source::line_format(line);
            if own != chunk.format {
                result = decode_line(&mut ctx, own, line);
            }
        }
        if let Err(reason) = result {
            malformed(local, reason)?;
        }
    }
    Ok(())
}

/// Where one line is being decoded.
struct LineCtx<'a> {
    shared: &'a Shared,
    source: usize,
    n: u64,
    prefix: &'a str,
    builder: &'a mut BatchBuilder,
    local: &'a mut IngestStats,
    extracted: &'a mut Vec<normalize::Extracted>,
}

/// Decodes one line in `format`. `Err`: the line does not fit the format (the reason). Events of a
/// wrapper that fits but holds a bad event are counted as malformed here.
fn decode_line(c: &mut LineCtx<'_>, format: Format, line: &[u8]) -> Result<(), String> {
    match format {
        Format::AuditLines | Format::Document => {
            event(c.shared, c.source, c.n, line, c.prefix, c.builder, c.local)
        }
        Format::TimestampedLines => {
            if !source::is_timestamp_prefixed(line) {
                return Err(
                    "expected `<timestamp> <event JSON>` (CloudWatch Logs S3 export)".into(),
                );
            }
            let body = memchr::memchr(b' ', line)
                .map(|sp| &line[sp + 1..])
                .unwrap_or(line);
            event(c.shared, c.source, c.n, body, c.prefix, c.builder, c.local)
        }
        Format::WrappedLines => {
            let v =
                serde_json::from_slice::<serde_json::Value>(line).map_err(|e| wrapper_error(&e))?;
            c.extracted.clear();
            normalize::extract(v, c.extracted);
            if let [Err(reason)] = c.extracted.as_slice() {
                if !normalize::is_not_audit(reason.as_bytes()) {
                    return Err(reason.clone());
                }
            }
            // drained, not taken: the buffer is reused line after line
            for x in c.extracted.drain(..) {
                if let Err(reason) = &x {
                    if normalize::is_not_audit(reason.as_bytes()) {
                        c.local.not_audit += 1;
                        continue;
                    }
                }
                let r = x.and_then(|bytes| {
                    event(
                        c.shared, c.source, c.n, &bytes, c.prefix, c.builder, c.local,
                    )
                });
                if let Err(reason) = r {
                    if c.shared.opts.strict {
                        return Err(reason);
                    }
                    record_malformed(c.shared, c.local, c.prefix, c.source, c.n, reason)
                        .map_err(|e| e.to_string())?;
                }
            }
            Ok(())
        }
    }
}

fn record_malformed(
    shared: &Shared,
    local: &mut IngestStats,
    prefix: &str,
    source: usize,
    n: u64,
    reason: String,
) -> datafusion::error::Result<()> {
    if shared.opts.strict {
        return Err(external(ScanError::Strict {
            location: format!("{prefix}{n}"),
            reason,
        }));
    }
    local.malformed += 1;
    if local.malformed_samples.len() < MAX_SAMPLES {
        local.malformed_samples.push(Malformed {
            source: format!("{prefix}{n}"),
            reason,
            key: (source, n),
        });
    }
    Ok(())
}

fn wrapper_error(e: &serde_json::Error) -> String {
    if e.is_eof() {
        format!("truncated JSON: {e} (an entry cut short?)")
    } else if e.to_string().contains("UTF-8") {
        format!("invalid UTF-8: {e}")
    } else {
        format!("invalid JSON: {e}")
    }
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., last] = b {
        if last.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    while let [first, rest @ ..] = b {
        if first.is_ascii_whitespace() {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// Decodes one event and appends it, unless it is outside the window or another stage of a request
/// that is counted elsewhere. `Err` holds the reason the line is malformed.
fn event(
    shared: &Shared,
    source: usize,
    line_no: u64,
    line: &[u8],
    prefix: &str,
    builder: &mut BatchBuilder,
    local: &mut IngestStats,
) -> Result<(), String> {
    let Ok(text) = simdutf8::basic::from_utf8(line) else {
        let at = simdutf8::compat::from_utf8(line)
            .err()
            .map(|e| e.valid_up_to())
            .unwrap_or(0);
        return Err(format!("invalid UTF-8 at byte {at}"));
    };
    let ev = RawEvent::parse_str(text, &shared.need).map_err(|e| e.to_string())?;
    let (rr, st) = times(&ev)?;
    if shared.opts.since_us.is_some_and(|s| rr < s) || shared.opts.until_us.is_some_and(|u| rr >= u)
    {
        local.outside_window += 1;
        return Ok(());
    }
    let id = ev.audit_id.as_deref().unwrap_or_default();
    if ev.stage.as_deref() == Some("RequestReceived") {
        local.skipped_request_received += 1;
        return Ok(());
    }
    // the same event delivered again; events without an audit ID cannot be told apart, and an
    // event without a stage timestamp (GKE) is told apart by its receipt time. The stages of a
    // long-running request are judged at once (they are merged below); any other row is judged
    // with the rest of its chunk ([`Seen::first_all`]).
    let key = (!id.is_empty()).then(|| {
        Seen::key(
            id,
            ev.stage.as_deref().unwrap_or_default(),
            ev.stage_timestamp
                .as_deref()
                .or(ev.request_received.as_deref())
                .unwrap_or_default(),
        )
    });
    let long = ev.stage.as_deref() == Some("ResponseStarted") || ev.is_long_running();
    if long && key.is_some_and(|k| !shared.seen.first(k)) {
        local.duplicates += 1;
        return Ok(());
    }
    match ev.stage.as_deref() {
        Some("ResponseStarted") => {
            let mut d = lock(&shared.dedup);
            if d.completed.remove(id) {
                d.merged += 1;
            } else {
                d.pending.insert(
                    id.into(),
                    Pending {
                        source,
                        prefix: prefix.into(),
                        line: line_no,
                        bytes: line.to_vec(),
                    },
                );
            }
            return Ok(());
        }
        _ => {
            if ev.is_long_running() {
                let mut d = lock(&shared.dedup);
                if d.pending.remove(id).is_some() {
                    d.merged += 1;
                } else {
                    d.completed.insert(id.into());
                }
            }
        }
    }
    // rows appended without a key (the long-running requests emitted at the end) are kept
    let rows = builder.len();
    builder.keys.resize(rows, None);
    builder.keys.push(if long { None } else { key });
    builder.append(
        &ev,
        &RowMeta {
            source: prefix,
            line: line_no,
            request_received_us: rr,
            stage_us: st,
        },
    );
    local.events += 1;
    Ok(())
}

/// One stream per partition of a scan of the sources keeping only `columns` (indexes into the
/// `audit` schema), their schema, and the scan's statistics (complete once every stream ended).
pub fn streams(
    table: &AuditTable,
    columns: Option<Vec<usize>>,
    ctx: Arc<TaskContext>,
) -> (
    SchemaRef,
    Vec<SendableRecordBatchStream>,
    Arc<Mutex<IngestStats>>,
) {
    let cols = cols_of(columns.as_ref());
    let (parts, stats) = table.partitions(cols);
    let schema = parts
        .first()
        .map(|p| p.schema().clone())
        .unwrap_or_else(audit_schema);
    let streams = parts.iter().map(|p| p.execute(ctx.clone())).collect();
    (schema, streams, stats)
}

/// The statistics behind a handle from [`streams`].
pub fn stats_of(stats: &Mutex<IngestStats>) -> IngestStats {
    lock(stats).clone()
}
