//! `Authenticator`: everything a credential check needs — the database, the token
//! hasher, the password-hashing pool, the credential caches, the JWT keys and the
//! failure limiters — owned by the auth layer, so that no credential check reaches
//! above it.

use std::time::Duration;

use crate::auth::cache::{Cache, CachedClient, CachedGrant, CachedKey, Invalidate};
use crate::auth::jwt::SigningKeys;
use crate::auth::password::Passwords;
use crate::auth::tokens::TokenHasher;
use crate::client_address::{ForwardedHeader, TrustedProxies};
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::Database;
use crate::limiter::FailureLimiter;

/// Failed sign-ins from one client address within [`SIGN_IN_FAILURE_WINDOW`] before that
/// address is told to wait (429 with `Retry-After`) until the window ends. It slows
/// password spraying across many usernames, which the per-user lockout cannot see.
pub const SIGN_IN_FAILURES_PER_ADDRESS: u32 = 20;
pub const SIGN_IN_FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Failed OAuth client authentications per client and caller address in
/// [`CLIENT_AUTH_FAILURE_WINDOW`] before that pair is told to wait.
pub const CLIENT_AUTH_FAILURES: u32 = 10;
pub const CLIENT_AUTH_FAILURE_WINDOW: Duration = Duration::from_secs(60);

pub struct Authenticator {
    pub db: Database,
    /// The server's time (`clock::Clock`), shared with the handlers.
    pub clock: Clock,
    pub tokens: TokenHasher,
    pub passwords: Passwords,
    /// Verified API keys, for a couple of seconds.
    pub keys: Cache<CachedKey>,
    /// Active OAuth grants behind access tokens, for a couple of seconds.
    pub grants: Cache<CachedGrant>,
    /// Registered OAuth clients by `client_id`, for the protocol endpoints.
    pub clients: Cache<CachedClient>,
    /// JWT signing and verification keys.
    pub signing: SigningKeys,
    /// Failed OAuth client authentications, per client and caller address.
    pub client_auth_limiter: FailureLimiter,
    /// Failed sign-ins, per caller address.
    pub sign_in_limiter: FailureLimiter,
    /// Peers whose forwarding headers are believed, and the header they write.
    pub trusted_proxies: TrustedProxies,
    pub forwarded_header: ForwardedHeader,
}

impl Authenticator {
    /// Loads (or on first start creates) the signing keys and sets up the rest.
    pub fn new(settings: &Settings, db: Database, clock: Clock) -> anyhow::Result<Authenticator> {
        let ttl = Duration::from_secs(settings.credential_cache_seconds);
        Ok(Authenticator {
            signing: SigningKeys::load_or_create(&mut *db.pool().get()?, settings)?,
            tokens: TokenHasher::new(settings.secret_pepper.as_ref()),
            passwords: Passwords::new(settings.password_hash_concurrency)?,
            keys: Cache::new(ttl),
            grants: Cache::new(ttl),
            clients: Cache::new(ttl),
            client_auth_limiter: FailureLimiter::new(
                CLIENT_AUTH_FAILURES,
                CLIENT_AUTH_FAILURE_WINDOW,
            ),
            sign_in_limiter: FailureLimiter::new(
                SIGN_IN_FAILURES_PER_ADDRESS,
                SIGN_IN_FAILURE_WINDOW,
            ),
            trusted_proxies: settings.trusted_proxies.clone(),
            forwarded_header: settings.forwarded_header,
            db,
            clock,
        })
    }

    /// Drops every cached credential that depends on what just changed. Call it after
    /// the change is committed, before answering.
    pub fn invalidate(&self, change: Invalidate<'_>) {
        self.keys.invalidate(change);
        self.grants.invalidate(change);
        self.clients.invalidate(change);
    }
}
