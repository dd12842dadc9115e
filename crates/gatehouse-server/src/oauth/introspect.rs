//! `POST /oauth/introspect` (RFC 7662): one call for a resource server to check any
//! Gatehouse credential — an access token, a refresh token, or an API key. The caller
//! authenticates as a confidential OAuth client (Basic or form, with its secret: a
//! public client's id alone proves nothing) or with an admin's API key
//! (`Authorization: Bearer gatk_…`), and learns about credentials of its own
//! subscription only: anything else, revoked, expired, or of an inactive user is
//! `{"active": false}`.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::REFRESH_PREFIX;
use super::client_auth::{AuthenticatedClient, Proof, TokenForm};
use super::error::OAuthError;
use super::params::Params;
use crate::auth::scopes;
use crate::auth::tokens;
use crate::auth::{api_key, role_listed};
use crate::db::grants as grants_store;
use crate::error::ApiError;
use crate::state::AppState;
use gatehouse_types::Permission;
use gatehouse_types::UserState;

fn inactive() -> Value {
    json!({"active": false})
}

/// Whose subscription the caller speaks for.
async fn caller_subscription(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    params: Params,
) -> Result<String, OAuthError> {
    let bearer = crate::auth::bearer_of(req);
    if let Some(key) = bearer {
        let principal = api_key::authenticate(&state.auth, &key)
            .await
            .map_err(|_| OAuthError::invalid_client("The API key is not valid."))?;
        if !principal.is_admin() {
            return Err(OAuthError::invalid_client(
                "Only an administrator's API key may introspect.",
            ));
        }
        return Ok(principal.subscription.id.to_string());
    }
    // Only a caller that proved a secret (RFC 7662 §2.1, §4): a public client's id is
    // in every browser's address bar, and would otherwise let anyone probe tokens.
    let caller = AuthenticatedClient::of(&state.auth, req, params, Proof::Secret).await?;
    if caller.client.secret_hash.is_none() {
        return Err(OAuthError::invalid_client(
            "Public clients cannot introspect.",
        ));
    }
    Ok(caller.client.subscription_id)
}

#[tracing::instrument(name = "oauth.introspect", skip_all)]
#[utoipa::path(
    post,
    path = "/oauth/introspect",
    operation_id = "create_oauth_introspection",
    tag = "oauth",
    summary = "RFC 7662 for access tokens, refresh tokens and API keys. The caller authenticates as a confidential OAuth client with its secret (a public client's id alone is refused) or with an administrator's API key (`Authorization: Bearer gatk_…`) and sees credentials of its own subscription only.",
    security(("client_basic" = []), ("bearer" = []), ()),
    request_body(content = super::wire::TokenParameters, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "`{\"active\": false}` or the token's facts.", body = super::wire::Introspection), (status = 400, description = "RFC 6749 §5.2 error.", body = super::wire::OAuthErrorBody), (status = 401, description = "RFC 6749 §5.2 error (`invalid_client`, with `WWW-Authenticate: Basic`).", body = super::wire::OAuthErrorBody), (status = 408, description = "The body did not arrive within 10 s of the request's start (`invalid_request`); the connection is closed.", body = super::wire::OAuthErrorBody), (status = 429, description = "Too many failed client authentications (`invalid_client`, with `Retry-After`).", body = super::wire::OAuthErrorBody), (status = 503, description = "`temporarily_unavailable`, with `Retry-After`.", body = super::wire::OAuthErrorBody))
)]
pub async fn introspect(
    state: web::Data<AppState>,
    req: HttpRequest,
    TokenForm(params): TokenForm,
) -> Result<HttpResponse, OAuthError> {
    let subscription = caller_subscription(&state, &req, params.clone()).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing."))?;
    let answer = if token.starts_with(api_key::SECRET_PREFIX) {
        api_key(&state, token, &subscription).await?
    } else if token.starts_with(REFRESH_PREFIX) {
        refresh_token(&state, token, &subscription).await?
    } else {
        access_token(&state, token, &subscription).await?
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

async fn api_key(
    state: &web::Data<AppState>,
    secret: &str,
    subscription: &str,
) -> Result<Value, ApiError> {
    // The same checks as authenticating with the key, except that it is not recorded
    // as a use of the key.
    if !tokens::has_valid_checksum(api_key::SECRET_PREFIX, secret) {
        return Ok(inactive());
    }
    let hash = state.auth.tokens.hash(secret);
    let found = state
        .db
        .read(move |conn| Ok(crate::db::api_keys::find_for_auth(conn, &hash)?))
        .await?;
    let Some((key, user, sub)) = found else {
        return Ok(inactive());
    };
    let now = state.clock.now();
    if sub.id != subscription
        || !sub.api_keys_enabled
        || key.expires_at.is_some_and(|at| at <= now)
        || user.state != UserState::Active
    {
        return Ok(inactive());
    }
    let full = key.permission == Permission::FullAccess
        && role_listed(&sub.api_key_full_access_roles, user.role);
    let mut out = json!({
        "active": true,
        "token_type": "api_key",
        "token_use": "api_key",
        "permission": if full { "full_access" } else { "read_only" },
        "scope": if full { "api:read api:write" } else { "api:read" },
        "sub": user.id,
        "username": user.username,
        "subscription": sub.id,
        "iat": key.last_reset_at.unwrap_or(key.created_at).and_utc().timestamp(),
        "iss": state.auth.signing.issuer(),
    });
    if let Some(exp) = key.expires_at {
        out["exp"] = json!(exp.and_utc().timestamp());
    }
    Ok(out)
}

async fn refresh_token(
    state: &web::Data<AppState>,
    token: &str,
    subscription: &str,
) -> Result<Value, ApiError> {
    if !tokens::has_valid_checksum(REFRESH_PREFIX, token) {
        return Ok(inactive());
    }
    let hash = state.auth.tokens.hash(token);
    let found = state
        .db
        .read(move |conn| {
            let Some(r) = grants_store::find_refresh(conn, &hash)? else {
                return Ok(None);
            };
            Ok(grants_store::find_for_auth(conn, &r.grant_id)?.map(|g| (r, g)))
        })
        .await?;
    let Some((r, (grant, client, user, sub))) = found else {
        return Ok(inactive());
    };
    let now = state.clock.now();
    if sub.id != subscription
        || r.used_at.is_some()
        || r.revoked_at.is_some()
        || r.expires_at <= now
        || !grant.is_active()
        || grant.generation != r.generation
        || user.state != UserState::Active
    {
        return Ok(inactive());
    }
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "token_use": "refresh_token",
        "client_id": client.client_id,
        "scope": r.scopes,
        "sub": user.id,
        "username": user.username,
        "subscription": sub.id,
        "iat": r.created_at.and_utc().timestamp(),
        "exp": r.expires_at.and_utc().timestamp(),
        "iss": state.auth.signing.issuer(),
    }))
}

async fn access_token(
    state: &web::Data<AppState>,
    token: &str,
    subscription: &str,
) -> Result<Value, ApiError> {
    // The same check as the API's, through the same grant cache.
    let (claims, entry) = match crate::auth::access_token::verify(&state.auth, token).await {
        Ok(found) => found,
        Err(ApiError::Unauthorized { .. }) => return Ok(inactive()),
        Err(e) => return Err(e),
    };
    if entry.subscription.id != subscription {
        return Ok(inactive());
    }
    let granted = scopes::split(&entry.grant.scopes);
    let scope: Vec<String> = scopes::split(&claims.scope)
        .into_iter()
        .filter(|s| granted.contains(s))
        .collect();
    Ok(json!({
        "active": true,
        "token_type": "Bearer",
        "token_use": "access_token",
        "client_id": claims.client_id,
        "scope": scope.join(" "),
        "sub": claims.sub,
        "username": entry.user.username,
        "subscription": entry.subscription.id,
        "iat": claims.iat,
        "exp": claims.exp,
        "iss": claims.iss,
        "aud": claims.aud,
        "jti": claims.jti,
    }))
}
