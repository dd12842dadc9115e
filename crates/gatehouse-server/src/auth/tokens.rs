//! Random secrets and how they are kept: generated from the OS's CSPRNG, stored only as
//! SHA-256 (HMAC-SHA-256 with the server pepper when one is configured), compared in
//! constant time. These secrets have 256 bits of entropy, so a fast hash is right; a
//! password hash on this path would only slow every request down.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::secret::SecretString;

/// Hashes secrets for storage and lookup.
#[derive(Clone)]
pub struct TokenHasher {
    pepper: Option<Vec<u8>>,
}

impl std::fmt::Debug for TokenHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenHasher")
            .field("peppered", &self.pepper.is_some())
            .finish()
    }
}

impl TokenHasher {
    pub fn new(pepper: Option<&SecretString>) -> Self {
        TokenHasher {
            pepper: pepper.map(|p| p.expose().as_bytes().to_vec()),
        }
    }

    /// The lowercase hex digest under which a secret is stored and looked up.
    pub fn hash(&self, secret: &str) -> String {
        let digest: Vec<u8> = match &self.pepper {
            Some(key) => {
                // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
                match Hmac::<Sha256>::new_from_slice(key) {
                    Ok(mut mac) => {
                        mac.update(secret.as_bytes());
                        mac.finalize().into_bytes().to_vec()
                    }
                    Err(_) => Sha256::digest(secret.as_bytes()).to_vec(),
                }
            }
            None => Sha256::digest(secret.as_bytes()).to_vec(),
        };
        hex(&digest)
    }

    /// The CSRF token of a session: derived from the session's secret, so it needs no
    /// storage, cannot be guessed without the cookie, and dies with the session.
    pub fn csrf_token(&self, session_token: &str) -> String {
        let digest = Sha256::digest(format!("gatehouse-csrf:{}", self.hash(session_token)));
        URL_SAFE_NO_PAD.encode(digest)
    }
}

/// `n` random bytes from the OS generator, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_sha256_or_hmac_with_pepper() {
        let plain = TokenHasher::new(None);
        assert_eq!(
            plain.hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let peppered = TokenHasher::new(Some(&SecretString::new("pepper")));
        assert_ne!(peppered.hash("abc"), plain.hash("abc"));
        assert_eq!(peppered.hash("abc").len(), 64);
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
        assert!(constant_time_eq(&a, &a.clone()));
        assert!(!constant_time_eq(&a, &random_token(32)));
    }
}
