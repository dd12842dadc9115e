//! PKCE (RFC 7636) with S256 only: the challenge an authorization request carries, and
//! the verifier its token request must prove it with.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::auth::tokens;

/// 43 to 128 characters of `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2): the shape of a
/// verifier, and of an S256 challenge.
pub fn well_formed(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `verifier` proves `challenge`: `BASE64URL(SHA256(verifier)) == challenge`,
/// compared in constant time.
pub fn verifies(challenge: &str, verifier: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed(verifier) && tokens::constant_time_eq(&computed, challenge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(well_formed(verifier) && well_formed(challenge));
        assert!(verifies(challenge, verifier));
        assert!(!verifies(challenge, &verifier.replace('d', "e")));
        assert!(!well_formed("short"));
    }
}
