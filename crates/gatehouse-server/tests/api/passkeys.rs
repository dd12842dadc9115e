//! Passkeys through the API, with a software authenticator written here from the
//! WebAuthn spec (an ECDSA P-256 key, `none` attestation, CBOR by hand): registering,
//! signing in with a passkey alone and as the second step, sudo mode with one, and
//! every refusal — a replayed answer, another person's ceremony, a passkey that is
//! not registered, a signature that does not verify.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::TimeDelta;
use gatehouse_types::{PasskeyChallenge, Role, SecondStepRequired, SessionInfo};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::{Backend, Client, NewUser, TestApp, error_code, spawn_app_with};
use crate::two_step::PASSWORD;

both_backends!(
    a_passkey_signs_in_alone_and_as_the_second_step,
    passkey_answers_work_once_for_their_own_ceremony,
    sudo_mode_with_a_passkey,
);

/// The public URL the tests' authenticator answers for (WebAuthn needs a host name).
const ORIGIN: &str = "http://gatehouse.test";

async fn app(b: Backend) -> TestApp {
    spawn_app_with(b, |s| s.public_url = ORIGIN.into()).await
}

/// A platform authenticator holding one discoverable passkey.
struct SoftKey {
    key: EcdsaKeyPair,
    id: Vec<u8>,
    user_handle: Vec<u8>,
    counter: u32,
}

fn cbor_head(major: u8, n: usize) -> Vec<u8> {
    let m = major << 5;
    match n {
        0..=23 => vec![m | n as u8],
        24..=255 => vec![m | 24, n as u8],
        _ => vec![m | 25, (n >> 8) as u8, n as u8],
    }
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    [cbor_head(2, b.len()), b.to_vec()].concat()
}

fn cbor_text(s: &str) -> Vec<u8> {
    [cbor_head(3, s.len()), s.as_bytes().to_vec()].concat()
}

/// A small CBOR integer (negative ones as major type 1).
fn cbor_int(i: i64) -> Vec<u8> {
    if i >= 0 {
        cbor_head(0, i as usize)
    } else {
        cbor_head(1, (-1 - i) as usize)
    }
}

fn rp_hash() -> Vec<u8> {
    Sha256::digest(b"gatehouse.test").to_vec()
}

impl SoftKey {
    fn new() -> SoftKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref()).unwrap();
        SoftKey {
            key,
            id: uuid::Uuid::new_v4().as_bytes().to_vec(),
            user_handle: Vec::new(),
            counter: 0,
        }
    }

    fn client_data(kind: &str, options: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": options["publicKey"]["challenge"],
            "origin": ORIGIN,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// `navigator.credentials.create()`: the new credential, as `toJSON()` gives it.
    fn create(&mut self, options: &Value) -> Value {
        self.user_handle = B64
            .decode(options["publicKey"]["user"]["id"].as_str().unwrap())
            .unwrap();
        let public = self.key.public_key().as_ref(); // 0x04 || x || y
        let cose = [
            vec![0xa5],
            cbor_int(1),
            cbor_int(2), // kty: EC2
            cbor_int(3),
            cbor_int(-7), // alg: ES256
            cbor_int(-1),
            cbor_int(1), // crv: P-256
            cbor_int(-2),
            cbor_bytes(&public[1..33]),
            cbor_int(-3),
            cbor_bytes(&public[33..65]),
        ]
        .concat();
        // Flags: user present, user verified, attested credential data.
        let auth_data = [
            rp_hash(),
            vec![0x45],
            0u32.to_be_bytes().to_vec(),
            vec![0; 16],
            (self.id.len() as u16).to_be_bytes().to_vec(),
            self.id.clone(),
            cose,
        ]
        .concat();
        let attestation = [
            vec![0xa3],
            cbor_text("fmt"),
            cbor_text("none"),
            cbor_text("attStmt"),
            vec![0xa0],
            cbor_text("authData"),
            cbor_bytes(&auth_data),
        ]
        .concat();
        json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {
                "attestationObject": B64.encode(attestation),
                "clientDataJSON": B64.encode(Self::client_data("webauthn.create", options)),
            },
            "extensions": {},
        })
    }

    /// `navigator.credentials.get()`: a signed answer to the challenge.
    fn get(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let auth_data = [rp_hash(), vec![0x05], self.counter.to_be_bytes().to_vec()].concat();
        let client_data = Self::client_data("webauthn.get", options);
        let signed = [auth_data.clone(), Sha256::digest(&client_data).to_vec()].concat();
        let signature = self.key.sign(&SystemRandom::new(), &signed).unwrap();
        json!({
            "id": B64.encode(&self.id),
            "rawId": B64.encode(&self.id),
            "type": "public-key",
            "response": {
                "authenticatorData": B64.encode(auth_data),
                "clientDataJSON": B64.encode(client_data),
                "signature": B64.encode(signature.as_ref()),
                "userHandle": B64.encode(&self.user_handle),
            },
            "extensions": {},
        })
    }
}

/// Registers a passkey for the signed-in `user`; the recovery codes if it was their
/// first second step.
async fn register(user: &Client, key: &mut SoftKey, name: &str) -> Value {
    let res = user
        .post("/api/v1/me/second-factors/passkey", &json!({}))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let challenge: PasskeyChallenge = res.json().await.unwrap();
    assert_eq!(
        challenge.options["publicKey"]["authenticatorSelection"]["residentKey"],
        "required"
    );
    let res = user
        .post(
            &format!("/api/v1/me/second-factors/passkey/{}", challenge.id),
            &json!({"name": name, "credential": key.create(&challenge.options)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

/// Signs in with a passkey alone: the answer and the browser that got it.
async fn passkey_sign_in(app: &TestApp, key: &mut SoftKey) -> (Client, reqwest::Response) {
    let c = app.anonymous();
    let res = c.post("/api/v1/session/passkey", &json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let challenge: PasskeyChallenge = res.json().await.unwrap();
    let res = c
        .post(
            &format!("/api/v1/session/passkey/{}", challenge.id),
            &json!({"credential": key.get(&challenge.options)}),
        )
        .await;
    (c, res)
}

async fn a_passkey_signs_in_alone_and_as_the_second_step(b: Backend) {
    let app = app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        username,
        ..
    } = app.user(&admin, Role::Editor).await;
    let other = app.sign_in(&username, PASSWORD).await;
    let mut key = SoftKey::new();
    let done = register(&ada, &mut key, "Laptop").await;
    assert_eq!(done["factor"]["kind"], "passkey");
    assert_eq!(done["recovery_codes"].as_array().unwrap().len(), 10);
    // The first second step signed out the session with the password alone.
    assert_eq!(
        other.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let listed = ada.get_json("/api/v1/me/second-factors").await;
    assert_eq!(listed["items"][0]["name"], "Laptop");
    assert_eq!(listed["items"][0]["kind"], "passkey");

    // A passkey alone: signed in, and as two factors (no password asked).
    let (mut c, res) = passkey_sign_in(&app, &mut key).await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: SessionInfo = res.json().await.unwrap();
    assert_eq!(info.user.username, username);
    c.csrf = info.csrf_token;
    assert_eq!(c.get("/api/v1/me").await.status(), StatusCode::OK);
    let used = ada.get_json("/api/v1/me/second-factors").await;
    assert!(!used["items"][0]["last_used_at"].is_null());

    // The password now asks for a second step, and names the passkey among them.
    let anon = app.anonymous();
    let res = anon.try_sign_in(&username, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let owed: SecondStepRequired = res.json().await.unwrap();
    assert_eq!(owed.methods, ["passkey", "recovery_code"]);
    let options = owed.passkey_options.clone().expect("a passkey challenge");
    let allowed = &options["publicKey"]["allowCredentials"];
    assert_eq!(allowed[0]["id"], B64.encode(&key.id));
    // A wrong signature is a wrong second step.
    let mut forged = key.get(&options);
    forged["response"]["signature"] = json!(B64.encode([0x30, 0x06, 2, 1, 1, 2, 1, 1]));
    let res = anon
        .post(
            "/api/v1/session/second-step",
            &json!({"second_step_token": owed.second_step_token, "passkey": forged}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_second_step");
    // Something that is not a credential at all: 422, nothing spent.
    let res = anon
        .post(
            "/api/v1/session/second-step",
            &json!({"second_step_token": owed.second_step_token, "passkey": {"id": 1}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = anon
        .post(
            "/api/v1/session/second-step",
            &json!({"second_step_token": owed.second_step_token, "passkey": key.get(&options)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let info: SessionInfo = res.json().await.unwrap();
    assert_eq!(info.user.username, username);

    // Someone guessing her password locks password sign-in; her passkey still works.
    for _ in 0..10 {
        let res = app
            .anonymous()
            .try_sign_in(&username, "not her password!")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = app.anonymous().try_sign_in(&username, PASSWORD).await;
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "password sign-in is locked"
    );
    let (_, res) = passkey_sign_in(&app, &mut key).await;
    assert_eq!(res.status(), StatusCode::OK);
    // A passkey nobody registered signs no one in.
    let (_, res) = passkey_sign_in(&app, &mut SoftKey::new()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "invalid_credentials");
    // Removed, it stops.
    let id = listed["items"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        ada.delete(&format!("/api/v1/me/second-factors/{id}"))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let (_, res) = passkey_sign_in(&app, &mut key).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn passkey_answers_work_once_for_their_own_ceremony(b: Backend) {
    let app = app(b).await;
    let admin = app.admin().await;
    let NewUser { client: ada, .. } = app.user(&admin, Role::Editor).await;
    let NewUser { client: bob, .. } = app.user(&admin, Role::Editor).await;
    let mut key = SoftKey::new();
    register(&ada, &mut key, "Laptop").await;
    // Bob cannot finish a registration Ada started.
    let res = ada
        .post("/api/v1/me/second-factors/passkey", &json!({}))
        .await;
    let started: PasskeyChallenge = res.json().await.unwrap();
    let mut bobs = SoftKey::new();
    let res = bob
        .post(
            &format!("/api/v1/me/second-factors/passkey/{}", started.id),
            &json!({"name": "Mine", "credential": bobs.create(&started.options)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Ada's own key again is refused (the challenge excluded it): still one passkey.
    let mut again = SoftKey {
        key: EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_ASN1_SIGNING,
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .unwrap()
                .as_ref(),
        )
        .unwrap(),
        id: key.id.clone(),
        user_handle: Vec::new(),
        counter: 0,
    };
    let res = ada
        .post(
            &format!("/api/v1/me/second-factors/passkey/{}", started.id),
            &json!({"name": "Again", "credential": again.create(&started.options)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let listed = ada.get_json("/api/v1/me/second-factors").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // An answer works once: replayed, it signs no one in.
    let c = app.anonymous();
    let res = c.post("/api/v1/session/passkey", &json!({})).await;
    let challenge: PasskeyChallenge = res.json().await.unwrap();
    let answer = key.get(&challenge.options);
    let path = format!("/api/v1/session/passkey/{}", challenge.id);
    let res = c.post(&path, &json!({"credential": answer})).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .anonymous()
        .post(&path, &json!({"credential": answer}))
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // An answer to another challenge does not verify against this one.
    let res = c.post("/api/v1/session/passkey", &json!({})).await;
    let fresh: PasskeyChallenge = res.json().await.unwrap();
    let res = app
        .anonymous()
        .post(
            &format!("/api/v1/session/passkey/{}", fresh.id),
            &json!({"credential": answer}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // A challenge answered too late.
    let res = c.post("/api/v1/session/passkey", &json!({})).await;
    let late: PasskeyChallenge = res.json().await.unwrap();
    app.state.clock.advance(TimeDelta::minutes(6));
    let res = app
        .anonymous()
        .post(
            &format!("/api/v1/session/passkey/{}", late.id),
            &json!({"credential": key.get(&late.options)}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Not a credential: 422.
    let res = app
        .anonymous()
        .post(
            &format!("/api/v1/session/passkey/{}", fresh.id),
            &json!({"credential": "x"}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn sudo_mode_with_a_passkey(b: Backend) {
    let app = app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: ada,
        username: ada_name,
        ..
    } = app.user(&admin, Role::Editor).await;
    let NewUser { client: bob, .. } = app.user(&admin, Role::Editor).await;
    let mut key = SoftKey::new();
    register(&ada, &mut key, "Laptop").await;
    let mut bobs = SoftKey::new();
    register(&bob, &mut bobs, "Bob's").await;
    let NewUser { client: eve, .. } = app.user(&admin, Role::Editor).await;
    app.state.clock.advance(TimeDelta::minutes(11));
    let full = json!({"name": "deploy", "permission": "full_access"});
    assert_eq!(
        error_code(ada.post("/api/v1/api-keys", &full).await).await,
        "sudo_required"
    );
    // The password alone is not enough for a person with a second step…
    let res = ada
        .post("/api/v1/session/sudo", &json!({"password": PASSWORD}))
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // …but a passkey alone is. Not Bob's answer to Ada's challenge, though.
    let res = ada.post("/api/v1/session/sudo/passkey", &json!({})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let challenge: PasskeyChallenge = res.json().await.unwrap();
    let bob_answer = json!({"passkey": {"ceremony_id": challenge.id, "credential": bobs.get(&challenge.options)}});
    let res = bob.post("/api/v1/session/sudo", &bob_answer).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "not bob's ceremony");
    let res = ada.post("/api/v1/session/sudo", &bob_answer).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "not ada's passkey");
    let answer = json!({"passkey": {"ceremony_id": challenge.id, "credential": key.get(&challenge.options)}});
    let res = ada.post("/api/v1/session/sudo", &answer).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        ada.post("/api/v1/api-keys", &full).await.status(),
        StatusCode::CREATED
    );
    // A locked password does not stop a passkey from confirming.
    app.state.clock.advance(TimeDelta::minutes(11));
    for _ in 0..10 {
        let res = app
            .anonymous()
            .try_sign_in(&ada_name, "not her password!")
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = ada.post("/api/v1/session/sudo/passkey", &json!({})).await;
    let again: PasskeyChallenge = res.json().await.unwrap();
    let res = ada
        .post(
            "/api/v1/session/sudo",
            &json!({"passkey": {"ceremony_id": again.id, "credential": key.get(&again.options)}}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // Spent: the same answer again confirms nothing.
    app.state.clock.advance(TimeDelta::minutes(11));
    let res = ada.post("/api/v1/session/sudo", &answer).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Someone without a passkey gets a plain refusal.
    let res = eve.post("/api/v1/session/sudo/passkey", &json!({})).await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}
