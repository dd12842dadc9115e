//! Who is calling, and what they may do.
//!
//! - `principal.rs`: the [`Principal`] (user, subscription, and the credential it came
//!   [`Via`]), the [`Action`]s handlers take and the permission table
//!   ([`Action::rule`], [`Principal::require`]), tested whole: every role × every kind
//!   of credential × every action.
//! - `extract.rs`: the [`Authenticated`] extractor — the request's one credential
//!   turned into a `Principal`, re-reading the user's role and state on every request
//!   so that demotion, disabling and deletion take effect at once — and the header
//!   parsing it shares ([`bearer_token`]).
//! - `meta.rs`: [`ClientMeta`], where a request came from and when.
//! - The credential checks themselves: `session.rs`, `api_key.rs`, `access_token.rs`,
//!   `client.rs` (OAuth clients), through the shared `Authenticator`.

pub mod access_token;
pub mod api_key;
mod authenticator;
pub mod cache;
pub mod client;
pub mod cors;
pub mod device_polls;
mod extract;
pub mod jwt;
pub mod lockout;
mod meta;
pub mod passkeys;
pub mod password;
mod principal;
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
pub use extract::{
    Authenticated, CSRF_HEADER, SECURE_SESSION_COOKIE, SESSION_COOKIE, ZSESSIONID_HEADER,
    bearer_of, bearer_token, is_safe, traced, traced_with,
};
pub use meta::ClientMeta;
pub use principal::{Action, Hold, Principal, Via, owned_or_administered, read_only, role_listed};
