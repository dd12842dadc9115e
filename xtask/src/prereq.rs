//! What the commands need from the machine, checked in well under a second before
//! anything is built, so that a missing program stops a run at its start rather than
//! twenty minutes into it.
//!
//! [`NEEDS`] lists each prerequisite with how it is checked and the Debian package that
//! provides it; `cargo xtask test` needs all but CI's own tools, `cargo xtask prereq
//! --ci` (which `.ci/run` calls) all of them. What is missing is installed when we may
//! (root, or `sudo` without a password) with the `apt-get` line CI has always used —
//! `policy-rc.d` answering 101 so that installing nginx, Apache or PostgreSQL starts no
//! service — and otherwise named, with the one command that installs it. Beyond Debian
//! packages: the `wasm32-unknown-unknown` target (`rustup target add`), `tests/`'s npm
//! packages (`npm ci` when `tests/node_modules` is missing, incomplete or older than
//! `tests/package-lock.json`) and, as root, the `postgres` user the throwaway cluster
//! runs as.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::postgres;
use crate::util::{is_root, root, status};

/// Who needs a prerequisite.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    /// `cargo xtask test` (and so CI).
    Test,
    /// `cargo xtask test`, when it runs as root.
    TestAsRoot,
    /// Only `.ci/run`: its compose check and its contract run.
    Ci,
}

/// One thing the machine must have.
struct Need {
    what: &'static str,
    /// The Debian package that provides it.
    package: &'static str,
    present: fn() -> bool,
    who: Who,
}

const POSTGRESQL: Need = Need {
    what: "PostgreSQL's server programs (initdb, pg_ctl) for the throwaway cluster",
    package: "postgresql",
    present: || postgres::find_bin_dir().is_ok(),
    who: Who::Test,
};

const LIBPQ: Need = Need {
    what: "libpq's headers and library, which the server links against",
    package: "libpq-dev",
    present: || Path::new(LIBPQ_HEADER).exists(),
    who: Who::Test,
};

const RUNUSER: Need = Need {
    what: "runuser, to run PostgreSQL as the postgres user",
    package: "util-linux",
    present: || program("runuser").is_some(),
    who: Who::TestAsRoot,
};

const CHROMIUM: Need = Need {
    what: "Debian's Chromium at /usr/bin/chromium, for the browser tests",
    package: "chromium",
    present: || Path::new(CHROMIUM_PATH).exists(),
    who: Who::Test,
};

const NODE: Need = Need {
    what: "node, for the browser tests and wasm-opt",
    package: "nodejs",
    present: || program("node").is_some(),
    who: Who::Test,
};

const NPM: Need = Need {
    what: "npm, to install tests/'s packages",
    package: "npm",
    present: || program("npm").is_some(),
    who: Who::Test,
};

const CURL: Need = Need {
    what: "curl, which drives the servers of the cluster check",
    package: "curl",
    present: || program("curl").is_some(),
    who: Who::Test,
};

const NGINX: Need = Need {
    what: "nginx, in front of the cluster check's two replicas",
    package: "nginx",
    present: || program("nginx").is_some(),
    who: Who::Test,
};

const APACHE: Need = Need {
    what: "Apache, the browser tests' third-party relying party",
    package: "apache2",
    present: || program("apache2").is_some(),
    who: Who::Test,
};

const MOD_AUTH_OPENIDC: Need = Need {
    what: "mod_auth_openidc for that Apache",
    package: "libapache2-mod-auth-openidc",
    present: || Path::new("/usr/lib/apache2/modules/mod_auth_openidc.so").exists(),
    who: Who::Test,
};

const DOCKER_COMPOSE: Need = Need {
    what: "docker-compose, which validates docker-compose.yml (no engine needed)",
    package: "docker-compose",
    present: || program("docker-compose").is_some(),
    who: Who::Ci,
};

const PIP: Need = Need {
    what: "Python's pip, which installs schemathesis for the contract run",
    package: "python3-pip",
    present: || {
        Command::new("python3")
            .args(["-c", "import pip"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    },
    who: Who::Ci,
};

const NEEDS: [&Need; 12] = [
    &POSTGRESQL,
    &LIBPQ,
    &RUNUSER,
    &CHROMIUM,
    &NODE,
    &NPM,
    &CURL,
    &NGINX,
    &APACHE,
    &MOD_AUTH_OPENIDC,
    &DOCKER_COMPOSE,
    &PIP,
];

const LIBPQ_HEADER: &str = "/usr/include/postgresql/libpq-fe.h";
const CHROMIUM_PATH: &str = "/usr/bin/chromium";

/// Everything `cargo xtask test` needs (`ci`: and `.ci/run`'s own tools), installed when
/// it can be; an error naming what is missing otherwise.
pub fn for_test(ci: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let as_root = is_root();
    let wanted: Vec<&Need> = NEEDS
        .into_iter()
        .filter(|n| match n.who {
            Who::Test => true,
            Who::TestAsRoot => as_root,
            Who::Ci => ci,
        })
        .collect();
    let command = if ci {
        "`.ci/run`"
    } else {
        "`cargo xtask test`"
    };
    packages(command, &wanted, as_root)?;
    if as_root {
        postgres_user()?;
    }
    ensure_wasm_target()?;
    node_modules()?;
    eprintln!(
        "xtask: every prerequisite of {command} is here (checked in {} ms)",
        started.elapsed().as_millis()
    );
    Ok(())
}

/// What `cargo xtask run` needs: libpq to link the server and the wasm target, or it
/// stops; node, npm and `tests/`'s packages for wasm-opt, installed when they can be,
/// else the web app is built without wasm-opt and one line says how to get it.
pub fn for_run() -> anyhow::Result<()> {
    let as_root = is_root();
    let node = [&NODE, &NPM];
    let node_missing = node.iter().any(|n| !(n.present)());
    let mut wanted = vec![&LIBPQ];
    if node_missing && installer(as_root).is_some() {
        wanted.extend(node);
    }
    packages("`cargo xtask run`", &wanted, as_root)?;
    if node.iter().all(|n| (n.present)()) {
        if let Err(e) = node_modules() {
            eprintln!("xtask: {e:#}; the web app is built without wasm-opt");
        }
    } else {
        eprintln!(
            "xtask: without node and npm the web app is built without wasm-opt (a larger \
             download); `sudo apt-get install -y nodejs npm` and the next run optimizes it"
        );
    }
    ensure_wasm_target()
}

/// Installs the missing packages of `wanted` when we may; otherwise an error that names
/// them and the command that installs them.
fn packages(command: &str, wanted: &[&Need], as_root: bool) -> anyhow::Result<()> {
    let missing: Vec<&Need> = wanted.iter().copied().filter(|n| !(n.present)()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|n| n.package).collect();
    let list = missing
        .iter()
        .map(|n| format!("  - {} ({})", n.what, n.package))
        .collect::<Vec<_>>()
        .join("\n");
    let Some(installer) = installer(as_root) else {
        bail!(
            "{command} needs what this machine lacks:\n{list}\n\
             Install {} (Debian, Ubuntu), then run the command again:\n\n  \
             sudo apt-get install -y {}",
            if names.len() == 1 { "it" } else { "them" },
            names.join(" ")
        );
    };
    eprintln!("xtask: installing {}:\n{list}", names.join(" "));
    apt_get_install(installer, &names)?;
    let still: Vec<&str> = missing
        .iter()
        .filter(|n| !(n.present)())
        .map(|n| n.what)
        .collect();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join("; "));
    }
    Ok(())
}

/// How we may install Debian packages.
#[derive(Clone, Copy)]
enum Installer {
    Root,
    Sudo,
}

fn installer(as_root: bool) -> Option<Installer> {
    program("apt-get")?;
    if as_root {
        return Some(Installer::Root);
    }
    let sudo = program("sudo")?;
    Command::new(sudo)
        .args(["-n", "true"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        .then_some(Installer::Sudo)
}

/// `apt-get install` as `.ci/run` always did it: installing a service (apache2, nginx,
/// postgresql) must not start it, so `policy-rc.d` answers 101 for this install, unless
/// one was already there.
const APT_INSTALL: &str = r#"set -e
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  guard=/usr/sbin/policy-rc.d
fi
trap '[ -z "$guard" ] || rm -f "$guard"' EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
"#;

fn apt_get_install(installer: Installer, packages: &[&str]) -> anyhow::Result<()> {
    let mut cmd = match installer {
        Installer::Root => Command::new("sh"),
        Installer::Sudo => {
            let mut c = Command::new("sudo");
            c.args(["-n", "sh"]);
            c
        }
    };
    status(cmd.args(["-c", APT_INSTALL, "sh"]).args(packages))
}

/// As root, the throwaway cluster runs as `postgres` (initdb refuses root).
fn postgres_user() -> anyhow::Result<()> {
    let exists = Command::new("id")
        .args(["-u", "postgres"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !exists {
        eprintln!("xtask: adding the system user postgres");
        status(Command::new("useradd").args(["--system", "--no-create-home", "postgres"]))?;
    }
    Ok(())
}

/// The web app is built for `wasm32-unknown-unknown`; add the target once with rustup
/// (without rustup, the toolchain is trusted to have it).
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

/// `npm ci` in `tests/` unless its `node_modules` holds every package of `package.json`
/// and is newer than `package-lock.json` (playwright-core, axe-core, the OpenID clients,
/// and binaryen's wasm-opt).
pub fn node_modules() -> anyhow::Result<()> {
    let tests = root().join("tests");
    let why = stale(&tests)?;
    if let Some(why) = why {
        eprintln!("xtask: npm ci in tests/ ({why})");
        status(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&tests),
        )
        .context("installing tests/'s npm packages")?;
    }
    Ok(())
}

/// Why `tests/node_modules` needs `npm ci`, if it does.
fn stale(tests: &Path) -> anyhow::Result<Option<String>> {
    let modules = tests.join("node_modules");
    if !modules.is_dir() {
        return Ok(Some("no tests/node_modules".into()));
    }
    let manifest = std::fs::read_to_string(tests.join("package.json"))
        .context("reading tests/package.json")?;
    if let Some(name) = dependencies(&manifest)
        .into_iter()
        .find(|name| !modules.join(name).join("package.json").exists())
    {
        return Ok(Some(format!("{name} is not installed")));
    }
    // npm writes its own copy of the lock file into node_modules at each install.
    let installed = [modules.join(".package-lock.json"), modules]
        .iter()
        .find_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    let locked = std::fs::metadata(tests.join("package-lock.json")).and_then(|m| m.modified());
    Ok(match (installed, locked) {
        (Some(installed), Ok(locked)) if installed < locked => {
            Some("tests/package-lock.json is newer than tests/node_modules".into())
        }
        _ => None,
    })
}

/// The package names of `package.json`'s `dependencies` and `devDependencies`.
fn dependencies(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    for section in ["\"dependencies\"", "\"devDependencies\""] {
        let Some(start) = manifest.find(section) else {
            continue;
        };
        let rest = &manifest[start + section.len()..];
        let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) else {
            continue;
        };
        for entry in rest[open + 1..close.max(open + 1)].split(',') {
            if let Some(name) = entry.split(':').next().map(|n| n.trim().trim_matches('"'))
                && !name.is_empty()
            {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// `name` on the PATH, or in the sbin folders an ordinary user's PATH may lack.
fn program(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_json_dependencies_are_read() {
        let manifest = r#"{
  "name": "x",
  "scripts": { "test": "node --test" },
  "devDependencies": {
    "axe-core": "4.14.1",
    "@scope/pkg": "1.0.0"
  },
  "dependencies": { "binaryen": "132.0.0" }
}"#;
        assert_eq!(
            dependencies(manifest),
            ["binaryen", "axe-core", "@scope/pkg"]
        );
    }

    #[test]
    fn every_package_is_named_once() {
        let mut packages: Vec<&str> = NEEDS.iter().map(|n| n.package).collect();
        packages.sort_unstable();
        let before = packages.len();
        packages.dedup();
        assert_eq!(before, packages.len());
    }
}
