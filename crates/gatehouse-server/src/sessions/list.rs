//! `/api/v1/me/sessions`: the person's signed-in browsers — when, from where, with what
//! — and ending one, or every other ("sign out everywhere else"), as GitHub's and
//! Keycloak's account pages do. Each ended session tells the apps signed in through it
//! (back-channel logout) and revokes its sign-in refresh tokens, as signing out does.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use chrono::TimeDelta;
use gatehouse_types::{BrowserSession, SessionsEnded};
use serde_json::json;

use super::store;
use crate::audit::Audit;
use crate::auth::{Action, Authenticated, ClientMeta};
use crate::clock;
use crate::db::grants::LogoutScope;
use crate::error::ApiError;
use crate::state::AppState;

/// Sessions listed at most: more than anyone signs in from at once; the oldest beyond
/// it end with "sign out everywhere else" all the same.
const LISTED: i64 = 100;

#[utoipa::path(
    get,
    path = "/api/v1/me/sessions",
    operation_id = "list_my_sessions",
    tag = "sessions",
    summary = "One's signed-in browsers, most recently used first (at most 100), the current one marked (session only).",
    security(("session" = [])),
    responses((status = 200, description = "The sessions.", body = Vec<BrowserSession>), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn list(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<web::Json<Vec<BrowserSession>>, ApiError> {
    principal.require(Action::ManageOwnSessions)?;
    let user_id = principal.user.id.clone();
    let rows = state
        .db
        .read(move |conn| Ok(store::list_for_user(conn, &user_id, LISTED)?))
        .await?;
    let now = state.clock.now();
    let sub = &principal.subscription;
    let current = principal.via.id();
    let listed = rows
        .into_iter()
        // Ended by time but not yet swept away: gone as far as the person can tell.
        .filter(|s| {
            now < s
                .expires_at
                .min(s.created_at + TimeDelta::hours(sub.session_max_hours))
                && now < s.last_seen_at + TimeDelta::minutes(sub.session_idle_minutes)
        })
        .map(|s| BrowserSession {
            current: s.id == current,
            id: s.id,
            created_at: clock::utc(s.created_at),
            last_seen_at: clock::utc(s.last_seen_at),
            ip: s.ip,
            user_agent: s.user_agent,
            amr: s.amr.split(' ').map(str::to_string).collect(),
        })
        .collect();
    Ok(web::Json(listed))
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions/{id}",
    operation_id = "delete_my_session",
    tag = "sessions",
    summary = "End one of one's sessions (session only); the apps signed in through it are told.",
    security(("session" = [], "csrf" = [])),
    params(("id" = uuid::Uuid, Path, description = "The session's id.")),
    responses((status = 204, description = "Ended."), (status = 401, response = E401), (status = 403, response = E403), (status = 404, response = E404))
)]
pub async fn end_one(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ManageOwnSessions)?;
    let id = path.into_inner();
    crate::routing::id_or_404(&id)?;
    let audit = Audit::by(&principal, &meta, "session.signed_out")
        .target("user", &principal.user.id)
        .details(json!({"via": "sessions_page", "session_id": id}));
    let (user_id, now) = (principal.user.id.clone(), state.clock.now());
    let logouts = audit
        .write(&state.db, move |conn| {
            // Only one's own: another person's session id is a 404, like one that
            // never was.
            if !store::is_users(conn, &user_id, &id)? {
                return Err(ApiError::NotFound);
            }
            crate::logout::end_session(conn, &user_id, &id, now)
        })
        .await?;
    crate::logout::send(&state, logouts, "signed_out");
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    delete,
    path = "/api/v1/me/sessions",
    operation_id = "delete_my_other_sessions",
    tag = "sessions",
    summary = "Sign out everywhere else: end every session but this one (session only); the apps signed in through them are told.",
    security(("session" = [], "csrf" = [])),
    responses((status = 200, description = "How many ended.", body = SessionsEnded), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn end_others(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
) -> Result<web::Json<SessionsEnded>, ApiError> {
    principal.require(Action::ManageOwnSessions)?;
    let audit = Audit::by(&principal, &meta, "session.signed_out")
        .target("user", &principal.user.id)
        .details(json!({"via": "sessions_page", "others": true}));
    let (user_id, keep) = (principal.user.id.clone(), principal.via.id().to_string());
    let now = state.clock.now();
    let (ended, logouts) = audit
        .write(&state.db, move |conn| {
            let logouts =
                crate::logout::targets(conn, LogoutScope::OtherSessions(&user_id, &keep), now)?;
            let ended = store::delete_for_user(conn, &user_id, Some(&keep), now)?;
            Ok((ended.len() as u64, logouts))
        })
        .await?;
    crate::logout::send(&state, logouts, "signed_out");
    Ok(web::Json(SessionsEnded {
        sessions_ended: ended,
    }))
}
