//! The per-process cache of verified API keys, which keeps the authentication hot path
//! off the database.
//!
//! Bounds, in order of strength:
//! - **On the replica that made a change, at once.** Every change that can weaken a
//!   key (reset, delete, user disabled, demoted or deleted, keys switched off, settings
//!   changed) invalidates the affected entries before its handler answers. A lookup
//!   that read the database before such an invalidation cannot store its stale answer:
//!   each invalidation bumps a generation counter, and an answer read under an older
//!   generation is served once but never cached.
//! - **On other replicas, within the TTL** (`credential_cache_seconds`, 2 s by
//!   default; 0 turns the cache off). After that, every entry is read from the
//!   database again.
//!
//! The cache holds at most `MAX_ENTRIES` keys; when full, expired entries are dropped,
//! and if that is not enough the cache starts over empty.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::api_keys::store::ApiKeyRow;
use crate::subscriptions::store::SubscriptionRow;
use crate::users::store::UserRow;

const MAX_ENTRIES: usize = 100_000;

/// A key with its user and subscription as the database last said.
#[derive(Debug)]
pub struct CachedKey {
    pub key: ApiKeyRow,
    pub user: Arc<UserRow>,
    pub subscription: Arc<SubscriptionRow>,
    /// Unix seconds of the last `last_used_at` write this process made or saw.
    pub last_touch: AtomicI64,
    fetched: Instant,
}

impl CachedKey {
    pub fn new(key: ApiKeyRow, user: UserRow, subscription: SubscriptionRow) -> CachedKey {
        let last_touch = key
            .last_used_at
            .map(|t| t.and_utc().timestamp())
            .unwrap_or(0);
        CachedKey {
            key,
            user: Arc::new(user),
            subscription: Arc::new(subscription),
            last_touch: AtomicI64::new(last_touch),
            fetched: Instant::now(),
        }
    }
}

pub struct KeyCache {
    ttl: Duration,
    generation: AtomicU64,
    entries: RwLock<HashMap<String, Arc<CachedKey>>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> KeyCache {
        KeyCache {
            ttl,
            generation: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The generation to pass back to [`KeyCache::insert`] after reading the database.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn get(&self, secret_hash: &str) -> Option<Arc<CachedKey>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.read().ok()?;
        entries
            .get(secret_hash)
            .filter(|e| e.fetched.elapsed() < self.ttl)
            .cloned()
    }

    /// Stores what the database said, unless something was invalidated since
    /// `generation` was read.
    pub fn insert(&self, secret_hash: String, entry: Arc<CachedKey>, generation: u64) {
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
            entries.retain(|_, e| e.fetched.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(secret_hash, entry);
    }

    fn invalidate(&self, matches: impl Fn(&CachedKey) -> bool) {
        match self.entries.write() {
            Ok(mut entries) => {
                self.generation.fetch_add(1, Ordering::SeqCst);
                entries.retain(|_, e| !matches(e));
            }
            Err(poisoned) => {
                // A panic elsewhere left the lock poisoned; start over rather than
                // risk serving a revoked key.
                self.generation.fetch_add(1, Ordering::SeqCst);
                poisoned.into_inner().clear();
            }
        }
    }

    pub fn invalidate_key(&self, key_id: &str) {
        self.invalidate(|e| e.key.id == key_id);
    }

    pub fn invalidate_user(&self, user_id: &str) {
        self.invalidate(|e| e.user.id == user_id);
    }

    pub fn invalidate_subscription(&self, subscription_id: &str) {
        self.invalidate(|e| e.subscription.id == subscription_id);
    }
}
