//! `cargo xtask run [ARGS…]`: builds the web app and the release server, and starts
//! `gatehouse serve ARGS…` with the app just built.

use crate::util::{cargo, status};
use crate::web;

pub fn run(extra: &[String]) -> anyhow::Result<()> {
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
