//! OAuth client authentication (RFC 6749 §2.3): reading the credentials a client sent
//! (HTTP Basic, form fields, or a bare `client_id` for public clients), checking them
//! with failures rate limited per client and caller address, and which redirect URIs
//! are a client's own.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::auth::cache::CachedClient;
use crate::auth::{Authenticator, ClientMeta, tokens};
use crate::db::oauth_clients::{self as store, ClientRow};
use crate::error::ApiError;

/// Every client secret starts with this (then random bytes and a checksum).
pub const SECRET_PREFIX: &str = "gats_";

/// Why a client was not authenticated; the protocol endpoints answer each in RFC 6749
/// §5.2's terms (`invalid_request`, `invalid_client`, 429).
#[derive(Debug)]
pub enum ClientAuthError {
    /// The credentials are malformed or contradict each other.
    Malformed(&'static str),
    /// The credentials are wrong, missing, or name no client.
    Refused(&'static str),
    /// Too many failures from this address for this client: wait this many seconds.
    TooMany(u64),
    /// The check could not be made.
    Failed(ApiError),
}

impl From<ApiError> for ClientAuthError {
    fn from(e: ApiError) -> Self {
        ClientAuthError::Failed(e)
    }
}

/// The client's credentials as sent: HTTP Basic (`client_secret_basic`), form fields
/// (`client_secret_post`), or a bare `client_id` for public clients (`none`).
pub struct ClientCredentials {
    pub client_id: String,
    secret: Option<String>,
}

impl ClientCredentials {
    /// Reads them from the `Authorization: Basic` header, or else from the form's
    /// `client_id` and `client_secret`. One method only: Basic with a form secret, or
    /// a form `client_id` that differs from Basic's, is malformed.
    pub fn of(
        req: &HttpRequest,
        form_client_id: Option<&str>,
        form_secret: Option<&str>,
    ) -> Result<ClientCredentials, ClientAuthError> {
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
        let Some(encoded) = basic else {
            let client_id = form_client_id.ok_or(ClientAuthError::Refused(
                "Client authentication is missing.",
            ))?;
            return Ok(ClientCredentials {
                client_id: client_id.to_string(),
                secret: form_secret.map(str::to_string),
            });
        };
        if form_secret.is_some() {
            return Err(ClientAuthError::Malformed(
                "Use one client authentication method, not two.",
            ));
        }
        let malformed = || ClientAuthError::Refused("Malformed Basic credentials.");
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(malformed)?;
        let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
        // RFC 6749 §2.3.1: both parts are form-urlencoded before Base64.
        let unescape = |s: &str| -> String {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let client_id = unescape(id);
        if form_client_id.is_some_and(|f| f != client_id) {
            return Err(ClientAuthError::Malformed(
                "client_id differs from the Basic credentials.",
            ));
        }
        Ok(ClientCredentials {
            client_id,
            secret: Some(unescape(secret)),
        })
    }

    /// Whether the caller sent a client secret at all.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// Checks them: the client exists and the secret is its own (a public client sends
    /// none). Failures are counted per client *and* caller address, so that someone
    /// guessing one client's secret from one place cannot lock it out everywhere; an
    /// unknown client is not counted (there is nothing to guess at).
    pub async fn authenticate(
        &self,
        auth: &Authenticator,
        meta: &ClientMeta,
    ) -> Result<ClientRow, ClientAuthError> {
        let outcome = super::traced_with("oauth_client", self.check(auth, meta), |r| match r {
            Ok(_) => "ok",
            Err(ClientAuthError::TooMany(_)) => "throttled",
            Err(ClientAuthError::Failed(_)) => "error",
            Err(_) => "refused",
        });
        outcome.await
    }

    async fn check(
        &self,
        auth: &Authenticator,
        meta: &ClientMeta,
    ) -> Result<ClientRow, ClientAuthError> {
        let limit_key = format!(
            "{}|{}",
            self.client_id,
            crate::client_address::limit_key(meta.ip.as_deref().unwrap_or("-"))
        );
        if let Some(wait) = auth.client_auth_limiter.blocked(&limit_key) {
            return Err(ClientAuthError::TooMany(wait));
        }
        let fail = |why: &'static str| {
            auth.client_auth_limiter.record_failure(&limit_key);
            ClientAuthError::Refused(why)
        };
        let Some(client) = find(auth, &self.client_id).await? else {
            return Err(ClientAuthError::Refused("Unknown client."));
        };
        match (&client.secret_hash, &self.secret) {
            (Some(stored), Some(secret)) => {
                let ok = tokens::has_valid_checksum(SECRET_PREFIX, secret)
                    && tokens::constant_time_eq(&auth.tokens.hash(secret), stored);
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
}

/// A registered client by its `client_id`, through the cache: a secret reset or a
/// deletion drops the entry at once on this replica, within the cache TTL on others.
pub async fn find(auth: &Authenticator, client_id: &str) -> Result<Option<ClientRow>, ApiError> {
    if client_id.len() != 32 || !client_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let cached = auth
        .clients
        .get_or_load(client_id, || async {
            let id = client_id.to_string();
            let found = auth
                .db
                .read(move |conn| Ok(store::find_by_client_id(conn, &id)?))
                .await?;
            Ok(found.map(|client| CachedClient { client }))
        })
        .await?;
    Ok(cached.map(|c| c.client.clone()))
}

/// Whether `requested` is one of the client's registered redirect URIs: exactly, except
/// that a loopback `http` URI matches on any port (RFC 8252 §7.3), since native apps
/// listen on whatever port the system gives them.
pub fn redirect_matches(registered: &[String], requested: &str) -> bool {
    registered
        .iter()
        .any(|r| r == requested || loopback_equal_but_port(r, requested))
}

fn loopback_equal_but_port(registered: &str, requested: &str) -> bool {
    let (Ok(a), Ok(b)) = (url::Url::parse(registered), url::Url::parse(requested)) else {
        return false;
    };
    let loopback = |u: &url::Url| {
        u.scheme() == "http"
            && matches!(
                u.host_str(),
                Some("127.0.0.1") | Some("[::1]") | Some("localhost")
            )
    };
    loopback(&a)
        && loopback(&b)
        && a.host_str() == b.host_str()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.username() == b.username()
        && a.password() == b.password()
        && b.fragment().is_none()
}
