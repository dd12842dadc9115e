//! Cross-origin requests (CORS) from browser apps on their own origins.
//!
//! A response carries `Access-Control-Allow-Origin` only when the request's `Origin`
//! is registered on the OAuth client the request is about (its `allowed_origins`): the
//! client that authenticated at the token or revocation endpoint, or the client whose
//! access token the request carries. The check that decides it marks the request
//! ([`CorsAllowed`]); `startup::cors` writes the headers from that mark. Never
//! `Access-Control-Allow-Credentials`: no cookie is honoured cross-origin.
//!
//! The token and revocation endpoints refuse a request from an origin the client did
//! not register (`unauthorized_client`): a page elsewhere must not be able to spend a
//! client's refresh token, whose rotation would then revoke the app's grant.
//!
//! The JSON API takes cross-origin requests only with an OAuth access token of a client
//! that registered the origin; a session cookie or an API key from another origin is
//! refused (403 `cross_origin_refused`) before anything is done. Discovery and the JWKS
//! are public and readable from anywhere.

use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::http::header;
use gatehouse_types::codes;

use crate::error::ApiError;

/// The mark of a request whose answer the browser on its `Origin` may read.
#[derive(Debug, Clone)]
pub struct CorsAllowed(pub String);

/// The request's `Origin` when it is another origin than Gatehouse's own (`issuer`,
/// the public URL); `None` for same-origin requests and for clients that send none.
pub fn foreign_origin(req: &HttpRequest, issuer: &str) -> Option<String> {
    let origin = req.headers().get(header::ORIGIN)?.to_str().ok()?;
    let own = crate::db::oauth_clients::origin_of(issuer);
    (own.as_deref() != Some(origin)).then(|| origin.to_string())
}

/// Marks the request when its origin passes `allowed`.
pub fn allow_if(req: &HttpRequest, issuer: &str, allowed: impl FnOnce(&str) -> bool) {
    if let Some(origin) = foreign_origin(req, issuer)
        && allowed(&origin)
    {
        req.extensions_mut().insert(CorsAllowed(origin));
    }
}

pub fn refused() -> ApiError {
    ApiError::forbidden(
        codes::CROSS_ORIGIN_REFUSED,
        "Requests from another origin need an OAuth access token of a client that registered that origin.",
    )
}
