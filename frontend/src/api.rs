//! The only module that speaks HTTP. Every call goes to `/api/v1` and (de)serializes
//! the shared `gatehouse-types`, so the app and the server cannot drift apart. It
//! attaches the CSRF token to unsafe requests and turns every failure into an
//! [`ApiError`] carrying the server's stable error code.

use std::cell::RefCell;

use gatehouse_types::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// Sends the person to the page that settles their session's hold.
type HeldHandler = Box<dyn Fn(&'static str)>;

thread_local! {
    static CSRF: RefCell<Option<String>> = const { RefCell::new(None) };
    static ON_SIGNED_OUT: RefCell<Option<Box<dyn Fn()>>> = RefCell::new(None);
    static ON_SUDO: RefCell<Option<Box<dyn Fn() -> js_sys::Promise>>> = RefCell::new(None);
    static ON_HELD: RefCell<Option<HeldHandler>> = RefCell::new(None);
}

/// Remembers the CSRF token of the signed-in session (or forgets it).
pub fn set_csrf(token: Option<String>) {
    CSRF.with(|c| *c.borrow_mut() = token);
}

/// What to do when the server says the session is gone (expired, signed out elsewhere).
pub fn on_signed_out(f: impl Fn() + 'static) {
    ON_SIGNED_OUT.with(|c| *c.borrow_mut() = Some(Box::new(f)));
}

/// How to ask the person for their password again when the server wants it (sudo
/// mode): a promise of whether they confirmed it. The request is then sent again.
pub fn on_sudo(f: impl Fn() -> js_sys::Promise + 'static) {
    ON_SUDO.with(|c| *c.borrow_mut() = Some(Box::new(f)));
}

/// What to do when the server says the session must do something first: the page
/// that does it (`/change-password`, `/enrol`).
pub fn on_held(f: impl Fn(&'static str) + 'static) {
    ON_HELD.with(|c| *c.borrow_mut() = Some(Box::new(f)));
}

/// Asks the person to confirm their password (through [`on_sudo`]); whether they did.
async fn confirm_sudo() -> bool {
    let Some(promise) = ON_SUDO.with(|c| c.borrow().as_ref().map(|f| f())) else {
        return false;
    };
    JsFuture::from(promise)
        .await
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// A failed call: the HTTP status and the server's error code and message, or a
/// network failure (status 0).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// The field a validation error is about, when the server names one.
    pub field: Option<String>,
    /// What is wrong with that field ("must be in the future").
    pub reason: Option<String>,
    /// Seconds to wait, from `Retry-After`.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// A failure in the browser itself (a passkey not used), as a sentence.
    pub fn local(message: String) -> ApiError {
        ApiError {
            status: 0,
            code: "local".into(),
            message,
            field: None,
            reason: None,
            retry_after: None,
        }
    }

    fn network() -> ApiError {
        ApiError {
            status: 0,
            code: "network".into(),
            message: "Gatehouse could not be reached. Check your connection and try again.".into(),
            field: None,
            reason: None,
            retry_after: None,
        }
    }

    fn unexpected(status: u16) -> ApiError {
        ApiError {
            status,
            code: "unexpected".into(),
            message: format!(
                "Gatehouse answered in a way this page did not expect (HTTP {status}). Reload the page and try again."
            ),
            field: None,
            reason: None,
            retry_after: None,
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// Sends one request and answers the status, the body text and `Retry-After`.
async fn fetch(
    method: Method,
    path: &str,
    body: Option<String>,
    accept: &str,
) -> Result<(u16, String, Option<u32>), ApiError> {
    let run = async {
        let init = web_sys::RequestInit::new();
        init.set_method(method.as_str());
        let headers = web_sys::Headers::new()?;
        headers.set("Accept", accept)?;
        if method != Method::Get
            && let Some(token) = CSRF.with(|c| c.borrow().clone())
        {
            headers.set("X-CSRF-Token", &token)?;
        }
        if let Some(body) = &body {
            headers.set("Content-Type", "application/json")?;
            init.set_body(&JsValue::from_str(body));
        }
        init.set_headers(&headers);
        // The API, and the standard documents (OpenID Connect discovery) beside it.
        let url = if path.starts_with("/.well-known/") {
            path.to_string()
        } else {
            format!("/api/v1{path}")
        };
        let request = web_sys::Request::new_with_str_and_init(&url, &init)?;
        let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
        let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request))
            .await?
            .dyn_into()?;
        let retry_after = response
            .headers()
            .get("Retry-After")?
            .and_then(|v| v.trim().parse().ok());
        let text = JsFuture::from(response.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        Ok::<_, JsValue>((response.status(), text, retry_after))
    };
    run.await.map_err(|_| ApiError::network())
}

async fn call(method: Method, path: &str, body: Option<String>, accept: &str) -> ApiResult<String> {
    let mut answer = fetch(method, path, body.clone(), accept).await?;
    // A sensitive action after ten minutes: the password again, then once more.
    if answer.0 == 403
        && serde_json::from_str::<ErrorBody>(&answer.1)
            .is_ok_and(|b| b.error.code == codes::SUDO_REQUIRED)
        && !path.starts_with("/session")
        && confirm_sudo().await
    {
        answer = fetch(method, path, body, accept).await?;
    }
    let (status, text, retry_after) = answer;
    if (200..300).contains(&status) {
        return Ok(text);
    }
    let Ok(body) = serde_json::from_str::<ErrorBody>(&text) else {
        return Err(ApiError::unexpected(status));
    };
    let detail = |key: &str| {
        body.error
            .details
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|f| f.as_str())
            .map(str::to_string)
    };
    let (field, reason) = (detail("field"), detail("reason"));
    let error = ApiError {
        status,
        code: body.error.code,
        message: body.error.message,
        field,
        reason,
        retry_after,
    };
    // The session ended under us (expired, or signed out elsewhere): sign-in again.
    // A failed sign-in is also a 401, but it is answered on the sign-in page itself.
    if status == 401 && !path.starts_with("/session") {
        ON_SIGNED_OUT.with(|c| {
            if let Some(f) = c.borrow().as_ref() {
                f()
            }
        });
    }
    let held = match error.code.as_str() {
        codes::PASSWORD_CHANGE_REQUIRED => Some("/change-password"),
        codes::ENROLMENT_REQUIRED => Some("/enrol"),
        _ => None,
    };
    if let Some(page) = held {
        ON_HELD.with(|c| {
            if let Some(f) = c.borrow().as_ref() {
                f(page)
            }
        });
    }
    Err(error)
}

async fn json<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<String>,
) -> ApiResult<T> {
    let text = call(method, path, body, "application/json").await?;
    serde_json::from_str(&text).map_err(|_| ApiError::unexpected(200))
}

fn to_body(value: &impl Serialize) -> Option<String> {
    serde_json::to_string(value).ok()
}

async fn get<T: DeserializeOwned>(path: &str) -> ApiResult<T> {
    json(Method::Get, path, None).await
}

async fn post<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> ApiResult<T> {
    json(Method::Post, path, to_body(body)).await
}

async fn patch<T: DeserializeOwned>(path: &str, body: &impl Serialize) -> ApiResult<T> {
    json(Method::Patch, path, to_body(body)).await
}

async fn delete(path: &str) -> ApiResult<()> {
    call(Method::Delete, path, None, "application/json")
        .await
        .map(|_| ())
}

/// Every page of a list, followed through `next_cursor`: a person's keys, clients and
/// apps are never cut off silently at the first page.
async fn every_page<T: DeserializeOwned>(path: &str) -> ApiResult<Page<T>> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}&cursor={}", encode(c)),
            None => path.to_string(),
        };
        let page: Page<T> = get(&url).await?;
        items.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(Page {
        items,
        next_cursor: None,
    })
}

/// Query-string encoding of one value.
pub fn encode(value: &str) -> String {
    js_sys::encode_uri_component(value).into()
}

/// `?a=b&c=d` from the pairs whose value is not empty.
fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

// ----- session and profile -----

/// A right password signs in, or asks for the second step.
pub enum SignIn {
    Done(Box<SessionInfo>),
    SecondStep(SecondStepRequired),
}

pub async fn sign_in(username: String, password: String) -> ApiResult<SignIn> {
    let body = to_body(&SignInRequest { username, password });
    let text = call(Method::Post, "/session", body, "application/json").await?;
    if let Ok(owed) = serde_json::from_str::<SecondStepRequired>(&text) {
        return Ok(SignIn::SecondStep(owed));
    }
    serde_json::from_str(&text)
        .map(|info| SignIn::Done(Box::new(info)))
        .map_err(|_| ApiError::unexpected(200))
}

/// The second step: a code from the app, or (`recovery`) a recovery code.
pub async fn second_step(token: String, code: String, recovery: bool) -> ApiResult<SessionInfo> {
    let (code, recovery_code) = if recovery {
        (None, Some(code))
    } else {
        (Some(code), None)
    };
    let body = SecondStep {
        second_step_token: token,
        code,
        recovery_code,
        passkey: None,
    };
    post("/session/second-step", &body).await
}

/// The second step with a passkey: the browser signs the waiting sign-in's challenge.
pub async fn second_step_passkey(
    token: String,
    options: &serde_json::Value,
) -> ApiResult<SessionInfo> {
    let credential = crate::passkeys::get(options)
        .await
        .map_err(ApiError::local)?;
    let body = SecondStep {
        second_step_token: token,
        code: None,
        recovery_code: None,
        passkey: Some(credential),
    };
    post("/session/second-step", &body).await
}

/// Signing in with a passkey alone: a challenge, the browser's answer, a session.
pub async fn passkey_sign_in() -> ApiResult<SessionInfo> {
    let challenge: PasskeyChallenge =
        json(Method::Post, "/session/passkey", Some("{}".into())).await?;
    let credential = crate::passkeys::get(&challenge.options)
        .await
        .map_err(ApiError::local)?;
    post(
        &format!("/session/passkey/{}", encode(&challenge.id)),
        &PasskeyAssertion { credential },
    )
    .await
}

/// Sudo mode with a passkey instead of the password.
pub async fn sudo_passkey() -> ApiResult<SessionInfo> {
    let challenge: PasskeyChallenge =
        json(Method::Post, "/session/sudo/passkey", Some("{}".into())).await?;
    let credential = crate::passkeys::get(&challenge.options)
        .await
        .map_err(ApiError::local)?;
    let body = SudoRequest {
        password: None,
        code: None,
        recovery_code: None,
        passkey: Some(SudoPasskey {
            ceremony_id: challenge.id,
            credential,
        }),
    };
    post("/session/sudo", &body).await
}

/// Registers a passkey of this browser (or a phone or key it offers) as `name`.
pub async fn add_passkey(name: String) -> ApiResult<ConfirmedSecondFactor> {
    let challenge: PasskeyChallenge = json(
        Method::Post,
        "/me/second-factors/passkey",
        Some("{}".into()),
    )
    .await?;
    let credential = crate::passkeys::create(&challenge.options)
        .await
        .map_err(ApiError::local)?;
    post(
        &format!("/me/second-factors/passkey/{}", encode(&challenge.id)),
        &FinishPasskey { credential, name },
    )
    .await
}

/// Sudo mode: the password again, with a code (`recovery`: a recovery code) for a
/// person with a second step.
pub async fn sudo(password: String, code: String, recovery: bool) -> ApiResult<SessionInfo> {
    let code = (!code.trim().is_empty()).then_some(code);
    let (code, recovery_code) = if recovery { (None, code) } else { (code, None) };
    let body = SudoRequest {
        password: Some(password),
        code,
        recovery_code,
        passkey: None,
    };
    post("/session/sudo", &body).await
}

pub async fn reset_user_second_factors(id: &str) -> ApiResult<()> {
    delete(&format!("/users/{}/second-factors", encode(id))).await
}

pub async fn second_factors() -> ApiResult<SecondFactors> {
    get("/me/second-factors").await
}

pub async fn start_totp() -> ApiResult<TotpEnrolment> {
    json(Method::Post, "/me/second-factors/totp", Some("{}".into())).await
}

pub async fn confirm_totp(
    id: &str,
    code: String,
    name: String,
) -> ApiResult<ConfirmedSecondFactor> {
    post(
        &format!("/me/second-factors/{}/confirm", encode(id)),
        &ConfirmSecondFactor { code, name },
    )
    .await
}

pub async fn remove_second_factor(id: &str) -> ApiResult<()> {
    delete(&format!("/me/second-factors/{}", encode(id))).await
}

pub async fn new_recovery_codes() -> ApiResult<RecoveryCodes> {
    json(Method::Post, "/me/recovery-codes", Some("{}".into())).await
}

pub async fn session() -> ApiResult<SessionInfo> {
    get("/session").await
}

pub async fn sign_out() -> ApiResult<()> {
    delete("/session").await
}

pub async fn update_me(body: UpdateMe) -> ApiResult<User> {
    patch("/me", &body).await
}

pub async fn change_password(
    current_password: String,
    new_password: String,
) -> ApiResult<PasswordChanged> {
    let body = ChangePassword {
        current_password,
        new_password,
    };
    json(Method::Put, "/me/password", to_body(&body)).await
}

// ----- API keys -----

pub async fn api_keys() -> ApiResult<Page<ApiKey>> {
    every_page("/api-keys?limit=200").await
}

pub async fn create_api_key(body: CreateApiKey) -> ApiResult<ApiKeyWithSecret> {
    post("/api-keys", &body).await
}

pub async fn rename_api_key(id: &str, name: String) -> ApiResult<ApiKey> {
    patch(&format!("/api-keys/{}", encode(id)), &UpdateApiKey { name }).await
}

pub async fn reset_api_key(id: &str) -> ApiResult<ApiKeyWithSecret> {
    post(
        &format!("/api-keys/{}/reset", encode(id)),
        &ResetApiKey::default(),
    )
    .await
}

pub async fn delete_api_key(id: &str) -> ApiResult<()> {
    delete(&format!("/api-keys/{}", encode(id))).await
}

/// Sort order and filter of the administrators' list of every key.
#[derive(Clone, Default, PartialEq)]
pub struct KeyFilter {
    pub q: String,
    /// A user id: only that person's keys.
    pub user: String,
    pub sort: String,
    pub order: String,
}

impl KeyFilter {
    fn query(&self, cursor: &str, limit: &str) -> String {
        query(&[
            ("q", &self.q),
            ("user", &self.user),
            ("sort", &self.sort),
            ("order", &self.order),
            ("limit", limit),
            ("cursor", cursor),
        ])
    }
}

pub async fn subscription_api_keys(
    filter: &KeyFilter,
    cursor: Option<String>,
) -> ApiResult<Page<SubscriptionApiKey>> {
    get(&format!(
        "/subscription/api-keys{}",
        filter.query(cursor.as_deref().unwrap_or(""), "50")
    ))
    .await
}

/// One page of every key of the subscription, newest first, `limit` long.
pub async fn subscription_api_keys_page(
    cursor: Option<String>,
    limit: u32,
) -> ApiResult<Page<SubscriptionApiKey>> {
    let limit = limit.to_string();
    get(&format!(
        "/subscription/api-keys{}",
        query(&[
            ("limit", &limit),
            ("cursor", cursor.as_deref().unwrap_or(""))
        ])
    ))
    .await
}

pub async fn subscription_api_keys_csv(filter: &KeyFilter) -> ApiResult<String> {
    call(
        Method::Get,
        &format!("/subscription/api-keys{}", filter.query("", "")),
        None,
        "text/csv",
    )
    .await
}

// ----- subscription and users -----

pub async fn update_subscription(body: UpdateSubscription) -> ApiResult<Subscription> {
    patch("/subscription", &body).await
}

/// Every user of the subscription (to name owners and actors).
pub async fn all_users() -> ApiResult<Page<User>> {
    every_page("/users?limit=200").await
}

/// One's signed-in browsers.
pub async fn my_sessions() -> ApiResult<Vec<BrowserSession>> {
    get("/me/sessions").await
}

pub async fn end_my_session(id: &str) -> ApiResult<()> {
    delete(&format!("/me/sessions/{}", encode(id))).await
}

/// Sign out everywhere else.
pub async fn end_my_other_sessions() -> ApiResult<SessionsEnded> {
    json(Method::Delete, "/me/sessions", None).await
}

pub async fn user(id: &str) -> ApiResult<User> {
    get(&format!("/users/{}", encode(id))).await
}

/// A new, temporary password for someone who forgot theirs, shown once.
pub async fn reset_user_password(id: &str) -> ApiResult<PasswordReset> {
    post(
        &format!("/users/{}/password", encode(id)),
        &serde_json::json!({}),
    )
    .await
}

pub async fn create_user(body: CreateUser) -> ApiResult<CreatedUser> {
    post("/users", &body).await
}

pub async fn update_user(id: &str, body: UpdateUser) -> ApiResult<User> {
    patch(&format!("/users/{}", encode(id)), &body).await
}

pub async fn delete_user(id: &str) -> ApiResult<()> {
    delete(&format!("/users/{}", encode(id))).await
}

// ----- OAuth clients and authorized apps -----

/// The OpenID Connect discovery document: the issuer and every endpoint, as
/// applications read them.
pub async fn discovery() -> ApiResult<serde_json::Value> {
    get("/.well-known/openid-configuration").await
}

/// Every client one may see (every client of the subscription, for admins).
pub async fn oauth_clients() -> ApiResult<Page<OAuthClient>> {
    every_page("/oauth-clients?limit=200").await
}

pub async fn create_oauth_client(body: CreateOAuthClient) -> ApiResult<OAuthClientWithSecret> {
    post("/oauth-clients", &body).await
}

pub async fn update_oauth_client(id: &str, body: UpdateOAuthClient) -> ApiResult<OAuthClient> {
    patch(&format!("/oauth-clients/{}", encode(id)), &body).await
}

pub async fn reset_client_secret(
    id: &str,
    revoke_tokens: bool,
) -> ApiResult<OAuthClientWithSecret> {
    post(
        &format!("/oauth-clients/{}/reset-secret", encode(id)),
        &ResetClientSecret { revoke_tokens },
    )
    .await
}

pub async fn delete_oauth_client(id: &str) -> ApiResult<()> {
    delete(&format!("/oauth-clients/{}", encode(id))).await
}

pub async fn authorized_apps() -> ApiResult<Page<AuthorizedApp>> {
    every_page("/authorized-apps?limit=200").await
}

/// A person's authorized applications (admin).
pub async fn user_authorized_apps(user_id: &str) -> ApiResult<Page<AuthorizedApp>> {
    every_page(&format!(
        "/users/{}/authorized-apps?limit=200",
        encode(user_id)
    ))
    .await
}

pub async fn revoke_app(id: &str) -> ApiResult<()> {
    call(
        Method::Post,
        &format!("/authorized-apps/{}/revoke", encode(id)),
        None,
        "application/json",
    )
    .await
    .map(|_| ())
}

/// The device request behind a code read off a device's screen (`/device`).
pub async fn device_request(user_code: String) -> ApiResult<DeviceRequestView> {
    post("/oauth/device", &DeviceCodeLookup { user_code }).await
}

pub async fn decide_device(
    user_code: String,
    decision: Decision,
) -> ApiResult<DeviceDecisionResult> {
    post(
        "/oauth/device/decision",
        &DeviceDecision {
            user_code,
            decision,
        },
    )
    .await
}

pub async fn authorization_request(id: &str) -> ApiResult<AuthorizationRequestView> {
    get(&format!("/oauth/requests/{}", encode(id))).await
}

pub async fn decide(id: &str, decision: Decision) -> ApiResult<ConsentResult> {
    post(
        &format!("/oauth/requests/{}", encode(id)),
        &ConsentDecision { decision },
    )
    .await
}

// ----- audit -----

/// Filters of the audit log.
#[derive(Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// `me` or `all` (admins).
    pub scope: String,
    pub actor: String,
    pub action: String,
    pub since: String,
    pub until: String,
}

impl AuditFilter {
    fn query(&self, cursor: &str, limit: &str) -> String {
        query(&[
            ("scope", &self.scope),
            ("actor", &self.actor),
            ("action", &self.action),
            ("since", &self.since),
            ("until", &self.until),
            ("limit", limit),
            ("cursor", cursor),
        ])
    }
}

pub async fn audit_events(
    filter: &AuditFilter,
    cursor: Option<String>,
) -> ApiResult<Page<AuditEvent>> {
    get(&format!(
        "/audit-events{}",
        filter.query(cursor.as_deref().unwrap_or(""), "50")
    ))
    .await
}

pub async fn audit_events_csv(filter: &AuditFilter) -> ApiResult<String> {
    call(
        Method::Get,
        &format!("/audit-events{}", filter.query("", "")),
        None,
        "text/csv",
    )
    .await
}

pub async fn subscription() -> ApiResult<Subscription> {
    get("/subscription").await
}
