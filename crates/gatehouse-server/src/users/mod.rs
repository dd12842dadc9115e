//! People: one's own profile and password (`/me`), and the admin's user management
//! (`/users`). A user belongs to exactly one subscription; usernames are unique across
//! the server and compared in lower case.

pub mod handlers;
pub mod store;

use actix_web::web;
use chrono::NaiveDateTime;
use gatehouse_types::{Role, User};

use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::{LOCKOUT_DURATION, effective_state};
use crate::error::ApiError;
use crate::startup::resource;
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

/// Starts a password check for a user (sign-in or password change): lifts a lapsed
/// lock, then counts the attempt *before* the password is verified, so that however
/// many attempts run at once, no more than `threshold` in a row are ever checked.
/// `None`: the user is not active, or this attempt is over the budget; refuse it.
pub async fn begin_password_attempt(
    state: &AppState,
    user_id: &str,
    threshold: i64,
) -> Result<Option<i64>, ApiError> {
    let now = clock::now();
    let id = user_id.to_string();
    let count = state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                store::lift_lapsed_lock(conn, &id, now - LOCKOUT_DURATION, now)?;
                Ok::<_, ApiError>(store::reserve_attempt(conn, &id)?)
            })
        })
        .await?;
    Ok(count.filter(|c| *c <= threshold))
}

/// A wrong password for an attempt counted by [`begin_password_attempt`]: records
/// `failure`, and when the attempt was the `threshold`-th in a row, locks the user,
/// ends their sessions and records `locked`.
pub async fn password_failed(
    state: &AppState,
    user_id: &str,
    count: i64,
    threshold: i64,
    failure: Audit,
    locked: Audit,
) -> Result<(), ApiError> {
    let now = clock::now();
    let id = user_id.to_string();
    state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                failure.record(conn)?;
                if count >= threshold && store::lock(conn, &id, now)? {
                    crate::sessions::store::delete_for_user(conn, &id, None)?;
                    locked.record(conn)?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    state.invalidate(Invalidate::User(user_id));
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
        state: effective_state(row, now),
        created_at: clock::utc(row.created_at),
        updated_at: clock::utc(row.updated_at),
        last_sign_in_at: row.last_sign_in_at.map(clock::utc),
    }
}
