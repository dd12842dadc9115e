//! `GET /oauth/authorize` (and Rally's `/login/oauth2/auth`), and the consent API
//! `GET`/`POST /api/v1/oauth/requests/{id}` that the SPA's consent page uses.
//!
//! The client and the redirect URI are checked first: an unknown client or a redirect
//! URI that is not registered gets an error page, never a redirect (RFC 6749 §4.1.2.1),
//! so Gatehouse cannot be used as an open redirector. Every later error goes back to
//! the client by redirect, with its `state`.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use std::collections::BTreeSet;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::NaiveDateTime;
use gatehouse_types::{AuthorizationRequestView, ConsentDecision, ConsentResult, Decision};
use serde_json::json;

use super::params::Params;
use super::store::{self as oauth_store, NewRequest};
use super::{CODE_TTL, DEFAULT_SCOPE, REQUEST_TTL};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::client::redirect_matches;
use crate::auth::scopes;
use crate::auth::tokens::{self, TokenHasher};
use crate::auth::{Action, Authenticated, ClientMeta, Hold, Principal, Via};
use crate::clock;
use crate::db::DbConnection;
use crate::db::grants::{self as grants_store, GrantChanges, GrantRow, Holder, NewCode, NewGrant};
use crate::db::oauth_clients::{self as clients_store, ClientRow};
use crate::db::users as users_store;
use crate::error::ApiError;
use crate::state::AppState;

/// Pages that take decisions must not be framed (clickjacking), nor cached, nor leak
/// their URL (which may hold a code) through `Referer`.
pub(super) fn protect(
    res: &mut actix_web::HttpResponseBuilder,
) -> &mut actix_web::HttpResponseBuilder {
    res.insert_header(("Content-Security-Policy", "frame-ancestors 'none'"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
}

pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The error page for requests we cannot safely send back to the client.
pub(super) fn error_page(title: &str, detail: &str) -> HttpResponse {
    page(HttpResponse::BadRequest(), title, detail)
}

fn page(mut status: actix_web::HttpResponseBuilder, title: &str, detail: &str) -> HttpResponse {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{d}</p><p>Go back to the application and try again, or contact \
         its developer.</p></body></html>",
        t = escape(title),
        d = escape(detail)
    );
    protect(&mut status)
        .content_type("text/html; charset=utf-8")
        .body(body)
}

/// The redirect URI with parameters added (RFC 6749 §4.1.2), plus `iss` (RFC 9207).
fn redirect_url(base: &str, params: &[(&str, &str)], issuer: &str) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
                q.append_pair("iss", issuer);
            }
            u.to_string()
        }
        Err(_) => base.to_string(),
    }
}

fn found(location: &str) -> HttpResponse {
    protect(&mut HttpResponse::Found())
        .insert_header((header::LOCATION, location))
        .finish()
}

/// Where errors go once the client and its callback URL are known: back to the client,
/// by redirect, with its `state` (RFC 6749 §4.1.2.1).
struct ErrorRedirect {
    redirect_uri: String,
    state: Option<String>,
    issuer: String,
}

impl ErrorRedirect {
    fn send(&self, error: &str, description: &str) -> HttpResponse {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(s) = &self.state {
            params.push(("state", s));
        }
        found(&redirect_url(&self.redirect_uri, &params, &self.issuer))
    }

    /// The same, as the early end of a step.
    fn stop(&self, error: &str, description: &str) -> Stop {
        Stop::Answer(Box::new(self.send(error, description)))
    }
}

/// How a step of the authorization endpoint ends the request early: with its answer
/// (an error page, or a redirect to the client or to sign-in), or with an error that
/// `authorize_with` turns into a page.
enum Stop {
    Answer(Box<HttpResponse>),
    Failed(ApiError),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Stop {
        Stop::Failed(e)
    }
}

fn stop_page(title: &str, detail: &str) -> Stop {
    Stop::Answer(Box::new(error_page(title, detail)))
}

type Step<T> = Result<T, Stop>;

/// What the client asked for, once checked.
#[derive(Debug, Clone)]
pub struct AuthorizationParams {
    pub redirect_uri: String,
    /// Whether the client named the redirect URI (then the token request must repeat it).
    pub redirect_uri_given: bool,
    pub scopes: BTreeSet<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
}

#[utoipa::path(
    get,
    path = "/oauth/authorize",
    operation_id = "get_oauth_authorize",
    tag = "oauth",
    summary = "The authorization endpoint: `response_type=code` with PKCE S256 (required for public clients).",
    params(super::wire::AuthorizationRequest),
    responses((status = 302, description = "To the client's callback (with `code` or `error`, `state`, `iss`), to `/login?next=…`, or to the consent page `/authorize?request=…`."), (status = 400, description = "An HTML error page: unknown client or unregistered redirect URI (never a redirect).", content_type = "text/html", body = String), (status = 503, description = "The database cannot be reached: an HTML page with `Retry-After`, never a sign-in redirect.", content_type = "text/html", body = String))
)]
pub async fn authorize(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let raw = req.query_string().to_string();
    authorize_with(&state, &req, &raw).await
}

/// `POST` to the authorization endpoint (OpenID Connect Core §3.1.2.1): the same
/// parameters, form-encoded in the body, the same answers.
#[utoipa::path(
    post,
    path = "/oauth/authorize",
    operation_id = "create_oauth_authorize",
    tag = "oauth",
    summary = "The authorization endpoint, its parameters form-encoded in the body (OpenID Connect Core §3.1.2.1).",
    request_body(content = super::wire::AuthorizationRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 302, description = "To the client's callback (with `code` or `error`, `state`, `iss`), to `/login?next=…`, or to the consent page `/authorize?request=…`."), (status = 400, description = "An HTML error page: unknown client or unregistered redirect URI (never a redirect).", content_type = "text/html", body = String), (status = 408, description = "The body did not arrive within 10 s of the request's start (`invalid_request`); the connection is closed.", body = super::wire::OAuthErrorBody), (status = 503, description = "The database cannot be reached: an HTML page with `Retry-After`, never a sign-in redirect.", content_type = "text/html", body = String))
)]
pub async fn authorize_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Ok(raw) = std::str::from_utf8(&body) else {
        return error_page(
            "Invalid request",
            "The request's parameters cannot be read.",
        );
    };
    if !super::params::is_form(&req) {
        return error_page(
            "Invalid request",
            "A POST to the authorization endpoint must be application/x-www-form-urlencoded.",
        );
    }
    authorize_with(&state, &req, raw).await
}

#[tracing::instrument(name = "oauth.authorize", skip_all)]
async fn authorize_with(state: &web::Data<AppState>, req: &HttpRequest, raw: &str) -> HttpResponse {
    match authorize_inner(state, req, raw).await {
        Ok(res) => res,
        Err(Stop::Answer(res)) => *res,
        // The world changed under the request: the client or its callback URL went
        // away, or the user was disabled, while it was being answered.
        Err(Stop::Failed(ApiError::NotFound)) => error_page(
            "Unknown application",
            "This application or its callback URL is no longer registered.",
        ),
        Err(Stop::Failed(ApiError::Unauthorized { .. })) => error_page(
            "Account not active",
            "Your account is not active. Ask an administrator of your subscription.",
        ),
        // Could not check (the database is away): say so, and never send the person
        // to sign in — they may well be signed in.
        Err(Stop::Failed(ApiError::Busy | ApiError::Unavailable(_))) => {
            let mut status = HttpResponse::ServiceUnavailable();
            status.insert_header((header::RETRY_AFTER, "1"));
            page(
                status,
                "Try again shortly",
                "Gatehouse cannot reach its database right now. Reload this page in a moment.",
            )
        }
        Err(Stop::Failed(e)) => {
            tracing::error!(error = ?e, "authorization endpoint failed");
            error_page(
                "Something went wrong",
                "Gatehouse could not process this authorization request. Please try again shortly.",
            )
        }
    }
}

/// The authorization endpoint, step by step: the client and its callback URL (errors
/// on a page), the rest of the request (errors back to the client), who is asking, and
/// then a code at once or the consent page.
async fn authorize_inner(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    raw: &str,
) -> Step<HttpResponse> {
    let query = Params::parse(raw.as_bytes(), super::AUTHORIZE_PARAMS)
        .map_err(|e| stop_page("Invalid request", &e.describe()))?;
    let (client, back) = client_and_callback(state, &query).await?;
    let (params, prompt) = checked_request(&query, &client, &back)?;
    let (principal, auth_time) = signed_in(state, req, &query, &client, &back, &prompt).await?;
    // Already allowed (an active grant covering the scopes), or a standard
    // integration: no consent page.
    if !prompt.consent {
        let meta = ClientMeta::of(req);
        let issued =
            issue_code_if_allowed(state, &principal, &meta, &client, &params, auth_time).await?;
        if let Some((code, grant_id)) = issued {
            state.auth.invalidate(Invalidate::Grant(&grant_id));
            let mut ps = vec![("code", code.as_str())];
            if let Some(s) = &params.state {
                ps.push(("state", s));
            }
            return Ok(found(&redirect_url(
                &params.redirect_uri,
                &ps,
                &back.issuer,
            )));
        }
    }
    if prompt.none {
        return Err(back.stop(
            "consent_required",
            "The user has not allowed this application these scopes.",
        ));
    }
    let id = store_request(state, &principal, &client, &params, auth_time).await?;
    Ok(found(&format!("/authorize?request={id}")))
}

/// Step 1: the client and the redirect URI, before anything is sent back to it. An
/// unknown client or an unregistered callback URL gets a page, never a redirect.
async fn client_and_callback(
    state: &web::Data<AppState>,
    query: &Params,
) -> Step<(ClientRow, ErrorRedirect)> {
    let Some(client_id) = query.get("client_id") else {
        return Err(stop_page(
            "Unknown application",
            "The request names no application (client_id).",
        ));
    };
    // From the database, not the client cache: a callback URL removed on another
    // replica a moment ago must not receive even an error redirect.
    let lookup = client_id.to_string();
    let client = state
        .db
        .read(move |conn| Ok(clients_store::find_by_client_id(conn, &lookup)?))
        .await?;
    let Some(client) = client else {
        return Err(stop_page(
            "Unknown application",
            "No application is registered with this client_id.",
        ));
    };
    let registered = client.redirect_uri_list();
    let redirect_uri = match query.get("redirect_uri") {
        Some(uri) if redirect_matches(&registered, uri) => uri.to_string(),
        Some(_) => {
            return Err(stop_page(
                "Invalid redirect URI",
                "The redirect_uri is not one of the application's registered callback URLs.",
            ));
        }
        None if registered.len() == 1 => registered[0].clone(),
        None => {
            return Err(stop_page(
                "Invalid redirect URI",
                "The application has several callback URLs; the request must name one (redirect_uri).",
            ));
        }
    };
    let back = ErrorRedirect {
        redirect_uri,
        state: query.get("state").map(str::to_string),
        issuer: state.auth.signing.issuer().to_string(),
    };
    Ok((client, back))
}

/// OpenID Connect `prompt` and `max_age`: `none` asks for no page at all (answered by
/// redirect when a page would be needed); `login` and `max_age` for a fresh sign-in;
/// `consent` for the consent page even when an active grant covers the scopes.
struct Prompt {
    none: bool,
    login: bool,
    consent: bool,
    max_age: Option<i64>,
}

/// Step 2: the rest of the request, answered by redirect.
fn checked_request(
    query: &Params,
    client: &ClientRow,
    back: &ErrorRedirect,
) -> Step<(AuthorizationParams, Prompt)> {
    // Request objects are not supported (OpenID Connect Core §6): said before anything
    // else, and before any sign-in.
    if query.get("request").is_some() {
        return Err(back.stop(
            "request_not_supported",
            "Request objects (request) are not supported.",
        ));
    }
    if query.get("request_uri").is_some() {
        return Err(back.stop(
            "request_uri_not_supported",
            "Request objects by reference (request_uri) are not supported.",
        ));
    }
    if !client.allows_grant("authorization_code") {
        return Err(back.stop(
            "unauthorized_client",
            "This client is not registered for the authorization code grant (its grant_types).",
        ));
    }
    if query.get("response_type") != Some("code") {
        return Err(back.stop(
            "unsupported_response_type",
            "Only response_type=code is supported.",
        ));
    }
    let scopes = match scopes::parse(query.get("scope").unwrap_or(DEFAULT_SCOPE)) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => return Err(back.stop("invalid_scope", "No scope was requested.")),
        Err(unknown) => {
            return Err(back.stop("invalid_scope", &format!("Unknown scope: {unknown}.")));
        }
    };
    // OpenID Connect Core §3.1.2.1: an OpenID request names its redirect URI. Without
    // it the request is not answered by redirect at all (the safer reading).
    if scopes.contains("openid") && query.get("redirect_uri").is_none() {
        return Err(stop_page(
            "Invalid redirect URI",
            "An OpenID Connect request must name its redirect_uri.",
        ));
    }
    let code_challenge =
        code_challenge(query, client).map_err(|why| back.stop("invalid_request", why))?;
    if back.state.as_deref().is_some_and(|s| s.len() > 1024)
        || query.get("nonce").is_some_and(|n| n.len() > 512)
    {
        return Err(back.stop("invalid_request", "state or nonce is too long."));
    }
    let params = AuthorizationParams {
        redirect_uri: back.redirect_uri.clone(),
        redirect_uri_given: query.get("redirect_uri").is_some(),
        scopes,
        state: back.state.clone(),
        code_challenge,
        nonce: query.get("nonce").map(str::to_string),
    };
    let prompt = prompt(query).map_err(|why| back.stop("invalid_request", why))?;
    Ok((params, prompt))
}

/// The PKCE challenge: S256 only, and required of public clients.
fn code_challenge(query: &Params, client: &ClientRow) -> Result<Option<String>, &'static str> {
    match (
        query.get("code_challenge"),
        query.get("code_challenge_method"),
    ) {
        (None, None) if client.is_public() => {
            Err("Public clients must use PKCE (code_challenge with S256).")
        }
        (None, None) => Ok(None),
        (Some(c), Some("S256")) if super::pkce::well_formed(c) => Ok(Some(c.to_string())),
        (Some(_), Some("S256")) => Err("The code_challenge is malformed."),
        (Some(_), _) => Err("code_challenge_method must be S256; plain is not supported."),
        (None, Some(_)) => Err("code_challenge_method without code_challenge."),
    }
}

fn prompt(query: &Params) -> Result<Prompt, &'static str> {
    let values: BTreeSet<&str> = query
        .get("prompt")
        .map(|p| p.split(' ').filter(|v| !v.is_empty()).collect())
        .unwrap_or_default();
    let none = values.contains("none");
    if none && values.len() > 1 {
        return Err("prompt=none cannot be combined with other prompt values.");
    }
    let max_age = match query.get("max_age").map(str::parse::<u32>) {
        None => None,
        Some(Ok(seconds)) => Some(i64::from(seconds)),
        Some(Err(_)) => return Err("max_age must be a whole number of seconds."),
    };
    Ok(Prompt {
        none,
        login: values.contains("login"),
        consent: values.contains("consent"),
        max_age,
    })
}

/// Step 3: who is asking, and when they signed in (`auth_time`). Not signed in, or
/// signed in longer ago than the request accepts: sign in (again) and come back. A
/// session that could not be checked (the database is away) is an error, never a
/// sign-in redirect.
async fn signed_in(
    state: &web::Data<AppState>,
    req: &HttpRequest,
    query: &Params,
    client: &ClientRow,
    back: &ErrorRedirect,
    prompt: &Prompt,
) -> Step<(Principal, NaiveDateTime)> {
    let session = match crate::auth::session::token(req, state.auth.session_cookie) {
        Some(c) => match crate::auth::session::authenticate(&state.auth, &c).await {
            Ok(principal) => Some(principal),
            Err(ApiError::Unauthorized { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let Some(principal) = session else {
        if prompt.none {
            return Err(back.stop("login_required", "The user is not signed in."));
        }
        // Back to the same request after sign-in, as a GET. The sign-in about to
        // happen is as fresh as `prompt=login` or `max_age` can ask.
        let sign_in = sign_in_url(req.path(), query.pairs(), None);
        return Err(Stop::Answer(Box::new(found(&sign_in))));
    };
    if principal.subscription.id != client.subscription_id {
        return Err(back.stop(
            "access_denied",
            "This application belongs to another organisation.",
        ));
    }
    // A person who must first set up a second step, or choose their own password, does
    // so on the sign-in page, and comes back.
    if let Some(hold) = principal.hold() {
        if prompt.none {
            return Err(back.stop(
                "login_required",
                match hold {
                    Hold::Enrolment => "The user must set up two-step sign-in first.",
                    Hold::PasswordChange => "The user must choose a new password first.",
                },
            ));
        }
        let sign_in = sign_in_url(req.path(), query.pairs(), None);
        return Err(Stop::Answer(Box::new(found(&sign_in))));
    }
    // The session's creation is the moment the user signed in (`auth_time`).
    let (auth_time, mark) = match &principal.via {
        Via::Session { created_at, id, .. } => (*created_at, reauth_mark(id)),
        _ => (state.clock.now(), String::new()),
    };
    // `prompt=login`, or a sign-in older than `max_age`: sign in again first. The way
    // back carries a mark of the current session instead, so the same session is sent
    // back again and a new one (a new sign-in) goes on — no clocks are compared, so a
    // replica's clock cannot make this loop.
    let stale = prompt.login
        || prompt
            .max_age
            .is_some_and(|m| (state.clock.now() - auth_time).num_seconds() > m)
        || query.get(REAUTH_PARAM) == Some(mark.as_str());
    // `acr_values` asking for two steps, from a session signed in with one: a person
    // with a second step signs in again with both; one without cannot meet it.
    let two_step_asked = query
        .get("acr_values")
        .is_some_and(|v| v.split(' ').any(|a| a == super::token::ACR_TWO_STEP));
    let one_step = !principal
        .amr()
        .is_some_and(crate::auth::session::has_second_step);
    let mut needs_second_step = false;
    if two_step_asked && one_step {
        let user_id = principal.user.id.clone();
        let has_one = state
            .db
            .read(move |conn| Ok(crate::db::second_factors::has_confirmed(conn, &user_id)?))
            .await?;
        if !has_one {
            return Err(back.stop(
                "unmet_authentication_requirements",
                "The application asks for two-step sign-in, and this person has not set up a second step.",
            ));
        }
        needs_second_step = true;
    }
    if stale || needs_second_step {
        if prompt.none {
            return Err(back.stop("login_required", "The user must sign in again."));
        }
        let again = sign_in_url(req.path(), query.pairs(), Some(&mark));
        return Err(Stop::Answer(Box::new(found(&again))));
    }
    Ok((principal, auth_time))
}

/// Step 4, when the user must decide: stores the request for the consent page (and
/// sweeps expired ones), and says its id.
async fn store_request(
    state: &web::Data<AppState>,
    principal: &Principal,
    client: &ClientRow,
    params: &AuthorizationParams,
    auth_time: NaiveDateTime,
) -> Result<String, ApiError> {
    let now = state.clock.now();
    let id = uuid::Uuid::now_v7().to_string();
    let (rid, sub_id, uid, cid) = (
        id.clone(),
        principal.subscription.id.clone(),
        principal.user.id.clone(),
        client.id.clone(),
    );
    let p = params.clone();
    state
        .db
        .write(move |conn| {
            oauth_store::insert_request(
                conn,
                &NewRequest {
                    id: &rid,
                    subscription_id: &sub_id,
                    user_id: &uid,
                    client_id: &cid,
                    redirect_uri: &p.redirect_uri,
                    scopes: &scopes::join(&p.scopes),
                    state: p.state.as_deref(),
                    code_challenge: p.code_challenge.as_deref(),
                    nonce: p.nonce.as_deref(),
                    auth_time,
                    created_at: now,
                    expires_at: now + REQUEST_TTL,
                    redirect_uri_given: p.redirect_uri_given,
                },
            )?;
            Ok(())
        })
        .await?;
    Ok(id)
}

/// The query parameter that carries [`reauth_mark`] back from a forced sign-in.
const REAUTH_PARAM: &str = "gatehouse_reauth";

/// Names a session without revealing its id: a request that comes back carrying the
/// mark of the session it is made with has not been through a new sign-in yet.
fn reauth_mark(session_id: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("gatehouse-reauth:{session_id}").as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The sign-in page, with the way back to this authorization request (as a GET).
/// `prompt=login` and `max_age` are answered by this sign-in, so the way back drops
/// them; with `mark` (a signed-in user who must sign in again) it carries the current
/// session's mark instead and the page asks for the password even though a session
/// exists (`reauth=1`).
fn sign_in_url(path: &str, pairs: &[(String, String)], mark: Option<&str>) -> String {
    let mut back = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        match k.as_str() {
            "max_age" | REAUTH_PARAM => {}
            "prompt" => {
                let rest: Vec<&str> = v
                    .split(' ')
                    .filter(|p| !p.is_empty() && *p != "login")
                    .collect();
                if !rest.is_empty() {
                    back.append_pair(k, &rest.join(" "));
                }
            }
            _ => {
                back.append_pair(k, v);
            }
        }
    }
    if let Some(mark) = mark {
        back.append_pair(REAUTH_PARAM, mark);
    }
    let here = format!("{path}?{}", back.finish());
    let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
    match mark {
        Some(_) => format!("/login?next={next}&reauth=1"),
        None => format!("/login?next={next}"),
    }
}

/// Issues a code without asking when the user's grant is active and covers the scopes,
/// or the client is a standard integration; `None` when consent must be asked. The
/// grant is read inside the transaction that issues the code, so a revocation that
/// landed since the user's last decision is seen here and sends them to the consent
/// page — it is never silently undone.
async fn issue_code_if_allowed(
    state: &AppState,
    principal: &Principal,
    meta: &ClientMeta,
    client: &ClientRow,
    params: &AuthorizationParams,
    auth_time: NaiveDateTime,
) -> Result<Option<(String, String)>, ApiError> {
    let (principal, meta, client, params) = (
        principal.clone(),
        meta.clone(),
        client.clone(),
        params.clone(),
    );
    let hasher = state.auth.tokens.clone();
    state
        .db
        .write(move |conn| {
            // The client as it is now: still there, still with this callback URL,
            // and still standard if that is what skips the page.
            let client = clients_store::find_by_client_id(conn, &client.client_id)?
                .filter(|c| redirect_matches(&c.redirect_uri_list(), &params.redirect_uri))
                .ok_or(ApiError::NotFound)?;
            let grant = grants_store::find_for_update(conn, &principal.user.id, &client.id)?;
            let covered = grant.as_ref().is_some_and(|g| {
                g.is_active() && scopes::split(&g.scopes).is_superset(&params.scopes)
            });
            if !covered && !client.standard {
                return Ok(None);
            }
            // Refresh tokens that outlive the session, to a client with no secret: whoever
            // holds this browser's cookie could redeem the code themselves. Without a
            // recent password, the person is asked on the consent page (which then asks
            // for it).
            let lasting = params.scopes.contains("offline_access");
            if lasting
                && client.is_public()
                && principal.require(Action::GrantLastingAccess).is_err()
            {
                return Ok(None);
            }
            let asking = Asking {
                principal: &principal,
                meta: &meta,
                client: &client,
                params: &params,
                auth_time,
            };
            issue_code(conn, &hasher, &asking, grant).map(Some)
        })
        .await
}

/// Who asks for a code, for which client and request, signed in when.
struct Asking<'a> {
    principal: &'a Principal,
    meta: &'a ClientMeta,
    client: &'a ClientRow,
    params: &'a AuthorizationParams,
    auth_time: NaiveDateTime,
}

/// Creates, extends or re-enables the user's grant for the client and issues a code
/// under it. Returns the code and the grant id. Runs inside the caller's transaction,
/// with `grant` as the caller read it there under its row lock
/// (`grants_store::find_for_update`), and re-reads that the user is still active (the
/// caller read the client in the same transaction).
fn issue_code(
    conn: &mut DbConnection,
    hasher: &TokenHasher,
    asking: &Asking<'_>,
    grant: Option<GrantRow>,
) -> Result<(String, String), ApiError> {
    let active = users_store::find(conn, &asking.principal.user.id)?
        .is_some_and(|u| u.state == gatehouse_types::UserState::Active);
    if !active {
        return Err(ApiError::unauthorized(
            gatehouse_types::codes::USER_INACTIVE,
            "The user is not active.",
        ));
    }
    let grant = match grant {
        Some(g) => g,
        None => create_grant(conn, asking)?,
    };
    let (grant_id, generation) = allow(conn, asking, grant)?;
    let now = asking.meta.at;
    let (params, code) = (asking.params, tokens::random_token(32));
    grants_store::insert_code(
        conn,
        &NewCode {
            id: &uuid::Uuid::now_v7().to_string(),
            code_hash: &hasher.hash(&code),
            grant_id: &grant_id,
            redirect_uri: &params.redirect_uri,
            scopes: &scopes::join(&params.scopes),
            code_challenge: params.code_challenge.as_deref(),
            nonce: params.nonce.as_deref(),
            auth_time: asking.auth_time,
            created_at: now,
            expires_at: now + CODE_TTL,
            generation,
            redirect_uri_given: params.redirect_uri_given,
            session_id: asking.principal.session_id(),
            amr: asking.principal.amr(),
        },
    )?;
    Ok((code, grant_id))
}

/// Makes the signed-in user's grant for the client cover `scopes` — created, extended
/// or re-enabled, each audited as on the consent page — in the caller's transaction,
/// under the grant's row lock. The grant's id and generation. The device grant's
/// "Allow" (`device.rs`).
pub(super) fn grant_scopes(
    conn: &mut DbConnection,
    principal: &Principal,
    meta: &ClientMeta,
    client: &ClientRow,
    scopes: BTreeSet<String>,
) -> Result<(String, i64), ApiError> {
    let params = AuthorizationParams {
        redirect_uri: String::new(),
        redirect_uri_given: false,
        scopes,
        state: None,
        code_challenge: None,
        nonce: None,
    };
    let asking = Asking {
        principal,
        meta,
        client,
        params: &params,
        auth_time: meta.at,
    };
    let grant = match grants_store::find_for_update(conn, &principal.user.id, &client.id)? {
        Some(g) => g,
        None => create_grant(conn, &asking)?,
    };
    allow(conn, &asking, grant)
}

/// An event about the user's grant for the client (`oauth_grant.…`).
fn grant_event(asking: &Asking<'_>, action: &'static str, grant_id: &str) -> Audit {
    let Asking {
        principal,
        meta,
        client,
        params,
        ..
    } = *asking;
    Audit::by(principal, meta, action)
        .target("oauth_grant", grant_id)
        .subject(&principal.user.id)
        .details(json!({
            "client_id": client.client_id,
            "client_name": client.name,
            "scopes": scopes::join(&params.scopes),
        }))
}

/// The user's first grant for the client, recorded as `oauth_grant.authorized`. Read
/// back: a concurrent "Allow" may have inserted it first; then that one is used (and
/// recorded by its own request).
fn create_grant(conn: &mut DbConnection, asking: &Asking<'_>) -> Result<GrantRow, ApiError> {
    let (principal, client, now) = (asking.principal, asking.client, asking.meta.at);
    let id = uuid::Uuid::now_v7().to_string();
    grants_store::insert(
        conn,
        &NewGrant {
            id: &id,
            subscription_id: &principal.subscription.id,
            user_id: &principal.user.id,
            client_id: &client.id,
            scopes: &scopes::join(&asking.params.scopes),
            state: "active",
            generation: 1,
            created_at: now,
            updated_at: now,
        },
    )?;
    let grant =
        grants_store::find(conn, &principal.user.id, &client.id)?.ok_or(ApiError::NotFound)?;
    if grant.id == id {
        grant_event(asking, "oauth_grant.authorized", &id).record(conn)?;
    }
    Ok(grant)
}

/// Makes the grant cover what is asked: an active grant is extended by the new scopes
/// (`oauth_grant.extended`); a revoked one is re-enabled with exactly them and a new
/// generation, so the old tokens stay dead (`oauth_grant.re_enabled`). Returns the
/// grant's id and generation.
fn allow(
    conn: &mut DbConnection,
    asking: &Asking<'_>,
    g: GrantRow,
) -> Result<(String, i64), ApiError> {
    let (asked, now) = (&asking.params.scopes, asking.meta.at);
    let holder = Holder::User(&asking.principal.user.id);
    if g.is_active() {
        let mut all = scopes::split(&g.scopes);
        if !all.is_superset(asked) {
            all.extend(asked.iter().cloned());
            let changes = GrantChanges {
                scopes: Some(scopes::join(&all)),
                updated_at: Some(now),
                ..Default::default()
            };
            grants_store::update(conn, holder, &g.id, &changes)?;
            grant_event(asking, "oauth_grant.extended", &g.id).record(conn)?;
        }
        return Ok((g.id, g.generation));
    }
    let changes = GrantChanges {
        scopes: Some(scopes::join(asked)),
        state: Some("active".into()),
        generation: Some(g.generation + 1),
        revoked_at: Some(None),
        updated_at: Some(now),
        ..Default::default()
    };
    grants_store::update(conn, holder, &g.id, &changes)?;
    grant_event(asking, "oauth_grant.re_enabled", &g.id).record(conn)?;
    Ok((g.id, g.generation + 1))
}

fn find_pending(
    conn: &mut DbConnection,
    user_id: &str,
    id: &str,
    now: NaiveDateTime,
) -> Result<(oauth_store::RequestRow, ClientRow), ApiError> {
    // The world is re-checked at the decision: a request whose callback URL the client
    // no longer has is gone, like an expired one (the client itself must still exist
    // for the join to find it, and the user's session was checked at this request).
    match oauth_store::find_request(conn, user_id, id)? {
        Some((r, c))
            if r.expires_at > now && redirect_matches(&c.redirect_uri_list(), &r.redirect_uri) =>
        {
            Ok((r, c))
        }
        _ => Err(ApiError::NotFound),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/oauth/requests/{id}",
    operation_id = "get_oauth_request",
    tag = "oauth",
    summary = "The pending authorization request behind the consent page (signed-in session, the requester only).",
    security(("session" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    responses((status = 200, description = "What the consent page shows.", body = AuthorizationRequestView), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn get_request(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::DecideConsent)?;
    let id = path.into_inner();
    crate::routing::id_or_404(&id)?;
    let (user_id, subscription_id) = (principal.user.id.clone(), principal.subscription.id.clone());
    let now = state.clock.now();
    let (request, client, owner) = state
        .db
        .read(move |conn| {
            let (request, client) = find_pending(conn, &user_id, &id, now)?;
            // Clients go with their owner (ON DELETE CASCADE), so the owner exists.
            let owner =
                users_store::find_in_subscription(conn, &subscription_id, &client.owner_id)?
                    .ok_or(ApiError::NotFound)?;
            Ok((request, client, owner))
        })
        .await?;
    let registered_by = if owner.display_name.trim().is_empty() {
        owner.username
    } else {
        owner.display_name
    };
    let redirect_host = url::Url::parse(&request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| request.redirect_uri.clone());
    Ok(
        protect(&mut HttpResponse::Ok()).json(AuthorizationRequestView {
            id: request.id,
            client_id: client.client_id,
            client_name: client.name,
            homepage_url: client.homepage_url,
            logo_url: client.logo_url,
            standard: client.standard,
            scopes: scopes::split(&request.scopes).into_iter().collect(),
            redirect_host,
            registered_by,
            expires_at: clock::utc(request.expires_at),
        }),
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/oauth/requests/{id}",
    operation_id = "decide_oauth_request",
    tag = "oauth",
    summary = "Allow or deny; once. The answer says where to send the browser: the client's callback with `code` and `state`, or with `error=access_denied`.",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The record's id.")),
    request_body = ConsentDecision,
    responses((status = 200, description = "Where to go.", body = ConsentResult), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415))
)]
pub async fn decide_request(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
    body: crate::routing::JsonBody<ConsentDecision>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::DecideConsent)?;
    let id = path.into_inner();
    crate::routing::id_or_404(&id)?;
    let decision = body.decision;
    let (p, m) = (principal.clone(), meta.clone());
    let hasher = state.auth.tokens.clone();
    let (params, answer, grant_id) = state
        .db
        .write(move |conn| decide(conn, &hasher, (&p, &m), &id, decision))
        .await?;
    if let Some(g) = grant_id {
        state.auth.invalidate(Invalidate::Grant(&g));
    }
    let mut pairs: Vec<(&str, &str)> = answer.iter().map(|(k, v)| (*k, v.as_str())).collect();
    if let Some(s) = &params.state {
        pairs.push(("state", s));
    }
    let issuer = state.auth.signing.issuer();
    let redirect_to = redirect_url(&params.redirect_uri, &pairs, issuer);
    Ok(protect(&mut HttpResponse::Ok()).json(ConsentResult { redirect_to }))
}

/// What the client is told of the user's decision on a pending request (taken: a second
/// decision finds nothing): the request as it was made, the parameters for its
/// callback (a code, or `access_denied`), and the grant a code was issued under.
type Decided = (
    AuthorizationParams,
    Vec<(&'static str, String)>,
    Option<String>,
);

fn decide(
    conn: &mut DbConnection,
    hasher: &TokenHasher,
    (principal, meta): (&Principal, &ClientMeta),
    request_id: &str,
    decision: Decision,
) -> Result<Decided, ApiError> {
    let (request, client) = find_pending(conn, &principal.user.id, request_id, meta.at)?;
    // Checked before the request is taken: after the password, the same Allow works.
    if decision == Decision::Allow && scopes::lasting(&request.scopes) {
        principal.require(Action::GrantLastingAccess)?;
    }
    if !oauth_store::take_request(conn, &request.id)? {
        return Err(ApiError::NotFound);
    }
    let params = AuthorizationParams {
        redirect_uri: request.redirect_uri.clone(),
        redirect_uri_given: request.redirect_uri_given,
        scopes: scopes::split(&request.scopes),
        state: request.state.clone(),
        code_challenge: request.code_challenge.clone(),
        nonce: request.nonce.clone(),
    };
    if decision == Decision::Deny {
        Audit::by(principal, meta, "oauth_request.denied")
            .target("oauth_client", &client.id)
            .subject(&principal.user.id)
            .details(json!({"client_id": client.client_id}))
            .record(conn)?;
        let answer = vec![
            ("error", "access_denied".to_string()),
            ("error_description", "The user denied the request.".into()),
        ];
        return Ok((params, answer, None));
    }
    let grant = grants_store::find_for_update(conn, &principal.user.id, &client.id)?;
    let asking = Asking {
        principal,
        meta,
        client: &client,
        params: &params,
        auth_time: request.auth_time,
    };
    let (code, grant_id) = issue_code(conn, hasher, &asking, grant)?;
    Ok((params, vec![("code", code)], Some(grant_id)))
}
