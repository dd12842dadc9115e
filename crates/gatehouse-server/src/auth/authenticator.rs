//! `Authenticator`: everything a credential check needs — the database, the token
//! hasher, the password-hashing pool, the credential caches, the JWT keys and the
//! failure limiters — owned by the auth layer, so that no credential check reaches
//! above it.

use std::sync::{Arc, OnceLock, Weak, mpsc};
use std::time::Duration;

use super::device_polls::DevicePolls;
use crate::auth::cache::{Cache, CachedClient, CachedGrant, CachedKey, Invalidate};
use crate::auth::jwt::SigningKeys;
use crate::auth::password::Passwords;
use crate::auth::tokens::TokenHasher;
use crate::client_address::{ForwardedHeader, TrustedProxies};
use crate::clock::Clock;
use crate::config::Settings;
use crate::db::{Database, Worker};
use crate::limiter::FailureLimiter;

/// Failed sign-ins from one client address within [`SIGN_IN_FAILURE_WINDOW`] before that
/// address is told to wait (429 with `Retry-After`) until the window ends. It slows
/// password spraying across many usernames, which the per-user lockout cannot see.
pub const SIGN_IN_FAILURES_PER_ADDRESS: u32 = 20;
pub const SIGN_IN_FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Wrong device user codes per person, and per address, in
/// [`USER_CODE_FAILURE_WINDOW`] before they are told to wait (RFC 8628 §5.1): with
/// 20^8 codes, a guesser then needs millennia to hit one of the few live codes.
pub const USER_CODE_FAILURES: u32 = 10;
/// Wrong second steps (one-time or recovery codes) per person in
/// [`SECOND_STEP_FAILURE_WINDOW`], whatever the subscription's lockout threshold: a
/// thief who has the password gets this many guesses at a 6-digit code an hour, and
/// no administrator's setting raises it.
pub const SECOND_STEP_FAILURES: u32 = 10;
pub const SECOND_STEP_FAILURE_WINDOW: Duration = Duration::from_secs(3600);
/// Per address (a whole office behind one NAT shares it), more.
pub const USER_CODE_FAILURES_PER_ADDRESS: u32 = 50;
pub const USER_CODE_FAILURE_WINDOW: Duration = Duration::from_secs(600);
/// Device authorizations one client may start from one address in
/// [`USER_CODE_FAILURE_WINDOW`] (4 a second: a fleet set up behind one NAT fits):
/// anyone holding a public client's id may start them, and each is a row until the
/// retention job's next run after it expires.
pub const DEVICE_STARTS: u32 = 2_400;
/// Passkey sign-ins one address may start in [`USER_CODE_FAILURE_WINDOW`] (one a
/// second): anyone may start one, and each is a row until it expires.
pub const PASSKEY_STARTS: u32 = 600;
/// Seconds between device polls at first (RFC 8628 §3.2's default), and the most
/// `slow_down` raises it to: past a minute a device is broken, not hasty.
pub const DEVICE_POLL_SECONDS: i64 = 5;
pub const DEVICE_POLL_MAX_SECONDS: i64 = 60;
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
    /// Wrong second steps, per person.
    pub second_step_limiter: FailureLimiter,
    /// Wrong device user codes, per person (RFC 8628 §5.1)…
    pub user_code_limiter: FailureLimiter,
    /// …and per address.
    pub user_code_address_limiter: FailureLimiter,
    /// Device authorizations started, per client and address.
    pub device_start_limiter: FailureLimiter,
    /// Passkey sign-ins started, per address (each is a row for five minutes).
    pub passkey_start_limiter: FailureLimiter,
    /// When each device code was last polled, and its interval.
    pub device_polls: DevicePolls,
    /// Peers whose forwarding headers are believed, and the header they write.
    pub trusted_proxies: TrustedProxies,
    pub forwarded_header: ForwardedHeader,
    /// The session cookie's name (`auth::session::cookie_name`).
    pub session_cookie: &'static str,
    /// The WebAuthn relying party (passkeys).
    pub passkeys: super::passkeys::Passkeys,
    /// Where invalidations go to reach the other replicas (PostgreSQL only; set by
    /// [`Authenticator::tell_replicas`]).
    replicas: OnceLock<Worker<String>>,
}

impl Authenticator {
    /// Loads (or on first start creates) the signing keys and sets up the rest.
    pub fn new(settings: &Settings, db: Database, clock: Clock) -> anyhow::Result<Authenticator> {
        let ttl = Duration::from_secs(settings.credential_cache_seconds);
        Ok(Authenticator {
            signing: SigningKeys::load_or_create(&mut *db.pool().get()?, settings)?,
            tokens: TokenHasher::new(settings.secret_pepper.as_ref()),
            passwords: Passwords::new(settings.password_hash_concurrency, settings.password_cost)?,
            keys: Cache::new("keys", ttl),
            grants: Cache::new("grants", ttl),
            clients: Cache::new("clients", ttl),
            client_auth_limiter: FailureLimiter::new(
                CLIENT_AUTH_FAILURES,
                CLIENT_AUTH_FAILURE_WINDOW,
            ),
            sign_in_limiter: FailureLimiter::new(
                SIGN_IN_FAILURES_PER_ADDRESS,
                SIGN_IN_FAILURE_WINDOW,
            ),
            user_code_limiter: FailureLimiter::new(USER_CODE_FAILURES, USER_CODE_FAILURE_WINDOW),
            second_step_limiter: FailureLimiter::new(
                SECOND_STEP_FAILURES,
                SECOND_STEP_FAILURE_WINDOW,
            ),
            user_code_address_limiter: FailureLimiter::new(
                USER_CODE_FAILURES_PER_ADDRESS,
                USER_CODE_FAILURE_WINDOW,
            ),
            device_start_limiter: FailureLimiter::new(DEVICE_STARTS, USER_CODE_FAILURE_WINDOW),
            passkey_start_limiter: FailureLimiter::new(PASSKEY_STARTS, USER_CODE_FAILURE_WINDOW),
            device_polls: DevicePolls::new(DEVICE_POLL_SECONDS, DEVICE_POLL_MAX_SECONDS),
            trusted_proxies: settings.trusted_proxies.clone(),
            forwarded_header: settings.forwarded_header,
            session_cookie: super::session::cookie_name(&settings.public_url),
            passkeys: super::passkeys::Passkeys::new(&settings.public_url),
            replicas: OnceLock::new(),
            db,
            clock,
        })
    }

    /// Drops every cached credential that depends on what just changed. Call it after
    /// the change is committed, before answering.
    /// On PostgreSQL the other replicas are told too (`db::notify`), and drop the same
    /// entries as soon as the message arrives.
    pub fn invalidate(&self, change: Invalidate<'_>) {
        self.invalidate_here(change);
        if let Some(replicas) = self.replicas.get()
            && !replicas.send(change.message())
        {
            tracing::warn!(
                "replica messages are off: other replicas learn of changes within the cache TTL"
            );
        }
    }

    fn invalidate_here(&self, change: Invalidate<'_>) {
        self.keys.invalidate(change);
        self.grants.invalidate(change);
        self.clients.invalidate(change);
        if let Invalidate::Device(id) = change {
            self.device_polls.forget(id);
        }
    }

    /// Forgets every cached credential.
    fn forget_all(&self) {
        self.keys.clear();
        self.grants.clear();
        self.clients.clear();
        self.device_polls.forget_all();
    }

    /// Starts sending this replica's invalidations to the others, and applying theirs,
    /// over a connection of its own to the PostgreSQL database at `url`. The thread
    /// stops when the authenticator is dropped.
    pub fn tell_replicas(self: &Arc<Self>, url: &str) -> std::io::Result<()> {
        let (tx, rx) = mpsc::channel();
        let thread = crate::db::notify::spawn(url.to_string(), rx, Replicas(Arc::downgrade(self)))?;
        let _ = self.replicas.set(Worker::new(tx, Some(thread)));
        self.device_polls.told_by_replicas();
        Ok(())
    }

    /// At shutdown: sends what is still pending to the other replicas and stops the
    /// thread; later invalidations stay local.
    pub fn stop_telling_replicas(&self) {
        if let Some(replicas) = self.replicas.get() {
            replicas.stop(Duration::from_secs(3), "replica messages");
        }
    }
}

/// The notification thread's view of the authenticator: weak, so that the thread does
/// not keep it alive.
struct Replicas(Weak<Authenticator>);

impl crate::db::notify::Listener for Replicas {
    fn received(&self, message: &str) -> bool {
        let Some(auth) = self.0.upgrade() else {
            return false;
        };
        if message == crate::db::notify::FORGET_ALL {
            auth.forget_all();
        } else if let Some(change) = Invalidate::parse(message) {
            auth.invalidate_here(change);
        }
        // Anything else is not ours (a newer version's kind, or someone else on the
        // channel): ignored, since forgetting everything for it would let anyone who
        // can reach the database empty the caches at will; the TTL bounds it.
        true
    }

    fn reconnected(&self) -> bool {
        let Some(auth) = self.0.upgrade() else {
            return false;
        };
        auth.forget_all();
        true
    }
}
