//! People: one's own profile and password (`/me`), and the admin's user management
//! (`/users`). A user belongs to exactly one subscription; usernames are unique across
//! the server and compared in lower case.

pub mod handlers;

use crate::db::users as store;

use actix_web::web;
use chrono::NaiveDateTime;
use gatehouse_types::{Role, User};
use serde_json::json;

use crate::audit::Audit;
use crate::auth::effective_state;
use crate::error::ApiError;
use crate::routing::resource;
use crate::state::AppState;
use crate::{clock, db};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/me")
            .get(handlers::get_me)
            .patch(handlers::update_me),
    )
    .service(resource("/me/password").put(handlers::change_password))
    .service(
        resource("/users")
            .get(handlers::list_users)
            .post(handlers::create_user),
    )
    .service(
        resource("/users/{id}")
            .get(handlers::get_user)
            .patch(handlers::update_user)
            .delete(handlers::delete_user),
    );
}

/// How long failed sign-ins lock a user's password sign-in (an admin can lift it
/// sooner). Only password sign-in stops: a guesser must not be able to end the
/// victim's sessions or stop their keys and tokens.
pub const PASSWORD_LOCK_DURATION: chrono::TimeDelta = chrono::TimeDelta::minutes(15);

/// The audit events of a password lock: `user.locked` when failed attempts lock it,
/// `user.unlocked` when a lapsed lock is lifted.
pub struct LockEvents {
    pub locked: Audit,
    pub lapsed: Audit,
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
    state: &AppState,
    user_id: &str,
    threshold: i64,
    events: LockEvents,
) -> Result<Option<i64>, ApiError> {
    let now = clock::now();
    let id = user_id.to_string();
    let lapsed = events.lapsed.details(json!({"reason": "lapsed"}));
    let locked = lock_event(events.locked, now);
    let count = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                if store::lift_lapsed_password_lock(conn, &id, now)? {
                    lapsed.record(conn)?;
                }
                let count = store::reserve_attempt(conn, &id)?;
                if count.is_some_and(|c| c > threshold)
                    && store::lock_password(conn, &id, threshold, now + PASSWORD_LOCK_DURATION)?
                {
                    locked.record(conn)?;
                }
                Ok::<_, ApiError>(count)
            })
        })
        .await?;
    Ok(count.filter(|c| *c <= threshold))
}

fn lock_event(locked: Audit, now: chrono::NaiveDateTime) -> Audit {
    locked.details(json!({
        "reason": "failed_sign_ins",
        "until": clock::utc(now + PASSWORD_LOCK_DURATION),
    }))
}

/// A wrong password for an attempt counted by [`begin_password_attempt`]: records
/// `failure`, and when the attempt was the `threshold`-th in a row, locks the user's
/// password sign-in for [`PASSWORD_LOCK_DURATION`] and records `locked`. Nothing else
/// of theirs stops.
pub async fn password_failed(
    state: &AppState,
    user_id: &str,
    count: i64,
    threshold: i64,
    failure: Audit,
    locked: Audit,
) -> Result<(), ApiError> {
    let now = clock::now();
    let until = now + PASSWORD_LOCK_DURATION;
    let locked = lock_event(locked, now);
    let id = user_id.to_string();
    state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                failure.record(conn)?;
                if count >= threshold && store::lock_password(conn, &id, threshold, until)? {
                    locked.record(conn)?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    Ok(())
}

pub fn to_api(row: &store::UserRow, now: NaiveDateTime) -> User {
    User {
        id: row.id.clone(),
        subscription_id: row.subscription_id.clone(),
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        email: row.email.clone(),
        role: Role::parse(&row.role).unwrap_or(Role::Viewer),
        state: effective_state(row),
        password_locked_until: row
            .password_locked_until
            .filter(|until| *until > now)
            .map(clock::utc),
        created_at: clock::utc(row.created_at),
        updated_at: clock::utc(row.updated_at),
        last_sign_in_at: row.last_sign_in_at.map(clock::utc),
    }
}
