//! Project automation, so that the README's two commands stay two:
//!
//! - `cargo xtask run [ARGS…]` builds and starts Gatehouse (`gatehouse serve ARGS…`).
//! - `cargo xtask test` starts a throwaway PostgreSQL cluster and runs every test on
//!   SQLite and on it, then removes the cluster.
//! - `cargo xtask bench` measures the speed targets of PRODUCT.md §9.
//! - `cargo xtask build-web` builds the web app into `frontend/dist` (see `web.rs`).
//! - `cargo xtask contract` runs schemathesis against a live server (`contract.rs`).
//! - `cargo xtask openapi` writes `api-spec/openapi.json` from the server's code.
//! - `cargo xtask cluster [--check]` runs the compose topology as local processes
//!   (`cluster.rs`).

mod bench;
mod cluster;
mod contract;
mod live;
mod postgres;
mod web;

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(&args[1..]),
        Some("bench") => bench::bench(),
        Some("contract") => contract::contract(),
        Some("build-web") => web::build_web().map(|_| ()),
        Some("openapi") => openapi(),
        Some("cluster") => cluster::cluster(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  run [ARGS…]   build and start Gatehouse (release build)\n  test [ARGS…]  run every test on SQLite and a throwaway PostgreSQL\n  bench [--web|--scale|--cluster] measure the speed targets (needs wrk and curl; --web: only the web app's size and load time; --scale: a million keys; --cluster: one and two replicas behind nginx)\n  build-web     build the web app into frontend/dist\n  contract      run schemathesis against a live server (needs schemathesis from PyPI)\n  openapi       write api-spec/openapi.json from the server's code\n  cluster [--check] PostgreSQL, two replicas and nginx (deploy/nginx.conf) as local processes\n"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The repository's root (xtask lives one level below it).
pub fn root() -> std::path::PathBuf {
    let here = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or(here)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` in the repository.
pub fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Builds the `gatehouse` binary (debug, or release) and returns its path.
pub fn build_server(release: bool) -> anyhow::Result<std::path::PathBuf> {
    let mut args = vec![
        "build",
        "--package",
        "gatehouse-server",
        "--bin",
        "gatehouse",
    ];
    if release {
        args.push("--release");
    }
    status(cargo().args(&args))?;
    Ok(target_dir()
        .join(if release { "release" } else { "debug" })
        .join("gatehouse"))
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn status(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn run(extra: &[String]) -> anyhow::Result<()> {
    web::build_web()?;
    status(
        cargo()
            .args([
                "run",
                "--release",
                "--package",
                "gatehouse-server",
                "--bin",
                "gatehouse",
                "--",
                "serve",
            ])
            .args(extra)
            // The app just built, wherever `cargo xtask run` was started (a flag given
            // after `run` still wins over this variable).
            .env("GATEHOUSE_WEB_DIR", web::dist_dir()),
    )
}

/// Writes the API description the server generates (`gatehouse openapi`) to
/// `api-spec/openapi.json`, the file the test `openapi::the_checked_in_spec_is_what_the_code_generates`
/// holds to the code.
fn openapi() -> anyhow::Result<()> {
    let out = cargo()
        .args([
            "run",
            "--quiet",
            "--package",
            "gatehouse-server",
            "--bin",
            "gatehouse",
            "--",
            "openapi",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running `gatehouse openapi`")?;
    if !out.status.success() {
        bail!("`gatehouse openapi` failed with {}", out.status);
    }
    let path = root().join("api-spec/openapi.json");
    let before = std::fs::read(&path).unwrap_or_default();
    if before == out.stdout {
        eprintln!("xtask: {} is up to date", path.display());
    } else {
        std::fs::write(&path, &out.stdout)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("xtask: wrote {}", path.display());
    }
    Ok(())
}

/// The web app is built for `wasm32-unknown-unknown`; add the target once with rustup.
pub fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == "wasm32-unknown-unknown")
        })
        .unwrap_or(true);
    if !installed {
        status(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    let cluster = postgres::Cluster::start().context("starting a throwaway PostgreSQL")?;
    eprintln!(
        "xtask: PostgreSQL {} ready at {}",
        cluster.version,
        cluster.url()
    );
    // The web app is built for the browser, never for the host.
    let result = status(
        cargo()
            .args(["test", "--workspace", "--exclude", "gatehouse-frontend"])
            .args(extra)
            .env("GATEHOUSE_TEST_POSTGRES_URL", cluster.url()),
    )
    .and_then(|()| {
        // Alone, after the rest: it stops and starts the shared cluster.
        let (stop, start) = cluster.stop_and_start_commands();
        status(
            cargo()
                .args([
                    "test",
                    "--package",
                    "gatehouse-server",
                    "--test",
                    "api",
                    "--",
                    "--ignored",
                    "--test-threads=1",
                    "outage::",
                ])
                .env("GATEHOUSE_TEST_POSTGRES_URL", cluster.url())
                .env("GATEHOUSE_TEST_POSTGRES_STOP", stop)
                .env("GATEHOUSE_TEST_POSTGRES_START", start),
        )
    });
    drop(cluster);
    result?;
    // The compose topology with Debian's nginx and deploy/nginx.conf (its own
    // PostgreSQL).
    cluster::cluster(&["--check".to_string()])?;
    browser_tests()
}

/// The browser tests of `tests/browser/`: the web app built for real, the `gatehouse`
/// and sample-app binaries, Debian's Chromium driven by playwright-core. The run fails
/// unless tests ran and all passed.
fn browser_tests() -> anyhow::Result<()> {
    let root = root();
    let tests = root.join("tests");
    if !tests.join("node_modules/playwright-core").exists()
        || !tests.join("node_modules/axe-core").exists()
    {
        status(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&tests),
        )?;
    }
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        bail!(
            "the browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)"
        );
    }
    web::build_web()?;
    // Both binaries by name: `--bin` limits every selected package to the named bins.
    status(cargo().current_dir(&root).args([
        "build",
        "--package",
        "gatehouse-server",
        "--package",
        "gatehouse-sample-app",
        "--bin",
        "gatehouse",
        "--bin",
        "sample-app",
    ]))?;
    let target = target_dir();
    let tap = target.join("browser-tests.tap");
    let screenshots = target.join("screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let run = status(
        Command::new("node")
            .args([
                "--test",
                "--test-concurrency=1",
                "--test-reporter=spec",
                "--test-reporter-destination=stdout",
                "--test-reporter=tap",
            ])
            .arg(format!("--test-reporter-destination={}", tap.display()))
            .arg("browser/")
            .current_dir(&tests)
            .env("GATEHOUSE_BIN", target.join("debug/gatehouse"))
            .env("SAMPLE_APP_BIN", target.join("debug/sample-app"))
            .env("GATEHOUSE_WEB_DIR", web::dist_dir())
            .env("SCREENSHOTS_DIR", &screenshots),
    );
    let report = std::fs::read_to_string(&tap).unwrap_or_default();
    let count = |what: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {what} ")))
            .and_then(|n| n.trim().parse::<u32>().ok())
            .unwrap_or(0)
    };
    let (passed, failed) = (count("pass"), count("fail"));
    // The closing line CI reads: one word, a colon, "N passed, N failed".
    println!("browser: {passed} passed, {failed} failed");
    run?;
    if passed == 0 || failed > 0 {
        bail!("the browser tests did not all run and pass ({passed} passed, {failed} failed)");
    }
    eprintln!("xtask: screenshots in {}", screenshots.display());
    Ok(())
}
