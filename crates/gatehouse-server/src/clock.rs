//! Time as the database stores it: UTC `NaiveDateTime` truncated to microseconds, the
//! precision both PostgreSQL and our SQLite text format keep, so a value reads back
//! exactly as it was written.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

pub fn utc(t: NaiveDateTime) -> DateTime<Utc> {
    t.and_utc()
}

/// "Last used" and "last seen" times are written at most this often per credential,
/// so a busy key, grant or session costs one write a minute, not one per request; they
/// are precise to this interval.
pub const TOUCH_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::minutes(1);
