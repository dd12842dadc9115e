//! `cargo xtask bench`: the speed targets of PRODUCT.md §9, measured, not asserted.
//!
//! Builds the release server, starts it on a fresh SQLite database, seeds keys through
//! the API, and drives it with `wrk` (64 connections, on the same two cores): plain
//! `GET /healthz` as the baseline, API-key-authenticated `GET /api/v1/session`, and the
//! same while a second `wrk` floods `POST /api/v1/session` with sign-ins. Prints a
//! table with requests/s, p50 and p99, and each row's ratio to the baseline.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const SEEDED_KEYS: usize = 1000;
const CONNECTIONS: &str = "64";
const DURATION: &str = "10s";

pub fn bench() -> anyhow::Result<()> {
    for tool in ["wrk", "curl"] {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("`{tool}` is needed for the benchmark: apt-get install {tool}");
        }
    }
    crate::status(crate::cargo().args([
        "build",
        "--release",
        "--package",
        "gatehouse-server",
        "--bin",
        "gatehouse",
    ]))?;
    let bin = PathBuf::from("target/release/gatehouse");
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let result = run(&bin, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    let db = format!("sqlite://{}/bench.db", dir.display());
    let password = "benchmark admin password";
    let mut boot = Command::new(bin)
        .args([
            "bootstrap",
            "--subscription",
            "Bench",
            "--username",
            "bench@example.com",
            "--password-stdin",
        ])
        .env("GATEHOUSE_DATABASE_URL", &db)
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
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let base = format!("http://127.0.0.1:{port}");
    let log = std::fs::File::create(dir.join("server.log"))?;
    let server = Server(
        Command::new(bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("GATEHOUSE_DATABASE_URL", &db)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    wait_ready(&base)?;

    let jar = dir.join("cookies");
    let signed_in = curl(&[
        "-c",
        path_str(&jar)?,
        "-H",
        "Content-Type: application/json",
        "-d",
        &format!("{{\"username\":\"bench@example.com\",\"password\":\"{password}\"}}"),
        &format!("{base}/api/v1/session"),
    ])?;
    let csrf = json_string(&signed_in, "csrf_token").context("signing in")?;
    let started = Instant::now();
    let mut secret = String::new();
    for i in 0..SEEDED_KEYS {
        let created = curl(&[
            "-b",
            path_str(&jar)?,
            "-H",
            "Content-Type: application/json",
            "-H",
            &format!("X-CSRF-Token: {csrf}"),
            "-d",
            &format!("{{\"name\":\"bench key {i}\",\"permission\":\"read_only\"}}"),
            &format!("{base}/api/v1/api-keys"),
        ])?;
        secret = json_string(&created, "secret").context("creating a key")?;
    }
    eprintln!(
        "bench: seeded {SEEDED_KEYS} keys in {:.1?}",
        started.elapsed()
    );

    let script = dir.join("signin.lua");
    std::fs::write(
        &script,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
         wrk.body = '{\"username\":\"bench@example.com\",\"password\":\"not the password\"}'\n",
    )?;
    // Lockout would end the flood early; the threshold is raised for the run.
    curl(&[
        "-b",
        path_str(&jar)?,
        "-X",
        "PATCH",
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-d",
        "{\"login_lockout_threshold\":1000}",
        &format!("{base}/api/v1/subscription"),
    ])?;

    let auth = format!("Authorization: Bearer {secret}");
    // Warm both paths (and the key cache) before measuring.
    wrk(&base, "/healthz", None, "2s", "8")?;
    wrk(&base, "/api/v1/session", Some(&auth), "2s", "8")?;
    let health = wrk(&base, "/healthz", None, DURATION, CONNECTIONS)?;
    let keyed = wrk(&base, "/api/v1/session", Some(&auth), DURATION, CONNECTIONS)?;
    let flood = Command::new("wrk")
        .args([
            "-t1",
            "-c8",
            "-d12s",
            "--latency",
            "-s",
            path_str(&script)?,
            &format!("{base}/api/v1/session"),
        ])
        .stdout(Stdio::piped())
        .spawn()?;
    std::thread::sleep(Duration::from_secs(1));
    let during = wrk(&base, "/api/v1/session", Some(&auth), DURATION, CONNECTIONS)?;
    let flood = parse(&String::from_utf8_lossy(&flood.wait_with_output()?.stdout))?;
    drop(server);

    println!();
    println!(
        "Gatehouse benchmark: release build, SQLite, {SEEDED_KEYS} keys, wrk -t2 -c{CONNECTIONS} -d{DURATION}, same machine"
    );
    println!();
    println!("| route | requests/s | p50 | p99 | vs /healthz |");
    println!("|---|---:|---:|---:|---:|");
    for (name, r) in [
        ("GET /healthz (baseline)", &health),
        ("GET /api/v1/session, API key", &keyed),
        (
            "GET /api/v1/session, API key, during a sign-in flood",
            &during,
        ),
    ] {
        println!(
            "| {name} | {:.0} | {:.2} ms | {:.2} ms | {:.2}× |",
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.rps / health.rps
        );
    }
    println!(
        "| POST /api/v1/session, the flood itself (8 connections, wrong password) | {:.0} | {:.2} ms | {:.2} ms | |",
        flood.rps, flood.p50_ms, flood.p99_ms
    );
    println!();
    println!(
        "Targets (PRODUCT.md §9): key-authenticated ≥ 0.50× /healthz -> {:.2}×; p99 < 10 ms -> {:.2} ms; p99 during the flood < 20 ms -> {:.2} ms",
        keyed.rps / health.rps,
        keyed.p99_ms,
        during.p99_ms
    );
    Ok(())
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str().context("temporary path is not UTF-8")
}

fn wait_ready(base: &str) -> anyhow::Result<()> {
    for _ in 0..100 {
        if curl(&["-f", &format!("{base}/readyz")]).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("the server did not become ready")
}

fn curl(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("curl").arg("-sS").args(args).output()?;
    if !out.status.success() {
        bail!("curl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The string value of a top-level field of a small JSON answer.
fn json_string(body: &str, field: &str) -> Option<String> {
    let start = body.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_string())
}

struct Result {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn wrk(
    base: &str,
    path: &str,
    header: Option<&str>,
    duration: &str,
    connections: &str,
) -> anyhow::Result<Result> {
    let mut cmd = Command::new("wrk");
    cmd.args(["-t2", "-c", connections, "-d", duration, "--latency"]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(format!("{base}{path}")).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        bail!("wrk saw error answers for {path}:\n{text}");
    }
    parse(&text)
}

fn parse(text: &str) -> anyhow::Result<Result> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let percentile = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .and_then(|v| latency_ms(v.trim()))
            .with_context(|| format!("no {p} latency in wrk's output:\n{text}"))
    };
    Ok(Result {
        rps,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
    })
}

/// wrk prints `812.00us`, `1.23ms` or `1.02s`.
fn latency_ms(v: &str) -> Option<f64> {
    if let Some(n) = v.strip_suffix("us") {
        n.parse::<f64>().ok().map(|n| n / 1000.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        n.parse().ok()
    } else if let Some(n) = v.strip_suffix('s') {
        n.parse::<f64>().ok().map(|n| n * 1000.0)
    } else {
        None
    }
}
