//! Project automation, so that the README's two commands stay two:
//!
//! - `cargo xtask run [ARGS…]` builds and starts Gatehouse (`gatehouse serve ARGS…`).
//! - `cargo xtask test` starts a throwaway PostgreSQL cluster and runs every test on
//!   SQLite and on it, then removes the cluster.
//! - `cargo xtask bench` measures the speed targets of PRODUCT.md §9.
//! - `cargo xtask build-web` builds the web app into `frontend/dist` (see `web.rs`).

mod bench;
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
        Some("build-web") => web::build_web().map(|_| ()),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  run [ARGS…]   build and start Gatehouse (release build)\n  test [ARGS…]  run every test on SQLite and a throwaway PostgreSQL\n  bench         measure the speed targets (needs wrk and curl)\n  build-web     build the web app into frontend/dist\n"
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
    here.parent().map(std::path::Path::to_path_buf).unwrap_or(here)
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
            .args(extra),
    )
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    let cluster = postgres::Cluster::start().context("starting a throwaway PostgreSQL")?;
    eprintln!(
        "xtask: PostgreSQL {} ready at {}",
        cluster.version,
        cluster.url()
    );
    let result = status(
        cargo()
            .args(["test", "--workspace"])
            .args(extra)
            .env("GATEHOUSE_TEST_POSTGRES_URL", cluster.url()),
    );
    drop(cluster);
    result
}
