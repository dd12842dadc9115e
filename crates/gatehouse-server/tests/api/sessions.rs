//! Sign-in, the session cookie, CSRF, expiry, lockout and sign-out.

use std::time::{Duration, Instant};

use chrono::TimeDelta;
use diesel::prelude::*;
use gatehouse_server::db::schema::{sessions, users};
use gatehouse_types::{Role, SessionInfo};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{
    ADMIN_PASSWORD, Backend, IssuedKey, NewUser, error_code, spawn_app, succeeded,
};

both_backends!(
    people_see_their_sessions_and_end_the_others,
    sign_in_sets_a_hardened_cookie_and_returns_the_csrf_token,
    behind_https_the_cookie_is_host_only_and_browsers_keep_to_https,
    signing_in_again_ends_the_browsers_earlier_session,
    whoami_reports_the_session_credential,
    unsafe_requests_need_the_csrf_token,
    sign_out_ends_the_session,
    unknown_user_and_wrong_password_look_the_same,
    unknown_user_costs_as_much_as_a_wrong_password,
    failed_sign_ins_lock_password_sign_in_only,
    an_admins_lock_stops_everything_until_lifted,
    parallel_guesses_cannot_exceed_the_lockout_threshold,
    password_lock_lifts_by_itself_after_fifteen_minutes,
    an_abandoned_attempt_cannot_lock_sign_in_for_ever,
    failed_sign_ins_are_throttled_per_address,
    parallel_guesses_from_one_address_stop_at_its_limit,
    idle_and_absolute_expiry_end_sessions,
    disabled_users_lose_their_sessions_at_once,
    a_bad_header_credential_is_not_rescued_by_a_good_cookie,
    sessions_are_stored_hashed,
);

async fn sign_in_sets_a_hardened_cookie_and_returns_the_csrf_token(b: Backend) {
    let app = spawn_app(b).await;
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username.to_uppercase(), "password": ADMIN_PASSWORD}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly"));
    assert!(cookie.contains("SameSite=Lax"));
    assert!(cookie.contains("Path=/"));
    // Plain http on loopback: a Secure cookie would never come back.
    assert!(!cookie.contains("Secure"));
    let info: SessionInfo = res.json().await.unwrap();
    assert_eq!(info.user.username, app.admin_username);
    assert_eq!(info.user.role, Role::Admin);
    assert_eq!(info.subscription.name, "Acme");
    assert!(info.csrf_token.unwrap().len() >= 32);
}

/// Behind https the cookie is `__Host-gatehouse_session` (Secure, Path=/, no Domain: a
/// neighbouring subdomain can neither plant nor overwrite it), only that name is read,
/// and every answer carries `Strict-Transport-Security`.
async fn behind_https_the_cookie_is_host_only_and_browsers_keep_to_https(b: Backend) {
    let app = crate::helpers::spawn_app_with(b, |s| {
        s.public_url = "https://gatehouse.example.com".into();
    })
    .await;
    let http = reqwest::Client::new();
    let res = http
        .post(app.url("/api/v1/session"))
        .json(&json!({"username": app.admin_username, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("__Host-gatehouse_session="), "{cookie}");
    assert!(
        cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.to_lowercase().contains("domain="), "{cookie}");
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string();
    let me = |name: &str| {
        http.get(app.url("/api/v1/me"))
            .header("Cookie", format!("{name}={token}"))
            .send()
    };
    assert_eq!(
        me("__Host-gatehouse_session").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        me("gatehouse_session").await.unwrap().status(),
        StatusCode::UNAUTHORIZED,
        "the plain name is not read behind https"
    );
    // A planted cookie cannot stand in for it: a percent-encoded name (which browsers
    // do not hold to the `__Host-` rules) is not the name, and a name sent twice is no
    // session at all.
    assert_eq!(
        me("__Host%2Dgatehouse_session").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let twice = http
        .get(app.url("/api/v1/me"))
        .header(
            "Cookie",
            format!("__Host-gatehouse_session={token}; __Host-gatehouse_session={token}"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::UNAUTHORIZED);
    // Every answer, not only sign-in, keeps browsers on https.
    let health = http.get(app.url("/healthz")).send().await.unwrap();
    assert!(health.headers().contains_key("strict-transport-security"));
    // On plain http there is no such header (it would be ignored, and is not sent).
    let plain = spawn_app(b).await;
    let health = http.get(plain.url("/healthz")).send().await.unwrap();
    assert!(!health.headers().contains_key("strict-transport-security"));
}

/// A browser that signs in again (perhaps as someone else) gives up its earlier
/// session: that cookie, wherever a copy of it is, answers 401 from then on.
async fn signing_in_again_ends_the_browsers_earlier_session(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { username, .. } = app.user(&admin, Role::Viewer).await;
    let browser = app.sign_in(&username, "a password of some length").await;
    let first = browser.session_token.clone().expect("a session cookie");
    let copy = |token: &str| {
        reqwest::Client::new()
            .get(app.url("/api/v1/me"))
            .header("Cookie", format!("gatehouse_session={token}"))
            .send()
    };
    assert_eq!(copy(&first).await.unwrap().status(), StatusCode::OK);
    // The same browser (its cookie jar sends the first cookie along) signs in again.
    let res = browser
        .try_sign_in(&username, "a password of some length")
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let second = res.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("gatehouse_session=")
        .to_string();
    assert_ne!(second, first);
    assert_eq!(
        copy(&first).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(copy(&second).await.unwrap().status(), StatusCode::OK);
    let events = admin
        .get_json("/api/v1/audit-events?scope=all&action=session.signed_out&limit=5")
        .await;
    assert_eq!(events["items"][0]["details"]["reason"], "signed_in_again");
    // Another browser's session of the same person is not touched.
    let elsewhere = app.sign_in(&username, "a password of some length").await;
    assert_eq!(elsewhere.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(copy(&second).await.unwrap().status(), StatusCode::OK);
}

async fn whoami_reports_the_session_credential(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin.get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["credential"]["kind"], "session");
    assert_eq!(v["csrf_token"].as_str(), admin.csrf.as_deref());
    assert_eq!(v["user"]["id"], app.admin_id.as_str());
    let me: Value = admin.get_json("/api/v1/me").await;
    assert_eq!(me["username"], app.admin_username.as_str());
    assert!(me.get("password_hash").is_none());
}

async fn unsafe_requests_need_the_csrf_token(b: Backend) {
    let app = spawn_app(b).await;
    let mut admin = app.admin().await;
    let good = admin.csrf.clone();
    admin.csrf = None;
    let res = admin
        .patch("/api/v1/me", &json!({"display_name": "Mallory"}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "csrf_failed");
    admin.csrf = Some("not-the-token".into());
    let res = admin
        .patch("/api/v1/me", &json!({"display_name": "Mallory"}))
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(res).await, "csrf_failed");
    // Nothing changed.
    let me: Value = admin.get_json("/api/v1/me").await;
    assert_eq!(me["display_name"], app.admin_username.as_str());
    admin.csrf = good;
    let res = admin
        .patch("/api/v1/me", &json!({"display_name": "Ada"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = admin.get_json("/api/v1/me").await;
    assert_eq!(me["display_name"], "Ada");
}

async fn sign_out_ends_the_session(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    // Keep a copy of the cookie, as a thief would.
    let stolen = admin.session_token.clone().unwrap();
    let replay = || {
        crate::helpers::http_client()
            .get(app.url("/api/v1/session"))
            .header("Cookie", format!("gatehouse_session={stolen}"))
            .send()
    };
    assert_eq!(replay().await.unwrap().status(), StatusCode::OK);
    let res = admin.delete("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = res.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let res = admin.get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthenticated");
    // The server forgot the session: the copied cookie is dead too.
    let res = replay().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "session_expired");
    let audit: Value = app.admin().await.get_json("/api/v1/audit-events").await;
    assert!(
        audit["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "session.signed_out")
    );
}

async fn unknown_user_and_wrong_password_look_the_same(b: Backend) {
    let app = spawn_app(b).await;
    let c = app.anonymous();
    let wrong = c.try_sign_in(&app.admin_username, "not the password").await;
    let unknown = c
        .try_sign_in("nobody@example.com", "not the password")
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers().get("set-cookie").is_none());
    let wrong: Value = wrong.json().await.unwrap();
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], "invalid_credentials");
}

/// Not a speed target: a guard against the unknown-user path skipping the hash (it
/// would then be hundreds of times faster, far outside these wide bounds).
async fn unknown_user_costs_as_much_as_a_wrong_password(b: Backend) {
    // At the real argon2 cost, which is what hides the difference: at the suite's cheap
    // one the database work of a known name would show.
    let app = crate::helpers::spawn_app_with(b, |s| {
        s.password_cost = gatehouse_server::config::PasswordCost::Owasp
    })
    .await;
    let c = app.anonymous();
    async fn median(c: &crate::helpers::Client, username: &str) -> Duration {
        let mut times = Vec::new();
        // Nine of each: a stable median, and 18 failures stay within one address's
        // budget of 20 before it is throttled.
        for _ in 0..9 {
            let t = Instant::now();
            let res = c.try_sign_in(username, "not the password").await;
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            times.push(t.elapsed());
        }
        times.sort();
        times[4]
    }
    // Raise the lockout threshold so the known user is not locked midway.
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"login_lockout_threshold": 100}),
            )
            .await,
    );
    let known = median(&c, &app.admin_username).await;
    let unknown = median(&c, "nobody@example.com").await;
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (0.33..3.0).contains(&ratio),
        "unknown {unknown:?} vs known {known:?}"
    );
}

/// The audit actions recorded so far, newest first.
async fn audit_actions(admin: &crate::helpers::Client) -> Vec<Value> {
    let audit: Value = admin.get_json("/api/v1/audit-events?limit=200").await;
    audit["items"].as_array().unwrap().clone()
}

fn count_action(events: &[Value], action: &str, target: &str) -> usize {
    events
        .iter()
        .filter(|e| e["action"] == action && e["target_id"] == target)
        .count()
}

async fn failed_sign_ins_lock_password_sign_in_only(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({"login_lockout_threshold": 3}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let NewUser {
        client: victim,
        id: victim_id,
        username: victim_name,
    } = app.user(&admin, Role::Editor).await;
    let IssuedKey { secret: key, .. } = app.api_key(&victim, "read_only").await;
    let c = app.anonymous();
    for _ in 0..3 {
        let res = c.try_sign_in(&victim_name, "guess guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Password sign-in is locked: the right password no longer works...
    let res = c
        .try_sign_in(&victim_name, "a password of some length")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_credentials");
    // ...but the guesser stopped nothing else: the open session and the key still work.
    assert_eq!(victim.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        app.with_key(&key).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    let user: Value = admin.get_json(&format!("/api/v1/users/{victim_id}")).await;
    assert_eq!(user["state"], "active");
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(user["password_locked_until"].clone()).unwrap();
    let left = until - chrono::Utc::now();
    assert!(
        left > TimeDelta::minutes(14) && left <= TimeDelta::minutes(15),
        "{left}"
    );
    let events = audit_actions(&admin).await;
    assert_eq!(count_action(&events, "user.locked", &victim_id), 1);
    let locked = events
        .iter()
        .find(|e| e["action"] == "user.locked")
        .unwrap();
    assert_eq!(locked["details"]["reason"], "failed_sign_ins");
    assert_eq!(
        count_action(&events, "session.sign_in_failed", &victim_id),
        4
    );

    // The admin unlocks (audited); the right password works again.
    let res = admin
        .patch(
            &format!("/api/v1/users/{victim_id}"),
            &json!({"state": "active"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let user: Value = res.json().await.unwrap();
    assert!(user["password_locked_until"].is_null());
    let events = audit_actions(&admin).await;
    let unlocked: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "user.unlocked" && e["target_id"] == victim_id.as_str())
        .collect();
    assert_eq!(unlocked.len(), 1);
    assert_eq!(unlocked[0]["details"]["reason"], "admin");
    app.sign_in(&victim_name, "a password of some length").await;
}

async fn an_admins_lock_stops_everything_until_lifted(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: victim,
        id: victim_id,
        username: victim_name,
    } = app.user(&admin, Role::Editor).await;
    let IssuedKey { secret: key, .. } = app.api_key(&victim, "read_only").await;
    let reg =
        crate::helpers::oauth::register(&admin, false, &[crate::helpers::oauth::CALLBACK]).await;
    let tokens = crate::helpers::oauth::authorize(&app, &victim, &reg, &["api:read"]).await;
    let refresh = {
        use oauth2::TokenResponse;
        tokens.refresh_token().unwrap().secret().clone()
    };
    let refresh_once = || async {
        reqwest::Client::new()
            .post(app.url("/oauth/token"))
            .basic_auth(&reg.client_id, reg.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .send()
            .await
            .unwrap()
            .status()
    };
    let res = admin
        .patch(
            &format!("/api/v1/users/{victim_id}"),
            &json!({"state": "locked"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["state"], "locked");
    // At once: the session is gone, the key refused, and so is the right password.
    assert_eq!(
        victim.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app.with_key(&key).get("/api/v1/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "user_inactive");
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": victim_name, "password": "a password of some length"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // An admin's lock does not lapse by itself: a day later it holds (and the admin,
    // whose session has ended meanwhile, signs in again).
    app.state.clock.advance(TimeDelta::days(1));
    let admin = app.admin().await;
    let res = app.with_key(&key).get("/api/v1/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // The app's refresh is refused, without spending the token.
    assert_eq!(refresh_once().await, StatusCode::BAD_REQUEST);
    let events = audit_actions(&admin).await;
    let locked = events
        .iter()
        .find(|e| e["action"] == "user.locked" && e["target_id"] == victim_id.as_str())
        .unwrap();
    assert_eq!(locked["details"]["reason"], "admin");
    // Lifted: the key works again (it was never deleted), and so does the password.
    let res = admin
        .patch(
            &format!("/api/v1/users/{victim_id}"),
            &json!({"state": "active"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.with_key(&key).get("/api/v1/me").await.status(),
        StatusCode::OK
    );
    // The app retries with the same refresh token: it works (no replay was seen).
    assert_eq!(refresh_once().await, StatusCode::OK);
    app.sign_in(&victim_name, "a password of some length").await;
    let events = audit_actions(&admin).await;
    assert_eq!(count_action(&events, "user.unlocked", &victim_id), 1);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["action"] == "oauth_refresh_token.reused")
            .count(),
        0
    );
}

/// The attempt that reaches the threshold may never report back (its client hung up
/// while the hash was checked), and an admin may lower the threshold below someone's
/// count: either way the count stands at or over the threshold with no lock. The next
/// attempt locks, for the usual fifteen minutes — never for ever.
async fn an_abandoned_attempt_cannot_lock_sign_in_for_ever(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"login_lockout_threshold": 3}),
            )
            .await,
    );
    let NewUser {
        id: victim_id,
        username: victim_name,
        ..
    } = app.user(&admin, Role::Viewer).await;
    app.with_db(|conn| {
        diesel::update(users::table.find(&victim_id))
            .set(users::failed_sign_ins.eq(3))
            .execute(conn)
            .unwrap()
    });
    let c = app.anonymous();
    let res = c
        .try_sign_in(&victim_name, "a password of some length")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let user: Value = admin.get_json(&format!("/api/v1/users/{victim_id}")).await;
    assert!(user["password_locked_until"].is_string(), "{user}");
    let events = audit_actions(&admin).await;
    assert_eq!(count_action(&events, "user.locked", &victim_id), 1);
    // It lapses like any lock.
    app.state
        .clock
        .advance(TimeDelta::minutes(15) + TimeDelta::seconds(1));
    app.sign_in(&victim_name, "a password of some length").await;
}

async fn password_lock_lifts_by_itself_after_fifteen_minutes(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"login_lockout_threshold": 1}),
            )
            .await,
    );
    let NewUser {
        id: victim_id,
        username: victim_name,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let c = app.anonymous();
    c.try_sign_in(&victim_name, "wrong wrong wrong").await;
    let res = c
        .try_sign_in(&victim_name, "a password of some length")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Fourteen minutes later (a minute left): still locked.
    app.state.clock.advance(TimeDelta::minutes(14));
    let res = c
        .try_sign_in(&victim_name, "a password of some length")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Sixteen minutes later: the lock has lapsed; the next sign-in works, and the
    // lapse is in the audit log.
    app.state.clock.advance(TimeDelta::minutes(2));
    let user: Value = admin.get_json(&format!("/api/v1/users/{victim_id}")).await;
    assert_eq!(user["state"], "active");
    assert!(user["password_locked_until"].is_null());
    app.sign_in(&victim_name, "a password of some length").await;
    let events = audit_actions(&admin).await;
    let unlocked: Vec<_> = events
        .iter()
        .filter(|e| e["action"] == "user.unlocked" && e["target_id"] == victim_id.as_str())
        .collect();
    assert_eq!(unlocked.len(), 1, "{events:?}");
    assert_eq!(unlocked[0]["details"]["reason"], "lapsed");
    assert!(unlocked[0]["actor_id"].is_null() || unlocked[0]["actor_id"] == victim_id.as_str());
}

/// A sprayer trying many usernames from one address is slowed there, and nowhere else.
async fn failed_sign_ins_are_throttled_per_address(b: Backend) {
    let app = spawn_app(b).await;
    let sprayer = app.anonymous_from("127.0.0.2");
    for i in 0..20 {
        let res = sprayer
            .post(
                "/api/v1/session",
                &json!({"username": format!("guess-{i}@example.com"), "password": "spring 2026 spring"}),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // From that address, even the right password now waits.
    let res = sprayer
        .try_sign_in(&app.admin_username, ADMIN_PASSWORD)
        .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert_eq!(error_code(res).await, "rate_limited");
    // Everyone else signs in as usual, and the admin was never locked.
    app.admin().await;
}

/// Eighty wrong passwords sent at once from one address: no more than the address's
/// limit (20) reach a password check, the rest wait (429) before any hashing, and
/// everyone else signs in meanwhile.
async fn parallel_guesses_from_one_address_stop_at_its_limit(b: Backend) {
    let app = spawn_app(b).await;
    let sprayer = app.anonymous_from("127.0.0.3");
    let bodies: Vec<Value> = (0..80)
        .map(|i| json!({"username": format!("guess-{i}@example.com"), "password": "spring 2026 spring"}))
        .collect();
    let guesses: Vec<_> = bodies
        .iter()
        .map(|body| sprayer.post("/api/v1/session", body))
        .collect();
    let (mut refused, mut waited) = (0, 0);
    for res in futures_util::future::join_all(guesses).await {
        match res.status() {
            StatusCode::UNAUTHORIZED => refused += 1,
            StatusCode::TOO_MANY_REQUESTS => waited += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!((refused, waited), (20, 60), "checked, then waited");
    // Another address is not held up, and a success gives its count back: twenty-one
    // sign-ins in a row from one address all work.
    let other = app.anonymous_from("127.0.0.4");
    for _ in 0..21 {
        let res = other.try_sign_in(&app.admin_username, ADMIN_PASSWORD).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

async fn idle_and_absolute_expiry_end_sessions(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let res = admin
        .patch(
            "/api/v1/subscription",
            &json!({"session_idle_minutes": 30, "session_max_hours": 2}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let idle = app.user(&admin, Role::Viewer).await.client;
    let old = app.user(&admin, Role::Viewer).await.client;
    let expired = |res: reqwest::Response| async move {
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(res).await, "session_expired");
    };
    // `old` is busy all along (a request every 20 minutes); `idle` is not.
    let minutes = |m| app.state.clock.advance(TimeDelta::minutes(m));
    minutes(20);
    assert_eq!(old.get("/api/v1/session").await.status(), StatusCode::OK);
    minutes(11);
    // Unused for 31 minutes: ended.
    expired(idle.get("/api/v1/session").await).await;
    assert_eq!(old.get("/api/v1/session").await.status(), StatusCode::OK);
    for _ in 0..4 {
        minutes(20);
        assert_eq!(old.get("/api/v1/session").await.status(), StatusCode::OK);
    }
    let fresh = app.admin().await;
    minutes(10);
    // Used ten minutes ago, but signed in 121 minutes ago: ended.
    expired(old.get("/api/v1/session").await).await;
    // A session signed in since goes on.
    assert_eq!(fresh.get("/api/v1/session").await.status(), StatusCode::OK);
}

async fn disabled_users_lose_their_sessions_at_once(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        username,
    } = app.user(&admin, Role::Editor).await;
    assert_eq!(user.get("/api/v1/me").await.status(), StatusCode::OK);
    let res = admin
        .patch(
            &format!("/api/v1/users/{user_id}"),
            &json!({"state": "disabled"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<Value>().await.unwrap()["state"], "disabled");
    assert_eq!(
        user.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": username, "password": "a password of some length"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Re-enabled, they can sign in again.
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{user_id}"),
                &json!({"state": "active"}),
            )
            .await,
    );
    app.sign_in(&username, "a password of some length").await;
}

async fn a_bad_header_credential_is_not_rescued_by_a_good_cookie(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    for (name, value) in [
        ("Authorization", "Bearer gatk_nonsense"),
        ("ZSESSIONID", "nonsense"),
    ] {
        let res = admin
            .request(reqwest::Method::GET, "/api/v1/session")
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{name}");
        assert!(res.headers().get("www-authenticate").is_some());
    }
    assert_eq!(admin.get("/api/v1/session").await.status(), StatusCode::OK);
}

/// Sessions are stored as hashes, and passwords at the real argon2id cost (the
/// suite's other servers hash cheaply).
async fn sessions_are_stored_hashed(b: Backend) {
    let app = crate::helpers::spawn_app_with(b, |s| {
        s.password_cost = gatehouse_server::config::PasswordCost::Owasp
    })
    .await;
    let res = app
        .anonymous()
        .post(
            "/api/v1/session",
            &json!({"username": app.admin_username, "password": ADMIN_PASSWORD}),
        )
        .await;
    let cookie = res
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("gatehouse_session=")
        .to_string();
    let stored: Vec<String> = app.with_db(|conn| {
        sessions::table
            .select(sessions::token_hash)
            .load(conn)
            .unwrap()
    });
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token);
    assert!(!stored[0].contains(&token));
    assert_eq!(stored[0].len(), 64);
    let hashes: Vec<String> = app.with_db(|conn| {
        users::table
            .select(users::password_hash)
            .load(conn)
            .unwrap()
    });
    assert!(
        hashes
            .iter()
            .all(|h| h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"))
    );
}

async fn parallel_guesses_cannot_exceed_the_lockout_threshold(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/subscription",
                &json!({"login_lockout_threshold": 3}),
            )
            .await,
    );
    let NewUser {
        id: victim_id,
        username: victim_name,
        ..
    } = app.user(&admin, Role::Viewer).await;
    let c = app.anonymous();
    let body = json!({"username": victim_name, "password": "guess guess guess"});
    let guesses: Vec<_> = (0..12).map(|_| c.post("/api/v1/session", &body)).collect();
    for res in futures_util::future::join_all(guesses).await {
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Only three guesses were ever checked against the password; the rest were
    // refused unchecked, and password sign-in is locked.
    let audit: Value = admin
        .get_json("/api/v1/audit-events?action=session.sign_in_failed&limit=200")
        .await;
    let checked = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["target_id"] == victim_id.as_str() && e["details"]["reason"] == "wrong_password"
        })
        .count();
    assert_eq!(checked, 3);
    let user: Value = admin.get_json(&format!("/api/v1/users/{victim_id}")).await;
    assert_eq!(user["state"], "active");
    assert!(user["password_locked_until"].is_string());
    let res = c
        .try_sign_in(&victim_name, "a password of some length")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

/// The account page's sessions: each browser with when and from where, the current one
/// marked; one ended, then every other; never someone else's.
async fn people_see_their_sessions_and_end_the_others(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: laptop,
        username,
        ..
    } = app.user(&admin, Role::Editor).await;
    let phone = app.sign_in(&username, "a password of some length").await;
    let tablet = app.sign_in(&username, "a password of some length").await;
    let listed: Vec<gatehouse_types::BrowserSession> = laptop
        .get("/api/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed.iter().filter(|s| s.current).count(), 1);
    assert!(listed.iter().all(|s| s.amr == ["pwd"] && s.ip.is_some()));
    // Never a token or a hash in the list.
    let raw = laptop.get_json("/api/v1/me/sessions").await.to_string();
    for token in [&phone.session_token, &tablet.session_token] {
        assert!(!raw.contains(token.as_deref().unwrap()));
    }
    // Someone else's session is not theirs to end: a 404, and it goes on.
    let admins: Vec<gatehouse_types::BrowserSession> =
        admin.get("/api/v1/me/sessions").await.json().await.unwrap();
    let res = laptop
        .delete(&format!("/api/v1/me/sessions/{}", admins[0].id))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(admin.get("/api/v1/me").await.status(), StatusCode::OK);
    // The phone ends the tablet.
    let phone_view: Vec<gatehouse_types::BrowserSession> =
        phone.get("/api/v1/me/sessions").await.json().await.unwrap();
    let mine = phone_view.iter().find(|s| s.current).unwrap().id.clone();
    let first_other = listed.iter().find(|s| !s.current && s.id != mine).unwrap();
    let res = phone
        .delete(&format!("/api/v1/me/sessions/{}", first_other.id))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // Then "sign out everywhere else" from the laptop: the phone ends too.
    let res = laptop.delete("/api/v1/me/sessions").await;
    assert_eq!(res.status(), StatusCode::OK);
    let ended: gatehouse_types::SessionsEnded = res.json().await.unwrap();
    assert_eq!(ended.sessions_ended, 1);
    assert_eq!(
        phone.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        tablet.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(laptop.get("/api/v1/me").await.status(), StatusCode::OK);
    let left: Vec<gatehouse_types::BrowserSession> = laptop
        .get("/api/v1/me/sessions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].current);
    // Audited as sign-outs, and only a session may do it (not a key).
    let events = admin
        .get_json("/api/v1/audit-events?action=session.signed_out")
        .await;
    assert!(events["items"].as_array().unwrap().len() >= 2);
    let key = app.api_key(&laptop, "full_access").await;
    let res = app.with_key(&key.secret).get("/api/v1/me/sessions").await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
