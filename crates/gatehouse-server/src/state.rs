//! `AppState`: what every handler shares — settings, the database pool, the token
//! hasher and the password-hashing pool — and `db()`, the one way handlers reach the
//! database.

use std::time::Duration;

use crate::auth::cache::{Cache, CachedGrant, CachedKey, Invalidate};
use crate::auth::password::Passwords;
use crate::auth::tokens::TokenHasher;
use crate::config::Settings;
use crate::db::{DbConnection, Pool};
use crate::error::ApiError;

pub struct AppState {
    pub settings: Settings,
    pub pool: Pool,
    pub tokens: TokenHasher,
    pub passwords: Passwords,
    /// Verified API keys, for a couple of seconds.
    pub keys: Cache<CachedKey>,
    /// Active OAuth grants behind access tokens, for a couple of seconds.
    pub grants: Cache<CachedGrant>,
    /// JWT signing and verification keys.
    pub signing: crate::auth::jwt::SigningKeys,
    /// Failed OAuth client authentications, per client and caller address.
    pub client_auth_limiter: crate::limiter::FailureLimiter,
    /// Failed sign-ins, per caller address.
    pub sign_in_limiter: crate::limiter::FailureLimiter,
    /// Registered OAuth clients by `client_id`, for the protocol endpoints.
    pub clients: Cache<crate::auth::cache::CachedClient>,
    /// SQLite has one writer at a time: every write goes to one thread that commits
    /// them in batches (`db::writer`). `None` on PostgreSQL.
    pub sqlite_writer: Option<crate::db::writer::Writer>,
}

impl AppState {
    /// Drops every cached credential that depends on what just changed. Call it after
    /// the change is committed, before answering.
    pub fn invalidate(&self, change: Invalidate<'_>) {
        self.keys.invalidate(change);
        self.grants.invalidate(change);
        self.clients.invalidate(change);
    }

    /// Runs diesel work that may write, on the blocking pool, as SQLite's one writer at
    /// a time. SQLite's "busy" answers are retried a few times, so the closure must be
    /// safe to run again (transactions roll back whole).
    pub async fn db<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_db(work, true).await
    }

    /// Runs diesel work as one transaction: on SQLite, the writer thread's savepoint
    /// is that transaction already; on PostgreSQL, a transaction on a pooled connection.
    pub async fn db_tx<T, F>(&self, mut work: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(writer) = &self.sqlite_writer {
            return writer.write(work).await;
        }
        self.run_db(move |conn| crate::db::transaction(conn, |c| work(c)), true)
            .await
    }

    /// Runs diesel work that only reads. On SQLite (WAL) reads run beside the writer.
    pub async fn db_read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run_db(work, false).await
    }

    async fn run_db<T, F>(&self, mut work: F, write: bool) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if let (Some(writer), true) = (&self.sqlite_writer, write) {
            return writer.write(work).await;
        }
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool.get()?;
            let mut attempt = 0u32;
            loop {
                match work(&mut conn) {
                    Err(ApiError::Busy) if attempt < 8 => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(5 << attempt.min(5)));
                    }
                    other => return other,
                }
            }
        })
        .await?
    }
}
