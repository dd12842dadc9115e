//! Rate limiting of failures: after `max` failures for one key within `window`, further
//! attempts for it are refused until the window ends. Used for OAuth client
//! authentication (per client and caller address, PRODUCT.md §4 rule 6) and for
//! sign-in (per caller address). Per process; with several replicas the effective
//! limit is `max` per replica.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys tracked at once; beyond it the oldest windows are dropped.
const MAX_TRACKED: usize = 10_000;

pub struct FailureLimiter {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl FailureLimiter {
    pub fn new(max: u32, window: Duration) -> FailureLimiter {
        FailureLimiter {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when this key is over its limit.
    pub fn blocked(&self, key: &str) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (start, count) = failures.get(key)?;
        let elapsed = start.elapsed();
        (elapsed < self.window && *count >= self.max)
            .then(|| (self.window - elapsed).as_secs().max(1))
    }

    pub fn record_failure(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= MAX_TRACKED && !failures.contains_key(key) {
            let (window, max) = (self.window, self.max);
            failures.retain(|_, (start, _)| start.elapsed() < window);
            if failures.len() >= MAX_TRACKED {
                // Still full of live windows: forget counts that block nothing yet
                // before any block. A flood of new keys (a guesser rotating addresses)
                // then cannot lift the blocks that matter; it can only push out other
                // half-counted keys, or blocks it earned itself.
                failures.retain(|_, (_, count)| *count >= max);
            }
            if failures.len() >= MAX_TRACKED {
                let mut starts: Vec<Instant> = failures.values().map(|(s, _)| *s).collect();
                starts.sort();
                let cutoff = starts[starts.len() / 2];
                failures.retain(|_, (start, _)| *start > cutoff);
            }
        }
        let entry = failures
            .entry(key.to_string())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_within_the_window() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            l.record_failure("c");
        }
        assert!(l.blocked("c").is_none());
        l.record_failure("c");
        assert!(l.blocked("c").is_some());
        assert!(l.blocked("other").is_none());
        let short = FailureLimiter::new(1, Duration::from_millis(1));
        short.record_failure("c");
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.blocked("c").is_none());
    }

    #[test]
    fn a_flood_of_new_keys_does_not_lift_a_block() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            l.record_failure("guessed");
        }
        for i in 0..(MAX_TRACKED * 2) {
            l.record_failure(&format!("rotating-{i}"));
        }
        assert!(l.blocked("guessed").is_some());
    }
}
