//! The app's pages: `/`, `/login`, `/callback`, `POST /refresh`, `POST /logout`.

use std::fmt;
use std::time::Instant;

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError, web};
use chrono::{DateTime, TimeDelta, Utc};
use oauth2::TokenResponse;
use serde::Deserialize;

use crate::AppState;
use crate::gatehouse::TokenSet;
use crate::pages;
use crate::session::{self, COOKIE, Notice, Pending, Session, Tokens};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(index))
        .route("/login", web::get().to(login))
        .route("/callback", web::get().to(callback))
        .route("/refresh", web::post().to(refresh))
        .route("/logout", web::post().to(logout));
}

/// An error shown as a page with `#error`.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    message: String,
}

impl PageError {
    fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            title,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            message,
        )
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.title, self.message)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        html(self.status).body(pages::error(self.title, &self.message))
    }
}

/// An HTML response that is never cached (pages show the user's data) and never framed.
fn html(status: StatusCode) -> HttpResponseBuilder {
    html_posting_to(status, "")
}

/// [`html`] whose forms may also end up at `origin`: browsers hold a form's redirects
/// to `form-action` too, and signing out goes on to Gatehouse's end-session endpoint.
fn html_posting_to(status: StatusCode, origin: &str) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {origin}; \
                 frame-ancestors 'none'; base-uri 'none'"
            ),
        ));
    b
}

fn redirect(to: &str) -> HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header((header::LOCATION, to))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    b
}

fn session_cookie(state: &AppState, id: String) -> Cookie<'static> {
    Cookie::build(COOKIE, id)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.secure_cookie)
        .finish()
}

fn removal_cookie(state: &AppState) -> Cookie<'static> {
    let mut c = session_cookie(state, String::new());
    c.make_removal();
    c
}

fn session_id(req: &HttpRequest) -> Option<String> {
    req.cookie(COOKIE).map(|c| c.value().to_string())
}

fn no_random(e: getrandom::Error) -> PageError {
    PageError::internal(format!("The system's random number generator failed: {e}"))
}

/// POSTs change the session, so they must come from this app's own pages. The cookie
/// is SameSite=Lax, which already keeps it off cross-site POSTs; browsers also say
/// where a request comes from, and anything that is not this origin is refused.
fn same_origin(state: &AppState, req: &HttpRequest) -> Result<(), PageError> {
    let headers = req.headers();
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    // Browsers send `Origin` with every form POST (the pages use `Referrer-Policy:
    // same-origin`, under which it is the real origin, not "null"): it must be ours
    // exactly. Without it,
    // fall back to Fetch Metadata. "same-site" is not refused: on one host, apps on
    // other ports (Gatehouse itself, on 127.0.0.1) are the same site.
    let cross_site = match origin {
        Some(o) => o != state.origin,
        None => matches!(site, Some("cross-site")),
    };
    if cross_site {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form can only be sent from the app's own pages.",
        ));
    }
    Ok(())
}

fn expires_at(tokens: &TokenSet) -> Option<DateTime<Utc>> {
    let d = TimeDelta::from_std(tokens.expires_in()?).ok()?;
    Utc::now().checked_add_signed(d)
}

fn scope_string(tokens: &TokenSet) -> Option<String> {
    tokens
        .scopes()
        .map(|s| s.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
}

/// `GET /`: the sign-in link, or the signed-in user's profile and API keys.
async fn index(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let snapshot = session_id(&req).and_then(|id| {
        state
            .sessions
            .with(&id, |s| {
                let t = s.tokens.as_ref()?;
                Some((
                    t.access.clone(),
                    t.expires_at,
                    t.scope.clone(),
                    t.sub.clone(),
                    s.notice.take(),
                ))
            })
            .flatten()
    });
    let Some((access, expires_at, scope, sub, notice)) = snapshot else {
        return html(StatusCode::OK).body(pages::signed_out());
    };
    let gh = &state.gatehouse;
    let (mut profile, keys) = tokio::join!(gh.userinfo(&access), gh.api_keys(&access));
    // OpenID Connect Core §5.3.2: userinfo must be about the id_token's subject.
    if let (Ok(p), Some(sub)) = (&profile, &sub)
        && p.sub != *sub
    {
        profile = Err(crate::gatehouse::ApiFailure {
            call: "GET /oauth/userinfo",
            status: Some(200),
            code: Some("subject_mismatch".into()),
            message: Some("userinfo is about someone other than the id_token.".into()),
        });
    }
    html_posting_to(StatusCode::OK, &state.gatehouse_origin).body(pages::home(&pages::Home {
        profile: &profile,
        keys: &keys,
        notice: notice.as_ref(),
        expires_at,
        scope: scope.as_deref(),
        public_client: gh.is_public(),
    }))
}

/// `GET /login`: a fresh `state`, PKCE pair and `nonce`, kept in the session, and off
/// to Gatehouse's authorization endpoint.
async fn login(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    let nonce = session::random_id().map_err(no_random)?;
    let (url, csrf, verifier) = state.gatehouse.authorize_url(&nonce);
    let mut pending = Some(Pending {
        state: csrf,
        verifier,
        nonce,
        started: Instant::now(),
    });
    // Reuse the browser's session if it has one, else start one.
    if let Some(id) = session_id(&req) {
        state.sessions.with(&id, |s| {
            if let Some(p) = pending.take() {
                s.add_pending(p);
            }
        });
    }
    let mut res = HttpResponse::Found();
    res.insert_header((header::LOCATION, url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Some(p) = pending {
        let mut s = Session::default();
        s.add_pending(p);
        let id = state.sessions.create(s).map_err(no_random)?;
        res.cookie(session_cookie(&state, id));
    }
    Ok(res.finish())
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    iss: Option<String>,
}

/// `GET /callback`: Gatehouse sends the browser back here with a code (or an error).
async fn callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, PageError> {
    let q = query.into_inner();
    let id = session_id(&req);
    // The state must be one this browser's session sent: otherwise someone is trying
    // to sign this browser in with their own code (login CSRF).
    let pending = match (&id, &q.state) {
        (Some(id), Some(st)) => state.sessions.with(id, |s| s.take_pending(st)).flatten(),
        _ => None,
    };
    let Some(pending) = pending else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The state parameter does not match a sign-in started in this browser (or the \
             sign-in is more than 10 minutes old). Start again from the sign-in link.",
        ));
    };
    // RFC 9207: Gatehouse names itself, so a response from another server is caught.
    if q.iss
        .as_deref()
        .is_some_and(|iss| iss != state.gatehouse.issuer())
    {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "The response does not come from the Gatehouse this app uses (iss mismatch).",
        ));
    }
    if let Some(error) = q.error {
        if error == "access_denied" {
            return Ok(html(StatusCode::OK).body(pages::denied()));
        }
        let mut message = format!("Gatehouse answered {error}");
        if let Some(d) = q.error_description {
            message.push_str(": ");
            message.push_str(&d);
        }
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            message,
        ));
    }
    let Some(code) = q.code else {
        return Err(PageError::new(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            "Gatehouse sent neither a code nor an error.",
        ));
    };
    let tokens = state
        .gatehouse
        .exchange_code(code, pending.verifier)
        .await
        .map_err(|f| {
            let status = if f.transport {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::BAD_REQUEST
            };
            PageError::new(
                status,
                "Sign-in failed",
                format!("The token endpoint answered {f}."),
            )
        })?;
    let sub = match &tokens.extra_fields().id_token {
        Some(id_token) => Some(
            state
                .gatehouse
                .check_id_token(id_token, &pending.nonce)
                .map_err(|m| PageError::new(StatusCode::BAD_REQUEST, "Sign-in failed", m))?
                .sub,
        ),
        None if state.gatehouse.wants_openid() => {
            return Err(PageError::new(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "The app asked for the openid scope but Gatehouse sent no id_token.",
            ));
        }
        None => None,
    };
    // A new session id for the signed-in session, so an id known before sign-in
    // (session fixation) is worth nothing after it.
    if let Some(id) = &id {
        state.sessions.remove(id);
    }
    let new_id = state
        .sessions
        .create(Session::signed_in(Tokens {
            access: tokens.access_token().clone(),
            refresh: tokens.refresh_token().cloned(),
            refreshing: false,
            expires_at: expires_at(&tokens),
            scope: scope_string(&tokens),
            sub,
            id_token: tokens.extra_fields().id_token.clone(),
        }))
        .map_err(no_random)?;
    Ok(redirect("/")
        .cookie(session_cookie(&state, new_id))
        .finish())
}

/// `POST /refresh`: the refresh-token grant; stores the rotated refresh token.
async fn refresh(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    same_origin(&state, &req)?;
    let Some(id) = session_id(&req) else {
        return Ok(redirect("/").finish());
    };
    // Take the refresh token out while it is being spent, so a double click does not
    // send it twice.
    let taken = state.sessions.with(&id, |s| {
        let t = s.tokens.as_mut()?;
        if t.refreshing {
            return Some(Err("a refresh is already under way"));
        }
        match t.refresh.take() {
            Some(r) => {
                t.refreshing = true;
                Some(Ok(r))
            }
            None => Some(Err("Gatehouse gave this sign-in no refresh token")),
        }
    });
    let old = match taken.flatten() {
        None => return Ok(redirect("/").finish()),
        Some(Err(why)) => {
            state.sessions.with(&id, |s| {
                s.notice = Some(Notice::RefreshFailed {
                    code: "not_refreshed".into(),
                    description: Some(why.into()),
                });
            });
            return Ok(redirect("/").finish());
        }
        Some(Ok(r)) => r,
    };
    let result = state.gatehouse.refresh(&old).await;
    let stranded = state.sessions.with(&id, |s| {
        let t = s.tokens.as_mut()?;
        t.refreshing = false;
        match &result {
            Ok(new) => {
                t.access = new.access_token().clone();
                // Gatehouse rotates: the old refresh token is spent.
                t.refresh = new.refresh_token().cloned();
                t.expires_at = expires_at(new);
                if let Some(scope) = scope_string(new) {
                    t.scope = Some(scope);
                }
                s.notice = Some(Notice::Refreshed {
                    expires_at: t.expires_at,
                });
            }
            Err(f) => {
                // Put the old token back: after a network failure it may still be
                // good; after an OAuth error it is dead, and sending it again (or
                // revoking it at sign-out) does no harm.
                t.refresh = Some(old.clone());
                s.notice = Some(Notice::RefreshFailed {
                    code: f.code.clone(),
                    description: f.description.clone(),
                });
            }
        }
        Some(())
    });
    // Signed out while the refresh was under way: do not leave the new tokens alive.
    if stranded.flatten().is_none()
        && let Ok(new) = &result
    {
        let token = new.refresh_token().map_or_else(
            || (new.access_token().secret().as_str(), "access_token"),
            |r| (r.secret().as_str(), "refresh_token"),
        );
        if let Err(f) = state.gatehouse.revoke(token.0, token.1).await {
            eprintln!("sample-app: revoking tokens of a closed session failed: {f}");
        }
    }
    Ok(redirect("/").finish())
}

/// `POST /logout`: forget the session here, then sign out of Gatehouse too (OpenID
/// Connect RP-Initiated Logout): the browser goes to Gatehouse's end-session endpoint
/// with the id_token as the hint and comes back to `/` (registered with the client as
/// a sign-out return URL). The app stays authorized; Gatehouse ends the refresh token
/// of this sign-in with the session. Without an id_token (no `openid` scope) or an
/// end-session endpoint, the app revokes its grant instead (RFC 7009).
async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, PageError> {
    same_origin(&state, &req)?;
    let tokens = session_id(&req)
        .and_then(|id| state.sessions.remove(&id))
        .and_then(|s| s.tokens);
    let back_to = format!("{}/", state.origin);
    let end_session = tokens.as_ref().and_then(|t| {
        state
            .gatehouse
            .end_session_url(t.id_token.as_deref(), &back_to)
            .filter(|_| t.id_token.is_some())
    });
    if let Some(url) = end_session {
        return Ok(redirect(url.as_str())
            .cookie(removal_cookie(&state))
            .finish());
    }
    if let Some(t) = tokens {
        // Revoking either token revokes the grant; the refresh token is the one every
        // server must support (RFC 7009 §2).
        let result = match &t.refresh {
            Some(r) => state.gatehouse.revoke(r.secret(), "refresh_token").await,
            None => {
                state
                    .gatehouse
                    .revoke(t.access.secret(), "access_token")
                    .await
            }
        };
        if let Err(f) = result {
            eprintln!("sample-app: revoking the tokens at sign-out failed: {f}");
        }
    }
    Ok(redirect("/").cookie(removal_cookie(&state)).finish())
}
