//! JWT access tokens (RFC 9068) signed with Ed25519 keys kept in the database, so that
//! every replica signs and verifies with the same keys.
//!
//! One key is current (the newest not retired); keys retired less than
//! `RETIRED_KEY_GRACE` ago stay published in the JWKS and keep verifying, so tokens
//! signed before a rotation live out their hour. A token with an unknown `kid` makes
//! the process reload the keys from the database (at most once per `RELOAD_INTERVAL`),
//! which is how a rotation on one replica reaches the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::store::{self, NewSigningKey, SigningKeyRow};
use crate::clock;
use crate::config::Settings;
use crate::db::DbConnection;

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Longer than any token lives, so a rotation never breaks a valid token.
const RETIRED_KEY_GRACE: TimeDelta = TimeDelta::hours(25);
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

/// The claims of an access token. `grant` and `gen` tie it to the grant it was issued
/// under, which the resource side checks on every request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    pub scope: String,
    pub grant: String,
    pub generation: i64,
}

#[derive(Debug)]
pub enum VerifyError {
    /// Signed by a key this process does not know (yet).
    UnknownKey,
    /// Anything else: malformed, bad signature, wrong `typ`, issuer, audience, expired.
    Invalid(String),
}

struct KeySet {
    current_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    jwks: Vec<Value>,
}

pub struct SigningKeys {
    issuer: String,
    audience: String,
    keys: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Instant>,
}

/// The PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed prefix, then the seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Creates a new Ed25519 key and stores it as the current one.
pub fn create_key(conn: &mut DbConnection) -> anyhow::Result<String> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
    pkcs8.extend_from_slice(&seed);
    let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12]);
    store::insert_signing_key(
        conn,
        &NewSigningKey {
            id: &kid,
            algorithm: "EdDSA",
            private_key: &STANDARD.encode(&pkcs8),
            public_key: &URL_SAFE_NO_PAD.encode(public),
            created_at: clock::now(),
        },
    )?;
    Ok(kid)
}

/// Makes a new key current; the previous ones stay published for their grace period.
pub fn rotate(conn: &mut DbConnection) -> anyhow::Result<String> {
    crate::db::transaction(conn, |conn| {
        let kid = create_key(conn)?;
        store::retire_signing_keys(conn, &kid, clock::now())?;
        Ok(kid)
    })
}

fn load(conn: &mut DbConnection) -> anyhow::Result<KeySet> {
    let rows: Vec<SigningKeyRow> = store::signing_keys(conn, clock::now() - RETIRED_KEY_GRACE)?;
    let current = rows
        .iter()
        .find(|r| r.retired_at.is_none())
        .context("no current signing key")?;
    let mut decoding = HashMap::new();
    let mut jwks = Vec::new();
    for r in &rows {
        decoding.insert(
            r.id.clone(),
            DecodingKey::from_ed_components(&r.public_key).context("a stored public key")?,
        );
        jwks.push(json!({
            "kty": "OKP", "crv": "Ed25519", "x": r.public_key, "kid": r.id, "use": "sig", "alg": "EdDSA",
        }));
    }
    Ok(KeySet {
        current_kid: current.id.clone(),
        encoding: EncodingKey::from_ed_der(&STANDARD.decode(&current.private_key)?),
        decoding,
        jwks,
    })
}

impl SigningKeys {
    /// Loads the keys, creating the first one on a new database.
    pub fn load_or_create(
        conn: &mut DbConnection,
        settings: &Settings,
    ) -> anyhow::Result<SigningKeys> {
        let keys = match load(conn) {
            Ok(k) => k,
            Err(_) => {
                create_key(conn)?;
                load(conn)?
            }
        };
        Ok(SigningKeys {
            issuer: settings.public_url.clone(),
            audience: format!("{}/api/v1", settings.public_url),
            keys: RwLock::new(Arc::new(keys)),
            last_reload: Mutex::new(Instant::now()),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.keys.read().ok().map(|k| k.clone())
    }

    /// Re-reads the keys from the database, unless that happened moments ago.
    pub fn reload(&self, conn: &mut DbConnection) -> anyhow::Result<bool> {
        {
            let mut last = self
                .last_reload
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?;
            if last.elapsed() < RELOAD_INTERVAL {
                return Ok(false);
            }
            *last = Instant::now();
        }
        let fresh = Arc::new(load(conn)?);
        if let Ok(mut keys) = self.keys.write() {
            *keys = fresh;
        }
        Ok(true)
    }

    /// Signs claims with the current key and the given `typ`.
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> anyhow::Result<String> {
        let keys = self.current().context("signing keys unavailable")?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_string());
        header.kid = Some(keys.current_kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &keys.encoding)?)
    }

    /// Checks an access token: `typ: at+jwt`, EdDSA signature by a published key, our
    /// issuer and audience, not expired. The grant is checked by the caller.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| VerifyError::Invalid(format!("malformed token: {e}")))?;
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)
                || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(VerifyError::Invalid("not an access token (typ)".into()));
        }
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::Invalid("unexpected algorithm".into()));
        }
        let keys = self.current().ok_or(VerifyError::UnknownKey)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| keys.decoding.get(kid))
            .ok_or(VerifyError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }

    /// The JSON Web Key Set: the current key and those still in their grace period.
    pub fn jwks(&self) -> Value {
        let keys = self.current().map(|k| k.jwks.clone()).unwrap_or_default();
        json!({ "keys": keys })
    }
}
