//! `cargo xtask build-web`: the web app's bundle, without downloading any tool.
//!
//! 1. `cargo build` the Leptos app for `wasm32-unknown-unknown` (profile `wasm-release`).
//! 2. wasm-bindgen through the `wasm-bindgen-cli-support` crate, pinned to the exact
//!    `wasm-bindgen` version of `Cargo.lock` (the two must match).
//! 3. `wasm-opt -Oz` from npm's `binaryen` when `tests/node_modules` has it (Debian's
//!    binaryen is too old and produces modules Chromium refuses); skipped otherwise.
//! 4. Content-hashed file names under `frontend/dist/assets/`, each with a `.gz`
//!    sibling, and `frontend/dist/index.html`, which the server never lets a browser
//!    cache. The page loads no inline script, so the server's CSP can forbid it.

use std::hash::Hasher;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::prereq::ensure_wasm_target;
use crate::util::{cargo, root, status, target_dir};

/// Sizes of what a browser downloads, for the bench table.
pub struct BundleSize {
    pub files: Vec<(String, u64, u64)>,
}

impl BundleSize {
    pub fn total_gzip(&self) -> u64 {
        self.files.iter().map(|(_, _, gz)| gz).sum()
    }
}

pub fn dist_dir() -> PathBuf {
    root().join("frontend/dist")
}

pub fn build_web() -> anyhow::Result<BundleSize> {
    build_web_noting(true)
}

/// [`build_web`]; `note_no_wasm_opt`: say so when there is no wasm-opt (`cargo xtask run`
/// has said it already, and how to get it).
pub fn build_web_noting(note_no_wasm_opt: bool) -> anyhow::Result<BundleSize> {
    ensure_wasm_target()?;
    let root = root();
    // `erase_components` type-erases Leptos views: far less monomorphized code, so a
    // smaller bundle (and a faster build). Source paths are cut to their crate-relative
    // part: panic locations stay in the bundle, and this machine's directories have no
    // business there (it is smaller, too).
    let mut rustflags = String::from("--cfg=erase_components");
    for prefix in source_prefixes(&root) {
        rustflags.push_str(&format!(" --remap-path-prefix={}=", prefix.display()));
    }
    status(
        cargo()
            .current_dir(&root)
            .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", rustflags)
            .args([
                "build",
                "--package",
                "gatehouse-frontend",
                "--target",
                "wasm32-unknown-unknown",
                "--profile",
                "wasm-release",
            ]),
    )?;
    let target = target_dir();
    let wasm = target.join("wasm32-unknown-unknown/wasm-release/gatehouse-frontend.wasm");
    let staging = target.join("web-staging");
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging)?;
    // GATEHOUSE_WASM_NAMES=1 keeps function names through wasm-opt, for `twiggy top`
    // on the served bundle (to see where its bytes go); never for a real build.
    let keep_names = std::env::var_os("GATEHOUSE_WASM_NAMES").is_some();
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .out_name("gatehouse")
        .web(true)?
        .remove_name_section(!keep_names)
        .remove_producers_section(true)
        .generate(&staging)
        .context("wasm-bindgen")?;

    let bg = staging.join("gatehouse_bg.wasm");
    let wasm_opt = root.join("tests/node_modules/.bin/wasm-opt");
    if wasm_opt.exists() {
        let optimized = staging.join("gatehouse_opt.wasm");
        status(
            std::process::Command::new(&wasm_opt)
                .args(["-Oz", "--converge"])
                .args(keep_names.then_some("-g"))
                .arg(&bg)
                .arg("-o")
                .arg(&optimized),
        )?;
        std::fs::rename(&optimized, &bg)?;
    } else if note_no_wasm_opt {
        eprintln!(
            "xtask: wasm-opt not found (npm ci --prefix tests installs it); the bundle is not size-optimized"
        );
    }

    let dist = dist_dir();
    let assets = dist.join("assets");
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&assets)?;
    let mut files = Vec::new();

    let wasm_bytes = std::fs::read(&bg)?;
    let wasm_name = format!("gatehouse-{}_bg.wasm", hash(&wasm_bytes));
    let js = std::fs::read_to_string(staging.join("gatehouse.js"))?;
    let js_name = format!("gatehouse-{}.js", hash(js.as_bytes()));
    let boot = format!(
        "import init from './{js_name}';\ninit({{ module_or_path: new URL('./{wasm_name}', import.meta.url) }});\n"
    );
    let boot_name = format!("boot-{}.js", hash(boot.as_bytes()));
    let css = std::fs::read(root.join("frontend/style.css"))?;
    let css_name = format!("style-{}.css", hash(&css));
    let passkeys = std::fs::read(root.join("frontend/passkeys.js"))?;
    let passkeys_name = format!("passkeys-{}.js", hash(&passkeys));
    for (name, bytes) in [
        (&wasm_name, wasm_bytes.as_slice()),
        (&js_name, js.as_bytes()),
        (&boot_name, boot.as_bytes()),
        (&css_name, css.as_slice()),
        (&passkeys_name, passkeys.as_slice()),
    ] {
        files.push(write_asset(&assets, name, bytes)?);
    }

    let template = std::fs::read_to_string(root.join("frontend/index.html"))?;
    let index = template
        .replace("{{style}}", &css_name)
        .replace("{{js}}", &js_name)
        .replace("{{wasm}}", &wasm_name)
        .replace("{{boot}}", &boot_name)
        .replace("{{passkeys}}", &passkeys_name);
    if index.contains("{{") {
        bail!("frontend/index.html names an asset xtask does not know");
    }
    std::fs::write(dist.join("index.html"), &index)?;
    files.push((
        "index.html".into(),
        index.len() as u64,
        gzip(index.as_bytes())?.len() as u64,
    ));

    let size = BundleSize { files };
    eprintln!("xtask: web app written to {}", dist.display());
    for (name, raw, gz) in &size.files {
        eprintln!(
            "  {name:<40} {:>8.1} KB  {:>7.1} KB gzip",
            *raw as f64 / 1024.0,
            *gz as f64 / 1024.0
        );
    }
    eprintln!(
        "  {:<40} {:>8} {:>10.1} KB gzip",
        "total",
        "",
        size.total_gzip() as f64 / 1024.0
    );
    Ok(size)
}

/// The directories sources are compiled from: the workspace, and each registry's
/// unpacked crates (`$CARGO_HOME/registry/src/<index>/`), each with a trailing `/`.
fn source_prefixes(root: &Path) -> Vec<PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut out = vec![root.join("")];
    if let Some(home) = cargo_home
        && let Ok(entries) = std::fs::read_dir(home.join("registry/src"))
    {
        out.extend(entries.flatten().map(|e| e.path().join("")));
    }
    out
}

/// Writes `name` and `name.gz`; answers (name, bytes, gzip bytes).
fn write_asset(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<(String, u64, u64)> {
    std::fs::write(dir.join(name), bytes)?;
    let gz = gzip(bytes)?;
    std::fs::write(dir.join(format!("{name}.gz")), &gz)?;
    Ok((name.to_string(), bytes.len() as u64, gz.len() as u64))
}

fn gzip(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    zopfli::compress(
        zopfli::Options::default(),
        zopfli::Format::Gzip,
        bytes,
        &mut out,
    )?;
    Ok(out)
}

/// A content hash for cache busting (not for security): 16 hex digits.
fn hash(bytes: &[u8]) -> String {
    // FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`.
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    h.write(bytes);
    format!("{:016x}", h.finish())
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
