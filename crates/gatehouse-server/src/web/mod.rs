//! Serves the single-page app built by `cargo xtask build-web` into `web_dir`:
//! `/assets/{file}` (hashed names, so cached for a year, gzipped when the build wrote
//! `<file>.gz`), and `index.html` for every path that is not reserved for the API, the
//! OAuth protocol or the probes, with a strict Content-Security-Policy and never cached.
//!
//! Errors are the JSON API's (`ApiError`): an unknown asset is 404, a page path with
//! another method than `GET` or `HEAD` is 405. Until `index.html` exists, pages answer
//! 503 with a short HTML page saying how to build the app; the API works meanwhile.

pub mod files;
pub mod handlers;

use actix_web::web;

pub use files::WebFiles;

use crate::routing::resource;

/// Scripts and WASM only from this origin (`'wasm-unsafe-eval'` lets the browser compile
/// the app's WASM, nothing else), no inline code, no framing, no plugins; images may be
/// OAuth clients' logos from any https address.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; \
script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
form-action 'self'; frame-ancestors 'none'";

/// Path prefixes that never answer the app's page: unknown paths under them keep the
/// JSON 404 of the API (the prefix without its slash is reserved too).
const RESERVED_PREFIXES: [&str; 5] = [
    "/api/",
    "/oauth/",
    "/.well-known/",
    "/assets/",
    "/login/oauth2/",
];
/// Exact paths that never answer the app's page.
const RESERVED_PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The asset route. Pages are the application's default service (see
/// `startup::routes`), since they are every path no route claims.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/assets/{file}").get(handlers::asset));
}

/// Whether a path belongs to the API, the protocol endpoints or the probes rather than
/// to the app.
pub fn is_reserved(path: &str) -> bool {
    RESERVED_PATHS.contains(&path)
        || RESERVED_PREFIXES
            .iter()
            .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_protocol_and_probe_paths_are_reserved() {
        for reserved in [
            "/api/v1/nope",
            "/api",
            "/oauth/nope",
            "/.well-known/nope",
            "/assets/x.js",
            "/assets",
            "/login/oauth2/nope",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(is_reserved(reserved), "{reserved}");
        }
        for page in [
            "/",
            "/login",
            "/authorize",
            "/keys",
            "/admin/users",
            "/apis",
            "/oauthish",
            "/metrics/x",
        ] {
            assert!(!is_reserved(page), "{page}");
        }
    }
}
