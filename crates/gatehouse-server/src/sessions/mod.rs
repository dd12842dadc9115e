//! Browser sessions: sign-in with username and password, the session cookie, its idle
//! and absolute expiry, and sign-out. The cookie holds a random 256-bit token; the
//! database holds only its hash. The CSRF token is derived from the cookie's token, so
//! it needs no storage and dies with the session.

pub mod handlers;
pub mod list;
pub mod passkey;

use crate::db::sessions as store;

use actix_web::web;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        crate::routing::resource("/session")
            .post(handlers::sign_in)
            .get(handlers::whoami)
            .delete(handlers::sign_out),
    )
    .service(crate::routing::resource("/session/second-step").post(handlers::second_step))
    .service(crate::routing::resource("/session/sudo").post(handlers::sudo))
    .service(crate::routing::resource("/session/sudo/passkey").post(handlers::sudo_passkey))
    .service(crate::routing::resource("/session/passkey").post(passkey::start))
    .service(crate::routing::resource("/session/passkey/{id}").post(passkey::finish))
    .service(
        crate::routing::resource("/me/sessions")
            .get(list::list)
            .delete(list::end_others),
    )
    .service(crate::routing::resource("/me/sessions/{id}").delete(list::end_one));
}
