//! The wire contract of Gatehouse: every JSON body that crosses between the server and
//! its clients, plus the small validation rules both sides apply. It compiles for the
//! server and for the WASM single-page app, so it depends on serde and chrono only.

pub mod audit;
pub mod error;
#[cfg(feature = "openapi")]
pub mod schema;
pub mod validate;

pub use error::{ErrorBody, ErrorDetail, codes};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};

/// A page of a list endpoint: `{"items": [...], "next_cursor": "…" | null}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// What a user may do in their subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Editor, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Who must sign in with two steps (a password and a code or passkey).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TwoStepPolicy {
    /// Everyone chooses for themselves.
    Optional,
    /// Administrators must.
    Admins,
    /// Everyone must.
    Everyone,
}

impl TwoStepPolicy {
    pub const ALL: [TwoStepPolicy; 3] = [
        TwoStepPolicy::Optional,
        TwoStepPolicy::Admins,
        TwoStepPolicy::Everyone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TwoStepPolicy::Optional => "optional",
            TwoStepPolicy::Admins => "admins",
            TwoStepPolicy::Everyone => "everyone",
        }
    }

    pub fn parse(s: &str) -> Option<TwoStepPolicy> {
        TwoStepPolicy::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether a person of `role` must sign in with two steps.
    pub fn requires(self, role: Role) -> bool {
        match self {
            TwoStepPolicy::Optional => false,
            TwoStepPolicy::Admins => role == Role::Admin,
            TwoStepPolicy::Everyone => true,
        }
    }
}

/// Whether a user may sign in and whether their credentials work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    Active,
    Disabled,
    Locked,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Disabled => "disabled",
            UserState::Locked => "locked",
        }
    }

    pub fn parse(s: &str) -> Option<UserState> {
        [UserState::Active, UserState::Disabled, UserState::Locked]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A person, or a client's service account (client credentials), which never signs in
/// and belongs to its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    Person,
    Service,
}

impl UserKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Person => "person",
            UserKind::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<UserKind> {
        [UserKind::Person, UserKind::Service]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A person in a subscription, as the API shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: String,
    pub subscription_id: String,
    pub username: String,
    pub display_name: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub email: Option<String>,
    pub role: Role,
    pub state: UserState,
    /// Failed sign-ins have locked password sign-in until then (the user's sessions,
    /// keys and tokens keep working); `null` when password sign-in is open.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub password_locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// `service`: the service account of the OAuth client `service_client_id`.
    pub kind: UserKind,
    /// The OAuth client (its record id) a service account belongs to.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub service_client_id: Option<String>,
}

/// The policies of a subscription (docs/PRODUCT.md §6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriptionSettings {
    pub api_keys_enabled: bool,
    #[cfg_attr(
        feature = "openapi",
        schema(required = true, minimum = 1, maximum = 3650)
    )]
    pub api_key_max_lifetime_days: Option<u32>,
    pub api_key_full_access_roles: Vec<Role>,
    pub oauth_client_roles: Vec<Role>,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 43200))]
    pub session_idle_minutes: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 8760))]
    pub session_max_hours: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub login_lockout_threshold: u32,
    /// Who must sign in with two steps.
    pub two_step_policy: TwoStepPolicy,
    /// Days a person has to set up a second step once the policy applies to them;
    /// until then signing in takes them straight to setting one up.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 90))]
    pub two_step_grace_days: u32,
}

/// A tenant: its name and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Subscription {
    pub id: String,
    pub name: String,
    pub settings: SubscriptionSettings,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `PATCH /api/v1/subscription`: every field optional; `api_key_max_lifetime_days: null`
/// removes the limit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscription {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name_or_null))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_keys_enabled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "whole::double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub api_key_max_lifetime_days: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_full_access_roles: Option<Vec<Role>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_client_roles: Option<Vec<Role>>,
    #[serde(
        default,
        deserialize_with = "whole::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 43200))]
    pub session_idle_minutes: Option<u32>,
    #[serde(
        default,
        deserialize_with = "whole::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 8760))]
    pub session_max_hours: Option<u32>,
    #[serde(
        default,
        deserialize_with = "whole::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub login_lockout_threshold: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub two_step_policy: Option<TwoStepPolicy>,
    #[serde(
        default,
        deserialize_with = "whole::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 90))]
    pub two_step_grace_days: Option<u32>,
}

/// `POST /api/v1/session`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub username: String,
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub password: String,
}

impl std::fmt::Debug for SignInRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The credential a request was made with, as `GET /api/v1/session` reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Credential {
    /// A signed-in browser session.
    Session {
        created_at: DateTime<Utc>,
        /// When the session ends at the latest, whatever the activity.
        expires_at: DateTime<Utc>,
        /// When the session ends if it stays unused.
        idle_expires_at: DateTime<Utc>,
        /// Until when sensitive actions (a full-access key, a new client secret, a new
        /// password or second step, administering other people) go ahead without
        /// confirming the password again (`POST /api/v1/session/sudo`).
        sudo_until: DateTime<Utc>,
        /// The person must set up a second step before anything else (the
        /// subscription's two-step policy): only their second steps and the session
        /// itself answer until then.
        enrolment_required: bool,
        /// The person signed in with a temporary password an administrator generated:
        /// they must choose their own (`PUT /api/v1/me/password`) before anything else.
        #[serde(default)]
        password_change_required: bool,
    },
    /// An API key.
    ApiKey {
        id: String,
        name: String,
        /// What the key does now: its own permission, narrowed by its user's role.
        permission: Permission,
        /// The permission the key was created with.
        key_permission: Permission,
    },
    /// An OAuth access token.
    Oauth {
        client_id: String,
        client_name: String,
        grant_id: String,
        scopes: Vec<String>,
        permission: Permission,
    },
}

/// What an API key may do: only safe methods, or everything its user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    ReadOnly,
    FullAccess,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadOnly => "read_only",
            Permission::FullAccess => "full_access",
        }
    }

    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "read_only" => Some(Permission::ReadOnly),
            "full_access" => Some(Permission::FullAccess),
            _ => None,
        }
    }
}

/// An API key as its owner and admins see it: never the secret, only a hint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub permission: Permission,
    /// `gatk_…` and the secret's last four characters.
    pub hint: String,
    pub user_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Precise to about a minute: uses are recorded at most once a minute per key.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_used_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_reset_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub expires_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/api-keys`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name))]
    pub name: String,
    pub permission: Permission,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The answer to creating or resetting a key: the only time the secret is shown.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyWithSecret {
    #[serde(flatten)]
    pub key: ApiKey,
    #[cfg_attr(feature = "openapi", schema(pattern = r"^gatk_[0-9A-Za-z]{46}$"))]
    pub secret: String,
}

impl std::fmt::Debug for ApiKeyWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyWithSecret")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// `PATCH /api/v1/api-keys/{id}`: rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateApiKey {
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name))]
    pub name: String,
}

/// `POST /api/v1/api-keys/{id}/reset`, body optional. Without `expires_at` the key keeps
/// the lifetime it had, counted from now.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetApiKey {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key in the administrators' list of every key of the subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SubscriptionApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    pub username: String,
    pub user_display_name: String,
}

/// `GET /api/v1/auth/verify`: who the credential belongs to (also sent as headers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerifyResponse {
    pub user_id: String,
    pub username: String,
    pub subscription_id: String,
    pub permission: Permission,
}

/// Whether a client can keep a secret (a server) or not (a browser or native app,
/// which must use PKCE instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    Confidential,
    Public,
}

impl ClientType {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::Confidential => "confidential",
            ClientType::Public => "public",
        }
    }

    pub fn parse(s: &str) -> Option<ClientType> {
        match s {
            "confidential" => Some(ClientType::Confidential),
            "public" => Some(ClientType::Public),
            _ => None,
        }
    }
}

/// A registered OAuth client, as its owner and admins see it (never the secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthClient {
    pub id: String,
    /// The public identifier apps send: 32 lowercase hex characters.
    #[cfg_attr(feature = "openapi", schema(pattern = r"^[0-9a-f]{32}$"))]
    pub client_id: String,
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub homepage_url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub logo_url: Option<String>,
    /// A first-party integration marked by an operator: consent is pre-approved.
    pub standard: bool,
    pub owner_id: String,
    /// `gats_…` and the secret's last four characters; absent for public clients.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub secret_hint: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub secret_reset_at: Option<DateTime<Utc>>,
    /// What the client may use at the token endpoint (RFC 7591 names).
    pub grant_types: Vec<String>,
    /// Where the client may send people after signing out (RP-Initiated Logout).
    pub post_logout_redirect_uris: Vec<String>,
    /// Where Gatehouse posts logout tokens (Back-Channel Logout).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub backchannel_logout_uri: Option<String>,
    /// The browser origins that may read the protocol endpoints' answers and call the
    /// API with this client's tokens; by default the origins of the callback URLs.
    pub allowed_origins: Vec<String>,
    /// The role of the client's service account (client credentials).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub service_role: Option<Role>,
    /// The service account's user id, while client credentials are enabled.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub service_user_id: Option<String>,
    /// When an administrator disabled the client: while set, it gets no authorizations
    /// and no tokens.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub disabled_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/oauth-clients`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOAuthClient {
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::redirect_uris))]
    pub redirect_uris: Vec<String>,
    #[serde(default = "default_client_type")]
    pub client_type: ClientType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub homepage_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Default `["authorization_code", "refresh_token"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::grant_types))]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::uri_list))]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Default: the origins of the callback URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::origins))]
    pub allowed_origins: Option<Vec<String>>,
    /// With `client_credentials` (administrators only): `viewer` or `editor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_role: Option<Role>,
}

fn default_client_type() -> ClientType {
    ClientType::Confidential
}

/// `PATCH /api/v1/oauth-clients/{id}`; `null` clears the homepage or logo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateOAuthClient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name_or_null))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::redirect_uris_or_null))]
    pub redirect_uris: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub homepage_url: Option<Option<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub logo_url: Option<Option<String>>,
    /// Admins only: mark a first-party integration whose consent is pre-approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard: Option<bool>,
    /// Admins only: a disabled client gets no authorizations and no tokens, and
    /// disabling it revokes every grant it holds, so its tokens stop at once. Enabling
    /// it again gives back nothing revoked: people allow it anew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Enabling `client_credentials` needs an administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::grant_types))]
    pub grant_types: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::uri_list))]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// `null` removes it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub backchannel_logout_uri: Option<Option<String>>,
    /// `null` goes back to the default (the origins of the callback URLs).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::origins_or_null))]
    pub allowed_origins: Option<Option<Vec<String>>>,
    /// Administrators only; `null` removes it (and with it client credentials).
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub service_role: Option<Option<Role>>,
}

/// `POST /api/v1/oauth-clients/{id}/reset-secret`, body optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ResetClientSecret {
    /// Also revoke every grant of the client, so that every token it holds stops.
    #[serde(default)]
    pub revoke_tokens: bool,
}

/// A client with its secret: the answer to create and reset-secret, the only time the
/// secret is shown. Public clients have none.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthClientWithSecret {
    #[serde(flatten)]
    pub client: OAuthClient,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for OAuthClientWithSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClientWithSecret")
            .field("client", &self.client)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

/// Whether an authorized application may still act for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GrantState {
    Active,
    Revoked,
}

/// An application the user has authorized (a grant), as the Authorized Applications tab
/// shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizedApp {
    pub id: String,
    pub client_id: String,
    pub client_name: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub homepage_url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub logo_url: Option<String>,
    pub standard: bool,
    pub scopes: Vec<String>,
    pub state: GrantState,
    pub authorized_at: DateTime<Utc>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub last_used_at: Option<DateTime<Utc>>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub revoked_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/oauth/requests/{id}`: what the consent page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuthorizationRequestView {
    pub id: String,
    pub client_id: String,
    pub client_name: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub homepage_url: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub logo_url: Option<String>,
    pub standard: bool,
    pub scopes: Vec<String>,
    /// Where the browser goes afterwards: the host of the redirect URI.
    pub redirect_host: String,
    /// Who registered the client: the display name of the user who registered it, or
    /// their username when the display name is empty.
    pub registered_by: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
}

/// `POST /api/v1/oauth/requests/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentDecision {
    pub decision: Decision,
}

/// Where the SPA sends the browser after a consent decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentResult {
    pub redirect_to: String,
}

/// `POST /api/v1/oauth/device`: the code a person read off a device's screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceCodeLookup {
    /// `XXXX-XXXX`; case, spaces and the dash do not matter.
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub user_code: String,
}

/// What a device asks for, shown on the `/device` page before the person decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceRequestView {
    /// The code, as `XXXX-XXXX`.
    pub user_code: String,
    pub client_id: String,
    pub client_name: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub homepage_url: Option<String>,
    pub scopes: Vec<String>,
    /// Who registered the client.
    pub registered_by: String,
    /// The address the device asked from, and its user agent, as Gatehouse saw them.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub device_ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub device_user_agent: Option<String>,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/oauth/device/decision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceDecision {
    #[cfg_attr(feature = "openapi", schema(max_length = 32))]
    pub user_code: String,
    pub decision: Decision,
}

/// The answer to a device decision: what the device will be told at its next poll.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeviceDecisionResult {
    pub decision: Decision,
    pub client_name: String,
}

/// `POST /api/v1/session` and `GET /api/v1/session`: who am I, and with which credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionInfo {
    pub user: User,
    pub subscription: Subscription,
    pub credential: Credential,
    /// The value every unsafe request made with the session cookie must echo in
    /// `X-CSRF-Token`. Present only for session credentials.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub csrf_token: Option<String>,
}

/// `PATCH /api/v1/me`: `email: null` removes the address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name_or_null))]
    pub display_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::email_or_null))]
    pub email: Option<Option<String>>,
}

/// The answer to a password change: the other sessions it ended, and what was created
/// in the last day — to look over, in case someone else knew the old password.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordChanged {
    /// The person's other browser sessions, signed out by the change.
    pub sessions_ended: u64,
    /// API keys created and applications allowed in the last 24 hours, newest first.
    pub recent: Vec<RecentCredential>,
}

/// An API key or an authorized application, as a password change lists it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecentCredential {
    pub kind: RecentKind,
    /// The key's or the authorization's id.
    pub id: String,
    /// The key's name, or the application's.
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RecentKind {
    ApiKey,
    AuthorizedApp,
}

/// `PUT /api/v1/me/password`.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    #[cfg_attr(feature = "openapi", schema(format = Password))]
    pub current_password: String,
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::new_password))]
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePassword { <redacted> }")
    }
}

/// `POST /api/v1/users`. Without `password`, the server generates one and returns it once.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::username))]
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name_or_null))]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::email_or_null))]
    pub email: Option<String>,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::new_password_or_null))]
    pub password: Option<String>,
}

impl std::fmt::Debug for PasswordReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordReset")
            .field("user", &self.user)
            .field("temporary_password", &"[redacted]")
            .field("sessions_ended", &self.sessions_ended)
            .finish()
    }
}

impl std::fmt::Debug for CreatedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedUser")
            .field("user", &self.user)
            .field(
                "initial_password",
                &self.initial_password.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// The answer to `POST /api/v1/users`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedUser {
    pub user: User,
    /// The generated password, shown this once; absent when the admin chose one. It is
    /// temporary: the person chooses their own at their first sign-in with it.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub initial_password: Option<String>,
}

/// One of the person's signed-in browsers (`GET /api/v1/me/sessions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BrowserSession {
    pub id: String,
    /// When the person signed in.
    pub created_at: DateTime<Utc>,
    /// Its last request (kept to within a minute).
    pub last_seen_at: DateTime<Utc>,
    /// The address and program it signed in from.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub user_agent: Option<String>,
    /// How it signed in (OpenID Connect `amr`: `pwd`, `otp`, `hwk`, …).
    pub amr: Vec<String>,
    /// The session that asked.
    pub current: bool,
}

/// The answer to ending sessions: how many ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionsEnded {
    pub sessions_ended: u64,
}

/// The answer to `POST /api/v1/users/{id}/password`: a new, generated password, shown
/// this once. It is temporary: the person chooses their own at their next sign-in
/// (within three days: an older one no longer signs in).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasswordReset {
    pub user: User,
    pub temporary_password: String,
    /// How many of their sessions ended (every one: a forgotten password may be a
    /// stolen one).
    pub sessions_ended: u64,
}

/// `PATCH /api/v1/users/{id}`. `state: "active"` also unlocks a locked user;
/// `locked` cannot be set by hand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name_or_null))]
    pub display_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::email_or_null))]
    pub email: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<UserState>,
}

/// One entry of the audit log: who did what, with which credential, to what, from where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub id: String,
    /// The user who acted; absent for failed sign-ins of unknown usernames.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub actor_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub actor_username: Option<String>,
    /// `session`, `api_key`, `oauth`, or `cli` for operator commands.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub credential_kind: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub credential_id: Option<String>,
    /// Dotted, past tense: `session.signed_in`, `user.updated`, …
    pub action: String,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub target_type: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub target_id: Option<String>,
    /// The user the event concerns (whose account, whose key), if any.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub subject_user_id: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub ip: Option<String>,
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub user_agent: Option<String>,
    pub details: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    pub status: String,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
/// Counts in request bodies: a JSON integer, or a number with a zero fraction (`55.0`),
/// which JSON Schema also counts as an integer. Anything else is refused as before.
mod whole {
    use serde::Deserialize;
    use serde::de::{self, Deserializer, Unexpected, Visitor};

    struct Whole(u32);

    impl<'de> Deserialize<'de> for Whole {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(WholeVisitor).map(Whole)
        }
    }

    struct WholeVisitor;

    impl Visitor<'_> for WholeVisitor {
        type Value = u32;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number from 0 to 4294967295")
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u32, E> {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                Ok(v as u32)
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
    }

    pub fn option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
        Ok(Option::<Whole>::deserialize(deserializer)?.map(|w| w.0))
    }

    /// Present (`Some`), with `null` as `Some(None)`.
    pub fn double_option<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<u32>>, D::Error> {
        option(deserializer).map(Some)
    }
}

fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_may_be_written_with_a_zero_fraction() {
        let patch: UpdateSubscription = serde_json::from_str(
            r#"{"session_idle_minutes": 55.0, "session_max_hours": 12, "api_key_max_lifetime_days": 30.0}"#,
        )
        .unwrap();
        assert_eq!(patch.session_idle_minutes, Some(55));
        assert_eq!(patch.session_max_hours, Some(12));
        assert_eq!(patch.api_key_max_lifetime_days, Some(Some(30)));
        let cleared: UpdateSubscription =
            serde_json::from_str(r#"{"api_key_max_lifetime_days": null}"#).unwrap();
        assert_eq!(cleared.api_key_max_lifetime_days, Some(None));
        for bad in [
            r#"55.5"#,
            r#"-1"#,
            r#"4294967296"#,
            r#"1e30"#,
            r#""55""#,
            r#"-1.0"#,
        ] {
            let body = format!(r#"{{"session_idle_minutes": {bad}}}"#);
            assert!(
                serde_json::from_str::<UpdateSubscription>(&body).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn null_and_missing_differ_in_patches() {
        let missing: UpdateMe = serde_json::from_str("{}").unwrap();
        assert_eq!(missing.email, None);
        let null: UpdateMe = serde_json::from_str(r#"{"email": null}"#).unwrap();
        assert_eq!(null.email, Some(None));
        let set: UpdateMe = serde_json::from_str(r#"{"email": "a@b.c"}"#).unwrap();
        assert_eq!(set.email, Some(Some("a@b.c".into())));
    }

    #[test]
    fn credential_is_tagged_by_kind() {
        let now = Utc::now();
        let c = Credential::Session {
            created_at: now,
            expires_at: now,
            idle_expires_at: now,
            sudo_until: now,
            enrolment_required: false,
            password_change_required: false,
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["kind"], "session");
    }

    #[test]
    fn secrets_are_not_debug_printed() {
        let r = SignInRequest {
            username: "a".into(),
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}

/// A stored word that names none of an enum's values (the database's `CHECK`
/// constraints keep such words out; this is the error if one got in anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is not a {}", self.value, self.kind)
    }
}

impl std::error::Error for UnknownValue {}

/// `TryFrom<String>` for the enums stored as words, so a row is parsed once where it is
/// read (the server's `#[diesel(deserialize_as = String)]`).
macro_rules! parsed_from_string {
    ($($ty:ident: $kind:literal),* $(,)?) => {$(
        impl TryFrom<String> for $ty {
            type Error = UnknownValue;
            fn try_from(value: String) -> Result<$ty, UnknownValue> {
                $ty::parse(&value).ok_or(UnknownValue { kind: $kind, value })
            }
        }
    )*};
}

parsed_from_string!(
    Role: "role",
    UserState: "user state",
    Permission: "permission",
    ClientType: "client type",
    UserKind: "user kind",
    TwoStepPolicy: "two-step policy",
);

// ----- Two-step sign-in -----

/// What a second step of sign-in is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorKind {
    /// One-time codes from an authenticator app (RFC 6238).
    Totp,
    /// A passkey (WebAuthn): also signs in on its own, with no password.
    Passkey,
}

/// One of a person's second steps.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactor {
    pub id: String,
    pub kind: SecondFactorKind,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/me/second-factors`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondFactors {
    /// The confirmed ones, oldest first.
    pub items: Vec<SecondFactor>,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
}

/// The start of an authenticator app's enrolment: scan the QR code (or type the
/// secret), then confirm with a code from the app.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TotpEnrolment {
    pub id: String,
    /// Base32, for apps that cannot scan.
    pub secret: String,
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// `POST /api/v1/me/second-factors/{id}/confirm`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfirmSecondFactor {
    /// A code the app shows now.
    pub code: String,
    /// What the person calls it ("Phone").
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name))]
    pub name: String,
}

/// A confirmed second step; with the ten recovery codes, shown this once, when it is
/// the person's first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfirmedSecondFactor {
    pub factor: SecondFactor,
    pub recovery_codes: Option<Vec<String>>,
}

/// Ten new recovery codes, shown this once; the earlier ones stop working.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

/// The answer to a right password when a second step is owed (202): the token of the
/// waiting sign-in (five minutes, a few tries) and what the person may use.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SecondStepRequired {
    pub second_step_token: String,
    /// What the person may give: `totp` (when they have an app), `passkey` (when they
    /// have one) and `recovery_code`.
    pub methods: Vec<String>,
    pub expires_in: i64,
    /// With `passkey`: the options for `navigator.credentials.get()` (WebAuthn's
    /// `PublicKeyCredentialRequestOptions` in its JSON form, under `publicKey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub passkey_options: Option<serde_json::Value>,
}

/// The first half of a WebAuthn ceremony (registering a passkey, or signing in or
/// confirming with one): its id, and the options for `navigator.credentials`
/// (`create()` or `get()`), in their JSON form under `publicKey`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PasskeyChallenge {
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub options: serde_json::Value,
    pub expires_in: i64,
}

/// `POST /api/v1/me/second-factors/passkey/{id}`: the new credential, as the browser's
/// `PublicKeyCredential.toJSON()` gives it, and its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FinishPasskey {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
    #[cfg_attr(feature = "openapi", schema(schema_with = schema::name))]
    pub name: String,
}

/// A signed WebAuthn assertion answering a ceremony (`PublicKeyCredential.toJSON()`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasskeyAssertion {
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
}

/// `POST /api/v1/session/second-step`: a one-time code or a recovery code.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SecondStep {
    pub second_step_token: String,
    pub code: Option<String>,
    pub recovery_code: Option<String>,
    /// A passkey's signed answer to `passkey_options` (`PublicKeyCredential.toJSON()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub passkey: Option<serde_json::Value>,
}

/// `POST /api/v1/session/sudo`: the password again and, for a person with a second
/// step, a code or recovery code with it.
#[derive(Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SudoRequest {
    /// Needed unless a passkey answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
    /// A passkey's answer to `POST /api/v1/session/sudo/passkey`: on its own, enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey: Option<SudoPasskey>,
}

/// A passkey confirming sudo mode: the ceremony's id and the signed answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SudoPasskey {
    pub ceremony_id: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub credential: serde_json::Value,
}

impl std::fmt::Debug for SudoRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SudoRequest { <redacted> }")
    }
}

impl std::fmt::Debug for SecondStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecondStep { <redacted> }")
    }
}
