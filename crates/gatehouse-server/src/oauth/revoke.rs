//! `POST /oauth/revoke` (RFC 7009). The client authenticates as at the token endpoint
//! and names one of its tokens. Access tokens are JWTs checked against their grant,
//! and a refresh token's access tokens are exactly its grant's, so revoking either
//! kind revokes the grant: every token of that authorization stops at once, and the
//! user's authorized application shows as revoked. Unknown, invalid or already
//! revoked tokens, and tokens of other clients, answer 200 and change nothing.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use serde_json::json;

use super::REFRESH_PREFIX;
use super::client_auth::AuthenticatedClient;
use super::error::OAuthError;
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::jwt::VerifyError;
use crate::auth::tokens;
use crate::db::grants::{self as grants_store, Holder};
use crate::error::ApiError;
use crate::state::AppState;

#[tracing::instrument(name = "oauth.revoke", skip_all)]
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    operation_id = "revoke_oauth_token",
    tag = "oauth",
    summary = "RFC 7009. The client authenticates as at the token endpoint. Revoking a refresh or access token revokes its grant: every token of that authorization stops. Unknown tokens and other clients' tokens answer 200 and change nothing.",
    security(("client_basic" = []), ()),
    request_body(content = super::wire::TokenParameters, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Revoked, or nothing to revoke."), (status = 400, description = "RFC 6749 §5.2 error.", body = super::wire::OAuthErrorBody), (status = 401, description = "RFC 6749 §5.2 error (`invalid_client`, with `WWW-Authenticate: Basic`).", body = super::wire::OAuthErrorBody), (status = 408, description = "The body did not arrive within 10 s of the request's start (`invalid_request`); the connection is closed.", body = super::wire::OAuthErrorBody), (status = 429, description = "Too many failed client authentications (`invalid_client`, with `Retry-After`).", body = super::wire::OAuthErrorBody), (status = 503, description = "`temporarily_unavailable`, with `Retry-After`.", body = super::wire::OAuthErrorBody))
)]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: AuthenticatedClient,
) -> Result<HttpResponse, OAuthError> {
    let AuthenticatedClient {
        client,
        params,
        meta,
    } = caller;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing."))?;
    // Which grant the token belongs to, if it is one of ours and this client's.
    let grant_id = if token.starts_with(REFRESH_PREFIX) {
        if tokens::has_valid_checksum(REFRESH_PREFIX, token) {
            let hash = state.auth.tokens.hash(token);
            state
                .db
                .read(move |conn| Ok(grants_store::find_refresh(conn, &hash)?.map(|r| r.grant_id)))
                .await?
        } else {
            None
        }
    } else {
        match state.auth.signing.verify_access(token) {
            Ok(claims) if claims.client_id == client.client_id => Some(claims.grant.clone()),
            Ok(_) | Err(VerifyError::Invalid(_)) | Err(VerifyError::UnknownKey) => None,
        }
    };
    if let Some(grant_id) = grant_id {
        let now = state.clock.now();
        let (client_row_id, client_id) = (client.id.clone(), client.client_id.clone());
        let revoked = state
            .db
            .write(move |conn| {
                let Some(grant) = grants_store::find_by_id(conn, &grant_id)? else {
                    return Ok(None);
                };
                if grant.client_id != client_row_id
                    || !grants_store::revoke(conn, Holder::Client(&client_row_id), &grant.id, now)?
                {
                    return Ok(None);
                }
                Audit::unauthenticated(&meta, "oauth_grant.revoked")
                    .in_subscription(&grant.subscription_id)
                    .credential("oauth_client", Some(&client_id))
                    .target("oauth_grant", &grant.id)
                    .subject(&grant.user_id)
                    .details(json!({"by": "client", "endpoint": "revocation"}))
                    .record(conn)?;
                Ok::<_, ApiError>(Some(grant.id))
            })
            .await?;
        if let Some(id) = revoked {
            crate::metrics::token("revoked");
            state.auth.invalidate(Invalidate::Grant(&id));
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .finish())
}
