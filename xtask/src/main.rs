//! Project automation, so that the README's two commands stay two:
//!
//! - `cargo xtask run [ARGS…]` builds and starts Gatehouse (`gatehouse serve ARGS…`).
//! - `cargo xtask test` starts a throwaway PostgreSQL cluster and runs every test on
//!   SQLite and on it, then removes the cluster.
//! - `cargo xtask bench` measures the speed targets of docs/PRODUCT.md §9.
//! - `cargo xtask build-web` builds the web app into `frontend/dist` (see `web.rs`).
//! - `cargo xtask contract` runs schemathesis against a live server (`contract.rs`).
//! - `cargo xtask openapi` writes `api-spec/openapi.json` from the server's code.
//! - `cargo xtask cluster [--check]` runs the compose topology as local processes
//!   (`cluster.rs`).
//!
//! One module per command (`run.rs`, `test.rs`, `bench.rs`, `web.rs`, `contract.rs`,
//! `openapi.rs`, `cluster.rs`); `live.rs` drives a running server, `postgres.rs` starts
//! a throwaway PostgreSQL, `util.rs` holds the small helpers.

mod bench;
mod cluster;
mod contract;
mod live;
mod openapi;
mod postgres;
mod run;
mod test;
mod util;
mod web;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run::run(&args[1..]),
        Some("test") => test::test(&args[1..]),
        Some("bench") => bench::bench(),
        Some("contract") => contract::contract(),
        Some("build-web") => web::build_web().map(|_| ()),
        Some("openapi") => openapi::openapi(),
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
