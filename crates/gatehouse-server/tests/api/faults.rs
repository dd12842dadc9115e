//! Faults that lose nothing, on the real binary: killed with SIGKILL in the middle of a
//! write load (keys created, reset and deleted; refresh tokens rotated), the server
//! comes back with every acknowledged write and nothing half-done; told SIGTERM, it
//! finishes the request in flight, refuses new connections and stops its background
//! work before it exits.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use oauth2::TokenResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::cli::{Served, bootstrap, free_port, wait_ready};
use crate::helpers::oauth::{Registered, authorize_at, register};
use crate::helpers::{Backend, Client, fresh_database, tempfile_dir::TempDir};

both_backends!(
    a_killed_server_keeps_every_acknowledged_write,
    sigterm_drains_the_request_in_flight_and_stops_cleanly,
);

const ADMIN: &str = "faults-admin@example.com";
const PASSWORD: &str = "a password for the fault tests";

/// What the server acknowledged: written down only once its answer arrived.
#[derive(Default)]
struct Ledger {
    /// Live keys: id → the secret that should work now, and the ones that must not.
    keys: HashMap<String, (String, Vec<String>)>,
    deleted: HashSet<String>,
    /// Keys whose last change got no answer: it may or may not have happened.
    uncertain: HashSet<String>,
}

/// One worker's key writes until told to stop: create, reset, and delete every third.
/// It stops at the first request that gets no answer (the server is gone).
async fn key_writes(admin: Arc<Client>, stop: Arc<AtomicBool>) -> Ledger {
    let mut ledger = Ledger::default();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let Ok(res) = admin
            .request(reqwest::Method::POST, "/api/v1/api-keys")
            .json(&json!({"name": format!("load {n}"), "permission": "read_only"}))
            .send()
            .await
        else {
            break;
        };
        let status = res.status();
        let Ok(created) = res.json::<Value>().await else {
            break;
        };
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let (id, secret) = (
            created["id"].as_str().unwrap().to_string(),
            created["secret"].as_str().unwrap().to_string(),
        );
        ledger.keys.insert(id.clone(), (secret.clone(), Vec::new()));
        let unanswered = |ledger: &mut Ledger| {
            ledger.keys.remove(&id);
            ledger.uncertain.insert(id.clone());
        };
        let Ok(res) = admin
            .request(
                reqwest::Method::POST,
                &format!("/api/v1/api-keys/{id}/reset"),
            )
            .send()
            .await
        else {
            unanswered(&mut ledger);
            break;
        };
        let Ok(reset) = res.json::<Value>().await else {
            unanswered(&mut ledger);
            break;
        };
        let new = reset["secret"].as_str().unwrap().to_string();
        ledger.keys.insert(id.clone(), (new, vec![secret]));
        if n % 3 == 0 {
            let Ok(res) = admin
                .request(reqwest::Method::DELETE, &format!("/api/v1/api-keys/{id}"))
                .send()
                .await
            else {
                unanswered(&mut ledger);
                break;
            };
            assert_eq!(res.status(), StatusCode::NO_CONTENT);
            ledger.keys.remove(&id);
            ledger.deleted.insert(id);
        }
    }
    ledger
}

/// One refresh-token chain rotated until told to stop; returns the last token the
/// server handed out, and whether a refresh was in flight when the answers stopped.
async fn refreshes(
    base: String,
    reg: Arc<Registered>,
    mut token: String,
    stop: Arc<AtomicBool>,
) -> (String, bool) {
    let http = crate::helpers::http_client();
    while !stop.load(Ordering::Relaxed) {
        let res = http
            .post(format!("{base}/oauth/token"))
            .basic_auth(&reg.client_id, reg.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
            .send()
            .await;
        let Ok(res) = res else {
            return (token, true);
        };
        let Ok(body) = res.json::<Value>().await else {
            return (token, true);
        };
        token = body["refresh_token"].as_str().unwrap().to_string();
    }
    (token, false)
}

/// Every item of a list, page by page.
async fn every(client: &Client, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut page_path = format!("{path}{sep}limit=200");
        if let Some(c) = &cursor {
            page_path.push_str(&format!("&cursor={c}"));
        }
        let page: Value = client.get(&page_path).await.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return items,
        }
    }
}

async fn a_killed_server_keeps_every_acknowledged_write(b: Backend) {
    let (url, _scratch) = fresh_database(b);
    let logs = TempDir::new();
    assert!(bootstrap(&url, "Acme", ADMIN, PASSWORD).status.success());
    let port = free_port();
    let served = Served::start(&url, port, &logs, Some(logs.path()));
    wait_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let admin = Arc::new(Client::sign_in_at(&base, ADMIN, PASSWORD).await);
    // A client, and so a grant, per chain: a reuse detected on one chain revokes its
    // whole grant, and must not take the others with it.
    let mut chains = Vec::new();
    for _ in 0..4 {
        let reg = Arc::new(register(&admin, false, &[crate::helpers::oauth::CALLBACK]).await);
        let tokens = authorize_at(&base, None, &admin, &reg, &["api:read"]).await;
        chains.push((reg, tokens.refresh_token().unwrap().secret().clone()));
    }

    // Half the workers stop just before the kill (their last writes were acknowledged
    // a moment before it); the other half are in the middle of a write when it comes.
    let (early, late) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut key_workers = Vec::new();
    for i in 0..4 {
        let stop = if i % 2 == 0 {
            early.clone()
        } else {
            late.clone()
        };
        key_workers.push(actix_web::rt::spawn(key_writes(admin.clone(), stop)));
    }
    let mut chain_workers = Vec::new();
    for (i, (reg, token)) in chains.into_iter().enumerate() {
        let stop = if i % 2 == 0 {
            early.clone()
        } else {
            late.clone()
        };
        let work = refreshes(base.clone(), reg.clone(), token, stop);
        chain_workers.push(actix_web::rt::spawn(async move { (reg, work.await) }));
    }
    actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
    early.store(true, Ordering::Relaxed);
    actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    let _ = served.stop(); // SIGKILL, while the late workers write
    late.store(true, Ordering::Relaxed);
    let mut ledger = Ledger::default();
    for w in key_workers {
        let l = w.await.unwrap();
        ledger.keys.extend(l.keys);
        ledger.deleted.extend(l.deleted);
        ledger.uncertain.extend(l.uncertain);
    }
    let mut chains = Vec::new();
    for w in chain_workers {
        chains.push(w.await.unwrap());
    }
    assert!(
        ledger.keys.len() >= 8,
        "too little load to mean anything: {}",
        ledger.keys.len()
    );
    println!(
        "killed mid-load ({b:?}): {} keys acknowledged live, {} acknowledged deleted, {} cut short; {} refresh chains",
        ledger.keys.len(),
        ledger.deleted.len(),
        ledger.uncertain.len(),
        chains.len()
    );

    // Back up on the same database.
    let port = free_port();
    let _served = Served::start(&url, port, &logs, Some(logs.path()));
    wait_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let admin = Client::sign_in_at(&base, ADMIN, PASSWORD).await;
    for (id, (secret, old)) in &ledger.keys {
        let res = admin.get(&format!("/api/v1/api-keys/{id}")).await;
        assert_eq!(res.status(), StatusCode::OK, "acknowledged key {id} lost");
        let key = Client::anonymous_at(&base);
        let with = |s: &str| {
            key.http
                .get(format!("{base}/api/v1/session"))
                .bearer_auth(s)
                .send()
        };
        assert_eq!(
            with(secret).await.unwrap().status(),
            StatusCode::OK,
            "the acknowledged secret of {id}"
        );
        for s in old {
            assert_eq!(
                with(s).await.unwrap().status(),
                StatusCode::UNAUTHORIZED,
                "a reset secret of {id}"
            );
        }
    }
    // Cut short: there or not, never an error.
    for id in &ledger.uncertain {
        let status = admin.get(&format!("/api/v1/api-keys/{id}")).await.status();
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{status}"
        );
    }
    for id in &ledger.deleted {
        let res = admin.get(&format!("/api/v1/api-keys/{id}")).await;
        assert_eq!(
            res.status(),
            StatusCode::NOT_FOUND,
            "acknowledged deletion of {id} undone"
        );
    }
    // Nothing half-done: every key there is was created whole, with its audit event
    // (written in the same transaction), including those whose answer never came.
    let audited: HashSet<String> = every(&admin, "/api/v1/audit-events?action=api_key.created")
        .await
        .iter()
        .filter_map(|e| e["target_id"].as_str().map(str::to_string))
        .collect();
    let listed = every(&admin, "/api/v1/api-keys").await;
    assert!(listed.len() >= ledger.keys.len());
    for key in &listed {
        let id = key["id"].as_str().unwrap();
        assert!(
            audited.contains(id),
            "key {id} exists without its audit event"
        );
    }
    // Refresh chains stopped before the kill: their last token works (once). Chains
    // cut mid-refresh: their last acknowledged token works, or — when the cut refresh
    // was committed without its answer arriving — it is a reuse, refused. Never 5xx.
    let http = crate::helpers::http_client();
    for (reg, (token, in_flight)) in chains {
        let res = http
            .post(format!("{base}/oauth/token"))
            .basic_auth(&reg.client_id, reg.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
            .send()
            .await
            .unwrap();
        if in_flight {
            assert!(
                res.status() == StatusCode::OK || res.status() == StatusCode::BAD_REQUEST,
                "{}",
                res.status()
            );
        } else {
            assert_eq!(
                res.status(),
                StatusCode::OK,
                "an acknowledged refresh token was lost"
            );
        }
    }
}

async fn sigterm_drains_the_request_in_flight_and_stops_cleanly(b: Backend) {
    let (url, _scratch) = fresh_database(b);
    let logs = TempDir::new();
    assert!(bootstrap(&url, "Acme", ADMIN, PASSWORD).status.success());
    let port = free_port();
    let mut served = Served::start(&url, port, &logs, Some(logs.path()));
    wait_ready(port).await;
    // A sign-in in flight: its head and half its body sent.
    let body = json!({"username": ADMIN, "password": PASSWORD}).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /api/v1/session HTTP/1.1\r\nHost: gatehouse\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{first}",
        body.len()
    )
    .unwrap();
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let pid = served.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;
    // New connections are refused meanwhile.
    let refused = crate::helpers::http_client()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await;
    assert!(refused.is_err(), "a new request was taken during the drain");
    // The request in flight is finished and answered.
    stream.write_all(rest.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Then the process ends by itself, cleanly.
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = served.child.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
    let status = status.expect("still running 10 s after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let (_, log) = served.stop();
    assert!(
        log.contains("stopped: requests drained, background work ended"),
        "{log}"
    );
}
