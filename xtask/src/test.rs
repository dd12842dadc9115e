//! `cargo xtask test [ARGS…]`: every test. A throwaway PostgreSQL cluster, `cargo test
//! --workspace ARGS…` with it (every API test on SQLite and on PostgreSQL), the outage
//! tests alone, then `cargo xtask cluster --check` (its own PostgreSQL, two replicas,
//! Debian's nginx), then the browser tests of `tests/browser/`.

use std::process::Command;

use anyhow::{Context, bail};

use crate::util::{cargo, root, status, target_dir};
use crate::{cluster, postgres, prereq, web};

pub fn test(extra: &[String]) -> anyhow::Result<()> {
    // Everything the run needs, before anything is built.
    prereq::for_test(false)?;
    let cluster = postgres::Cluster::start().context("starting a throwaway PostgreSQL")?;
    eprintln!(
        "xtask: PostgreSQL {} ready at {}",
        cluster.version,
        cluster.url()
    );
    // The web app is built for the browser, never for the host. Four tests at a time
    // on two cores: many wait on a clock or a socket (the API suite took 203 s at two,
    // 166 s at four; eight were no faster and one failed). RUST_TEST_THREADS wins if set.
    let threads = std::env::var("RUST_TEST_THREADS").unwrap_or_else(|_| "4".into());
    let result = status(
        cargo()
            .args(["test", "--workspace", "--exclude", "gatehouse-frontend"])
            .args(extra)
            .env("RUST_TEST_THREADS", threads)
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
    cluster::cluster(true)?;
    browser_tests()
}

/// The browser tests of `tests/browser/`: the web app built for real, the `gatehouse`
/// and sample-app binaries, Debian's Chromium driven by playwright-core. The run fails
/// unless tests ran and all passed.
fn browser_tests() -> anyhow::Result<()> {
    // Chromium, node and tests/'s npm packages: checked by `prereq::for_test`.
    let root = root();
    let tests = root.join("tests");
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
                // Two files at a time: each has its own server, browser and ports, and
                // much of a journey waits on redirects (175 s one at a time, 131–143 s
                // two at a time, on two cores).
                "--test-concurrency=2",
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
