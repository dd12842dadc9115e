//! `cargo xtask bench --scale`: does anything a request does grow with the data?
//!
//! On SQLite, then on a throwaway PostgreSQL cluster: bootstraps a subscription, creates
//! `OWN_KEYS` keys through the API and measures the key-authenticated request; then
//! seeds, in bulk SQL (one statement per table, minutes not hours), users up to `USERS`
//! and keys up to `KEYS`, restarts the server and measures the same request with the
//! same key, the admin key list's first page and a page deep in it (by cursor), its
//! other orders and a filter, and the user list's first and deep pages. Reports the
//! database's size and the server's resident memory idle and under load.
//!
//! The seeded rows are what the API would have written (same columns, valid ids and
//! timestamps), except their secrets: random hashes nobody holds, which is all a key
//! nobody presents is to the server.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Result, wrk};
use crate::live::{ADMIN, curl, seed_keys, serve, sign_in, start};

const USERS: usize = 100_000;
const KEYS: usize = 1_000_000;
/// The admin's own keys, made through the API before the bulk seed.
const OWN_KEYS: usize = 100;
const CONNECTIONS: u32 = 64;
const LIST_CONNECTIONS: u32 = 8;
const DURATION: &str = "10s";
const LIST_DURATION: &str = "5s";
/// Resident memory targets of issue 11: idle, and under load.
const RSS_IDLE_TARGET_MB: f64 = 25.0;
const RSS_LOAD_TARGET_MB: f64 = 100.0;

/// Where the data lives, and how to talk SQL to it from outside the server.
enum Store {
    Sqlite(PathBuf),
    Postgres(crate::postgres::Cluster),
}

impl Store {
    fn url(&self) -> String {
        match self {
            Store::Sqlite(path) => format!("sqlite://{}", path.display()),
            Store::Postgres(cluster) => cluster.url(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "SQLite",
            Store::Postgres(_) => "PostgreSQL",
        }
    }

    /// Runs SQL with the backend's own shell (`sqlite3`, `psql`), stopping at the first
    /// error; returns what it printed.
    fn sql(&self, script: &str) -> anyhow::Result<String> {
        let mut cmd = match self {
            Store::Sqlite(path) => {
                let mut c = Command::new("sqlite3");
                c.args(["-bail", "-batch", "-cmd", ".timeout 60000"])
                    .arg(path);
                c
            }
            Store::Postgres(cluster) => {
                let mut c = Command::new(cluster.bin("psql"));
                c.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
                    .arg(cluster.url());
                c
            }
        };
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("running the {} shell", self.name()))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(script.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!(
                "SQL on {} failed: {}",
                self.name(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The seed: users and keys of the bench subscription, in one transaction per
    /// backend. Keys are spread over the users (about ten each), created at distinct
    /// times going back from now; half have been used.
    fn seed_script(&self) -> String {
        let users = USERS - 1;
        let keys = KEYS - OWN_KEYS;
        match self {
            Store::Sqlite(_) => format!(
                "BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {users})
INSERT INTO users (id, subscription_id, username, display_name, email, role, state,
                   password_hash, failed_sign_ins, created_at, updated_at)
SELECT printf('00000000-0000-4000-8000-%012d', i), a.subscription_id,
       printf('scale-%06d@example.org', i), printf('Scale user %d', i), NULL, 'viewer',
       'active', a.password_hash, 0,
       datetime('now', printf('-%d seconds', 600 + i * 300)),
       datetime('now', printf('-%d seconds', 600 + i * 300))
FROM n, (SELECT subscription_id, password_hash FROM users WHERE username = '{ADMIN}') a;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {keys} - 1)
INSERT INTO api_keys (id, subscription_id, user_id, name, permission, secret_hash, hint,
                      created_at, updated_at, last_used_at)
SELECT printf('00000000-0000-4000-9000-%012d', i), a.subscription_id,
       printf('00000000-0000-4000-8000-%012d', 1 + i % {users}), printf('scale key %d', i),
       'read_only', lower(hex(randomblob(32))), printf('%04d', i % 10000),
       datetime('now', printf('-%d seconds', 600 + i * 30)),
       datetime('now', printf('-%d seconds', 600 + i * 30)),
       CASE WHEN i % 2 = 0 THEN datetime('now', printf('-%d seconds', 600 + i)) END
FROM n, (SELECT subscription_id FROM users WHERE username = '{ADMIN}') a;
COMMIT;"
            ),
            Store::Postgres(_) => format!(
                "BEGIN;
INSERT INTO users (id, subscription_id, username, display_name, email, role, state,
                   password_hash, failed_sign_ins, created_at, updated_at)
SELECT '00000000-0000-4000-8000-' || lpad(i::text, 12, '0'), a.subscription_id,
       'scale-' || lpad(i::text, 6, '0') || '@example.org', 'Scale user ' || i, NULL,
       'viewer', 'active', a.password_hash, 0,
       (now() AT TIME ZONE 'utc') - (600 + i * 300) * interval '1 second',
       (now() AT TIME ZONE 'utc') - (600 + i * 300) * interval '1 second'
FROM generate_series(1, {users}) i,
     (SELECT subscription_id, password_hash FROM users WHERE username = '{ADMIN}') a;
INSERT INTO api_keys (id, subscription_id, user_id, name, permission, secret_hash, hint,
                      created_at, updated_at, last_used_at)
SELECT '00000000-0000-4000-9000-' || lpad(i::text, 12, '0'), a.subscription_id,
       '00000000-0000-4000-8000-' || lpad((1 + i % {users})::text, 12, '0'),
       'scale key ' || i, 'read_only', md5(random()::text) || md5(i::text),
       lpad((i % 10000)::text, 4, '0'),
       (now() AT TIME ZONE 'utc') - (600 + i * 30) * interval '1 second',
       (now() AT TIME ZONE 'utc') - (600 + i * 30) * interval '1 second',
       CASE WHEN i % 2 = 0 THEN (now() AT TIME ZONE 'utc') - (600 + i) * interval '1 second' END
FROM generate_series(0, {keys} - 1) i,
     (SELECT subscription_id FROM users WHERE username = '{ADMIN}') a;
COMMIT;
ANALYZE;"
            ),
        }
    }

    /// Bytes on disk: the database file with its WAL, or `pg_database_size`.
    fn size(&self) -> anyhow::Result<u64> {
        match self {
            Store::Sqlite(path) => Ok(["", "-wal", "-shm"]
                .iter()
                .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
                .map(|m| m.len())
                .sum()),
            Store::Postgres(_) => self
                .sql("SELECT pg_database_size(current_database());")?
                .parse()
                .context("pg_database_size"),
        }
    }

    /// The list cursor of the key at `position` in the default order (newest first),
    /// as the API writes it: base64url of `created_at (RFC 3339)|id`.
    fn key_cursor(&self, position: usize) -> anyhow::Result<String> {
        let row = self.sql(&format!(
            "SELECT created_at || '|' || id FROM api_keys ORDER BY created_at DESC, id DESC \
             LIMIT 1 OFFSET {position};"
        ))?;
        let (at, id) = row.split_once('|').context("no key at that position")?;
        Ok(base64url(&format!(
            "{}+00:00|{id}",
            at.replacen(' ', "T", 1)
        )))
    }
}

fn base64url(text: &str) -> String {
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// A server's resident set, in MB, from `/proc`.
fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs `work` while sampling the server's resident set every 50 ms; returns its
/// result and the highest sample.
fn under_load<T>(pid: u32, work: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
    let done = Arc::new(AtomicBool::new(false));
    let peak_kb = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, peak_kb) = (done.clone(), peak_kb.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let kb = (rss_mb(pid) * 1024.0) as u64;
                peak_kb.fetch_max(kb, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let result = work();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    Ok((result?, peak_kb.load(Ordering::Relaxed) as f64 / 1024.0))
}

/// One measured row.
struct Row {
    name: String,
    result: Result,
}

/// What one backend did.
struct Report {
    backend: &'static str,
    seed_seconds: f64,
    size_small: u64,
    size_large: u64,
    rss_idle_small: f64,
    rss_idle_large: f64,
    rss_load_peak: f64,
    keyed_small: Result,
    keyed_large: Result,
    health_large: Result,
    lists_small: Vec<Row>,
    lists_large: Vec<Row>,
}

pub fn scale(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    for tool in ["wrk", "curl", "sqlite3"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("`{tool}` is needed for the scale benchmark: apt-get install {tool}");
        }
    }
    let mut reports = vec![measure(bin, dir, Store::Sqlite(dir.join("scale.db")))?];
    match crate::postgres::Cluster::start() {
        Ok(cluster) => reports.push(measure(bin, dir, Store::Postgres(cluster))?),
        Err(e) => eprintln!("bench: no PostgreSQL to measure: {e:#}"),
    }
    print(&reports);
    Ok(())
}

fn measure(bin: &Path, dir: &Path, store: Store) -> anyhow::Result<Report> {
    let backend = store.name();
    let url = store.url();
    let (server, base) = serve(bin, dir, &url)?;
    let jar = dir.join("scale-cookies");
    let csrf = sign_in(&base, &jar, ADMIN)?;
    let secret = seed_keys(&base, &jar, &csrf, OWN_KEYS, "own key")?;
    let auth = format!("Authorization: Bearer {secret}");
    let pid = server.0.id();
    eprintln!("bench --scale ({backend}): {OWN_KEYS} keys");
    wrk(&base, "/api/v1/session", Some(&auth), "2s", 8)?;
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle_small = rss_mb(pid);
    let (keyed_small, peak_small) = under_load(pid, || {
        wrk(&base, "/api/v1/session", Some(&auth), DURATION, CONNECTIONS)
    })?;
    let lists_small = lists(&store, &base, &auth, false)?;
    let size_small = store.size()?;
    drop(server);

    eprintln!("bench --scale ({backend}): seeding {USERS} users and {KEYS} keys");
    let started = Instant::now();
    store.sql(&store.seed_script())?;
    let seed_seconds = started.elapsed().as_secs_f64();
    let counted = store
        .sql("SELECT (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM api_keys);")?;
    if counted != format!("{USERS} {KEYS}") {
        bail!("the seed left `{counted}` users and keys, not {USERS} {KEYS}");
    }
    eprintln!("bench --scale ({backend}): seeded in {seed_seconds:.0} s");
    let size_large = store.size()?;

    let (server, base) = start(bin, dir, &url)?;
    let pid = server.0.id();
    wrk(&base, "/healthz", None, "2s", 8)?;
    wrk(&base, "/api/v1/session", Some(&auth), "2s", 8)?;
    std::thread::sleep(Duration::from_secs(1));
    let rss_idle_large = rss_mb(pid);
    let ((health_large, keyed_large, lists_large), peak_large) = under_load(pid, || {
        Ok((
            wrk(&base, "/healthz", None, DURATION, CONNECTIONS)?,
            wrk(&base, "/api/v1/session", Some(&auth), DURATION, CONNECTIONS)?,
            lists(&store, &base, &auth, true)?,
        ))
    })?;
    drop(server);
    Ok(Report {
        backend,
        seed_seconds,
        size_small,
        size_large,
        rss_idle_small,
        rss_idle_large,
        rss_load_peak: peak_small.max(peak_large),
        keyed_small,
        keyed_large,
        health_large,
        lists_small,
        lists_large,
    })
}

/// The list rows: the admin's view of every key in the subscription (first page, a page
/// half-way down by cursor, the other orders, a filter), the user list (first page and
/// one half-way down), and the admin's own keys. `deep` adds the rows that need the seed.
fn lists(store: &Store, base: &str, auth: &str, deep: bool) -> anyhow::Result<Vec<Row>> {
    let mut paths = vec![
        (
            "subscription keys, first page".to_string(),
            "/api/v1/subscription/api-keys?limit=50".to_string(),
        ),
        (
            "subscription keys by last use, first page".into(),
            "/api/v1/subscription/api-keys?limit=50&sort=last_used_at".into(),
        ),
        (
            "subscription keys, filtered by owner (`q`)".into(),
            "/api/v1/subscription/api-keys?limit=50&q=scale-050000".into(),
        ),
        ("users, first page".into(), "/api/v1/users?limit=50".into()),
        (
            "own keys, first page".into(),
            "/api/v1/api-keys?limit=50".into(),
        ),
    ];
    if deep {
        let cursor = store.key_cursor(KEYS / 2)?;
        paths.insert(
            1,
            (
                format!("subscription keys, page at row {}", KEYS / 2),
                format!("/api/v1/subscription/api-keys?limit=50&cursor={cursor}"),
            ),
        );
        let user_cursor = base64url(&format!("scale-{:06}@example.org", USERS / 2));
        paths.insert(
            5,
            (
                format!("users, page at row {}", USERS / 2),
                format!("/api/v1/users?limit=50&cursor={user_cursor}"),
            ),
        );
    }
    let mut rows = Vec::new();
    for (name, path) in paths {
        let served = curl(&["-f", "-H", auth, &format!("{base}{path}")])
            .with_context(|| format!("GET {path}"))?;
        if !served.contains("\"items\"") {
            bail!("GET {path} answered without items: {served}");
        }
        let _ = wrk(base, &path, Some(auth), "1s", LIST_CONNECTIONS);
        let result = wrk(base, &path, Some(auth), LIST_DURATION, LIST_CONNECTIONS)
            .with_context(|| format!("GET {path} under load"))?;
        rows.push(Row { name, result });
    }
    Ok(rows)
}

fn print(reports: &[Report]) {
    let mb = |bytes: u64| bytes as f64 / 1_048_576.0;
    println!();
    println!(
        "Gatehouse at scale: release build; {OWN_KEYS} keys, then {KEYS} keys over {USERS} users seeded in bulk SQL; \
         key-authenticated GET /api/v1/session with the same key, wrk -t2 -c{CONNECTIONS} -d{DURATION}; \
         lists wrk -t2 -c{LIST_CONNECTIONS} -d{LIST_DURATION}, 50 a page"
    );
    println!();
    println!("| row | backend | at {OWN_KEYS} keys | at {KEYS} keys | large ÷ small |");
    println!("|---|---|---:|---:|---:|");
    for r in reports {
        let b = r.backend;
        println!(
            "| key-authenticated requests/s | {b} | {:.0} | {:.0} | {:.2}× |",
            r.keyed_small.rps,
            r.keyed_large.rps,
            r.keyed_large.rps / r.keyed_small.rps
        );
        println!(
            "| key-authenticated p99 | {b} | {:.2} ms | {:.2} ms | {:.2}× |",
            r.keyed_small.p99_ms,
            r.keyed_large.p99_ms,
            r.keyed_large.p99_ms / r.keyed_small.p99_ms
        );
        println!(
            "| /healthz requests/s (at scale; key-authenticated ÷ it: {:.2}×) | {b} | | {:.0} | |",
            r.keyed_large.rps / r.health_large.rps,
            r.health_large.rps
        );
        println!(
            "| database size | {b} | {:.1} MB | {:.1} MB | |",
            mb(r.size_small),
            mb(r.size_large)
        );
        println!(
            "| server RSS, idle | {b} | {:.1} MB | {:.1} MB | |",
            r.rss_idle_small, r.rss_idle_large
        );
        println!(
            "| bulk seed ({} users, {} keys) | {b} | | {:.0} s | |",
            USERS - 1,
            KEYS - OWN_KEYS,
            r.seed_seconds
        );
    }
    println!();
    println!("| list | backend | rows | requests/s | p50 | p99 | p50 ÷ first page |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in reports {
        for (rows, list) in [(OWN_KEYS, &r.lists_small), (KEYS, &r.lists_large)] {
            let first = list.first().map_or(f64::NAN, |l| l.result.p50_ms);
            for l in list {
                println!(
                    "| {} | {} | {rows} | {:.0} | {:.2} ms | {:.2} ms | {:.2}× |",
                    l.name,
                    r.backend,
                    l.result.rps,
                    l.result.p50_ms,
                    l.result.p99_ms,
                    l.result.p50_ms / first
                );
            }
        }
    }
    println!();
    for r in reports {
        println!(
            "Targets ({}): key-authenticated at {KEYS} keys within 10 % of {OWN_KEYS} -> {:+.1} % requests/s, {:+.1} % p99; \
             RSS idle ≤ {RSS_IDLE_TARGET_MB:.0} MB -> {:.1} MB; under load ≤ {RSS_LOAD_TARGET_MB:.0} MB -> {:.1} MB (peak)",
            r.backend,
            (r.keyed_large.rps / r.keyed_small.rps - 1.0) * 100.0,
            (r.keyed_large.p99_ms / r.keyed_small.p99_ms - 1.0) * 100.0,
            r.rss_idle_small.max(r.rss_idle_large),
            r.rss_load_peak
        );
    }
}
