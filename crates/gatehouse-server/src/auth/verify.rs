//! `GET /api/v1/auth/verify`: forward authentication for gateways (nginx
//! `auth_request`, Traefik ForwardAuth, Envoy ext_authz). The gateway forwards the
//! client's credential headers; the answer is 200 with the identity in `X-Gatehouse-*`
//! headers, or 401 / 403. `X-Forwarded-Method` says what the client is about to do, so
//! a read-only key is refused for an unsafe method. Without it the request is judged
//! as unsafe (fail closed): a gateway that forgets the header must not let a read-only
//! key, or a cookie without its CSRF token, write behind it.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use gatehouse_types::{Permission, VerifyResponse};

use super::{Authenticated, CSRF_HEADER, Via, is_safe, read_only, tokens};
use crate::error::ApiError;

#[utoipa::path(
    get,
    path = "/api/v1/auth/verify",
    operation_id = "get_auth_verify",
    tag = "api-keys",
    summary = "Forward authentication for gateways: 200 with `X-Gatehouse-User`, `X-Gatehouse-User-Id`, `X-Gatehouse-Subscription`, `X-Gatehouse-Permission`; 401 / 403 otherwise. `X-Forwarded-Method` is checked against read-only credentials. A session cookie with an unsafe forwarded method also needs the forwarded `X-CSRF-Token`; a session's permission follows its role (`api_key_full_access_roles`).",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    params(("X-Forwarded-Method" = Option<String>, Header, nullable = false, description = "The method the client is about to use at the gateway. Left out, the request is judged as unsafe: a read-only credential gets 403, a session needs the forwarded `X-CSRF-Token`.")),
    responses((status = 200, description = "The credential is good for that method.", body = VerifyResponse), (status = 401, response = E401), (status = 403, description = "`insufficient_permission` (a read-only credential and an unsafe or missing forwarded method), `csrf_failed` (a session without the forwarded `X-CSRF-Token`), `insufficient_scope` (an OAuth token without an `api:` scope).", body = gatehouse_types::ErrorBody))
)]
pub async fn verify(
    req: HttpRequest,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let forwarded = req
        .headers()
        .get("x-forwarded-method")
        .and_then(|v| v.to_str().ok())
        .map(|m| Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()));
    let unsafe_forwarded = match forwarded {
        None => true,
        Some(Ok(m)) => !is_safe(&m),
        // A method we cannot read is treated as the unsafe kind.
        Some(Err(_)) => true,
    };
    // A session acts with its user's role: full access where the subscription lets
    // the role hold full-access keys, read-only otherwise.
    let permission = match &principal.via {
        Via::Session { .. } => {
            if crate::auth::role_listed(
                &principal.subscription.api_key_full_access_roles,
                principal.user.role,
            ) {
                Permission::FullAccess
            } else {
                Permission::ReadOnly
            }
        }
        _ => principal.permission(),
    };
    if unsafe_forwarded && permission == Permission::ReadOnly {
        return Err(read_only());
    }
    // A cookie is sent by the browser on its own; an unsafe request behind the gateway
    // must prove it came from our pages, as on the API itself.
    if let (true, Via::Session { csrf_token, .. }) = (unsafe_forwarded, &principal.via) {
        let sent = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|s| tokens::constant_time_eq(s, csrf_token.expose())) {
            return Err(crate::error::ApiError::forbidden(
                gatehouse_types::codes::CSRF_FAILED,
                "An unsafe request with the session cookie needs the X-CSRF-Token header.",
            ));
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header(("X-Gatehouse-User", principal.user.username.as_str()))
        .insert_header(("X-Gatehouse-User-Id", principal.user.id.as_str()))
        .insert_header((
            "X-Gatehouse-Subscription",
            principal.subscription.id.as_str(),
        ))
        .insert_header(("X-Gatehouse-Permission", permission.as_str()))
        .insert_header(("Cache-Control", "no-store"))
        .json(VerifyResponse {
            user_id: principal.user.id.clone(),
            username: principal.user.username.clone(),
            subscription_id: principal.subscription.id.clone(),
            permission,
        }))
}
