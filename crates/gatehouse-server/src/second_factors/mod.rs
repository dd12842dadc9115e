//! Second steps of sign-in — one-time codes from an authenticator app (RFC 6238) and
//! recovery codes — under `/api/v1/me/second-factors` and `/api/v1/me/recovery-codes`.
//! The person enrols an app by scanning a QR code and typing a code from it; the first
//! one confirmed brings ten recovery codes, shown once and stored hashed. Signing in
//! then asks for one of them after the password (`sessions::handlers::second_step`).

pub mod handlers;

use crate::db::second_factors as store;

use actix_web::web;
use gatehouse_types::{SecondFactor, SecondFactorKind};

use crate::clock;
use crate::routing::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/me/second-factors").get(handlers::list))
        .service(resource("/me/second-factors/totp").post(handlers::start_totp))
        .service(resource("/me/second-factors/passkey").post(handlers::start_passkey))
        .service(resource("/me/second-factors/passkey/{id}").post(handlers::finish_passkey))
        .service(resource("/me/second-factors/{id}/confirm").post(handlers::confirm))
        .service(resource("/me/second-factors/{id}").delete(handlers::remove))
        .service(resource("/me/recovery-codes").post(handlers::new_recovery_codes))
        .service(resource("/users/{id}/second-factors").delete(handlers::reset_for_user));
}

pub fn to_api(row: &store::FactorRow) -> SecondFactor {
    SecondFactor {
        id: row.id.clone(),
        kind: if row.kind == "passkey" {
            SecondFactorKind::Passkey
        } else {
            SecondFactorKind::Totp
        },
        name: row.name.clone(),
        created_at: clock::utc(row.created_at),
        last_used_at: row.last_used_at.map(clock::utc),
    }
}
