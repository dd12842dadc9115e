//! People: one's own profile and password (`/me`), and the admin's user management
//! (`/users`). A user belongs to exactly one subscription; usernames are unique across
//! the server and compared in lower case.

pub mod handlers;
pub mod store;

use actix_web::web;
use chrono::NaiveDateTime;
use gatehouse_types::{Role, User};

use crate::auth::effective_state;
use crate::clock;
use crate::startup::resource;

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
