//! `GET /oauth/userinfo` (OpenID Connect Core §5.3): the signed-in user's claims, as
//! the access token's scopes allow — `sub` always, `name` and `preferred_username` with
//! `profile`, `email` with `email`. Errors follow RFC 6750 (`WWW-Authenticate: Bearer`).

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use std::collections::BTreeSet;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::auth::Via;
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::state::AppState;

/// The OpenID Connect claims a set of scopes releases, beside `sub`.
pub fn claims(user: &UserRow, scopes: &BTreeSet<String>) -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    if scopes.contains("profile") {
        out.push(("name", json!(user.display_name)));
        out.push(("preferred_username", json!(user.username)));
        out.push(("updated_at", json!(user.updated_at.and_utc().timestamp())));
    }
    if let (true, Some(email)) = (scopes.contains("email"), &user.email) {
        out.push(("email", json!(email)));
        // Gatehouse does not verify addresses; say so rather than imply it.
        out.push(("email_verified", json!(false)));
    }
    out
}

fn bearer_error(status: StatusCode, error: &str, description: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((
            header::WWW_AUTHENTICATE,
            format!(
                "Bearer realm=\"gatehouse\", error=\"{error}\", error_description=\"{description}\""
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(super::wire::OAuthErrorBody {
            error,
            error_description: description,
        })
}

#[tracing::instrument(name = "oauth.userinfo", skip_all)]
#[utoipa::path(
    get,
    path = "/oauth/userinfo",
    operation_id = "get_oauth_userinfo",
    tag = "oidc",
    summary = "OpenID Connect UserInfo: `sub`; `name`, `preferred_username`, `updated_at` with `profile`; `email`, `email_verified` with `email`. Needs an access token with `openid`.",
    security(("bearer" = [])),
    responses((status = 200, description = "Claims.", body = super::wire::UserInfo), (status = 401, description = "RFC 6750 `invalid_token` or `invalid_request`, with `WWW-Authenticate: Bearer`.", body = super::wire::OAuthErrorBody), (status = 403, description = "RFC 6750 `insufficient_scope`.", body = super::wire::OAuthErrorBody), (status = 503, response = E503))
)]
pub async fn userinfo(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let token = crate::auth::bearer_of(&req);
    let Some(token) = token else {
        return HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"gatehouse\""))
            .json(super::wire::OAuthErrorBody {
                error: "invalid_request",
                error_description: "An access token is required.",
            });
    };
    let principal = match crate::auth::access_token::authenticate(&state.auth, &token).await {
        Ok(p) => p,
        // Fixed descriptions (RFC 6750 §3): nothing of the presented token is echoed.
        Err(ApiError::Unauthorized { code, .. }) => {
            let description = if code == gatehouse_types::codes::TOKEN_REVOKED {
                "The access token has been revoked."
            } else {
                "The access token is not valid."
            };
            return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", description);
        }
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let Via::OAuth {
        scopes,
        client_origins,
        ..
    } = &principal.via
    else {
        return bearer_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Not an access token.",
        );
    };
    crate::auth::cors::allow_if(&req, state.auth.signing.issuer(), |o| {
        client_origins.iter().any(|c| c == o)
    });
    let scopes: BTreeSet<String> = scopes.iter().cloned().collect();
    if !scopes.contains("openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "The access token lacks the openid scope.",
        );
    }
    let mut body = json!({ "sub": principal.user.id });
    for (k, v) in claims(&principal.user, &scopes) {
        body[k] = v;
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
