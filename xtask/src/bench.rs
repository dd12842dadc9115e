//! `cargo xtask bench`: the speed targets of docs/PRODUCT.md §9, measured, not asserted.
//!
//! Builds the release server, starts it on a fresh SQLite database (then on a throwaway
//! PostgreSQL cluster), seeds keys through
//! the API, and drives it with `wrk` (at 64 and at 32 connections, on the same two cores): plain
//! `GET /healthz` as the baseline, API-key-authenticated `GET /api/v1/session`, and the
//! same while a second `wrk` floods `POST /api/v1/session` with sign-ins. Prints a
//! table with requests/s, p50 and p99, and each row's ratio to the baseline.
//!
//! The web app is measured too: the gzip bytes of what a browser downloads (from
//! `cargo xtask build-web`), and how long the signed-in API Keys page takes to show 50
//! keys in headless Chromium (`bench/spa-load.mjs`, playwright-core from
//! `tests/node_modules`). `cargo xtask bench --web` measures only these (no `wrk`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

mod cluster;
mod scale;

use crate::live::{
    ADMIN, PASSWORD, Server, curl, json_string, path_str, raise_lockout_threshold, seed_keys,
    serve, sign_in,
};
use crate::util::{build_server, root};
use crate::{flags, postgres, web};

const SEEDED_KEYS: usize = 1000;
/// Every throughput row runs at each of these `wrk` connection counts.
const CONNECTIONS: [u32; 2] = [64, 32];
/// The sign-in flood row runs at the first.
const FLOOD_CONNECTIONS: u32 = CONNECTIONS[0];
const DURATION: &str = "10s";

pub fn bench(only: flags::Bench) -> anyhow::Result<()> {
    let flags::Bench {
        web: web_only,
        scale: at_scale,
        cluster: clustered,
        devices: devices_only,
    } = only;
    if devices_only {
        let (bin, dir) = release_server()?;
        let result = devices_alone(&bin, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if clustered {
        let (bin, dir) = release_server()?;
        let result = cluster::cluster_bench(&bin, &dir);
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    if at_scale {
        let (bin, dir) = release_server()?;
        let result = scale::scale(&bin, &dir);
        // BENCH_KEEP=1 keeps the seeded SQLite database for a look with `sqlite3`.
        if std::env::var_os("BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            eprintln!("bench: kept {}", dir.display());
        }
        return result;
    }
    let tools: &[&str] = if web_only {
        &["curl"]
    } else {
        &["wrk", "curl"]
    };
    for tool in tools {
        if Command::new(tool).arg("--version").output().is_err() {
            bail!("`{tool}` is needed for the benchmark: apt-get install {tool}");
        }
    }
    // wasm-opt (for a representative bundle) and playwright-core come from tests/.
    if let Err(e) = crate::prereq::node_modules() {
        eprintln!("bench: {e:#}; the web rows may be incomplete");
    }
    let bundle = web::build_web().context("building the web app")?;
    let (bin, dir) = release_server()?;
    let result = run(&bin, &dir, &bundle, web_only);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Builds the release server; returns its path and a fresh scratch folder.
fn release_server() -> anyhow::Result<(PathBuf, PathBuf)> {
    let bin = build_server(true)?;
    let dir = std::env::temp_dir().join(format!("gatehouse-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok((bin, dir))
}

fn run(bin: &Path, dir: &Path, bundle: &web::BundleSize, web_only: bool) -> anyhow::Result<()> {
    let sqlite = format!("sqlite://{}/bench.db", dir.display());
    let (server, base) = serve(bin, dir, &sqlite)?;
    // The browser first, on the fresh database: the page lists at most 200 keys, so it
    // runs before the 1000 below are seeded (its 50 keys stay in the database).
    let load = match spa_load(&base, ADMIN, PASSWORD) {
        Ok(load) => load,
        Err(e) if !web_only => {
            eprintln!("bench: the web app's load time could not be measured: {e:#}");
            Err(format!("not measured: {e}"))
        }
        Err(e) => return Err(e),
    };
    if web_only {
        drop(server);
        print_web(bundle, &load);
        return Ok(());
    }
    let on_sqlite = measure(&base, dir)?;
    drop(server);
    // The same on PostgreSQL: a throwaway cluster, as `cargo xtask test` starts one.
    let on_postgres = match postgres::Cluster::start() {
        Ok(cluster) => {
            let (server, base) = serve(bin, dir, &cluster.url())?;
            let measured = measure(&base, dir);
            drop(server);
            drop(cluster);
            Some(measured?)
        }
        Err(e) => {
            eprintln!("bench: no PostgreSQL to measure: {e:#}");
            None
        }
    };
    let theirs = match oidc_provider(dir) {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("bench: node oidc-provider could not be measured: {e:#}");
            None
        }
    };
    let seeded = SEEDED_KEYS + load.as_ref().map_or(0, |l| l.keys);
    let backends: Vec<(&str, &Measured)> = std::iter::once(("SQLite", &on_sqlite))
        .chain(on_postgres.as_ref().map(|m| ("PostgreSQL", m)))
        .collect();
    print_api(seeded, &backends);
    print_oauth(&backends, theirs.as_deref());
    print_devices(&backends);
    print_web(bundle, &load);
    Ok(())
}

/// What one server, on one backend, did.
struct Measured {
    /// `/healthz` and the key-authenticated request, at each of `CONNECTIONS`.
    api: Vec<ApiRun>,
    /// The key-authenticated request at `FLOOD_CONNECTIONS` during the sign-in flood.
    during: Result,
    flood: Result,
    /// The OAuth rows, at each of `CONNECTIONS`.
    oauth: Vec<OAuthRun>,
    devices: DeviceRun,
}

struct ApiRun {
    connections: u32,
    health: Result,
    keyed: Result,
}

/// Seeds keys through the API and measures the API rows and the OAuth rows.
fn measure(base: &str, dir: &Path) -> anyhow::Result<Measured> {
    let base = base.to_string();
    let jar = dir.join("cookies");
    let csrf = sign_in(&base, &jar, ADMIN)?;
    let started = Instant::now();
    let secret = seed_keys(&base, &jar, &csrf, SEEDED_KEYS, "bench key")?;
    eprintln!(
        "bench: seeded {SEEDED_KEYS} keys in {:.1?}",
        started.elapsed()
    );

    let script = dir.join("signin.lua");
    std::fs::write(&script, include_str!("../bench/signin.lua"))?;
    // Lockout would end the flood early; the threshold is raised for the run.
    raise_lockout_threshold(&base, &jar, &csrf)?;

    let auth = format!("Authorization: Bearer {secret}");
    // Warm both paths (and the key cache) before measuring.
    wrk(&base, "/healthz", None, "2s", 8)?;
    wrk(&base, "/api/v1/session", Some(&auth), "2s", 8)?;
    let mut api = Vec::new();
    for connections in CONNECTIONS {
        api.push(ApiRun {
            connections,
            health: wrk(&base, "/healthz", None, DURATION, connections)?,
            keyed: wrk(&base, "/api/v1/session", Some(&auth), DURATION, connections)?,
        });
    }
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
    let during = wrk(
        &base,
        "/api/v1/session",
        Some(&auth),
        DURATION,
        FLOOD_CONNECTIONS,
    )?;
    let flood = parse(&String::from_utf8_lossy(&flood.wait_with_output()?.stdout))?;

    // OAuth: the refresh-token grant and introspection, Gatehouse beside node's
    // oidc-provider on the same machine in the same run.
    let oauth = gatehouse_oauth(&base, &jar, &csrf, dir)?;
    let devices = devices(&base, &jar, &csrf, &auth, dir)?;
    Ok(Measured {
        api,
        during,
        flood,
        oauth,
        devices,
    })
}

fn print_api(seeded: usize, backends: &[(&str, &Measured)]) {
    println!();
    println!(
        "Gatehouse benchmark: release build, {seeded} keys, wrk -t2 -d{DURATION} at {CONNECTIONS:?} connections, same machine"
    );
    println!();
    println!("| route | backend | connections | requests/s | p50 | p99 | vs /healthz |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let row = |name: &str, backend: &str, c: u32, r: &Result, baseline: Option<f64>| {
        println!(
            "| {name} | {backend} | {c} | {:.0} | {:.2} ms | {:.2} ms | {} |",
            r.rps,
            r.p50_ms,
            r.p99_ms,
            baseline.map_or(String::new(), |b| format!("{:.2}×", r.rps / b))
        );
    };
    for (backend, m) in backends {
        for run in &m.api {
            let base = Some(run.health.rps);
            let c = run.connections;
            row("GET /healthz (baseline)", backend, c, &run.health, base);
            row("GET /api/v1/session, API key", backend, c, &run.keyed, base);
        }
        let base = m.api.first().map(|r| r.health.rps);
        row(
            "GET /api/v1/session, API key, during a sign-in flood",
            backend,
            FLOOD_CONNECTIONS,
            &m.during,
            base,
        );
        row(
            "POST /api/v1/session, the flood itself (wrong password)",
            backend,
            8,
            &m.flood,
            None,
        );
    }
    println!();
    for (backend, m) in backends {
        for run in &m.api {
            println!(
                "Targets ({backend}, {} connections): key-authenticated ≥ 0.80× /healthz -> {:.2}×; p99 < 5 ms -> {:.2} ms",
                run.connections,
                run.keyed.rps / run.health.rps,
                run.keyed.p99_ms,
            );
        }
        println!(
            "Targets ({backend}): p99 during the flood < 20 ms -> {:.2} ms",
            m.during.p99_ms
        );
    }
}

/// Which result of an OAuth run a table row shows.
type Pick = fn(&OAuthRun) -> &Result;

fn print_oauth(backends: &[(&str, &Measured)], theirs: Option<&[OAuthRun]>) {
    println!();
    println!(
        "OAuth token services: rotating refresh tokens, two per connection, each used once; wrk -t2 -d{DURATION} at {CONNECTIONS:?} connections; \
         with and without an id_token on refresh (scope with / without openid; RS256 on both sides); \
         oidc-provider with opaque access tokens and an unbounded in-memory store"
    );
    println!();
    println!(
        "| endpoint | server | connections | requests/s | p50 | p99 | errors | Gatehouse ÷ oidc-provider |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let rows: [(&str, Pick); 3] = [
        ("refresh_token grant, with an id_token (openid)", |r| {
            &r.refresh_oidc
        }),
        ("refresh_token grant, no id_token", |r| &r.refresh),
        ("introspection", |r| &r.introspect),
    ];
    for (name, pick) in rows {
        for (i, c) in CONNECTIONS.iter().enumerate() {
            let peer = theirs.and_then(|t| t.get(i)).map(pick);
            for (backend, m) in backends {
                let Some(g) = m.oauth.get(i).map(pick) else {
                    continue;
                };
                let ratio = peer
                    .map(|o| format!("{:.2}×", g.rps / o.rps))
                    .unwrap_or_else(|| "n/a".into());
                println!(
                    "| {name} | Gatehouse ({backend}) | {c} | {:.0} | {:.2} ms | {:.2} ms | {} | {ratio} |",
                    g.rps, g.p50_ms, g.p99_ms, g.errors
                );
            }
            if let Some(o) = peer {
                println!(
                    "| {name} | node oidc-provider | {c} | {:.0} | {:.2} ms | {:.2} ms | {} | |",
                    o.rps, o.p50_ms, o.p99_ms, o.errors
                );
            }
        }
    }
    println!();
    println!(
        "Targets: refresh with and without an id_token ≥ 3× oidc-provider; introspection ≥ 5×; PostgreSQL within 2× of SQLite."
    );
    print_origin(backends);
}

/// What answering browser apps costs: the same rows with `Origin` (CORS headers added,
/// the origin checked against the client's) beside those without.
fn print_origin(backends: &[(&str, &Measured)]) {
    println!();
    println!(
        "The Origin header of a browser app on a registered origin ({BENCH_ORIGIN}): the refresh grant (no id_token) and introspection without and with it, medians (by requests/s) of {ROUNDS} interleaved pairs"
    );
    println!();
    println!(
        "| endpoint | backend | connections | without: requests/s, p99 | with Origin: requests/s, p99 | with ÷ without |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let mut worst: f64 = f64::INFINITY;
    for (backend, m) in backends {
        for (run, c) in m.oauth.iter().zip(CONNECTIONS) {
            let Some(pair) = &run.with_origin else {
                continue;
            };
            for (name, without, with) in [
                ("refresh_token grant", &pair.without.0, &pair.with.0),
                ("introspection", &pair.without.1, &pair.with.1),
            ] {
                let ratio = with.rps / without.rps;
                worst = worst.min(ratio);
                println!(
                    "| {name} | {backend} | {c} | {:.0}, {:.2} ms | {:.0}, {:.2} ms | {ratio:.2}× |",
                    without.rps, without.p99_ms, with.rps, with.p99_ms
                );
            }
        }
    }
    println!();
    println!("Target: with Origin within 5 % of without -> worst {worst:.2}×");
}

/// Devices polling the token endpoint while API keys are used: their effect on the
/// key-authenticated p99, under a flood and under a steady load.
struct DeviceRun {
    devices: usize,
    polls_per_second: u32,
    polls: Result,
    flood: Beside,
    steady: Beside,
}

/// The key-authenticated request alone, while devices poll, and beside the same rate of
/// `/healthz` (the control: what any side traffic at that rate costs on this machine).
struct Beside {
    alone: Result,
    polled: Result,
    control: Result,
}

const DEVICES: usize = 2_000;
/// RFC 8628's default interval.
const POLL_SECONDS: u32 = 5;
const POLL_CONNECTIONS: u32 = 20;
/// Rounds of alone, polled, control; the table shows the medians.
const ROUNDS: usize = 5;

/// Starts `DEVICES` device authorizations, then measures the key-authenticated request
/// at 64 connections alone and while every device polls every 5 s (400 polls a second),
/// twice: as a flood (every connection sends as fast as it is answered: two shared cores
/// saturated, where any side traffic moves the tail) and at a steady rate of about half
/// of what the flood served (a busy service below its capacity).
fn devices(
    base: &str,
    jar: &Path,
    csrf: &str,
    auth: &str,
    dir: &Path,
) -> anyhow::Result<DeviceRun> {
    let jar = path_str(jar)?;
    let created = curl(&[
        "-b",
        jar,
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-d",
        &format!(
            "{{\"name\":\"bench devices\",\"client_type\":\"public\",\"redirect_uris\":[\"{CALLBACK}\"],\"grant_types\":[\"urn:ietf:params:oauth:grant-type:device_code\"]}}"
        ),
        &format!("{base}/api/v1/oauth-clients"),
    ])?;
    let client_id = json_string(&created, "client_id").context("registering a device client")?;
    // One curl for all of them: a config file of requests separated by `next`.
    let config = dir.join("devices.curl");
    let one = format!(
        "url = \"{base}/oauth/device_authorization\"\ndata = \"client_id={client_id}&scope=api:read\"\n"
    );
    std::fs::write(&config, vec![one; DEVICES].join("next\n"))?;
    let answers = curl(&["-K", path_str(&config)?])?;
    let codes: Vec<&str> = answers
        .split("\"device_code\":\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    anyhow::ensure!(
        codes.len() == DEVICES,
        "{} device codes of {DEVICES}",
        codes.len()
    );
    let file = dir.join("device-codes");
    std::fs::write(&file, codes.join("\n") + "\n")?;
    let script = dir.join("device-poll.lua");
    std::fs::write(&script, include_str!("../bench/device-poll.lua"))?;
    let polls_per_second = DEVICES as u32 / POLL_SECONDS;
    let delay_ms = POLL_CONNECTIONS * 1000 / polls_per_second;
    let paced = |name: &str, ms: u32| -> anyhow::Result<PathBuf> {
        let file = dir.join(name);
        std::fs::write(&file, format!("function delay()\n  return {ms}\nend\n"))?;
        Ok(file)
    };
    let control_script = paced("paced.lua", delay_ms)?;
    let side = |script: &Path, url: String| -> anyhow::Result<Command> {
        let mut cmd = Command::new("wrk");
        cmd.args([
            "-t1",
            "-c",
            &POLL_CONNECTIONS.to_string(),
            "-d12s",
            "--latency",
            "-s",
            path_str(script)?,
            &url,
        ]);
        Ok(cmd)
    };
    let pollers = || -> anyhow::Result<Command> {
        let mut cmd = side(&script, format!("{base}/oauth/token"))?;
        cmd.env("BENCH_CODES", &file)
            .env("BENCH_CLIENT_ID", &client_id)
            .env("BENCH_DELAY_MS", delay_ms.to_string());
        Ok(cmd)
    };
    // The key-authenticated request (paced by `keyed_script`, or a flood), with `side`
    // running beside it; the side traffic's own result.
    let keyed = |keyed_script: Option<&Path>,
                 side: Option<Command>|
     -> anyhow::Result<(Result, Option<Result>)> {
        let side = match side {
            Some(mut cmd) => {
                let child = cmd.stdout(Stdio::piped()).spawn()?;
                std::thread::sleep(Duration::from_secs(1));
                Some(child)
            }
            None => None,
        };
        let keyed = wrk_script(
            base,
            "/api/v1/session",
            Some(auth),
            DURATION,
            FLOOD_CONNECTIONS,
            keyed_script,
        )?;
        let side = match side {
            Some(child) => Some(parse(&String::from_utf8_lossy(
                &child.wait_with_output()?.stdout,
            ))?),
            None => None,
        };
        Ok((keyed, side))
    };
    wrk(base, "/api/v1/session", Some(auth), "2s", FLOOD_CONNECTIONS)?;
    // One load, in rounds of alone, polled, control: a p99 over 10 s on two shared
    // cores moves by a fifth or more from one run to the next, so each is the median of ROUNDS.
    let mut polls = Vec::new();
    let mut rounds = |keyed_script: Option<&Path>| -> anyhow::Result<Beside> {
        let (mut alone, mut polled, mut control) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            alone.push(keyed(keyed_script, None)?.0);
            let (k, p) = keyed(keyed_script, Some(pollers()?))?;
            polled.push(k);
            polls.extend(p);
            let url = format!("{base}/healthz");
            control.push(keyed(keyed_script, Some(side(&control_script, url)?))?.0);
        }
        Ok(Beside {
            alone: median(alone),
            polled: median(polled),
            control: median(control),
        })
    };
    let flood = rounds(None)?;
    // Steady: each connection waits between requests so that all of them together ask
    // about half of what the flood served.
    let per_connection_ms = f64::from(FLOOD_CONNECTIONS) * 1000.0 / (flood.alone.rps / 2.0);
    let steady_script = paced("steady.lua", per_connection_ms.round().max(1.0) as u32)?;
    let steady = rounds(Some(&steady_script))?;
    Ok(DeviceRun {
        devices: DEVICES,
        polls_per_second,
        polls: median(polls),
        flood,
        steady,
    })
}

/// The run of median p99.
fn median(mut runs: Vec<Result>) -> Result {
    runs.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
    runs.swap_remove(runs.len() / 2)
}

fn print_devices(backends: &[(&str, &Measured)]) {
    let rows: Vec<(&str, &DeviceRun)> = backends.iter().map(|(b, m)| (*b, &m.devices)).collect();
    print_device_rows(&rows);
}

fn print_device_rows(rows: &[(&str, &DeviceRun)]) {
    println!();
    println!(
        "Devices polling the token endpoint every {POLL_SECONDS} s (RFC 8628) while an API key is used at {FLOOD_CONNECTIONS} connections; medians of {ROUNDS} rounds of alone, polled, and beside the same rate of `/healthz` (control: what any side traffic at that rate moves)"
    );
    println!();
    println!(
        "| backend | load | key requests/s alone → polled | p99 alone | p99 polled | change | p99 control | control change |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for (backend, d) in rows {
        for (load, b) in [("flood", &d.flood), ("steady, about half", &d.steady)] {
            let change = |r: &Result| (r.p99_ms / b.alone.p99_ms - 1.0) * 100.0;
            println!(
                "| {backend} | {load} | {:.0} → {:.0} | {:.2} ms | {:.2} ms | {:+.0} % | {:.2} ms | {:+.0} % |",
                b.alone.rps,
                b.polled.rps,
                b.alone.p99_ms,
                b.polled.p99_ms,
                change(&b.polled),
                b.control.p99_ms,
                change(&b.control),
            );
        }
    }
    println!();
    for (backend, d) in rows {
        println!(
            "{backend}: {} devices asked {} polls/s, served {:.0}/s (p99 {:.2} ms)",
            d.devices, d.polls_per_second, d.polls.rps, d.polls.p99_ms
        );
    }
    println!("Target: the key-authenticated p99 moves by at most 10 %.");
}

/// `cargo xtask bench --devices`: only the device-polling rows, on both backends.
fn devices_alone(bin: &Path, dir: &Path) -> anyhow::Result<()> {
    let one = |db: &str| -> anyhow::Result<DeviceRun> {
        let (server, base) = serve(bin, dir, db)?;
        let jar = dir.join("cookies");
        let csrf = sign_in(&base, &jar, ADMIN)?;
        let secret = seed_keys(&base, &jar, &csrf, 1, "bench key")?;
        let run = devices(
            &base,
            &jar,
            &csrf,
            &format!("Authorization: Bearer {secret}"),
            dir,
        );
        drop(server);
        run
    };
    let sqlite = one(&format!("sqlite://{}/bench.db", dir.display()))?;
    let cluster = postgres::Cluster::start()?;
    let postgres = one(&cluster.url())?;
    drop(cluster);
    let rows: [(&str, &DeviceRun); 2] = [("SQLite", &sqlite), ("PostgreSQL", &postgres)];
    print_device_rows(&rows);
    Ok(())
}

/// Bundle budget: gzip bytes of everything a first visit downloads.
const BUNDLE_TARGET_KB: f64 = 350.0;
/// The signed-in key list, 50 keys, until every row is on screen.
const LOAD_TARGET_MS: f64 = 1000.0;
const CHROMIUM: &str = "/usr/bin/chromium";

/// What `bench/spa-load.mjs` measured.
struct SpaLoad {
    keys: usize,
    runs: usize,
    cold_ms: f64,
    median_ms: f64,
    p90_ms: f64,
    max_ms: f64,
}

/// Runs `bench/spa-load.mjs` against `base`; `Err(reason)` inside when it cannot run
/// here (no Chromium, no playwright-core, no node).
fn spa_load(
    base: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<std::result::Result<SpaLoad, String>> {
    let root = root();
    let skip = |why: String| {
        eprintln!("bench: skipping the web app's load time: {why}");
        Ok(Err(why))
    };
    if !Path::new(CHROMIUM).exists() {
        return skip(format!(
            "no Chromium at {CHROMIUM} (apt-get install chromium)"
        ));
    }
    if !root.join("tests/node_modules/playwright-core").exists() {
        return skip("no playwright-core in tests/node_modules (npm ci --prefix tests)".into());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return skip("no `node` (apt-get install nodejs)".into());
    }
    eprintln!("bench: loading {base}/keys in Chromium");
    let out = Command::new("node")
        .args(["xtask/bench/spa-load.mjs", base, username])
        .env("BENCH_PASSWORD", password)
        .current_dir(&root)
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!("spa-load.mjs failed with {}: {text}", out.status);
    }
    let line = text.lines().last().unwrap_or_default();
    let number = |field: &str| {
        json_number(line, field)
            .with_context(|| format!("no {field} in spa-load.mjs's answer: {line}"))
    };
    Ok(Ok(SpaLoad {
        keys: number("keys")? as usize,
        runs: number("runs")? as usize,
        cold_ms: number("cold_ms")?,
        median_ms: number("median_ms")?,
        p90_ms: number("p90_ms")?,
        max_ms: number("max_ms")?,
    }))
}

fn print_web(bundle: &web::BundleSize, load: &std::result::Result<SpaLoad, String>) {
    let kb = |bytes: u64| bytes as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };
    println!();
    println!(
        "Web app bundle: `cargo xtask build-web` (wasm-release, wasm-opt -Oz), gzip (zopfli, precompressed) as served; KB = 1024 bytes"
    );
    println!();
    println!("| asset | raw | gzip | target | gzip ÷ target |");
    println!("|---|---:|---:|---:|---:|");
    for (name, raw, gz) in &bundle.files {
        println!("| {name} | {:.1} KB | {:.1} KB | | |", kb(*raw), kb(*gz));
    }
    let raw: u64 = bundle.files.iter().map(|(_, raw, _)| raw).sum();
    let total = kb(bundle.total_gzip());
    println!(
        "| total (wasm + js + css + index.html) | {:.1} KB | {total:.1} KB | ≤ {BUNDLE_TARGET_KB:.0} KB | {:.3}× ({}) |",
        kb(raw),
        total / BUNDLE_TARGET_KB,
        verdict(total <= BUNDLE_TARGET_KB)
    );
    println!();
    match load {
        Ok(l) => {
            println!(
                "Web app load time: headless Chromium on the same machine, signed in, /keys from navigation start until the table shows all {} keys (timed in the page)",
                l.keys
            );
            println!();
            println!("| page | runs | median | p90 | max | target | max ÷ target |");
            println!("|---|---:|---:|---:|---:|---:|---:|");
            println!(
                "| signed-in key list, {} keys, cached assets | {} | {:.0} ms | {:.0} ms | {:.0} ms | < {LOAD_TARGET_MS:.0} ms | {:.2}× ({}) |",
                l.keys,
                l.runs,
                l.median_ms,
                l.p90_ms,
                l.max_ms,
                l.max_ms / LOAD_TARGET_MS,
                verdict(l.max_ms < LOAD_TARGET_MS)
            );
            println!(
                "| signed-in key list, {} keys, first visit (empty cache) | 1 | {:.0} ms | | | < {LOAD_TARGET_MS:.0} ms | {:.2}× ({}) |",
                l.keys,
                l.cold_ms,
                l.cold_ms / LOAD_TARGET_MS,
                verdict(l.cold_ms < LOAD_TARGET_MS)
            );
            println!();
            println!(
                "signed-in key list, {} keys: median {:.0} ms, max {:.0} ms, target < {LOAD_TARGET_MS:.0} ms; bundle {total:.1} KB gzip, target ≤ {BUNDLE_TARGET_KB:.0} KB",
                l.keys, l.median_ms, l.max_ms
            );
        }
        Err(why) => {
            println!("Web app load time: {why}");
            println!();
            println!("bundle {total:.1} KB gzip, target ≤ {BUNDLE_TARGET_KB:.0} KB");
        }
    }
}

/// Two per connection: wrk asks for a connection's next request before it hands over
/// the previous answer (and so the next rotated token), so each connection needs a
/// token in reserve. Each run at each connection count gets its own tokens.
const TOKENS_PER_CONNECTION: usize = 2;

/// How many refresh tokens of each kind a server is seeded with: enough for one run at
/// each of `CONNECTIONS`.
fn oauth_tokens() -> usize {
    CONNECTIONS.iter().map(|&c| c as usize).sum::<usize>() * TOKENS_PER_CONNECTION
}

/// Measures the three OAuth rows at each of `CONNECTIONS`, each run with its own slice
/// of the seeded (unused) refresh tokens.
/// The unused refresh tokens a run spends: plain, with `openid`, and (Gatehouse only)
/// plain again for the rows with an `Origin`.
struct Seeded<'a> {
    refresh: &'a [String],
    refresh_oidc: &'a [String],
    refresh_origin: Option<&'a [String]>,
}

fn oauth_runs(
    base: &str,
    paths: (&str, &str),
    auth: &str,
    seeded: Seeded<'_>,
    access: &str,
    dir: &Path,
) -> anyhow::Result<Vec<OAuthRun>> {
    let Seeded {
        refresh,
        refresh_oidc,
        refresh_origin,
    } = seeded;
    let (token_path, introspect_path) = paths;
    let mut runs = Vec::new();
    let mut start = 0;
    for connections in CONNECTIONS {
        let slice = start..start + connections as usize * TOKENS_PER_CONNECTION;
        start = slice.end;
        let run = |tokens: &[String], expect: &str, origin: &str| {
            let tokens = tokens.get(slice.clone()).context("too few seeded tokens")?;
            let target = (token_path, auth, origin);
            wrk_refresh(base, target, tokens, expect, connections, dir)
        };
        let introspect = |origin: &str| {
            let target = (introspect_path, auth, origin);
            wrk_introspect(base, target, access, connections, dir)
        };
        // With and without the Origin header, interleaved in ROUNDS pairs (each run its
        // own seeded tokens): the table shows the medians, as a single pair moves by a
        // tenth from one run to the next on two shared cores.
        let with_origin = match refresh_origin {
            Some(pool) => {
                let set = |k: usize| &pool[k * oauth_tokens()..(k + 1) * oauth_tokens()];
                let (mut plain, mut with) = (Vec::new(), Vec::new());
                for round in 0..ROUNDS {
                    plain.push((run(set(2 * round), "", "")?, introspect("")?));
                    with.push((
                        run(set(2 * round + 1), "", BENCH_ORIGIN)?,
                        introspect(BENCH_ORIGIN)?,
                    ));
                }
                let by_rps = |runs: &[(Result, Result)], pick: fn(&(Result, Result)) -> &Result| {
                    let mut v: Vec<Result> = runs.iter().map(|r| pick(r).clone()).collect();
                    v.sort_by(|a, b| a.rps.total_cmp(&b.rps));
                    v.swap_remove(v.len() / 2)
                };
                Some(OriginPair {
                    without: (by_rps(&plain, |r| &r.0), by_rps(&plain, |r| &r.1)),
                    with: (by_rps(&with, |r| &r.0), by_rps(&with, |r| &r.1)),
                })
            }
            None => None,
        };
        runs.push(OAuthRun {
            refresh: run(refresh, "", "")?,
            refresh_oidc: run(refresh_oidc, "id_token", "")?,
            introspect: introspect("")?,
            with_origin,
        });
    }
    Ok(runs)
}
const CALLBACK: &str = "https://app.example.com/callback";

/// Refresh and introspection, in that order, without and with `Origin`.
struct OriginPair {
    without: (Result, Result),
    with: (Result, Result),
}

struct OAuthRun {
    refresh: Result,
    /// The same grant with `openid` in the scope: every refresh signs an RS256 id_token,
    /// as OpenID Connect clients get.
    refresh_oidc: Result,
    introspect: Result,
    /// The refresh and introspection rows without and with the `Origin` header a
    /// browser app on a registered origin sends (CORS), medians of interleaved rounds;
    /// Gatehouse only.
    with_origin: Option<OriginPair>,
}

/// The origin browser apps of the benchmark's client call from: its callback's origin,
/// which a client allows by default.
const BENCH_ORIGIN: &str = "https://app.example.com";

fn basic(user: &str, pass: &str) -> String {
    let raw = format!("{user}:{pass}");
    let table = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(table[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// Registers a client, runs the code flow `OAUTH_TOKENS` times through the consent
/// API, and measures refreshes and introspection against Gatehouse.
fn gatehouse_oauth(
    base: &str,
    jar: &Path,
    csrf: &str,
    dir: &Path,
) -> anyhow::Result<Vec<OAuthRun>> {
    let jar = path_str(jar)?;
    let created = curl(&[
        "-b",
        jar,
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-d",
        &format!("{{\"name\":\"bench\",\"redirect_uris\":[\"{CALLBACK}\"]}}"),
        &format!("{base}/api/v1/oauth-clients"),
    ])?;
    let client_id = json_string(&created, "client_id").context("registering a client")?;
    let secret = json_string(&created, "client_secret").context("registering a client")?;
    let auth = basic(&client_id, &secret);
    let mut refresh = Vec::new();
    let mut refresh_oidc = Vec::new();
    let mut refresh_origin = Vec::new();
    let mut access = String::new();
    let seeded = oauth_tokens();
    // Plain, with `openid`, then 2 × ROUNDS sets for the Origin pairs.
    for i in 0..(2 + 2 * ROUNDS) * seeded {
        let scope = if i < seeded || i >= 2 * seeded {
            "api:read"
        } else {
            "openid%20api:read"
        };
        let authorize = format!(
            "{base}/oauth/authorize?response_type=code&client_id={client_id}&scope={scope}&redirect_uri={CALLBACK}"
        );
        let location = curl(&[
            "-b",
            jar,
            "-o",
            "/dev/null",
            "-w",
            "%{redirect_url}",
            &authorize,
        ])?;
        let back = match location.split_once("/authorize?request=") {
            Some((_, request)) => {
                let decided = curl(&[
                    "-b",
                    jar,
                    "-H",
                    "Content-Type: application/json",
                    "-H",
                    &format!("X-CSRF-Token: {csrf}"),
                    "-d",
                    "{\"decision\":\"allow\"}",
                    &format!("{base}/api/v1/oauth/requests/{request}"),
                ])?;
                json_string(&decided, "redirect_to").context("consenting")?
            }
            None => location,
        };
        let code = back
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("code="))
            .context("no code in the redirect")?
            .to_string();
        let tokens = curl(&[
            "-H",
            &format!("Authorization: {auth}"),
            "-d",
            "grant_type=authorization_code",
            "-d",
            &format!("code={code}"),
            "-d",
            &format!("redirect_uri={CALLBACK}"),
            &format!("{base}/oauth/token"),
        ])?;
        let token = json_string(&tokens, "refresh_token").context("exchanging a code")?;
        if i < seeded {
            refresh.push(token);
            access = json_string(&tokens, "access_token").context("exchanging a code")?;
        } else if i < 2 * seeded {
            anyhow::ensure!(tokens.contains("\"id_token\""), "no id_token: {tokens}");
            refresh_oidc.push(token);
        } else {
            refresh_origin.push(token);
        }
    }
    oauth_runs(
        base,
        ("/oauth/token", "/oauth/introspect"),
        &auth,
        Seeded {
            refresh: &refresh,
            refresh_oidc: &refresh_oidc,
            refresh_origin: Some(&refresh_origin),
        },
        &access,
        dir,
    )
}

/// Installs node's oidc-provider into a scratch folder (once), seeds it, and measures
/// the same two things.
fn oidc_provider(dir: &Path) -> anyhow::Result<Vec<OAuthRun>> {
    let scratch = std::env::current_dir()?.join("target/bench-oidc-provider");
    std::fs::create_dir_all(&scratch)?;
    if !scratch.join("node_modules/oidc-provider").is_dir() {
        eprintln!(
            "bench: installing oidc-provider from npm into {}",
            scratch.display()
        );
        std::fs::write(
            scratch.join("package.json"),
            "{\"private\":true,\"type\":\"module\"}\n",
        )?;
        let ok = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "oidc-provider@9",
            ])
            .current_dir(&scratch)
            .status()?
            .success();
        if !ok {
            bail!("npm install oidc-provider failed");
        }
    }
    std::fs::write(
        scratch.join("provider.mjs"),
        include_str!("../bench/oidc-provider.mjs"),
    )?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let tokens_file = dir.join("oidc-provider-tokens");
    let mut child = Server(
        Command::new("node")
            .arg("provider.mjs")
            .arg(port.to_string())
            .arg(&tokens_file)
            .arg(oauth_tokens().to_string())
            .current_dir(&scratch)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let mut ready = String::new();
    if let Some(out) = child.0.stdout.as_mut() {
        use std::io::BufRead;
        std::io::BufReader::new(out).read_line(&mut ready)?;
    }
    if ready.trim() != "ready" {
        bail!("oidc-provider did not start");
    }
    let lines = |path: String| -> anyhow::Result<Vec<String>> {
        Ok(std::fs::read_to_string(path)?
            .lines()
            .map(str::to_string)
            .collect())
    };
    let refresh = lines(tokens_file.display().to_string())?;
    let refresh_oidc = lines(format!("{}.oidc", tokens_file.display()))?;
    let access = std::fs::read_to_string(format!("{}.access", tokens_file.display()))?;
    let base = format!("http://127.0.0.1:{port}");
    let auth = basic("bench", "bench-secret-bench-secret-bench-secret");
    let runs = oauth_runs(
        &base,
        ("/token", "/token/introspection"),
        &auth,
        Seeded {
            refresh: &refresh,
            refresh_oidc: &refresh_oidc,
            refresh_origin: None,
        },
        access.trim(),
        dir,
    );
    drop(child);
    runs
}

/// Where a wrk run sends its requests: the path, the `Authorization` header, and an
/// `Origin` header (empty: none).
type Target<'a> = (&'a str, &'a str, &'a str);

fn wrk_refresh(
    base: &str,
    (path, auth, origin): Target<'_>,
    tokens: &[String],
    expect: &str,
    connections: u32,
    dir: &Path,
) -> anyhow::Result<Result> {
    let file = dir.join(format!(
        "tokens-{}{expect}-{connections}-{}",
        path.replace('/', "_"),
        origin.is_empty()
    ));
    std::fs::write(&file, tokens.join("\n") + "\n")?;
    let script = dir.join("refresh.lua");
    std::fs::write(&script, include_str!("../bench/refresh.lua"))?;
    let out = Command::new("wrk")
        .args([
            "-t2",
            "-c",
            &connections.to_string(),
            "-d",
            DURATION,
            "--latency",
            "-s",
            path_str(&script)?,
        ])
        .arg(format!("{base}{path}"))
        .env("BENCH_TOKENS", &file)
        .env("BENCH_THREADS", "2")
        .env("BENCH_PATH", path)
        .env("BENCH_AUTH", auth)
        .env("BENCH_HOST", base.trim_start_matches("http://"))
        .env("BENCH_EXPECT", expect)
        .env("BENCH_ORIGIN", origin)
        .output()?;
    parse(&String::from_utf8_lossy(&out.stdout))
}

fn wrk_introspect(
    base: &str,
    (path, auth, origin): Target<'_>,
    token: &str,
    connections: u32,
    dir: &Path,
) -> anyhow::Result<Result> {
    let script = dir.join("introspect.lua");
    std::fs::write(&script, include_str!("../bench/introspect.lua"))?;
    // Warm up (caches, JIT) before measuring.
    let warm = |d: &str| -> anyhow::Result<std::process::Output> {
        Ok(Command::new("wrk")
            .args([
                "-t2",
                "-c",
                &connections.to_string(),
                "-d",
                d,
                "--latency",
                "-s",
                path_str(&script)?,
            ])
            .arg(format!("{base}{path}"))
            .env("BENCH_TOKEN", token)
            .env("BENCH_AUTH", auth)
            .env("BENCH_PATH", path)
            .env("BENCH_ORIGIN", origin)
            .output()?)
    };
    warm("2s")?;
    parse(&String::from_utf8_lossy(&warm(DURATION)?.stdout))
}

/// The number value of a top-level field of a small, flat JSON answer.
fn json_number(body: &str, field: &str) -> Option<f64> {
    let start = body.find(&format!("\"{field}\":"))? + field.len() + 3;
    let rest = &body[start..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim().parse().ok()
}

#[derive(Clone)]
struct Result {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Answers other than 2xx/3xx.
    errors: u64,
}

fn wrk(
    base: &str,
    path: &str,
    header: Option<&str>,
    duration: &str,
    connections: u32,
) -> anyhow::Result<Result> {
    wrk_script(base, path, header, duration, connections, None)
}

/// [`wrk`] with a Lua script (its `delay()` paces each connection).
fn wrk_script(
    base: &str,
    path: &str,
    header: Option<&str>,
    duration: &str,
    connections: u32,
    script: Option<&Path>,
) -> anyhow::Result<Result> {
    let mut cmd = Command::new("wrk");
    let connections = connections.to_string();
    cmd.args(["-t2", "-c", &connections, "-d", duration, "--latency"]);
    if let Some(h) = header {
        cmd.args(["-H", h]);
    }
    if let Some(script) = script {
        cmd.args(["-s", path_str(script)?]);
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
    let errors = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(Result {
        rps,
        p50_ms: percentile("50%")?,
        p99_ms: percentile("99%")?,
        errors,
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
