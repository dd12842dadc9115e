//! Metadata: `/.well-known/oauth-authorization-server` (RFC 8414) and
//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0). Both describe
//! the same server; the issuer is the configured public URL.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::auth::scopes::KNOWN;
use crate::state::AppState;

pub fn metadata(state: &AppState) -> Value {
    let issuer = state.auth.signing.issuer();
    let mut scopes: Vec<&str> = KNOWN.to_vec();
    scopes.push("alm");
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/oauth/authorize"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/oauth/jwks"),
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "userinfo_endpoint": format!("{issuer}/oauth/userinfo"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "device_authorization_endpoint": format!("{issuer}/oauth/device_authorization"),
        "end_session_endpoint": format!("{issuer}/oauth/logout"),
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "grant_types_supported": gatehouse_types::validate::GRANT_TYPES,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "bearer"],
        "scopes_supported": scopes,
        "claims_supported": [
            "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "sid",
            "amr", "acr",
            "name", "preferred_username", "updated_at", "email", "email_verified",
        ],
        "acr_values_supported": [super::token::ACR_PASSWORD, super::token::ACR_TWO_STEP],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "userinfo_signing_alg_values_supported": ["none"],
        "authorization_response_iss_parameter_supported": true,
        "require_pushed_authorization_requests": false,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    })
}

#[utoipa::path(
    get,
    path = "/.well-known/oauth-authorization-server",
    operation_id = "get_oauth_metadata",
    tag = "oauth",
    summary = "RFC 8414 authorization server metadata; `issuer` is the configured public URL.",
    responses((status = 200, description = "Metadata.", body = super::wire::ServerMetadata))
)]
pub async fn oauth_metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(metadata(&state))
}
