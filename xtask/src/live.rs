//! Tools for driving a live `gatehouse` server from outside, as a client would: start
//! it (bootstrapping its first admin), wait until it is ready, sign in, call the API
//! with `curl`, read small JSON answers. `bench`, `cluster` and `contract` use them;
//! this module uses none of theirs.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// A child process that is killed when dropped: a server, nginx, a node peer.
pub(crate) struct Server(pub(crate) Child);

impl Server {
    pub(crate) fn spawn(cmd: &mut Command) -> anyhow::Result<Server> {
        Ok(Server(
            cmd.spawn().with_context(|| format!("starting {cmd:?}"))?,
        ))
    }

    pub(crate) fn kill(&mut self) -> std::io::Result<()> {
        self.0.kill()?;
        self.0.wait().map(drop)
    }

    /// SIGTERM, then up to five seconds to exit (nginx's master then stops its
    /// workers, which a SIGKILL would leave behind), then SIGKILL.
    pub(crate) fn terminate(&mut self) -> std::io::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if self.0.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill()
    }

    pub(crate) fn try_wait(&mut self) -> std::io::Result<Option<std::process::ExitStatus>> {
        self.0.try_wait()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first admin [`serve`] bootstraps, and their password.
pub(crate) const ADMIN: &str = "bench@example.com";
pub(crate) const PASSWORD: &str = "benchmark admin password";

/// `gatehouse bootstrap --if-empty` on `db`: a subscription and its admin, with
/// `password` on standard input.
pub(crate) fn bootstrap(
    bin: &Path,
    db: &str,
    subscription: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<()> {
    let mut boot = Command::new(bin)
        .args([
            "bootstrap",
            "--if-empty",
            "--subscription",
            subscription,
            "--username",
            username,
            "--password-stdin",
        ])
        .env("GATEHOUSE_DATABASE_URL", db)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = boot.stdin.take() {
        use std::io::Write;
        writeln!(stdin, "{password}")?;
    }
    if !boot.wait()?.success() {
        bail!("bootstrap failed");
    }
    Ok(())
}

/// Bootstraps a subscription with [`ADMIN`] on `db` and starts the server `bin` on it (a
/// free loopback port, its log in `dir/server.log`); the server and its address.
pub(crate) fn serve(bin: &Path, dir: &Path, db: &str) -> anyhow::Result<(Server, String)> {
    bootstrap(bin, db, "Bench", ADMIN, PASSWORD)?;
    start(bin, dir, db)
}

/// Starts `bin` on the existing database `db` on a free loopback port, its log
/// appended to `dir/server.log`; the server and its address once it is ready.
pub(crate) fn start(bin: &Path, dir: &Path, db: &str) -> anyhow::Result<(Server, String)> {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))?;
    let server = Server(
        Command::new(bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("GATEHOUSE_DATABASE_URL", db)
            .env("GATEHOUSE_WEB_DIR", crate::web::dist_dir())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    wait_ready(&base)?;
    Ok((server, base))
}

/// Signs `username` in with [`PASSWORD`] into the cookie `jar`; its CSRF token.
pub(crate) fn sign_in(base: &str, jar: &Path, username: &str) -> anyhow::Result<String> {
    sign_in_with(base, jar, username, PASSWORD)
}

/// [`sign_in`] with another password.
pub(crate) fn sign_in_with(
    base: &str,
    jar: &Path,
    username: &str,
    password: &str,
) -> anyhow::Result<String> {
    let signed_in = curl(&[
        "-c",
        path_str(jar)?,
        "-H",
        "Content-Type: application/json",
        "-d",
        &format!("{{\"username\":\"{username}\",\"password\":\"{password}\"}}"),
        &format!("{base}/api/v1/session"),
    ])?;
    json_string(&signed_in, "csrf_token").context("signing in")
}

/// A JSON call as the signed-in user of `jar` (cookie and CSRF token): `method` `url`
/// with `body`; the answer's body, or an error for an HTTP error status.
pub(crate) fn as_signed_in(
    jar: &Path,
    csrf: &str,
    method: &str,
    url: &str,
    body: &str,
) -> anyhow::Result<String> {
    curl(&[
        "-f",
        "-b",
        path_str(jar)?,
        "-X",
        method,
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-d",
        body,
        url,
    ])
}

/// Raises the subscription's lockout threshold to its maximum, as the signed-in admin
/// of `jar`: for runs that send wrong passwords on purpose.
pub(crate) fn raise_lockout_threshold(base: &str, jar: &Path, csrf: &str) -> anyhow::Result<()> {
    as_signed_in(
        jar,
        csrf,
        "PATCH",
        &format!("{base}/api/v1/subscription"),
        "{\"login_lockout_threshold\":1000}",
    )
    .map(drop)
}

/// Creates `count` read-only keys named `{name} {i}` through the API, as the signed-in
/// user of `jar`; the last key's secret.
pub(crate) fn seed_keys(
    base: &str,
    jar: &Path,
    csrf: &str,
    count: usize,
    name: &str,
) -> anyhow::Result<String> {
    let mut secret = String::new();
    for i in 0..count {
        let created = curl(&[
            "-b",
            path_str(jar)?,
            "-H",
            "Content-Type: application/json",
            "-H",
            &format!("X-CSRF-Token: {csrf}"),
            "-d",
            &format!("{{\"name\":\"{name} {i}\",\"permission\":\"read_only\"}}"),
            &format!("{base}/api/v1/api-keys"),
        ])?;
        secret = json_string(&created, "secret").context("creating a key")?;
    }
    Ok(secret)
}

pub(crate) fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("temporary path is not UTF-8")
}

pub(crate) fn wait_ready(base: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if curl(&["-f", &format!("{base}/readyz")]).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the server did not become ready")
}

pub(crate) fn curl(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("curl").arg("-sS").args(args).output()?;
    if !out.status.success() {
        bail!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The string value of a top-level field of a small JSON answer.
pub(crate) fn json_string(body: &str, field: &str) -> Option<String> {
    let start = body.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}
