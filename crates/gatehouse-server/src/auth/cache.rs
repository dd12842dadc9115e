//! Per-process caches of verified credentials — API keys, OAuth grants and OAuth
//! clients — which keep the authentication hot path off the database.
//!
//! Bounds, in order of strength:
//! - **On the replica that made a change, at once.** Every change that can weaken a
//!   credential (key reset or deleted, grant revoked, client deleted, user disabled,
//!   demoted or deleted, keys switched off, settings changed) invalidates the affected
//!   entries before its handler answers. A lookup that read the database before such an
//!   invalidation cannot store its stale answer: each invalidation bumps a generation
//!   counter under the write lock, and an answer read under an older generation is
//!   served once but never cached.
//! - **On other replicas on PostgreSQL, as soon as the change commits** (tens of
//!   milliseconds): the invalidation is also sent to every replica through `LISTEN`/
//!   `NOTIFY` (`db::notify`), and each drops the same entries. A replica that loses
//!   its listening connection forgets every entry when it reconnects, since messages
//!   may have been missed meanwhile.
//! - **Always within the TTL** (`credential_cache_seconds`, 2 s by default; 0 turns
//!   the caches off): after that, every entry is read again. It is the bound on SQLite
//!   (replicas of one SQLite file send no messages), and on PostgreSQL the backstop
//!   for a connection lost without notice.
//!
//! A cache holds at most `MAX_ENTRIES` entries; when full, expired entries are dropped,
//! and if that is not enough it starts over empty.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use gatehouse_types::Permission;

use crate::db::api_keys::ApiKeyRow;
use crate::db::grants::GrantRow;
use crate::db::oauth_clients::ClientRow;
use crate::db::subscriptions::SubscriptionRow;
use crate::db::users::UserRow;

const MAX_ENTRIES: usize = 100_000;

/// What a change affects; entries that depend on it are dropped.
#[derive(Debug, Clone, Copy)]
pub enum Invalidate<'a> {
    Key(&'a str),
    Grant(&'a str),
    Client(&'a str),
    User(&'a str),
    Subscription(&'a str),
    /// A device request was decided (`auth::device_polls`).
    Device(&'a str),
}

impl<'a> Invalidate<'a> {
    /// The change as a message to the other replicas: `kind:id`.
    pub fn message(&self) -> String {
        let (kind, id) = match self {
            Invalidate::Key(id) => ("key", id),
            Invalidate::Grant(id) => ("grant", id),
            Invalidate::Client(id) => ("client", id),
            Invalidate::User(id) => ("user", id),
            Invalidate::Subscription(id) => ("subscription", id),
            Invalidate::Device(id) => ("device", id),
        };
        format!("{kind}:{id}")
    }

    /// A message of [`Invalidate::message`]; `None` for anything else.
    pub fn parse(message: &'a str) -> Option<Invalidate<'a>> {
        let (kind, id) = message.split_once(':')?;
        Some(match kind {
            "key" => Invalidate::Key(id),
            "grant" => Invalidate::Grant(id),
            "client" => Invalidate::Client(id),
            "user" => Invalidate::User(id),
            "subscription" => Invalidate::Subscription(id),
            "device" => Invalidate::Device(id),
            _ => return None,
        })
    }
}

/// An entry says which records it was built from.
pub trait DependsOn {
    fn depends_on(&self, change: Invalidate<'_>) -> bool;
}

/// A key with its user and subscription as the database last said, and what follows
/// from them alone, worked out once per entry rather than once per request.
#[derive(Debug)]
pub struct CachedKey {
    pub key: ApiKeyRow,
    pub user: Arc<UserRow>,
    pub subscription: Arc<SubscriptionRow>,
    /// What the key may do: its own permission, capped by what the user's role may
    /// hold in this subscription.
    pub permission: Permission,
    /// The key's `GET /api/v1/session` answer, once a request has asked for it.
    pub answer: Arc<OnceLock<actix_web::web::Bytes>>,
    /// Unix seconds of the last `last_used_at` write this process made or saw.
    pub last_touch: AtomicI64,
}

impl CachedKey {
    pub fn new(key: ApiKeyRow, user: UserRow, subscription: SubscriptionRow) -> CachedKey {
        let last_touch = key
            .last_used_at
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(0);
        let permission = if key.permission == Permission::FullAccess
            && crate::auth::role_listed(&subscription.api_key_full_access_roles, user.role)
        {
            Permission::FullAccess
        } else {
            Permission::ReadOnly
        };
        CachedKey {
            key,
            user: Arc::new(user),
            subscription: Arc::new(subscription),
            permission,
            answer: Arc::default(),
            last_touch: AtomicI64::new(last_touch),
        }
    }
}

impl DependsOn for CachedKey {
    fn depends_on(&self, change: Invalidate<'_>) -> bool {
        match change {
            Invalidate::Key(id) => self.key.id == id,
            Invalidate::User(id) => self.user.id == id,
            Invalidate::Subscription(id) => self.subscription.id == id,
            Invalidate::Grant(_) | Invalidate::Client(_) | Invalidate::Device(_) => false,
        }
    }
}

/// An OAuth grant with its client, user and subscription.
#[derive(Debug)]
pub struct CachedGrant {
    pub grant: GrantRow,
    pub client: ClientRow,
    pub user: Arc<UserRow>,
    pub subscription: Arc<SubscriptionRow>,
    pub last_touch: AtomicI64,
}

impl CachedGrant {
    pub fn new(
        grant: GrantRow,
        client: ClientRow,
        user: UserRow,
        subscription: SubscriptionRow,
    ) -> CachedGrant {
        let last_touch = grant
            .last_used_at
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(0);
        CachedGrant {
            grant,
            client,
            user: Arc::new(user),
            subscription: Arc::new(subscription),
            last_touch: AtomicI64::new(last_touch),
        }
    }
}

impl DependsOn for CachedGrant {
    fn depends_on(&self, change: Invalidate<'_>) -> bool {
        match change {
            Invalidate::Grant(id) => self.grant.id == id,
            Invalidate::Client(id) => self.client.id == id,
            // A client goes with its owner (by cascade), and its grants with it.
            Invalidate::User(id) => self.user.id == id || self.client.owner_id == id,
            Invalidate::Subscription(id) => self.subscription.id == id,
            Invalidate::Key(_) | Invalidate::Device(_) => false,
        }
    }
}

/// A registered OAuth client, for the protocol endpoints' client authentication.
#[derive(Debug)]
pub struct CachedClient {
    pub client: ClientRow,
}

impl DependsOn for CachedClient {
    fn depends_on(&self, change: Invalidate<'_>) -> bool {
        match change {
            Invalidate::Client(id) => self.client.id == id,
            Invalidate::User(id) => self.client.owner_id == id,
            Invalidate::Subscription(id) => self.client.subscription_id == id,
            Invalidate::Key(_) | Invalidate::Grant(_) | Invalidate::Device(_) => false,
        }
    }
}

struct Slot<E> {
    entry: Arc<E>,
    fetched: Instant,
}

pub struct Cache<E> {
    /// `keys`, `grants` or `clients`, as the metrics name it.
    name: &'static str,
    ttl: Duration,
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Slot<E>>>,
}

impl<E: DependsOn> Cache<E> {
    pub fn new(name: &'static str, ttl: Duration) -> Cache<E> {
        Cache {
            name,
            ttl,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The generation to pass back to [`Cache::insert`] after reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn get(&self, key: &str) -> Option<Arc<E>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        entries
            .get(key)
            .filter(|s| s.fetched.elapsed() < self.ttl)
            .map(|s| s.entry.clone())
    }

    /// The entry for `key`, or what `load` reads (cached unless something was
    /// invalidated while it read): the one way every cache is filled. `None` when
    /// `load` finds nothing; nothing is cached then.
    pub async fn get_or_load<F, Fut>(
        &self,
        key: &str,
        load: F,
    ) -> Result<Option<Arc<E>>, crate::error::ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Option<E>, crate::error::ApiError>>,
    {
        if let Some(entry) = self.get(key) {
            crate::metrics::cache(self.name, true);
            return Ok(Some(entry));
        }
        crate::metrics::cache(self.name, false);
        let generation = self.generation();
        let Some(entry) = load().await? else {
            return Ok(None);
        };
        let entry = Arc::new(entry);
        self.insert(key.to_string(), entry.clone(), generation);
        Ok(Some(entry))
    }

    /// Stores what the database said, unless something was invalidated since
    /// `generation` was read.
    pub fn insert(&self, key: String, entry: Arc<E>, generation: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.write() else {
            return;
        };
        // Checked under the write lock: invalidations take it too, so none can slip
        // in between this check and the insert.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, s| s.fetched.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            key,
            Slot {
                entry,
                fetched: Instant::now(),
            },
        );
    }

    /// Drops every entry, and (like [`Cache::invalidate`]) keeps answers read before
    /// from being stored.
    pub fn clear(&self) {
        let mut entries = self
            .entries
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    pub fn invalidate(&self, change: Invalidate<'_>) {
        match self.entries.write() {
            Ok(mut entries) => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                entries.retain(|_, s| !s.entry.depends_on(change));
            }
            Err(poisoned) => {
                // A panic elsewhere left the lock poisoned; start over rather than
                // risk serving a revoked credential.
                self.generation.fetch_add(1, Ordering::SeqCst);
                poisoned.into_inner().clear();
            }
        }
    }
}

/// Records a credential's "last used" time at most once a minute per process: the
/// first request of the minute claims the write (`last_touch`), and the write runs off
/// the request path.
pub fn record_use<F>(
    auth: &actix_web::web::Data<crate::auth::Authenticator>,
    last_touch: &AtomicI64,
    now: chrono::NaiveDateTime,
    what: &'static str,
    write: F,
) where
    F: FnMut(&mut crate::db::DbConnection) -> Result<(), crate::error::ApiError> + Send + 'static,
{
    let now_secs = now.and_utc().timestamp();
    let last = last_touch.load(Ordering::Relaxed);
    if now_secs - last < crate::clock::TOUCH_INTERVAL.num_seconds()
        || last_touch
            .compare_exchange(last, now_secs, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    let auth = auth.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = auth.db.write(write).await {
            tracing::warn!(error = %e, what, "recording a use failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_messages_and_nothing_else_parses() {
        for change in [
            Invalidate::Key("k-1"),
            Invalidate::Grant("g-1"),
            Invalidate::Client("c-1"),
            Invalidate::User("u-1"),
            Invalidate::Subscription("s-1"),
            Invalidate::Device("d-1"),
        ] {
            let message = change.message();
            let back = Invalidate::parse(&message).expect("its own message");
            assert_eq!(back.message(), message);
        }
        for garbage in ["", "all", "key", "token:x", "KEY:x", "\u{0}:x"] {
            assert!(Invalidate::parse(garbage).is_none(), "{garbage:?}");
        }
    }
}
