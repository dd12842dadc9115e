//! RFC 8628, the device authorization grant: command-line tools and devices without a
//! browser sign people in with a short code.
//!
//! 1. The device asks `POST /oauth/device_authorization` (client authentication as at
//!    the token endpoint; the client must list the device grant in its `grant_types`)
//!    and gets a `device_code`, a `user_code` of 8 characters from an alphabet of 20
//!    consonants that cannot be misread (shown `XXXX-XXXX`), the web app's `/device`
//!    page as `verification_uri`, and the interval to poll at.
//! 2. The person, signed in, enters the code on `/device` (`POST /api/v1/oauth/device`
//!    shows which app, from which address and user agent, asks for what) and allows or
//!    denies (`POST /api/v1/oauth/device/decision`). Wrong codes are limited per person
//!    and per address (§5.1); an "Allow" creates, extends or re-enables the person's
//!    grant for the client exactly as the consent page does.
//! 3. The device polls the token endpoint with the device grant and hears
//!    `authorization_pending`, `slow_down` (polled sooner than its interval, which then
//!    grows by 5 s), `access_denied`, `expired_token`, or its tokens — once: the code
//!    is spent by the poll that redeems it.
//!
//! Both codes are stored only as hashes; a request lives 10 minutes.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::TimeDelta;
use gatehouse_types::validate::DEVICE_CODE_GRANT;
use gatehouse_types::{
    Decision, DeviceCodeLookup, DeviceDecision, DeviceDecisionResult, DeviceRequestView, codes,
};
use serde_json::json;

use super::client_auth::AuthenticatedClient;
use super::error::OAuthError;
use super::params::Params;
use super::token::{Answer, Oidc, SignedIn, store_refresh, token_response};
use super::{DEFAULT_SCOPE, REFRESH_PREFIX};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::device_polls::{Known, Waiting};
use crate::auth::{Action, Authenticated, ClientMeta, Principal, Via, scopes, tokens};
use crate::clock;
use crate::db::device::{self as store, Decision as Decided, DeviceRow, NewDevice};
use crate::db::grants as grants_store;
use crate::db::oauth_clients::ClientRow;
use crate::db::users as users_store;
use crate::error::ApiError;
use crate::state::AppState;

/// How long a device's request waits for the person.
pub const DEVICE_CODE_TTL: TimeDelta = TimeDelta::minutes(10);
/// Seconds between polls, at first (RFC 8628 §3.2's default).
pub const POLL_INTERVAL: i64 = crate::auth::DEVICE_POLL_SECONDS;
/// RFC 8628 §6.1: consonants only (no vowels, so no words; no 0/O, 1/I confusion).
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
const USER_CODE_CHARS: usize = 8;

/// A fresh user code, `XXXX-XXXX`: 20^8 ≈ 2^34.6 values.
fn new_user_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let chars: String = (0..USER_CODE_CHARS)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A user code as typed: case, spaces and dashes do not matter. `None` when it cannot
/// be a code at all (so a typo costs no database work, but still counts as wrong).
pub fn normalize_user_code(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == USER_CODE_CHARS && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

fn display(code: &str) -> String {
    format!("{}-{}", &code[..4], &code[4..])
}

#[tracing::instrument(name = "oauth.device_authorization", skip_all)]
#[utoipa::path(
    post,
    path = "/oauth/device_authorization",
    operation_id = "create_device_authorization",
    tag = "oauth",
    summary = "RFC 8628 device authorization: a device code to poll the token endpoint with, and a user code for the person to enter at `verification_uri`. Client authentication as at the token endpoint; the client must list the device grant in its `grant_types`.",
    security(("client_basic" = []), ()),
    request_body(content = super::wire::DeviceAuthorizationRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The codes.", body = super::wire::DeviceAuthorizationResponse), (status = 400, description = "RFC 6749 §5.2 error (`invalid_scope`, `unauthorized_client`, …).", body = super::wire::OAuthErrorBody), (status = 401, description = "`invalid_client`, with `WWW-Authenticate: Basic`.", body = super::wire::OAuthErrorBody), (status = 408, description = "The body did not arrive within 10 s of the request's start (`invalid_request`).", body = super::wire::OAuthErrorBody), (status = 429, description = "Too many failed client authentications (`invalid_client`), or too many device authorizations from this address (`slow_down`); with `Retry-After`.", body = super::wire::OAuthErrorBody), (status = 503, description = "`temporarily_unavailable`, with `Retry-After`.", body = super::wire::OAuthErrorBody))
)]
pub async fn device_authorization(
    state: web::Data<AppState>,
    caller: AuthenticatedClient,
) -> Result<HttpResponse, OAuthError> {
    let AuthenticatedClient {
        client,
        params,
        meta,
    } = caller;
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::unauthorized_client(
            "This client is not registered for the device grant (its grant_types).",
        ));
    }
    // Anyone with a public client's id may start device authorizations: each is a row
    // for ten minutes, so they are counted per client and address.
    let starts = format!("{}|{}", client.client_id, address(&meta));
    if let Some(wait) = state.auth.device_start_limiter.blocked(&starts) {
        return Err(OAuthError::device(
            "slow_down",
            "Too many device authorizations from here; wait.",
        )
        .after(wait));
    }
    state.auth.device_start_limiter.record_failure(&starts);
    let asked = scopes::parse(params.get("scope").unwrap_or(DEFAULT_SCOPE))
        .map_err(|s| OAuthError::invalid_scope(format!("Unknown scope: {s}.")))?;
    if asked.is_empty() {
        return Err(OAuthError::invalid_scope("No scope was asked for."));
    }
    let now = state.clock.now();
    let device_code = tokens::random_token(32);
    let device_hash = state.auth.tokens.hash(&device_code);
    // A user code already in use (one in 20^8 per live request) is drawn again.
    for attempt in 0..3 {
        let user_code = new_user_code();
        let user_hash = state.auth.tokens.hash(&user_code.replace('-', ""));
        let (client_row, sub_id, scope) = (
            client.id.clone(),
            client.subscription_id.clone(),
            scopes::join(&asked),
        );
        let (ip, agent) = (meta.ip.clone(), meta.user_agent.clone());
        let device_hash = device_hash.clone();
        let stored = state
            .db
            .write(move |conn| {
                Ok::<_, ApiError>(store::insert(
                    conn,
                    &NewDevice {
                        id: &uuid::Uuid::now_v7().to_string(),
                        subscription_id: &sub_id,
                        client_id: &client_row,
                        device_code_hash: &device_hash,
                        user_code_hash: &user_hash,
                        scopes: &scope,
                        status: "pending",
                        ip: ip.as_deref(),
                        user_agent: agent.as_deref(),
                        created_at: now,
                        expires_at: now + DEVICE_CODE_TTL,
                    },
                )?)
            })
            .await;
        match stored {
            Ok(()) => {
                let page = format!("{}/device", state.auth.signing.issuer());
                let complete = format!("{page}?user_code={user_code}");
                return Ok(HttpResponse::Ok()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(super::wire::DeviceAuthorizationResponse {
                        device_code: &device_code,
                        user_code: &user_code,
                        verification_uri: &page,
                        verification_uri_complete: &complete,
                        expires_in: DEVICE_CODE_TTL.num_seconds(),
                        interval: POLL_INTERVAL,
                    }));
            }
            Err(e) if attempt == 2 => return Err(OAuthError::from(e)),
            Err(_) => {}
        }
    }
    Err(OAuthError::server_error())
}

/// What a poll finds, decided in one transaction.
enum Poll {
    /// Allowed by the person: to be redeemed (in a write).
    Allowed,
    Pending,
    SlowDown,
    Denied,
    Expired,
    Invalid,
    Issued {
        grant: Box<grants_store::GrantRow>,
        user: Box<crate::db::users::UserRow>,
        device: Box<DeviceRow>,
        refresh_token: String,
    },
}

/// The token endpoint's device grant (RFC 8628 §3.4, §3.5).
pub async fn redeem(
    state: &web::Data<AppState>,
    _meta: &ClientMeta,
    client: &ClientRow,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    let code = params
        .get("device_code")
        .ok_or_else(|| OAuthError::invalid_request("device_code is missing."))?;
    let hash = state.auth.tokens.hash(code);
    let now = state.clock.now();
    let polls = &state.auth.device_polls;
    // A code known to be waiting is answered from memory; otherwise it is read, and
    // only redeeming one writes.
    let first = match polls.known(&hash, &client.id, now) {
        Some(Known::Pending) => Poll::Pending,
        Some(Known::SlowDown) => Poll::SlowDown,
        Some(Known::Expired) => Poll::Expired,
        None => {
            let generation = polls.generation();
            let read_hash = hash.clone();
            let seen = state
                .db
                .read(move |conn| Ok(store::find_by_device_code(conn, &read_hash)?))
                .await?;
            match seen {
                None => Poll::Invalid,
                Some(d) if d.client_id != client.id || d.status == "redeemed" => Poll::Invalid,
                Some(d) if d.expires_at <= now => Poll::Expired,
                Some(d) if d.status == "denied" => Poll::Denied,
                Some(d) if d.status == "pending" => {
                    let waiting = Waiting {
                        id: d.id,
                        client_id: d.client_id,
                        expires_at: d.expires_at,
                    };
                    if polls.waiting(&hash, waiting, generation, now) {
                        Poll::SlowDown
                    } else {
                        Poll::Pending
                    }
                }
                Some(_) => Poll::Allowed,
            }
        }
    };
    let client_row = client.id.clone();
    let poll = match first {
        Poll::Allowed => {
            // Minted only for the poll that redeems: a waiting device's poll costs none.
            let refresh_token = tokens::checksummed_secret(REFRESH_PREFIX);
            let refresh_hash = state.auth.tokens.hash(&refresh_token);
            state
                .db
                .write(move |conn| {
                    let Some(device) = store::find_by_device_code(conn, &hash)? else {
                        return Ok(Poll::Invalid);
                    };
                    if device.client_id != client_row || !store::redeem(conn, &device.id)? {
                        return Ok(Poll::Invalid);
                    }
                    let user_id = device.user_id.clone().unwrap_or_default();
                    let Some(grant) = grants_store::find(conn, &user_id, &client_row)? else {
                        return Ok(Poll::Invalid);
                    };
                    let Some(user) = users_store::find(conn, &user_id)? else {
                        return Ok(Poll::Invalid);
                    };
                    if !grant.is_active() || user.state != gatehouse_types::UserState::Active {
                        return Ok(Poll::Invalid);
                    }
                    // Not bound to the browser session the code was entered in: signing
                    // out there does not sign the device out (its id_token still names it).
                    store_refresh(
                        conn,
                        &grant,
                        &refresh_hash,
                        &device.scopes,
                        SignedIn {
                            session_id: None,
                            auth_time: device.auth_time,
                            amr: None,
                        },
                        now,
                    )?;
                    Ok::<_, ApiError>(Poll::Issued {
                        grant: Box::new(grant),
                        user: Box::new(user),
                        device: Box::new(device),
                        refresh_token: refresh_token.clone(),
                    })
                })
                .await?
        }
        other => other,
    };
    let pending =
        |error: &'static str, description: &str| OAuthError::device(error, description.to_string());
    match poll {
        Poll::Pending => Err(pending(
            "authorization_pending",
            "The person has not decided yet; poll again after the interval.",
        )),
        Poll::SlowDown => Err(pending(
            "slow_down",
            "Polled too soon: wait 5 seconds longer between polls from now on.",
        )),
        Poll::Denied => Err(pending("access_denied", "The person denied the request.")),
        Poll::Expired => Err(pending(
            "expired_token",
            "The device code has expired; start again.",
        )),
        Poll::Invalid | Poll::Allowed => Err(OAuthError::invalid_grant(
            "The device code is invalid, used, or not this client's.",
        )),
        Poll::Issued {
            grant,
            user,
            device,
            refresh_token,
        } => {
            let answer = Answer {
                client,
                grant: &grant,
                user: &user,
                scopes: &device.scopes,
                refresh_token,
                oidc: Oidc {
                    nonce: None,
                    auth_time: device.auth_time,
                    sid: device.session_id.clone(),
                    amr: None,
                },
                now,
            };
            let res = token_response(state, answer).await;
            if res.is_ok() {
                crate::metrics::token("issued");
            }
            res
        }
    }
}

/// The caller's address as rate limits count it (an IPv6 /64 is one address).
fn address(meta: &ClientMeta) -> String {
    crate::client_address::limit_key(meta.ip.as_deref().unwrap_or("-"))
}

/// A user code that matches nothing counts against the person and their address.
fn wrong_code(state: &AppState, principal: &Principal, meta: &ClientMeta) -> ApiError {
    state
        .auth
        .user_code_limiter
        .record_failure(&principal.user.id);
    state
        .auth
        .user_code_address_limiter
        .record_failure(&address(meta));
    // 404: no such request, as for anything that is not there (or not the caller's).
    ApiError::NotFound
}

/// Refused before any lookup while the person or their address has guessed too often.
fn throttled(state: &AppState, principal: &Principal, meta: &ClientMeta) -> Result<(), ApiError> {
    let by_user = state.auth.user_code_limiter.blocked(&principal.user.id);
    let by_ip = state.auth.user_code_address_limiter.blocked(&address(meta));
    match by_user.max(by_ip) {
        Some(retry_after_secs) => Err(ApiError::RateLimited { retry_after_secs }),
        None => Ok(()),
    }
}

/// The pending, unexpired request behind a user code in the person's subscription.
async fn pending(
    state: &AppState,
    principal: &Principal,
    meta: &ClientMeta,
    raw: &str,
) -> Result<(DeviceRow, ClientRow, String), ApiError> {
    throttled(state, principal, meta)?;
    let Some(code) = normalize_user_code(raw) else {
        return Err(wrong_code(state, principal, meta));
    };
    let hash = state.auth.tokens.hash(&code);
    let sub_id = principal.subscription.id.clone();
    let now = state.clock.now();
    let found = state
        .db
        .read(move |conn| Ok(store::find_by_user_code(conn, &sub_id, &hash)?))
        .await?;
    match found {
        Some((device, client)) if device.status == "pending" && device.expires_at > now => {
            Ok((device, client, display(&code)))
        }
        _ => Err(wrong_code(state, principal, meta)),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/oauth/device",
    operation_id = "get_device_request",
    tag = "oauth",
    summary = "The device request behind a user code (the `/device` page): which app, from which address, asks for what. Signed-in session only; wrong codes are limited per person and address (429).",
    security(("session" = [], "csrf" = [])),
    request_body = DeviceCodeLookup,
    responses((status = 200, description = "The request.", body = DeviceRequestView), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, description = "No device is waiting with this code in the caller's subscription.", body = gatehouse_types::ErrorBody), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 429, response = E429))
)]
pub async fn lookup(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<DeviceCodeLookup>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::DecideConsent)?;
    let (device, client, user_code) = pending(&state, &principal, &meta, &body.user_code).await?;
    let (sub_id, owner_id) = (principal.subscription.id.clone(), client.owner_id.clone());
    let owner = state
        .db
        .read(move |conn| Ok(users_store::find_in_subscription(conn, &sub_id, &owner_id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    let registered_by = if owner.display_name.trim().is_empty() {
        owner.username
    } else {
        owner.display_name
    };
    Ok(
        super::authorize::protect(&mut HttpResponse::Ok()).json(DeviceRequestView {
            user_code,
            client_id: client.client_id,
            client_name: client.name,
            homepage_url: client.homepage_url,
            scopes: scopes::split(&device.scopes).into_iter().collect(),
            registered_by,
            device_ip: device.ip,
            device_user_agent: device.user_agent,
            requested_at: clock::utc(device.created_at),
            expires_at: clock::utc(device.expires_at),
        }),
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/oauth/device/decision",
    operation_id = "decide_device_request",
    tag = "oauth",
    summary = "Allow or deny the device request behind a user code: the device hears it at its next poll. Signed-in session only.",
    security(("session" = [], "csrf" = [])),
    request_body = DeviceDecision,
    responses((status = 200, description = "Decided.", body = DeviceDecisionResult), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 404, description = "No device is waiting with this code in the caller's subscription.", body = gatehouse_types::ErrorBody), (status = 409, description = "Decided meanwhile, or expired.", body = gatehouse_types::ErrorBody), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 429, response = E429))
)]
pub async fn decide(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<DeviceDecision>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::DecideConsent)?;
    let body = body.into_inner();
    let (device, client, _) = pending(&state, &principal, &meta, &body.user_code).await?;
    let Via::Session { id, created_at, .. } = &principal.via else {
        return Err(ApiError::forbidden(
            codes::SESSION_REQUIRED,
            "Only a signed-in person may decide.",
        ));
    };
    let (session_id, auth_time) = (id.clone(), *created_at);
    let decision = body.decision;
    if decision == Decision::Allow && scopes::lasting(&device.scopes) {
        principal.require(Action::GrantLastingAccess)?;
    }
    let action = match decision {
        Decision::Allow => "oauth_device.allowed",
        Decision::Deny => "oauth_device.denied",
    };
    let event = Audit::by(&principal, &meta, action)
        .target("oauth_client", &client.id)
        .subject(&principal.user.id)
        .details(json!({
            "client_id": client.client_id,
            "client_name": client.name,
            "scopes": device.scopes,
            "device_ip": device.ip,
        }));
    let (p, m, c) = (principal.clone(), meta.clone(), client.clone());
    let now = state.clock.now();
    let device_id = device.id.clone();
    let grant_id = state
        .db
        .write(move |conn| {
            let status = match decision {
                Decision::Allow => "allowed",
                Decision::Deny => "denied",
            };
            let decided = store::decide(
                conn,
                &Decided {
                    id: &device.id,
                    status,
                    user_id: &p.user.id,
                    session_id: Some(&session_id),
                    auth_time,
                    now,
                },
            )?;
            if !decided {
                // Decided or expired meanwhile.
                return Err(ApiError::conflict(
                    codes::CONFLICT,
                    "This request was already decided, or has expired.",
                ));
            }
            event.record(conn)?;
            if decision == Decision::Deny {
                return Ok(None);
            }
            // The client as it is now: still registered, still for the device grant.
            let client = crate::db::oauth_clients::find_by_client_id(conn, &c.client_id)?
                .filter(|c| c.allows_grant(DEVICE_CODE_GRANT))
                .ok_or(ApiError::NotFound)?;
            let (grant_id, _) = super::authorize::grant_scopes(
                conn,
                &p,
                &m,
                &client,
                scopes::split(&device.scopes),
            )?;
            Ok(Some(grant_id))
        })
        .await?;
    // Its device's next poll reads the decision (on every replica on PostgreSQL).
    state.auth.invalidate(Invalidate::Device(&device_id));
    if let Some(g) = grant_id {
        state.auth.invalidate(Invalidate::Grant(&g));
    }
    Ok(
        super::authorize::protect(&mut HttpResponse::Ok()).json(DeviceDecisionResult {
            decision,
            client_name: client.name,
        }),
    )
}
