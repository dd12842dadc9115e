//! `cargo xtask run [ARGS…]`: builds the web app and the release server, and starts
//! `gatehouse serve ARGS…` with the app just built. First what it needs (`prereq.rs`):
//! libpq and the wasm target, and node, npm and `tests/`'s packages for wasm-opt,
//! installed when they can be, so that the first build is already size-optimized.

use crate::util::{cargo, status};
use crate::{prereq, web};

pub fn run(extra: &[String]) -> anyhow::Result<()> {
    prereq::for_run()?;
    web::build_web_noting(false)?;
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
