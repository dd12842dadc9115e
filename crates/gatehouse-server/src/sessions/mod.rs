//! Browser sessions: sign-in with username and password, the session cookie, its idle
//! and absolute expiry, and sign-out. The cookie holds a random 256-bit token; the
//! database holds only its hash. The CSRF token is derived from the cookie's token, so
//! it needs no storage and dies with the session.

pub mod handlers;

use crate::db::sessions as store;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        crate::routing::resource("/session")
            .post(handlers::sign_in)
            .get(handlers::whoami)
            .delete(handlers::sign_out),
    );
}

/// Failed sign-ins from one client address within [`SIGN_IN_FAILURE_WINDOW`] before that
/// address is told to wait (429 with `Retry-After`) until the window ends. It slows
/// password spraying across many usernames, which the per-user lockout cannot see.
pub const SIGN_IN_FAILURES_PER_ADDRESS: u32 = 20;
pub const SIGN_IN_FAILURE_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);
