//! Session cookies as a credential: the token's hash is looked up, the session's idle
//! and absolute expiry are checked against the subscription's current settings, and
//! `last_seen_at` is stamped at most once a minute.

use std::sync::Arc;

use chrono::TimeDelta;
use gatehouse_types::{UserState, codes};

use crate::auth::Authenticator;
use crate::auth::{Principal, Via};
use crate::clock;
use crate::db::sessions as store;
use crate::error::ApiError;

/// How long a proof of the password (a sign-in, or `POST /api/v1/session/sudo`) lets
/// sensitive actions go ahead without asking for it again: GitHub's sudo mode.
pub const SUDO_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// How the person proved themselves (OpenID Connect `amr`, RFC 8176 names): a password,
/// then also a one-time code.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_PASSWORD_AND_CODE: &str = "pwd otp";

/// Whether a session's `amr` includes a step besides the password.
pub fn has_second_step(amr: &str) -> bool {
    amr.split(' ').any(|m| !m.is_empty() && m != "pwd")
}

/// Resolves a session cookie into a principal, or 401. The subscription's current
/// settings apply to existing sessions: shortening the idle or absolute lifetime takes
/// effect at the next request.
/// The session cookie's name for a server at `public_url`: `__Host-` behind https.
pub fn cookie_name(public_url: &str) -> &'static str {
    if public_url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
    {
        super::SECURE_SESSION_COOKIE
    } else {
        super::SESSION_COOKIE
    }
}

/// The session token the request's cookie `name` carries: its name compared as sent
/// (actix's `cookie()` would percent-decode it, and `__Host%2Dgatehouse_session`,
/// which browsers do not hold to the `__Host-` rules, would pass for the real one),
/// and none at all when the name comes more than once — one was planted (by a
/// neighbouring subdomain, or the service behind forward auth), and neither is
/// believed.
pub fn token(req: &actix_web::HttpRequest, name: &str) -> Option<String> {
    let cookies = req.cookies_raw().ok()?;
    let mut found = cookies.iter().filter(|c| c.name() == name);
    let first = found.next()?;
    if found.next().is_some() {
        return None;
    }
    Some(first.value().to_string())
}

/// The cookie that makes a browser forget its session (signing out).
pub fn removal(name: &'static str, secure: bool) -> actix_web::cookie::Cookie<'static> {
    let mut removal = actix_web::cookie::Cookie::build(name, "")
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Lax)
        .secure(secure)
        .finish();
    removal.make_removal();
    removal
}

pub async fn authenticate(auth: &Authenticator, token: &str) -> Result<Principal, ApiError> {
    super::traced("session", check(auth, token)).await
}

async fn check(auth: &Authenticator, token: &str) -> Result<Principal, ApiError> {
    let hash = auth.tokens.hash(token);
    let csrf_token = auth.tokens.csrf_token(token);
    let found = auth
        .db
        .read(move |conn| Ok(store::find_by_hash(conn, &hash)?))
        .await?;
    let expired = || {
        ApiError::unauthorized(
            codes::SESSION_EXPIRED,
            "Your session has ended. Sign in again.",
        )
    };
    let Some((session, user, subscription)) = found else {
        return Err(expired());
    };
    let now = auth.clock.now();
    let max_age = TimeDelta::hours(subscription.session_max_hours);
    let expires_at = session.expires_at.min(session.created_at + max_age);
    let idle_expires_at =
        session.last_seen_at + TimeDelta::minutes(subscription.session_idle_minutes);
    if now >= expires_at || now >= idle_expires_at {
        let (user_id, id) = (session.user_id.clone(), session.id.clone());
        auth.db
            .write(move |conn| Ok(store::delete(conn, &user_id, &id)?))
            .await?;
        return Err(expired());
    }
    if user.state != UserState::Active {
        return Err(ApiError::unauthorized(
            codes::SESSION_EXPIRED,
            "Your account is no longer active. Contact your subscription administrator.",
        ));
    }
    let idle_expires_at = if now - session.last_seen_at >= clock::TOUCH_INTERVAL {
        let id = session.id.clone();
        auth.db
            .write(move |conn| Ok(store::touch(conn, &id, now)?))
            .await?;
        now + TimeDelta::minutes(subscription.session_idle_minutes)
    } else {
        idle_expires_at
    };
    let verified_at = session.verified_at.unwrap_or(session.created_at);
    // Signed in with the password alone where a second step is required: held to
    // setting one up until it exists (then free, though its `amr` stays the password's).
    let mut enrolment_required = subscription.two_step_policy.requires(user.role)
        && user.kind == gatehouse_types::UserKind::Person
        && !has_second_step(&session.amr);
    if enrolment_required {
        let id = user.id.clone();
        enrolment_required = !auth
            .db
            .read(move |conn| Ok(crate::db::second_factors::has_confirmed(conn, &id)?))
            .await?;
    }
    Ok(Principal {
        via: Via::Session {
            id: session.id,
            created_at: session.created_at,
            expires_at,
            idle_expires_at: idle_expires_at.min(expires_at),
            csrf_token: crate::secret::SecretString::new(csrf_token),
            amr: session.amr,
            verified_at,
            sudo: now - verified_at < SUDO_WINDOW,
            enrolment_required,
            password_change_required: session.password_change_required,
        },
        user: Arc::new(user),
        subscription: Arc::new(subscription),
    })
}
