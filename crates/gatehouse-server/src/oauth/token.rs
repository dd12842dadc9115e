//! `POST /oauth/token` (and Rally's `/login/oauth2/token`): the authorization-code
//! grant with PKCE, the refresh-token grant with rotation and reuse detection, client
//! credentials, and the device grant (redeemed through `device`).
//! Errors follow RFC 6749 §5.2 (`OAuthError`).

#[allow(unused_imports)] // Named by the `#[utoipa::path]` attributes.
use crate::error::responses::*;
use actix_web::http::header;
use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::client_auth::AuthenticatedClient;
use super::error::OAuthError;
use super::params::Params;
use super::pkce;
use super::wire::TokenResponse;
use super::{ACCESS_TOKEN_TTL, REFRESH_PREFIX, REFRESH_TOKEN_TTL};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::jwt::{ACCESS_TOKEN_TYPE, AccessClaims};
use crate::auth::scopes;
use crate::auth::{ClientMeta, tokens};
use crate::clock;
use crate::db::DbConnection;
use crate::db::grants::{self as grants_store, GrantRow, Holder, NewGrant, NewRefresh};
use crate::db::oauth_clients::ClientRow;
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::state::AppState;
use gatehouse_types::{Role, validate};

#[tracing::instrument(name = "oauth.token", skip_all)]
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "create_oauth_token",
    tag = "oauth",
    summary = "The token endpoint: `authorization_code` (with `code_verifier`), `refresh_token` (rotating), `client_credentials` (a confidential client's service account; no refresh token) and `urn:ietf:params:oauth:grant-type:device_code` (RFC 8628: `authorization_pending`, `slow_down`, `access_denied`, `expired_token` until the tokens). Client authentication by HTTP Basic, form body, or `client_id` alone for public clients; only grant types the client registered.",
    security(("client_basic" = []), ()),
    request_body(content = super::wire::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "Tokens.", body = TokenResponse), (status = 400, description = "RFC 6749 §5.2 error.", body = super::wire::OAuthErrorBody), (status = 401, description = "RFC 6749 §5.2 error (`invalid_client`, with `WWW-Authenticate: Basic`).", body = super::wire::OAuthErrorBody), (status = 408, description = "The body did not arrive within 10 s of the request's start (`invalid_request`); the connection is closed.", body = super::wire::OAuthErrorBody), (status = 429, description = "Too many failed client authentications (`invalid_client`, with `Retry-After`).", body = super::wire::OAuthErrorBody), (status = 503, description = "`temporarily_unavailable`, with `Retry-After`.", body = super::wire::OAuthErrorBody))
)]
pub async fn token(
    state: web::Data<AppState>,
    caller: AuthenticatedClient,
) -> Result<HttpResponse, OAuthError> {
    let AuthenticatedClient {
        client,
        params,
        meta,
    } = caller;
    let Some(grant_type) = params.get("grant_type") else {
        return Err(OAuthError::invalid_request("grant_type is missing."));
    };
    if !validate::GRANT_TYPES.contains(&grant_type) {
        return Err(OAuthError::unsupported_grant_type(format!(
            "`{grant_type}` is not supported; use {}.",
            validate::GRANT_TYPES.join(", ")
        )));
    }
    // RFC 6749 §5.2: a grant type the client is not registered for.
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "This client is not registered for the {grant_type} grant (its grant_types)."
        )));
    }
    match grant_type {
        "authorization_code" => authorization_code(&state, &meta, &client, &params).await,
        "refresh_token" => refresh(&state, &meta, &client, &params).await,
        "client_credentials" => client_credentials(&state, &client, &params).await,
        _ => super::device::redeem(&state, &meta, &client, &params).await,
    }
}

/// RFC 6749 §4.4: a confidential client gets a token for its own service account,
/// with the scopes its service role allows (`api:read`; `api:write` too for an
/// editor) or fewer; no refresh token, no id_token. The token hangs off the service
/// account's grant for the client, so everything that stops a grant stops it — and
/// deleting the client deletes the account.
async fn client_credentials(
    state: &web::Data<AppState>,
    client: &ClientRow,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    let Some(role) = client.service_role().filter(|_| !client.is_public()) else {
        return Err(OAuthError::unauthorized_client(
            "This client has no service account for client_credentials.",
        ));
    };
    let allowed = service_scopes(role);
    let asked_scope = params.get("scope");
    let mut scopes = match asked_scope {
        None => allowed.clone(),
        Some(raw) => {
            let asked = scopes::parse(raw)
                .map_err(|s| OAuthError::invalid_scope(format!("Unknown scope: {s}.")))?;
            if asked.is_empty() || !allowed.is_superset(&asked) {
                return Err(OAuthError::invalid_scope(format!(
                    "This service account may ask for {} only.",
                    scopes::join(&allowed)
                )));
            }
            asked
        }
    };
    let (client_id, client_row_id, sub_id, owner_id, granted) = (
        client.client_id.clone(),
        client.id.clone(),
        client.subscription_id.clone(),
        client.owner_id.clone(),
        scopes::join(&allowed),
    );
    let now = state.clock.now();
    let issued = state
        .db
        .write(move |conn| {
            // The client, its service account (its id is its client's record id) and
            // the client's owner, as they are now: checked before anything is written
            // (a client disabled since its authentication gets nothing).
            if crate::db::oauth_clients::find_by_client_id(conn, &client_id)?.is_none() {
                return Ok(None);
            }
            let (Some(user), Some(owner)) = (
                crate::db::users::find(conn, &client_row_id)?,
                crate::db::users::find(conn, &owner_id)?,
            ) else {
                return Ok(None);
            };
            if user.state != gatehouse_types::UserState::Active
                || owner.state != gatehouse_types::UserState::Active
            {
                return Ok(None);
            }
            let (grant, changed) = grants_store::ensure_active(
                conn,
                &NewGrant {
                    id: &uuid::Uuid::now_v7().to_string(),
                    subscription_id: &sub_id,
                    user_id: &user.id,
                    client_id: &client_row_id,
                    scopes: &granted,
                    state: "active",
                    generation: 1,
                    created_at: now,
                    updated_at: now,
                },
            )?;
            Ok::<_, ApiError>(Some((grant, changed, user, owner.role)))
        })
        .await?;
    let Some((grant, changed, user, owner_role)) = issued else {
        return Err(OAuthError::unauthorized_client(
            "This client, its service account, or the person who registered it is disabled.",
        ));
    };
    // Never more than the person who registered the client may do now: a service
    // account of someone since demoted to viewer only reads.
    if owner_role == Role::Viewer && scopes.contains("api:write") {
        if asked_scope.is_some() {
            return Err(OAuthError::invalid_scope(
                "The person who registered this client may only read now: ask for api:read.",
            ));
        }
        scopes.remove("api:write");
    }
    if changed {
        state.auth.invalidate(Invalidate::Grant(&grant.id));
    }
    let scope = scopes::join(&scopes);
    let access_token = sign_access_token(state, client, &grant, &user, &scope, now)?;
    crate::metrics::token("issued");
    Ok(token_answer(TokenResponse {
        access_token: &access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL.num_seconds(),
        refresh_token: None,
        scope: &scope,
        id_token: None,
    }))
}

/// What a service account of `role` may ask for.
fn service_scopes(role: Role) -> std::collections::BTreeSet<String> {
    let mut s = std::collections::BTreeSet::from(["api:read".to_string()]);
    if role != Role::Viewer {
        s.insert("api:write".to_string());
    }
    s
}

/// Revokes a grant after a replayed code or refresh token, and records why.
async fn revoke_for_reuse(
    state: &AppState,
    meta: &ClientMeta,
    client: &ClientRow,
    grant: &GrantRow,
    action: &'static str,
) -> Result<(), OAuthError> {
    crate::metrics::token("reuse_detected");
    let audit = reuse_audit(meta, &client.client_id, grant, action);
    let (id, client_row_id) = (grant.id.clone(), client.id.clone());
    let now = state.clock.now();
    // Recorded only when this replay revoked the grant: replaying a spent code again
    // and again must not fill the log with revocations that did not happen.
    state
        .db
        .write(move |conn| {
            if grants_store::revoke(conn, Holder::Client(&client_row_id), &id, now)? {
                audit.record(conn)?;
            }
            Ok::<_, ApiError>(())
        })
        .await?;
    state.auth.invalidate(Invalidate::Grant(&grant.id));
    Ok(())
}

fn reuse_audit(
    meta: &ClientMeta,
    client_id: &str,
    grant: &GrantRow,
    action: &'static str,
) -> Audit {
    Audit::unauthenticated(meta, action)
        .in_subscription(&grant.subscription_id)
        .credential("oauth_client", Some(client_id))
        .target("oauth_grant", &grant.id)
        .subject(&grant.user_id)
        .details(json!({"client_id": client_id, "grant_revoked": true}))
}

/// RFC 6749 §4.1.3: the redirect URI must be repeated if the authorization request
/// named it, and must match whenever it is sent; and the callback the code was issued
/// for must still be registered (a code meant for a URL its client has since dropped
/// is not redeemed).
fn redirect_ok(code: &grants_store::CodeRow, client: &ClientRow, sent: Option<&str>) -> bool {
    let repeated = match sent {
        Some(uri) => uri == code.redirect_uri,
        None => !code.redirect_uri_given,
    };
    repeated
        && crate::auth::client::redirect_matches(&client.redirect_uri_list(), &code.redirect_uri)
}

async fn authorization_code(
    state: &web::Data<AppState>,
    meta: &ClientMeta,
    client: &ClientRow,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing."))?;
    let redirect_uri = params.get("redirect_uri");
    let verifier = params.get("code_verifier");
    let hash = state.auth.tokens.hash(code);
    let found = state
        .db
        .read(move |conn| Ok(grants_store::find_code_with_grant(conn, &hash)?))
        .await?;
    let bad =
        || OAuthError::invalid_grant("The code is invalid, expired, used, or not this client's.");
    let Some((code, grant)) = found else {
        return Err(bad());
    };
    if grant.client_id != client.id {
        return Err(bad());
    }
    let now = state.clock.now();
    // A code of an earlier life of the grant (issued before a revocation) is dead, and
    // replaying it says nothing about the grant as it is now.
    if code.generation != grant.generation {
        return Err(bad());
    }
    if code.used_at.is_some() {
        // A replayed code: whoever holds it is not to be trusted with what it issued.
        revoke_for_reuse(state, meta, client, &grant, "oauth_code.reused").await?;
        return Err(bad());
    }
    if code.expires_at <= now || !redirect_ok(&code, client, redirect_uri) {
        return Err(bad());
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(v)) if pkce::verifies(challenge, v) => {}
        (None, None) => {}
        // A verifier without a challenge is a downgrade attempt (RFC 9700 §2.1.1).
        _ => return Err(OAuthError::invalid_grant("PKCE verification failed.")),
    }
    let issue = Issue {
        access_scopes: code.scopes.clone(),
        refresh_scopes: code.scopes.clone(),
        code_id: code.id.clone(),
        oidc: Oidc {
            nonce: code.nonce.clone(),
            auth_time: Some(code.auth_time),
            sid: code.session_id.clone(),
            amr: code.amr.clone(),
        },
    };
    let issued = issue_tokens(state, client, &grant, issue).await?;
    match issued {
        Some(res) => {
            crate::metrics::token("issued");
            Ok(res)
        }
        None => {
            revoke_for_reuse(state, meta, client, &grant, "oauth_code.reused").await?;
            Err(bad())
        }
    }
}

async fn refresh(
    state: &web::Data<AppState>,
    meta: &ClientMeta,
    client: &ClientRow,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    let token = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing."))?;
    let bad = || {
        OAuthError::invalid_grant(
            "The refresh token is invalid, expired, revoked, or not this client's.",
        )
    };
    if !tokens::has_valid_checksum(REFRESH_PREFIX, token) {
        return Err(bad());
    }
    let asked = params
        .get("scope")
        .map(|a| {
            scopes::parse(a).map_err(|s| OAuthError::invalid_scope(format!("Unknown scope: {s}.")))
        })
        .transpose()?;
    let new_token = tokens::checksummed_secret(REFRESH_PREFIX);
    let work = RefreshWork {
        hash: state.auth.tokens.hash(token),
        new_hash: state.auth.tokens.hash(&new_token),
        client_row_id: client.id.clone(),
        client_id: client.client_id.clone(),
        asked,
        meta: meta.clone(),
        now: state.clock.now(),
    };
    // One trip to the database: the checks, the spend and the new token in one
    // transaction, so no concurrent use of the same token can slip between them.
    let outcome = state.db.write(move |conn| work.run(conn)).await?;
    match outcome {
        RefreshOutcome::Invalid => Err(bad()),
        RefreshOutcome::Widened => Err(OAuthError::invalid_scope(
            "A refresh may only narrow the scopes.",
        )),
        RefreshOutcome::Reused(grant_id) => {
            crate::metrics::token("reuse_detected");
            state.auth.invalidate(Invalidate::Grant(&grant_id));
            Err(bad())
        }
        RefreshOutcome::Issued {
            grant,
            user,
            access_scopes,
            sid,
            auth_time,
            amr,
            now,
        } => {
            // OpenID Connect Core §12.2: a refreshed id_token names the same sign-in.
            let oidc = Oidc {
                nonce: None,
                auth_time,
                sid,
                amr,
            };
            let answer = Answer {
                client,
                grant: &grant,
                user: &user,
                scopes: &access_scopes,
                refresh_token: new_token,
                oidc,
                now,
            };
            let answered = token_response(state, answer).await;
            if answered.is_ok() {
                crate::metrics::token("refreshed");
            }
            answered
        }
    }
}

enum RefreshOutcome {
    Invalid,
    Widened,
    /// A spent token came back: the grant was revoked.
    Reused(String),
    Issued {
        grant: Box<GrantRow>,
        user: Box<UserRow>,
        access_scopes: String,
        sid: Option<String>,
        auth_time: Option<chrono::NaiveDateTime>,
        amr: Option<String>,
        now: chrono::NaiveDateTime,
    },
}

struct RefreshWork {
    hash: String,
    new_hash: String,
    client_row_id: String,
    client_id: String,
    asked: Option<std::collections::BTreeSet<String>>,
    meta: ClientMeta,
    now: chrono::NaiveDateTime,
}

impl RefreshWork {
    fn run(&self, conn: &mut DbConnection) -> Result<RefreshOutcome, ApiError> {
        let now = self.now;
        let Some((refresh, grant, user)) = grants_store::find_refresh_for_use(conn, &self.hash)?
        else {
            return Ok(RefreshOutcome::Invalid);
        };
        if grant.client_id != self.client_row_id {
            return Ok(RefreshOutcome::Invalid);
        }
        if refresh.used_at.is_some() {
            return self.reused(conn, &refresh, grant);
        }
        if refresh.revoked_at.is_some()
            || !grant.is_active()
            || refresh.generation != grant.generation
            || refresh.expires_at <= now
        {
            return Ok(RefreshOutcome::Invalid);
        }
        let held = scopes::split(&refresh.scopes);
        let access_scopes = match &self.asked {
            None => refresh.scopes.clone(),
            Some(asked) if !asked.is_empty() && held.is_superset(asked) => scopes::join(asked),
            Some(_) => return Ok(RefreshOutcome::Widened),
        };
        // Refused before the token is spent: an admin's lock can be lifted, and the
        // app's retry with the same token must not look like a replay then.
        if user.state != gatehouse_types::UserState::Active {
            return Ok(RefreshOutcome::Invalid);
        }
        if !grants_store::spend_refresh(conn, &refresh.id, now)? {
            // Spent by a concurrent request (PostgreSQL): the same tripwire.
            return self.reused(conn, &refresh, grant);
        }
        // RFC 6749 §6: the new refresh token keeps the old one's scope; only the access
        // token may be narrowed.
        store_refresh(
            conn,
            &grant,
            &self.new_hash,
            &refresh.scopes,
            SignedIn {
                session_id: refresh.session_id.as_deref(),
                auth_time: refresh.auth_time,
                amr: refresh.amr.as_deref(),
            },
            now,
        )?;
        Ok(RefreshOutcome::Issued {
            grant: Box::new(grant),
            user: Box::new(user),
            access_scopes,
            sid: refresh.session_id.clone(),
            auth_time: refresh.auth_time,
            amr: refresh.amr.clone(),
            now,
        })
    }

    /// Rotation's tripwire (RFC 9700 §4.14.2): a spent token came back, so one of its
    /// two holders is an attacker. Revoke the whole grant, in this transaction.
    fn reused(
        &self,
        conn: &mut DbConnection,
        refresh: &grants_store::RefreshRow,
        grant: GrantRow,
    ) -> Result<RefreshOutcome, ApiError> {
        if refresh.revoked_at.is_some() || !grant.is_active() {
            return Ok(RefreshOutcome::Invalid);
        }
        grants_store::revoke(
            conn,
            Holder::Client(&self.client_row_id),
            &grant.id,
            self.now,
        )?;
        reuse_audit(
            &self.meta,
            &self.client_id,
            &grant,
            "oauth_refresh_token.reused",
        )
        .record(conn)?;
        Ok(RefreshOutcome::Reused(grant.id))
    }
}

/// What an id_token repeats from the authorization: the client's `nonce` and when the
/// user signed in. Refreshes have neither.
pub(super) struct Oidc {
    pub(super) nonce: Option<String>,
    pub(super) auth_time: Option<chrono::NaiveDateTime>,
    /// The Gatehouse session the authorization happened in (Back-Channel Logout's
    /// `sid`); kept by the refresh tokens issued from it.
    pub(super) sid: Option<String>,
    /// How the person signed in (`pwd`, `pwd otp`), for `amr` and `acr`.
    pub(super) amr: Option<String>,
}

/// What a code exchange issues, and the code it uses up.
struct Issue {
    access_scopes: String,
    refresh_scopes: String,
    /// The code this exchange uses up.
    code_id: String,
    oidc: Oidc,
}

/// Spends the code and issues an access token and a refresh token under the grant, all
/// in one transaction. `None` when the code was spent concurrently (a reuse).
async fn issue_tokens(
    state: &web::Data<AppState>,
    client: &ClientRow,
    grant: &GrantRow,
    issue: Issue,
) -> Result<Option<HttpResponse>, OAuthError> {
    let Issue {
        access_scopes,
        refresh_scopes,
        code_id,
        oidc,
    } = issue;
    let scopes = access_scopes.as_str();
    let now = state.clock.now();
    let session_id = oidc.sid.clone();
    let auth_time = oidc.auth_time;
    let amr = oidc.amr.clone();
    let refresh_token = tokens::checksummed_secret(REFRESH_PREFIX);
    let refresh_hash = state.auth.tokens.hash(&refresh_token);
    let (grant_id, scopes_owned) = (grant.id.clone(), refresh_scopes);
    let generation = grant.generation;
    let user_id = grant.user_id.clone();
    let spent: Option<(GrantRow, UserRow)> = state
        .db
        .write(move |conn| {
            if !grants_store::use_code(conn, &code_id, now)? {
                return Ok(None);
            }
            // The grant and user as they are now, inside the transaction.
            let Some(grant) = grants_store::find_by_id(conn, &grant_id)? else {
                return Ok(None);
            };
            let user = find_user(conn, &user_id)?;
            if !grant.is_active() || grant.generation != generation {
                return Ok(Some((grant, user)));
            }
            store_refresh(
                conn,
                &grant,
                &refresh_hash,
                &scopes_owned,
                SignedIn {
                    session_id: session_id.as_deref(),
                    auth_time,
                    amr: amr.as_deref(),
                },
                now,
            )?;
            Ok::<_, ApiError>(Some((grant, user)))
        })
        .await?;
    let Some((current, user)) = spent else {
        return Ok(None);
    };
    if !current.is_active() || current.generation != generation {
        return Err(OAuthError::invalid_grant("The authorization was revoked."));
    }
    if user.state != gatehouse_types::UserState::Active {
        return Err(OAuthError::invalid_grant("The user is not active."));
    }
    let answer = Answer {
        client,
        grant: &current,
        user: &user,
        scopes,
        refresh_token,
        oidc,
        now,
    };
    token_response(state, answer).await.map(Some)
}

/// The tokens about to be handed out: to which client, under which grant (as it is
/// now), for whom, with which scopes for the access token.
pub(super) struct Answer<'a> {
    pub(super) client: &'a ClientRow,
    pub(super) grant: &'a GrantRow,
    pub(super) user: &'a UserRow,
    pub(super) scopes: &'a str,
    pub(super) refresh_token: String,
    pub(super) oidc: Oidc,
    pub(super) now: chrono::NaiveDateTime,
}

/// Signs the access token (and, with `openid`, the id_token) and answers.
pub(super) async fn token_response(
    state: &web::Data<AppState>,
    answer: Answer<'_>,
) -> Result<HttpResponse, OAuthError> {
    let Answer {
        client,
        grant,
        user,
        scopes,
        now,
        ..
    } = &answer;
    let access_token = sign_access_token(state, client, grant, user, scopes, *now)?;
    let granted = scopes::split(scopes);
    let id_token = if granted.contains("openid") {
        Some(id_token(state, &answer, &granted, &access_token).await?)
    } else {
        None
    };
    Ok(token_answer(TokenResponse {
        access_token: &access_token,
        token_type: "Bearer",
        expires_in: ACCESS_TOKEN_TTL.num_seconds(),
        refresh_token: Some(&answer.refresh_token),
        scope: scopes,
        id_token,
    }))
}

/// The RFC 9068 access token for the user under the grant.
fn sign_access_token(
    state: &AppState,
    client: &ClientRow,
    grant: &GrantRow,
    user: &UserRow,
    scopes: &str,
    now: chrono::NaiveDateTime,
) -> Result<String, OAuthError> {
    let claims = AccessClaims {
        iss: state.auth.signing.issuer().to_string(),
        aud: state.auth.signing.audience().to_string(),
        sub: user.id.clone(),
        exp: (now + ACCESS_TOKEN_TTL).and_utc().timestamp(),
        iat: now.and_utc().timestamp(),
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.client_id.clone(),
        scope: scopes.to_string(),
        grant: grant.id.clone(),
        generation: grant.generation,
    };
    state
        .auth
        .signing
        .sign(ACCESS_TOKEN_TYPE, &claims)
        .map_err(|e| OAuthError::from(ApiError::Internal(e)))
}

/// The token endpoint's answer: never cached (RFC 6749 §5.1).
fn token_answer(body: TokenResponse<'_>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// The OpenID Connect id_token (Core §2): who signed in, for which client, signed
/// RS256; `at_hash` binds it to the access token issued beside it.
async fn id_token(
    state: &web::Data<AppState>,
    answer: &Answer<'_>,
    scopes: &std::collections::BTreeSet<String>,
    access_token: &str,
) -> Result<String, OAuthError> {
    let Answer {
        client,
        user,
        oidc,
        now,
        ..
    } = answer;
    let now = *now;
    if !state.auth.signing.has_rsa() {
        let st = state.clone();
        state
            .db
            .write(move |conn| Ok(st.auth.signing.ensure_rsa(conn)?))
            .await?;
    }
    let digest = Sha256::digest(access_token.as_bytes());
    let mut claims = json!({
        "iss": state.auth.signing.issuer(),
        "sub": user.id,
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now.and_utc().timestamp(),
        "exp": (now + ACCESS_TOKEN_TTL).and_utc().timestamp(),
        "at_hash": URL_SAFE_NO_PAD.encode(&digest[..16]),
    });
    if let Some(nonce) = &oidc.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(at) = oidc.auth_time {
        claims["auth_time"] = json!(at.and_utc().timestamp());
    }
    if let Some(session) = &oidc.sid {
        claims["sid"] = json!(tokens::sid(session));
    }
    if let Some(amr) = &oidc.amr {
        let (methods, acr) = amr_and_acr(amr);
        claims["amr"] = json!(methods);
        claims["acr"] = json!(acr);
    }
    for (k, v) in super::userinfo::claims(user, scopes) {
        claims[k] = v;
    }
    state
        .auth
        .signing
        .sign_id_token(&claims)
        .map_err(|e| OAuthError::from(ApiError::Internal(e)))
}

/// `acr` of a sign-in with a password alone…
pub const ACR_PASSWORD: &str = "urn:gatehouse:acr:password";
/// …and with a second step too.
pub const ACR_TWO_STEP: &str = "urn:gatehouse:acr:two-step";

/// A session's `amr` as id_tokens say it (RFC 8176: `mfa` whenever more than one kind
/// of proof was given), and the `acr` it meets.
pub fn amr_and_acr(amr: &str) -> (Vec<&str>, &'static str) {
    let mut methods: Vec<&str> = amr.split_whitespace().collect();
    if methods.len() > 1 {
        methods.push("mfa");
        (methods, ACR_TWO_STEP)
    } else {
        (methods, ACR_PASSWORD)
    }
}

/// The sign-in a chain of refresh tokens began with: the browser session (`sid`), when
/// the person authenticated (`auth_time`) and how (`amr`), all kept across rotation.
#[derive(Clone, Copy)]
pub(super) struct SignedIn<'a> {
    pub session_id: Option<&'a str>,
    pub auth_time: Option<chrono::NaiveDateTime>,
    pub amr: Option<&'a str>,
}

/// Stores a new refresh token under the grant (in the caller's transaction) and marks
/// the grant used — at most once a minute, as keys are: no write per refresh.
pub(super) fn store_refresh(
    conn: &mut DbConnection,
    grant: &GrantRow,
    token_hash: &str,
    scopes: &str,
    signed_in: SignedIn<'_>,
    now: chrono::NaiveDateTime,
) -> Result<(), ApiError> {
    grants_store::insert_refresh(
        conn,
        &NewRefresh {
            id: &uuid::Uuid::now_v7().to_string(),
            token_hash,
            grant_id: &grant.id,
            generation: grant.generation,
            scopes,
            created_at: now,
            expires_at: now + REFRESH_TOKEN_TTL,
            session_id: signed_in.session_id,
            auth_time: signed_in.auth_time,
            amr: signed_in.amr,
        },
    )?;
    if grant
        .last_used_at
        .is_none_or(|at| now - at >= clock::TOUCH_INTERVAL)
    {
        grants_store::touch(conn, &grant.id, now)?;
    }
    Ok(())
}

fn find_user(conn: &mut DbConnection, id: &str) -> Result<UserRow, ApiError> {
    crate::db::users::find(conn, id)?.ok_or(ApiError::NotFound)
}
