//! The rules of changing a person, written once for everyone who changes one: the
//! administrator's `PATCH /api/v1/users/{id}` and `DELETE`, and the operator's
//! `gatehouse users disable|unlock` (`operator.rs`, which the layers test lets name this
//! module and no other part of `users`).
//!
//! - **The last administrator stays**: a change that would leave the subscription
//!   without an active administrator is refused, judged under the subscription's lock so
//!   that two administrators demoting each other at once cannot both succeed.
//! - **Stopping a person ends their sessions at once**: disabling or an administrator's
//!   lock deletes their sessions in the same transaction, and finds the applications to
//!   tell by Back-Channel Logout after it commits; their keys and tokens fail at their
//!   next request (the user is re-read with them).
//! - **Activating unlocks**: `active` lifts both locks (an administrator's and a
//!   password lock) and forgets failed sign-ins, and `user.unlocked` is recorded when
//!   there was a lock to lift; an administrator's lock records `user.locked`.

use chrono::NaiveDateTime;
use gatehouse_types::{Role, UserState, codes};

use super::store::{self, UserChanges, UserRow};
use crate::audit::Audit;
use crate::db::DbConnection;
use crate::db::grants::LogoutScope;
use crate::db::sessions as sessions_store;
use crate::db::subscriptions as subscriptions_store;
use crate::error::ApiError;
use crate::logout;

/// The refusal of the last-administrator rule.
pub fn last_admin() -> ApiError {
    ApiError::conflict(
        codes::LAST_ADMIN,
        "This is the last active administrator of the subscription; make someone else an administrator first.",
    )
}

/// Serializes changes to people within the subscription, then refuses a change that
/// would leave it without an active admin (`stays_admin`: whether the person is still
/// an active admin after it). Returns the person as read under the lock.
pub fn lock_and_check_last_admin(
    conn: &mut DbConnection,
    subscription_id: &str,
    user_id: &str,
    stays_admin: bool,
) -> Result<UserRow, ApiError> {
    subscriptions_store::lock(conn, subscription_id)?;
    let current =
        store::find_in_subscription(conn, subscription_id, user_id)?.ok_or(ApiError::NotFound)?;
    let is_active_admin = current.role == Role::Admin && current.state == UserState::Active;
    if is_active_admin
        && !stays_admin
        && store::count_other_active_admins(conn, subscription_id, user_id)? == 0
    {
        return Err(last_admin());
    }
    Ok(current)
}

/// A change of a person's role and state (and of what `changes` carries besides).
pub struct Change {
    pub role: Option<Role>,
    pub state: Option<UserState>,
    pub changes: UserChanges,
}

impl Change {
    /// What setting `state` (and `role`) changes: activating also unlocks, an
    /// administrator's lock records when.
    pub fn new(role: Option<Role>, state: Option<UserState>, now: NaiveDateTime) -> Change {
        let mut changes = UserChanges {
            role: role.map(|r| r.as_str().to_string()),
            state: state.map(|s| s.as_str().to_string()),
            updated_at: Some(now),
            ..Default::default()
        };
        match state {
            Some(UserState::Active) => {
                let unlock = UserChanges::unlock(now);
                changes.failed_sign_ins = unlock.failed_sign_ins;
                changes.locked_at = unlock.locked_at;
                changes.password_locked_until = unlock.password_locked_until;
            }
            Some(UserState::Locked) => changes.locked_at = Some(Some(now)),
            Some(UserState::Disabled) | None => {}
        }
        Change {
            role,
            state,
            changes,
        }
    }

    /// Whether the person is still an active administrator after it (if they were).
    fn stays_admin(&self) -> bool {
        self.role.is_none_or(|r| r == Role::Admin)
            && self.state.is_none_or(|s| s == UserState::Active)
    }

    /// Whether it stops the person: disabling, or an administrator's lock.
    fn stops(&self) -> bool {
        matches!(self.state, Some(UserState::Disabled | UserState::Locked))
    }
}

/// What [`apply`] did.
pub struct Applied {
    /// The person as read under the lock, before the change.
    pub before: UserRow,
    /// The person as stored now.
    pub after: UserRow,
    /// The applications to tell by Back-Channel Logout once the transaction commits.
    pub logouts: Vec<logout::Target>,
}

/// Applies `change` to a person inside the caller's write transaction, holding every
/// rule of this module. `event(action)` makes the `user.locked` / `user.unlocked`
/// events (who did it, and why); the caller records its own `user.updated`.
pub fn apply(
    conn: &mut DbConnection,
    subscription_id: &str,
    user_id: &str,
    change: &Change,
    now: NaiveDateTime,
    event: impl Fn(&'static str) -> Audit,
) -> Result<Applied, ApiError> {
    let before = lock_and_check_last_admin(conn, subscription_id, user_id, change.stays_admin())?;
    let admin_locked = before.state == UserState::Locked;
    let password_locked = before.password_locked_until.is_some_and(|u| u > now);
    let mut logouts = Vec::new();
    if change.stops() {
        logouts = logout::targets(conn, LogoutScope::User(user_id), now)?;
    }
    store::update(conn, subscription_id, user_id, &change.changes)?;
    if change.stops() {
        sessions_store::delete_for_user(conn, user_id, None, now)?;
    }
    match change.state {
        Some(UserState::Active) if admin_locked || password_locked => {
            event("user.unlocked").record(conn)?;
        }
        Some(UserState::Locked) if !admin_locked => event("user.locked").record(conn)?,
        _ => {}
    }
    let after =
        store::find_in_subscription(conn, subscription_id, user_id)?.ok_or(ApiError::NotFound)?;
    Ok(Applied {
        before,
        after,
        logouts,
    })
}

/// Deletes a person inside the caller's write transaction, unless they are the last
/// active administrator; returns the applications to tell once it commits. Sessions,
/// keys, grants (with their codes and refresh tokens) and the clients the person
/// registered go with them by cascade.
pub fn delete(
    conn: &mut DbConnection,
    subscription_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<Vec<logout::Target>, ApiError> {
    lock_and_check_last_admin(conn, subscription_id, user_id, false)?;
    let logouts = logout::targets(conn, LogoutScope::User(user_id), now)?;
    if !store::delete(conn, subscription_id, user_id)? {
        // Deleted meanwhile: nothing happened here, and nothing is recorded.
        return Err(ApiError::NotFound);
    }
    Ok(logouts)
}
