//! `cargo xtask contract`: schemathesis (PyPI) against a live server, as a new user of
//! the API would try it: the published spec (`/api/v1/openapi.json`), every check, the
//! stateful phase, a bounded number of examples per operation and a fixed seed.
//!
//! The credentials go through `api-spec/schemathesis.toml`, one per security scheme of
//! the spec (a full-access key for `bearer` and `zsessionid`, the admin's session cookie
//! for `session`), so that when schemathesis leaves one out or spoils it to see the
//! request refused, no other credential rides along: its authentication checks test
//! the server, not the harness.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::bench::{PASSWORD, curl, json_string, path_str, serve};

/// Examples per operation and phase: enough to find what the hand-written spec got
/// wrong, bounded so CI stays fast.
const MAX_EXAMPLES: &str = "30";
/// Fixed, so that CI is repeatable; `GATEHOUSE_CONTRACT_SEED` tries another.
const SEED: &str = "1";

pub fn contract() -> anyhow::Result<()> {
    if Command::new("schemathesis")
        .arg("--version")
        .output()
        .is_err()
    {
        bail!("schemathesis is not installed: pip install 'schemathesis==4.32.5'");
    }
    crate::status(crate::cargo().args([
        "build",
        "--package",
        "gatehouse-server",
        "--bin",
        "gatehouse",
    ]))?;
    let bin = crate::target_dir().join("debug").join("gatehouse");
    let dir = std::env::temp_dir().join(format!("gatehouse-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = format!("sqlite://{}/gatehouse.db", dir.display());
    let (server, base) = serve(&bin, &dir, &db)?;
    let jar = dir.join("cookies");
    let signed_in = curl(&[
        "-c",
        path_str(&jar)?,
        "-H",
        "Content-Type: application/json",
        "-d",
        &format!("{{\"username\":\"bench@example.com\",\"password\":\"{PASSWORD}\"}}"),
        &format!("{base}/api/v1/session"),
    ])?;
    let csrf = json_string(&signed_in, "csrf_token").context("signing in")?;
    let cookies = std::fs::read_to_string(&jar)?;
    let session = cookies
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields.len() == 7 && fields[5] == "gatehouse_session").then(|| fields[6].to_string())
        })
        .context("the session cookie")?;
    let created = curl(&[
        "-b",
        path_str(&jar)?,
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-d",
        "{\"name\":\"schemathesis\",\"permission\":\"full_access\"}",
        &format!("{base}/api/v1/api-keys"),
    ])?;
    let key = json_string(&created, "secret").context("creating a key")?;
    let registered = curl(&[
        "-b",
        path_str(&jar)?,
        "-H",
        "Content-Type: application/json",
        "-H",
        &format!("X-CSRF-Token: {csrf}"),
        "-d",
        "{\"name\":\"schemathesis\",\"redirect_uris\":[\"https://app.example.com/callback\"],\"client_type\":\"confidential\"}",
        &format!("{base}/api/v1/oauth-clients"),
    ])?;
    let client_id = json_string(&registered, "client_id").context("registering a client")?;
    let client_secret =
        json_string(&registered, "client_secret").context("registering a client")?;
    let config = crate::root().join("api-spec").join("schemathesis.toml");
    let report = dir.join("report");
    let ran = Command::new("schemathesis")
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &format!("{base}/api/v1/openapi.json"),
            "--url",
            &base,
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            &std::env::var("GATEHOUSE_CONTRACT_SEED").unwrap_or_else(|_| SEED.into()),
            "--checks",
            "all",
            "--no-color",
        ])
        .arg("--report-dir")
        .arg(&report)
        .env("GATEHOUSE_ST_KEY", &key)
        .env("GATEHOUSE_ST_SESSION", &session)
        .env("GATEHOUSE_ST_CSRF", &csrf)
        .env("GATEHOUSE_ST_CLIENT_ID", &client_id)
        .env("GATEHOUSE_ST_CLIENT_SECRET", &client_secret)
        .status()
        .context("running schemathesis")?;
    drop(server);
    if !ran.success() {
        bail!(
            "schemathesis found failures (server log: {})",
            dir.join("server.log").display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = Path::new(&report);
    Ok(())
}
