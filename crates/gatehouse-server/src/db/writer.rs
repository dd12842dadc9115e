//! SQLite's single writer, as a thread. SQLite lets one connection write at a time;
//! rather than have many threads take turns (each waking the next, or sleeping in
//! SQLite's busy handler), every write goes to this thread, which runs the writes
//! waiting in its queue together: one `BEGIN … COMMIT` for the batch, each write in
//! its own savepoint so that one failing write rolls back alone. Results are handed
//! back only after the batch is committed, so nobody sees a success that was not
//! written. PostgreSQL does not use this: its pool writes concurrently.

use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::{Connection, TransactionManager};

use crate::db::{self, DbConnection};
use crate::error::ApiError;

/// The most writes committed together.
const MAX_BATCH: usize = 128;

trait Job: Send {
    /// Runs the write in a savepoint; `Err(Busy)` means the batch must be retried.
    fn run(&mut self, conn: &mut DbConnection) -> Result<(), ApiError>;
    /// Hands the result over, or `failure` when the batch could not be committed.
    fn deliver(self: Box<Self>, failure: Option<&str>);
}

struct TypedJob<T, F> {
    work: F,
    result: Option<Result<T, ApiError>>,
    reply: tokio::sync::oneshot::Sender<Result<T, ApiError>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConnection) -> Result<(), ApiError> {
        let outcome = db::transaction(conn, |c| (self.work)(c));
        if matches!(outcome, Err(ApiError::Busy)) {
            return Err(ApiError::Busy);
        }
        self.result = Some(outcome);
        Ok(())
    }

    fn deliver(self: Box<Self>, failure: Option<&str>) {
        let result = match (failure, self.result) {
            (None, Some(r)) => r,
            (Some(why), _) => Err(ApiError::Internal(anyhow::anyhow!("commit failed: {why}"))),
            (None, None) => Err(ApiError::Internal(anyhow::anyhow!("write never ran"))),
        };
        // The requester may have gone away; nothing to do then.
        let _ = self.reply.send(result);
    }
}

/// The queue to the writer thread.
pub struct Writer {
    jobs: std::sync::Mutex<mpsc::Sender<Box<dyn Job>>>,
}

impl Writer {
    /// Starts the writer thread on its own connection.
    pub fn start(mut conn: DbConnection) -> Writer {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    run_batch(&mut conn, batch);
                }
            })
            .ok();
        Writer {
            jobs: std::sync::Mutex::new(tx),
        }
    }

    /// Queues a write and waits for it to be committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Box<dyn Job> = Box::new(TypedJob {
            work,
            result: None,
            reply,
        });
        let sent = self
            .jobs
            .lock()
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("writer queue poisoned")))?
            .send(job);
        if sent.is_err() {
            return Err(ApiError::Unavailable(anyhow::anyhow!(
                "the SQLite writer stopped"
            )));
        }
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("the SQLite writer dropped a write")))?
    }
}

fn run_batch(conn: &mut DbConnection, mut batch: Vec<Box<dyn Job>>) {
    for attempt in 0..8u32 {
        match try_batch(conn, &mut batch) {
            Ok(()) => {
                for job in batch {
                    job.deliver(None);
                }
                return;
            }
            Err(ApiError::Busy) => {
                // Another process (or another server on the same file) holds the lock.
                rollback(conn);
                std::thread::sleep(Duration::from_millis(5 << attempt.min(5)));
            }
            Err(e) => {
                rollback(conn);
                let why = e.to_string();
                for job in batch {
                    job.deliver(Some(&why));
                }
                return;
            }
        }
    }
    for job in batch {
        job.deliver(Some("the database stayed busy"));
    }
}

type Manager = <DbConnection as Connection>::TransactionManager;

/// The batch's transaction goes through diesel's transaction manager, so that each
/// write's own `db::transaction` becomes a savepoint inside it.
fn try_batch(conn: &mut DbConnection, batch: &mut [Box<dyn Job>]) -> Result<(), ApiError> {
    Manager::begin_transaction(conn).map_err(ApiError::from)?;
    for job in batch.iter_mut() {
        job.run(conn)?;
    }
    Manager::commit_transaction(conn).map_err(ApiError::from)
}

fn rollback(conn: &mut DbConnection) {
    if let Err(e) = Manager::rollback_transaction(conn) {
        tracing::warn!(error = %e, "rolling back a write batch failed");
    }
}
