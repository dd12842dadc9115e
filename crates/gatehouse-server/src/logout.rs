//! Telling apps that a person's sign-in ended: OpenID Connect Back-Channel Logout 1.0.
//!
//! When a person signs out (`DELETE /api/v1/session`, the end-session endpoint), an
//! admin disables, locks or deletes them, or they revoke an app under Authorized
//! Applications, every affected client that registered a `backchannel_logout_uri` gets
//! a logout token: an RS256 JWT (`typ: logout+jwt`) with `iss`, `aud`, `iat`, `exp`,
//! `jti`, `sub`, `sid` (when the sign-in had a Gatehouse session) and the
//! back-channel `events` claim, never a `nonce` (§2.4). The targets are found in the
//! transaction of the change (`targets`), and the tokens are sent after it commits,
//! off the request path (`outbound::Outbox`: bounded queue, retries, short time limits,
//! no redirects, no internal addresses unless allowed). Each delivery's outcome is in
//! the audit log (`oauth_logout.delivered`, `oauth_logout.failed`).
//!
//! Sessions that merely expire send nothing: no request is there to notice.

use actix_web::web;
use serde_json::json;

use crate::audit::Audit;
use crate::auth::ClientMeta;
use crate::db::DbConnection;
use crate::db::grants::{self as grants_store, LogoutScope};
use crate::error::ApiError;
use crate::outbound::{Delivery, Outcome};
use crate::state::AppState;

pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// A logout token is good for two minutes: it is used at once or not at all.
const TOKEN_TTL_SECONDS: i64 = 120;

/// One logout to tell: which client, where, about whom and which session.
#[derive(Debug, Clone)]
pub struct Target {
    pub client_id: String,
    pub client_row_id: String,
    pub subscription_id: String,
    pub uri: String,
    pub sub: String,
    pub sid: Option<String>,
}

/// Past this many sessions of one person at one app, one logout token without `sid`
/// (all of the person's sessions there, §2.4) stands for them all: a person who
/// signed in a thousand times must not queue a thousand deliveries.
const MAX_SIDS_PER_CLIENT: usize = 10;

/// The logouts to tell for `scope`, in the caller's transaction (before the change
/// removes what they are found by): at most a few per (client, person).
pub fn targets(
    conn: &mut DbConnection,
    scope: LogoutScope<'_>,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Target>, ApiError> {
    let mut out: Vec<Target> = Vec::new();
    for (client, sub, sid) in grants_store::logout_targets(conn, scope, now)? {
        let Some(uri) = client.metadata.backchannel_logout_uri.clone() else {
            continue;
        };
        let same = |t: &Target| t.client_id == client.client_id && t.sub == sub;
        if out.iter().any(|t| same(t) && t.sid == sid) {
            continue;
        }
        if out.iter().filter(|t| same(t)).count() >= MAX_SIDS_PER_CLIENT {
            out.retain(|t| !same(t));
            out.push(Target {
                client_id: client.client_id,
                client_row_id: client.id,
                subscription_id: client.subscription_id,
                uri,
                sub,
                sid: None,
            });
            continue;
        }
        if out.iter().any(|t| same(t) && t.sid.is_none()) {
            continue;
        }
        out.push(Target {
            client_id: client.client_id,
            client_row_id: client.id,
            subscription_id: client.subscription_id,
            uri,
            sub,
            sid,
        });
    }
    Ok(out)
}

/// Ends a browser session in the caller's transaction: the session goes, and with it
/// the refresh tokens it signed apps in with that hold no `offline_access` (OpenID
/// Connect Core §11). Answers whom to tell, found first.
pub fn end_session(
    conn: &mut DbConnection,
    user_id: &str,
    session_id: &str,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Target>, ApiError> {
    let logouts = targets(conn, LogoutScope::Session(session_id), now)?;
    grants_store::revoke_session_refresh(conn, session_id, now)?;
    crate::db::sessions::delete(conn, user_id, session_id)?;
    Ok(logouts)
}

/// Signs a logout token for each target and queues its delivery; `reason` names what
/// ended the sign-in (in the audit log).
pub fn send(state: &web::Data<AppState>, targets: Vec<Target>, reason: &'static str) {
    for target in targets {
        let now = state.clock.now().and_utc().timestamp();
        let mut claims = json!({
            "iss": state.auth.signing.issuer(),
            "aud": target.client_id,
            "iat": now,
            "exp": now + TOKEN_TTL_SECONDS,
            "jti": uuid::Uuid::new_v4().to_string(),
            "sub": target.sub,
            "events": { EVENT: {} },
        });
        if let Some(session) = &target.sid {
            claims["sid"] = json!(crate::auth::tokens::sid(session));
        }
        let token = match state.auth.signing.sign_logout_token(&claims) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "signing a logout token failed");
                continue;
            }
        };
        let report_state = state.clone();
        let report_target = target.clone();
        state.outbox.send(Delivery {
            url: target.uri.clone(),
            form: vec![("logout_token".into(), token)],
            report: Box::new(move |outcome| {
                Box::pin(record(report_state, report_target, reason, outcome))
            }),
        });
    }
}

/// The audit event of one delivery.
async fn record(
    state: web::Data<AppState>,
    target: Target,
    reason: &'static str,
    outcome: Outcome,
) {
    let meta = ClientMeta {
        ip: None,
        user_agent: None,
        at: state.clock.now(),
    };
    let (action, result) = match &outcome.result {
        Ok(status) => ("oauth_logout.delivered", json!({ "status": status })),
        Err(why) => ("oauth_logout.failed", json!({ "error": why.to_string() })),
    };
    // For the subscription's admins only (no subject): the outcome of a call to a URL a
    // client's owner chose must not become their window into Gatehouse's network.
    let mut uri = url::Url::parse(&target.uri).ok();
    if let Some(u) = uri.as_mut() {
        u.set_query(None);
    }
    let event = Audit::unauthenticated(&meta, action)
        .in_subscription(&target.subscription_id)
        .credential("gatehouse", None)
        .target("oauth_client", &target.client_row_id)
        .details(json!({
            "client_id": target.client_id,
            "user_id": target.sub,
            "backchannel_logout_uri": uri.map(String::from),
            "reason": reason,
            "sid": target.sid.as_deref().map(crate::auth::tokens::sid),
            "attempts": outcome.attempts,
            "result": result,
        }));
    if let Err(e) = event.write(&state.db, |_| Ok(())).await {
        tracing::warn!(error = %e, "recording a back-channel logout failed");
    }
}
