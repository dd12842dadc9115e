//! OAuth clients: the apps developers register (name, callback URLs, type) to use
//! Gatehouse as their authorization server. The public `client_id` is 32 lowercase hex
//! characters; a confidential client's secret (`gats_…`, checksummed like API keys) is
//! shown once and stored only as a hash.

pub mod handlers;

use crate::db::oauth_clients as store;

use actix_web::web;
use gatehouse_types::{OAuthClient, validate};

use crate::clock;
use crate::error::ApiError;
use crate::routing::resource;

pub use crate::auth::client::{SECRET_PREFIX, redirect_matches};
/// Enough for staging, production and a local loopback callback, and then some.
pub const MAX_REDIRECT_URIS: usize = 10;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        resource("/oauth-clients")
            .get(handlers::list_clients)
            .post(handlers::create_client),
    )
    .service(
        resource("/oauth-clients/{id}")
            .get(handlers::get_client)
            .patch(handlers::update_client)
            .delete(handlers::delete_client),
    )
    .service(resource("/oauth-clients/{id}/reset-secret").post(handlers::reset_secret));
}

/// Validates a list of redirect URIs and returns it as stored (a JSON array).
pub fn redirect_uris(list: &[String]) -> Result<String, ApiError> {
    if list.is_empty() || list.len() > MAX_REDIRECT_URIS {
        return Err(ApiError::validation(
            "redirect_uris",
            format!("must list 1 to {MAX_REDIRECT_URIS} callback URLs"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for raw in list {
        let uri = validate::redirect_uri(raw)
            .map_err(|m| ApiError::validation("redirect_uris", format!("{m} ({raw})")))?;
        // Read it the way browsers will (WHATWG URL), and check the host again.
        let parsed = url::Url::parse(&uri).map_err(|_| {
            ApiError::validation("redirect_uris", format!("must be an absolute URL ({raw})"))
        })?;
        let host_ok = match parsed.scheme() {
            "http" => matches!(
                parsed.host_str(),
                Some("127.0.0.1") | Some("[::1]") | Some("localhost")
            ),
            "https" => parsed.host_str().is_some_and(|h| !h.is_empty()),
            _ => true,
        };
        if !host_ok || parsed.username() != "" || parsed.password().is_some() {
            return Err(ApiError::validation(
                "redirect_uris",
                format!("may use http only on a loopback address, and no user info ({raw})"),
            ));
        }
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    serde_json::to_string(&out).map_err(|e| ApiError::Internal(e.into()))
}

/// A fresh public client id: 128 random bits as 32 lowercase hex characters.
pub fn new_client_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn to_api(row: &store::ClientRow) -> OAuthClient {
    OAuthClient {
        id: row.id.clone(),
        client_id: row.client_id.clone(),
        name: row.name.clone(),
        client_type: row.client_type,
        redirect_uris: row.redirect_uri_list(),
        homepage_url: row.homepage_url.clone(),
        logo_url: row.logo_url.clone(),
        standard: row.standard,
        owner_id: row.owner_id.clone(),
        secret_hint: row.secret_hint.clone(),
        created_at: clock::utc(row.created_at),
        updated_at: clock::utc(row.updated_at),
        secret_reset_at: row.secret_reset_at.map(clock::utc),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_match_exactly_except_the_loopback_port() {
        let reg = vec![
            "https://app.example.com/cb".to_string(),
            "http://127.0.0.1/callback".to_string(),
        ];
        assert!(redirect_matches(&reg, "https://app.example.com/cb"));
        assert!(!redirect_matches(&reg, "https://app.example.com/cb/"));
        assert!(!redirect_matches(&reg, "https://app.example.com/cb?x=1"));
        assert!(!redirect_matches(&reg, "https://APP.example.com/cb"));
        assert!(!redirect_matches(&reg, "https://app.example.com:8443/cb"));
        assert!(redirect_matches(&reg, "http://127.0.0.1:53211/callback"));
        assert!(!redirect_matches(&reg, "http://127.0.0.1:53211/other"));
        assert!(!redirect_matches(&reg, "http://localhost:53211/callback"));
        assert_eq!(new_client_id().len(), 32);
    }
}
