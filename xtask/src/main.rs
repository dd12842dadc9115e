//! Project automation, so that the README's two commands stay two (`flags.rs` parses
//! every command's flags):
//!
//! - `cargo xtask run [ARGS…]` checks what it needs, then builds and starts Gatehouse
//!   (`gatehouse serve ARGS…`).
//! - `cargo xtask test [ARGS…]` checks the machine first, then starts a throwaway
//!   PostgreSQL cluster and runs every test on SQLite and on it, then removes the
//!   cluster; then the cluster check with nginx and the browser tests.
//! - `cargo xtask bench [--web | --scale | --cluster | --devices]` measures the speed
//!   targets of docs/PRODUCT.md §9 (`bench.rs`).
//! - `cargo xtask build-web` builds the web app into `frontend/dist` (see `web.rs`).
//! - `cargo xtask contract` runs schemathesis against a live server (`contract.rs`).
//! - `cargo xtask openapi` writes `api-spec/openapi.json` from the server's code.
//! - `cargo xtask cluster [--check]` runs the compose topology as local processes
//!   (`cluster.rs`).
//! - `cargo xtask prereq [--ci]` checks, and installs when it may, what `test` needs
//!   (`prereq.rs`; `test` and `run` check theirs first).
//!
//! One module per command (`run.rs`, `test.rs`, `bench.rs`, `web.rs`, `contract.rs`,
//! `openapi.rs`, `cluster.rs`, `prereq.rs`, which `test` and `run` call first too);
//! `live.rs` drives a running server, `postgres.rs` starts a throwaway PostgreSQL,
//! `util.rs` holds the small helpers. A module imports only from modules before it
//! in `LAYERS` (its test below holds them to it), so there is no cycle.

mod bench;
mod cluster;
mod contract;
mod flags;
mod live;
mod openapi;
mod postgres;
mod prereq;
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
        Command::Prereq { ci } => prereq::for_test(ci),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    /// From the bottom up: a module may name (`crate::…`) modules of earlier layers only.
    pub const LAYERS: &[&[&str]] = &[
        &["flags", "util"],
        &["postgres"],
        &["prereq"],
        &["web"],
        &["live"],
        &["cluster", "contract", "openapi"],
        &["run", "test", "bench"],
    ];

    fn layer(module: &str) -> Option<usize> {
        LAYERS.iter().position(|l| l.contains(&module))
    }

    /// The modules `text` names as `crate::name` or in `crate::{a, b::c}`.
    fn named(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for (_, rest) in text
            .match_indices("crate::")
            .map(|(i, m)| (i, &text[i + m.len()..]))
        {
            let paths = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or_default(),
                None => rest,
            };
            for path in paths.split(',') {
                let name: String = path
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
                if !rest.starts_with('{') {
                    break;
                }
            }
        }
        out
    }

    #[test]
    fn modules_import_only_from_lower_layers() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for dir in [src.clone(), src.join("bench")] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                files.push(entry.path());
            }
        }
        let mut wrong = Vec::new();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "rs"))
        {
            let relative = file.strip_prefix(&src).unwrap_or(file);
            // `bench/scale.rs` is part of `bench`; `main.rs` names every module.
            let module = relative
                .iter()
                .next()
                .and_then(|m| m.to_str())
                .map(|m| m.trim_end_matches(".rs"))
                .unwrap_or_default();
            if module == "main" {
                continue;
            }
            let Some(own) = layer(module) else {
                wrong.push(format!("{}: not in LAYERS", relative.display()));
                continue;
            };
            let text = std::fs::read_to_string(file).unwrap_or_default();
            for name in named(&text) {
                match layer(&name) {
                    Some(theirs) if theirs < own => {}
                    _ => wrong.push(format!("{}: crate::{name}", relative.display())),
                }
            }
        }
        assert!(
            wrong.is_empty(),
            "imports against LAYERS:\n{}",
            wrong.join("\n")
        );
    }
}
