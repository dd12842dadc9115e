//! Devices polling the token endpoint (RFC 8628 §3.5), per process: the pace each
//! device code must keep, and which codes are known to be still waiting for their
//! person, so that thousands of waiting devices cost neither a write nor a read each.
//!
//! - **Pace.** When each code was last polled and the interval it must keep, by the
//!   server's clock. A device that polls sooner hears `slow_down` and its interval
//!   grows by 5 s for good (up to a cap). A device that spreads its polls over several
//!   replicas only escapes `slow_down`, which protects nothing but load.
//! - **Waiting codes.** A poll that read a code as still waiting remembers it (its row,
//!   client and expiry) for [`TRUST`] ([`TRUST_TOLD`] where replicas tell each other
//!   of decisions); polls within that time are answered from memory.
//!   A stale "still waiting" grants nothing: at worst a device hears
//!   `authorization_pending` a little longer. The person's decision forgets the code at
//!   once on its replica, and on PostgreSQL on every replica (`Invalidate::Device`
//!   through `LISTEN`/`NOTIFY`); only replicas of one SQLite file, which send no
//!   messages, wait out [`TRUST`]; on PostgreSQL, [`TRUST_TOLD`] only bounds a message
//!   lost with its sender (a replica that lost its own connection forgets every code
//!   when it reconnects). A read that raced a decision is not remembered (a
//!   generation counter, as in `auth::cache`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use chrono::{NaiveDateTime, TimeDelta};

/// How long a code read as waiting is believed without reading it again (by the
/// server's clock): three polls at the default interval.
pub const TRUST: TimeDelta = TimeDelta::seconds(15);
/// The same where decisions reach every replica by message (PostgreSQL).
pub const TRUST_TOLD: TimeDelta = TimeDelta::seconds(60);
/// Device codes tracked at once; past it, polls of codes not yet seen are not paced
/// (nor remembered).
const MAX_TRACKED: usize = 100_000;

/// A code the database said is waiting for its person.
pub struct Waiting {
    /// The device request's row id (what a decision names).
    pub id: String,
    /// The client record it belongs to.
    pub client_id: String,
    pub expires_at: NaiveDateTime,
}

/// What memory alone can answer for a poll.
#[derive(Debug, PartialEq, Eq)]
pub enum Known {
    Pending,
    SlowDown,
    Expired,
}

struct Code {
    last: NaiveDateTime,
    interval: i64,
    waiting: Option<(Waiting, NaiveDateTime)>,
}

pub struct DevicePolls {
    base: i64,
    max: i64,
    /// Whether decisions reach this replica by message ([`TRUST_TOLD`]).
    told: AtomicBool,
    /// Bumped by every forget: a read older than the latest forget is not remembered.
    generation: AtomicU64,
    codes: Mutex<HashMap<String, Code>>,
}

impl DevicePolls {
    /// Polls `base` seconds apart at first; each early poll adds 5 s, up to `max`.
    pub fn new(base: i64, max: i64) -> DevicePolls {
        DevicePolls {
            base,
            max,
            told: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            codes: Mutex::new(HashMap::new()),
        }
    }

    /// Decisions made on other replicas reach this one by message from now on.
    pub fn told_by_replicas(&self) {
        self.told.store(true, Ordering::SeqCst);
    }

    fn trust(&self) -> TimeDelta {
        if self.told.load(Ordering::SeqCst) {
            TRUST_TOLD
        } else {
            TRUST
        }
    }

    fn codes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Code>> {
        self.codes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Before reading the database: the answer for `code` (a device code's hash) polled
    /// by `client_id` at `now`, when it is known to be waiting. Records the poll's pace.
    /// `None`: read it.
    pub fn known(&self, code: &str, client_id: &str, now: NaiveDateTime) -> Option<Known> {
        let mut codes = self.codes();
        let entry = codes.get_mut(code)?;
        let (waiting, read) = entry.waiting.as_ref()?;
        if now - *read > self.trust() || waiting.client_id != client_id {
            // Another client's code is for the database to call invalid.
            entry.waiting = None;
            return None;
        }
        if waiting.expires_at <= now {
            return Some(Known::Expired);
        }
        Some(if pace(entry, now, self.max) {
            Known::SlowDown
        } else {
            Known::Pending
        })
    }

    /// Taken before a read whose answer may be passed to [`DevicePolls::waiting`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// After the database said `code` is waiting (read after [`DevicePolls::generation`]
    /// said `generation`): remembers it unless a decision was forgotten since, and
    /// records the poll. `true` when the poll came too soon (`slow_down`).
    pub fn waiting(
        &self,
        code: &str,
        waiting: Waiting,
        generation: u64,
        now: NaiveDateTime,
    ) -> bool {
        let mut codes = self.codes();
        let fresh = self.generation.load(Ordering::SeqCst) == generation;
        let remembered = fresh.then_some((waiting, now));
        if let Some(entry) = codes.get_mut(code) {
            entry.waiting = remembered;
            return pace(entry, now, self.max);
        }
        if codes.len() >= MAX_TRACKED {
            // Codes live ten minutes: those not polled for longer are done.
            let stale = now - TimeDelta::minutes(11);
            codes.retain(|_, c| c.last > stale);
            if codes.len() >= MAX_TRACKED {
                return false;
            }
        }
        codes.insert(
            code.to_string(),
            Code {
                last: now,
                interval: self.base,
                waiting: remembered,
            },
        );
        false
    }

    /// The device request `id` was decided (or is gone): its polls read the database
    /// again. The pace is kept.
    pub fn forget(&self, id: &str) {
        let mut codes = self.codes();
        self.generation.fetch_add(1, Ordering::SeqCst);
        for c in codes.values_mut() {
            if c.waiting.as_ref().is_some_and(|(w, _)| w.id == id) {
                c.waiting = None;
            }
        }
    }

    /// Every code's polls read the database again (a replica that may have missed
    /// messages).
    pub fn forget_all(&self) {
        let mut codes = self.codes();
        self.generation.fetch_add(1, Ordering::SeqCst);
        for c in codes.values_mut() {
            c.waiting = None;
        }
    }
}

/// Records a poll at `now`; `true` when it came before the interval (which then grows).
fn pace(code: &mut Code, now: NaiveDateTime, max: i64) -> bool {
    let early = now - code.last < TimeDelta::seconds(code.interval);
    if early {
        code.interval = (code.interval + 5).min(max);
    }
    code.last = now;
    early
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0)
            .unwrap()
            .naive_utc()
    }

    fn waiting(id: &str) -> Waiting {
        Waiting {
            id: id.into(),
            client_id: "client".into(),
            expires_at: at(600),
        }
    }

    #[test]
    fn early_polls_slow_down_for_good() {
        let polls = DevicePolls::new(5, 15);
        polls.told_by_replicas(); // Remembered for the whole test.
        let g = polls.generation();
        assert!(!polls.waiting("a", waiting("1"), g, at(0)));
        assert_eq!(polls.known("a", "client", at(1)), Some(Known::SlowDown));
        assert_eq!(
            polls.known("a", "client", at(7)),
            Some(Known::SlowDown),
            "6 s after: too soon; now 15 s"
        );
        assert_eq!(
            polls.known("a", "client", at(21)),
            Some(Known::SlowDown),
            "14 s after: too soon; capped at 15 s"
        );
        assert_eq!(polls.known("a", "client", at(37)), Some(Known::Pending));
        assert!(
            !polls.waiting("b", waiting("2"), g, at(1)),
            "another code has its own pace"
        );
    }

    #[test]
    fn a_decision_sends_the_next_poll_to_the_database() {
        let polls = DevicePolls::new(5, 60);
        polls.waiting("a", waiting("1"), polls.generation(), at(0));
        polls.waiting("b", waiting("2"), polls.generation(), at(0));
        polls.forget("1");
        assert_eq!(
            polls.known("a", "client", at(5)),
            None,
            "decided: read again"
        );
        assert_eq!(polls.known("b", "client", at(5)), Some(Known::Pending));
        polls.forget_all();
        assert_eq!(polls.known("b", "client", at(10)), None);
    }

    #[test]
    fn a_read_that_raced_a_decision_is_not_remembered() {
        let polls = DevicePolls::new(5, 60);
        let before = polls.generation();
        polls.forget("1");
        polls.waiting("a", waiting("1"), before, at(0));
        assert_eq!(polls.known("a", "client", at(5)), None);
    }

    #[test]
    fn another_clients_poll_and_expiry() {
        let polls = DevicePolls::new(5, 60);
        polls.waiting("a", waiting("1"), polls.generation(), at(0));
        assert_eq!(polls.known("a", "other", at(5)), None, "for the database");
        polls.waiting("a", waiting("1"), polls.generation(), at(5));
        assert_eq!(polls.known("a", "client", at(15)), Some(Known::Pending));
        assert_eq!(
            polls.known("a", "client", at(21)),
            None,
            "past TRUST: read again"
        );
        polls.waiting("a", waiting("1"), polls.generation(), at(595));
        assert_eq!(polls.known("a", "client", at(600)), Some(Known::Expired));
    }
}
