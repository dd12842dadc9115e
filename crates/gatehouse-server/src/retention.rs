//! Data that does not grow forever: a background job purges what no longer decides
//! anything (`db::retention::Kind`: expired and revoked codes and refresh tokens — a
//! spent one only once it would have expired, so reuse detection holds its whole
//! lifetime — unanswered consent requests, ended sessions, and audit events past
//! `audit_retention_days`), in batches of `db::retention::BATCH` rows, each its own
//! transaction. On PostgreSQL one replica at a time purges (an advisory lock taken per
//! batch; the others skip it). A kind that fails is logged and the others go on.

use std::time::Duration;

use chrono::{NaiveDateTime, TimeDelta};

use crate::db::retention::{self as store, BATCH, Cutoffs, Kind};
use crate::error::ApiError;
use crate::state::AppState;

/// How often the job runs.
pub const EVERY: Duration = Duration::from_secs(600);

/// At most this many batches per kind and round (a million rows), so one round ends.
const MAX_BATCHES: usize = 1000;

/// Rows deleted in one round, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Purged(pub Vec<(Kind, usize)>);

impl Purged {
    pub fn of(&self, kind: Kind) -> usize {
        self.0
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n)
            .sum()
    }
}

/// One round: every kind, batch after batch until a batch comes back short (or another
/// replica has the turn).
pub async fn purge(state: &AppState) -> Result<Purged, ApiError> {
    let now = state.clock.now();
    let before = |delta: TimeDelta| now.checked_sub_signed(delta).unwrap_or(NaiveDateTime::MIN);
    let at = Cutoffs {
        now,
        spent_before: before(TimeDelta::hours(i64::from(
            state.settings.spent_token_retention_hours,
        ))),
        audit_before: state
            .settings
            .audit_retention_days
            .map(|days| before(TimeDelta::days(i64::from(days)))),
    };
    let mut failed = None;
    let mut purged = Purged::default();
    for kind in Kind::ALL {
        let mut total = 0;
        for _ in 0..MAX_BATCHES {
            let deleted = state
                .db
                .write(move |conn| {
                    if !store::take_turn(conn)? {
                        return Ok(None);
                    }
                    Ok(Some(store::purge_batch(conn, kind, &at)?))
                })
                .await;
            let deleted = match deleted {
                Ok(Some(deleted)) => deleted,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(kind = kind.as_str(), error = %e, "purging failed");
                    failed = Some(e);
                    break;
                }
            };
            total += deleted;
            if deleted < BATCH as usize {
                break;
            }
        }
        if total > 0 {
            crate::metrics::purged(kind.as_str(), total);
            tracing::info!(kind = kind.as_str(), rows = total, "purged");
        }
        purged.0.push((kind, total));
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(purged),
    }
}

/// Runs [`purge`] every [`EVERY`] until aborted.
pub async fn run(state: actix_web::web::Data<AppState>) {
    let mut every = actix_web::rt::time::interval(EVERY);
    loop {
        every.tick().await;
        // What it deleted, and what failed, is logged as it goes.
        let _ = purge(&state).await;
    }
}
