//! Passkeys (WebAuthn), with `webauthn-rs` from the Kanidm project. The relying party
//! is the public URL: its host is the RP id, and only its origin may answer. Every
//! ceremony has two halves, a challenge and a signed answer; the first half's state
//! is kept in the database (`webauthn_ceremonies`), so that any replica can check the
//! second, and each is used once within [`CEREMONY_TTL`].
//!
//! A passkey signs in as a second step after the password, or on its own: it requires
//! user verification (a PIN or biometric on the device), so by itself it is two
//! factors — possession of the device and what unlocks it.

use chrono::TimeDelta;
use gatehouse_types::codes;
use serde_json::Value;
use webauthn_rs::prelude::*;

use crate::error::ApiError;

/// How long the second half of a ceremony may take.
pub const CEREMONY_TTL: TimeDelta = TimeDelta::minutes(5);

/// The relying party, when the public URL can be one (a host name, not an IP address:
/// browsers refuse IP addresses as WebAuthn RP ids).
pub struct Passkeys {
    webauthn: Option<Webauthn>,
}

impl Passkeys {
    pub fn new(public_url: &str) -> Passkeys {
        // The origin alone: a public URL with a path is still one origin.
        let webauthn = url::Url::parse(public_url)
            .ok()
            .and_then(|url| url::Url::parse(&url.origin().ascii_serialization()).ok())
            .and_then(|origin| {
                let host = origin.host_str()?.to_string();
                let ip = host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[');
                (!ip).then_some((origin, host))
            })
            .and_then(|(origin, host)| {
                WebauthnBuilder::new(&host, &origin)
                    .and_then(|b| b.rp_name("Gatehouse").build())
                    .ok()
            });
        if webauthn.is_none() {
            tracing::info!(
                public_url,
                "passkeys are off: the public URL's host must be a name, not an IP address"
            );
        }
        Passkeys { webauthn }
    }

    /// The relying party, or 409 when passkeys are off on this server.
    pub fn get(&self) -> Result<&Webauthn, ApiError> {
        self.webauthn.as_ref().ok_or_else(|| {
            ApiError::conflict(
                codes::CONFLICT,
                "Passkeys need Gatehouse's public URL to name a host (not an IP address).",
            )
        })
    }

    pub fn enabled(&self) -> bool {
        self.webauthn.is_some()
    }
}

/// The first half of signing in with a passkey alone, for a caller at `address`
/// (limited per address: anyone may ask, and each is a row for five minutes). Not an
/// audit event: nobody is named, and nothing happened yet.
pub async fn start_sign_in(
    auth: &super::Authenticator,
    address: &str,
) -> Result<gatehouse_types::PasskeyChallenge, ApiError> {
    let webauthn = auth.passkeys.get()?;
    if let Err(wait) = auth.passkey_start_limiter.attempt(address) {
        return Err(ApiError::RateLimited {
            retry_after_secs: wait,
        });
    }
    let (challenge, authentication) = webauthn
        .start_discoverable_authentication()
        .map_err(|e| anyhow::anyhow!("passkey challenge: {e}"))?;
    let now = auth.clock.now();
    let row = crate::db::second_factors::CeremonyRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: None,
        kind: "sign_in".into(),
        state: state_json(&authentication)?,
        created_at: now,
        expires_at: now + CEREMONY_TTL,
    };
    let id = row.id.clone();
    auth.db
        .write(move |conn| Ok(crate::db::second_factors::insert_ceremony(conn, &row)?))
        .await?;
    Ok(gatehouse_types::PasskeyChallenge {
        id,
        options: request_options(&challenge)?,
        expires_in: CEREMONY_TTL.num_seconds(),
    })
}

/// The options for `navigator.credentials.create()`: a passkey is a discoverable
/// credential, so that it can sign in with no username typed.
pub fn creation_options(challenge: &CreationChallengeResponse) -> Result<Value, ApiError> {
    let mut options = serde_json::to_value(challenge).map_err(anyhow::Error::from)?;
    if let Some(selection) = options
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), "required".into());
        selection.insert("requireResidentKey".into(), true.into());
    }
    Ok(options)
}

/// The options for `navigator.credentials.get()`, shown as a dialog when asked (not
/// as the browser's autofill, which `webauthn-rs` sets for usernameless sign-in).
pub fn request_options(challenge: &RequestChallengeResponse) -> Result<Value, ApiError> {
    let mut options = serde_json::to_value(challenge).map_err(anyhow::Error::from)?;
    if let Some(map) = options.as_object_mut() {
        map.remove("mediation");
    }
    Ok(options)
}

/// A browser's answer, parsed: 422 naming `field` when it is not one.
pub fn parse<T: serde::de::DeserializeOwned>(
    field: &'static str,
    value: Value,
) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|_| {
        ApiError::validation(
            field,
            "is not a WebAuthn credential as the browser gives it",
        )
    })
}

/// A ceremony's state, stored as JSON.
pub fn state_json<T: serde::Serialize>(state: &T) -> Result<String, ApiError> {
    Ok(serde_json::to_string(state).map_err(anyhow::Error::from)?)
}

pub fn from_state<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, ApiError> {
    Ok(serde_json::from_str(json).map_err(anyhow::Error::from)?)
}

/// A credential id as stored (`second_factors.credential_id`).
pub fn credential_key(id: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// How a passkey proved the person (OpenID Connect `amr`, RFC 8176): a key that can
/// be copied to other devices (synced, "backup eligible") is software-held (`swk`);
/// one bound to its device, hardware-held (`hwk`).
pub fn amr_of(result: &AuthenticationResult) -> &'static str {
    if result.backup_eligible() {
        "swk"
    } else {
        "hwk"
    }
}
