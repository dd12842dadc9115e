//! Time as the database stores it: UTC `NaiveDateTime` truncated to microseconds, the
//! precision both PostgreSQL and our SQLite text format keep, so a value reads back
//! exactly as it was written.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, NaiveDateTime, SubsecRound, TimeDelta, Utc};

/// The system's time: for the command line and background work that has no server
/// clock at hand (signing-key rotation, bootstrap).
pub fn system_now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// The server's clock: the system's, moved by an offset that only tests set
/// ([`Clock::advance`]), so a test can let fifteen minutes pass for one server without
/// writing timestamps into its database, and without touching other servers in the
/// same process. Every request path reads time from here.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_micros: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> NaiveDateTime {
        let offset = TimeDelta::microseconds(self.offset_micros.load(Ordering::Relaxed));
        system_now() + offset
    }

    /// Moves this clock (and every handle cloned from it) forward.
    pub fn advance(&self, by: TimeDelta) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.offset_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// "Last used" and "last seen" times are written at most this often per credential,
/// so a busy key, grant or session costs one write a minute, not one per request; they
/// are precise to this interval.
pub const TOUCH_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::minutes(1);
