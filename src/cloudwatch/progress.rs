//! Progress on stderr while downloading (a bar only when stderr is a terminal).

use super::*;

/// Counters behind the progress bar (drawn only on a terminal).
#[derive(Clone)]
pub(super) struct Progress {
    pub(super) bar: indicatif::ProgressBar,
    pub(super) events: Arc<AtomicU64>,
    pub(super) bytes: Arc<AtomicU64>,
    pub(super) covered_ms: Arc<AtomicI64>,
    pub(super) window_ms: i64,
    /// Sum of all slices' spans (streams × window, roughly).
    pub(super) total_ms: i64,
    pub(super) started: Instant,
}

impl Progress {
    pub(super) fn new(draw: bool, window_ms: i64, total_ms: i64) -> Self {
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
    pub(super) fn add_events(&self, events: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.redraw();
    }

    pub(super) fn page(&self, events: u64, bytes: u64) {
        self.events.fetch_add(events, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.redraw();
    }

    /// Time of one stream now downloaded (or found in the cache).
    pub(super) fn cover(&self, span_ms: i64) {
        if span_ms > 0 {
            self.covered_ms.fetch_add(span_ms, Ordering::Relaxed);
            self.redraw();
        }
    }

    pub(super) fn covered_text(&self) -> String {
        let covered = self.covered_ms.load(Ordering::Relaxed) as f64;
        let share = covered / (self.total_ms.max(1) as f64);
        format!(
            "{} of {}",
            human_duration((share * self.window_ms as f64) as i64),
            human_duration(self.window_ms)
        )
    }

    pub(super) fn redraw(&self) {
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

    pub(super) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
