//! One request-rate limiter shared by every download task of an operation.
//!
//! Requests are spaced at least `1.1 / rate` apart, so no one-second window ever holds more than
//! `max_rate` requests, however many tasks ask, even when the network bunches a few of them up on
//! the way (the 10 % margin). The rate adapts (AIMD): a throttled call halves it,
//! each successful call wins a little back, never above `max_rate`.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spacing factor over `1 / rate`.
const MARGIN: f64 = 1.1;

#[derive(Debug)]
pub struct RateLimiter {
    max_rate: f64,
    min_rate: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    rate: f64,
    next: Option<Instant>,
}

impl RateLimiter {
    /// `max_rate`: requests per second (at least 0.1).
    pub fn new(max_rate: f64) -> Self {
        let max_rate = max_rate.max(0.1);
        RateLimiter {
            max_rate,
            min_rate: (max_rate / 16.0).max(0.1),
            state: Mutex::new(State {
                rate: max_rate,
                next: None,
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
            let slot = match s.next {
                Some(n) if n > now => n,
                _ => now,
            };
            s.next = Some(slot + Duration::from_secs_f64(MARGIN / s.rate));
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// The service throttled a call: halve the rate and push the next slot out by one new interval.
    pub async fn throttled(&self) {
        let mut s = self.state.lock().await;
        s.rate = (s.rate / 2.0).max(self.min_rate);
        let gap = Duration::from_secs_f64(MARGIN / s.rate);
        let now = Instant::now();
        s.next = Some(match s.next {
            Some(n) if n > now => n + gap,
            _ => now + gap,
        });
    }

    /// A call succeeded: grow the rate by 1/16 of the maximum.
    pub async fn succeeded(&self) {
        let mut s = self.state.lock().await;
        s.rate = (s.rate + self.max_rate / 16.0).min(self.max_rate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_and_backs_off() {
        let l = std::sync::Arc::new(RateLimiter::new(10.0));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..20 {
            let l = l.clone();
            handles.push(tokio::spawn(async move {
                l.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap());
        }
        times.sort();
        // 20 requests at 10/s: 110 ms apart, never 10 within one second
        assert_eq!(times[19] - start, Duration::from_millis(2090));
        for w in times.windows(10) {
            assert!(w[9] - w[0] >= Duration::from_millis(990));
        }
        l.throttled().await;
        assert_eq!(l.rate().await, 5.0);
        for _ in 0..3 {
            l.throttled().await;
        }
        assert_eq!(l.rate().await, 0.625, "floor is max/16");
        for _ in 0..40 {
            l.succeeded().await;
        }
        assert_eq!(l.rate().await, 10.0, "never above the maximum");
    }
}
