//! People: one's own profile and password (`/me`), and the admin's user management
//! (`/users`). A user belongs to exactly one subscription; usernames are unique across
//! the server and compared in lower case.

pub mod handlers;
pub mod rules;

pub use crate::auth::lockout::{
    LockEvents, PASSWORD_LOCK_DURATION, begin_password_attempt, password_failed,
};
use crate::db::users as store;
pub use crate::db::users::to_api;

use actix_web::web;

use crate::routing::resource;

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
    )
    .service(resource("/users/{id}/password").post(handlers::reset_password));
}
