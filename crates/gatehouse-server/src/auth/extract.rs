//! The [`Authenticated`] extractor: the request's one credential — `Authorization:
//! Bearer`, Rally's `ZSESSIONID`, or else the session cookie with its CSRF header —
//! turned into a [`Principal`], and the header parsing it shares with the protocol
//! endpoints ([`bearer_token`], [`bearer_of`]); [`traced`] puts each check's kind and
//! outcome on the request's log line.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use gatehouse_types::{Permission, codes};

use super::{
    Authenticator, Principal, Via, access_token, api_key, cors, read_only, session, tokens,
};
use crate::error::ApiError;

/// The session cookie on plain http (loopback, development)…
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// …and behind https, where the browser then holds it to this exact host, over https
/// only, for path `/`: a neighbouring subdomain can neither plant nor overwrite it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-gatehouse_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Rally's header for API keys; accepted wherever `Authorization: Bearer` is.
pub const ZSESSIONID_HEADER: &str = "zsessionid";

/// Extracts a [`Principal`] or answers 401. Use `Authenticated` rather than an
/// `Option`: a request with a bad credential must fail, not fall back to anonymous.
pub struct Authenticated(pub Principal);

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let explicit = explicit_credential(req);
        // The cookie only matters without an explicit header: parse it only then.
        let cookie = explicit
            .is_none()
            .then(|| {
                let name = auth.as_ref().map_or(SESSION_COOKIE, |a| a.session_cookie);
                session::token(req, name)
            })
            .flatten();
        let unsafe_method = !is_safe(req.method());
        let csrf = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Another origin's request (gateways forward browsers' headers to forward-auth,
        // whose answer goes to the gateway, not to a browser).
        let foreign = auth.as_ref().and_then(|a| {
            (req.path() != "/api/v1/auth/verify")
                .then(|| cors::foreign_origin(req, a.signing.issuer()))
                .flatten()
        });
        let req = req.clone();
        Box::pin(async move {
            let auth = auth.ok_or_else(|| anyhow::anyhow!("Authenticator missing"))?;
            // An explicit header wins over the cookie, and a bad one is never
            // rescued by a good cookie.
            if let Some(header) = explicit {
                let principal = authenticate_header(&auth, &header).await?;
                if let Some(origin) = foreign {
                    match &principal.via {
                        Via::OAuth { client_origins, .. } if client_origins.contains(&origin) => {
                            req.extensions_mut().insert(cors::CorsAllowed(origin));
                        }
                        _ => return Err(cors::refused()),
                    }
                }
                if let Via::OAuth {
                    permission: None, ..
                } = principal.via
                {
                    return Err(ApiError::forbidden(
                        codes::INSUFFICIENT_SCOPE,
                        "This access token has no api:read or api:write scope.",
                    ));
                }
                if unsafe_method && principal.permission() == Permission::ReadOnly {
                    return Err(read_only());
                }
                return Ok(Authenticated(principal));
            }
            let Some(token) = cookie else {
                return Err(ApiError::unauthorized(
                    codes::UNAUTHENTICATED,
                    "Sign in, or send an API key in the Authorization header.",
                ));
            };
            if foreign.is_some() {
                // Never a cookie from another origin, whatever SameSite let through.
                return Err(cors::refused());
            }
            let principal = session::authenticate(&auth, &token).await?;
            if let Some(hold) = principal.hold()
                && !hold.allows(req.method(), req.path())
            {
                return Err(hold.refusal());
            }
            if unsafe_method {
                let expected = match &principal.via {
                    Via::Session { csrf_token, .. } => csrf_token.expose(),
                    _ => "",
                };
                let ok = csrf.as_deref().is_some_and(|sent| {
                    !expected.is_empty() && tokens::constant_time_eq(sent, expected)
                });
                if !ok {
                    return Err(ApiError::forbidden(
                        codes::CSRF_FAILED,
                        "This request needs the X-CSRF-Token header of your session.",
                    ));
                }
            }
            Ok(Authenticated(principal))
        })
    }
}

/// Runs one credential check and records its kind and outcome (`ok`, or the error
/// code) — never the credential itself — on the request's span as `credential` and
/// `outcome`, so the request's log line says how it was authenticated, and a debug
/// event says the same where there is no request span. Fields on the span the request
/// already has, not a span of its own: a span per check cost the key-authenticated
/// request a tenth of its time.
pub async fn traced<F>(kind: &'static str, check: F) -> Result<Principal, ApiError>
where
    F: Future<Output = Result<Principal, ApiError>>,
{
    traced_with(kind, check, |result| match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    })
    .await
}

/// [`traced`] for checks with their own result type, `outcome` naming how one ended.
pub async fn traced_with<T, E, F>(
    kind: &'static str,
    check: F,
    outcome: impl Fn(&Result<T, E>) -> &'static str,
) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let result = check.await;
    let outcome = outcome(&result);
    let span = tracing::Span::current();
    span.record("credential", kind);
    span.record("outcome", outcome);
    crate::metrics::credential(kind, outcome);
    tracing::debug!(kind, outcome, "credential checked");
    result
}

/// The token of an `Authorization` header value with the `Bearer` scheme (any case),
/// trimmed; `None` for another scheme. The one place the scheme is parsed.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The non-empty bearer token of a request's `Authorization` header, if any.
pub fn bearer_of(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// Resolves the value of `Authorization: Bearer …` or `ZSESSIONID: …`.
async fn authenticate_header(
    auth: &web::Data<Authenticator>,
    header: &ExplicitCredential,
) -> Result<Principal, ApiError> {
    let token = match header {
        ExplicitCredential::Authorization(value) => bearer_token(value).ok_or_else(|| {
            ApiError::unauthorized(
                codes::INVALID_CREDENTIAL,
                "The Authorization header must be `Bearer <API key or token>`.",
            )
        })?,
        ExplicitCredential::ZSessionId(value) => value.trim(),
    };
    if token.starts_with(api_key::SECRET_PREFIX) {
        return api_key::authenticate(auth, token).await;
    }
    if token.starts_with("eyJ") {
        return access_token::authenticate(auth, token).await;
    }
    Err(ApiError::unauthorized(
        codes::INVALID_CREDENTIAL,
        "The credential in the request header is not valid.",
    ))
}

enum ExplicitCredential {
    Authorization(String),
    ZSessionId(String),
}

/// The credential in `Authorization` or `ZSESSIONID`, if the request carries one.
fn explicit_credential(req: &HttpRequest) -> Option<ExplicitCredential> {
    let headers = req.headers();
    let text = |v: &header::HeaderValue| v.to_str().unwrap_or_default().to_string();
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        return Some(ExplicitCredential::Authorization(text(v)));
    }
    headers
        .get(ZSESSIONID_HEADER)
        .map(|v| ExplicitCredential::ZSessionId(text(v)))
}

pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failing check leaves its kind and outcome on the request's log line, and
    /// nothing of the credential.
    #[test]
    fn credential_checks_are_traced_with_kind_and_outcome() {
        use std::sync::{Arc, Mutex};
        use tracing::Instrument;
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let secret = "gatk_this-must-not-appear";
            let span = crate::telemetry::request_span("r-1");
            let result = actix_web::rt::System::new().block_on(
                traced("api_key", async move {
                    let _ = secret;
                    Err(ApiError::unauthorized(codes::API_KEY_INVALID, "bad"))
                })
                .instrument(span.clone()),
            );
            assert!(result.is_err());
            span.in_scope(|| tracing::info!("request"));
        });
        let log = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("request_id=r-1"), "{log}");
        assert!(log.contains("credential=\"api_key\""), "{log}");
        assert!(log.contains("outcome=\"api_key_invalid\""), "{log}");
        assert!(!log.contains("this-must-not-appear"), "{log}");
    }
}
