//! The operator's side: the `gatehouse` commands that work without the web app (users,
//! keys, grants, the audit log, configuration, doctor) against a running server's
//! database, and backups that restore into a server one can sign in to.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, authorize, register};
use crate::helpers::{
    ADMIN_PASSWORD, Backend, Client, TestApp, fresh_database, spawn_app, spawn_app_on, succeeded,
    tempfile_dir::TempDir,
};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

both_backends!(
    operators_disable_unlock_and_revoke_at_the_command_line,
    the_audit_log_exports_as_json_lines_and_csv,
    doctor_and_config_report_without_secrets,
    a_backup_taken_while_serving_restores_and_signs_in,
);

/// `gatehouse ARGS` on the app's database, as the operator `ops-test`.
fn gatehouse(app: &TestApp, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("GATEHOUSE_DATABASE_URL", &app.database_url)
        .env("USER", "ops-test")
        .env("GATEHOUSE_LOG", "warn")
        .env_remove("GATEHOUSE_SECRET_PEPPER")
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .expect("run gatehouse")
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "gatehouse failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn refused(out: Output) -> String {
    assert!(!out.status.success(), "gatehouse succeeded: {out:?}");
    String::from_utf8(out.stderr).unwrap()
}

/// Polls until `path` answers `status` with `client`; returns how long that took.
/// On PostgreSQL the operator's change reaches the server's caches as it commits; on
/// SQLite within `credential_cache_seconds` (2 s).
async fn answers(client: &Client, path: &str, status: StatusCode) -> Duration {
    let started = Instant::now();
    loop {
        let got = client.get(path).await.status();
        if got == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{path} still answers {got}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn operators_disable_unlock_and_revoke_at_the_command_line(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let user = app.user(&admin, gatehouse_types::Role::Editor).await;
    let key = app.api_key(&user.client, "full_access").await;
    let scripted = app.with_key(&key.secret);
    assert_eq!(scripted.get("/api/v1/me").await.status(), StatusCode::OK);

    let listed = ok(gatehouse(&app, &["users", "list"]));
    assert!(listed.contains(&user.username) && listed.contains(&app.admin_username));

    // Disable: the session ends at once, the key stops.
    let out = ok(gatehouse(&app, &["users", "disable", &user.username]));
    assert!(out.contains("disabled"), "{out}");
    assert_eq!(
        user.client.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let took = answers(&scripted, "/api/v1/me", StatusCode::UNAUTHORIZED).await;
    if b == Backend::Postgres {
        assert!(took < Duration::from_secs(1), "took {took:?} on PostgreSQL");
    }
    // Unlock (by id this time): the key works again.
    ok(gatehouse(&app, &["users", "unlock", &user.id]));
    answers(&scripted, "/api/v1/me", StatusCode::OK).await;
    // An administrator's lock is lifted too, and recorded as an unlock.
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{}", user.id),
                &json!({"state": "locked"}),
            )
            .await,
    );
    answers(&scripted, "/api/v1/me", StatusCode::UNAUTHORIZED).await;
    let out = ok(gatehouse(&app, &["users", "unlock", &user.username]));
    assert!(out.contains("active (was locked)"), "{out}");
    answers(&scripted, "/api/v1/me", StatusCode::OK).await;

    // The last active admin cannot be disabled from here either.
    let err = refused(gatehouse(&app, &["users", "disable", &app.admin_username]));
    assert!(err.contains("last active administrator"), "{err}");
    assert_eq!(admin.get("/api/v1/me").await.status(), StatusCode::OK);

    // Revoke the key by id: it stops, and the audit log says who and how.
    ok(gatehouse(&app, &["keys", "revoke", &key.id]));
    answers(&scripted, "/api/v1/me", StatusCode::UNAUTHORIZED).await;
    let err = refused(gatehouse(&app, &["keys", "revoke", &key.id]));
    assert!(err.contains("no API key"), "{err}");

    // Revoke an authorized application: its access token stops.
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let bearer = app.with_key(oauth2::TokenResponse::access_token(&tokens).secret());
    assert_eq!(bearer.get("/api/v1/me").await.status(), StatusCode::OK);
    let apps = admin.get_json("/api/v1/authorized-apps").await;
    let grant = apps["items"][0]["id"].as_str().unwrap().to_string();
    let out = ok(gatehouse(&app, &["grants", "revoke", &grant]));
    assert!(out.contains("revoked"), "{out}");
    answers(&bearer, "/api/v1/me", StatusCode::UNAUTHORIZED).await;
    let out = ok(gatehouse(&app, &["grants", "revoke", &grant]));
    assert!(out.contains("already revoked"), "{out}");

    let events = admin
        .get_json("/api/v1/audit-events?scope=all&limit=200")
        .await;
    let by_cli: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["credential_kind"] == "cli")
        .collect();
    for action in [
        "user.updated",
        "user.unlocked",
        "api_key.deleted",
        "oauth_grant.revoked",
    ] {
        let event = by_cli
            .iter()
            .find(|e| e["action"] == action)
            .unwrap_or_else(|| panic!("no {action} by the command line in {events}"));
        assert_eq!(event["details"]["operator"], "ops-test", "{event}");
    }
    let unlocked = by_cli
        .iter()
        .filter(|e| e["action"] == "user.unlocked")
        .count();
    assert_eq!(unlocked, 1, "only the locked user's unlock is an unlock");

    // `--subscription` narrows the search: the user is not in another one.
    let other = app.second_subscription().await;
    let err = refused(gatehouse(
        &app,
        &[
            "users",
            "disable",
            &user.username,
            "--subscription",
            &other.id,
        ],
    ));
    assert!(err.contains("no user"), "{err}");
}

async fn the_audit_log_exports_as_json_lines_and_csv(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .post(
                "/api/v1/api-keys",
                &json!({"name": "=HYPERLINK(\"http://evil\")", "permission": "read_only"}),
            )
            .await,
    );
    let lines = ok(gatehouse(&app, &["audit", "export"]));
    let events: Vec<Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let api = admin
        .get_json("/api/v1/audit-events?scope=all&limit=200")
        .await;
    assert_eq!(
        events.len(),
        api["items"].as_array().unwrap().len(),
        "every event, as the API lists them"
    );
    assert_eq!(
        events[0], api["items"][0],
        "newest first, in the API's shape"
    );

    let csv = ok(gatehouse(&app, &["audit", "export", "--format", "csv"]));
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(reader.headers().unwrap().get(0), Some("id"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), events.len());
    assert!(
        !csv.contains(",=HYPERLINK"),
        "formulas are defused in the export: {csv}"
    );

    // A window with nothing in it.
    let none = ok(gatehouse(
        &app,
        &["audit", "export", "--until", "2000-01-01T00:00:00Z"],
    ));
    assert!(none.is_empty(), "{none}");
    let err = refused(gatehouse(
        &app,
        &["audit", "export", "--since", "yesterday"],
    ));
    assert!(err.contains("since"), "{err}");
}

async fn doctor_and_config_report_without_secrets(b: Backend) {
    let app = spawn_app(b).await;
    let web = TempDir::new();
    std::fs::write(web.path().join("index.html"), "<!doctype html>").unwrap();
    let web_dir = web.path().to_str().unwrap();
    let healthy = ok(gatehouse(&app, &["doctor", "--web-dir", web_dir]));
    for check in [
        "database",
        "migrations",
        "signing keys",
        "subscriptions",
        "web app",
    ] {
        assert!(
            healthy
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(check)),
            "{check} not ok:\n{healthy}"
        );
    }
    // Without the web app built, doctor says so and fails.
    let out = gatehouse(&app, &["doctor", "--web-dir", "/nonexistent"]);
    assert!(!out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("web app")),
        "{text}"
    );

    // A database nobody migrated: doctor names the fix; the other commands refuse.
    let (empty_url, _scratch) = fresh_database(b);
    let run_on_empty = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("GATEHOUSE_DATABASE_URL", &empty_url)
            .output()
            .unwrap()
    };
    let out = run_on_empty(&["doctor"]);
    assert!(!out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("gatehouse migrate"), "{text}");
    let out = run_on_empty(&["users", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("gatehouse migrate"));

    // Config: the pepper is never shown, nor a database password.
    let out = Command::new(BIN)
        .args(["config"])
        .env("GATEHOUSE_SECRET_PEPPER", "pepper-that-must-not-show")
        .env(
            "GATEHOUSE_DATABASE_URL",
            "postgres://gh:hunter2-secret@db.example/gh",
        )
        .output()
        .unwrap();
    let text = ok(out);
    assert!(!text.contains("pepper-that-must-not-show"), "{text}");
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(text.contains("postgres://gh:***@db.example/gh"), "{text}");
    assert!(text.contains("secret_pepper") && text.contains("(set, not shown)"));
}

/// A backup taken while the server writes restores into a server that signs the admin
/// in, knows the keys made before it (and finds them by search), and refuses nothing
/// it should accept. SQLite: `gatehouse backup`; PostgreSQL: `pg_dump` and `pg_restore`
/// as the README shows.
async fn a_backup_taken_while_serving_restores_and_signs_in(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    // Keys deleted before the copy leave gaps in the rowids, which a copy may close
    // (the key search index is keyed by them).
    for _ in 0..3 {
        let gone = app.api_key(&admin, "read_only").await;
        succeeded(admin.delete(&format!("/api/v1/api-keys/{}", gone.id)).await);
    }
    let key = app.api_key(&admin, "read_only").await;
    let named = succeeded(
        admin
            .post(
                "/api/v1/api-keys",
                &json!({"name": "nightly export job", "permission": "read_only"}),
            )
            .await,
    );
    let named: Value = named.json().await.unwrap();

    // Writes go on while the copy is taken.
    let busy = app.admin().await;
    let writer = tokio::spawn(async move {
        for i in 0..40 {
            busy.post(
                "/api/v1/api-keys",
                &json!({"name": format!("during {i}"), "permission": "read_only"}),
            )
            .await;
        }
    });
    let (url, scratch) = fresh_database(b);
    let folder = TempDir::new();
    match b {
        Backend::Sqlite => {
            let copy = gatehouse_server::db::sqlite_path(&url)
                .unwrap()
                .to_path_buf();
            let out = ok(gatehouse(&app, &["backup", copy.to_str().unwrap()]));
            assert!(out.contains("wrote"), "{out}");
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the copy is its owner's only");
            let err = refused(gatehouse(&app, &["backup", copy.to_str().unwrap()]));
            assert!(err.contains("exists"), "{err}");
        }
        Backend::Postgres => {
            let dump = folder.path().join("gatehouse.dump");
            let status = Command::new("pg_dump")
                .args(["--format=custom", "--file"])
                .arg(&dump)
                .arg(&app.database_url)
                .status()
                .expect("pg_dump");
            assert!(status.success());
            let status = Command::new("pg_restore")
                .args(["--no-owner", "--dbname", &url])
                .arg(&dump)
                .status()
                .expect("pg_restore");
            assert!(status.success());
            let err = refused(gatehouse(&app, &["backup", "/tmp/never-written.db"]));
            assert!(err.contains("pg_dump"), "{err}");
        }
    }
    writer.await.unwrap();

    let restored = spawn_app_on(url, Some(scratch), &app).await;
    let admin_again = restored.sign_in(&app.admin_username, ADMIN_PASSWORD).await;
    assert_eq!(admin_again.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        restored
            .with_key(&key.secret)
            .get("/api/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
    let found = admin_again
        .get_json("/api/v1/subscription/api-keys?q=nightly")
        .await;
    let ids: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [named["id"].as_str().unwrap()],
        "search works on the copy"
    );
    // The copy takes writes of its own.
    succeeded(
        admin_again
            .post(
                "/api/v1/api-keys",
                &json!({"name": "after restore", "permission": "read_only"}),
            )
            .await,
    );
}
