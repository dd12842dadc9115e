//! `POST`, `GET` and `DELETE /api/v1/session`.

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::cookie::{Cookie, SameSite, time};
use actix_web::{HttpResponse, web};
use chrono::TimeDelta;
use gatehouse_types::{
    Credential, PasskeyChallenge, SecondStep, SecondStepRequired, SessionInfo, SignInRequest,
    SudoRequest, UserKind, UserState, codes, validate,
};
use serde_json::json;

use super::store;
use crate::audit::Audit;
use crate::auth::password::TEMPORARY_PASSWORD_LIFETIME;
use crate::auth::{Action, Authenticated, ClientMeta, Principal, Via, tokens};
use crate::auth::{passkeys, totp};
use crate::clock;
use crate::db::second_factors as factors_store;
use crate::db::subscriptions::SubscriptionRow;
use crate::db::users as users_store;
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::secret::SecretString;
use crate::state::AppState;
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PublicKeyCredential};

/// One message for every failed sign-in, whatever the reason, so that the answer never
/// tells whether a username exists or whether an account is locked.
fn invalid_credentials() -> ApiError {
    ApiError::unauthorized(
        codes::INVALID_CREDENTIALS,
        "The username or password is incorrect, or the account is not active.",
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/session",
    operation_id = "create_session",
    tag = "sessions",
    summary = "Sign in with username and password; sets the session cookie (`gatehouse_session`, behind https `__Host-gatehouse_session`) and ends the session the browser held before, if any.",
    request_body = SignInRequest,
    responses((status = 200, description = "Signed in. The answer carries the CSRF token that unsafe requests must echo in `X-CSRF-Token`.", body = SessionInfo), (status = 202, description = "The password is right and the person has a second step: finish with `POST /api/v1/session/second-step` within `expires_in` seconds. No cookie yet.", body = SecondStepRequired), (status = 400, response = E400), (status = 401, response = E401), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 429, response = E429))
)]
pub async fn sign_in(
    state: web::Data<AppState>,
    meta: ClientMeta,
    req: actix_web::HttpRequest,
    body: crate::routing::JsonBody<SignInRequest>,
) -> Result<HttpResponse, ApiError> {
    let (address, attempt) = begin_attempt(&state, &meta, &req)?;
    let previous = crate::auth::session::token(&req, state.auth.session_cookie);
    let SignInRequest { username, password } = body.into_inner();
    let password = SecretString::new(password);
    let (user, subscription) = match verify_password(&state, &meta, &username, &password).await? {
        Ok(found) => found,
        Err(outcome) => {
            crate::metrics::sign_in(outcome);
            return Err(invalid_credentials());
        }
    };
    // A temporary password works for a few days only: one left unused in a chat or an
    // e-mail must not stay a way in. (Said only after the password proved right.)
    let user_id = user.id.clone();
    let temporary = state
        .db
        .read(move |conn| Ok(users_store::temporary_password_set_at(conn, &user_id)?))
        .await?;
    if temporary.is_some_and(|at| state.clock.now() - at > TEMPORARY_PASSWORD_LIFETIME) {
        let audit = Audit::unauthenticated(&meta, "session.sign_in_failed")
            .actor(&subscription.id, &user.id, &user.username)
            .target("user", &user.id)
            .details(json!({"reason": "temporary_password_expired"}));
        audit.write(&state.db, |_| Ok(())).await?;
        state.auth.sign_in_limiter.refund(&address, attempt);
        crate::metrics::sign_in("temporary_password_expired");
        return Err(ApiError::unauthorized(
            codes::TEMPORARY_PASSWORD_EXPIRED,
            "This temporary password has expired. Ask an administrator for a new one.",
        ));
    }
    // The password was right. With a second step on file, nothing more is said (no
    // session, no user details) until it comes: the browser gets the waiting
    // sign-in's token.
    let factors: Vec<_> = factors_of(&state, &user.id)
        .await?
        .into_iter()
        .filter(|f| f.confirmed)
        .collect();
    if !factors.is_empty() {
        state.auth.sign_in_limiter.refund(&address, attempt);
        return second_step_owed(&state, &meta, &user, &subscription, &factors).await;
    }
    // The subscription requires a second step of this person, who has none: within
    // their time to set one up, the session can do only that; after it, no session.
    if subscription.two_step_policy.requires(user.role) {
        let user_id = user.id.clone();
        let reset_at = state
            .db
            .read(move |conn| Ok(factors_store::last_reset(conn, &user_id)?))
            .await?;
        let deadline = enrolment_deadline(&user, &subscription, reset_at);
        if state.clock.now() >= deadline {
            let audit = Audit::unauthenticated(&meta, "session.sign_in_failed")
                .actor(&subscription.id, &user.id, &user.username)
                .target("user", &user.id)
                .details(json!({"reason": "two_step_required"}));
            audit.write(&state.db, |_| Ok(())).await?;
            state.auth.sign_in_limiter.refund(&address, attempt);
            crate::metrics::sign_in("two_step_required");
            return Err(ApiError::forbidden(
                codes::TWO_STEP_REQUIRED,
                "Your subscription requires two-step sign-in, and the time to set it up has passed. Ask an administrator to reset your second steps.",
            ));
        }
    }
    let Some((principal, token)) =
        start_session(&state, &meta, user, subscription, AMR_PASSWORD).await?
    else {
        crate::metrics::sign_in("invalid_credentials");
        return Err(invalid_credentials());
    };
    state.auth.sign_in_limiter.refund(&address, attempt);
    signed_in(&state, &meta, previous, principal, token).await
}

/// Until when a person the two-step policy applies to may still sign in with a
/// password alone to set up a second step: the grace period, counted from the latest
/// of the policy's start, their account's creation and an administrator's reset of
/// their second steps.
pub fn enrolment_deadline(
    user: &UserRow,
    subscription: &SubscriptionRow,
    reset_at: Option<chrono::NaiveDateTime>,
) -> chrono::NaiveDateTime {
    let from = [
        subscription.two_step_required_since,
        Some(user.created_at),
        reset_at,
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(user.created_at);
    from + TimeDelta::days(subscription.two_step_grace_days)
}

/// The opening of both steps of sign-in. Sign-in is for Gatehouse's own pages: a page
/// elsewhere must not make its visitors' browsers guess passwords (each guess a hash
/// and a count to lockout). Then the attempt is throttled per client address before
/// any work: a sprayer waits, and an address that is waiting costs no hash. It is
/// counted now, before its check, and given back if it succeeds: guesses sent at once
/// cannot all slip past the limit while the first are still hashing, and one address
/// never holds more than its limit of the hashing slots. The address and the attempt.
pub(super) fn begin_attempt(
    state: &AppState,
    meta: &ClientMeta,
    req: &actix_web::HttpRequest,
) -> Result<(String, crate::limiter::Attempt), ApiError> {
    if crate::auth::cors::foreign_origin(req, state.auth.signing.issuer()).is_some() {
        return Err(crate::auth::cors::refused());
    }
    let address = crate::client_address::limit_key(meta.ip.as_deref().unwrap_or("-"));
    match state.auth.sign_in_limiter.attempt(&address) {
        Ok(attempt) => Ok((address, attempt)),
        Err(wait) => {
            crate::metrics::sign_in("rate_limited");
            Err(ApiError::RateLimited {
                retry_after_secs: wait,
            })
        }
    }
}

pub use crate::auth::session::{AMR_PASSWORD, AMR_PASSWORD_AND_CODE};
/// How long a right password waits for its second step, and how many wrong ones it
/// takes (besides counting towards the password lockout).
const SECOND_STEP_TTL: TimeDelta = TimeDelta::minutes(5);
const SECOND_STEP_TRIES: i64 = 5;

/// Every second step of the user (unconfirmed enrolments included).
async fn factors_of(
    state: &AppState,
    user_id: &str,
) -> Result<Vec<factors_store::FactorRow>, ApiError> {
    let user_id = user_id.to_string();
    state
        .db
        .read(move |conn| Ok(factors_store::list(conn, &user_id)?))
        .await
}

/// A waiting sign-in for `user`: 202 with its token.
/// (Audited: a right password that never finishes its second step is what a stolen
/// password looks like.)
async fn second_step_owed(
    state: &AppState,
    meta: &ClientMeta,
    user: &UserRow,
    subscription: &SubscriptionRow,
    factors: &[factors_store::FactorRow],
) -> Result<HttpResponse, ApiError> {
    let token = tokens::random_token(32);
    let hash = state.auth.tokens.hash(&token);
    let now = state.clock.now();
    let user_id = user.id.clone();
    let id = uuid::Uuid::now_v7().to_string();
    let mut methods = Vec::new();
    if factors.iter().any(|f| f.kind == "totp") {
        methods.push("totp".to_string());
    }
    // With a passkey, its challenge comes now, kept under the waiting sign-in's id.
    let passkey = passkey_challenge(state, &id, "second_step", &user.id, factors, now)?;
    if passkey.is_some() {
        methods.push("passkey".to_string());
    }
    methods.push("recovery_code".to_string());
    let (passkey_options, ceremony) = passkey.unzip();
    let event = Audit::unauthenticated(meta, "session.second_step_required")
        .actor(&subscription.id, &user.id, &user.username)
        .target("user", &user.id);
    state
        .db
        .write(move |conn| {
            factors_store::purge_steps(conn, now)?;
            factors_store::insert_step(conn, &id, &hash, &user_id, now, now + SECOND_STEP_TTL)?;
            if let Some(ceremony) = &ceremony {
                factors_store::insert_ceremony(conn, ceremony)?;
            }
            event.record(conn)?;
            Ok::<_, ApiError>(())
        })
        .await?;
    crate::metrics::sign_in("second_step");
    Ok(HttpResponse::Accepted()
        .insert_header(("Cache-Control", "no-store"))
        .json(SecondStepRequired {
            second_step_token: token,
            methods,
            expires_in: SECOND_STEP_TTL.num_seconds(),
            passkey_options,
        }))
}

/// A passkey challenge for the person's passkeys among `factors`, to be kept as
/// ceremony `id` of `kind`: the options for the browser, and the row to store. `None`
/// when they have none (or passkeys are off).
fn passkey_challenge(
    state: &AppState,
    id: &str,
    kind: &str,
    user_id: &str,
    factors: &[factors_store::FactorRow],
    now: chrono::NaiveDateTime,
) -> Result<Option<(serde_json::Value, factors_store::CeremonyRow)>, ApiError> {
    let keys: Vec<Passkey> = factors
        .iter()
        .filter(|f| f.confirmed && f.kind == "passkey")
        .filter_map(|f| passkeys::from_state(&f.secret).ok())
        .collect();
    let Ok(webauthn) = state.auth.passkeys.get() else {
        return Ok(None);
    };
    if keys.is_empty() {
        return Ok(None);
    }
    let (challenge, authentication) = webauthn
        .start_passkey_authentication(&keys)
        .map_err(|e| anyhow::anyhow!("passkey challenge: {e}"))?;
    Ok(Some((
        passkeys::request_options(&challenge)?,
        factors_store::CeremonyRow {
            id: id.to_string(),
            user_id: Some(user_id.to_string()),
            kind: kind.to_string(),
            state: passkeys::state_json(&authentication)?,
            created_at: now,
            expires_at: now + passkeys::CEREMONY_TTL,
        },
    )))
}

/// The answer to a finished sign-in: the browser's earlier session ended, the cookie,
/// the session's details.
pub(super) async fn signed_in(
    state: &web::Data<AppState>,
    meta: &ClientMeta,
    previous: Option<String>,
    principal: Principal,
    token: String,
) -> Result<HttpResponse, ApiError> {
    if let Some(previous) = previous {
        end_previous(state, meta, &previous, principal.via.id()).await?;
    }
    crate::metrics::sign_in("ok");
    let cookie = Cookie::build(state.auth.session_cookie, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.cookies_secure())
        .max_age(time::Duration::hours(
            principal.subscription.session_max_hours,
        ))
        .finish();
    Ok(HttpResponse::Ok()
        .cookie(cookie)
        .insert_header(("Cache-Control", "no-store"))
        .json(session_info(&principal, state.clock.now())))
}

#[utoipa::path(
    post,
    path = "/api/v1/session/second-step",
    operation_id = "create_session_second_step",
    tag = "sessions",
    summary = "The second step of a sign-in that answered 202: a code from the person's authenticator app, or one of their recovery codes. Wrong ones count towards the password lockout.",
    request_body = SecondStep,
    responses((status = 200, description = "Signed in.", body = SessionInfo), (status = 400, response = E400), (status = 401, response = E401), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 429, response = E429))
)]
pub async fn second_step(
    state: web::Data<AppState>,
    meta: ClientMeta,
    req: actix_web::HttpRequest,
    body: crate::routing::JsonBody<SecondStep>,
) -> Result<HttpResponse, ApiError> {
    let (address, attempt) = begin_attempt(&state, &meta, &req)?;
    let previous = crate::auth::session::token(&req, state.auth.session_cookie);
    let SecondStep {
        second_step_token,
        code,
        recovery_code,
        passkey,
    } = body.into_inner();
    let hash = state.auth.tokens.hash(&second_step_token);
    let now = state.clock.now();
    let found = state
        .db
        .read(move |conn| {
            let Some(step) = factors_store::find_step(conn, &hash)? else {
                return Ok(None);
            };
            let Some(user) = users_store::find(conn, &step.user_id)? else {
                return Ok(None);
            };
            let subscription = crate::db::subscriptions::find(conn, &user.subscription_id)?;
            let factors = factors_store::list(conn, &user.id)?;
            Ok(Some((step, user, subscription, factors)))
        })
        .await?;
    // A waiting sign-in outlives no change to its person (a new password, a lock).
    let Some((step, user, subscription, factors)) =
        found.filter(|(s, u, ..)| s.expires_at > now && u.updated_at <= s.created_at)
    else {
        crate::metrics::sign_in("invalid_credentials");
        return Err(second_step_expired());
    };
    let proof = Proof::of(
        code,
        recovery_code,
        passkey.map(|p| (step.id.clone(), "second_step", p)),
    )?;
    let amr = check_second_step(
        &state,
        &meta,
        &user,
        &subscription,
        &factors,
        proof,
        Some(step.id),
    )
    .await?;
    let Some((principal, token)) = start_session(&state, &meta, user, subscription, amr).await?
    else {
        crate::metrics::sign_in("invalid_credentials");
        return Err(invalid_second_step());
    };
    state.auth.sign_in_limiter.refund(&address, attempt);
    signed_in(&state, &meta, previous, principal, token).await
}

/// Checks a code or recovery code of `user`, and spends it: in one transaction with
/// the `waiting` sign-in, if any (a code, or the waiting sign-in, works once however
/// many requests carry it at once). Wrong ones count towards the password lockout and
/// a fixed budget per person, and are recorded; every check costs the same.
async fn check_second_step(
    state: &AppState,
    meta: &ClientMeta,
    user: &UserRow,
    subscription: &SubscriptionRow,
    factors: &[factors_store::FactorRow],
    proof: Proof,
    waiting: Option<String>,
) -> Result<&'static str, ApiError> {
    // A passkey alone (sudo mode) proves nothing of the password: not counted towards
    // its lock, which must not stop it either; the per-person budget still holds.
    let password_counts = waiting.is_some() || !matches!(proof, Proof::Passkey { .. });
    // A fixed budget of wrong codes per person, besides the lockout (which an
    // administrator may set high): counted before the check, given back on success.
    let guess = match state.auth.second_step_limiter.attempt(&user.id) {
        Ok(guess) => guess,
        Err(wait) => {
            crate::metrics::sign_in("rate_limited");
            return Err(ApiError::RateLimited {
                retry_after_secs: wait,
            });
        }
    };
    let event = |action| {
        Audit::unauthenticated(meta, action)
            .actor(&subscription.id, &user.id, &user.username)
            .target("user", &user.id)
    };
    // Counted like a password: wrong codes lock password sign-in at the threshold.
    let threshold = subscription.login_lockout_threshold;
    let events = crate::auth::lockout::LockEvents {
        locked: event("user.locked").recorder(),
        lapsed: event("user.unlocked").recorder(),
    };
    let counted = if password_counts {
        crate::auth::lockout::begin_password_attempt(&state.auth, &user.id, threshold, events)
            .await?
    } else {
        Some(0)
    };
    // Checked whatever the attempt's fate, against every app, so that every answer
    // costs the same.
    let now = state.clock.now();
    let unix = now.and_utc().timestamp();
    let matched = match &proof {
        Proof::Code(code) => {
            let mut matched = None;
            for f in factors.iter().filter(|f| f.confirmed && f.kind == "totp") {
                if let Some(step) = totp::verify(&f.secret, code, unix, f.last_step)
                    && matched.is_none()
                {
                    matched = Some(Spend::Step(f.id.clone(), step));
                }
            }
            matched
        }
        Proof::Recovery(code) => Some(Spend::Recovery(state.auth.tokens.hash(code))),
        Proof::Passkey {
            ceremony,
            kind,
            credential,
        } => passkey_answer(state, user, factors, ceremony, kind, credential, now).await?,
    };
    let failed =
        |reason: &str| event("session.second_step_failed").details(json!({"reason": reason}));
    let Some(count) = counted else {
        failed("password_locked")
            .write(&state.db, |_| Ok(()))
            .await?;
        crate::metrics::sign_in("invalid_credentials");
        return Err(invalid_second_step());
    };
    // Spent in one transaction with the waiting sign-in: a code (or recovery code)
    // works once, however many requests carry it at once.
    let user_id = user.id.clone();
    let waiting_id = waiting.clone();
    let used = event(match matched {
        Some(Spend::Recovery(_)) => "recovery_code.used",
        _ => "second_factor.used",
    });
    let amr = match &matched {
        Some(Spend::Passkey { amr, .. }) => *amr,
        _ => AMR_PASSWORD_AND_CODE,
    };
    // Both or neither: a code is never spent without its sign-in, nor the waiting
    // sign-in by a wrong code (an error rolls the transaction back).
    let spent = match matched {
        None => false,
        Some(spend) => {
            let written = state
                .db
                .write(move |conn| {
                    if let Some(id) = &waiting_id
                        && !factors_store::spend_step(conn, id)?
                    {
                        return Err(second_step_expired());
                    }
                    let spent = match &spend {
                        Spend::Step(id, step) => factors_store::use_step(conn, id, *step, now)?,
                        Spend::Recovery(hash) => {
                            factors_store::use_recovery_code(conn, &user_id, hash, now)?
                        }
                        Spend::Passkey {
                            factor,
                            record,
                            ceremony,
                            ..
                        } => {
                            factors_store::spend_ceremony(conn, ceremony)?
                                && factors_store::use_passkey(conn, factor, record, now)?
                        }
                    };
                    if !spent {
                        return Err(invalid_second_step());
                    }
                    used.record(conn)?;
                    Ok(())
                })
                .await;
            match written {
                Ok(()) => true,
                Err(ApiError::Unauthorized { code, .. }) if code == codes::INVALID_SECOND_STEP => {
                    false
                }
                Err(e) => return Err(e),
            }
        }
    };
    if !spent {
        // Recorded with the waiting sign-in's count of wrong ones (gone at the last).
        let record = failed("wrong_code").recorder();
        let failure: crate::auth::lockout::Recorder = std::sync::Arc::new(move |conn, details| {
            if let Some(id) = &waiting {
                factors_store::fail_step(conn, id, SECOND_STEP_TRIES)?;
            }
            record(conn, details)
        });
        if password_counts {
            crate::auth::lockout::password_failed(
                &state.auth,
                &user.id,
                count,
                threshold,
                failure,
                event("user.locked").recorder(),
            )
            .await?;
        } else {
            // (No waiting sign-in to count against: sudo mode.)
            failed("wrong_code").write(&state.db, |_| Ok(())).await?;
        }
        crate::metrics::sign_in("invalid_credentials");
        return Err(invalid_second_step());
    }
    state.auth.second_step_limiter.refund(&user.id, guess);
    Ok(amr)
}

enum Proof {
    Code(String),
    Recovery(String),
    /// A passkey's answer to ceremony `ceremony` of `kind`.
    Passkey {
        ceremony: String,
        kind: &'static str,
        credential: Box<PublicKeyCredential>,
    },
}

impl Proof {
    /// Exactly one of a code from the authenticator app, a recovery code, or a
    /// passkey's answer (to the ceremony named with it).
    fn of(
        code: Option<String>,
        recovery_code: Option<String>,
        passkey: Option<(String, &'static str, serde_json::Value)>,
    ) -> Result<Proof, ApiError> {
        match (code, recovery_code, passkey) {
            (Some(code), None, None) => Ok(Proof::Code(code)),
            (None, Some(recovery), None) => {
                Ok(Proof::Recovery(crate::auth::recovery::normalize(&recovery)))
            }
            (None, None, Some((ceremony, kind, credential))) => Ok(Proof::Passkey {
                ceremony,
                kind,
                credential: Box::new(passkeys::parse("passkey", credential)?),
            }),
            _ => Err(ApiError::validation(
                "code",
                "give one of `code` (from the authenticator app), `recovery_code` or `passkey`",
            )),
        }
    }
}

/// A passkey's answer to the person's ceremony: the spend it makes when it is right
/// (and `None`, counted as a wrong second step, when it is not).
async fn passkey_answer(
    state: &AppState,
    user: &UserRow,
    factors: &[factors_store::FactorRow],
    ceremony: &str,
    kind: &'static str,
    credential: &PublicKeyCredential,
    now: chrono::NaiveDateTime,
) -> Result<Option<Spend>, ApiError> {
    let Ok(webauthn) = state.auth.passkeys.get() else {
        return Ok(None);
    };
    let id = ceremony.to_string();
    let found = state
        .db
        .read(move |conn| Ok(factors_store::find_ceremony(conn, &id, kind, now)?))
        .await?
        .filter(|c| c.user_id.as_deref() == Some(user.id.as_str()));
    let Some(found) = found else {
        return Ok(None);
    };
    let authentication: PasskeyAuthentication = passkeys::from_state(&found.state)?;
    let Ok(result) = webauthn.finish_passkey_authentication(credential, &authentication) else {
        return Ok(None);
    };
    let key = passkeys::credential_key(result.cred_id());
    let Some(factor) = factors
        .iter()
        .find(|f| f.kind == "passkey" && f.credential_id.as_deref() == Some(key.as_str()))
    else {
        return Ok(None);
    };
    let mut passkey: Passkey = passkeys::from_state(&factor.secret)?;
    passkey.update_credential(&result);
    Ok(Some(Spend::Passkey {
        factor: factor.id.clone(),
        record: passkeys::state_json(&passkey)?,
        ceremony: found.id,
        amr: match passkeys::amr_of(&result) {
            "hwk" => "pwd hwk",
            _ => "pwd swk",
        },
    }))
}

enum Spend {
    /// A confirmed app's id and the time step its code was made in.
    Step(String, i64),
    /// A recovery code's hash.
    Recovery(String),
    /// A passkey: its id, its updated record, the ceremony it answered, and the `amr`.
    Passkey {
        factor: String,
        record: String,
        ceremony: String,
        amr: &'static str,
    },
}

fn second_step_expired() -> ApiError {
    ApiError::unauthorized(
        codes::SECOND_STEP_EXPIRED,
        "This sign-in has expired or was tried too often. Sign in again.",
    )
}

fn invalid_second_step() -> ApiError {
    ApiError::unauthorized(
        codes::INVALID_SECOND_STEP,
        "That code is not right, or was used already.",
    )
}

/// Signing in again in a browser ends the session it held (whoever's it was): one
/// browser, one session, and no earlier cookie — perhaps copied — left alive.
async fn end_previous(
    state: &web::Data<AppState>,
    meta: &ClientMeta,
    token: &str,
    new_session: &str,
) -> Result<(), ApiError> {
    let old = match crate::auth::session::authenticate(&state.auth, token).await {
        Ok(old) => old,
        // Expired or unknown: nothing to end.
        Err(ApiError::Unauthorized { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    if old.via.id() == new_session {
        return Ok(());
    }
    // Recorded in the old session's subscription, which may be another tenant's: not
    // with the new sign-in's address and browser.
    let unnamed = ClientMeta {
        ip: None,
        user_agent: None,
        at: meta.at,
    };
    let audit = Audit::by(&old, &unnamed, "session.signed_out")
        .details(json!({"reason": "signed_in_again"}));
    let (user_id, id) = (old.user.id.clone(), old.via.id().to_string());
    let now = state.clock.now();
    let logouts = audit
        .write(&state.db, move |conn| {
            crate::logout::end_session(conn, &user_id, &id, now)
        })
        .await?;
    crate::logout::send(state, logouts, "signed_out");
    Ok(())
}

/// The user whose password this is, if sign-in may go on: the user exists, is active,
/// their password sign-in is not locked, and the password is right; otherwise the
/// refusal's outcome for the metrics (`unknown_user` or `invalid_credentials`). Every refusal
/// costs one password hash, like a success, and is recorded (`session.sign_in_failed`,
/// and `user.locked` when this attempt locks password sign-in).
async fn verify_password(
    state: &AppState,
    meta: &ClientMeta,
    username: &str,
    password: &SecretString,
) -> Result<Result<(UserRow, SubscriptionRow), &'static str>, ApiError> {
    // A username that cannot exist is looked up as no one, at the same cost.
    let username = validate::username(username).ok();
    let found = match username.clone() {
        Some(u) => {
            state
                .db
                .read(move |conn| Ok(users_store::find_by_username(conn, &u)?))
                .await?
        }
        None => None,
    };
    let Some((user, subscription)) = found else {
        // The same work as for a real user: verify against a dummy hash.
        state.auth.passwords.verify(password, None).await?;
        // No subscription owns this event: operators see it (`gatehouse audit export
        // --unattributed`, `gatehouse_sign_ins_total{outcome="unknown_user"}`), and the
        // audit retention purges it like any other.
        let audit = Audit::unauthenticated(meta, "session.sign_in_failed")
            .attempted_username(username.as_deref())
            .details(json!({"reason": "unknown_user"}));
        audit.write(&state.db, |_| Ok(())).await?;
        return Ok(Err("unknown_user"));
    };
    let event = |action| {
        Audit::unauthenticated(meta, action)
            .actor(&subscription.id, &user.id, &user.username)
            .target("user", &user.id)
    };
    let failed = |reason: &str| event("session.sign_in_failed").details(json!({"reason": reason}));
    if user.kind == UserKind::Service {
        // A client's service account never signs in: refused at the cost of a real
        // attempt, and never counted towards a lock.
        state.auth.passwords.verify(password, None).await?;
        failed("service_account")
            .write(&state.db, |_| Ok(()))
            .await?;
        return Ok(Err("invalid_credentials"));
    }
    let threshold = subscription.login_lockout_threshold;
    let events = crate::auth::lockout::LockEvents {
        locked: event("user.locked").recorder(),
        lapsed: event("user.unlocked").recorder(),
    };
    let attempt =
        crate::auth::lockout::begin_password_attempt(&state.auth, &user.id, threshold, events)
            .await?;
    // Verified whatever the attempt's fate, so that every refusal costs the same.
    let password_ok = state
        .auth
        .passwords
        .verify(password, Some(user.password_hash.clone()))
        .await?;
    let Some(count) = attempt else {
        // Not active, or password sign-in locked (or about to be, by attempts in flight).
        let reason = if user.state == UserState::Active {
            "password_locked"
        } else {
            "inactive"
        };
        failed(reason).write(&state.db, |_| Ok(())).await?;
        return Ok(Err("invalid_credentials"));
    };
    if !password_ok {
        crate::auth::lockout::password_failed(
            &state.auth,
            &user.id,
            count,
            threshold,
            failed("wrong_password").recorder(),
            event("user.locked").recorder(),
        )
        .await?;
        return Ok(Err("invalid_credentials"));
    }
    Ok(Ok((user, subscription)))
}

/// Records the sign-in and stores a new session, unless the user was disabled, locked
/// or given a new password while the hash was checked. The session's principal and
/// its cookie token.
pub(super) async fn start_session(
    state: &AppState,
    meta: &ClientMeta,
    user: UserRow,
    subscription: SubscriptionRow,
    amr: &'static str,
) -> Result<Option<(Principal, String)>, ApiError> {
    let now = state.clock.now();
    let token = tokens::random_token(32);
    let token_hash = state.auth.tokens.hash(&token);
    let session_id = uuid::Uuid::now_v7().to_string();
    let expires_at = now + TimeDelta::hours(subscription.session_max_hours);
    let event = |action| {
        Audit::unauthenticated(meta, action)
            .actor(&subscription.id, &user.id, &user.username)
            .target("user", &user.id)
    };
    let inactive = event("session.sign_in_failed").details(json!({"reason": "inactive"}));
    let audit = event("session.signed_in").credential("session", Some(&session_id));
    let (user_id, subscription_id) = (user.id.clone(), subscription.id.clone());
    let verified_hash = user.password_hash.clone();
    // A passkey alone proves nothing of the password: its lock and count stay.
    let with_password = amr.split(' ').any(|m| m == AMR_PASSWORD);
    let (sid, meta) = (session_id.clone(), meta.clone());
    let signed_in = state
        .db
        .write(move |conn| {
            let recorded = if with_password {
                users_store::record_sign_in(conn, &user_id, &verified_hash, now)?
            } else {
                users_store::record_passkey_sign_in(conn, &user_id, now)?
            };
            if !recorded {
                inactive.record(conn)?;
                return Ok::<_, ApiError>(None);
            }
            // Signed in with a password an administrator generated: the session may
            // only choose a new one. (A passkey proves nothing of the password, so a
            // passkey sign-in is not held; the password stays temporary.)
            let password_change_required =
                with_password && users_store::has_temporary_password(conn, &user_id)?;
            store::insert(
                conn,
                &store::NewSession {
                    id: &sid,
                    token_hash: &token_hash,
                    user_id: &user_id,
                    subscription_id: &subscription_id,
                    created_at: now,
                    last_seen_at: now,
                    expires_at,
                    ip: meta.ip.as_deref(),
                    user_agent: meta.user_agent.as_deref(),
                    amr,
                    password_change_required,
                },
            )?;
            audit.record(conn)?;
            Ok(Some(password_change_required))
        })
        .await?;
    let Some(password_change_required) = signed_in else {
        return Ok(None);
    };
    let mut user = user;
    user.last_sign_in_at = Some(now);
    if with_password {
        user.failed_sign_ins = 0;
        user.password_locked_until = None;
    }
    let principal = Principal {
        via: Via::Session {
            id: session_id,
            created_at: now,
            expires_at,
            idle_expires_at: (now + TimeDelta::minutes(subscription.session_idle_minutes))
                .min(expires_at),
            csrf_token: SecretString::new(state.auth.tokens.csrf_token(&token)),
            amr: amr.to_string(),
            verified_at: now,
            sudo: true,
            enrolment_required: subscription.two_step_policy.requires(user.role)
                && !crate::auth::session::has_second_step(amr),
            password_change_required,
        },
        user: std::sync::Arc::new(user),
        subscription: std::sync::Arc::new(subscription),
    };
    Ok(Some((principal, token)))
}

// Scripts call it with their key to check it, often: a key's answer is serialized
// once per key cache entry, since it follows from the entry's rows alone — except
// while the user's password lock runs, which the answer shows until it ends.
#[utoipa::path(
    get,
    path = "/api/v1/session",
    operation_id = "get_session",
    tag = "sessions",
    summary = "Who am I, and with which credential.",
    security(("session" = []), ("bearer" = []), ("oauth2" = ["api:read"]), ("zsessionid" = [])),
    responses((status = 200, description = "The caller.", body = SessionInfo), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn whoami(
    state: web::Data<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let serialize = || -> Result<web::Bytes, ApiError> {
        let body =
            serde_json::to_vec(&session_info(&principal, now)).map_err(anyhow::Error::from)?;
        Ok(body.into())
    };
    let body = match &principal.via {
        Via::ApiKey { answer, .. }
            if principal
                .user
                .password_locked_until
                .is_none_or(|until| until <= now) =>
        {
            match answer.get() {
                Some(body) => body.clone(),
                None => {
                    let body = serialize()?;
                    // Another request may have set it meanwhile: the same bytes.
                    let _ = answer.set(body.clone());
                    body
                }
            }
        }
        _ => serialize()?,
    };
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

#[utoipa::path(
    post,
    path = "/api/v1/session/sudo",
    operation_id = "create_session_sudo",
    tag = "sessions",
    summary = "Confirm the password again (and a second step, for a person with one): sensitive actions then go ahead for ten minutes (sudo mode). Wrong passwords and codes count towards the lockout.",
    security(("session" = [], "csrf" = [])),
    request_body = SudoRequest,
    responses((status = 200, description = "Confirmed; `credential.sudo_until` says until when.", body = SessionInfo), (status = 400, response = E400), (status = 401, response = E401), (status = 403, response = E403), (status = 408, response = E408), (status = 413, response = E413), (status = 415, response = E415), (status = 422, response = E422), (status = 429, response = E429))
)]
pub async fn sudo(
    state: web::Data<AppState>,
    meta: ClientMeta,
    req: actix_web::HttpRequest,
    Authenticated(principal): Authenticated,
    body: crate::routing::JsonBody<SudoRequest>,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ConfirmPassword)?;
    let (address, attempt) = begin_attempt(&state, &meta, &req)?;
    let SudoRequest {
        password,
        code,
        recovery_code,
        passkey,
    } = body.into_inner();
    let factors = factors_of(&state, &principal.user.id).await?;
    // A passkey alone will do: it is two factors by itself (`auth::passkeys`).
    if let Some(passkey) = passkey {
        if password.is_some() || code.is_some() || recovery_code.is_some() {
            return Err(ApiError::validation(
                "passkey",
                "give a passkey alone, or the password (and a code)",
            ));
        }
        let proof = Proof::of(
            None,
            None,
            Some((passkey.ceremony_id, "sudo", passkey.credential)),
        )?;
        let (user, subscription) = (&principal.user, &principal.subscription);
        check_second_step(&state, &meta, user, subscription, &factors, proof, None).await?;
        state.auth.sign_in_limiter.refund(&address, attempt);
        return sudo_granted(&state, &meta, principal, false).await;
    }
    let Some(password) = password else {
        state.auth.sign_in_limiter.refund(&address, attempt);
        return Err(ApiError::validation("password", "is needed (or a passkey)"));
    };
    let password = SecretString::new(password);
    // Checked and counted like a sign-in's password: this is one.
    let (user, subscription) =
        match verify_password(&state, &meta, &principal.user.username, &password).await? {
            Ok(found) if found.0.id == principal.user.id => found,
            _ => {
                return Err(ApiError::unauthorized(
                    codes::INVALID_CREDENTIALS,
                    "That password is not right.",
                ));
            }
        };
    // The right password is not a failure: its counted attempt is given back before
    // the second step is counted, so a right password and code never lock.
    crate::auth::lockout::give_back_attempt(&state.auth, &user.id).await?;
    if factors.iter().any(|f| f.confirmed) {
        if code.is_none() && recovery_code.is_none() {
            state.auth.sign_in_limiter.refund(&address, attempt);
            return Err(ApiError::validation(
                "code",
                "a code from your authenticator app (or a recovery code) is needed too",
            ));
        }
        let proof = Proof::of(code, recovery_code, None)?;
        check_second_step(&state, &meta, &user, &subscription, &factors, proof, None).await?;
    }
    state.auth.sign_in_limiter.refund(&address, attempt);
    sudo_granted(&state, &meta, principal, true).await
}

/// Sudo mode from now: recorded, and the session's new details. `password`: it was
/// checked, and proved right, so the failures in a row start again.
async fn sudo_granted(
    state: &AppState,
    meta: &ClientMeta,
    principal: Principal,
    password: bool,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let audit = Audit::by(&principal, meta, "session.sudo");
    let (id, user_id) = (principal.via.id().to_string(), principal.user.id.clone());
    audit
        .write(&state.db, move |conn| {
            store::verified(conn, &id, now)?;
            if password {
                users_store::clear_failures(conn, &user_id)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    let mut principal = principal;
    if let Via::Session {
        verified_at, sudo, ..
    } = &mut principal.via
    {
        *verified_at = now;
        *sudo = true;
    }
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(session_info(&principal, now)))
}

#[utoipa::path(
    post,
    path = "/api/v1/session/sudo/passkey",
    operation_id = "create_session_sudo_passkey",
    tag = "sessions",
    summary = "A passkey challenge to confirm sudo mode with (instead of the password): answer it in `POST /api/v1/session/sudo` as `passkey`.",
    security(("session" = [], "csrf" = [])),
    responses((status = 201, description = "The challenge.", body = PasskeyChallenge), (status = 401, response = E401), (status = 403, response = E403), (status = 409, response = E409))
)]
pub async fn sudo_passkey(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::ConfirmPassword)?;
    let factors = factors_of(&state, &principal.user.id).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = state.clock.now();
    let Some((options, ceremony)) =
        passkey_challenge(&state, &id, "sudo", &principal.user.id, &factors, now)?
    else {
        state.auth.passkeys.get()?;
        return Err(ApiError::conflict(
            codes::CONFLICT,
            "You have no passkey: confirm with your password.",
        ));
    };
    Audit::by(&principal, &meta, "session.sudo_challenged")
        .write(&state.db, move |conn| {
            Ok(factors_store::insert_ceremony(conn, &ceremony)?)
        })
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-store"))
        .json(PasskeyChallenge {
            id,
            options,
            expires_in: crate::auth::passkeys::CEREMONY_TTL.num_seconds(),
        }))
}

#[utoipa::path(
    delete,
    path = "/api/v1/session",
    operation_id = "delete_session",
    tag = "sessions",
    summary = "Sign out.",
    security(("session" = [], "csrf" = [])),
    responses((status = 204, description = "Signed out; the cookie is cleared."), (status = 401, response = E401), (status = 403, response = E403))
)]
pub async fn sign_out(
    state: web::Data<AppState>,
    meta: ClientMeta,
    Authenticated(principal): Authenticated,
) -> Result<HttpResponse, ApiError> {
    principal.require(Action::SignOut)?;
    let audit = Audit::by(&principal, &meta, "session.signed_out");
    let (user_id, id) = (principal.user.id.clone(), principal.via.id().to_string());
    let now = state.clock.now();
    let logouts = audit
        .write(&state.db, move |conn| {
            let logouts = crate::logout::end_session(conn, &user_id, &id, now)?;
            Ok::<_, ApiError>(logouts)
        })
        .await?;
    crate::logout::send(&state, logouts, "signed_out");
    Ok(HttpResponse::NoContent()
        .cookie(crate::auth::session::removal(
            state.auth.session_cookie,
            state.settings.cookies_secure(),
        ))
        .finish())
}

pub fn session_info(principal: &Principal, now: chrono::NaiveDateTime) -> SessionInfo {
    let (credential, csrf_token) = match &principal.via {
        Via::Session {
            created_at,
            expires_at,
            idle_expires_at,
            csrf_token,
            verified_at,
            enrolment_required,
            password_change_required,
            ..
        } => (
            Credential::Session {
                created_at: clock::utc(*created_at),
                expires_at: clock::utc(*expires_at),
                idle_expires_at: clock::utc(*idle_expires_at),
                sudo_until: clock::utc(*verified_at + crate::auth::session::SUDO_WINDOW),
                enrolment_required: *enrolment_required,
                password_change_required: *password_change_required,
            },
            Some(csrf_token.expose().to_string()),
        ),
        Via::ApiKey {
            id,
            name,
            key_permission,
            permission,
            ..
        } => (
            Credential::ApiKey {
                id: id.clone(),
                name: name.clone(),
                permission: *permission,
                key_permission: *key_permission,
            },
            None,
        ),
        Via::OAuth {
            grant_id,
            client_id,
            client_name,
            scopes,
            permission,
            ..
        } => (
            Credential::Oauth {
                client_id: client_id.clone(),
                client_name: client_name.clone(),
                grant_id: grant_id.clone(),
                scopes: scopes.clone(),
                permission: permission.unwrap_or(gatehouse_types::Permission::ReadOnly),
            },
            None,
        ),
    };
    SessionInfo {
        user: crate::db::users::to_api(&principal.user, now),
        subscription: crate::db::subscriptions::to_api(&principal.subscription),
        credential,
        csrf_token,
    }
}
