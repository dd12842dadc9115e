//! Property tests of every parser an attacker reaches: secret and token formats, scope
//! strings, protocol parameters with repeats, redirect URI matching, JWTs with forged
//! headers, pagination cursors and CSV cells. Each runs [`CASES`] generated inputs (set
//! `PROPTEST_CASES` to run more); none may panic, and each checks what the parser
//! decides, not only that it returns.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

use crate::auth::jwt::{AccessClaims, SigningKeys};
use crate::auth::{client, scopes, tokens};
use crate::oauth::params::{Params, ParamsError};
use crate::pagination::{PageParams, encode_cursor, time_key};

/// Cases per property: thousands, as CI runs them.
const CASES: u32 = 2_000;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        ..ProptestConfig::default()
    }
}

/// Any text, with the characters parsers trip on over-represented.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        "[a-zA-Z0-9_=&%+.:/?#|\\- ]{0,80}",
    ]
}

proptest! {
    #![proptest_config(config())]

    // Secrets: a generated secret always passes its offline check; any one character
    // changed, any prefix or length other than its own, never does.
    #[test]
    fn secret_checksums(index in 0usize..46, replacement in "[0-9A-Za-z]", junk in text()) {
        let secret = tokens::checksummed_secret("gatk_");
        prop_assert!(tokens::has_valid_checksum("gatk_", &secret));
        prop_assert!(!tokens::has_valid_checksum("gats_", &secret));
        let mut chars: Vec<char> = secret.chars().collect();
        let at = 5 + index;
        let new = replacement.chars().next().unwrap();
        prop_assume!(chars[at] != new);
        chars[at] = new;
        let changed: String = chars.into_iter().collect();
        prop_assert!(!tokens::has_valid_checksum("gatk_", &changed));
        let extended = format!("{secret}{junk}");
        prop_assert!(!tokens::has_valid_checksum("gatk_", &extended) || junk.is_empty());
        prop_assert!(!tokens::has_valid_checksum("gatk_", &junk) || junk.starts_with("gatk_"));
        let _ = tokens::hint("gatk_", &junk);
    }

    // Scopes: only known scopes parse; what parses is a subset of them, `api:write`
    // brings `api:read`, and parsing what was joined gives it back.
    #[test]
    fn scope_strings(raw in prop_oneof![
        text(),
        proptest::collection::vec(
            prop_oneof![Just("openid"), Just("profile"), Just("email"), Just("api:read"),
                        Just("api:write"), Just("alm"), Just(""), Just("admin")],
            0..6,
        ).prop_map(|v| v.join(" ")),
    ]) {
        match scopes::parse(&raw) {
            Ok(set) => {
                prop_assert!(set.iter().all(|s| scopes::KNOWN.contains(&s.as_str())));
                prop_assert!(!set.contains("api:write") || set.contains("api:read"));
                prop_assert_eq!(scopes::parse(&scopes::join(&set)).unwrap(), set.clone());
                prop_assert_eq!(scopes::split(&scopes::join(&set)), set);
            }
            Err(unknown) => {
                prop_assert!(!unknown.is_empty());
                prop_assert!(raw.split(' ').any(|s| s == unknown));
                prop_assert!(!scopes::KNOWN.contains(&unknown.as_str()) && unknown != "alm");
            }
        }
    }

    // Protocol parameters: any bytes parse or are refused, never a panic; a parameter
    // the endpoint reads is refused when repeated, one it does not read never is.
    #[test]
    fn form_parameters(raw in proptest::collection::vec(any::<u8>(), 0..200),
                       value_a in "[a-z0-9%+]{0,10}", value_b in "[a-z0-9%+]{0,10}") {
        let known = ["grant_type", "code", "refresh_token"];
        if let Ok(params) = Params::parse(&raw, &known) {
            for name in known {
                prop_assert!(params.pairs().iter().filter(|(k, _)| k == name).count() <= 1);
            }
        }
        let repeated = format!("grant_type={value_a}&code=x&grant_type={value_b}");
        prop_assert!(matches!(
            Params::parse(repeated.as_bytes(), &known),
            Err(ParamsError::Repeated(name)) if name == "grant_type"
        ));
        let unknown = format!("foo={value_a}&grant_type=x&foo={value_b}");
        let params = Params::parse(unknown.as_bytes(), &known).unwrap();
        prop_assert_eq!(params.get("grant_type"), Some("x"));
    }

    // Redirect URIs: exactly a registered one, or — for a loopback `http` one — the
    // same but for the port; nothing else, however close.
    #[test]
    fn redirect_uri_matching(path in "[a-z/]{0,12}", query in "[a-z=&]{0,8}",
                             port in 1u16.., other in text(), edit in 0usize..6) {
        let https = format!("https://app.example.com/{path}");
        let loopback = format!("http://127.0.0.1:8000/{path}");
        let registered = vec![https.clone(), loopback.clone()];
        prop_assert!(client::redirect_matches(&registered, &https));
        let any_port = format!("http://127.0.0.1:{port}/{path}");
        prop_assert!(client::redirect_matches(&registered, &any_port));
        let near = match edit {
            0 => format!("{https}/"),
            1 => format!("{https}?{query}x"),
            2 => https.replace("https://", "http://"),
            3 => https.replace("app.example.com", "app.example.com.evil.example"),
            4 => format!("http://127.0.0.2:{port}/{path}"),
            _ => format!("http://127.0.0.1:{port}/{path}x"),
        };
        prop_assert!(!client::redirect_matches(&registered, &near), "{}", near);
        if client::redirect_matches(&registered, &other) {
            // Exactly the https one, or the loopback one but for its port.
            let same_but_port = url::Url::parse(&other).is_ok_and(|mut u| {
                u.set_port(Some(8000)).is_ok() && u.as_str() == url::Url::parse(&loopback).unwrap().as_str()
            });
            prop_assert!(other == https || same_but_port, "{}", other);
        }
        let userinfo = format!("http://127.0.0.1:{port}@evil.example/{path}");
        prop_assert!(!client::redirect_matches(&registered, &userinfo), "{}", userinfo);
    }

    // Access tokens: arbitrary text, and a real token with a forged header (other
    // algorithms, `none`, another `kid` or `typ`) or a changed payload, are refused.
    #[test]
    fn forged_access_tokens(junk in text(), alg in prop_oneof![
        Just("none"), Just("HS256"), Just("RS256"), Just("ES256"), Just("EdDSA")
    ], kid in "[a-zA-Z0-9_-]{0,20}", typ in prop_oneof![Just("at+jwt"), Just("JWT"), Just("")],
       sub in "[a-z0-9-]{1,20}") {
        let keys = signing_keys();
        prop_assert!(keys.verify_access(&junk).is_err());
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: keys.issuer().into(),
            aud: keys.audience().into(),
            sub: "user".into(),
            exp: now + 600,
            iat: now,
            jti: "jti".into(),
            client_id: "client".into(),
            scope: "api:read".into(),
            grant: "grant".into(),
            generation: 1,
        };
        let token = keys.sign("at+jwt", &claims).unwrap();
        prop_assert!(keys.verify_access(&token).is_ok());
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let header = serde_json::json!({"alg": alg, "kid": kid, "typ": typ});
        let forged_header = URL_SAFE_NO_PAD.encode(header.to_string());
        let original_header = parts[0].clone();
        parts[0] = forged_header.clone();
        prop_assert!(keys.verify_access(&parts.join(".")).is_err());
        // Unsigned, as `alg: none` asks: no signature at all.
        let unsigned = format!("{forged_header}.{}.", parts[1]);
        prop_assert!(keys.verify_access(&unsigned).is_err());
        parts[0] = original_header;
        let mut payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).unwrap()).unwrap();
        prop_assume!(sub != "user");
        payload["sub"] = sub.into();
        parts[1] = URL_SAFE_NO_PAD.encode(payload.to_string());
        prop_assert!(keys.verify_access(&parts.join(".")).is_err());
    }

    // Cursors: whatever a client sends is a page position we issued, or a 400; never
    // a panic, never a control character handed to the database.
    #[test]
    fn pagination_cursors(raw in prop_oneof![
            text(),
            // Well-formed base64url of anything, control characters included.
            any::<String>().prop_map(|s| URL_SAFE_NO_PAD.encode(s)),
            (any::<String>(), any::<String>()).prop_map(|(a, b)| URL_SAFE_NO_PAD.encode(format!("{a}|{b}"))),
        ], secs in 0i64..4_000_000_000, id in any::<[u8; 16]>()) {
        let page = PageParams { limit: None, cursor: Some(raw.clone()) };
        match page.cursor() {
            Ok(Some(decoded)) => prop_assert!(!decoded.chars().any(char::is_control)),
            Ok(None) => prop_assert!(raw.is_empty(), "only an empty cursor is no cursor"),
            Err(_) => {}
        }
        let _ = page.time_cursor();
        let at = chrono::DateTime::from_timestamp(secs, 0).unwrap().naive_utc();
        let id = uuid::Uuid::from_bytes(id).to_string();
        let issued = PageParams { limit: None, cursor: Some(encode_cursor(&time_key(at, &id))) };
        prop_assert_eq!(issued.time_cursor().unwrap(), Some((at, id)));
    }

    // CSV cells: a spreadsheet reads back exactly the value, with an apostrophe before
    // one that would run as a formula, and one cell never spills into another.
    #[test]
    fn csv_cells(a in text(), b in text()) {
        let mut line = String::new();
        crate::csv::line(&[a.as_str(), b.as_str()], &mut line);
        let mut reader = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes());
        let record = reader.records().next().unwrap().unwrap();
        prop_assert_eq!(record.len(), 2);
        for (cell, value) in record.iter().zip([&a, &b]) {
            if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                prop_assert_eq!(cell, format!("'{value}"));
            } else {
                prop_assert_eq!(cell, value.as_str());
            }
        }
    }
}

/// One key set for the whole run, made in a throwaway SQLite database.
fn signing_keys() -> &'static SigningKeys {
    static KEYS: OnceLock<SigningKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gatehouse-props-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/keys.db", dir.display());
        let mut conn = crate::db::connect_one(&url).unwrap();
        crate::db::migrate(&mut conn).unwrap();
        let settings = crate::config::Settings::for_database(&url);
        let keys = SigningKeys::load_or_create(&mut conn, &settings).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        keys
    })
}
