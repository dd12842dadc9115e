//! The extractors of the token, revocation and introspection endpoints: the form, read
//! once, and the OAuth client that sent it, authenticated (`auth::client`).

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::error::OAuthError;
use super::params::Params;
use crate::auth::client::ClientCredentials;
use crate::auth::{Authenticator, ClientMeta};
use crate::db::oauth_clients::ClientRow;

/// The parameters the token, revocation and introspection endpoints read.
pub const TOKEN_PARAMS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "token",
    "token_type_hint",
    "device_code",
];

/// The form body of a token-side request: form-encoded, each parameter at most once.
pub struct TokenForm(pub Params);

impl FromRequest for TokenForm {
    type Error = OAuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, OAuthError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let body = body
                .await
                .map_err(|_| OAuthError::invalid_request("The body cannot be read."))?;
            let params = Params::form(&req, &body, TOKEN_PARAMS)
                .map_err(|e| OAuthError::invalid_request(e.describe()))?;
            Ok(TokenForm(params))
        })
    }
}

/// A token-side request from an authenticated OAuth client.
pub struct AuthenticatedClient {
    pub client: ClientRow,
    pub params: Params,
    pub meta: ClientMeta,
}

/// What a client must prove.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// Its secret if it has one; a public client's id alone (token, revocation).
    AsRegistered,
    /// A secret: a public client's id proves nothing (introspection, RFC 7662 §2.1).
    Secret,
}

impl AuthenticatedClient {
    /// Authenticates the client of a request whose form is already read.
    pub async fn of(
        auth: &Authenticator,
        req: &HttpRequest,
        params: Params,
        proof: Proof,
    ) -> Result<AuthenticatedClient, OAuthError> {
        let creds =
            ClientCredentials::of(req, params.get("client_id"), params.get("client_secret"))?;
        if proof == Proof::Secret && !creds.has_secret() {
            return Err(OAuthError::invalid_client(
                "Introspection needs a confidential client's secret or an administrator's API key.",
            ));
        }
        let meta = ClientMeta::of(req);
        let client = creds.authenticate(auth, &meta).await?;
        // The token and revocation endpoints answer browser apps on the client's
        // registered origins; introspection is for servers.
        if proof == Proof::AsRegistered
            && let Some(origin) = crate::auth::cors::foreign_origin(req, auth.signing.issuer())
        {
            // Refused outright, not only unreadable: a page elsewhere must not spend a
            // client's refresh token (rotation would then revoke the app's grant).
            if !client.allows_origin(&origin) {
                return Err(OAuthError::unauthorized_client(
                    "This client has not registered the origin this request comes from (allowed_origins).",
                ));
            }
            req.extensions_mut()
                .insert(crate::auth::cors::CorsAllowed(origin));
        }
        Ok(AuthenticatedClient {
            client,
            params,
            meta,
        })
    }
}

impl FromRequest for AuthenticatedClient {
    type Error = OAuthError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, OAuthError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = TokenForm::from_request(&req, payload);
        Box::pin(async move {
            let TokenForm(params) = form.await?;
            let auth = req
                .app_data::<web::Data<Authenticator>>()
                .ok_or_else(|| anyhow::anyhow!("Authenticator missing"))
                .map_err(|e| OAuthError::from(crate::error::ApiError::Internal(e)))?;
            AuthenticatedClient::of(auth, &req, params, Proof::AsRegistered).await
        })
    }
}
