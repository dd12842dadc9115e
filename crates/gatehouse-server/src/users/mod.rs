//! People: one's own profile and password (`/me`), and the admin's user management
//! (`/users`). A user belongs to exactly one subscription; usernames are unique across
//! the server and compared in lower case.

pub mod handlers;
pub mod store;

use actix_web::web;
use chrono::NaiveDateTime;
use gatehouse_types::{Role, User, UserState};

use crate::audit::Audit;
use crate::auth::effective_state;
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

/// A wrong password, at sign-in or at a password change: counts one more failure in a
/// row and, at the subscription's threshold, locks the user and ends their sessions.
/// Records `failure` always and `locked` when it locks; the caller invalidates the
/// user's cached keys afterwards. A lapsed lock (`restart_count`) starts the count
/// afresh.
pub async fn record_failed_password(
    state: &AppState,
    user_id: &str,
    threshold: i64,
    restart_count: bool,
    failure: Audit,
    locked: Audit,
) -> Result<(), ApiError> {
    let now = clock::now();
    let id = user_id.to_string();
    state
        .db(move |conn| {
            db::transaction(conn, |conn| {
                if restart_count {
                    store::update(conn, &id, &store::UserChanges::unlock(now))?;
                }
                let count = store::add_failed_sign_in(conn, &id)?;
                failure.record(conn)?;
                if count >= threshold {
                    store::update(
                        conn,
                        &id,
                        &store::UserChanges {
                            state: Some(UserState::Locked.as_str().into()),
                            locked_at: Some(Some(now)),
                            updated_at: Some(now),
                            ..Default::default()
                        },
                    )?;
                    crate::sessions::store::delete_for_user(conn, &id, None)?;
                    locked.record(conn)?;
                }
                Ok::<_, ApiError>(())
            })
        })
        .await?;
    state.keys.invalidate_user(user_id);
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
