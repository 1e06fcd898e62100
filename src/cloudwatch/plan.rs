//! Stage 2, planning (pure): streams into UTC-hour slices clipped to the window, the slices not in
//! the cache into runs of consecutive hours, and which read operation a run uses.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Slice {
    pub(super) stream: String,
    pub(super) start_ms: i64,
    pub(super) end_ms: i64,
}

/// UTC-hour slices of each stream, clipped to the window and to the stream's known extent.
pub(super) fn plan(streams: &[StreamInfo], start_ms: i64, end_ms: i64) -> Vec<Slice> {
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

/// One slice to download, with the checkpoint the cache holds for it.
#[derive(Debug)]
pub(super) struct Part {
    pub(super) slice: Slice,
    pub(super) paths: cache::SlicePaths,
    pub(super) saved: Option<SliceState>,
}

/// Consecutive slices of one stream read through one token chain; each event goes to the slice its
/// timestamp falls in. Its pages are cut by the service's page size, not by slice bounds, so a run
/// of several slices spends fewer calls than reading slice by slice.
#[derive(Debug)]
pub(super) struct Run {
    pub(super) stream: String,
    pub(super) start_ms: i64,
    pub(super) end_ms: i64,
    pub(super) parts: Vec<Part>,
    /// Continue from the token every part's checkpoint holds, with the operation that issued it
    /// (a new run's operation is chosen as it starts, see [`choose_op`]).
    pub(super) resume: Option<Op>,
}

impl Run {
    pub(super) fn new(parts: Vec<Part>, resume: bool) -> Option<Run> {
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
pub(super) fn runs(todo: Vec<Part>, target: usize) -> Vec<Run> {
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
pub(super) fn span(parts: &[Part]) -> i64 {
    parts
        .iter()
        .map(|p| p.slice.end_ms - p.slice.start_ms)
        .sum()
}

/// Cuts consecutive slices into `k` runs of about equal duration (at slice bounds, at least one
/// slice each).
pub(super) fn cut(parts: Vec<Part>, k: usize) -> Vec<Vec<Part>> {
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
pub(super) fn resumable_run(p: &Part) -> Option<[i64; 2]> {
    let s = p.saved.as_ref()?;
    let range = s.run?;
    (!s.complete && range[0] == p.slice.start_ms).then_some(range)
}

/// The parts tile `range` exactly and all hold the same unfinished checkpoint of it.
pub(super) fn run_checkpoint_holds(parts: &[Part], range: [i64; 2]) -> bool {
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
pub(super) const RUNS_PER_TASK: usize = 2;

/// Chooses the operation of a run as it starts. GetLogEvents and FilterLogEvents have separate
/// quotas, so reading with both adds their rates: the run goes to the operation with fewer runs in
/// flight for its rate (FilterLogEvents on a tie), so each keeps its limiter busy and the share of
/// the work each does follows its quota as it goes, whatever the event density.
pub(super) fn choose_op(reading: [usize; 2], get_tps: f64, filter_tps: Option<f64>) -> Op {
    match filter_tps {
        Some(f) if f > 0.0 && (reading[1] + 1) as f64 / f <= (reading[0] + 1) as f64 / get_tps => {
            Op::FilterLogEvents
        }
        _ => Op::GetLogEvents,
    }
}

/// Appends a slice to the last stretch when it continues it (same stream, adjacent), else starts
/// a new stretch.
pub(super) fn push_to_stretch(stretches: &mut Vec<Vec<Part>>, p: Part) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
