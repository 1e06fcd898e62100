//! Amazon CloudWatch Logs as an audit source (EKS control-plane logging).
//!
//! 1. Discover: the log group (`/aws/eks/<cluster>/cluster` unless given) and, with
//!    DescribeLogStreams, every audit stream (`kube-apiserver-audit-<32 hex>`) whose events overlap
//!    the window. EKS runs at least two API servers and rotates streams, so there are several.
//! 2. Plan: cut each stream into UTC-hour slices clipped to the window. A slice is the unit of
//!    caching: a later report over an overlapping window reuses the hours it has.
//! 3. Download: the slices not in the cache are grouped into runs, consecutive slices of one stream
//!    (about two per `--parallel` task). Each run is one token chain, read with GetLogEvents or
//!    FilterLogEvents (separate quotas: the operation is chosen as the run starts, see
//!    [`choose_op`]); every event is written to the slice its timestamp falls in. GetLogEvents
//!    (`startFromHead`) reads from the run's start to an hour past its end (within the stream's
//!    slices) and stops at the first page that crosses the run's end (events come earliest
//!    first), or when the service returns the token it was sent (the end of what it may read);
//!    FilterLogEvents is bounded by the run and ends when no token comes back. Runs go in
//!    parallel; all share one [`limiter::RateLimiter`] per operation. Events are kept by their
//!    place in the stream (token paging), never by a time cursor, so events that share a
//!    millisecond are all kept; bounds are half-open and re-checked on the client (moto's
//!    `endTime` is inclusive, the service's exclusive), so a boundary event lands in exactly one
//!    slice.
//! 4. Cache: every page is appended to the slices' files and checkpointed with the run's token (see
//!    [`cache`]); a settled slice is reused later, an interrupted run resumes from its last token.
//!
//! The cached files are ordinary audit JSON lines: the report reads them like any other file, so
//! CloudWatch and files go through exactly the same analyses.

pub mod aws;
pub mod cache;
pub mod limiter;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs as cwl;
use futures::StreamExt;
use serde::Serialize;

use aws::{Caller, ClientOptions, Failure, Op, classify};
use cache::{Cache, CacheError, SliceState, SliceWriter};

pub const HOUR_MS: i64 = 3_600_000;
/// The stream prefix of EKS API-server audit logs; the full name adds 32 hex digits.
pub const AUDIT_PREFIX: &str = "kube-apiserver-audit-";

#[derive(Debug, thiserror::Error)]
pub enum CwError {
    #[error(
        "no AWS region: pass --region, or set AWS_REGION, or give the profile a region (--profile)"
    )]
    NoRegion,
    #[error(
        "no usable AWS credentials: {0}. kscope reads them through the standard AWS chain: \
         environment (AWS_ACCESS_KEY_ID…), the shared config and credentials files (--profile, \
         SSO: run `aws sso login`), web identity, container and instance roles"
    )]
    Credentials(String),
    #[error("access denied: the caller needs IAM permission {action} on {on}: {message}")]
    AccessDenied {
        action: &'static str,
        on: String,
        message: String,
    },
    #[error(
        "{what} not found ({message}); is control-plane audit logging enabled for the cluster? \
         (EKS: `aws eks update-cluster-config --name NAME --logging '{{\"clusterLogging\":[{{\"types\":[\"audit\"],\"enabled\":true}}]}}'`)"
    )]
    NotFound { what: String, message: String },
    #[error("CloudWatch Logs {op} failed: {message}")]
    Api { op: &'static str, message: String },
    #[error(
        "cannot connect to {endpoint}: the connection was refused {attempts} times ({last}); \
         check --endpoint-url"
    )]
    Unreachable {
        endpoint: String,
        attempts: u32,
        last: String,
    },
    #[error("CloudWatch Logs {op}: gave up after {attempts} attempts; last error: {last}")]
    GaveUp {
        op: &'static str,
        attempts: u32,
        last: String,
    },
    #[error(
        "download incomplete: {done} of {total} slices finished, {events} events saved, {covered} \
         covered; progress is kept in the cache, run the same command again to resume. \
         First failure ({stream}): {first}"
    )]
    Incomplete {
        done: usize,
        total: usize,
        events: u64,
        covered: String,
        stream: String,
        first: Box<CwError>,
    },
    #[error("invalid time window: {0}")]
    Window(String),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// What to download and how.
#[derive(Debug, Clone)]
pub struct CwOptions {
    pub client: ClientOptions,
    /// EKS cluster name: the log group is `/aws/eks/<cluster>/cluster`.
    pub cluster: Option<String>,
    pub log_group: Option<String>,
    /// Stream name prefix; when not given, audit streams are `kube-apiserver-audit-<32 hex>`.
    pub stream_prefix: Option<String>,
    /// Half-open window, ms since the epoch.
    pub start_ms: i64,
    pub end_ms: i64,
    /// GetLogEvents requests per second; None: the default for the region.
    pub max_tps: Option<f64>,
    /// FilterLogEvents requests per second (a quota of its own, used beside GetLogEvents');
    /// None: [`DEFAULT_FILTER_TPS`]; 0: GetLogEvents only.
    pub max_filter_tps: Option<f64>,
    /// Slices downloaded at once.
    pub parallel: usize,
    pub max_retries: u32,
    /// Download again even what the cache holds.
    pub refresh: bool,
    pub cache: Cache,
    /// Draw a progress bar (stderr is a terminal).
    pub progress: bool,
}

impl CwOptions {
    pub fn log_group(&self) -> Result<String, CwError> {
        match (&self.log_group, &self.cluster) {
            (Some(g), _) => Ok(g.clone()),
            (None, Some(c)) => Ok(format!("/aws/eks/{c}/cluster")),
            (None, None) => Err(CwError::Window(
                "name the cluster (--cluster) or the log group (--log-group)".into(),
            )),
        }
    }
}

/// GetLogEvents quotas are per account and region: 25 TPS, 10 in some regions. kscope takes 80 %
/// of it by default, to leave room for other readers in the account.
pub fn default_get_tps(region: &str) -> f64 {
    if LOW_QUOTA_REGIONS.contains(&region) {
        8.0
    } else {
        20.0
    }
}

/// Regions assumed to have the lower (10 TPS) GetLogEvents quota.
pub const LOW_QUOTA_REGIONS: &[&str] = &["us-east-1", "us-west-2"];
/// FilterLogEvents quotas are per account and region too, 5 to 25 TPS by region and separate from
/// GetLogEvents'. kscope reads some runs with it, by default at 80 % of the lowest (5).
pub const DEFAULT_FILTER_TPS: f64 = 4.0;
/// DescribeLogStreams: quota 25 TPS; discovery needs few calls.
pub const DESCRIBE_TPS: f64 = 5.0;
/// Events per GetLogEvents page asked for (the service's maximum; it also stops at 1 MB).
pub const PAGE_LIMIT: i32 = 10_000;

/// One audit stream that overlaps the window.
#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    pub name: String,
    pub first_ms: i64,
    pub last_ms: i64,
}

/// What a fetch did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FetchStats {
    pub region: String,
    pub log_group: String,
    pub streams: Vec<StreamInfo>,
    /// Streams in the group that discovery left out (not audit streams, or outside the window).
    pub skipped_streams: usize,
    pub slices: usize,
    /// Token chains the slices to download were read through.
    pub runs: usize,
    /// Of them, read with FilterLogEvents.
    pub filter_runs: usize,
    pub slices_cached: usize,
    pub slices_resumed: usize,
    pub events: u64,
    pub events_downloaded: u64,
    pub bytes_downloaded: u64,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub max_tps: f64,
    pub seconds: f64,
}

/// The downloaded (or cached) slices, as audit files, and how they were obtained.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub files: Vec<PathBuf>,
    pub stats: FetchStats,
}

#[derive(Debug, Clone)]
struct Slice {
    stream: String,
    start_ms: i64,
    end_ms: i64,
}

/// Downloads (or takes from the cache) every audit event of the window.
pub async fn fetch(o: &CwOptions) -> Result<Fetched, CwError> {
    if o.start_ms >= o.end_ms {
        return Err(CwError::Window("the start must be before the end".into()));
    }
    let group = o.log_group()?;
    let started = Instant::now();
    let (client, region) = aws::connect(&o.client).await?;
    let max_tps = o.max_tps.unwrap_or_else(|| default_get_tps(&region));
    let endpoint = o
        .client
        .endpoint_url
        .clone()
        .unwrap_or_else(|| format!("the CloudWatch Logs endpoint of {region}"));
    let describe = Caller::new(Op::DescribeLogStreams, DESCRIBE_TPS, o.max_retries).at(&endpoint);
    let (streams, skipped) = discover(&client, &describe, &group, o).await?;
    tracing::info!(
        "{group} ({region}): {} audit stream(s) overlap the window, {skipped} other stream(s) skipped",
        streams.len()
    );
    let slices = plan(&streams, o.start_ms, o.end_ms);
    let mut stream_end = HashMap::new();
    for s in &slices {
        let e = stream_end.entry(s.stream.clone()).or_insert(s.end_ms);
        *e = (*e).max(s.end_ms);
    }
    let get = Arc::new(Caller::new(Op::GetLogEvents, max_tps, o.max_retries).at(&endpoint));
    let filter_tps = o.max_filter_tps.unwrap_or(DEFAULT_FILTER_TPS);
    let filter = (filter_tps > 0.0).then(|| {
        Arc::new(Caller::new(Op::FilterLogEvents, filter_tps, o.max_retries).at(&endpoint))
    });
    let progress = Progress::new(
        o.progress,
        o.end_ms - o.start_ms,
        slices.iter().map(|s| s.end_ms - s.start_ms).sum(),
    );
    let mut stats = FetchStats {
        region: region.clone(),
        log_group: group.clone(),
        streams: streams.clone(),
        skipped_streams: skipped,
        slices: slices.len(),
        max_tps,
        ..FetchStats::default()
    };

    let mut files = Vec::with_capacity(slices.len());
    let mut todo = Vec::new();
    for s in slices {
        let paths = o
            .cache
            .slice(&region, &group, &s.stream, s.start_ms, s.end_ms);
        let saved = cache::read_state(&paths.state);
        files.push(paths.data.clone());
        match saved {
            Some(st) if !o.refresh && st.settled() && paths.data.exists() => {
                stats.slices_cached += 1;
                stats.events += st.events;
                progress.add_events(st.events);
                progress.cover(s.end_ms - s.start_ms);
            }
            // an unfinished checkpoint may let its run resume
            saved => todo.push(Part {
                slice: s,
                paths,
                saved: saved.filter(|st| !o.refresh && !st.complete),
            }),
        }
    }
    let runs = runs(todo, RUNS_PER_TASK * o.parallel.max(1));
    for r in &runs {
        tracing::debug!(
            "run {} [{}, {}) {} slice(s){}",
            r.stream,
            r.start_ms,
            r.end_ms,
            r.parts.len(),
            r.resume
                .map(|op| format!(", resumes with {op:?}"))
                .unwrap_or_default()
        );
    }
    stats.runs = runs.len();
    stats.slices_resumed = runs
        .iter()
        .filter(|r| r.resume.is_some())
        .map(|r| r.parts.len())
        .sum();

    let total = stats.slices;
    let ctx = Arc::new(Ctx {
        client,
        region,
        group,
        get: get.clone(),
        filter: filter.clone(),
        filter_denied: AtomicBool::new(false),
        reading: [AtomicUsize::new(0), AtomicUsize::new(0)],
        filter_runs: AtomicUsize::new(0),
        stream_end,
        progress: progress.clone(),
    });
    type RunResult = (String, Result<Vec<(SliceState, u64)>, CwError>);
    let results: Vec<RunResult> = futures::stream::iter(runs.into_iter().map(|r| {
        let ctx = ctx.clone();
        async move {
            let stream = r.stream.clone();
            (stream, download_run(&ctx, r).await)
        }
    }))
    .buffer_unordered(o.parallel.max(1))
    .collect()
    .await;
    progress.finish();

    let callers = [Some(&describe), Some(&*get), filter.as_deref()];
    let sum = |f: fn(&Caller) -> &AtomicU64| -> u64 {
        callers
            .iter()
            .flatten()
            .map(|c| f(c).load(Ordering::Relaxed))
            .sum()
    };
    stats.filter_runs = ctx.filter_runs.load(Ordering::Relaxed);
    stats.requests = sum(|c| &c.requests);
    stats.retries = sum(|c| &c.retries);
    stats.throttled = sum(|c| &c.throttled);
    stats.bytes_downloaded = progress.bytes.load(Ordering::Relaxed);
    stats.seconds = started.elapsed().as_secs_f64();
    let mut first_err = None;
    let mut done = stats.slices_cached;
    for (stream, r) in results {
        match r {
            Ok(slices) => {
                for (st, new) in slices {
                    done += 1;
                    stats.events += st.events;
                    stats.events_downloaded += new;
                }
            }
            Err(e) => {
                if first_err.is_none() {
                    first_err = Some((stream, e));
                }
            }
        }
    }
    if let Some((stream, e)) = first_err {
        // a problem of the caller, not of one slice: say it plainly
        if matches!(e, CwError::AccessDenied { .. } | CwError::Credentials(_)) {
            return Err(e);
        }
        return Err(CwError::Incomplete {
            done,
            total,
            events: progress.events.load(Ordering::Relaxed),
            covered: progress.covered_text(),
            stream,
            first: Box::new(e),
        });
    }
    tracing::info!(
        "cloudwatch: {} events ({} downloaded, {} slices from cache), {} requests, {} retries ({} throttled) in {:.1}s",
        stats.events,
        stats.events_downloaded,
        stats.slices_cached,
        stats.requests,
        stats.retries,
        stats.throttled,
        stats.seconds
    );
    Ok(Fetched { files, stats })
}

/// Lists the group's streams and keeps the audit streams whose events overlap the window.
async fn discover(
    client: &cwl::Client,
    describe: &Caller,
    group: &str,
    o: &CwOptions,
) -> Result<(Vec<StreamInfo>, usize), CwError> {
    let prefix = o.stream_prefix.as_deref().unwrap_or(AUDIT_PREFIX);
    let mut token: Option<String> = None;
    let mut kept = Vec::new();
    let mut skipped = 0;
    let what = format!("log group {group}");
    loop {
        let page = describe
            .call(|| {
                let req = client
                    .describe_log_streams()
                    .log_group_name(group)
                    .log_stream_name_prefix(prefix)
                    .limit(50)
                    .set_next_token(token.clone());
                let what = what.clone();
                async move {
                    req.send()
                        .await
                        .map_err(|e| classify(Op::DescribeLogStreams, &what, e))
                }
            })
            .await
            .map_err(fatal)?;
        for s in page.log_streams() {
            let Some(name) = s.log_stream_name() else {
                continue;
            };
            let is_audit = match &o.stream_prefix {
                Some(p) => name.starts_with(p.as_str()),
                None => is_eks_audit_stream(name),
            };
            // lastEventTimestamp is updated lazily (up to an hour late); lastIngestionTime is not
            let (Some(first), Some(last)) = (
                s.first_event_timestamp(),
                s.last_event_timestamp()
                    .max(s.last_ingestion_time())
                    .map(|t| t + HOUR_MS),
            ) else {
                skipped += 1;
                continue;
            };
            if is_audit && first < o.end_ms && last >= o.start_ms {
                kept.push(StreamInfo {
                    name: name.to_string(),
                    first_ms: first,
                    last_ms: last,
                });
            } else {
                skipped += 1;
            }
        }
        // an empty page can still carry a token: only a missing or repeated token ends the list
        match page.next_token() {
            Some(t) if Some(t) != token.as_deref() => token = Some(t.to_string()),
            _ => break,
        }
    }
    kept.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((kept, skipped))
}

fn fatal(f: Failure) -> CwError {
    match f {
        Failure::Fatal(e) => e,
        Failure::Throttled(m)
        | Failure::Transient(m)
        | Failure::BadToken(m)
        | Failure::Refused(m) => CwError::Api {
            op: "request",
            message: m,
        },
    }
}

/// `kube-apiserver-audit-` followed by exactly 32 lowercase hex digits.
pub fn is_eks_audit_stream(name: &str) -> bool {
    name.strip_prefix(AUDIT_PREFIX).is_some_and(|id| {
        id.len() == 32
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// UTC-hour slices of each stream, clipped to the window and to the stream's known extent.
fn plan(streams: &[StreamInfo], start_ms: i64, end_ms: i64) -> Vec<Slice> {
    let mut out = Vec::new();
    for s in streams {
        let mut h = start_ms.div_euclid(HOUR_MS) * HOUR_MS;
        while h < end_ms {
            let (a, b) = (h.max(start_ms), (h + HOUR_MS).min(end_ms));
            if a <= s.last_ms && b > s.first_ms {
                out.push(Slice {
                    stream: s.name.clone(),
                    start_ms: a,
                    end_ms: b,
                });
            }
            h += HOUR_MS;
        }
    }
    out
}

struct Ctx {
    client: cwl::Client,
    region: String,
    group: String,
    get: Arc<Caller>,
    /// None: FilterLogEvents is not used.
    filter: Option<Arc<Caller>>,
    /// FilterLogEvents was denied (IAM): the runs use GetLogEvents.
    filter_denied: AtomicBool,
    /// Runs being read now with GetLogEvents, FilterLogEvents (see [`choose_op`]).
    reading: [AtomicUsize; 2],
    /// Runs that were read with FilterLogEvents.
    filter_runs: AtomicUsize,
    /// Per stream, the end of its last slice: GetLogEvents reads no further (see [`read_page`]).
    stream_end: HashMap<String, i64>,
    progress: Progress,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One slice to download, with the checkpoint the cache holds for it.
#[derive(Debug)]
struct Part {
    slice: Slice,
    paths: cache::SlicePaths,
    saved: Option<SliceState>,
}

/// Consecutive slices of one stream read through one token chain; each event goes to the slice its
/// timestamp falls in. Its pages are cut by the service's page size, not by slice bounds, so a run
/// of several slices spends fewer calls than reading slice by slice.
#[derive(Debug)]
struct Run {
    stream: String,
    start_ms: i64,
    end_ms: i64,
    parts: Vec<Part>,
    /// Continue from the token every part's checkpoint holds, with the operation that issued it
    /// (a new run's operation is chosen as it starts, see [`choose_op`]).
    resume: Option<Op>,
}

impl Run {
    fn new(parts: Vec<Part>, resume: bool) -> Option<Run> {
        let first = parts.first()?;
        let last = parts.last()?;
        let resume = first
            .saved
            .as_ref()
            .filter(|_| resume)
            .map(|s| s.via.unwrap_or(Op::GetLogEvents));
        Some(Run {
            stream: first.slice.stream.clone(),
            start_ms: first.slice.start_ms,
            end_ms: last.slice.end_ms,
            resume,
            parts,
        })
    }
}

/// Groups the slices to download (in plan order: by stream, then time) into runs.
///
/// An interrupted run whose slices all still hold its checkpoint (same range, same token) resumes
/// as it was. The other slices form maximal stretches of consecutive slices per stream, cut into
/// about `target` runs in all (in proportion to their length, at least one slice each), so that
/// `target` downloads can go on at once while each spends as few calls as it can.
fn runs(todo: Vec<Part>, target: usize) -> Vec<Run> {
    let mut out = Vec::new();
    let mut stretches: Vec<Vec<Part>> = Vec::new();
    let mut rest = todo.into_iter().peekable();
    while let Some(p) = rest.next() {
        if let Some(range) = resumable_run(&p) {
            // take the slices this checkpoint says belong to its run
            let mut parts = vec![p];
            while let Some(next) = rest
                .next_if(|n| n.slice.stream == parts[0].slice.stream && n.slice.start_ms < range[1])
            {
                parts.push(next);
            }
            if run_checkpoint_holds(&parts, range) {
                out.extend(Run::new(parts, true));
            } else {
                // not all of it saved alike: download those slices afresh
                for mut q in parts {
                    q.saved = None;
                    push_to_stretch(&mut stretches, q);
                }
            }
            continue;
        }
        let mut p = p;
        p.saved = None;
        push_to_stretch(&mut stretches, p);
    }
    // runs per stretch: a share of `target` in proportion to its duration (a stream logs at a
    // steady pace, so events follow time), at least 1, at most one per slice; largest remainders
    let slices: usize = stretches.iter().map(Vec::len).sum();
    let target = target.max(stretches.len()).min(slices.max(1));
    let total: i64 = stretches.iter().map(|s| span(s)).sum::<i64>().max(1);
    let mut counts: Vec<(usize, usize, f64)> = stretches
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let share = target as f64 * span(s) as f64 / total as f64;
            (i, (share.floor() as usize).clamp(1, s.len()), share.fract())
        })
        .collect();
    let mut left = target.saturating_sub(counts.iter().map(|c| c.1).sum());
    counts.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
    for c in counts.iter_mut() {
        if left == 0 {
            break;
        }
        if c.1 < stretches[c.0].len() {
            c.1 += 1;
            left -= 1;
        }
    }
    counts.sort_by_key(|c| c.0);
    for (stretch, (_, k, _)) in stretches.into_iter().zip(counts) {
        for parts in cut(stretch, k) {
            out.extend(Run::new(parts, false));
        }
    }
    // longest first, so the last runs to start are short ones
    out.sort_by_key(|r| std::cmp::Reverse(r.end_ms - r.start_ms));
    out
}

/// Time a stretch of consecutive slices covers.
fn span(parts: &[Part]) -> i64 {
    parts
        .iter()
        .map(|p| p.slice.end_ms - p.slice.start_ms)
        .sum()
}

/// Cuts consecutive slices into `k` runs of about equal duration (at slice bounds, at least one
/// slice each).
fn cut(parts: Vec<Part>, k: usize) -> Vec<Vec<Part>> {
    let n = parts.len();
    let k = k.clamp(1, n.max(1));
    let total = span(&parts);
    let mut out = vec![Vec::new()];
    let mut acc = 0i64;
    for (i, p) in parts.into_iter().enumerate() {
        let d = p.slice.end_ms - p.slice.start_ms;
        if let Some(last) = out.last_mut() {
            last.push(p);
        }
        acc += d;
        let made = out.len();
        // a bound after this slice when the run reached its share of the time, or when every
        // slice left must start a run of its own
        if made < k
            && i + 1 < n
            && (acc * k as i64 >= total * made as i64 || n - (i + 1) == k - made)
        {
            out.push(Vec::new());
        }
    }
    out
}

/// The run range of a slice's unfinished checkpoint.
fn resumable_run(p: &Part) -> Option<[i64; 2]> {
    let s = p.saved.as_ref()?;
    let range = s.run?;
    (!s.complete && range[0] == p.slice.start_ms).then_some(range)
}

/// The parts tile `range` exactly and all hold the same unfinished checkpoint of it.
fn run_checkpoint_holds(parts: &[Part], range: [i64; 2]) -> bool {
    let token = parts[0].saved.as_ref().map(|s| &s.next_token);
    parts.last().is_some_and(|l| l.slice.end_ms == range[1])
        && parts
            .windows(2)
            .all(|w| w[0].slice.end_ms == w[1].slice.start_ms)
        && parts.iter().all(|p| {
            p.saved.as_ref().is_some_and(|s| {
                !s.complete
                    && s.run == Some(range)
                    && Some(&s.next_token) == token
                    && s.via == parts[0].saved.as_ref().and_then(|f| f.via)
            })
        })
}

/// Runs per download task: more runs than tasks, so a task that finishes early takes another and
/// the two operations' lanes end close together (event density is not known before reading).
const RUNS_PER_TASK: usize = 2;

/// Chooses the operation of a run as it starts. GetLogEvents and FilterLogEvents have separate
/// quotas, so reading with both adds their rates: the run goes to the operation with fewer runs in
/// flight for its rate (FilterLogEvents on a tie), so each keeps its limiter busy and the share of
/// the work each does follows its quota as it goes, whatever the event density.
fn choose_op(reading: [usize; 2], get_tps: f64, filter_tps: Option<f64>) -> Op {
    match filter_tps {
        Some(f) if f > 0.0 && (reading[1] + 1) as f64 / f <= (reading[0] + 1) as f64 / get_tps => {
            Op::FilterLogEvents
        }
        _ => Op::GetLogEvents,
    }
}

/// Appends a slice to the last stretch when it continues it (same stream, adjacent), else starts
/// a new stretch.
fn push_to_stretch(stretches: &mut Vec<Vec<Part>>, p: Part) {
    match stretches.last_mut() {
        Some(s)
            if s.last().is_some_and(|l| {
                l.slice.stream == p.slice.stream && l.slice.end_ms == p.slice.start_ms
            }) =>
        {
            s.push(p)
        }
        _ => stretches.push(vec![p]),
    }
}

/// One page of a run: (timestamp, message) of the events in the run's range, the token for the
/// next page, and whether the run has ended.
struct Page {
    events: Vec<(i64, String)>,
    next: Option<String>,
    at_end: bool,
}

/// Asks for the page after `token` with the run's operation. FilterLogEvents pages can be empty and
/// still carry a token (the search goes on); its events carry ids, and an id already seen on this
/// page or the one before is dropped (a repeat can only straddle a page boundary; keeping two
/// pages of ids bounds the memory). GetLogEvents ends at a page that crosses the run's end or when
/// it returns the token it was sent.
async fn read_page(
    ctx: &Ctx,
    run: &Run,
    via: Op,
    token: Option<String>,
    seen: &mut HashSet<String>,
) -> Result<Page, Failure> {
    let what = format!("log stream {} in {}", run.stream, ctx.group);
    let in_run = |ts: Option<i64>| ts.filter(|t| (run.start_ms..run.end_ms).contains(t));
    match (via, &ctx.filter) {
        (Op::FilterLogEvents, Some(filter)) => {
            let req = ctx
                .client
                .filter_log_events()
                .log_group_name(&ctx.group)
                .log_stream_names(&run.stream)
                .start_time(run.start_ms)
                .end_time(run.end_ms)
                .limit(PAGE_LIMIT)
                .set_next_token(token.clone());
            let page = filter
                .call(|| {
                    let (req, what) = (req.clone(), what.clone());
                    async move { req.send().await.map_err(|e| classify(via, &what, e)) }
                })
                .await?;
            let mut events = Vec::with_capacity(page.events().len());
            let before = std::mem::take(seen);
            for e in page.events() {
                let fresh = e
                    .event_id()
                    .is_none_or(|id| !before.contains(id) && seen.insert(id.to_string()));
                if let (Some(ts), true) = (in_run(e.timestamp()), fresh) {
                    events.push((ts, e.message().unwrap_or_default().to_string()));
                }
            }
            let next = page.next_token().map(str::to_string);
            // no token: the search is done; the same token again with nothing new: no progress
            let at_end = next.is_none() || (next == token && events.is_empty());
            Ok(Page {
                events,
                next,
                at_end,
            })
        }
        _ => {
            // read past the run's end, up to an hour into the stream's next slice: the page that
            // crosses the end shows the run is done, where a read bounded by the run would need one
            // more call (the repeated token) to learn it. At most an hour, so a stream that falls
            // silent after the run costs no more than that one call.
            let read_to = ctx
                .stream_end
                .get(&run.stream)
                .map_or(run.end_ms, |&e| e.min(run.end_ms + HOUR_MS).max(run.end_ms));
            let req = ctx
                .client
                .get_log_events()
                .log_group_name(&ctx.group)
                .log_stream_name(&run.stream)
                .start_time(run.start_ms)
                .end_time(read_to)
                .start_from_head(true)
                .limit(PAGE_LIMIT)
                .set_next_token(token.clone());
            let page = ctx
                .get
                .call(|| {
                    let (req, what) = (req.clone(), what.clone());
                    async move {
                        req.send()
                            .await
                            .map_err(|e| classify(Op::GetLogEvents, &what, e))
                    }
                })
                .await?;
            let events = page
                .events()
                .iter()
                .filter_map(|e| {
                    in_run(e.timestamp())
                        .map(|ts| (ts, e.message().unwrap_or_default().to_string()))
                })
                .collect();
            let next = page.next_forward_token().map(str::to_string);
            // events come earliest first: one at or past the run's end means nothing of the run is
            // left (the events past it belong to the next run and are read there)
            let past_end = page
                .events()
                .iter()
                .any(|e| e.timestamp().is_some_and(|t| t >= run.end_ms));
            let at_end = past_end || next.is_none() || next == token;
            Ok(Page {
                events,
                next,
                at_end,
            })
        }
    }
}

/// Downloads one run into the cache, continuing from the parts' checkpoint when it resumes.
/// Returns each slice's state and how many events this download added to it.
async fn download_run(ctx: &Ctx, run: Run) -> Result<Vec<(SliceState, u64)>, CwError> {
    let range = [run.start_ms, run.end_ms];
    let filter_usable = || ctx.filter.is_some() && !ctx.filter_denied.load(Ordering::Relaxed);
    // a token is good only for the operation that issued it
    let mut via = match run.resume {
        Some(Op::FilterLogEvents) if filter_usable() => Op::FilterLogEvents,
        Some(_) => Op::GetLogEvents,
        None => {
            let reading = ctx.reading.each_ref().map(|n| n.load(Ordering::Relaxed));
            let filter_tps = ctx
                .filter
                .as_ref()
                .filter(|_| filter_usable())
                .map(|f| f.limiter.max_rate());
            choose_op(reading, ctx.get.limiter.max_rate(), filter_tps)
        }
    };
    let mut reading = Reading::start(ctx, via);
    let open = |via: Op, resume: bool| -> Result<Vec<SliceWriter>, CwError> {
        run.parts
            .iter()
            .map(|p| {
                let fresh = SliceState {
                    region: ctx.region.clone(),
                    log_group: ctx.group.clone(),
                    stream: run.stream.clone(),
                    start_ms: p.slice.start_ms,
                    end_ms: p.slice.end_ms,
                    events: 0,
                    bytes: 0,
                    file_len: 0,
                    next_token: None,
                    run: Some(range),
                    via: Some(via),
                    complete: false,
                    saved_at_ms: now_ms(),
                };
                let saved = if resume { p.saved.clone() } else { None };
                Ok(SliceWriter::open(p.paths.clone(), fresh, saved)?)
            })
            .collect()
    };
    // a token is good only for the operation that issued it
    let mut ws = open(via, run.resume == Some(via))?;
    if ws
        .windows(2)
        .any(|w| w[0].state.next_token != w[1].state.next_token)
    {
        // a data file was shorter than its checkpoint says: the run cannot resume
        ws = open(via, false)?;
    }
    let mut token = ws.first().and_then(|w| w.state.next_token.clone());
    for w in &ws {
        ctx.progress.add_events(w.state.events);
    }
    let mut new = vec![0u64; ws.len()];
    let mut seen = HashSet::new();
    // progress: time covered so far (by the latest event seen)
    let mut covered_to = run.start_ms;
    let mut pages = 0u32;
    loop {
        let page = match read_page(ctx, &run, via, token.clone(), &mut seen).await {
            Ok(p) => p,
            Err(f) => {
                let again = match &f {
                    // the saved token expired: read the run again from its start
                    Failure::BadToken(m) if token.is_some() => {
                        tracing::warn!("{}: {m}; downloading the run again", run.stream);
                        true
                    }
                    // not allowed to filter: this run and the next ones read with GetLogEvents
                    Failure::Fatal(CwError::AccessDenied { action, .. })
                        if via == Op::FilterLogEvents =>
                    {
                        if !ctx.filter_denied.swap(true, Ordering::Relaxed) {
                            tracing::warn!(
                                "no permission for {action}: reading with GetLogEvents only"
                            );
                        }
                        via = Op::GetLogEvents;
                        reading = Reading::start(ctx, via);
                        true
                    }
                    _ => false,
                };
                if !again {
                    return Err(fatal(f));
                }
                drop(ws);
                ws = open(via, false)?;
                new.iter_mut().for_each(|n| *n = 0);
                seen.clear();
                token = None;
                continue;
            }
        };
        let mut messages = vec![Vec::new(); ws.len()];
        let (mut count, mut bytes, mut latest) = (0u64, 0u64, covered_to);
        for (ts, m) in page.events {
            // the slices tile the run: the first one that ends after `ts` holds it
            let i = run.parts.partition_point(|p| p.slice.end_ms <= ts);
            if let Some(bucket) = messages.get_mut(i) {
                bytes += m.len() as u64;
                count += 1;
                latest = latest.max(ts);
                bucket.push(m);
            }
        }
        for ((w, m), n) in ws.iter_mut().zip(&messages).zip(new.iter_mut()) {
            *n += m.len() as u64;
            w.append(m, page.next.clone(), now_ms())?;
        }
        token = page.next;
        ctx.progress.page(count, bytes);
        ctx.progress.cover(latest - covered_to);
        covered_to = latest;
        pages += 1;
        if page.at_end {
            ctx.progress.cover(run.end_ms - covered_to);
            drop(reading);
            if via == Op::FilterLogEvents {
                ctx.filter_runs.fetch_add(1, Ordering::Relaxed);
            }
            tracing::debug!(
                "run {} [{}, {}) via {via:?}: {pages} page(s), {} new event(s), ended at {:.2}s",
                run.stream,
                run.start_ms,
                run.end_ms,
                new.iter().sum::<u64>(),
                ctx.progress.started.elapsed().as_secs_f64()
            );
            let done = now_ms();
            return ws
                .into_iter()
                .zip(new)
                .map(|(w, n)| Ok((w.finish(done)?, n)))
                .collect();
        }
    }
}

/// Counts a run as being read with an operation while it lives.
struct Reading<'a> {
    counter: &'a AtomicUsize,
}

impl<'a> Reading<'a> {
    fn start(ctx: &'a Ctx, via: Op) -> Self {
        let counter = &ctx.reading[usize::from(via == Op::FilterLogEvents)];
        counter.fetch_add(1, Ordering::Relaxed);
        Reading { counter }
    }
}

impl Drop for Reading<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Counters behind the progress bar (drawn only on a terminal).
#[derive(Clone)]
struct Progress {
    bar: indicatif::ProgressBar,
    events: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    covered_ms: Arc<AtomicI64>,
    window_ms: i64,
    /// Sum of all slices' spans (streams × window, roughly).
    total_ms: i64,
    started: Instant,
}

impl Progress {
    fn new(draw: bool, window_ms: i64, total_ms: i64) -> Self {
        let bar = if draw {
            let b = indicatif::ProgressBar::new(total_ms.max(1) as u64);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {msg}",
            ) {
                b.set_style(style);
            }
            b.enable_steady_tick(Duration::from_millis(200));
            b
        } else {
            indicatif::ProgressBar::hidden()
        };
        Progress {
            bar,
            events: Arc::default(),
            bytes: Arc::default(),
            covered_ms: Arc::default(),
            window_ms,
            total_ms,
            started: Instant::now(),
        }
    }

    /// Events that were already on disk (cached or from an interrupted download).
    fn add_events(&self, events: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.redraw();
    }

    fn page(&self, events: u64, bytes: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.redraw();
    }

    /// Time of one stream now downloaded (or found in the cache).
    fn cover(&self, span_ms: i64) {
        if span_ms > 0 {
            self.covered_ms.fetch_add(span_ms, Ordering::Relaxed);
            self.redraw();
        }
    }

    fn covered_text(&self) -> String {
        let covered = self.covered_ms.load(Ordering::Relaxed) as f64;
        let share = covered / (self.total_ms.max(1) as f64);
        format!(
            "{} of {}",
            human_duration((share * self.window_ms as f64) as i64),
            human_duration(self.window_ms)
        )
    }

    fn redraw(&self) {
        if self.bar.is_hidden() {
            return;
        }
        let events = self.events.load(Ordering::Relaxed);
        let mb = self.bytes.load(Ordering::Relaxed) as f64 / 1e6;
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        self.bar
            .set_position(self.covered_ms.load(Ordering::Relaxed).max(0) as u64);
        self.bar.set_message(format!(
            "{events} events, {mb:.1} MB, {:.0} events/s, {}",
            events as f64 / secs,
            self.covered_text()
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// 90061000 ms → "1d1h1m".
pub fn human_duration(ms: i64) -> String {
    let m = ms / 60_000;
    let (d, h, m) = (m / 1440, (m / 60) % 24, m % 60);
    match (d, h) {
        (0, 0) => format!("{m}m"),
        (0, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h}h{m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_eks_audit_streams() {
        assert!(is_eks_audit_stream(
            "kube-apiserver-audit-0123456789abcdef0123456789abcdef"
        ));
        for bad in [
            "kube-apiserver-audit-notes",
            "kube-apiserver-0123456789abcdef0123456789abcdef",
            "kube-apiserver-audit-0123456789ABCDEF0123456789abcdef",
            "kube-apiserver-audit-0123456789abcdef0123456789abcdef0",
        ] {
            assert!(!is_eks_audit_stream(bad), "{bad}");
        }
    }

    #[test]
    fn slices_are_utc_hours_clipped_to_window_and_stream() {
        let s = StreamInfo {
            name: "a".into(),
            first_ms: 2 * HOUR_MS + 5,
            last_ms: 10 * HOUR_MS,
        };
        let got: Vec<(i64, i64)> = plan(&[s], HOUR_MS + 30 * 60_000, 4 * HOUR_MS + 60_000)
            .iter()
            .map(|x| (x.start_ms, x.end_ms))
            .collect();
        // the 1h30–2h slice ends before the stream's first event
        assert_eq!(
            got,
            [
                (2 * HOUR_MS, 3 * HOUR_MS),
                (3 * HOUR_MS, 4 * HOUR_MS),
                (4 * HOUR_MS, 4 * HOUR_MS + 60_000)
            ]
        );
        assert_eq!(human_duration(90_061_000), "1d1h01m");
    }

    fn part(stream: &str, hour: i64, saved: Option<(i64, i64, &str)>) -> Part {
        let slice = Slice {
            stream: stream.into(),
            start_ms: hour * HOUR_MS,
            end_ms: (hour + 1) * HOUR_MS,
        };
        let saved = saved.map(|(a, b, token)| SliceState {
            region: "r".into(),
            log_group: "g".into(),
            stream: stream.into(),
            start_ms: slice.start_ms,
            end_ms: slice.end_ms,
            events: 1,
            bytes: 1,
            file_len: 1,
            next_token: Some(token.into()),
            run: Some([a * HOUR_MS, b * HOUR_MS]),
            via: None,
            complete: false,
            saved_at_ms: 0,
        });
        Part {
            paths: cache::Cache::new("c".into()).slice(
                "r",
                "g",
                stream,
                slice.start_ms,
                slice.end_ms,
            ),
            slice,
            saved,
        }
    }

    fn shape(runs: &[Run]) -> Vec<(String, i64, i64, bool)> {
        let mut v: Vec<_> = runs
            .iter()
            .map(|r| {
                (
                    r.stream.clone(),
                    r.start_ms / HOUR_MS,
                    r.end_ms / HOUR_MS,
                    r.resume.is_some(),
                )
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn runs_group_consecutive_hours_and_share_out_the_parallelism() {
        // stream a: hours 0-6 with hour 3 cached (two stretches), stream b: hours 0-2
        let todo: Vec<Part> = [0, 1, 2, 4, 5, 6]
            .iter()
            .map(|&h| part("a", h, None))
            .chain((0..3).map(|h| part("b", h, None)))
            .collect();
        let r = runs(todo, 4);
        assert_eq!(
            shape(&r),
            [
                ("a".into(), 0, 2, false),
                ("a".into(), 2, 3, false),
                ("a".into(), 4, 7, false),
                ("b".into(), 0, 3, false)
            ]
        );
        assert_eq!(r[0].parts.len(), 3, "longest runs first");
        // a stretch is cut by time, not by slice count: a short first slice joins the next ones
        let mut short = part("a", 0, None);
        short.slice.start_ms = HOUR_MS - 60_000;
        let todo: Vec<Part> = std::iter::once(short)
            .chain((1..4).map(|h| part("a", h, None)))
            .collect();
        let r = runs(todo, 2);
        let spans: Vec<(i64, i64)> = r.iter().map(|r| (r.start_ms, r.end_ms)).collect();
        assert_eq!(
            spans,
            [(HOUR_MS - 60_000, 3 * HOUR_MS), (3 * HOUR_MS, 4 * HOUR_MS)]
        );
        // never fewer runs than stretches, never more than slices
        assert_eq!(
            runs((0..3).map(|h| part("a", h, None)).collect(), 8).len(),
            3
        );
        let one = runs((0..3).map(|h| part("a", h, None)).collect(), 1);
        assert_eq!(shape(&one), [("a".into(), 0, 3, false)]);
        assert!(runs(Vec::new(), 8).is_empty());
    }

    #[test]
    fn runs_go_to_the_operation_with_fewer_runs_in_flight_for_its_quota() {
        let pick = |get: usize, filter: usize| choose_op([get, filter], 25.0, Some(10.0));
        // 25 : 10 → about 5 runs on GetLogEvents for every 2 on FilterLogEvents
        let mut reading = [0, 0];
        for _ in 0..7 {
            let op = pick(reading[0], reading[1]);
            reading[usize::from(op == Op::FilterLogEvents)] += 1;
        }
        assert_eq!(reading, [5, 2]);
        assert_eq!(pick(0, 0), Op::GetLogEvents);
        assert_eq!(
            pick(2, 0),
            Op::FilterLogEvents,
            "a tie goes to FilterLogEvents"
        );
        assert_eq!(
            choose_op([9, 0], 25.0, None),
            Op::GetLogEvents,
            "filter off"
        );
        assert_eq!(choose_op([9, 0], 25.0, Some(0.0)), Op::GetLogEvents);
    }

    #[test]
    fn an_interrupted_run_resumes_only_when_all_its_slices_agree() {
        let saved = |t: &'static str| Some((1, 3, t));
        let todo = vec![
            part("a", 0, None),
            part("a", 1, saved("t9")),
            part("a", 2, saved("t9")),
            part("a", 3, None),
        ];
        let r = runs(todo, 8);
        assert_eq!(
            shape(&r),
            [
                ("a".into(), 0, 1, false),
                ("a".into(), 1, 3, true),
                ("a".into(), 3, 4, false)
            ]
        );
        // one slice checkpointed another token (a crash between two state files): start afresh
        let todo = vec![part("a", 1, saved("t9")), part("a", 2, saved("t8"))];
        let r = runs(todo, 1);
        assert_eq!(shape(&r), [("a".into(), 1, 3, false)]);
        assert!(r[0].parts.iter().all(|p| p.saved.is_none()));
        // the run's last hour is cached or outside the window now: start afresh
        let r = runs(vec![part("a", 1, saved("t9"))], 1);
        assert_eq!(shape(&r), [("a".into(), 1, 2, false)]);
        assert_eq!(human_duration(59_000), "0m");
    }
}
