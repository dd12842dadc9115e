//! Rate limiting of failures: after `max` failures for one key within `window`, further
//! attempts for it are refused until the window ends. Used for OAuth client
//! authentication (per client and caller address, docs/PRODUCT.md §4 rule 6) and for
//! sign-in (per caller address). Per process; with several replicas the effective
//! limit is `max` per replica.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most keys tracked at once; beyond it the oldest windows are dropped.
const MAX_TRACKED: usize = 10_000;

/// An attempt counted by [`FailureLimiter::attempt`]: the window it was counted in.
#[derive(Debug, Clone, Copy)]
pub struct Attempt(Option<Instant>);

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
        blocked_in(&self.lock(), key, self.window, self.max)
    }

    pub fn record_failure(&self, key: &str) {
        record_in(&mut self.lock(), key, self.window, self.max);
    }

    /// Counts an attempt for `key` before it is made, unless the key is over its limit
    /// (then `Err(seconds to wait)`): attempts sent at once are counted as they arrive,
    /// not as they fail, so no more than `max` of them are ever in flight or done in a
    /// window. [`FailureLimiter::refund`] gives the count back when the attempt succeeds.
    pub fn attempt(&self, key: &str) -> Result<Attempt, u64> {
        let mut failures = self.lock();
        if let Some(wait) = blocked_in(&failures, key, self.window, self.max) {
            return Err(wait);
        }
        record_in(&mut failures, key, self.window, self.max);
        let window = failures.get(key).map(|(start, _)| *start);
        Ok(Attempt(window))
    }

    /// Takes back one attempt counted by [`FailureLimiter::attempt`] that succeeded —
    /// from the window it was counted in only (a success that ends after the window
    /// rolled over cancels nothing of the next).
    pub fn refund(&self, key: &str, attempt: Attempt) {
        if let Some((start, count)) = self.lock().get_mut(key)
            && Some(*start) == attempt.0
        {
            *count = count.saturating_sub(1);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn blocked_in(
    failures: &HashMap<String, (Instant, u32)>,
    key: &str,
    window: Duration,
    max: u32,
) -> Option<u64> {
    let (start, count) = failures.get(key)?;
    let elapsed = start.elapsed();
    (elapsed < window && *count >= max).then(|| (window - elapsed).as_secs().max(1))
}

fn record_in(
    failures: &mut HashMap<String, (Instant, u32)>,
    key: &str,
    window: Duration,
    max: u32,
) {
    if failures.len() >= MAX_TRACKED && !failures.contains_key(key) {
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
    if entry.0.elapsed() >= window {
        *entry = (Instant::now(), 0);
    }
    entry.1 += 1;
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
    fn attempts_are_counted_before_they_are_made() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let first = l.attempt("a").unwrap();
        assert!((0..2).all(|_| l.attempt("a").is_ok()));
        assert!(
            l.attempt("a").is_err(),
            "the fourth waits, though none has failed yet"
        );
        l.refund("a", first);
        assert!(l.attempt("a").is_ok(), "a success gives its count back");
        assert!(l.attempt("b").is_ok());
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
