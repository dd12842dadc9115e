//! The OAuth 2 authorization server (docs/PRODUCT.md §4): the authorization endpoint and the
//! consent API behind the SPA's consent page (`authorize`), the token endpoint
//! (`token`), the resource side that accepts access tokens (`access`), JWT signing
//! (`jwt`), scopes, and the protocol's own error type (`error`).
//!
//! Grants: the authorization code with PKCE (S256), the refresh token, client
//! credentials (a client's service account) and the device grant (RFC 8628, `device`);
//! never the implicit or password grant.

pub mod authorize;
pub mod client_auth;
pub mod device;
pub mod discovery;
pub mod end_session;
pub mod error;
pub mod introspect;
pub mod params;
pub mod pkce;
pub mod revoke;
pub mod token;
pub mod userinfo;
pub mod wire;

use crate::db::oauth as store;
#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;

use actix_web::{HttpResponse, web};
use chrono::TimeDelta;

use crate::routing::resource;
use crate::state::AppState;

/// An authorization code lives at most this long (RFC 9700 recommends short).
pub const CODE_TTL: TimeDelta = TimeDelta::seconds(60);
/// A pending consent request waits this long for the user's decision.
pub const REQUEST_TTL: TimeDelta = TimeDelta::minutes(10);
pub const ACCESS_TOKEN_TTL: TimeDelta = TimeDelta::hours(1);
pub const REFRESH_TOKEN_TTL: TimeDelta = TimeDelta::days(30);
pub const REFRESH_PREFIX: &str = "gatr_";
/// Scopes asked for when a client names none.
pub const DEFAULT_SCOPE: &str = "api:read";

/// The parameters the authorization endpoint reads.
pub const AUTHORIZE_PARAMS: &[&str] = &[
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "prompt",
    "max_age",
    "request",
    "request_uri",
];

/// The protocol endpoints, outside `/api/v1`, with Rally's paths as aliases.
pub fn configure_protocol(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/oauth/authorize")
            .get(authorize::authorize)
            .post(authorize::authorize_post),
    )
    .service(
        resource("/login/oauth2/auth")
            .get(authorize::authorize)
            .post(authorize::authorize_post),
    )
    .service(resource("/oauth/token").post(token::token))
    .service(resource("/login/oauth2/token").post(token::token))
    .service(resource("/oauth/jwks").get(jwks))
    .service(resource("/oauth/device_authorization").post(device::device_authorization))
    .service(
        resource("/oauth/logout")
            .get(end_session::end_session_get)
            .post(end_session::end_session_post),
    )
    .service(resource("/oauth/revoke").post(revoke::revoke))
    .service(resource("/oauth/introspect").post(introspect::introspect))
    .service(
        resource("/oauth/userinfo")
            .get(userinfo::userinfo)
            .post(userinfo::userinfo),
    )
    .service(resource("/.well-known/oauth-authorization-server").get(discovery::oauth_metadata))
    .service(resource("/.well-known/openid-configuration").get(discovery::oauth_metadata));
}

/// The consent API, inside `/api/v1`.
pub fn configure_api(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/oauth/requests/{id}")
            .get(authorize::get_request)
            .post(authorize::decide_request),
    )
    .service(resource("/oauth/device").post(device::lookup))
    .service(resource("/oauth/device/decision").post(device::decide));
}

/// The public keys that verify access tokens (RFC 7517).
#[utoipa::path(
    get,
    path = "/oauth/jwks",
    operation_id = "get_jwks",
    tag = "oauth",
    summary = "The public keys that verify access tokens (Ed25519, `OKP`) and id_tokens (RSA, RS256); retired keys stay until their tokens expire.",
    responses((status = 200, description = "A JWK Set.", body = wire::Jwks))
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(state.auth.signing.jwks())
}
