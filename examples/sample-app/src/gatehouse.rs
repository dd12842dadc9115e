//! Everything this app asks of Gatehouse: discovery, the OAuth 2 flows (through the
//! `oauth2` crate), token revocation, `userinfo` and the API-key list.

use std::fmt;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AccessToken, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    DeviceAuthorizationUrl, EndpointNotSet, EndpointSet, ErrorResponseType, ExtraTokenFields,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardDeviceAuthorizationResponse, StandardErrorResponse, StandardRevocableToken,
    StandardTokenResponse, TokenUrl,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

/// The token endpoint's answer: the standard fields plus OpenID Connect's `id_token`.
pub type TokenSet = StandardTokenResponse<IdTokenField, BasicTokenType>;

type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    TokenSet,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,    // authorization endpoint
    EndpointNotSet, // device authorization endpoint
    EndpointNotSet, // introspection endpoint
    EndpointNotSet, // revocation endpoint: see `Gatehouse::revoke`
    EndpointSet,    // token endpoint
>;

/// The same client as the device flow sees it (RFC 8628): only the device authorization
/// and token endpoints.
type DeviceClient = oauth2::Client<
    BasicErrorResponse,
    TokenSet,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

#[derive(Clone, Default, Deserialize, Serialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

// The `oauth2` crate wants `Debug`; never print a token, even by accident.
impl fmt::Debug for IdTokenField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.id_token.as_ref().map(|_| "[redacted]");
        f.debug_struct("IdTokenField")
            .field("id_token", &shown)
            .finish()
    }
}

/// The parts of `/.well-known/openid-configuration` this app uses.
#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    revocation_endpoint: Option<String>,
    device_authorization_endpoint: Option<String>,
    end_session_endpoint: Option<String>,
}

/// Gatehouse as this app knows it, from discovery and the app's registration.
pub struct Gatehouse {
    http: reqwest::Client,
    oauth: OAuthClient,
    issuer: String,
    client_id: String,
    client_secret: Option<ClientSecret>,
    userinfo: Url,
    revocation: Url,
    api_keys: Url,
    scopes: Vec<String>,
    token_endpoint: String,
    device_authorization: Option<String>,
    end_session: Option<Url>,
}

/// A failed OAuth call: the RFC 6749 error code Gatehouse answered with, or a code
/// of ours when the call did not get that far.
pub struct OAuthFailure {
    pub code: String,
    pub description: Option<String>,
    /// Gatehouse could not be reached, or answered something that is not OAuth.
    pub transport: bool,
}

impl fmt::Display for OAuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.description {
            Some(d) => write!(f, "{} ({d})", self.code),
            None => f.write_str(&self.code),
        }
    }
}

/// A failed API call: the HTTP status and Gatehouse's error code and message, read
/// from `{"error":{"code","message"}}` (the API) or `{"error","error_description"}`
/// (OAuth endpoints such as `userinfo`).
pub struct ApiFailure {
    pub call: &'static str,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// `GET /oauth/userinfo`: `sub` always, the rest as the scopes allow.
#[derive(Deserialize)]
pub struct UserInfo {
    pub sub: String,
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
}

/// One page of `GET /api/v1/api-keys`.
#[derive(Deserialize)]
pub struct KeyPage {
    pub items: Vec<ApiKey>,
    pub next_cursor: Option<String>,
}

#[derive(Deserialize)]
pub struct ApiKey {
    pub name: String,
    pub hint: String,
    pub permission: String,
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// What the app keeps from a checked id_token.
pub struct IdClaims {
    pub sub: String,
}

impl Gatehouse {
    /// Reads `{base}/.well-known/openid-configuration` and sets up the OAuth client.
    pub async fn discover(
        http: reqwest::Client,
        base: &str,
        client_id: String,
        client_secret: Option<String>,
        redirect_uri: &str,
        scopes: Vec<String>,
    ) -> anyhow::Result<Self> {
        let url = format!("{base}/.well-known/openid-configuration");
        let res = http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("reading {url} (is Gatehouse running?)"))?;
        if !res.status().is_success() {
            bail!("{url} answered {}", res.status());
        }
        let d: Discovery = res
            .json()
            .await
            .with_context(|| format!("{url} is not OpenID Connect discovery metadata"))?;
        if d.issuer.trim_end_matches('/') != base {
            // OpenID Connect wants them equal; a mismatch is usually localhost versus
            // 127.0.0.1. The endpoints below come from the metadata either way.
            eprintln!(
                "sample-app: warning: Gatehouse's issuer is {} but --gatehouse is {base}",
                d.issuer
            );
        }
        let missing = |name: &str| anyhow!("the discovery metadata at {url} has no {name}");
        let userinfo = d
            .userinfo_endpoint
            .ok_or_else(|| missing("userinfo_endpoint"))?;
        let revocation = d
            .revocation_endpoint
            .ok_or_else(|| missing("revocation_endpoint"))?;
        let mut oauth = oauth2::Client::new(ClientId::new(client_id.clone()))
            .set_auth_uri(AuthUrl::new(d.authorization_endpoint).context("authorization_endpoint")?)
            .set_token_uri(TokenUrl::new(d.token_endpoint.clone()).context("token_endpoint")?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).context("redirect URI")?);
        // With a secret the crate authenticates with HTTP Basic (client_secret_basic);
        // without one it sends `client_id` in the form (a public client, auth `none`).
        let client_secret = client_secret.map(ClientSecret::new);
        if let Some(secret) = &client_secret {
            oauth = oauth.set_client_secret(secret.clone());
        }
        Ok(Self {
            http,
            oauth,
            issuer: d.issuer,
            client_id,
            client_secret,
            userinfo: Url::parse(&userinfo).context("userinfo_endpoint")?,
            revocation: Url::parse(&revocation).context("revocation_endpoint")?,
            api_keys: Url::parse(&format!("{base}/api/v1/api-keys?limit=200"))
                .context("--gatehouse")?,
            scopes,
            token_endpoint: d.token_endpoint,
            device_authorization: d.device_authorization_endpoint,
            end_session: d
                .end_session_endpoint
                .map(|u| Url::parse(&u))
                .transpose()
                .context("end_session_endpoint")?,
        })
    }

    /// Where to send the browser to sign out of Gatehouse too (OpenID Connect
    /// RP-Initiated Logout): the end-session endpoint with the id_token as the hint,
    /// our client id, and where to come back to (registered with the client as a
    /// sign-out return URL). `None` when Gatehouse has no such endpoint.
    pub fn end_session_url(&self, id_token: Option<&str>, back_to: &str) -> Option<Url> {
        let mut url = self.end_session.clone()?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(hint) = id_token {
                q.append_pair("id_token_hint", hint);
            }
            q.append_pair("client_id", &self.client_id)
                .append_pair("post_logout_redirect_uri", back_to);
        }
        Some(url)
    }

    /// RFC 8628: sign a person in from a terminal. Asks for a device code, shows where
    /// to go and what to type (through `show`), then polls at the interval Gatehouse
    /// gives until the person allows or denies, or the code expires.
    pub async fn device_login(
        &self,
        show: impl FnOnce(&str, &str, Option<&str>),
    ) -> Result<TokenSet, OAuthFailure> {
        let endpoint = self
            .device_authorization
            .clone()
            .ok_or_else(|| OAuthFailure {
                code: "unsupported".into(),
                description: Some(
                    "Gatehouse's discovery names no device_authorization_endpoint".into(),
                ),
                transport: false,
            })?;
        let bad_url = |what: &str| OAuthFailure {
            code: "unexpected_response".into(),
            description: Some(format!("{what} is not a URL")),
            transport: true,
        };
        let mut client: DeviceClient = oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(endpoint)
                    .map_err(|_| bad_url("device_authorization_endpoint"))?,
            )
            .set_token_uri(
                TokenUrl::new(self.token_endpoint.clone())
                    .map_err(|_| bad_url("token_endpoint"))?,
            );
        if let Some(secret) = &self.client_secret {
            client = client.set_client_secret(secret.clone());
        }
        let client = client;
        let http = |req| send(self.http.clone(), req);
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .request_async(&http)
            .await
            .map_err(token_failure)?;
        show(
            details.verification_uri().as_str(),
            details.user_code().secret(),
            details
                .verification_uri_complete()
                .map(|u| u.secret().as_str()),
        );
        client
            .exchange_device_access_token(&details)
            .request_async(&http, tokio::time::sleep, None)
            .await
            .map_err(token_failure)
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn is_public(&self) -> bool {
        self.client_secret.is_none()
    }

    pub fn wants_openid(&self) -> bool {
        self.scopes.iter().any(|s| s == "openid")
    }

    /// Where to send the browser, with a fresh `state` and PKCE pair.
    pub fn authorize_url(&self, nonce: &str) -> (Url, CsrfToken, PkceCodeVerifier) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes.iter().cloned().map(Scope::new))
            .add_extra_param("nonce", nonce)
            .set_pkce_challenge(challenge)
            .url();
        (url, state, verifier)
    }

    /// The authorization-code grant, proving the PKCE verifier.
    pub async fn exchange_code(
        &self,
        code: String,
        verifier: PkceCodeVerifier,
    ) -> Result<TokenSet, OAuthFailure> {
        let http = |req| send(self.http.clone(), req);
        self.oauth
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .request_async(&http)
            .await
            .map_err(token_failure)
    }

    /// The refresh-token grant. Gatehouse rotates refresh tokens: the answer carries a
    /// new one, and the one sent is spent (sending it again revokes the whole grant).
    pub async fn refresh(&self, token: &RefreshToken) -> Result<TokenSet, OAuthFailure> {
        let http = |req| send(self.http.clone(), req);
        self.oauth
            .exchange_refresh_token(token)
            .request_async(&http)
            .await
            .map_err(token_failure)
    }

    /// RFC 7009 revocation; Gatehouse then revokes the whole grant, so every token of
    /// this sign-in stops. A plain form POST with the same client authentication as the
    /// token endpoint: the `oauth2` crate refuses revocation URLs that are not https,
    /// and a Gatehouse on your machine is plain http.
    pub async fn revoke(&self, token: &str, hint: &str) -> Result<(), OAuthFailure> {
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let mut req = self.http.post(self.revocation.clone());
        match &self.client_secret {
            Some(secret) => {
                // RFC 6749 §2.3.1: form-encode id and secret before HTTP Basic.
                let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
                let (id, secret): (String, String) = (enc(&self.client_id), enc(secret.secret()));
                let basic = STANDARD.encode(format!("{id}:{secret}"));
                req = req.header("Authorization", format!("Basic {basic}"));
            }
            None => form.push(("client_id", &self.client_id)),
        }
        let res = req.form(&form).send().await.map_err(transport)?;
        if res.status().is_success() {
            return Ok(());
        }
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        Err(OAuthFailure {
            code: body["error"]
                .as_str()
                .map_or_else(|| format!("http_{}", status.as_u16()), str::to_string),
            description: body["error_description"].as_str().map(str::to_string),
            transport: false,
        })
    }

    /// Checks the id_token of a code exchange: issuer, audience, expiry and the nonce
    /// this sign-in sent. The token came straight from the token endpoint, which OpenID
    /// Connect Core §3.1.3.7 accepts in place of a signature check when that connection
    /// is TLS; an app that passes id_tokens around should also verify the RS256
    /// signature with the keys at `jwks_uri` (the `openidconnect` crate does it all).
    pub fn check_id_token(&self, id_token: &str, nonce: &str) -> Result<IdClaims, String> {
        let payload = id_token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p).ok())
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .ok_or("the id_token is not a JWT")?;
        if payload["iss"].as_str() != Some(self.issuer.as_str()) {
            return Err("the id_token's issuer is not Gatehouse".into());
        }
        let aud_ok = match &payload["aud"] {
            Value::String(a) => *a == self.client_id,
            Value::Array(a) => a
                .iter()
                .any(|v| v.as_str() == Some(self.client_id.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err("the id_token is not for this app".into());
        }
        if payload["nonce"].as_str() != Some(nonce) {
            return Err("the id_token's nonce is not the one this sign-in sent".into());
        }
        let now = chrono::Utc::now().timestamp();
        if payload["exp"].as_i64().is_none_or(|exp| exp <= now) {
            return Err("the id_token has expired".into());
        }
        let sub = payload["sub"]
            .as_str()
            .ok_or("the id_token has no subject")?;
        Ok(IdClaims {
            sub: sub.to_string(),
        })
    }

    pub async fn userinfo(&self, access: &AccessToken) -> Result<UserInfo, ApiFailure> {
        self.get_json("GET /oauth/userinfo", self.userinfo.clone(), access)
            .await
    }

    pub async fn api_keys(&self, access: &AccessToken) -> Result<KeyPage, ApiFailure> {
        self.get_json("GET /api/v1/api-keys", self.api_keys.clone(), access)
            .await
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        call: &'static str,
        url: Url,
        access: &AccessToken,
    ) -> Result<T, ApiFailure> {
        let failure =
            |status: Option<u16>, code: Option<String>, message: Option<String>| ApiFailure {
                call,
                status,
                code,
                message,
            };
        let res = self
            .http
            .get(url)
            .bearer_auth(access.secret())
            .send()
            .await
            .map_err(|e| {
                failure(
                    None,
                    Some("unreachable".into()),
                    Some(format!("Gatehouse could not be reached: {}", plain(&e))),
                )
            })?;
        let status = res.status();
        let bytes = res.bytes().await.map_err(|e| {
            failure(
                Some(status.as_u16()),
                Some("unreadable".into()),
                Some(plain(&e)),
            )
        })?;
        if !status.is_success() {
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let (code, message) = match &body["error"] {
                // The API: {"error":{"code":"…","message":"…"}}
                Value::Object(e) => (
                    e.get("code").and_then(Value::as_str),
                    e.get("message").and_then(Value::as_str),
                ),
                // OAuth endpoints (RFC 6749/6750): {"error":"…","error_description":"…"}
                Value::String(code) => (Some(code.as_str()), body["error_description"].as_str()),
                _ => (None, None),
            };
            return Err(failure(
                Some(status.as_u16()),
                code.map(str::to_string),
                message.map(str::to_string),
            ));
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            failure(
                Some(status.as_u16()),
                Some("unexpected_response".into()),
                Some(e.to_string()),
            )
        })
    }
}

/// The `oauth2` crate's HTTP hook over the workspace's reqwest (the crate's own reqwest
/// feature would pull a second, older reqwest).
async fn send(
    client: reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let res = client.execute(reqwest::Request::try_from(req)?).await?;
    let status = res.status();
    let headers = res.headers().clone();
    let mut out = oauth2::HttpResponse::new(res.bytes().await?.to_vec());
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// A failed token request, whichever grant's error codes it answered with (RFC 6749's,
/// or RFC 8628's for the device grant).
fn token_failure<T: ErrorResponseType + AsRef<str> + std::fmt::Display>(
    e: RequestTokenError<reqwest::Error, StandardErrorResponse<T>>,
) -> OAuthFailure {
    match e {
        RequestTokenError::ServerResponse(r) => OAuthFailure {
            code: r.error().as_ref().to_string(),
            description: r.error_description().cloned(),
            transport: false,
        },
        RequestTokenError::Request(e) => transport(e),
        RequestTokenError::Parse(e, _) => OAuthFailure {
            code: "unexpected_response".into(),
            description: Some(e.to_string()),
            transport: true,
        },
        RequestTokenError::Other(m) => OAuthFailure {
            code: "unexpected_response".into(),
            description: Some(m),
            transport: true,
        },
    }
}

fn transport(e: reqwest::Error) -> OAuthFailure {
    OAuthFailure {
        code: "unreachable".into(),
        description: Some(format!("Gatehouse could not be reached: {}", plain(&e))),
        transport: true,
    }
}

/// A reqwest error without its URL: URLs here never carry secrets, but keep the
/// messages short.
fn plain(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    if let Some(url) = e.url() {
        msg = msg.replace(&format!(" ({url})"), "");
    }
    msg
}
