//! SQLite's single writer, as a thread. SQLite lets one connection write at a time;
//! rather than have many threads take turns (each waking the next, or sleeping in
//! SQLite's busy handler), every write goes to this thread, which runs the writes
//! waiting in its queue together: one `BEGIN … COMMIT` for the batch. When a write
//! fails, the batch is rolled back, that write answers its error, and the others run
//! again without it (writes are closures that can run twice). Results are handed back
//! only after the batch is committed, so nobody sees a success that was not written. PostgreSQL does not use this: its pool writes concurrently.

use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::{Connection, TransactionManager};

use crate::db::DbConnection;
use crate::error::ApiError;

/// The most writes committed together.
const MAX_BATCH: usize = 128;

enum Ran {
    Ok,
    /// The database is locked by someone else: retry the batch later.
    Busy,
    /// The write failed; its error is kept for it.
    Failed,
}

trait Job: Send {
    fn run(&mut self, conn: &mut DbConnection) -> Ran;
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
    fn run(&mut self, conn: &mut DbConnection) -> Ran {
        let outcome = (self.work)(conn);
        let ran = match &outcome {
            Ok(_) => Ran::Ok,
            Err(ApiError::Busy) => Ran::Busy,
            Err(_) => Ran::Failed,
        };
        self.result = Some(outcome);
        ran
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
    /// Stopped at shutdown: later writes answer 503.
    jobs: super::Worker<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on its own connection.
    pub fn start(mut conn: DbConnection) -> Writer {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        let thread = std::thread::Builder::new()
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
                    crate::metrics::writer_queue(-(batch.len() as f64));
                    crate::metrics::writer_batch(batch.len());
                    run_batch(&mut conn, batch);
                }
            })
            .ok();
        Writer {
            jobs: super::Worker::new(tx, thread),
        }
    }

    /// Closes the queue and waits until the writes already in it are committed.
    pub fn stop(&self) {
        self.jobs.stop(Duration::from_secs(10), "the SQLite writer");
    }

    /// Queues a write and waits for it to be committed. When it fails, nothing it did
    /// is kept.
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
        crate::metrics::writer_queue(1.0);
        if !self.jobs.send(job) {
            crate::metrics::writer_queue(-1.0);
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
    let mut busy_attempts = 0u32;
    loop {
        if let Err(e) = Manager::begin_transaction(conn) {
            let why = e.to_string();
            for job in batch {
                job.deliver(Some(&why));
            }
            return;
        }
        let mut outcome = None;
        for (i, job) in batch.iter_mut().enumerate() {
            match job.run(conn) {
                Ran::Ok => {}
                Ran::Busy => {
                    outcome = Some(Err(ApiError::Busy));
                    break;
                }
                Ran::Failed => {
                    outcome = Some(Ok(i));
                    break;
                }
            }
        }
        match outcome {
            // One write failed: undo the batch, answer that write, run the rest again.
            Some(Ok(failed)) => {
                rollback(conn);
                batch.remove(failed).deliver(None);
                if batch.is_empty() {
                    return;
                }
            }
            Some(Err(_)) => {
                // Another process (or another server on the same file) holds the lock.
                rollback(conn);
                busy_attempts += 1;
                if busy_attempts > 8 {
                    for job in batch {
                        job.deliver(Some("the database stayed busy"));
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(5 << busy_attempts.min(5)));
            }
            None => match Manager::commit_transaction(conn) {
                Ok(()) => {
                    for job in batch {
                        job.deliver(None);
                    }
                    return;
                }
                Err(e) if crate::error::is_busy(&e) && busy_attempts < 8 => {
                    rollback(conn);
                    busy_attempts += 1;
                    std::thread::sleep(Duration::from_millis(5 << busy_attempts.min(5)));
                }
                Err(e) => {
                    rollback(conn);
                    let why = e.to_string();
                    for job in batch {
                        job.deliver(Some(&why));
                    }
                    return;
                }
            },
        }
    }
}

/// The batch's transaction goes through diesel's transaction manager, so that a
/// write's own `db::transaction` becomes a savepoint inside it.
type Manager = <DbConnection as Connection>::TransactionManager;

fn rollback(conn: &mut DbConnection) {
    if let Err(e) = Manager::rollback_transaction(conn) {
        tracing::warn!(error = %e, "rolling back a write batch failed");
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;

    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    #[test]
    fn a_failing_write_rolls_back_alone_and_the_others_commit() {
        let dir = std::env::temp_dir().join(format!("gh-writer-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/w.db", dir.display());
        let mut setup = crate::db::connect_one(&url).unwrap();
        setup
            .batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)")
            .unwrap();
        let writer = Writer::start(crate::db::connect_one(&url).unwrap());
        let insert = |id: i64| {
            move |c: &mut DbConnection| -> Result<(), ApiError> {
                c.batch_execute(&format!("INSERT INTO t VALUES ({id}, 'x')"))?;
                Ok(())
            }
        };
        // The failing write inserts a row, then fails: its row must not stay.
        let failing = |c: &mut DbConnection| -> Result<(), ApiError> {
            c.batch_execute("INSERT INTO t VALUES (100, 'partial')")?;
            c.batch_execute("INSERT INTO t VALUES (1, 'duplicate of an earlier write')")?;
            Ok(())
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (a, b, c, d) = rt.block_on(async {
            tokio::join!(
                writer.write(insert(1)),
                writer.write(failing),
                writer.write(insert(2)),
                writer.write(insert(3)),
            )
        });
        assert!(a.is_ok() && c.is_ok() && d.is_ok());
        assert!(b.is_err());
        let rows: Vec<Count> = diesel::sql_query("SELECT COUNT(*) AS n FROM t")
            .load(&mut setup)
            .unwrap();
        assert_eq!(
            rows[0].n, 3,
            "the three good rows, and nothing of the failed write"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
