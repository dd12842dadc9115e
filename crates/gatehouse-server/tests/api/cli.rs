//! The `gatehouse` binary as an operator uses it: `serve` on an empty database (with
//! and without a terminal), `bootstrap`, `migrate`, `--help`, and the precedence of
//! flags, environment and file.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, fresh_database, http_client, tempfile_dir::TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

both_backends!(
    serve_without_a_terminal_writes_the_first_admin_to_an_owner_only_file,
    bootstrap_creates_a_subscription_and_its_admin,
    bootstrap_again_with_the_same_admin_changes_nothing,
);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Served {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    stderr_path: std::path::PathBuf,
}

impl Served {
    /// `gatehouse serve` with standard output a pipe, as under a container runtime or
    /// a service manager; the data directory is given when it is not the SQLite file's.
    pub fn start(database_url: &str, port: u16, logs: &TempDir, data_dir: Option<&Path>) -> Served {
        let stderr_path = logs
            .path()
            .join(format!("stderr-{}.log", uuid::Uuid::new_v4()));
        let mut cmd = Command::new(BIN);
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            database_url,
        ])
        .env("GATEHOUSE_LOG", "debug")
        .env_remove("GATEHOUSE_DATA_DIR")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
        if let Some(dir) = data_dir {
            cmd.arg("--data-dir").arg(dir);
        }
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Served {
            child,
            lines,
            stderr_path,
        }
    }

    pub fn stop(mut self) -> (Vec<String>, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines: Vec<String> = self.lines.try_iter().collect();
        (lines, std::fs::read_to_string(&self.stderr_path).unwrap())
    }
}

/// A failed assertion must not leave the server running.
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_ready(port: u16) {
    for _ in 0..300 {
        let res = http_client()
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .send()
            .await;
        if res.is_ok_and(|r| r.status() == StatusCode::OK) {
            return;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server did not become ready");
}

/// The data directory of a fresh database: the SQLite file's folder by default; for
/// PostgreSQL a folder given with `--data-dir` (the default, the working directory,
/// would be the crate's folder here).
fn data_dir_of(b: Backend, sqlite_dir: Option<&TempDir>, own: &TempDir) -> (PathBuf, bool) {
    match (b, sqlite_dir) {
        (Backend::Sqlite, Some(dir)) => (dir.path().to_path_buf(), false),
        _ => (own.path().to_path_buf(), true),
    }
}

/// The password line of a first-admin file or of the printed greeting.
fn password_in(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .map(|p| p.trim().to_string())
}

async fn sign_in(port: u16, username: &str, password: &str) -> reqwest::Response {
    http_client()
        .post(format!("http://127.0.0.1:{port}/api/v1/session"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn serve_without_a_terminal_writes_the_first_admin_to_an_owner_only_file(b: Backend) {
    let (url, dir) = fresh_database(b);
    let logs = TempDir::new();
    let own_dir = TempDir::new();
    let (data_dir, flag) = data_dir_of(b, dir.dir(), &own_dir);
    let port = free_port();
    let served = Served::start(&url, port, &logs, flag.then_some(data_dir.as_path()));
    wait_ready(port).await;

    let file = data_dir.join("first-admin-password");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("username: admin"), "{written}");
    let password = password_in(&written).expect("the password in the file");

    // The password works, and the session it gives is an admin's.
    let c = http_client();
    let res = c
        .post(format!("http://127.0.0.1:{port}/api/v1/session"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("gatehouse_session=")
        .to_string();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["user"]["role"], "admin");
    let csrf = body["csrf_token"].as_str().unwrap().to_string();
    let res = c
        .patch(format!("http://127.0.0.1:{port}/api/v1/me"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({"display_name": "First Admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Nothing the process wrote carries a secret; the log names the file.
    let (stdout, stderr) = served.stop();
    let stdout = stdout.join("\n");
    for secret in [&password, &token, &csrf] {
        assert!(!stdout.contains(secret.as_str()), "a secret reached stdout");
        assert!(
            !stderr.contains(secret.as_str()),
            "a secret reached the log"
        );
    }
    assert!(!stdout.contains("password"), "{stdout}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "the log names the password file: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "a log written to a file carries no terminal colour codes"
    );
    assert!(
        stderr.contains("/api/v1/session"),
        "request lines are logged"
    );

    // A second start on the same database creates no one, writes and prints nothing,
    // even though the operator has not deleted the file yet.
    let port = free_port();
    let served = Served::start(&url, port, &logs, flag.then_some(data_dir.as_path()));
    wait_ready(port).await;
    let (lines, stderr) = served.stop();
    assert!(lines.iter().all(|l| !l.contains("password")), "{lines:?}");
    assert!(!stderr.contains("first admin"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), written);
    drop(dir);
}

/// A file already at the password's place (a stale one, or a symlink pointing
/// elsewhere) is neither followed nor overwritten: start-up fails, says why, and
/// creates no admin; once it is gone, the next start works.
#[actix_web::test]
async fn serve_refuses_to_overwrite_an_existing_password_file() {
    let (url, dir) = fresh_database(Backend::Sqlite);
    let data_dir = dir.dir().unwrap().path();
    let elsewhere = TempDir::new();
    let target = elsewhere.path().join("precious");
    std::fs::write(&target, "keep me\n").unwrap();
    let file = data_dir.join("first-admin-password");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&target, &file).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(&target, &file).unwrap();

    let out = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .env_remove("GATEHOUSE_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already exists"), "{stderr}");
    assert!(stderr.contains("first-admin-password"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");

    std::fs::remove_file(&file).unwrap();
    let logs = TempDir::new();
    let port = free_port();
    let served = Served::start(&url, port, &logs, None);
    wait_ready(port).await;
    let password = password_in(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(
        sign_in(port, "admin", &password).await.status(),
        StatusCode::OK
    );
    served.stop();
    drop(dir);
}

/// At a terminal (`cargo xtask run`, or `gatehouse serve` typed by hand) the first
/// admin is printed as before and no file is written. `script` gives the server a
/// terminal of its own.
#[cfg(target_os = "linux")]
#[actix_web::test]
async fn serve_at_a_terminal_prints_the_first_admin_and_writes_no_file() {
    let (url, dir) = fresh_database(Backend::Sqlite);
    let data_dir = dir.dir().unwrap().path();
    let port = free_port();
    let mut child = Command::new("script")
        .args([
            "--quiet",
            "--command",
            &format!("exec {BIN} serve --listen 127.0.0.1:{port} --database-url {url}"),
            "/dev/null",
        ])
        .env_remove("GATEHOUSE_DATA_DIR")
        .env("GATEHOUSE_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("util-linux `script`");
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut password = None;
    while password.is_none() {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .expect("the first admin printed at the terminal");
        password = password_in(&line);
    }
    let password = password.unwrap();
    // Dropped, it kills `script`: the server goes with its terminal (SIGHUP).
    let served = Served {
        child,
        lines,
        stderr_path: PathBuf::new(),
    };
    wait_ready(port).await;
    assert_eq!(
        sign_in(port, "admin", &password).await.status(),
        StatusCode::OK
    );
    assert!(!data_dir.join("first-admin-password").exists());
    drop(served);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    drop(dir);
}

/// `gatehouse bootstrap --password-stdin` with `password` on standard input.
pub fn bootstrap(url: &str, subscription: &str, username: &str, password: &str) -> Output {
    let mut child = Command::new(BIN)
        .args([
            "bootstrap",
            "--subscription",
            subscription,
            "--username",
            username,
            "--password-stdin",
        ])
        .env("GATEHOUSE_DATABASE_URL", url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    child.wait_with_output().unwrap()
}

async fn bootstrap_creates_a_subscription_and_its_admin(b: Backend) {
    let (url, dir) = fresh_database(b);
    let out = bootstrap(
        &url,
        "Initech",
        "Peter@Initech.com",
        "a chosen admin password",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("subscription:"));
    assert!(!stdout.contains("a chosen admin password"));

    // Without --password-stdin a password would be generated and printed: refused
    // when standard output is not a terminal (it would land in a log), and nothing
    // is created.
    let out = Command::new(BIN)
        .args([
            "bootstrap",
            "--subscription",
            "Initrode",
            "--username",
            "bill@initrode.com",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password-stdin"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("password:"));
    let generated = "bill's chosen password".to_string();
    let out = bootstrap(&url, "Initrode", "bill@initrode.com", &generated);
    assert!(out.status.success());

    // A taken username fails, and says why.
    let out = bootstrap(&url, "Other", "peter@initech.com", "another password here");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already taken"));

    // Both admins sign in to their own subscriptions; serve prints no first admin.
    let logs = TempDir::new();
    let data_dir = TempDir::new();
    let port = free_port();
    let served = Served::start(&url, port, &logs, Some(data_dir.path()));
    wait_ready(port).await;
    let c = http_client();
    for (user, pass, sub) in [
        ("peter@initech.com", "a chosen admin password", "Initech"),
        ("bill@initrode.com", generated.as_str(), "Initrode"),
    ] {
        let res = c
            .post(format!("http://127.0.0.1:{port}/api/v1/session"))
            .json(&json!({"username": user, "password": pass}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{user}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["subscription"]["name"], sub);
        assert_eq!(body["user"]["role"], "admin");
    }
    let (lines, _) = served.stop();
    assert!(lines.iter().all(|l| !l.contains("password")));
    assert!(!data_dir.path().join("first-admin-password").exists());
    drop(dir);
}

/// A deployment runs its bootstrap on every start: the second run succeeds, says so,
/// and changes nothing (the first password stays, the one given again is ignored).
async fn bootstrap_again_with_the_same_admin_changes_nothing(b: Backend) {
    let (url, dir) = fresh_database(b);
    let first = bootstrap(&url, "Default", "admin", "the password from the secret");
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let id_line = |out: &Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("subscription:"))
            .map(str::to_string)
            .expect("the subscription's id")
    };
    let again = bootstrap(&url, "Default", "Admin", "a different password now");
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(said.contains("already bootstrapped"), "{said}");
    assert!(!said.contains("a different password now"));
    assert_eq!(id_line(&again), id_line(&first));
    // Once the admin exists the secret is not read: an emptied one is fine.
    let emptied = bootstrap(&url, "Default", "admin", "");
    assert!(
        emptied.status.success(),
        "{}",
        String::from_utf8_lossy(&emptied.stderr)
    );

    // The same username under another subscription's name is still refused...
    let other = bootstrap(&url, "Elsewhere", "admin", "the password from the secret");
    assert!(!other.status.success());
    assert!(String::from_utf8_lossy(&other.stderr).contains("already taken"));
    // ...but with --if-empty (what compose runs) any database that holds a
    // subscription is left alone, whatever was renamed or deleted since.
    let if_empty = |subscription: &str, username: &str| {
        let mut child = Command::new(BIN)
            .args([
                "bootstrap",
                "--if-empty",
                "--subscription",
                subscription,
                "--username",
                username,
                "--password-stdin",
            ])
            .env("GATEHOUSE_DATABASE_URL", &url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "a password nobody should get").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = if_empty("Renamed", "someone-new");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing changed"));

    let logs = TempDir::new();
    let data_dir = TempDir::new();
    let port = free_port();
    let served = Served::start(&url, port, &logs, Some(data_dir.path()));
    wait_ready(port).await;
    let res = sign_in(port, "admin", "the password from the secret").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["subscription"]["name"], "Default");
    assert_eq!(
        sign_in(port, "admin", "a different password now")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        sign_in(port, "someone-new", "a password nobody should get")
            .await
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let (lines, _) = served.stop();
    assert!(lines.iter().all(|l| !l.contains("password")));
    assert!(!data_dir.path().join("first-admin-password").exists());
    drop(dir);
}

#[test]
fn help_documents_every_setting() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "GATEHOUSE_CONFIG",
        "GATEHOUSE_LISTEN",
        "GATEHOUSE_DATABASE_URL",
        "GATEHOUSE_DATA_DIR",
        "GATEHOUSE_PUBLIC_URL",
        "GATEHOUSE_SECRET_PEPPER",
        "GATEHOUSE_DB_POOL_SIZE",
        "GATEHOUSE_WORKERS",
        "GATEHOUSE_PASSWORD_HASH_CONCURRENCY",
        "GATEHOUSE_LOG_FORMAT",
        "GATEHOUSE_LOG",
        "GATEHOUSE_METRICS_LISTEN",
        "GATEHOUSE_AUDIT_RETENTION_DAYS",
        "GATEHOUSE_SPENT_TOKEN_RETENTION_HOURS",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    for cmd in [
        "serve",
        "migrate",
        "bootstrap",
        "users",
        "keys",
        "grants",
        "audit",
        "config",
        "doctor",
        "backup",
    ] {
        assert!(help.contains(cmd));
    }
}

#[test]
fn flags_beat_environment_beat_the_config_file() {
    let dir = TempDir::new();
    let db = |name: &str| dir.path().join(name);
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!("database_url = \"sqlite://{}\"\n", db("file.db").display()),
    )
    .unwrap();
    let migrate = |env: Option<&str>, flag: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("migrate")
            .arg("--config")
            .arg(&config)
            .env_remove("GATEHOUSE_DATABASE_URL");
        if let Some(e) = env {
            cmd.env(
                "GATEHOUSE_DATABASE_URL",
                format!("sqlite://{}", db(e).display()),
            );
        }
        if let Some(f) = flag {
            cmd.arg("--database-url")
                .arg(format!("sqlite://{}", db(f).display()));
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    migrate(None, None);
    assert!(db("file.db").exists());
    migrate(Some("env.db"), None);
    assert!(db("env.db").exists());
    migrate(Some("env2.db"), Some("flag.db"));
    assert!(db("flag.db").exists());
    assert!(!db("env2.db").exists());

    let out = Command::new(BIN)
        .args(["migrate", "--database-url", "mysql://nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sqlite:// or postgres://"));
}
