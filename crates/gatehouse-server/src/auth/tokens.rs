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
/// The OpenID Connect `sid` of a browser session, as apps see it (id_tokens, logout
/// tokens): derived from the session's id, which stays Gatehouse's own (the
/// re-authentication mark is built from it).
pub fn sid(session_id: &str) -> String {
    let digest = Sha256::digest(format!("gatehouse-sid:{session_id}").as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters in a checksummed secret: 40 base62 characters, about 238 bits.
const RANDOM_CHARS: usize = 40;
/// The CRC32 of the random part, in base62, zero-padded: 62^6 > 2^32.
const CHECKSUM_CHARS: usize = 6;

/// A secret that secret scanners recognise and that we can reject offline before any
/// database work: `prefix` + 40 random base62 characters + the 6-character base62 CRC32
/// of those 40 characters. Used for API keys (`gatk_`) and client secrets (`gats_`).
pub fn checksummed_secret(prefix: &str) -> String {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_CHARS)
        .map(|_| BASE62[rand::Rng::random_range(&mut rng, 0..BASE62.len())] as char)
        .collect();
    format!("{prefix}{random}{}", crc_base62(&random))
}

/// Whether `secret` has the shape and a valid checksum of a `prefix` secret.
pub fn has_valid_checksum(prefix: &str, secret: &str) -> bool {
    let Some(body) = secret.strip_prefix(prefix) else {
        return false;
    };
    if body.len() != RANDOM_CHARS + CHECKSUM_CHARS
        || !body.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let (random, checksum) = body.split_at(RANDOM_CHARS);
    constant_time_eq(&crc_base62(random), checksum)
}

/// What lists show instead of a secret: the prefix and the last four characters.
pub fn hint(prefix: &str, secret: &str) -> String {
    let tail: String = secret
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{prefix}…{tail}")
}

fn crc_base62(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| b as char).collect()
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
    fn checksummed_secrets_have_the_documented_shape() {
        let s = checksummed_secret("gatk_");
        assert_eq!(s.len(), 5 + 40 + 6);
        assert!(s.starts_with("gatk_"));
        assert!(s[5..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(has_valid_checksum("gatk_", &s));
        assert!(!has_valid_checksum("gats_", &s));
        // Any single changed character breaks the checksum.
        let mut broken = s.clone().into_bytes();
        broken[10] = if broken[10] == b'a' { b'b' } else { b'a' };
        assert!(!has_valid_checksum(
            "gatk_",
            &String::from_utf8(broken).unwrap()
        ));
        assert!(!has_valid_checksum("gatk_", "gatk_short"));
        assert!(!has_valid_checksum("gatk_", &format!("{s}x")));
        assert_eq!(hint("gatk_", &s), format!("gatk_…{}", &s[s.len() - 4..]));
    }

    #[test]
    fn the_checksum_is_crc32_in_base62() {
        // CRC32("123456789") = 0xCBF43926 = 3421780262 = base62 "3jZRME".
        assert_eq!(crc_base62("123456789"), "3jZRME");
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
