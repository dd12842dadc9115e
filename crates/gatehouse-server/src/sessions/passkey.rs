//! Signing in with a passkey alone: `POST /api/v1/session/passkey` gives a challenge
//! for any of the browser's passkeys (a discoverable credential: no username typed),
//! and `POST /api/v1/session/passkey/{id}` checks the signed answer and signs the
//! person in. A passkey requires user verification, so it is two factors by itself
//! (`amr` `hwk`/`swk` and `user`): it meets a two-step policy and `acr_values`.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::{HttpResponse, web};
use gatehouse_types::{PasskeyAssertion, UserKind, UserState, codes};
use serde_json::json;
use webauthn_rs::prelude::{DiscoverableAuthentication, Passkey, PublicKeyCredential};

use super::handlers::{begin_attempt, signed_in, start_session};
use crate::audit::Audit;
use crate::auth::{ClientMeta, passkeys};
use crate::db::second_factors as factors_store;
use crate::error::ApiError;
use crate::state::AppState;

/// One answer for every failed passkey sign-in, whatever the reason.
fn refused() -> ApiError {
    ApiError::unauthorized(
        codes::INVALID_CREDENTIALS,
        "That passkey did not sign you in: it is not registered here, or the account is not active.",
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/session/passkey",
    operation_id = "create_session_passkey_challenge",
    tag = "sessions",
    summary = "Start signing in with a passkey alone: the options for `navigator.credentials.get()` (no username: the browser offers its passkeys for this site).",
    responses((status = 201, description = "The challenge; answer within five minutes.", body = gatehouse_types::PasskeyChallenge), (status = 403, response = E403), (status = 409, response = E409), (status = 429, response = E429))
)]
pub async fn start(
    state: web::Data<AppState>,
    meta: ClientMeta,
    req: actix_web::HttpRequest,
) -> Result<HttpResponse, ApiError> {
    if crate::auth::cors::foreign_origin(&req, state.auth.signing.issuer()).is_some() {
        return Err(crate::auth::cors::refused());
    }
    let address = crate::client_address::limit_key(meta.ip.as_deref().unwrap_or("-"));
    let challenge = passkeys::start_sign_in(&state.auth, &address).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(challenge))
}

#[utoipa::path(
    post,
    path = "/api/v1/session/passkey/{id}",
    operation_id = "create_session_with_passkey",
    tag = "sessions",
    summary = "Sign in with a passkey's signed answer to the challenge; sets the session cookie like a password sign-in.",
    params(("id" = uuid::Uuid, Path, description = "The challenge's id.")),
    request_body = PasskeyAssertion,
    responses((status = 200, description = "Signed in.", body = gatehouse_types::SessionInfo), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 409, response = E409), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 429, response = E429))
)]
pub async fn finish(
    state: web::Data<AppState>,
    meta: ClientMeta,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    body: crate::routing::JsonBody<PasskeyAssertion>,
) -> Result<HttpResponse, ApiError> {
    let (address, attempt) = begin_attempt(&state, &meta, &req)?;
    let previous = crate::auth::session::token(&req, state.auth.session_cookie);
    let webauthn = state.auth.passkeys.get()?;
    let ceremony_id = path.into_inner();
    let credential: PublicKeyCredential =
        passkeys::parse("credential", body.into_inner().credential)?;
    let failed = |reason: &str| {
        crate::metrics::sign_in("invalid_credentials");
        Audit::unauthenticated(&meta, "session.sign_in_failed")
            .details(json!({"reason": reason, "method": "passkey"}))
    };
    // Who the passkey says it is, and the passkey registered under that id.
    let Ok((handle, raw_id)) = webauthn.identify_discoverable_authentication(&credential) else {
        failed("malformed").write(&state.db, |_| Ok(())).await?;
        return Err(refused());
    };
    let key = passkeys::credential_key(raw_id);
    let now = state.clock.now();
    let id = ceremony_id.clone();
    let found = state
        .db
        .read(move |conn| {
            let ceremony = factors_store::find_ceremony(conn, &id, "sign_in", now)?;
            let Some(factor) = factors_store::find_passkey(conn, &key)? else {
                return Ok((ceremony, None));
            };
            let owner = crate::db::users::find(conn, &factor.user_id)?;
            let subscription = match &owner {
                Some(u) => Some(crate::db::subscriptions::find(conn, &u.subscription_id)?),
                None => None,
            };
            Ok((
                ceremony,
                owner.zip(subscription).map(|(u, s)| (factor, u, s)),
            ))
        })
        .await?;
    let (Some(ceremony), Some((factor, user, subscription))) = found else {
        failed("unknown_passkey")
            .write(&state.db, |_| Ok(()))
            .await?;
        return Err(refused());
    };
    let event = |action| {
        Audit::unauthenticated(&meta, action)
            .actor(&subscription.id, &user.id, &user.username)
            .target("user", &user.id)
    };
    let failed = |reason: &str| {
        crate::metrics::sign_in("invalid_credentials");
        event("session.sign_in_failed").details(json!({"reason": reason, "method": "passkey"}))
    };
    // The person the authenticator names must be the passkey's owner.
    let checked = (handle.to_string() == user.id)
        .then(|| {
            let authentication: DiscoverableAuthentication =
                passkeys::from_state(&ceremony.state).ok()?;
            let passkey: Passkey = passkeys::from_state(&factor.secret).ok()?;
            let result = webauthn
                .finish_discoverable_authentication_v2(&credential, authentication, &passkey)
                .ok()?;
            Some((passkey, result))
        })
        .flatten();
    let Some((mut passkey, result)) = checked else {
        failed("wrong_passkey").write(&state.db, |_| Ok(())).await?;
        return Err(refused());
    };
    if user.state != UserState::Active || user.kind == UserKind::Service {
        failed("inactive").write(&state.db, |_| Ok(())).await?;
        return Err(refused());
    }
    passkey.update_credential(&result);
    let record = passkeys::state_json(&passkey)?;
    let amr = match passkeys::amr_of(&result) {
        "hwk" => "hwk user",
        _ => "swk user",
    };
    // The challenge is spent with the passkey's new counter: an answer works once.
    let used = event("second_factor.used")
        .target("second_factor", &factor.id)
        .details(json!({"kind": "passkey", "signed_in_alone": true}));
    let (cid, fid) = (ceremony.id.clone(), factor.id.clone());
    let spent = used
        .write(&state.db, move |conn| {
            Ok(factors_store::spend_ceremony(conn, &cid)?
                && factors_store::use_passkey(conn, &fid, &record, now)?)
        })
        .await?;
    if !spent {
        return Err(refused());
    }
    let Some((principal, token)) = start_session(&state, &meta, user, subscription, amr).await?
    else {
        return Err(refused());
    };
    state.auth.sign_in_limiter.refund(&address, attempt);
    signed_in(&state, &meta, previous, principal, token).await
}
