//! Messages between replicas through PostgreSQL's `LISTEN`/`NOTIFY`: what one replica
//! changed, so that the others drop their cached copies as soon as the change commits
//! (`auth::cache`). One thread per replica owns one connection, outside the pool, that
//! both sends (`pg_notify`) and listens.
//!
//! diesel reads notifications without blocking (`PQconsumeInput`), so the thread looks
//! every [`POLL`] when it has nothing to send: a change reaches the other replicas in
//! about that time plus a round trip. When the connection is lost the thread
//! reconnects (backing off to [`MAX_BACKOFF`]) and then calls `reconnected`: messages
//! may have been missed meanwhile, so the listener must forget everything they could
//! have said. Messages queued while disconnected are sent after the reconnection (at
//! most [`MAX_PENDING`]; past that the oldest are dropped, and the caches' TTL remains
//! the bound for them).

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};

/// The channel every replica of one database listens on.
pub const CHANNEL: &str = "gatehouse_changes";
/// How often the thread looks for notifications when it has nothing to send.
pub const POLL: Duration = Duration::from_millis(10);
/// How often an idle connection is checked with a query, so that a silently dropped
/// one is noticed (a closed one is noticed at the next look).
const HEARTBEAT: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_PENDING: usize = 10_000;

/// What the thread tells its owner.
pub trait Listener: Send + 'static {
    /// A message from another replica. `false` stops the thread (the owner is gone).
    fn received(&self, payload: &str) -> bool;
    /// The connection was (re)established: messages may have been missed before it.
    fn reconnected(&self) -> bool;
}

/// Starts the thread: it sends what arrives on `outgoing`, and hands what other
/// replicas send to `listener`. It stops when `outgoing` is closed (every sender
/// dropped; what is pending is sent first) or the listener says so.
pub fn spawn(
    url: String,
    outgoing: Receiver<String>,
    listener: impl Listener,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("gatehouse-notify".into())
        .spawn(move || run(&url, &outgoing, &listener))
}

struct Connected {
    conn: PgConnection,
    /// The backend's process id: the notifications this connection sent itself come
    /// back with it, and are skipped.
    pid: i32,
    checked: Instant,
}

fn connect(url: &str) -> QueryResult<Connected> {
    #[derive(QueryableByName)]
    struct Pid {
        #[diesel(sql_type = Integer)]
        pid: i32,
    }
    let mut conn = PgConnection::establish(url).map_err(|e| {
        diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UnableToSendCommand,
            Box::new(e.to_string()),
        )
    })?;
    // Named, so that an operator (and a test) can tell it in `pg_stat_activity`.
    conn.batch_execute(&format!(
        "SET application_name = 'gatehouse-notify'; LISTEN {CHANNEL}"
    ))?;
    let Pid { pid } = diesel::sql_query("SELECT pg_backend_pid() AS pid").get_result(&mut conn)?;
    Ok(Connected {
        conn,
        pid,
        checked: Instant::now(),
    })
}

fn run(url: &str, outgoing: &Receiver<String>, listener: &impl Listener) {
    let mut pending: VecDeque<String> = VecDeque::new();
    let mut connected: Option<Connected> = None;
    let mut backoff = Duration::from_millis(100);
    let mut wait = Duration::ZERO;
    loop {
        // Wait for something to send, or for the next look (or the next attempt).
        match outgoing.recv_timeout(wait) {
            Ok(message) => queue(&mut pending, message),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Shutting down: what this replica changed last still goes out.
                if let Some(c) = connected.as_mut() {
                    let _ = exchange(c, &mut pending, listener);
                }
                return;
            }
        }
        while let Ok(message) = outgoing.try_recv() {
            queue(&mut pending, message);
        }
        let c = match connected.as_mut() {
            Some(c) => c,
            None => match connect(url) {
                Ok(c) => {
                    backoff = Duration::from_millis(100);
                    if !listener.reconnected() {
                        return;
                    }
                    connected.insert(c)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replica messages: cannot connect; retrying");
                    wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        wait = POLL;
        match exchange(c, &mut pending, listener) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "replica messages: connection lost; reconnecting");
                connected = None;
            }
        }
    }
}

fn queue(pending: &mut VecDeque<String>, message: String) {
    if pending.len() >= MAX_PENDING {
        pending.pop_front();
    }
    pending.push_back(message);
}

/// Sends what is pending, then reads what arrived. `Ok(false)` when the listener is gone.
fn exchange(
    c: &mut Connected,
    pending: &mut VecDeque<String>,
    listener: &impl Listener,
) -> QueryResult<bool> {
    while let Some(message) = pending.front() {
        diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(message)
            .execute(&mut c.conn)?;
        pending.pop_front();
        c.checked = Instant::now();
    }
    if c.checked.elapsed() >= HEARTBEAT {
        c.conn.batch_execute("SELECT 1")?;
        c.checked = Instant::now();
    }
    let own = c.pid;
    for notification in c.conn.notifications_iter() {
        let notification = notification?;
        if notification.process_id != own && !listener.received(&notification.payload) {
            return Ok(false);
        }
    }
    Ok(true)
}
