//! OAuth clients: the apps developers register (name, callback URLs, type) to use
//! Gatehouse as their authorization server. The public `client_id` is 32 lowercase hex
//! characters; a confidential client's secret (`gats_…`, checksummed like API keys) is
//! shown once and stored only as a hash.

pub mod handlers;
pub mod service_account;

use crate::db::oauth_clients as store;

use actix_web::web;
use gatehouse_types::{ClientType, OAuthClient, Role, validate};

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
    json_list(&uri_list("redirect_uris", list, 1)?)
}

/// Where a client may send people after signing out: URLs under the rules of callback
/// URLs, none to ten.
pub fn post_logout_redirect_uris(list: &[String]) -> Result<Vec<String>, ApiError> {
    uri_list("post_logout_redirect_uris", list, 0)
}

fn uri_list(field: &'static str, list: &[String], min: usize) -> Result<Vec<String>, ApiError> {
    if list.len() < min || list.len() > MAX_REDIRECT_URIS {
        return Err(ApiError::validation(
            field,
            format!("must list {min} to {MAX_REDIRECT_URIS} URLs"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for raw in list {
        let uri = checked_uri(field, raw)?;
        if !out.contains(&uri) {
            out.push(uri);
        }
    }
    Ok(out)
}

/// One callback-like URL: [`validate::redirect_uri`], then read the way browsers will
/// (WHATWG URL), with the host checked again and no user info.
fn checked_uri(field: &'static str, raw: &str) -> Result<String, ApiError> {
    let uri = validate::redirect_uri(raw)
        .map_err(|m| ApiError::validation(field, format!("{m} ({raw})")))?;
    let parsed = url::Url::parse(&uri)
        .map_err(|_| ApiError::validation(field, format!("must be an absolute URL ({raw})")))?;
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
            field,
            format!("may use http only on a loopback address, and no user info ({raw})"),
        ));
    }
    Ok(uri)
}

fn json_list(list: &[String]) -> Result<String, ApiError> {
    serde_json::to_string(list).map_err(|e| ApiError::Internal(e.into()))
}

/// The most origins one client may list.
pub const MAX_ORIGINS: usize = 20;

/// Browser origins ([`validate::origin`]), normalized.
pub fn allowed_origins(list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_ORIGINS {
        return Err(ApiError::validation(
            "allowed_origins",
            format!("may list at most {MAX_ORIGINS} origins"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for raw in list {
        let o = validate::origin(raw)
            .map_err(|m| ApiError::validation("allowed_origins", format!("{m} ({raw})")))?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}

/// The back-channel logout URL: an `https` URL (`http` on loopback), no fragment, no
/// user info; where it leads is checked again at every delivery (`outbound.rs`).
pub fn backchannel_logout_uri(raw: &str, allow_private: bool) -> Result<String, ApiError> {
    const FIELD: &str = "backchannel_logout_uri";
    let uri = validate::web_url(raw).map_err(|m| ApiError::validation(FIELD, m))?;
    let parsed = checked_uri(FIELD, &uri).and_then(|u| {
        url::Url::parse(&u).map_err(|_| ApiError::validation(FIELD, "must be an absolute URL"))
    })?;
    if let Err(why) = crate::outbound::check_literal_host(&parsed, allow_private) {
        return Err(ApiError::validation(FIELD, why));
    }
    Ok(uri)
}

/// What a client may be registered for, as checked against its type and service role.
pub struct GrantPolicy<'a> {
    pub grant_types: &'a [String],
    pub client_type: ClientType,
    pub service_role: Option<Role>,
}

impl GrantPolicy<'_> {
    /// The grant types, if they fit the client.
    pub fn check(&self) -> Result<Vec<String>, ApiError> {
        let list = validate::grant_types(self.grant_types)
            .map_err(|m| ApiError::validation("grant_types", m))?;
        let credentials = list.iter().any(|g| g == CLIENT_CREDENTIALS);
        if credentials && self.client_type == ClientType::Public {
            return Err(ApiError::validation(
                "grant_types",
                "client_credentials needs a confidential client: a public client cannot prove who it is",
            ));
        }
        match (credentials, self.service_role) {
            (true, None) => Err(ApiError::validation(
                "service_role",
                "client_credentials needs a service_role (viewer or editor) for the client's service account",
            )),
            (false, Some(_)) => Err(ApiError::validation(
                "service_role",
                "is only for clients that use client_credentials",
            )),
            (_, Some(Role::Admin)) => Err(ApiError::validation(
                "service_role",
                "must be viewer or editor: a service account is never an administrator",
            )),
            _ => Ok(list),
        }
    }
}

pub const CLIENT_CREDENTIALS: &str = "client_credentials";

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
        grant_types: row.grant_type_list(),
        post_logout_redirect_uris: row.metadata.post_logout_redirect_uris.clone(),
        backchannel_logout_uri: row.metadata.backchannel_logout_uri.clone(),
        allowed_origins: row.origin_list(),
        service_role: row.service_role(),
        // A service account has its client's record id (it exists exactly while the
        // client has a service role).
        service_user_id: row.service_role().is_some().then(|| row.id.clone()),
        disabled_at: row.metadata.disabled_at.map(clock::utc),
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
