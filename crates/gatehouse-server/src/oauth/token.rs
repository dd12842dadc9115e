//! `POST /oauth/token` (and Rally's `/login/oauth2/token`): the authorization-code
//! grant with PKCE, and the refresh-token grant with rotation and reuse detection.
//! Errors follow RFC 6749 §5.2 (`OAuthError`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::error::OAuthError;
use super::{ACCESS_TOKEN_TTL, REFRESH_PREFIX, REFRESH_TOKEN_TTL};
use crate::audit::Audit;
use crate::auth::cache::Invalidate;
use crate::auth::client::SECRET_PREFIX;
use crate::auth::jwt::{ACCESS_TOKEN_TYPE, AccessClaims};
use crate::auth::scopes;
use crate::auth::{ClientMeta, effective_state, tokens};
use crate::clock;
use crate::db::DbConnection;
use crate::db::grants::{self as grants_store, GrantRow, NewRefresh};
use crate::db::oauth_clients::{self as clients_store, ClientRow};
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::state::AppState;

pub(super) type Params = Vec<(String, String)>;

pub(super) fn get<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Reads the form body: `application/x-www-form-urlencoded`, each parameter at most
/// once (RFC 6749 §3.2).
pub(super) fn form(req: &HttpRequest, body: &[u8]) -> Result<Params, OAuthError> {
    if !super::is_form(req) {
        return Err(OAuthError::invalid_request(
            "The body must be application/x-www-form-urlencoded.",
        ));
    }
    let params: Params = serde_urlencoded::from_bytes(body)
        .map_err(|_| OAuthError::invalid_request("The body cannot be read."))?;
    if let Some(dup) = super::repeated(&params, super::TOKEN_PARAMS) {
        return Err(OAuthError::invalid_request(format!(
            "`{dup}` appears more than once."
        )));
    }
    Ok(params)
}

/// The client's credentials: HTTP Basic (`client_secret_basic`), form fields
/// (`client_secret_post`), or a bare `client_id` for public clients (`none`).
pub(super) struct ClientCredentials {
    client_id: String,
    secret: Option<String>,
}

impl ClientCredentials {
    /// Whether the caller sent a client secret at all.
    pub(super) fn has_secret(&self) -> bool {
        self.secret.is_some()
    }
}

pub(super) fn client_credentials(
    req: &HttpRequest,
    params: &Params,
) -> Result<ClientCredentials, OAuthError> {
    let basic = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("basic")
                .then(|| rest.trim().to_string())
        });
    if let Some(encoded) = basic {
        if get(params, "client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "Use one client authentication method, not two.",
            ));
        }
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials."))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| OAuthError::invalid_client("Malformed Basic credentials."))?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
        let unescape = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let client_id = unescape(id);
        if get(params, "client_id").is_some_and(|f| f != client_id) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the Basic credentials.",
            ));
        }
        return Ok(ClientCredentials {
            client_id,
            secret: Some(unescape(secret)),
        });
    }
    let client_id = get(params, "client_id")
        .ok_or_else(|| OAuthError::invalid_client("Client authentication is missing."))?;
    Ok(ClientCredentials {
        client_id: client_id.to_string(),
        secret: get(params, "client_secret").map(str::to_string),
    })
}

/// Authenticates the client, rate limiting failures per `client_id`.
pub(super) async fn authenticate_client(
    state: &AppState,
    creds: &ClientCredentials,
    meta: &ClientMeta,
) -> Result<ClientRow, OAuthError> {
    // Failures are counted per client *and* caller address: someone guessing one
    // client's secret from one place cannot lock the client out everywhere.
    let limit_key = format!(
        "{}|{}",
        creds.client_id,
        crate::client_address::limit_key(meta.ip.as_deref().unwrap_or("-"))
    );
    if let Some(wait) = state.auth.client_auth_limiter.blocked(&limit_key) {
        return Err(OAuthError::too_many_attempts(wait));
    }
    let fail = |why: &str| {
        state.auth.client_auth_limiter.record_failure(&limit_key);
        OAuthError::invalid_client(why)
    };
    let lookup = creds.client_id.clone();
    let client = if lookup.len() != 32 || !lookup.bytes().all(|b| b.is_ascii_hexdigit()) {
        None
    } else {
        // Cached like keys and grants: a secret reset or deletion drops the entry at
        // once here, and within the cache TTL on other replicas.
        state
            .auth
            .clients
            .get_or_load(&lookup, || async {
                let id = lookup.clone();
                let found = state
                    .db
                    .read(move |conn| Ok(clients_store::find_by_client_id(conn, &id)?))
                    .await?;
                Ok(found.map(|client| crate::auth::cache::CachedClient { client }))
            })
            .await?
            .map(|cached| cached.client.clone())
    };
    let Some(client) = client else {
        // Nothing to guess at for an unknown client: not counted.
        return Err(OAuthError::invalid_client("Unknown client."));
    };
    match (&client.secret_hash, &creds.secret) {
        (Some(stored), Some(secret)) => {
            let ok = tokens::has_valid_checksum(SECRET_PREFIX, secret)
                && tokens::constant_time_eq(&state.auth.tokens.hash(secret), stored);
            if !ok {
                return Err(fail("Client authentication failed."));
            }
        }
        (Some(_), None) => return Err(fail("This client must authenticate with its secret.")),
        (None, Some(_)) => return Err(fail("A public client has no secret.")),
        (None, None) => {}
    }
    Ok(client)
}

#[tracing::instrument(name = "oauth.token", skip_all)]
pub async fn token(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, OAuthError> {
    let params = form(&req, &body)?;
    let creds = client_credentials(&req, &params)?;
    let meta = ClientMeta::of(&req);
    let client = authenticate_client(&state, &creds, &meta).await?;
    match get(&params, "grant_type") {
        Some("authorization_code") => authorization_code(&state, &meta, &client, &params).await,
        Some("refresh_token") => refresh(&state, &meta, &client, &params).await,
        Some(other) => Err(OAuthError::unsupported_grant_type(format!(
            "`{other}` is not supported; use authorization_code or refresh_token."
        ))),
        None => Err(OAuthError::invalid_request("grant_type is missing.")),
    }
}

/// Revokes a grant after a replayed code or refresh token, and records why.
async fn revoke_for_reuse(
    state: &AppState,
    meta: &ClientMeta,
    client: &ClientRow,
    grant: &GrantRow,
    action: &'static str,
) -> Result<(), OAuthError> {
    let audit = reuse_audit(meta, &client.client_id, grant, action);
    let id = grant.id.clone();
    let now = clock::now();
    audit
        .write(&state.db, move |conn| {
            grants_store::revoke(conn, &id, now)?;
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

fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn verifier_ok(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

async fn authorization_code(
    state: &web::Data<AppState>,
    meta: &ClientMeta,
    client: &ClientRow,
    params: &Params,
) -> Result<HttpResponse, OAuthError> {
    let code =
        get(params, "code").ok_or_else(|| OAuthError::invalid_request("code is missing."))?;
    let redirect_uri = get(params, "redirect_uri");
    let verifier = get(params, "code_verifier");
    let hash = state.auth.tokens.hash(code);
    let found = state
        .db
        .read(move |conn| {
            let Some(code) = grants_store::find_code(conn, &hash)? else {
                return Ok(None);
            };
            let grant = grants_store::find_by_id(conn, &code.grant_id)?;
            Ok(grant.map(|g| (code, g)))
        })
        .await?;
    let bad =
        || OAuthError::invalid_grant("The code is invalid, expired, used, or not this client's.");
    let Some((code, grant)) = found else {
        return Err(bad());
    };
    if grant.client_id != client.id {
        return Err(bad());
    }
    let now = clock::now();
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
    // RFC 6749 §4.1.3: the redirect URI must be repeated if the authorization request
    // named it, and must match whenever it is sent.
    let redirect_ok = match redirect_uri {
        Some(uri) => uri == code.redirect_uri,
        None => !code.redirect_uri_given,
    };
    // The callback the code was issued for must still be registered: a code meant for
    // a URL its client has since dropped is not redeemed.
    let still_registered =
        crate::auth::client::redirect_matches(&client.redirect_uri_list(), &code.redirect_uri);
    if code.expires_at <= now || !redirect_ok || !still_registered {
        return Err(bad());
    }
    match (&code.code_challenge, verifier) {
        (Some(challenge), Some(v))
            if verifier_ok(v) && tokens::constant_time_eq(&pkce_s256(v), challenge) => {}
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
        },
    };
    let issued = issue_tokens(state, client, &grant, issue).await?;
    match issued {
        Some(res) => Ok(res),
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
    let token = get(params, "refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing."))?;
    let bad = || {
        OAuthError::invalid_grant(
            "The refresh token is invalid, expired, revoked, or not this client's.",
        )
    };
    if !tokens::has_valid_checksum(REFRESH_PREFIX, token) {
        return Err(bad());
    }
    let asked = get(params, "scope")
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
        now: clock::now(),
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
            state.auth.invalidate(Invalidate::Grant(&grant_id));
            Err(bad())
        }
        RefreshOutcome::Issued {
            grant,
            user,
            access_scopes,
            now,
        } => {
            let oidc = Oidc {
                nonce: None,
                auth_time: None,
            };
            token_response(
                state,
                client,
                &grant.id,
                grant.generation,
                &user,
                &access_scopes,
                new_token,
                oidc,
                now,
            )
            .await
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
        if effective_state(&user) != gatehouse_types::UserState::Active {
            return Ok(RefreshOutcome::Invalid);
        }
        if !grants_store::spend_refresh(conn, &refresh.id, now)? {
            // Spent by a concurrent request (PostgreSQL): the same tripwire.
            return self.reused(conn, &refresh, grant);
        }
        // RFC 6749 §6: the new refresh token keeps the old one's scope; only the access
        // token may be narrowed.
        grants_store::insert_refresh(
            conn,
            &NewRefresh {
                id: &uuid::Uuid::now_v7().to_string(),
                token_hash: &self.new_hash,
                grant_id: &grant.id,
                generation: grant.generation,
                scopes: &refresh.scopes,
                created_at: now,
                expires_at: now + REFRESH_TOKEN_TTL,
            },
        )?;
        // `last_used_at` is precise to a minute, as for keys: no write per refresh.
        if grant
            .last_used_at
            .is_none_or(|at| now - at >= clock::TOUCH_INTERVAL)
        {
            grants_store::touch(conn, &grant.id, now)?;
        }
        Ok(RefreshOutcome::Issued {
            grant: Box::new(grant),
            user: Box::new(user),
            access_scopes,
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
        grants_store::revoke(conn, &grant.id, self.now)?;
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
struct Oidc {
    nonce: Option<String>,
    auth_time: Option<chrono::NaiveDateTime>,
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
    let now = clock::now();
    let refresh_token = tokens::checksummed_secret(REFRESH_PREFIX);
    let refresh_hash = state.auth.tokens.hash(&refresh_token);
    let (grant_id, scopes_owned) = (grant.id.clone(), refresh_scopes);
    let generation = grant.generation;
    let last_used = grant.last_used_at;
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
            grants_store::insert_refresh(
                conn,
                &NewRefresh {
                    id: &uuid::Uuid::now_v7().to_string(),
                    token_hash: &refresh_hash,
                    grant_id: &grant_id,
                    generation,
                    scopes: &scopes_owned,
                    created_at: now,
                    expires_at: now + REFRESH_TOKEN_TTL,
                },
            )?;
            // `last_used_at` is precise to a minute, as for keys: no write per refresh.
            if last_used.is_none_or(|at| now - at >= clock::TOUCH_INTERVAL) {
                grants_store::touch(conn, &grant_id, now)?;
            }
            Ok::<_, ApiError>(Some((grant, user)))
        })
        .await?;
    let Some((current, user)) = spent else {
        return Ok(None);
    };
    if !current.is_active() || current.generation != generation {
        return Err(OAuthError::invalid_grant("The authorization was revoked."));
    }
    if effective_state(&user) != gatehouse_types::UserState::Active {
        return Err(OAuthError::invalid_grant("The user is not active."));
    }
    token_response(
        state,
        client,
        &grant.id,
        generation,
        &user,
        scopes,
        refresh_token,
        oidc,
        now,
    )
    .await
    .map(Some)
}

/// Signs the access token (and, with `openid`, the id_token) and answers.
#[allow(clippy::too_many_arguments)]
async fn token_response(
    state: &web::Data<AppState>,
    client: &ClientRow,
    grant_id: &str,
    generation: i64,
    user: &UserRow,
    scopes: &str,
    refresh_token: String,
    oidc: Oidc,
    now: chrono::NaiveDateTime,
) -> Result<HttpResponse, OAuthError> {
    let claims = AccessClaims {
        iss: state.auth.signing.issuer().to_string(),
        aud: state.auth.signing.audience().to_string(),
        sub: user.id.clone(),
        exp: (now + ACCESS_TOKEN_TTL).and_utc().timestamp(),
        iat: now.and_utc().timestamp(),
        jti: uuid::Uuid::new_v4().to_string(),
        client_id: client.client_id.clone(),
        scope: scopes.to_string(),
        grant: grant_id.to_string(),
        generation,
    };
    let access_token = state
        .auth
        .signing
        .sign(ACCESS_TOKEN_TYPE, &claims)
        .map_err(|e| OAuthError::from(ApiError::Internal(e)))?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL.num_seconds(),
        "refresh_token": refresh_token,
        "scope": scopes,
    });
    let granted = scopes::split(scopes);
    if granted.contains("openid") {
        body["id_token"] =
            json!(id_token(state, client, user, &granted, &access_token, oidc, now).await?);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body))
}

/// The OpenID Connect id_token (Core §2): who signed in, for which client, signed
/// RS256; `at_hash` binds it to the access token issued beside it.
async fn id_token(
    state: &web::Data<AppState>,
    client: &ClientRow,
    user: &UserRow,
    scopes: &std::collections::BTreeSet<String>,
    access_token: &str,
    oidc: Oidc,
    now: chrono::NaiveDateTime,
) -> Result<String, OAuthError> {
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
    if let Some(nonce) = oidc.nonce {
        claims["nonce"] = json!(nonce);
    }
    if let Some(at) = oidc.auth_time {
        claims["auth_time"] = json!(at.and_utc().timestamp());
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

fn find_user(conn: &mut DbConnection, id: &str) -> Result<UserRow, ApiError> {
    crate::db::users::find(conn, id)?.ok_or(ApiError::NotFound)
}
