//! Signed tokens: JWT access tokens (RFC 9068, Ed25519) and OpenID Connect id_tokens
//! (RS256, which OpenID Connect requires every provider to support and which generic
//! client libraries accept without configuration). The keys live in the database, so
//! every replica signs and verifies with the same keys.
//!
//! For each algorithm one key is current (the newest not retired); keys retired less
//! than `RETIRED_KEY_GRACE` ago stay published in the JWKS and keep verifying, so
//! tokens signed before a rotation live out their hour. A token with an unknown `kid`
//! makes the process reload the keys (at most once per `RELOAD_INTERVAL`), which is how
//! a rotation on one replica reaches the others.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::clock;
use crate::config::Settings;
use crate::db::DbConnection;
use crate::db::oauth::{self as store, NewSigningKey, SigningKeyRow};

pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// Longer than any token lives, so a rotation never breaks a valid token.
const RETIRED_KEY_GRACE: TimeDelta = TimeDelta::hours(25);
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);
const ED25519: &str = "EdDSA";
const RS256: &str = "RS256";

/// The claims of an access token. `grant` and `generation` tie it to the grant it was
/// issued under, which the resource side checks on every request.
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

struct Current {
    kid: String,
}

/// The current RSA key, parsed once into aws-lc's key pair (native, constant-time RSA
/// with CRT): parsing and checking a 2048-bit key costs more than a signature, and the
/// pure-Rust `rsa` crate's signing was 4 ms a token.
struct RsaSigner {
    kid: String,
    key: aws_lc_rs::signature::RsaKeyPair,
}

struct KeySet {
    ed25519: Current,
    /// The same Ed25519 key, parsed once into aws-lc's key pair: `jsonwebtoken` would
    /// re-derive it from PKCS#8 (a scalar multiplication) on every signature, and
    /// aws-lc signs in a third of the time of the pure-Rust `ed25519-dalek`.
    ed25519_signer: aws_lc_rs::signature::Ed25519KeyPair,
    rsa: Option<RsaSigner>,
    decoding: HashMap<String, (Algorithm, DecodingKey)>,
    jwks: Vec<Value>,
    verified: Arc<Verified>,
}

/// Access tokens this key set has verified, by the SHA-256 of the whole token: a
/// resource server asks about the same token on every call it receives, and an
/// Ed25519 verification costs more than the rest of an introspection. Only a token
/// whose signature checked out is ever stored, under the digest of its exact bytes, so
/// no other string can match it; an entry is used only until the token expires, and
/// goes with its key set: a reload that finds the same published keys keeps it, a
/// change of them (a rotation adds keys; a retired key's grace ends) starts empty.
/// The grant behind a token is still checked on every request.
#[derive(Default)]
struct Verified(RwLock<HashMap<[u8; 32], Arc<AccessClaims>>>);

/// At most this many verified tokens are remembered (about 4 MB); when full, expired
/// ones are dropped, and if that is not enough it starts over empty.
const MAX_VERIFIED: usize = 10_000;

/// Seconds an access token is still accepted after its `exp`, as clocks differ.
const EXPIRY_LEEWAY: i64 = 30;

impl Verified {
    fn get(&self, digest: &[u8; 32], now: i64) -> Option<Arc<AccessClaims>> {
        let claims = self.0.read().ok()?.get(digest)?.clone();
        (claims.exp + EXPIRY_LEEWAY >= now).then_some(claims)
    }

    fn insert(&self, digest: [u8; 32], claims: Arc<AccessClaims>, now: i64) {
        let Ok(mut tokens) = self.0.write() else {
            return;
        };
        if tokens.len() >= MAX_VERIFIED {
            tokens.retain(|_, c| c.exp + EXPIRY_LEEWAY >= now);
            if tokens.len() >= MAX_VERIFIED {
                tokens.clear();
            }
        }
        tokens.insert(digest, claims);
    }
}

pub struct SigningKeys {
    issuer: String,
    audience: String,
    keys: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Instant>,
    reloads: std::sync::atomic::AtomicU64,
}

/// The PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410): a fixed prefix, then the seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

fn kid_of(public: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(&Sha256::digest(public)[..12])
}

fn store_key(
    conn: &mut DbConnection,
    algorithm: &str,
    private: &[u8],
    public: &str,
    kid: &str,
) -> anyhow::Result<()> {
    store::insert_signing_key(
        conn,
        &NewSigningKey {
            id: kid,
            algorithm,
            private_key: &STANDARD.encode(private),
            public_key: public,
            created_at: clock::system_now(),
        },
    )?;
    Ok(())
}

/// Creates a new Ed25519 key (for access tokens) and stores it as current.
pub fn create_ed25519_key(conn: &mut DbConnection) -> anyhow::Result<String> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let public = {
        use aws_lc_rs::signature::KeyPair;
        ed25519_from_seed(&seed)?.public_key().as_ref().to_vec()
    };
    let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
    pkcs8.extend_from_slice(&seed);
    let kid = kid_of(&public);
    store_key(conn, ED25519, &pkcs8, &URL_SAFE_NO_PAD.encode(public), &kid)?;
    Ok(kid)
}

/// Creates a new RSA-2048 key (for id_tokens) with aws-lc and stores it as current:
/// the private key as PKCS#8, the public key as `n.e`, each base64url, as a JWK has
/// them. The stored bytes are parsed back before they are written, so a key this
/// process cannot sign with never becomes current.
pub fn create_rsa_key(conn: &mut DbConnection) -> anyhow::Result<String> {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::KeyPair;
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .map_err(|e| anyhow::anyhow!("generating an RSA key: {e}"))?;
    let der = key
        .as_der()
        .map_err(|e| anyhow::anyhow!("encoding an RSA key: {e}"))?;
    let parsed = parse_rsa(der.as_ref())?;
    let public = parsed.public_key();
    let n = public.modulus().big_endian_without_leading_zero();
    let e = public.exponent().big_endian_without_leading_zero();
    let encoded = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(n),
        URL_SAFE_NO_PAD.encode(e)
    );
    let kid = kid_of(n);
    store_key(conn, RS256, der.as_ref(), &encoded, &kid)?;
    Ok(kid)
}

/// A stored RSA private key: PKCS#8 (written since aws-lc generates the keys) or
/// PKCS#1 (`RSAPrivateKey`, what databases from before hold).
fn parse_rsa(der: &[u8]) -> anyhow::Result<aws_lc_rs::signature::RsaKeyPair> {
    aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der)
        .or_else(|_| aws_lc_rs::signature::RsaKeyPair::from_der(der))
        .map_err(|e| anyhow::anyhow!("not an RSA private key aws-lc accepts: {e}"))
}

/// Makes new keys current; the previous ones stay published for their grace period.
pub fn rotate(conn: &mut DbConnection) -> anyhow::Result<Vec<String>> {
    crate::db::transaction(conn, |conn| {
        let kids = vec![create_ed25519_key(conn)?, create_rsa_key(conn)?];
        store::retire_signing_keys(conn, &kids, clock::system_now())?;
        Ok(kids)
    })
}

/// Makes a new current key of `algorithm` when none this process can sign with is left,
/// and retires the current ones it could not use: they stay published through the
/// grace period, for what they signed when they were whole, then leave the JWKS — an
/// unusable key is never trusted for longer than a rotated one.
fn replace_unusable(
    conn: &mut DbConnection,
    algorithm: &str,
    create: fn(&mut DbConnection) -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    crate::db::transaction(conn, |conn| {
        let kid = create(conn)?;
        store::retire_other_signing_keys(conn, algorithm, &kid, clock::system_now())?;
        Ok(kid)
    })
}

/// Why the keys could not be loaded: `NoAccessTokenKey` on a database that has no
/// usable Ed25519 key yet (make one), anything else is an error to report, never a
/// reason to write keys.
enum LoadError {
    NoAccessTokenKey,
    Failed(anyhow::Error),
}

impl From<diesel::result::Error> for LoadError {
    fn from(e: diesel::result::Error) -> Self {
        LoadError::Failed(e.into())
    }
}

impl LoadError {
    fn into_anyhow(self) -> anyhow::Error {
        match self {
            LoadError::NoAccessTokenKey => anyhow::anyhow!("no current Ed25519 signing key"),
            LoadError::Failed(e) => e,
        }
    }
}

fn ed25519_signer(r: &SigningKeyRow) -> anyhow::Result<aws_lc_rs::signature::Ed25519KeyPair> {
    let der = STANDARD.decode(&r.private_key)?;
    let seed: [u8; 32] = der
        .strip_prefix(&PKCS8_ED25519_PREFIX[..])
        .and_then(|s| s.try_into().ok())
        .context("not a PKCS#8 Ed25519 key")?;
    ed25519_from_seed(&seed)
}

fn ed25519_from_seed(seed: &[u8; 32]) -> anyhow::Result<aws_lc_rs::signature::Ed25519KeyPair> {
    aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(seed)
        .map_err(|e| anyhow::anyhow!("not an Ed25519 seed: {e}"))
}

fn rsa_signer(r: &SigningKeyRow) -> anyhow::Result<RsaSigner> {
    let der = STANDARD.decode(&r.private_key)?;
    Ok(RsaSigner {
        kid: r.id.clone(),
        key: parse_rsa(&der)?,
    })
}

/// The newest current (not retired) key of `algorithm` this process can sign with. A
/// stored key that does not parse is logged and passed over — one bad row must not stop
/// every replica from starting or from reloading its keys — and a newer good key, or
/// one made because none is left, takes its place.
fn newest_usable<T>(
    rows: &[SigningKeyRow],
    algorithm: &str,
    parse: impl Fn(&SigningKeyRow) -> anyhow::Result<T>,
) -> Option<(String, T)> {
    rows.iter()
        .filter(|r| r.algorithm == algorithm && r.retired_at.is_none())
        .find_map(|r| match parse(r) {
            Ok(key) => Some((r.id.clone(), key)),
            Err(e) => {
                tracing::error!(kid = %r.id, algorithm, "a stored signing key is unusable, passed over: {e:#}");
                None
            }
        })
}

fn load(conn: &mut DbConnection) -> Result<KeySet, LoadError> {
    let rows: Vec<SigningKeyRow> =
        store::signing_keys(conn, clock::system_now() - RETIRED_KEY_GRACE)?;
    let (ed_kid, ed25519_signer) =
        newest_usable(&rows, ED25519, ed25519_signer).ok_or(LoadError::NoAccessTokenKey)?;
    let rsa = newest_usable(&rows, RS256, rsa_signer).map(|(_, signer)| signer);
    let mut decoding = HashMap::new();
    let mut jwks = Vec::new();
    for r in &rows {
        let published = match r.algorithm.as_str() {
            ED25519 => DecodingKey::from_ed_components(&r.public_key).map(|key| {
                (
                    (Algorithm::EdDSA, key),
                    json!({
                        "kty": "OKP", "crv": "Ed25519", "x": r.public_key, "kid": r.id, "use": "sig", "alg": "EdDSA",
                    }),
                )
            }),
            RS256 => {
                let (n, e) = r.public_key.split_once('.').unwrap_or((&r.public_key, ""));
                DecodingKey::from_rsa_components(n, e).map(|key| {
                    (
                        (Algorithm::RS256, key),
                        json!({
                            "kty": "RSA", "n": n, "e": e, "kid": r.id, "use": "sig", "alg": "RS256",
                        }),
                    )
                })
            }
            _ => continue,
        };
        match published {
            Ok((decoding_key, jwk)) => {
                decoding.insert(r.id.clone(), decoding_key);
                jwks.push(jwk);
            }
            Err(e) => {
                tracing::error!(kid = %r.id, "a stored public key is unusable, not published: {e}")
            }
        }
    }
    Ok(KeySet {
        ed25519: Current { kid: ed_kid },
        ed25519_signer,
        rsa,
        decoding,
        jwks,
        verified: Arc::default(),
    })
}

/// For `gatehouse doctor`: whether the stored keys load, without making any.
pub fn check(conn: &mut DbConnection) -> anyhow::Result<String> {
    let set = load(conn).map_err(LoadError::into_anyhow)?;
    let rsa = if set.rsa.is_some() {
        "id_tokens by an RS256 key"
    } else {
        "no RS256 key for id_tokens yet"
    };
    Ok(format!(
        "access tokens signed by Ed25519 key {}, {rsa}; {} keys published",
        set.ed25519.kid,
        set.jwks.len()
    ))
}

impl SigningKeys {
    /// Loads the keys, creating the first one on a new database.
    pub fn load_or_create(
        conn: &mut DbConnection,
        settings: &Settings,
    ) -> anyhow::Result<SigningKeys> {
        // Replicas starting together on an empty database take turns, so that they all
        // find the same keys: otherwise each would make its own, and one replica's
        // tokens would be refused by the other until its next reload.
        let keys = crate::db::startup_transaction(conn, Self::load_or_create_keys)?;
        Ok(SigningKeys {
            issuer: settings.public_url.clone(),
            audience: format!("{}/api/v1", settings.public_url),
            keys: RwLock::new(Arc::new(keys)),
            last_reload: Mutex::new(Instant::now()),
            reloads: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The published keys, after making the missing ones.
    fn load_or_create_keys(conn: &mut DbConnection) -> anyhow::Result<KeySet> {
        let mut keys = match load(conn) {
            Ok(k) => k,
            Err(LoadError::NoAccessTokenKey) => {
                replace_unusable(conn, ED25519, create_ed25519_key)?;
                load(conn).map_err(LoadError::into_anyhow)?
            }
            Err(LoadError::Failed(e)) => return Err(e),
        };
        // Both keys exist from the start: OpenID Connect clients fetch the JWKS once,
        // at discovery, and must find the id_token key there.
        if keys.rsa.is_none() {
            replace_unusable(conn, RS256, create_rsa_key)?;
            keys = load(conn).map_err(LoadError::into_anyhow)?;
        }
        Ok(keys)
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

    /// Re-reads the keys now; run every half minute so a rotation elsewhere changes the
    /// signing key here too.
    pub fn refresh(&self, conn: &mut DbConnection) -> anyhow::Result<()> {
        self.replace(conn)
    }

    fn replace(&self, conn: &mut DbConnection) -> anyhow::Result<()> {
        let mut fresh = load(conn).map_err(LoadError::into_anyhow)?;
        // The same published keys verify the same tokens: what the old set verified
        // carries over (a reload every 30 s, or one an unknown `kid` asks for, does not
        // make every token be verified again).
        if let Some(current) = self.current()
            && current.jwks == fresh.jwks
        {
            fresh.verified = current.verified.clone();
        }
        let fresh = Arc::new(fresh);
        if let Ok(mut keys) = self.keys.write() {
            *keys = fresh;
        }
        Ok(())
    }

    /// Whether a token with an unknown `kid` may make this process re-read the keys
    /// now: at most once per `RELOAD_INTERVAL`, decided before any work, so a flood of
    /// made-up `kid`s costs one read every few seconds, not one per request.
    pub fn claim_reload(&self) -> bool {
        let Ok(mut last) = self.last_reload.lock() else {
            return false;
        };
        if last.elapsed() < RELOAD_INTERVAL {
            return false;
        }
        *last = Instant::now();
        self.reloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        true
    }

    /// How many times an unknown `kid` has made this process re-read the keys.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn has_rsa(&self) -> bool {
        self.current().is_some_and(|k| k.rsa.is_some())
    }

    /// Makes sure an RSA key exists for id_tokens.
    pub fn ensure_rsa(&self, conn: &mut DbConnection) -> anyhow::Result<()> {
        if self.current().is_some_and(|k| k.rsa.is_some()) {
            return Ok(());
        }
        // Another replica may have made one already.
        self.replace(conn)?;
        if self.current().is_some_and(|k| k.rsa.is_some()) {
            return Ok(());
        }
        replace_unusable(conn, RS256, create_rsa_key)?;
        self.replace(conn)
    }

    /// Signs an access token (EdDSA, `typ: at+jwt`).
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> anyhow::Result<String> {
        let keys = self.current().context("signing keys unavailable")?;
        // A compact JWS (RFC 7515 §7.1), as `jsonwebtoken` would write it, signed with
        // the already expanded key.
        let header = json!({"typ": typ, "alg": "EdDSA", "kid": keys.ed25519.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let signature = keys.ed25519_signer.sign(input.as_bytes());
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Signs an OpenID Connect id_token (RS256, `typ: JWT`). Call `ensure_rsa` first.
    pub fn sign_id_token<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        self.sign_rs256("JWT", claims)
    }

    /// A Back-Channel Logout token (`typ: logout+jwt`, §2.4), signed as id_tokens are.
    pub fn sign_logout_token<T: Serialize>(&self, claims: &T) -> anyhow::Result<String> {
        self.sign_rs256("logout+jwt", claims)
    }

    fn sign_rs256<T: Serialize>(&self, typ: &str, claims: &T) -> anyhow::Result<String> {
        let keys = self.current().context("signing keys unavailable")?;
        let rsa = keys.rsa.as_ref().context("no RSA signing key yet")?;
        let header = json!({"typ": typ, "alg": "RS256", "kid": rsa.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let mut signature = vec![0; rsa.key.public_modulus_len()];
        rsa.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|e| anyhow::anyhow!("RS256 signing failed: {e}"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// Checks an access token: `typ: at+jwt`, EdDSA signature by a published key, our
    /// issuer and audience, not expired. The grant is checked by the caller.
    pub fn verify_access(&self, token: &str) -> Result<Arc<AccessClaims>, VerifyError> {
        let keys = self.current().ok_or(VerifyError::UnknownKey)?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now().timestamp();
        if let Some(claims) = keys.verified.get(&digest, now) {
            return Ok(claims);
        }
        let claims = Arc::new(Self::verify_with(
            &keys,
            &self.issuer,
            &self.audience,
            token,
        )?);
        keys.verified.insert(digest, claims.clone(), now);
        Ok(claims)
    }

    fn verify_with(
        keys: &KeySet,
        issuer: &str,
        audience: &str,
        token: &str,
    ) -> Result<AccessClaims, VerifyError> {
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
        let key = match header.kid.as_deref().and_then(|kid| keys.decoding.get(kid)) {
            Some((Algorithm::EdDSA, key)) => key,
            Some(_) => return Err(VerifyError::Invalid("unexpected key".into())),
            None => return Err(VerifyError::UnknownKey),
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = EXPIRY_LEEWAY as u64;
        jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }

    /// The claims of an id_token this server issued, as an `id_token_hint` (RP-Initiated
    /// Logout §2): RS256 by a published key and our issuer; expired ones are accepted,
    /// as the specification allows, since apps log people out long after sign-in.
    /// `None` for anything else.
    pub fn verify_id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        let keys = self.current()?;
        let header = jsonwebtoken::decode_header(token).ok()?;
        // An id_token (`typ: JWT`), never a logout token (`logout+jwt`) passed off as one.
        if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some("JWT") {
            return None;
        }
        let key = match keys.decoding.get(header.kid.as_deref()?)? {
            (Algorithm::RS256, key) => key,
            _ => return None,
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<IdTokenHint>(token, key, &validation)
            .ok()
            .map(|d| d.claims)
            .filter(|c| c.events.is_none())
    }

    /// The JSON Web Key Set: the current keys and those still in their grace period.
    pub fn jwks(&self) -> Value {
        let keys = self.current().map(|k| k.jwks.clone()).unwrap_or_default();
        json!({ "keys": keys })
    }
}

/// What an `id_token_hint` says: who, for which client, in which Gatehouse session.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct IdTokenHint {
    pub sub: String,
    /// The client id (id_tokens have one audience).
    pub aud: String,
    #[serde(default)]
    pub sid: Option<String>,
    /// Only logout tokens have it.
    #[serde(default)]
    pub events: Option<Value>,
}

#[cfg(test)]
mod verified_tests {
    use super::*;

    fn claims(exp: i64) -> Arc<AccessClaims> {
        Arc::new(AccessClaims {
            iss: "https://issuer.example".into(),
            aud: "https://issuer.example/api".into(),
            sub: "user".into(),
            exp,
            iat: exp - 3600,
            jti: "jti".into(),
            client_id: "client".into(),
            scope: "api:read".into(),
            grant: "grant".into(),
            generation: 1,
        })
    }

    /// A remembered verification holds until the token expires (with the leeway the
    /// full check allows), and only for the exact digest it was stored under.
    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let verified = Verified::default();
        let now = 1_800_000_000;
        verified.insert([1; 32], claims(now), now);
        assert!(verified.get(&[1; 32], now).is_some());
        assert!(verified.get(&[1; 32], now + EXPIRY_LEEWAY).is_some());
        assert!(verified.get(&[1; 32], now + EXPIRY_LEEWAY + 1).is_none());
        assert!(verified.get(&[2; 32], now).is_none());
    }

    /// Full: expired entries go first; the newest verification is always kept.
    #[test]
    fn a_full_memory_drops_expired_tokens() {
        let verified = Verified::default();
        let now = 1_800_000_000;
        for i in 0..MAX_VERIFIED {
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let exp = if i % 2 == 0 { now - 3600 } else { now + 3600 };
            verified.insert(digest, claims(exp), now);
        }
        verified.insert([9; 32], claims(now + 3600), now);
        let kept = verified.0.read().unwrap().len();
        assert_eq!(kept, MAX_VERIFIED / 2 + 1);
        assert!(verified.get(&[9; 32], now).is_some());
    }
}
