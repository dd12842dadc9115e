//! Password attempts and the password lock. Every attempt is counted before the
//! password is checked, so however many run at once no more than the threshold in a
//! row are ever checked; at the threshold password sign-in is locked for a while
//! (sessions, keys and tokens keep working). The audit events are recorded by the
//! caller's [`Recorder`]s, in the same transaction as the change they describe.

use std::sync::Arc;

use serde_json::json;

use crate::auth::Authenticator;
use crate::clock;
use crate::db::users as store;
use crate::db::{DbConnection, QueryResult};
use crate::error::ApiError;

/// Records an audit event inside the caller's transaction, with these details if any.
pub type Recorder =
    Arc<dyn Fn(&mut DbConnection, Option<serde_json::Value>) -> QueryResult<()> + Send + Sync>;

/// How long failed sign-ins lock a user's password sign-in (an admin can lift it
/// sooner). Only password sign-in stops: a guesser must not be able to end the
/// victim's sessions or stop their keys and tokens.
pub const PASSWORD_LOCK_DURATION: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// The audit events of a password lock: `user.locked` when failed attempts lock it,
/// `user.unlocked` when a lapsed lock is lifted.
pub struct LockEvents {
    pub locked: Recorder,
    pub lapsed: Recorder,
}

/// Starts a password check for a user (sign-in or password change): lifts a lapsed
/// password lock (recording `user.unlocked`), then counts the attempt *before* the
/// password is verified, so that however many attempts run at once, no more than
/// `threshold` in a row are ever checked.
///
/// An attempt counted beyond the threshold locks password sign-in here, at once: the
/// attempt that reached the threshold may never report back (a client that drops the
/// connection while the hash is checked cancels it), and a count left at the threshold
/// without a lock would refuse every sign-in for ever, with nothing to lapse. The same
/// holds when an admin lowers the threshold below someone's count.
///
/// `None`: the user is not active, their password sign-in is locked, or this attempt
/// is over the budget; refuse it.
pub async fn begin_password_attempt(
    auth: &Authenticator,
    user_id: &str,
    threshold: i64,
    events: LockEvents,
) -> Result<Option<i64>, ApiError> {
    let now = auth.clock.now();
    let id = user_id.to_string();
    let lapsed = events.lapsed;
    let locked = events.locked;
    let locked_details = lock_details(now);
    let count = auth
        .db
        .write(move |conn| {
            if store::lift_lapsed_password_lock(conn, &id, now)? {
                lapsed(conn, Some(json!({"reason": "lapsed"})))?;
            }
            let count = store::reserve_attempt(conn, &id)?;
            if count.is_some_and(|c| c > threshold)
                && store::lock_password(conn, &id, threshold, now + PASSWORD_LOCK_DURATION)?
            {
                locked(conn, Some(locked_details.clone()))?;
                crate::metrics::lockout();
            }
            Ok::<_, ApiError>(count)
        })
        .await?;
    Ok(count.filter(|c| *c <= threshold))
}

fn lock_details(now: chrono::NaiveDateTime) -> serde_json::Value {
    json!({
        "reason": "failed_sign_ins",
        "until": clock::utc(now + PASSWORD_LOCK_DURATION),
    })
}

/// A wrong password for an attempt counted by [`begin_password_attempt`]: records
/// `failure`, and when the attempt was the `threshold`-th in a row, locks the user's
/// password sign-in for [`PASSWORD_LOCK_DURATION`] and records `locked`. Nothing else
/// of theirs stops.
pub async fn password_failed(
    auth: &Authenticator,
    user_id: &str,
    count: i64,
    threshold: i64,
    failure: Recorder,
    locked: Recorder,
) -> Result<(), ApiError> {
    let now = auth.clock.now();
    let until = now + PASSWORD_LOCK_DURATION;
    let locked_details = lock_details(now);
    let id = user_id.to_string();
    auth.db
        .write(move |conn| {
            failure(conn, None)?;
            if count >= threshold && store::lock_password(conn, &id, threshold, until)? {
                locked(conn, Some(locked_details.clone()))?;
                crate::metrics::lockout();
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(())
}

/// An attempt counted by [`begin_password_attempt`] that proved right outside a
/// sign-in (sudo mode, before its second step is counted): given back, so that a right
/// password and code never add up to a lock.
pub async fn give_back_attempt(auth: &Authenticator, user_id: &str) -> Result<(), ApiError> {
    let id = user_id.to_string();
    auth.db
        .write(move |conn| Ok::<_, ApiError>(store::give_back_attempt(conn, &id)?))
        .await
}
