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
mod discovery;
mod download;
pub mod limiter;
mod plan;
mod progress;

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

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
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

use discovery::discover;
pub use discovery::is_eks_audit_stream;
use download::{Ctx, download_run};
use plan::{Part, RUNS_PER_TASK, choose_op, plan, runs};
use progress::Progress;
