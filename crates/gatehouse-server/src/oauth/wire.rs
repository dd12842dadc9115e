//! The protocol endpoints' bodies as the API description states them. The answers they
//! build (`TokenResponse`, `OAuthErrorBody`) are serialized from these types; the forms
//! they read are read parameter by parameter through `params.rs` (each at most once, an
//! empty value as left out), so the form types here only describe them and are never
//! deserialized.
#![allow(dead_code)] // The form types are read by `params.rs`, not by serde.

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// The error body of RFC 6749 §5.2 (also RFC 6750's at the UserInfo endpoint).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OAuthError)]
pub struct OAuthErrorBody<'a> {
    #[schema(value_type = OAuthErrorCode)]
    pub error: &'a str,
    /// A sentence for the developer.
    pub error_description: &'a str,
}

/// The `error` values of RFC 6749 §5.2 and RFC 6750 §3.1 that Gatehouse sends.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    InvalidToken,
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InsufficientScope,
    ServerError,
    TemporarilyUnavailable,
}

/// The token endpoint's answer (RFC 6749 §5.1). No `Debug`: it holds the tokens.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse<'a> {
    /// An RFC 9068 JWT (`typ: at+jwt`, EdDSA).
    pub access_token: &'a str,
    /// Always `Bearer`.
    #[schema(value_type = String, pattern = "^Bearer$")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// `gatr_…`: spent by its next use, which answers a new one. None with
    /// `client_credentials` (RFC 6749 §4.4.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, pattern = "^gatr_", required = false)]
    pub refresh_token: Option<&'a str>,
    /// The granted scopes, space-separated.
    pub scope: &'a str,
    /// With the `openid` scope: an RS256 OpenID Connect id_token.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    pub id_token: Option<String>,
}

/// RP-Initiated Logout (OpenID Connect RP-Initiated Logout 1.0 §2): in the query of a
/// `GET`, or form-encoded in the body of a `POST`.
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndSessionRequest {
    /// An id_token Gatehouse issued to the client (expired is fine).
    #[param(value_type = String, required = false)]
    #[schema(nullable = false)]
    pub id_token_hint: Option<String>,
    /// The client, when there is no hint (or the hint's audience).
    #[param(value_type = String, required = false)]
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    /// One of the client's `post_logout_redirect_uris`, exactly.
    #[param(value_type = String, required = false)]
    #[schema(nullable = false)]
    pub post_logout_redirect_uri: Option<String>,
    /// Sent back with the redirect.
    #[param(value_type = String, required = false)]
    #[schema(nullable = false)]
    pub state: Option<String>,
}

/// `POST /oauth/device_authorization` (RFC 8628 §3.1), form-encoded.
#[derive(ToSchema)]
pub struct DeviceAuthorizationRequest {
    /// Space-separated scopes, as at the authorization endpoint; default `api:read`.
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// Client authentication in the body, or a public client's id.
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    /// Client authentication in the body.
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
}

/// The device authorization answer (RFC 8628 §3.2). No `Debug`: it holds the codes.
#[derive(Serialize, ToSchema)]
pub struct DeviceAuthorizationResponse<'a> {
    /// What the device polls the token endpoint with.
    pub device_code: &'a str,
    /// What the person enters: `XXXX-XXXX`, 8 characters of `BCDFGHJKLMNPQRSTVWXZ`.
    #[schema(pattern = "^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")]
    pub user_code: &'a str,
    /// The web app's `/device` page.
    pub verification_uri: &'a str,
    /// The same page with the code filled in (for a QR code or a link).
    pub verification_uri_complete: &'a str,
    /// Seconds the codes live.
    pub expires_in: i64,
    /// Seconds to wait between polls.
    pub interval: i64,
}

/// `POST /oauth/token`, form-encoded. An empty value counts as left out (RFC 6749 §3.1).
#[derive(ToSchema)]
pub struct TokenRequest {
    #[schema(min_length = 1)]
    pub grant_type: GrantType,
    /// `authorization_code`: the code the callback received.
    #[schema(nullable = false)]
    pub code: Option<String>,
    /// `authorization_code`: the redirect URI of the authorization request, if it named one.
    #[schema(nullable = false)]
    pub redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (RFC 7636).
    #[schema(nullable = false)]
    pub code_verifier: Option<String>,
    /// `refresh_token`: the refresh token to spend.
    #[schema(nullable = false)]
    pub refresh_token: Option<String>,
    /// `refresh_token`: a narrower set of the granted scopes; `client_credentials`:
    /// `api:read`, or `api:read api:write` for an editor service account.
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// `urn:ietf:params:oauth:grant-type:device_code`: the device code (RFC 8628 §3.4).
    #[schema(nullable = false)]
    pub device_code: Option<String>,
    /// Client authentication in the body, or a public client's id.
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    /// Client authentication in the body.
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    #[schema(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

/// `POST /oauth/revoke` (RFC 7009) and `POST /oauth/introspect` (RFC 7662),
/// form-encoded. An empty value counts as left out (RFC 6749 §3.1).
#[derive(ToSchema)]
pub struct TokenParameters {
    /// The token: an access token, a refresh token, or (introspection) an API key.
    #[schema(min_length = 1)]
    pub token: String,
    /// Ignored: the token's own shape says what it is.
    #[schema(nullable = false)]
    pub token_type_hint: Option<String>,
    /// Client authentication in the body.
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    /// Client authentication in the body.
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
}

/// The authorization request (RFC 6749 §4.1.1, RFC 7636, OpenID Connect Core §3.1.2.1):
/// in the query of a `GET`, or form-encoded in the body of a `POST`. An empty value
/// counts as left out (RFC 6749 §3.1).
#[derive(ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizationRequest {
    /// `code`.
    #[schema(min_length = 1)]
    #[param(min_length = 1)]
    pub response_type: String,
    #[schema(min_length = 1)]
    #[param(min_length = 1)]
    pub client_id: String,
    /// One of the client's callback URLs; may be left out when it has only one.
    #[param(value_type = String, required = false)]
    #[schema(nullable = false)]
    pub redirect_uri: Option<String>,
    /// Space-separated: `openid`, `profile`, `email`, `api:read`, `api:write`.
    #[param(value_type = String, required = false)]
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// Sent back to the callback unchanged.
    #[schema(nullable = false)]
    #[param(value_type = String, required = false)]
    pub state: Option<String>,
    /// PKCE (RFC 7636), S256: required of public clients.
    #[schema(nullable = false)]
    #[param(value_type = String, required = false)]
    pub code_challenge: Option<String>,
    /// `S256` (`plain` is refused).
    #[schema(nullable = false)]
    #[param(value_type = String, required = false)]
    pub code_challenge_method: Option<String>,
    /// OpenID Connect: copied into the id_token.
    #[schema(nullable = false)]
    #[param(value_type = String, required = false)]
    pub nonce: Option<String>,
    /// OpenID Connect: `login` asks the user to sign in again, `consent` to decide again.
    #[schema(nullable = false)]
    #[param(value_type = String, required = false)]
    pub prompt: Option<String>,
    /// OpenID Connect: the most seconds since the user signed in.
    #[schema(nullable = false)]
    #[param(value_type = String, required = false)]
    pub max_age: Option<String>,
}

/// RFC 7662's answer: `{"active": false}`, or what the credential is.
#[derive(ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// `Bearer` (access token), `refresh_token`, or `api_key`.
    #[schema(nullable = false)]
    pub token_type: Option<String>,
    #[schema(nullable = false)]
    pub token_use: Option<TokenUse>,
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    #[schema(nullable = false)]
    pub scope: Option<String>,
    /// The user's id.
    #[schema(nullable = false)]
    pub sub: Option<String>,
    #[schema(nullable = false)]
    pub username: Option<String>,
    /// The subscription's id.
    #[schema(nullable = false)]
    pub subscription: Option<String>,
    /// An API key's permission now.
    #[schema(nullable = false)]
    pub permission: Option<gatehouse_types::Permission>,
    #[schema(nullable = false)]
    pub exp: Option<i64>,
    #[schema(nullable = false)]
    pub iat: Option<i64>,
    #[schema(nullable = false)]
    pub iss: Option<String>,
    #[schema(nullable = false)]
    pub aud: Option<String>,
    #[schema(nullable = false)]
    pub jti: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum TokenUse {
    AccessToken,
    RefreshToken,
    ApiKey,
}

/// OpenID Connect UserInfo (Core §5.3): `sub`, and what the token's scopes release.
#[derive(ToSchema)]
pub struct UserInfo {
    /// The user's id.
    pub sub: String,
    /// With `profile`: the display name.
    #[schema(nullable = false)]
    pub name: Option<String>,
    /// With `profile`: the username.
    #[schema(nullable = false)]
    pub preferred_username: Option<String>,
    /// With `profile`: seconds since 1970 of the last change.
    #[schema(nullable = false)]
    pub updated_at: Option<i64>,
    /// With `email`, when the user has one.
    #[schema(nullable = false)]
    pub email: Option<String>,
    /// With `email`: always `false` (Gatehouse does not verify addresses).
    #[schema(nullable = false)]
    pub email_verified: Option<bool>,
}

/// A JWK Set (RFC 7517 §5).
#[derive(ToSchema)]
pub struct Jwks {
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}

/// RFC 8414 authorization server metadata (the same document as OpenID Connect
/// Discovery's); only its essential fields are listed.
#[derive(ToSchema)]
pub struct ServerMetadata {
    /// The public URL.
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}
