//! Amazon CloudWatch Logs as an audit source (EKS control-plane logging).
//!
//! 1. Discover: the log group (`/aws/eks/<cluster>/cluster` unless given) and, with
//!    DescribeLogStreams, every audit stream (`kube-apiserver-audit-<32 hex>`) whose events overlap
//!    the window. EKS runs at least two API servers and rotates streams, so there are several.
//! 2. Plan: cut each stream into UTC-hour slices clipped to the window. A slice is the unit of
//!    parallelism, caching and resumption.
//! 3. Download: GetLogEvents per slice (`startFromHead`, `startTime`/`endTime` = the slice), following
//!    the forward token until the service returns the token it was sent (the end of a stream).
//!    Slices run in parallel; all share one [`limiter::RateLimiter`] per operation. Events are kept
//!    by their place in the stream (token paging), never by a time cursor, so events that share a
//!    millisecond are all kept; slice bounds are half-open and re-checked on the client (moto's
//!    `endTime` is inclusive, the service's exclusive), so a boundary event lands in one slice.
//! 4. Cache: every page is appended to the slice's file and checkpointed (see [`cache`]); a settled
//!    slice is reused by later runs, an interrupted one resumes from its last token.
//!
//! The cached files are ordinary audit JSON lines: the report reads them like any other file, so
//! CloudWatch and files go through exactly the same analyses.

pub mod aws;
pub mod cache;
pub mod limiter;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
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
    let describe = Caller::new(Op::DescribeLogStreams, DESCRIBE_TPS, o.max_retries);
    let (streams, skipped) = discover(&client, &describe, &group, o).await?;
    tracing::info!(
        "{group} ({region}): {} audit stream(s) overlap the window, {skipped} other stream(s) skipped",
        streams.len()
    );
    let slices = plan(&streams, o.start_ms, o.end_ms);
    let get = Arc::new(Caller::new(Op::GetLogEvents, max_tps, o.max_retries));
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
                progress.slice_done(s.end_ms - s.start_ms, st.events);
            }
            Some(st) if !o.refresh && !st.complete => {
                stats.slices_resumed += 1;
                todo.push((s, paths, Some(st)));
            }
            _ => todo.push((s, paths, None)),
        }
    }

    let total = stats.slices;
    let ctx = Arc::new(Ctx {
        client,
        region,
        group,
        get: get.clone(),
        progress: progress.clone(),
    });
    type SliceResult = (String, Result<(SliceState, u64), CwError>);
    let results: Vec<SliceResult> =
        futures::stream::iter(todo.into_iter().map(|(s, paths, saved)| {
            let ctx = ctx.clone();
            async move {
                let stream = s.stream.clone();
                (stream, download_slice(&ctx, s, paths, saved).await)
            }
        }))
        .buffer_unordered(o.parallel.max(1))
        .collect()
        .await;
    progress.finish();

    stats.requests =
        describe.requests.load(Ordering::Relaxed) + get.requests.load(Ordering::Relaxed);
    stats.retries = describe.retries.load(Ordering::Relaxed) + get.retries.load(Ordering::Relaxed);
    stats.throttled =
        describe.throttled.load(Ordering::Relaxed) + get.throttled.load(Ordering::Relaxed);
    stats.bytes_downloaded = progress.bytes.load(Ordering::Relaxed);
    stats.seconds = started.elapsed().as_secs_f64();
    let mut first_err = None;
    let mut done = stats.slices_cached;
    for (stream, r) in results {
        match r {
            Ok((st, new)) => {
                done += 1;
                stats.events += st.events;
                stats.events_downloaded += new;
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
        Failure::Throttled(m) | Failure::Transient(m) | Failure::BadToken(m) => CwError::Api {
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
    progress: Progress,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Downloads one slice into the cache, continuing from `saved` when it holds a checkpoint.
/// Returns the slice's state and how many events this run downloaded.
async fn download_slice(
    ctx: &Ctx,
    s: Slice,
    paths: cache::SlicePaths,
    saved: Option<SliceState>,
) -> Result<(SliceState, u64), CwError> {
    let fresh = SliceState {
        region: ctx.region.clone(),
        log_group: ctx.group.clone(),
        stream: s.stream.clone(),
        start_ms: s.start_ms,
        end_ms: s.end_ms,
        events: 0,
        bytes: 0,
        file_len: 0,
        next_token: None,
        complete: false,
        saved_at_ms: now_ms(),
    };
    let mut w = SliceWriter::open(paths.clone(), fresh.clone(), saved)?;
    ctx.progress.resumed(w.state.events);
    let mut new = 0u64;
    let what = format!("log stream {} in {}", s.stream, ctx.group);
    loop {
        let token = w.state.next_token.clone();
        let req = ctx
            .client
            .get_log_events()
            .log_group_name(&ctx.group)
            .log_stream_name(&s.stream)
            .start_time(s.start_ms)
            .end_time(s.end_ms)
            .start_from_head(true)
            .limit(PAGE_LIMIT)
            .set_next_token(token.clone());
        let page = ctx
            .get
            .call(|| {
                let req = req.clone();
                let what = what.clone();
                async move {
                    req.send()
                        .await
                        .map_err(|e| classify(Op::GetLogEvents, &what, e))
                }
            })
            .await;
        let page = match page {
            Ok(p) => p,
            Err(Failure::BadToken(m)) if token.is_some() => {
                // the saved token expired: read the slice again from its start
                tracing::warn!("{what}: {m}; downloading the slice again");
                drop(w);
                w = SliceWriter::open(paths.clone(), fresh.clone(), None)?;
                new = 0;
                continue;
            }
            Err(f) => return Err(fatal(f)),
        };
        let mut messages = Vec::with_capacity(page.events().len());
        let mut bytes = 0u64;
        for e in page.events() {
            let ts = e.timestamp().unwrap_or(s.start_ms);
            if ts < s.start_ms || ts >= s.end_ms {
                continue;
            }
            let m = e.message().unwrap_or_default();
            bytes += m.len() as u64;
            messages.push(m.to_string());
        }
        new += messages.len() as u64;
        let next = page.next_forward_token().map(str::to_string);
        let at_end = next.is_none() || next == token;
        w.append(&messages, next, now_ms())?;
        ctx.progress.page(messages.len() as u64, bytes);
        if at_end {
            let st = w.finish(now_ms())?;
            ctx.progress.slice_done(s.end_ms - s.start_ms, 0);
            return Ok((st, new));
        }
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

    fn resumed(&self, events: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
    }

    fn page(&self, events: u64, bytes: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.redraw();
    }

    /// A slice is done (downloaded or cached): count the time it covers.
    fn slice_done(&self, span_ms: i64, cached_events: u64) {
        self.covered_ms.fetch_add(span_ms, Ordering::Relaxed);
        self.events.fetch_add(cached_events, Ordering::Relaxed);
        self.redraw();
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
        assert_eq!(human_duration(59_000), "0m");
    }
}
