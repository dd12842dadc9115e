//! `cargo xtask openapi`: writes the API description the server generates (`gatehouse
//! openapi`) to `api-spec/openapi.json`, the file the test
//! `openapi::the_checked_in_spec_is_what_the_code_generates` holds to the code.

use anyhow::{Context, bail};

use crate::util::{cargo, root};

pub fn openapi() -> anyhow::Result<()> {
    let out = cargo()
        .args([
            "run",
            "--quiet",
            "--package",
            "gatehouse-server",
            "--bin",
            "gatehouse",
            "--",
            "openapi",
        ])
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running `gatehouse openapi`")?;
    if !out.status.success() {
        bail!("`gatehouse openapi` failed with {}", out.status);
    }
    let path = root().join("api-spec/openapi.json");
    let before = std::fs::read(&path).unwrap_or_default();
    if before == out.stdout {
        eprintln!("xtask: {} is up to date", path.display());
    } else {
        std::fs::write(&path, &out.stdout)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("xtask: wrote {}", path.display());
    }
    Ok(())
}
