//! OpenID Connect RP-Initiated Logout 1.0: `end_session_endpoint` at `/oauth/logout`
//! (`GET` with the query, or `POST` with a form).
//!
//! - The client is the `client_id`, or the audience of the `id_token_hint`; both given,
//!   they must agree. An `id_token_hint` must be an id_token Gatehouse issued (expired
//!   is fine); anything else is an error page.
//! - `post_logout_redirect_uri` must be one of the client's registered
//!   `post_logout_redirect_uris`, exactly; otherwise an error page, never a redirect
//!   (no open redirector). `state` goes back with it.
//! - With a hint naming the person signed in here (and their session, when it names
//!   one), the session ends at once. Without one — a bare link anyone could plant in a
//!   page — Gatehouse asks first (logout CSRF): a confirmation page whose form carries
//!   the session's CSRF token, which no other site can read.
//! - Ending the session revokes its sign-in refresh tokens (no `offline_access`) and
//!   tells the apps it signed in to (Back-Channel Logout, `crate::logout`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::authorize::protect;
use super::params::Params;
use crate::audit::Audit;
use crate::auth::{ClientMeta, Principal, Via, tokens};
use crate::db::oauth_clients::{self as clients_store, ClientRow};
use crate::error::ApiError;
use crate::state::AppState;

pub const PARAMS: &[&str] = &[
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
    "logout_hint",
    "ui_locales",
    CONFIRM,
];
/// The confirmation form's field: the session's CSRF token.
const CONFIRM: &str = "gatehouse_confirm";

#[utoipa::path(
    get,
    path = "/oauth/logout",
    operation_id = "get_end_session",
    tag = "oauth",
    summary = "OpenID Connect RP-Initiated Logout: `id_token_hint`, `client_id`, `post_logout_redirect_uri` (registered exactly), `state`. With a hint naming the signed-in person the session ends at once; without, a confirmation page.",
    params(super::wire::EndSessionRequest),
    responses((status = 200, description = "A confirmation page, or the signed-out page.", content_type = "text/html", body = String), (status = 302, description = "Signed out: to `post_logout_redirect_uri` with `state`."), (status = 400, description = "An HTML error page: unknown client, unregistered `post_logout_redirect_uri`, or an `id_token_hint` Gatehouse did not issue.", content_type = "text/html", body = String))
)]
pub async fn end_session_get(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = req.query_string().as_bytes().to_vec();
    end_session(&state, &req, &raw).await
}

#[utoipa::path(
    post,
    path = "/oauth/logout",
    operation_id = "create_end_session",
    tag = "oauth",
    summary = "RP-Initiated Logout with its parameters form-encoded in the body; also where the confirmation page's form goes.",
    request_body(content = super::wire::EndSessionRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "A confirmation page, or the signed-out page.", content_type = "text/html", body = String), (status = 302, description = "Signed out: to `post_logout_redirect_uri` with `state`."), (status = 400, description = "An HTML error page.", content_type = "text/html", body = String), (status = 408, description = "The body did not arrive within 10 s of the request's start (`invalid_request`).", body = super::wire::OAuthErrorBody))
)]
pub async fn end_session_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    if !super::params::is_form(&req) {
        return super::authorize::error_page(
            "Invalid request",
            "A POST to the logout endpoint must be application/x-www-form-urlencoded.",
        );
    }
    end_session(&state, &req, &body).await
}

/// Where the browser goes once signed out.
struct After {
    redirect: Option<String>,
    state: Option<String>,
    client_name: Option<String>,
}

#[tracing::instrument(name = "oauth.end_session", skip_all)]
async fn end_session(state: &web::Data<AppState>, req: &HttpRequest, raw: &[u8]) -> HttpResponse {
    match end_session_inner(state, req, raw).await {
        Ok(res) => res,
        Err(ApiError::Validation { message, .. }) => {
            super::authorize::error_page("Cannot sign out", &message)
        }
        Err(e) => {
            tracing::warn!(error = %e, "ending a session failed");
            super::authorize::error_page(
                "Try again",
                "Gatehouse could not sign you out just now. Try again in a moment.",
            )
        }
    }
}

fn refused(message: &str) -> ApiError {
    ApiError::validation("logout", message.to_string())
}

async fn end_session_inner(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    raw: &[u8],
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(raw, PARAMS).map_err(|e| refused(&e.describe()))?;
    let hint =
        match params.get("id_token_hint") {
            Some(t) => Some(state.auth.signing.verify_id_token_hint(t).ok_or_else(|| {
                refused("The id_token_hint is not an id_token Gatehouse issued.")
            })?),
            None => None,
        };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(c), Some(h)) if c != h.aud => {
            return Err(refused(
                "The client_id is not the audience of the id_token_hint.",
            ));
        }
        (Some(c), _) => Some(c.to_string()),
        (None, Some(h)) => Some(h.aud.clone()),
        (None, None) => None,
    };
    let client: Option<ClientRow> = match client_id {
        Some(id) => Some(
            state
                .db
                // A disabled client's people may still sign out through it.
                .read(move |conn| Ok(clients_store::find_even_disabled(conn, &id)?))
                .await?
                .ok_or_else(|| refused("The application is not registered with Gatehouse."))?,
        ),
        None => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let registered = client.as_ref().is_some_and(|c| {
                c.metadata
                    .post_logout_redirect_uris
                    .iter()
                    .any(|r| r == uri)
            });
            if !registered {
                return Err(refused(
                    "The post_logout_redirect_uri is not one the application registered.",
                ));
            }
            Some(uri.to_string())
        }
    };
    let after = After {
        redirect,
        state: params.get("state").map(str::to_string),
        client_name: client.as_ref().map(|c| c.name.clone()),
    };
    // The person signed in here, if any. An expired or unknown cookie is nobody's (and
    // is cleared); a database that cannot say is an error, never a sign-out.
    let cookie = crate::auth::session::token(req, state.auth.session_cookie);
    let (signed_in, stale_cookie) = match cookie {
        Some(c) => match crate::auth::session::authenticate(&state.auth, &c).await {
            Ok(p) => (Some(p), false),
            Err(ApiError::Unauthorized { .. }) => (None, true),
            Err(e) => return Err(e),
        },
        None => (None, false),
    };
    let Some(principal) = signed_in else {
        return Ok(signed_out(state, &after, Ended::Nothing { stale_cookie }));
    };
    let Via::Session { id, csrf_token, .. } = &principal.via else {
        return Ok(signed_out(state, &after, Ended::Nothing { stale_cookie }));
    };
    // Silent only for a hint naming this person in this very session: one without a
    // `sid` could be any old id_token of theirs.
    let sid = crate::auth::tokens::sid(id);
    let hinted = hint
        .as_ref()
        .is_some_and(|h| h.sub == principal.user.id && h.sid.as_deref() == Some(sid.as_str()));
    let confirmed = params
        .get(CONFIRM)
        .is_some_and(|sent| tokens::constant_time_eq(sent, csrf_token.expose()));
    if !hinted && !confirmed {
        return Ok(confirmation(&params, &after, csrf_token.expose()));
    }
    let meta = ClientMeta::of(req);
    let audit = Audit::by(&principal, &meta, "session.signed_out").details(json!({
        "via": "end_session",
        "client_id": client.as_ref().map(|c| c.client_id.clone()),
        "confirmed": !hinted,
    }));
    let logouts = end(state, &principal, id, audit).await?;
    crate::logout::send(state, logouts, "signed_out");
    Ok(signed_out(state, &after, Ended::Session))
}

async fn end(
    state: &AppState,
    principal: &Principal,
    session_id: &str,
    audit: Audit,
) -> Result<Vec<crate::logout::Target>, ApiError> {
    let (user_id, sid) = (principal.user.id.clone(), session_id.to_string());
    let now = state.clock.now();
    audit
        .write(&state.db, move |conn| {
            crate::logout::end_session(conn, &user_id, &sid, now)
        })
        .await
}

/// What this request ended.
enum Ended {
    Session,
    /// No session: nothing to end. The cookie is cleared only when the browser sent one
    /// that is no longer good — never because a request came without it (a cross-site
    /// POST, whose answer would otherwise sign the browser out with no question asked).
    Nothing {
        stale_cookie: bool,
    },
}

/// Signed out (or never signed in): to the registered URL with `state`, or a page.
fn signed_out(state: &AppState, after: &After, ended: Ended) -> HttpResponse {
    let clear = matches!(
        ended,
        Ended::Session | Ended::Nothing { stale_cookie: true }
    );
    let removal =
        crate::auth::session::removal(state.auth.session_cookie, state.settings.cookies_secure());
    let with_cookie = |mut b: actix_web::HttpResponseBuilder| {
        if clear {
            b.cookie(removal.clone());
        }
        b
    };
    if let Some(uri) = &after.redirect {
        let location = match (url::Url::parse(uri), &after.state) {
            (Ok(mut u), Some(s)) => {
                u.query_pairs_mut().append_pair("state", s);
                u.to_string()
            }
            _ => uri.clone(),
        };
        return protect(&mut with_cookie(HttpResponse::Found()))
            .insert_header((header::LOCATION, location))
            .finish();
    }
    let what = if matches!(ended, Ended::Session) {
        "You are signed out of Gatehouse."
    } else {
        "You are not signed in to Gatehouse."
    };
    let body = page(
        "Signed out",
        &format!(
            "<h1>Signed out</h1><p role=\"status\">{}</p><p><a href=\"/login\">Sign in again</a></p>",
            super::authorize::escape(what)
        ),
    );
    protect(&mut with_cookie(HttpResponse::Ok()))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// The logout-CSRF guard: "Sign out of Gatehouse?", with a form that carries the
/// session's CSRF token and the request's parameters.
fn confirmation(params: &Params, after: &After, csrf: &str) -> HttpResponse {
    use super::authorize::escape;
    let mut hidden = format!(
        "<input type=\"hidden\" name=\"{CONFIRM}\" value=\"{}\">",
        escape(csrf)
    );
    for name in ["client_id", "post_logout_redirect_uri", "state"] {
        if let Some(v) = params.get(name) {
            hidden.push_str(&format!(
                "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                escape(v)
            ));
        }
    }
    let asking = match &after.client_name {
        Some(name) => format!(
            "<p><strong>{}</strong> asks to sign you out of Gatehouse.</p>",
            escape(name)
        ),
        None => "<p>A link asks to sign you out of Gatehouse.</p>".to_string(),
    };
    let body = page(
        "Sign out of Gatehouse?",
        &format!(
            "<h1>Sign out of Gatehouse?</h1>{asking}<p>If you did not mean to sign out, close this page: nothing happens.</p>\
             <form method=\"post\" action=\"/oauth/logout\">{hidden}<button type=\"submit\" id=\"confirm-logout\">Sign out</button></form>"
        ),
    );
    protect(&mut HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn page(title: &str, main: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title></head><body><main>{main}</main></body></html>",
        super::authorize::escape(title)
    )
}
