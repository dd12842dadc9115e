//! One-time codes from an authenticator app: RFC 6238 TOTP as every such app reads it
//! from an `otpauth://` URI — HMAC-SHA-1 over 30-second steps, 6 digits, a 160-bit
//! secret in base32 (RFC 4648, no padding).
//!
//! A code is accepted for the step it was made in or the one before or after (clocks
//! drift, people type slowly), and only for a step later than the last one used with
//! the same secret: a code seen over someone's shoulder is spent.

use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// Seconds per step.
pub const STEP: i64 = 30;
pub const DIGITS: usize = 6;
const SECRET_BYTES: usize = 20;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A fresh random secret, base32.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    base32(&bytes)
}

/// The URI an authenticator app scans: `otpauth://totp/Issuer:account?…`.
pub fn otpauth_uri(issuer: &str, account: &str, secret: &str) -> String {
    // Percent-encoded (a space as %20 in the label, where `+` would be a plus).
    let enc = |s: &str| {
        url::form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    format!(
        "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
        enc(issuer),
        enc(account),
        enc(secret),
        enc(issuer),
    )
}

/// The step `code` was made in, if it matches `secret` within a step of `unix_time`
/// and comes after `last_step`. Every candidate is computed and compared in constant
/// time, whatever matches.
pub fn verify(secret: &str, code: &str, unix_time: i64, last_step: Option<i64>) -> Option<i64> {
    let key = from_base32(secret)?;
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let now = unix_time.div_euclid(STEP);
    let mut found = None;
    for step in [now - 1, now, now + 1] {
        let expected = code_at(&key, step);
        let matches: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        let fresh = last_step.is_none_or(|last| step > last);
        if matches && fresh && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// The code for `step` (RFC 4226 §5.3's dynamic truncation).
pub fn code_at(key: &[u8], step: i64) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&key, &step.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    format!(
        "{:0width$}",
        binary % 10u32.pow(DIGITS as u32),
        width = DIGITS
    )
}

fn base32(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Base32 as apps show it: case, spaces and padding do not matter. `None` for anything
/// else.
pub fn from_base32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
    {
        let value = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 vectors (8 digits there; the last 6 here).
    #[test]
    fn rfc_6238_vectors() {
        let key = b"12345678901234567890";
        for (time, eight) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(code_at(key, time / STEP), eight[2..], "at {time}");
        }
    }

    #[test]
    fn base32_round_trips_and_reads_what_apps_show() {
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        let bytes = from_base32(&secret).unwrap();
        assert_eq!(bytes.len(), SECRET_BYTES);
        assert_eq!(base32(&bytes), secret);
        assert_eq!(from_base32("MZXW 6YTB oi======").unwrap(), b"foobar");
        assert_eq!(from_base32("not base32!"), None);
    }

    #[test]
    fn codes_match_a_step_either_side_once() {
        let secret = new_secret();
        let key = from_base32(&secret).unwrap();
        let t = 1_800_000_000;
        let now = t / STEP;
        let code = code_at(&key, now);
        assert_eq!(verify(&secret, &code, t, None), Some(now));
        assert_eq!(
            verify(&secret, &code, t + STEP, None),
            Some(now),
            "a step late"
        );
        assert_eq!(verify(&secret, &code, t + 2 * STEP, None), None, "two late");
        assert_eq!(verify(&secret, &code, t, Some(now)), None, "spent");
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert_eq!(verify(&secret, &spaced, t, None), Some(now));
        assert_eq!(verify(&secret, "000000x", t, None), None);
    }

    #[test]
    fn the_uri_names_issuer_and_account() {
        let uri = otpauth_uri("Gatehouse", "ada@example.com", "ABC");
        assert!(
            uri.starts_with(
                "otpauth://totp/Gatehouse:ada%40example.com?secret=ABC&issuer=Gatehouse"
            ),
            "{uri}"
        );
    }
}
