//! The `gatehouse` binary as an operator uses it: `serve` on an empty database,
//! `bootstrap`, `migrate`, `--help`, and the precedence of flags, environment and file.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, fresh_database, http_client, tempfile_dir::TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

both_backends!(
    serve_prints_the_first_admin_once_and_logs_no_secrets,
    bootstrap_creates_a_subscription_and_its_admin,
);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Served {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr_path: std::path::PathBuf,
}

impl Served {
    fn start(database_url: &str, port: u16, logs: &TempDir) -> Served {
        let stderr_path = logs
            .path()
            .join(format!("stderr-{}.log", uuid::Uuid::new_v4()));
        let mut child = Command::new(BIN)
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--database-url",
                database_url,
            ])
            .env("GATEHOUSE_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .unwrap();
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

    async fn wait_ready(&self, port: u16) {
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

    fn stop(mut self) -> (Vec<String>, String) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let lines: Vec<String> = self.lines.try_iter().collect();
        (lines, std::fs::read_to_string(&self.stderr_path).unwrap())
    }
}

async fn serve_prints_the_first_admin_once_and_logs_no_secrets(b: Backend) {
    let (url, dir) = fresh_database(b);
    let logs = TempDir::new();
    let port = free_port();
    let served = Served::start(&url, port, &logs);
    served.wait_ready(port).await;
    let (stdout, stderr) = {
        // Sign in with the printed password, then look at everything the process wrote.
        let mut password = None;
        for line in served
            .lines
            .recv_timeout(Duration::from_secs(5))
            .into_iter()
            .chain(served.lines.try_iter())
        {
            if let Some(p) = line.trim().strip_prefix("password: ") {
                password = Some(p.to_string());
            }
        }
        let password = password.expect("the first admin's password on stdout");
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
        let (_, stderr) = served.stop();
        for secret in [&password, &token, &csrf] {
            assert!(
                !stderr.contains(secret.as_str()),
                "a secret reached the log"
            );
        }
        assert!(
            stderr.contains("/api/v1/session"),
            "request lines are logged"
        );
        (password, stderr)
    };
    let _ = (stdout, stderr);

    // A second start on the same database creates no one and prints no password.
    let port = free_port();
    let served = Served::start(&url, port, &logs);
    served.wait_ready(port).await;
    let (lines, _) = served.stop();
    assert!(lines.iter().all(|l| !l.contains("password")), "{lines:?}");
    drop(dir);
}

async fn bootstrap_creates_a_subscription_and_its_admin(b: Backend) {
    let (url, dir) = fresh_database(b);
    let mut child = Command::new(BIN)
        .args([
            "bootstrap",
            "--subscription",
            "Initech",
            "--username",
            "Peter@Initech.com",
            "--password-stdin",
        ])
        .env("GATEHOUSE_DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"a chosen admin password\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("subscription:"));
    assert!(!stdout.contains("a chosen admin password"));

    // Without --password-stdin a password is generated and printed once.
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
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let generated = stdout
        .lines()
        .find_map(|l| l.strip_prefix("password:"))
        .map(|p| p.split_whitespace().next().unwrap().to_string())
        .expect("a generated password");

    // A taken username fails, and says why.
    let out = Command::new(BIN)
        .args([
            "bootstrap",
            "--subscription",
            "Other",
            "--username",
            "peter@initech.com",
            "--database-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already taken"));

    // Both admins sign in to their own subscriptions; serve prints no first admin.
    let logs = TempDir::new();
    let port = free_port();
    let served = Served::start(&url, port, &logs);
    served.wait_ready(port).await;
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
        "GATEHOUSE_PUBLIC_URL",
        "GATEHOUSE_SECRET_PEPPER",
        "GATEHOUSE_DB_POOL_SIZE",
        "GATEHOUSE_WORKERS",
        "GATEHOUSE_PASSWORD_HASH_CONCURRENCY",
        "GATEHOUSE_LOG_FORMAT",
        "GATEHOUSE_LOG",
    ] {
        assert!(help.contains(var), "--help does not mention {var}");
    }
    for cmd in ["serve", "migrate", "bootstrap"] {
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
