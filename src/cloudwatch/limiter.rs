//! One request-rate limiter shared by every download task of an operation.
//!
//! A quota of `n` requests per second is kept as a sliding window: a request may start only when
//! fewer than `n` requests started in the last [`WINDOW`] (1.1 s). So no one-second window ever
//! holds more than `n` requests, however many tasks ask, even when the network bunches a few of
//! them up on the way (up to 100 ms of jitter, the margin). Unlike spacing requests evenly at the
//! rate, the window lets a download start with a burst of `n` calls (spread at twice the rate, so
//! a burst does not arrive as one clump), the way a token bucket of one second's worth admits
//! them; a window-limited client never exceeds such a bucket either.
//!
//! The allowance adapts (AIMD): a throttled call halves it, each successful call wins back
//! 1/16 of the quota, never above it.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// No more than the quota may start within this span: one second plus a 10 % margin for jitter.
pub const WINDOW: Duration = Duration::from_millis(1100);

#[derive(Debug)]
pub struct RateLimiter {
    max_rate: f64,
    min_rate: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Requests allowed per window now (fractional while it grows back).
    rate: f64,
    /// Start times handed out, oldest first (at most `max_rate` of them kept).
    starts: VecDeque<Instant>,
}

impl RateLimiter {
    /// `max_rate`: requests per second. Below 1 request per second the window is stretched so the
    /// long-run rate still holds (0.5/s → one request per 2.2 s).
    pub fn new(max_rate: f64) -> Self {
        let max_rate = max_rate.max(0.1);
        RateLimiter {
            max_rate,
            min_rate: (max_rate / 16.0).max(0.1),
            state: Mutex::new(State {
                rate: max_rate,
                starts: VecDeque::new(),
            }),
        }
    }

    pub fn max_rate(&self) -> f64 {
        self.max_rate
    }

    /// The rate now in force (after throttling backed it off).
    pub async fn rate(&self) -> f64 {
        self.state.lock().await.rate
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = {
            let mut s = self.state.lock().await;
            let now = Instant::now();
            // n requests per window; under one per second, one per stretched window
            let (n, window) = if s.rate >= 1.0 {
                (s.rate.floor() as usize, WINDOW)
            } else {
                (1, WINDOW.mul_f64(1.0 / s.rate))
            };
            let slot = match s.starts.len().checked_sub(n).and_then(|i| s.starts.get(i)) {
                Some(&nth_last) => (nth_last + window).max(now),
                None => now,
            };
            // starts stays sorted, and a burst is spread at twice the rate
            let gap = Duration::from_secs_f64(0.5 / s.rate);
            let slot = s.starts.back().map_or(slot, |&b| slot.max(b + gap));
            s.starts.push_back(slot);
            let keep = (self.max_rate.ceil() as usize).max(1);
            while s.starts.len() > keep {
                s.starts.pop_front();
            }
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The service throttled a call: halve the allowance.
    pub async fn throttled(&self) {
        let mut s = self.state.lock().await;
        s.rate = (s.rate / 2.0).max(self.min_rate);
    }

    /// A call succeeded: grow the allowance by 1/16 of the maximum.
    pub async fn succeeded(&self) {
        let mut s = self.state.lock().await;
        s.rate = (s.rate + self.max_rate / 16.0).min(self.max_rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Start times of `k` callers asking at once, from `origin`, sorted.
    async fn starts(l: &std::sync::Arc<RateLimiter>, k: usize, origin: Instant) -> Vec<Duration> {
        let mut handles = Vec::new();
        for _ in 0..k {
            let l = l.clone();
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap() - origin);
        }
        times.sort();
        times
    }

    const MS: Duration = Duration::from_millis(1);

    #[tokio::test(start_paused = true)]
    async fn keeps_the_quota_in_every_window_and_backs_off() {
        let origin = Instant::now();
        let l = std::sync::Arc::new(RateLimiter::new(10.0));
        let times = starts(&l, 25, origin).await;
        // a burst of 10 spread at twice the rate (50 ms apart), the next 10 one window later
        let expected: Vec<Duration> = (0..25u32)
            .map(|i| WINDOW * (i / 10) + MS * 50 * (i % 10))
            .collect();
        assert_eq!(times, expected);
        for w in times.windows(11) {
            assert!(
                w[10] - w[0] >= WINDOW,
                "11 starts within {:?}",
                w[10] - w[0]
            );
        }
        l.throttled().await;
        assert_eq!(l.rate().await, 5.0);
        // after the backoff: at most 5 starts per window, 100 ms apart
        let after = starts(&l, 6, origin).await;
        assert!(after[0] > times[24]);
        let all: Vec<Duration> = times.iter().chain(&after).copied().collect();
        for &t in &after {
            let in_window = all.iter().filter(|&&u| u <= t && u + WINDOW > t).count();
            assert!(
                in_window <= 5,
                "{in_window} starts in the window up to {t:?}"
            );
        }
        for w in after.windows(2) {
            assert!(w[1] - w[0] >= MS * 100);
        }
        for _ in 0..3 {
            l.throttled().await;
        }
        assert_eq!(l.rate().await, 0.625, "floor is max/16");
        for _ in 0..40 {
            l.succeeded().await;
        }
        assert_eq!(l.rate().await, 10.0, "never above the maximum");
    }

    #[tokio::test(start_paused = true)]
    async fn a_quota_under_one_per_second_stretches_the_window() {
        let l = std::sync::Arc::new(RateLimiter::new(0.5));
        let times = starts(&l, 3, Instant::now()).await;
        assert_eq!(times, vec![Duration::ZERO, WINDOW * 2, WINDOW * 4]);
    }
}
