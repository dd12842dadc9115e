//! Grants — the "authorized applications" of a user: one per (user, client), with the
//! scopes the user allowed, `active` or `revoked`. Every code, refresh token and
//! access token hangs off a grant, so revoking it stops them all at once. Re-authorizing
//! a revoked grant makes it active again under a new generation: tokens of its earlier
//! life stay dead.

pub mod handlers;

use crate::db::grants as store;

use actix_web::web;
use gatehouse_types::{AuthorizedApp, GrantState};

use crate::auth::scopes;
use crate::clock;
use crate::routing::resource;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/authorized-apps").get(handlers::list_apps))
        .service(resource("/authorized-apps/{id}/revoke").post(handlers::revoke_app))
        .service(resource("/users/{id}/authorized-apps").get(handlers::list_user_apps));
}

pub fn to_api(
    grant: &store::GrantRow,
    client: &crate::db::oauth_clients::ClientRow,
) -> AuthorizedApp {
    AuthorizedApp {
        id: grant.id.clone(),
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        homepage_url: client.homepage_url.clone(),
        logo_url: client.logo_url.clone(),
        standard: client.standard,
        scopes: scopes::split(&grant.scopes).into_iter().collect(),
        state: if grant.is_active() {
            GrantState::Active
        } else {
            GrantState::Revoked
        },
        authorized_at: clock::utc(grant.created_at),
        last_used_at: grant.last_used_at.map(clock::utc),
        revoked_at: grant.revoked_at.map(clock::utc),
    }
}
