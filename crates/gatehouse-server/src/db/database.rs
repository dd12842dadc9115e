//! `Database`: the one handle handlers and credential checks reach the database through,
//! with the read path and the write path named apart.

use std::sync::Arc;
use std::time::Duration;

use crate::db::writer::Writer;
use crate::db::{Answered, Backend, DbConnection, Pool};
use crate::error::ApiError;

/// The pool, and on SQLite the one writer thread. Cheap to clone.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    /// SQLite has one writer at a time: every write goes to one thread that commits
    /// them in batches (`db::writer`). `None` on PostgreSQL.
    sqlite_writer: Option<Arc<Writer>>,
}

impl Database {
    /// Wraps a migrated pool; on SQLite, starts the writer thread on its own connection.
    pub fn new(pool: Pool, url: &str) -> anyhow::Result<Database> {
        let sqlite_writer = match Backend::of_url(url)? {
            Backend::Sqlite => Some(Arc::new(Writer::start(super::connect_one(url)?))),
            Backend::Postgres => None,
        };
        Ok(Database {
            pool,
            sqlite_writer,
        })
    }

    /// The pool, for work outside a request (start-up, health checks).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// At shutdown, after the last request: on SQLite, waits until the writes already
    /// queued are committed; later writes answer 503.
    pub fn stop(&self) {
        if let Some(writer) = &self.sqlite_writer {
            writer.stop();
        }
    }

    /// Whether the database answers (`SELECT 1`) within two seconds, for readiness.
    pub async fn ping(&self) -> Result<(), ApiError> {
        use diesel::connection::SimpleConnection;
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool
                .get_timeout(Duration::from_secs(2))
                .map_err(|e| ApiError::Unavailable(e.into()))?;
            conn.batch_execute("SELECT 1")
                .map_err(|e| ApiError::Unavailable(e.into()))
        })
        .await?
    }

    /// Runs diesel work that writes, on the blocking pool, as SQLite's one writer at a
    /// time, and as one transaction on both backends: on SQLite the writer thread's
    /// savepoint is that transaction already; on PostgreSQL, a transaction on a pooled
    /// connection. SQLite's "busy" answers are retried a few times, so the closure must
    /// be safe to run again (transactions roll back whole).
    pub async fn write<T, F>(&self, mut work: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(writer) = &self.sqlite_writer {
            return writer.write(work).await;
        }
        self.run(move |conn| super::transaction(conn, |c| work(c)))
            .await
    }

    /// Runs diesel work that only reads. On SQLite (WAL) reads run beside the writer.
    pub async fn read<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        self.run(work).await
    }

    /// A whole list read batch by batch on the read path, as a stream (CSV downloads).
    /// `fetch(conn, after, batch)` reads up to `batch + 1` rows after the cursor `after`
    /// in the list's order — the usual page query — and `cursor_of` names a row's
    /// cursor. Each batch is a read of its own, so a slow download holds no connection
    /// between batches and never waits for, or holds up, a writer. A row whose sort key
    /// changes during the download may be missed or appear twice; lists sorted by
    /// creation (the audit log, keys by default) are not affected.
    pub fn read_batches<T, C, F, K>(
        &self,
        batch: i64,
        fetch: F,
        cursor_of: K,
    ) -> impl futures_util::Stream<Item = Result<Vec<T>, ApiError>> + 'static
    where
        T: Send + 'static,
        C: Clone + Send + 'static,
        F: Fn(&mut DbConnection, Option<C>, i64) -> diesel::QueryResult<Vec<T>>
            + Send
            + Sync
            + 'static,
        K: Fn(&T) -> C + Send + Sync + 'static,
    {
        let (fetch, cursor_of) = (Arc::new(fetch), Arc::new(cursor_of));
        futures_util::stream::unfold(Some((self.clone(), None::<C>)), move |state| {
            let (fetch, cursor_of) = (fetch.clone(), cursor_of.clone());
            async move {
                let (db, after) = state?;
                let read = db.read(move |conn| Ok(fetch(conn, after.clone(), batch)?));
                match read.await {
                    Ok(mut rows) => {
                        let more = rows.len() as i64 > batch;
                        rows.truncate(batch.max(0) as usize);
                        let next = match rows.last() {
                            Some(last) if more => Some((db, Some(cursor_of(last)))),
                            _ => None,
                        };
                        Some((Ok(rows), next))
                    }
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
    }

    async fn run<T, F>(&self, mut work: F) -> Result<T, ApiError>
    where
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
        T: Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            crate::metrics::pool_waiting(1.0);
            let conn = pool.get();
            crate::metrics::pool_waiting(-1.0);
            let mut conn = conn?;
            conn.lent();
            let mut attempt = 0u32;
            loop {
                match work(&mut conn) {
                    Err(ApiError::Busy) if attempt < 8 => {
                        std::thread::sleep(super::busy_pause(attempt));
                        attempt += 1;
                    }
                    other => {
                        conn.answered(match &other {
                            Ok(_) => Answered::Yes,
                            Err(ApiError::Unavailable(_)) => Answered::Lost,
                            Err(_) => Answered::Failed,
                        });
                        return other;
                    }
                }
            }
        })
        .await?
    }
}
