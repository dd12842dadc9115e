//! Project automation, so that the README's two commands stay two (`flags.rs` parses
//! every command's flags):
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
mod flags;
mod live;
mod openapi;
mod postgres;
mod run;
mod test;
mod util;
mod web;

use std::process::ExitCode;

use flags::Command;

fn main() -> ExitCode {
    let command = match flags::parse(std::env::args().skip(1)) {
        Ok(command) => command,
        Err(flags::Invalid(why)) => {
            eprintln!("xtask: {why}\n\n{}", flags::USAGE);
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Help => {
            print!("{}", flags::USAGE);
            Ok(())
        }
        Command::Run { args } => run::run(&args),
        Command::Test { args } => test::test(&args),
        Command::Bench(only) => bench::bench(only),
        Command::BuildWeb => web::build_web().map(drop),
        Command::Contract => contract::contract(),
        Command::Openapi => openapi::openapi(),
        Command::Cluster { check } => cluster::cluster(check),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}
