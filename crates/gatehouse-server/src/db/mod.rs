//! The database: one connection type over SQLite and PostgreSQL, its r2d2 pool, the
//! embedded migrations, and `Database`, which runs diesel work off the async executor.
//! Every query lives here; outside, diesel is named only by `error.rs` (which database
//! errors mean busy or lost).

pub mod api_keys;
pub mod audit;
pub mod backup;
mod database;
pub mod device;
pub mod grants;
pub mod notify;
pub mod oauth;
pub mod oauth_clients;
pub mod retention;
pub mod schema;
pub mod second_factors;
pub mod sessions;
pub mod subscriptions;
pub mod users;
pub mod writer;

pub use database::Database;

pub use diesel::QueryResult;

/// One page of a boxed query ordered newest first by `(created_at, id)`: the rows
/// after the cursor `before` (the `(created_at, id)` of the last row served), one more
/// than `limit` so that `pagination::page` can tell whether there is more. Every such
/// list uses this, so the order and the cursor test agree everywhere.
macro_rules! newest_first {
    ($query:expr, $at:path, $id:path, $before:expr, $limit:expr) => {{
        let mut q = $query.order(($at.desc(), $id.desc())).limit($limit + 1);
        if let Some((at, id)) = $before {
            q = q.filter($at.lt(at).or($at.eq(at).and($id.lt(id))));
        }
        q
    }};
}
pub(crate) use newest_first;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

/// A connection to either backend. Queries are written once against this type.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> anyhow::Result<Backend> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite://") || url.starts_with("file:") {
            Ok(Backend::Sqlite)
        } else {
            anyhow::bail!("database URL must start with sqlite:// or postgres://")
        }
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// How long after a connection last answered it is lent out again without a check.
const RECENTLY_ANSWERED: Duration = Duration::from_secs(1);

/// A connection in the pool: the diesel connection, and when it last answered.
pub struct Pooled {
    conn: DbConnection,
    /// When work on it last succeeded (or its check did); `None` after a failure, so
    /// that the next checkout checks it.
    answered: Option<Instant>,
    /// The pool's count of lost connections when it last answered.
    losses_seen: u64,
    /// The pool's count of lost connections when it was last lent out.
    losses_at_checkout: u64,
    /// The pool's count of lost connections, shared by all its connections.
    losses: Arc<AtomicU64>,
}

impl Pooled {
    /// Records how the work on this connection went: a success spares the next
    /// checkout its check for a moment; a failure makes it check; a lost connection
    /// makes every connection of the pool check (the database has likely restarted,
    /// and all of them are dead).
    pub fn answered(&mut self, outcome: Answered) {
        match outcome {
            Answered::Yes => {
                self.answered = Some(Instant::now());
                // As of its checkout: a loss found elsewhere while this work ran may be
                // this connection's too.
                self.losses_seen = self.losses_at_checkout;
            }
            Answered::Failed => self.answered = None,
            Answered::Lost => {
                self.answered = None;
                self.losses.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Before work runs on it: until the work says how it went, the connection counts
    /// as unchecked (also if the work panics).
    pub fn lent(&mut self) {
        self.answered = None;
    }

    fn recently_answered(&self) -> bool {
        self.answered
            .is_some_and(|at| at.elapsed() < RECENTLY_ANSWERED)
            && self.losses_seen == self.losses.load(Ordering::Acquire)
    }
}

/// How work on a pooled connection went (`Pooled::answered`).
pub enum Answered {
    Yes,
    Failed,
    /// The database could not be reached.
    Lost,
}

impl std::ops::Deref for Pooled {
    type Target = DbConnection;
    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for Pooled {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// Opens connections by URL scheme, never by trial: a mistyped PostgreSQL URL must not
/// quietly become an SQLite file.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
    /// Connections found lost so far (`Pooled::answered`).
    losses: Arc<AtomicU64>,
}

impl ManageConnection for Manager {
    type Connection = Pooled;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<Pooled, r2d2::Error> {
        let conn = self.open()?;
        Ok(Pooled {
            conn,
            answered: Some(Instant::now()),
            losses_seen: self.losses.load(Ordering::Acquire),
            losses_at_checkout: self.losses.load(Ordering::Acquire),
            losses: self.losses.clone(),
        })
    }

    /// A connection that answered a moment ago, with no connection of the pool lost
    /// since, is lent out as it is; any other is checked with `SELECT 1` (PostgreSQL
    /// only: the pool checks on checkout there). The check is a round trip: one in
    /// six of a refresh grant's. A PostgreSQL restart fails the one request that finds
    /// it out (503); from then on every connection is checked and the dead ones are
    /// replaced.
    fn is_valid(&self, conn: &mut Pooled) -> Result<(), r2d2::Error> {
        conn.losses_at_checkout = self.losses.load(Ordering::Acquire);
        if conn.recently_answered() {
            return Ok(());
        }
        conn.answered = None;
        conn.batch_execute("SELECT 1")
            .map_err(r2d2::Error::QueryError)?;
        conn.answered(Answered::Yes);
        Ok(())
    }

    /// A connection whose transaction state is broken is not given out again.
    fn has_broken(&self, conn: &mut Pooled) -> bool {
        use diesel::r2d2::R2D2Connection;
        match &mut conn.conn {
            DbConnection::Postgresql(c) => c.is_broken(),
            DbConnection::Sqlite(c) => c.is_broken(),
        }
    }
}

impl Manager {
    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match self.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.url)
                .map(DbConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.url)
                    .map_err(r2d2::Error::ConnectionError)?;
                // WAL lets readers run beside the writer; the busy timeout makes a
                // second writer wait instead of failing; SQLite leaves foreign keys off
                // unless asked, and deleting a user relies on their cascades.
                conn.batch_execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                     PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

/// A thread fed through a channel, that can be told to stop: closing the channel lets
/// it finish what is queued and end; [`Worker::stop`] waits for that, up to a limit,
/// past which the thread is left to the end of the process, with a warning.
pub struct Worker<T> {
    /// `None` once stopped: later sends fail.
    sender: std::sync::Mutex<Option<std::sync::mpsc::Sender<T>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl<T> Worker<T> {
    pub fn new(
        sender: std::sync::mpsc::Sender<T>,
        thread: Option<std::thread::JoinHandle<()>>,
    ) -> Self {
        Worker {
            sender: std::sync::Mutex::new(Some(sender)),
            thread: std::sync::Mutex::new(thread),
        }
    }

    /// Queues `item`; `false` once stopped, or when the thread has ended. (The locks
    /// guard no invariant a panic could break, so a poisoned one is used as it is.)
    pub fn send(&self, item: T) -> bool {
        self.sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|tx| tx.send(item).is_ok())
    }

    /// Closes the channel and waits up to `limit` for the thread to finish.
    pub fn stop(&self, limit: Duration, what: &str) {
        self.sender
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(thread) = thread else {
            return;
        };
        let until = Instant::now() + limit;
        while !thread.is_finished() {
            if Instant::now() >= until {
                tracing::warn!(what, "did not stop in time");
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = thread.join();
    }
}

/// One connection outside the pool, with the same settings (the SQLite writer's).
pub fn connect_one(url: &str) -> anyhow::Result<DbConnection> {
    let manager = Manager {
        url: url.to_string(),
        backend: Backend::of_url(url)?,
        losses: Arc::default(),
    };
    manager.open().context("opening the database")
}

/// Builds the pool, creating the SQLite file's folder when it is missing.
pub fn connect(url: &str, size: u32) -> anyhow::Result<Pool> {
    let backend = Backend::of_url(url)?;
    let sqlite_dir = sqlite_path(url)
        .and_then(Path::parent)
        .filter(|dir| !dir.as_os_str().is_empty());
    if let (Backend::Sqlite, Some(dir)) = (backend, sqlite_dir) {
        create_private_dir(dir)
            .with_context(|| format!("creating the database folder {}", dir.display()))?;
    }
    if let Some(file) = sqlite_path(url).filter(|_| backend == Backend::Sqlite) {
        restrict_sqlite_files(file)?;
    }
    let manager = Manager {
        url: url.to_string(),
        backend,
        losses: Arc::default(),
    };
    r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        // A PostgreSQL server can restart under us (failover, upgrade): every pooled
        // connection is then dead. Checking one before use (`SELECT 1` unless it
        // answered a moment ago, `Manager::is_valid`) replaces it instead of failing
        // the request, so the server recovers by itself. A SQLite file cannot go away
        // like that.
        .test_on_check_out(backend == Backend::Postgres)
        .build(manager)
        .context("opening the database")
}

/// A missing folder is created owner-only (0700), with its missing parents.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The SQLite files as they are, and the suffixes of SQLite's companions.
pub const SQLITE_COMPANIONS: [&str; 4] = ["", "-wal", "-shm", "-journal"];

/// The SQLite database holds every credential hash and the private signing keys: it
/// and its companions are owner-only (0600). A missing file is created so (new, never
/// through an existing name or link) before SQLite opens it, and SQLite gives its
/// `-wal` and `-shm` the database file's mode; files an older version left readable
/// are narrowed at start, through a descriptor opened without following links. A
/// folder anyone may write to is refused: whoever can write there can swap the
/// database or plant links in it. (`:memory:` and other names that are no file are
/// left alone.)
fn restrict_sqlite_files(file: &Path) -> anyhow::Result<()> {
    let name = file.to_string_lossy();
    if name.is_empty() || name.starts_with(':') {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mode = std::fs::metadata(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .permissions()
            .mode();
        anyhow::ensure!(
            mode & 0o002 == 0,
            "the database folder {} is writable by every local user ({:o}): make it the \
             service user's own (`chmod 700`)",
            dir.display(),
            mode & 0o7777
        );
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(file)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", file.display())),
        }
        for suffix in SQLITE_COMPANIONS {
            let path = PathBuf::from(format!("{name}{suffix}"));
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.permissions().mode() & 0o077 == 0 {
                continue;
            }
            let narrowed = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .and_then(|f| f.set_permissions(std::fs::Permissions::from_mode(0o600)));
            narrowed
                .with_context(|| format!("making {} readable by its owner only", path.display()))?;
        }
    }
    Ok(())
}

/// For `gatehouse doctor`: whether the SQLite files are owner-only (a failure if not),
/// and whether the folder is (advice only: with the files 0600 it shows their names, no
/// more). Files are narrowed at every start; a folder made by someone else is left as
/// it is. `None` for PostgreSQL.
pub fn sqlite_permissions(url: &str) -> Option<anyhow::Result<String>> {
    let file = sqlite_path(url)?;
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open_mode = |path: &Path| {
            std::fs::metadata(path)
                .ok()
                .map(|m| m.permissions().mode() & 0o777)
                .filter(|mode| mode & 0o077 != 0)
        };
        let name = file.to_string_lossy();
        let open: Vec<String> = SQLITE_COMPANIONS
            .iter()
            .map(|s| PathBuf::from(format!("{name}{s}")))
            .filter_map(|p| open_mode(&p).map(|m| format!("{} ({m:o})", p.display())))
            .collect();
        if !open.is_empty() {
            return Some(Err(anyhow::anyhow!(
                "other local users may read {}: it holds the signing keys; `chmod 600` it \
                 (`serve` narrows the files itself at start)",
                open.join(", ")
            )));
        }
        if let Some(mode) = open_mode(dir) {
            return Some(Ok(format!(
                "files owner-only; the folder {} is {mode:o} (`chmod 700` it to hide even \
                 the names)",
                dir.display()
            )));
        }
    }
    Some(Ok(format!("{} and its files: owner only", dir.display())))
}

/// The file of a SQLite URL (without its `?…` options); `None` for PostgreSQL.
pub fn sqlite_path(url: &str) -> Option<&Path> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("file:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    Some(Path::new(path))
}

/// An arbitrary application-wide key for PostgreSQL's advisory lock.
const MIGRATION_LOCK: i64 = 0x6761_7465_686f;
/// The advisory lock replicas take in turn to create the first signing keys.
const SIGNING_KEYS_LOCK: i64 = MIGRATION_LOCK + 1;
/// Held (per transaction) by the replica whose turn it is to purge (`retention`).
const PURGE_LOCK: i64 = MIGRATION_LOCK + 2;

/// Runs `work` in a transaction that replicas starting together take in turn, for
/// start-up work that must happen once (the first signing keys): on PostgreSQL under a
/// transaction-scoped advisory lock; on SQLite the transaction's first statement is a
/// write that changes nothing, which takes the database's write lock (waiting for it
/// within the busy timeout). Without it, a transaction that read before another
/// replica's commit could not write afterwards, and that replica would fail to start.
pub fn startup_transaction<T>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    conn.transaction(|conn| {
        match conn {
            DbConnection::Postgresql(c) => c.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({SIGNING_KEYS_LOCK})"
            ))?,
            DbConnection::Sqlite(c) => c.batch_execute("DELETE FROM signing_keys WHERE 0")?,
        }
        work(conn)
    })
}

/// What the database server says it is (`gatehouse doctor`).
pub fn server_version(conn: &mut DbConnection) -> anyhow::Result<String> {
    #[derive(QueryableByName)]
    struct Version {
        #[diesel(sql_type = diesel::sql_types::Text)]
        version: String,
    }
    let version: Version = match conn {
        DbConnection::Postgresql(c) => {
            diesel::sql_query("SELECT version() AS version").get_result(c)?
        }
        DbConnection::Sqlite(c) => {
            diesel::sql_query("SELECT 'SQLite ' || sqlite_version() AS version").get_result(c)?
        }
    };
    Ok(version.version)
}

/// How many migrations the database lacks (`gatehouse doctor`).
pub fn pending_migrations(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let pending = match conn {
        DbConnection::Postgresql(c) => c.pending_migrations(POSTGRES_MIGRATIONS).map(|v| v.len()),
        DbConnection::Sqlite(c) => c.pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
    };
    pending.map_err(|e| anyhow::anyhow!("reading the applied migrations: {e}"))
}

/// Runs the pending migrations of the connection's backend.
pub fn migrate(conn: &mut DbConnection) -> anyhow::Result<usize> {
    let applied = match conn {
        DbConnection::Postgresql(c) => {
            // Replicas starting together take turns: the first migrates, the others
            // then find nothing pending.
            c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
            let result = c
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|v| v.len());
            c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
            result.map_err(|e| anyhow::anyhow!("{e}"))
        }
        // The same on SQLite: the whole run under the write lock (`BEGIN IMMEDIATE`; the
        // others wait in the busy handler), each migration a savepoint inside it.
        // Without it two processes could both find a migration pending.
        DbConnection::Sqlite(c) => c.immediate_transaction(|c| {
            c.run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| anyhow::anyhow!("{e}"))
        }),
    }
    .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
    Ok(applied)
}

/// Runs one diesel query on the concrete connection inside a `DbConnection`, the same
/// expression written once for both arms. Queries sent through the `MultiConnection`
/// wrapper are not kept as prepared statements, so SQLite parses them afresh every
/// time; on the hot paths (authentication, token issue) this macro lets each backend
/// cache its prepared statements.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::db::DbConnection::Postgresql($c) => $body,
            $crate::db::DbConnection::Sqlite($c) => $body,
        }
    };
}

/// Runs `work` in a transaction: committed if it returns `Ok`, rolled back otherwise.
/// Handlers use this instead of importing diesel.
pub fn transaction<T, E>(
    conn: &mut DbConnection,
    work: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(work)
}

/// How long to wait before running work again that SQLite answered "busy" (another
/// writer took the write lock between this transaction's read and its write; the
/// transaction rolled back whole, so running it again is safe): 10 ms, doubling up to
/// 160 ms. Each caller sets how long it keeps trying: a request briefly (the pool, eight
/// attempts, 0.8 s), an operator's command up to five seconds ([`write_now`]).
pub fn busy_pause(attempt: u32) -> Duration {
    Duration::from_millis(5 << (attempt + 1).min(5))
}

/// How long an operator's command keeps trying while SQLite is busy: a server under a
/// flood of writes (sign-ins, key use) must not make `users disable` or `keys revoke`
/// give up when they are needed most.
const OPERATOR_BUSY_BUDGET: Duration = Duration::from_secs(5);

/// Runs `work` as one transaction on a connection of its own (the operator's commands,
/// beside running servers), again while SQLite answers "busy" ([`busy_pause`]), for up
/// to [`OPERATOR_BUSY_BUDGET`].
pub fn write_now<T>(
    conn: &mut DbConnection,
    mut work: impl FnMut(&mut DbConnection) -> Result<T, crate::error::ApiError>,
) -> Result<T, crate::error::ApiError> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        match transaction(conn, &mut work) {
            Err(crate::error::ApiError::Busy) if started.elapsed() < OPERATOR_BUSY_BUDGET => {
                std::thread::sleep(busy_pause(attempt));
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(Backend::of_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::of_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Backend::of_url("mysql://u@h/db").is_err());
        assert_eq!(
            sqlite_path("sqlite://./data/g.db?mode=rwc"),
            Some(Path::new("./data/g.db"))
        );
    }
}
