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

use crate::live::{
    ADMIN, as_signed_in, curl, json_string, path_str, raise_lockout_threshold, serve, sign_in,
};
use crate::util::{build_server, root};

/// Examples per operation and phase: enough to find what the hand-written spec got
/// wrong, bounded so CI stays fast.
const MAX_EXAMPLES: &str = "30";
/// Fixed, so that CI is repeatable; `GATEHOUSE_CONTRACT_SEED` tries another.
const SEED: &str = "1";

/// schemathesis's command line, through the interpreter rather than a script on PATH
/// (pip puts scripts where PATH may not look, behind pyenv shims for one).
fn schemathesis() -> Command {
    let mut cmd = Command::new("python3");
    cmd.args(["-m", "schemathesis.cli"]);
    cmd
}

pub fn contract() -> anyhow::Result<()> {
    if !schemathesis()
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        bail!("schemathesis is not installed: python3 -m pip install 'schemathesis==4.32.5'");
    }
    let bin = build_server(false)?;
    let dir = std::env::temp_dir().join(format!("gatehouse-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = format!("sqlite://{}/gatehouse.db", dir.display());
    let (server, base) = serve(&bin, &dir, &db)?;
    let jar = dir.join("cookies");
    let csrf = sign_in(&base, &jar, ADMIN)?;
    let cookies = std::fs::read_to_string(&jar)?;
    let session = cookies
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            (fields.len() == 7 && fields[5] == "gatehouse_session").then(|| fields[6].to_string())
        })
        .context("the session cookie")?;
    let created = as_signed_in(
        &jar,
        &csrf,
        "POST",
        &format!("{base}/api/v1/api-keys"),
        "{\"name\":\"schemathesis\",\"permission\":\"full_access\"}",
    )?;
    let key = json_string(&created, "secret").context("creating a key")?;
    let key_id = json_string(&created, "id").context("creating a key")?;
    let me = curl(&["-b", path_str(&jar)?, &format!("{base}/api/v1/me")])?;
    let user_id = json_string(&me, "id").context("reading the admin")?;
    // The run's own browser session, its only one so far: ending it (`DELETE
    // /api/v1/me/sessions/{id}`) would end the run.
    let sessions = curl(&["-b", path_str(&jar)?, &format!("{base}/api/v1/me/sessions")])?;
    let session_id = json_string(&sessions, "id")
        .filter(|_| sessions.contains("\"current\":true"))
        .context("reading the run's session")?;
    // Sign-ins with the admin's name and wrong passwords are part of the run: a high
    // threshold keeps them from locking the run's own user.
    raise_lockout_threshold(&base, &jar, &csrf)?;
    let registered = as_signed_in(
        &jar,
        &csrf,
        "POST",
        &format!("{base}/api/v1/oauth-clients"),
        "{\"name\":\"schemathesis\",\"redirect_uris\":[\"https://app.example.com/callback\"],\"client_type\":\"confidential\"}",
    )?;
    let client_id = json_string(&registered, "client_id").context("registering a client")?;
    let client_secret =
        json_string(&registered, "client_secret").context("registering a client")?;
    let client_row = json_string(&registered, "id").context("registering a client")?;
    let config = root().join("api-spec").join("schemathesis.toml");
    let report = dir.join("report");
    let ran = schemathesis()
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
        .env(
            "GATEHOUSE_ST_PROTECTED",
            format!("{user_id},{key_id},{client_row},{session_id}"),
        )
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", root().join("api-spec"))
        .env("GATEHOUSE_ST_SESSION", &session)
        .env("GATEHOUSE_ST_CSRF", &csrf)
        .env("GATEHOUSE_ST_CLIENT_ID", &client_id)
        .env("GATEHOUSE_ST_CLIENT_SECRET", &client_secret)
        .status()
        .context("running schemathesis")?;
    // The run's credentials must have lived through it: otherwise every case after
    // their end was only refused, and the run proves little.
    let alive = [
        (
            "the API key",
            vec!["-H".to_string(), format!("Authorization: Bearer {key}")],
        ),
        (
            "the session",
            vec!["-b".to_string(), path_str(&jar)?.to_string()],
        ),
    ];
    for (what, args) in alive {
        let mut call: Vec<&str> = vec!["-f", "-o", "/dev/null"];
        call.extend(args.iter().map(String::as_str));
        let url = format!("{base}/api/v1/session");
        call.push(&url);
        // Not `?` on curl's own error: it would print the credential.
        if curl(&call).is_err() {
            bail!("{what} did not live through the run");
        }
    }
    let introspected = curl(&[
        "-u",
        &format!("{client_id}:{client_secret}"),
        "-d",
        "token=unknown",
        &format!("{base}/oauth/introspect"),
    ])
    .map_err(|_| anyhow::anyhow!("introspecting with the OAuth client failed"))?;
    if !introspected.contains("\"active\":false") {
        bail!("the OAuth client did not live through the run: {introspected}");
    }
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
