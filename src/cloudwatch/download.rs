//! Stage 3, download: one run is one token chain read with GetLogEvents or FilterLogEvents, every
//! page appended to the slices its events fall in and checkpointed.

use super::plan::Run;
use super::*;

pub(super) struct Ctx {
    pub(super) client: cwl::Client,
    pub(super) region: String,
    pub(super) group: String,
    pub(super) get: Arc<Caller>,
    /// None: FilterLogEvents is not used.
    pub(super) filter: Option<Arc<Caller>>,
    /// FilterLogEvents was denied (IAM): the runs use GetLogEvents.
    pub(super) filter_denied: AtomicBool,
    /// Runs being read now with GetLogEvents, FilterLogEvents (see [`choose_op`]).
    pub(super) reading: [AtomicUsize; 2],
    /// Runs that were read with FilterLogEvents.
    pub(super) filter_runs: AtomicUsize,
    /// Per stream, the end of its last slice: GetLogEvents reads no further (see [`read_page`]).
    pub(super) stream_end: HashMap<String, i64>,
    pub(super) progress: Progress,
}

/// One page of a run: (timestamp, message) of the events in the run's range, the token for the
/// next page, and whether the run has ended.
pub(super) struct Page {
    pub(super) events: Vec<(i64, String)>,
    pub(super) next: Option<String>,
    pub(super) at_end: bool,
}

/// Asks for the page after `token` with the run's operation. FilterLogEvents pages can be empty and
/// still carry a token (the search goes on); its events carry ids, and an id already seen on this
/// page or the one before is dropped (a repeat can only straddle a page boundary; keeping two
/// pages of ids bounds the memory). GetLogEvents ends at a page that crosses the run's end or when
/// it returns the token it was sent.
pub(super) async fn read_page(
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
pub(super) async fn download_run(ctx: &Ctx, run: Run) -> Result<Vec<(SliceState, u64)>, CwError> {
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
pub(super) struct Reading<'a> {
    pub(super) counter: &'a AtomicUsize,
}

impl<'a> Reading<'a> {
    pub(super) fn start(ctx: &'a Ctx, via: Op) -> Self {
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
