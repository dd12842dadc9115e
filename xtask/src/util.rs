//! Small helpers every command uses: where things are, running cargo and other
//! programs, a free port, whether we are root. This module uses no other of xtask's.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The repository's root (xtask lives one level below it).
pub fn root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// Builds the `gatehouse` binary (debug, or release) and returns its path.
pub fn build_server(release: bool) -> anyhow::Result<PathBuf> {
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

/// The cargo that runs xtask (`CARGO`), else `cargo` on the PATH.
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Runs `cmd` with the terminal's output; an error unless it succeeds.
pub fn status(cmd: &mut Command) -> anyhow::Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

/// A port on loopback that nothing listens on (now).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}
