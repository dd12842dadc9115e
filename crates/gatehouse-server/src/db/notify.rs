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
//! most [`MAX_PENDING`]; past that they are replaced by one [`FORGET_ALL`]).
//!
//! Anyone who may connect to the database can `LISTEN` and `NOTIFY` on the channel:
//! the messages name only ids (`key:…`, `user:…`), and a message can only make a
//! replica drop cached entries — never keep or add one. Forged messages therefore cost
//! database reads at worst; unreadable ones are ignored, and at most [`MAX_RECEIVED`]
//! are handled between two rounds of sending. Restrict `CONNECT` on the database to
//! Gatehouse's own role, as for any database that holds credentials.

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
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_PENDING: usize = 10_000;
/// Notifications handled between two rounds of sending.
const MAX_RECEIVED: usize = 256;
/// The message that tells the other replicas to forget every cached credential.
pub const FORGET_ALL: &str = "all";

/// Tells the replicas of a change from outside a server (the operator's commands): on
/// PostgreSQL the message goes out when the caller's transaction commits, and not at
/// all if it rolls back. SQLite has no replicas to tell; their caches' TTL bounds it.
pub fn tell(conn: &mut super::DbConnection, message: &str) -> QueryResult<()> {
    match conn {
        super::DbConnection::Postgresql(c) => diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(message)
            .execute(c)
            .map(drop),
        super::DbConnection::Sqlite(_) => Ok(()),
    }
}

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
    /// When it was made, and when it last answered.
    since: Instant,
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
        since: Instant::now(),
        checked: Instant::now(),
    })
}

fn run(url: &str, outgoing: &Receiver<String>, listener: &impl Listener) {
    let url = with_timeouts(url);
    let mut pending: VecDeque<String> = VecDeque::new();
    let mut connected: Option<Connected> = None;
    let mut backoff = MIN_BACKOFF;
    let mut next_attempt = Instant::now();
    loop {
        // Wait for something to send, or for the next look (or the next attempt).
        let wait = match connected {
            Some(_) => POLL,
            None => next_attempt.saturating_duration_since(Instant::now()),
        };
        match outgoing.recv_timeout(wait) {
            Ok(message) => queue(&mut pending, message),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                // Shutting down: what this replica changed last still goes out.
                if let Some(c) = connected.as_mut() {
                    let _ = send(c, &mut pending);
                }
                return;
            }
        }
        while let Ok(message) = outgoing.try_recv() {
            queue(&mut pending, message);
        }
        let c = match connected.as_mut() {
            Some(c) => c,
            // Queued messages do not hurry a reconnection: the backoff holds.
            None if Instant::now() < next_attempt => continue,
            None => match connect(&url) {
                Ok(c) => {
                    if !listener.reconnected() {
                        return;
                    }
                    connected.insert(c)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "replica messages: cannot connect; retrying");
                    next_attempt = Instant::now() + backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            },
        };
        let outcome = send(c, &mut pending).and_then(|()| receive(c, listener));
        match outcome {
            Ok(true) => {
                // Up for a while: the next loss starts the backoff afresh.
                if c.since.elapsed() >= MAX_BACKOFF {
                    backoff = MIN_BACKOFF;
                }
            }
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "replica messages: connection lost; reconnecting");
                connected = None;
                next_attempt = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The URL with libpq's connect timeout and TCP keepalives, where it does not set them
/// itself: a network path that drops silently must not hang the thread for minutes.
fn with_timeouts(url: &str) -> String {
    let mut url = url.to_string();
    for (name, value) in [
        ("connect_timeout", "5"),
        ("keepalives", "1"),
        ("keepalives_idle", "10"),
        ("keepalives_interval", "5"),
        ("keepalives_count", "3"),
    ] {
        if !url.contains(&format!("{name}=")) {
            let sep = if url.contains('?') { '&' } else { '?' };
            url = format!("{url}{sep}{name}={value}");
        }
    }
    url
}

fn queue(pending: &mut VecDeque<String>, message: String) {
    if pending.len() >= MAX_PENDING {
        // Too much to tell one by one: tell the others to forget everything instead.
        pending.clear();
        pending.push_back(FORGET_ALL.to_string());
        return;
    }
    pending.push_back(message);
}

/// Sends what is pending. A message the server refuses (the connection still up) is
/// dropped with a warning and the others go on; the caches' TTL bounds what it said.
fn send(c: &mut Connected, pending: &mut VecDeque<String>) -> QueryResult<()> {
    while let Some(message) = pending.front() {
        let sent = diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(message)
            .execute(&mut c.conn);
        match sent {
            Ok(_) => {}
            Err(e) if crate::error::is_connection_lost(&e) => return Err(e),
            Err(e) => tracing::warn!(error = %e, "replica messages: a message was refused"),
        }
        pending.pop_front();
        c.checked = Instant::now();
    }
    if c.checked.elapsed() >= HEARTBEAT {
        c.conn.batch_execute("SELECT 1")?;
        c.checked = Instant::now();
    }
    Ok(())
}

/// Hands what arrived to the listener, at most [`MAX_RECEIVED`] at a time so that a
/// flood on the channel cannot keep this replica's own messages from going out.
/// `Ok(false)` when the listener is gone.
fn receive(c: &mut Connected, listener: &impl Listener) -> QueryResult<bool> {
    let own = c.pid;
    for notification in c.conn.notifications_iter().take(MAX_RECEIVED) {
        let notification = notification?;
        if notification.process_id != own && !listener.received(&notification.payload) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_overflowing_queue_becomes_one_forget_all() {
        let mut pending = VecDeque::new();
        for i in 0..MAX_PENDING {
            queue(&mut pending, format!("key:{i}"));
        }
        assert_eq!(pending.len(), MAX_PENDING);
        queue(&mut pending, "key:one more".into());
        assert_eq!(pending, [FORGET_ALL]);
        queue(&mut pending, "key:next".into());
        assert_eq!(pending, [FORGET_ALL, "key:next"]);
    }

    #[test]
    fn timeouts_are_added_unless_the_url_sets_them() {
        let url = with_timeouts("postgres://u@db/gatehouse");
        assert!(url.starts_with("postgres://u@db/gatehouse?connect_timeout=5&keepalives=1"));
        let url = with_timeouts("postgres://u@db/gatehouse?sslmode=require&connect_timeout=30");
        assert!(url.contains("sslmode=require&connect_timeout=30&keepalives=1"));
        assert_eq!(url.matches("connect_timeout").count(), 1);
    }
}
