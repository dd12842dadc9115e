//! Who is calling, and what they may do.
//!
//! The `Authenticated` extractor turns the request's one credential into a `Principal`
//! (user, subscription, and the credential it came `via`), re-reading the user's role
//! and state on every request so that demotion, disabling and deletion take effect at
//! once. Handlers then state what they are about to do with
//! `principal.require(Action::…)?`; the whole permission matrix lives in
//! [`Principal::require`].

pub mod access_token;
pub mod api_key;
mod authenticator;
pub mod cache;
pub mod client;
pub mod cors;
pub mod device_polls;
pub mod jwt;
pub mod lockout;
pub mod passkeys;
pub mod password;
pub mod recovery;
pub mod scopes;
pub mod session;
pub mod tokens;
pub mod totp;
pub mod verify;

pub use authenticator::{
    Authenticator, CLIENT_AUTH_FAILURE_WINDOW, CLIENT_AUTH_FAILURES, DEVICE_POLL_MAX_SECONDS,
    DEVICE_POLL_SECONDS, DEVICE_STARTS, SIGN_IN_FAILURE_WINDOW, SIGN_IN_FAILURES_PER_ADDRESS,
    USER_CODE_FAILURE_WINDOW, USER_CODE_FAILURES, USER_CODE_FAILURES_PER_ADDRESS,
};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::http::{Method, header};
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::NaiveDateTime;
use gatehouse_types::{Permission, Role, codes};

use crate::db::subscriptions::SubscriptionRow;
use crate::db::users::UserRow;
use crate::error::ApiError;
use crate::secret::SecretString;

/// The session cookie on plain http (loopback, development)…
pub const SESSION_COOKIE: &str = "gatehouse_session";
/// …and behind https, where the browser then holds it to this exact host, over https
/// only, for path `/`: a neighbouring subdomain can neither plant nor overwrite it.
pub const SECURE_SESSION_COOKIE: &str = "__Host-gatehouse_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Rally's header for API keys; accepted wherever `Authorization: Bearer` is.
pub const ZSESSIONID_HEADER: &str = "zsessionid";

/// The credential a request authenticated with.
#[derive(Debug, Clone)]
pub enum Via {
    Session {
        id: String,
        created_at: NaiveDateTime,
        expires_at: NaiveDateTime,
        idle_expires_at: NaiveDateTime,
        /// Redacted in `Debug`: it is as good as the cookie for unsafe requests.
        csrf_token: SecretString,
        /// How the person signed in (OpenID Connect `amr` values, space-separated).
        amr: String,
        /// When the person last proved themselves: signed in, or confirmed their
        /// password again (sudo mode).
        verified_at: NaiveDateTime,
        /// Whether that was recent enough for sensitive actions ([`session::SUDO_WINDOW`]).
        sudo: bool,
        /// The subscription requires a second step of this person and they signed in
        /// without one: only setting one up is allowed (see [`Hold`]).
        enrolment_required: bool,
        /// The person signed in with a temporary password: only choosing their own is
        /// allowed (see [`Hold`]).
        password_change_required: bool,
    },
    ApiKey {
        id: String,
        name: String,
        /// The permission the key was created with.
        key_permission: Permission,
        /// What it may do now: narrowed to read-only when its user's role no longer
        /// allows full access.
        permission: Permission,
        /// The key's `GET /api/v1/session` answer, serialized once per key cache entry
        /// (a function of the entry's rows, dropped with it).
        answer: Arc<std::sync::OnceLock<actix_web::web::Bytes>>,
    },
    /// An OAuth access token: `permission` is what its `api:*` scopes allow, `None`
    /// when it has none (an OpenID Connect-only token, which the JSON API refuses).
    OAuth {
        grant_id: String,
        client_id: String,
        client_name: String,
        scopes: Vec<String>,
        permission: Option<Permission>,
        /// The browser origins the token's client registered (CORS).
        client_origins: Vec<String>,
    },
}

impl Via {
    pub fn kind(&self) -> &'static str {
        match self {
            Via::Session { .. } => "session",
            Via::ApiKey { .. } => "api_key",
            Via::OAuth { .. } => "oauth",
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Via::Session { id, .. } | Via::ApiKey { id, .. } => id,
            Via::OAuth { client_id, .. } => client_id,
        }
    }
}

/// An authenticated caller: the user as they are now, their subscription, and how they
/// proved it.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: Arc<UserRow>,
    pub subscription: Arc<SubscriptionRow>,
    pub via: Via,
}

/// What a handler is about to do. Each variant is checked against the caller's role and
/// credential in [`Principal::require`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Sign out: only a session can end itself.
    SignOut,
    /// List one's signed-in browsers and end them: only a session.
    ManageOwnSessions,
    /// Confirm the password again (sudo mode): only a session.
    ConfirmPassword,
    /// Edit one's own display name or e-mail.
    EditProfile,
    /// Needs the current password and a signed-in session.
    ChangePassword,
    /// Read the subscription's users.
    ViewUsers,
    /// Create, edit, disable, unlock or delete users. Needs a signed-in session: a
    /// leaked admin key must not be able to create an admin with a password of its
    /// choosing and sign in as them.
    ManageUsers,
    /// Change the subscription's settings.
    ChangeSettings,
    /// Read the whole subscription's audit log (everyone may read their own).
    ViewSubscriptionAudit,
    /// Create, rename or reset one's own API key: only a signed-in person, never a
    /// key or token, may mint or change a secret.
    ManageOwnApiKeys,
    /// Reset another user's key: an admin, signed in.
    ResetAnyApiKey,
    /// List every key of the subscription.
    ViewSubscriptionApiKeys,
    /// Read OAuth clients (one's own, or all for admins).
    ViewOAuthClients,
    /// Register, edit or delete OAuth clients.
    ManageOAuthClients,
    /// Mint a client secret: register a client (signed in recently: a client is a way to
    /// credentials that outlive the session).
    IssueClientSecret,
    /// Change where a client's codes and tokens are sent (its callback URLs, origins,
    /// back-channel logout), or the role of its service account: like a secret, only a
    /// person signed in recently, never a key.
    RedirectOAuthClient,
    /// Mark a client standard (or not): its consent is then skipped for everyone, so
    /// only an administrator, signed in, may — never a key, however full its access.
    MarkStandard,
    /// Disable (or enable) any client of the subscription: it stops every grant of the
    /// client, so only an administrator, signed in recently — never a key.
    DisableOAuthClient,
    /// List or revoke one's authorized applications.
    ManageAuthorizedApps,
    /// See the authorized applications of anyone in the subscription.
    ViewPeoplesApps,
    /// Allow or deny an application on the consent page: only the person, signed in.
    DecideConsent,
    /// See one's second steps of sign-in: only the person, signed in.
    ViewSecondFactors,
    /// Add or remove one's second steps of sign-in, or new recovery codes: only the
    /// person, signed in recently (sudo mode).
    ManageSecondFactors,
    /// Create or reset a full-access API key: signed in recently (sudo mode).
    MintFullAccessKey,
    /// Reset a client's secret: signed in recently (sudo mode).
    ResetClientSecret,
    /// Allow an application (or a device) access that outlives the session — writing
    /// (`api:write`) or refresh tokens (`offline_access`): signed in recently (sudo
    /// mode), as GitHub confirms access before authorizing an app.
    GrantLastingAccess,
}

impl Principal {
    pub fn role(&self) -> Role {
        self.user.role
    }

    /// How the person of this browser session signed in (`pwd`, `pwd otp`); `None`
    /// for keys and tokens.
    pub fn amr(&self) -> Option<&str> {
        match &self.via {
            Via::Session { amr, .. } => Some(amr),
            _ => None,
        }
    }

    /// A session whose person must set up a second step before anything else.
    /// What the session must do before anything else, if anything.
    pub fn hold(&self) -> Option<Hold> {
        match self.via {
            Via::Session {
                password_change_required: true,
                ..
            } => Some(Hold::PasswordChange),
            Via::Session {
                enrolment_required: true,
                ..
            } => Some(Hold::Enrolment),
            _ => None,
        }
    }

    /// The browser session this request came with, if any (OpenID Connect `sid`).
    pub fn session_id(&self) -> Option<&str> {
        match &self.via {
            Via::Session { id, .. } => Some(id),
            _ => None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }

    /// What the credential may do now: sessions act with the user's full rights.
    pub fn permission(&self) -> Permission {
        match &self.via {
            Via::Session { .. } => Permission::FullAccess,
            Via::ApiKey { permission, .. } => *permission,
            Via::OAuth { permission, .. } => permission.unwrap_or(Permission::ReadOnly),
        }
    }

    fn is_session(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }

    /// The permission matrix: role first, then what the credential kind may do.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        // OAuth tokens act on the user's data, never on the OAuth machinery itself.
        let not_by_oauth = matches!(
            action,
            Action::ViewOAuthClients
                | Action::ManageOAuthClients
                | Action::IssueClientSecret
                | Action::ResetClientSecret
                | Action::GrantLastingAccess
                | Action::RedirectOAuthClient
                | Action::MarkStandard
                | Action::DisableOAuthClient
                | Action::ManageAuthorizedApps
                | Action::ViewPeoplesApps
        );
        if not_by_oauth && matches!(self.via, Via::OAuth { .. }) {
            return Err(ApiError::forbidden(
                codes::FORBIDDEN,
                "OAuth tokens cannot manage OAuth clients or authorized applications.",
            ));
        }
        let needs_admin = matches!(
            action,
            Action::ViewUsers
                | Action::ManageUsers
                | Action::ChangeSettings
                | Action::ViewSubscriptionAudit
                | Action::ResetAnyApiKey
                | Action::ViewSubscriptionApiKeys
                | Action::MarkStandard
                | Action::DisableOAuthClient
                | Action::ViewPeoplesApps
        );
        if needs_admin && !self.is_admin() {
            return Err(ApiError::forbidden(
                codes::FORBIDDEN,
                "Only subscription administrators may do this.",
            ));
        }
        let needs_sudo = matches!(
            action,
            Action::ChangePassword
                | Action::ManageSecondFactors
                | Action::ManageUsers
                | Action::ChangeSettings
                | Action::ResetAnyApiKey
                | Action::MarkStandard
                | Action::DisableOAuthClient
                | Action::MintFullAccessKey
                | Action::ResetClientSecret
                | Action::IssueClientSecret
                | Action::RedirectOAuthClient
                | Action::GrantLastingAccess
        );
        let needs_session = needs_sudo
            || matches!(
                action,
                Action::SignOut
                    | Action::ManageOwnSessions
                    | Action::ConfirmPassword
                    | Action::ManageUsers
                    | Action::EditProfile
                    | Action::ChangePassword
                    | Action::ChangeSettings
                    | Action::ManageOwnApiKeys
                    | Action::ResetAnyApiKey
                    | Action::IssueClientSecret
                    | Action::RedirectOAuthClient
                    | Action::MarkStandard
                    | Action::DecideConsent
                    | Action::ViewSecondFactors
            );
        if needs_session && !self.is_session() {
            return Err(ApiError::forbidden(
                codes::SESSION_REQUIRED,
                "This needs a signed-in browser session; API keys and OAuth tokens cannot do it.",
            ));
        }
        if needs_sudo && matches!(self.via, Via::Session { sudo: false, .. }) {
            return Err(ApiError::forbidden(
                codes::SUDO_REQUIRED,
                "This needs your password again: confirm it (POST /api/v1/session/sudo) and retry.",
            ));
        }
        Ok(())
    }
}

/// A record of the caller's subscription that the caller owns or administers, found by
/// `find(conn, subscription_id, id)`; anything else — a malformed id, another
/// subscription's record, someone else's record for a non-admin — is 404, so that
/// nobody learns of records they may not see.
pub async fn owned_or_administered<T, F>(
    db: &crate::db::Database,
    principal: &Principal,
    id: &str,
    mut find: F,
    owner: impl Fn(&T) -> &str,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnMut(&mut crate::db::DbConnection, &str, &str) -> crate::db::QueryResult<Option<T>>
        + Send
        + 'static,
{
    crate::routing::id_or_404(id)?;
    let (sub_id, id) = (principal.subscription.id.clone(), id.to_string());
    let row = db
        .read(move |conn| Ok(find(conn, &sub_id, &id)?))
        .await?
        .ok_or(ApiError::NotFound)?;
    if owner(&row) == principal.user.id || principal.is_admin() {
        Ok(row)
    } else {
        Err(ApiError::NotFound)
    }
}

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

/// Something a signed-in person must do before their session may do anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// They signed in with a temporary password (an administrator generated it).
    PasswordChange,
    /// The subscription requires a second step of them and they have none yet.
    Enrolment,
}

impl Hold {
    /// What a held session may reach: the session itself (who am I, sudo mode, sign
    /// out) and its profile as read; then a new password, or the second steps, each
    /// hold only its own. A temporary password comes first ([`Principal::hold`]): a
    /// session that could add a passkey before replacing it would sign in again with
    /// the passkey, free, and the password the administrator saw would stay.
    pub fn allows(self, method: &actix_web::http::Method, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        let session = path == "/api/v1/session"
            || path.starts_with("/api/v1/session/")
            || (path == "/api/v1/me" && method == actix_web::http::Method::GET);
        session
            || match self {
                Hold::PasswordChange => path == "/api/v1/me/password",
                Hold::Enrolment => {
                    path.starts_with("/api/v1/me/second-factors")
                        || path == "/api/v1/me/recovery-codes"
                }
            }
    }

    pub fn refusal(self) -> ApiError {
        match self {
            Hold::PasswordChange => ApiError::forbidden(
                codes::PASSWORD_CHANGE_REQUIRED,
                "You signed in with a temporary password: choose your own first.",
            ),
            Hold::Enrolment => ApiError::forbidden(
                codes::ENROLMENT_REQUIRED,
                "Your subscription requires two-step sign-in: set up a second step first.",
            ),
        }
    }
}

pub fn read_only() -> ApiError {
    ApiError::forbidden(
        codes::INSUFFICIENT_PERMISSION,
        "This credential is read-only; it may only read.",
    )
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

/// Whether `role` is one of `roles`, a subscription setting stored comma-separated
/// (`api_key_full_access_roles`, `oauth_client_roles`).
pub fn role_listed(roles: &str, role: Role) -> bool {
    roles.split(',').any(|r| r.trim() == role.as_str())
}

pub fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Where a request came from, for rate limits, sessions and the audit log.
#[derive(Debug, Clone)]
pub struct ClientMeta {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// When the request arrived, by the server's clock.
    pub at: NaiveDateTime,
}

impl FromRequest for ClientMeta {
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(ClientMeta::of(req)))
    }
}

impl ClientMeta {
    pub fn of(req: &HttpRequest) -> ClientMeta {
        let auth = req.app_data::<web::Data<Authenticator>>();
        ClientMeta {
            // The peer, or what a trusted proxy says the client is: a client can
            // write forwarding headers itself, so only those proxies are believed.
            ip: req.peer_addr().map(|a| {
                match auth {
                    Some(s) => crate::client_address::client_ip(
                        a.ip(),
                        req.headers(),
                        &s.trusted_proxies,
                        s.forwarded_header,
                    ),
                    None => a.ip(),
                }
                .to_string()
            }),
            user_agent: req
                .headers()
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.chars().take(512).collect()),
            at: auth.map_or_else(crate::clock::system_now, |a| a.clock.now()),
        }
    }

    /// An operator at the command line: no address, the system's time.
    pub fn cli() -> ClientMeta {
        ClientMeta {
            ip: None,
            user_agent: None,
            at: crate::clock::system_now(),
        }
    }
}

#[cfg(test)]
mod debug_tests {
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

    #[test]
    fn a_session_credential_does_not_print_its_csrf_token() {
        let now = chrono::Utc::now().naive_utc();
        let via = Via::Session {
            id: "s1".into(),
            created_at: now,
            expires_at: now,
            idle_expires_at: now,
            csrf_token: SecretString::new("csrf-value-that-must-not-print"),
            amr: "pwd".into(),
            verified_at: now,
            sudo: true,
            enrolment_required: false,
            password_change_required: false,
        };
        let printed = format!("{via:?}");
        assert!(
            !printed.contains("csrf-value-that-must-not-print"),
            "{printed}"
        );
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn a_held_session_reaches_only_what_settles_its_hold() {
        use actix_web::http::Method;
        for hold in [Hold::PasswordChange, Hold::Enrolment] {
            for (method, path) in [
                (Method::GET, "/api/v1/session"),
                (Method::DELETE, "/api/v1/session"),
                (Method::POST, "/api/v1/session/sudo"),
                (Method::GET, "/api/v1/me"),
            ] {
                assert!(hold.allows(&method, path), "{hold:?}: {method} {path}");
            }
            for (method, path) in [
                (Method::PATCH, "/api/v1/me"),
                (Method::GET, "/api/v1/api-keys"),
                (Method::GET, "/api/v1/me/passwordless"),
                (Method::POST, "/api/v1/users"),
                (Method::GET, "/api/v1/sessionx"),
            ] {
                assert!(!hold.allows(&method, path), "{hold:?}: {method} {path}");
            }
        }
        // Each hold reaches only what settles it.
        let password = (Method::PUT, "/api/v1/me/password");
        let passkey = (Method::POST, "/api/v1/me/second-factors/passkey");
        let codes = (Method::POST, "/api/v1/me/recovery-codes");
        assert!(Hold::PasswordChange.allows(&password.0, password.1));
        assert!(!Hold::PasswordChange.allows(&passkey.0, passkey.1));
        assert!(!Hold::PasswordChange.allows(&codes.0, codes.1));
        assert!(Hold::Enrolment.allows(&passkey.0, passkey.1));
        assert!(Hold::Enrolment.allows(&codes.0, codes.1));
        assert!(!Hold::Enrolment.allows(&password.0, password.1));
    }
}
