//! Server-side sessions: an in-memory map keyed by a random 256-bit id that travels in
//! the `sample_session` cookie (HttpOnly, SameSite=Lax). Tokens never reach the browser.
//! A restart signs everyone out, which is fine for a sample.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use oauth2::{AccessToken, CsrfToken, PkceCodeVerifier, RefreshToken};

pub const COOKIE: &str = "sample_session";

/// Sessions idle for longer are forgotten.
const IDLE: Duration = Duration::from_secs(8 * 3600);
/// A sign-in must come back from Gatehouse within this time.
const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// Sign-ins started at once in one browser (several tabs), at most.
const MAX_PENDING: usize = 5;

#[derive(Default)]
pub struct Session {
    last_seen: Option<Instant>,
    /// Sign-ins sent to Gatehouse and not back yet, matched by `state`.
    pending: Vec<Pending>,
    pub tokens: Option<Tokens>,
    /// Shown once on the next page (the outcome of a refresh).
    pub notice: Option<Notice>,
}

pub struct Pending {
    pub state: CsrfToken,
    pub verifier: PkceCodeVerifier,
    pub nonce: String,
    pub started: Instant,
}

pub struct Tokens {
    pub access: AccessToken,
    /// `None` while a refresh is spending it (so two refreshes never send the same one:
    /// Gatehouse would take the second for a stolen token and revoke the grant).
    pub refresh: Option<RefreshToken>,
    pub refreshing: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub scope: Option<String>,
    /// The `sub` of the id_token, which `userinfo` must repeat.
    pub sub: Option<String>,
    /// The id_token itself: the hint that signs the person out of Gatehouse too.
    pub id_token: Option<String>,
}

pub enum Notice {
    Refreshed {
        expires_at: Option<DateTime<Utc>>,
    },
    RefreshFailed {
        code: String,
        description: Option<String>,
    },
}

#[derive(Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// 256 random bits from the operating system, base64url: session ids and nonces.
pub fn random_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic elsewhere cannot leave a map half-written; keep serving.
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` on the session `id`, if it exists and has not been idle too long.
    pub fn with<R>(&self, id: &str, f: impl FnOnce(&mut Session) -> R) -> Option<R> {
        let mut map = self.lock();
        let now = Instant::now();
        let session = map.get_mut(id)?;
        if session.last_seen.is_some_and(|t| now - t > IDLE) {
            map.remove(id);
            return None;
        }
        session.last_seen = Some(now);
        Some(f(session))
    }

    /// Stores a new session under a fresh id and returns the id.
    pub fn create(&self, mut session: Session) -> Result<String, getrandom::Error> {
        let id = random_id()?;
        let now = Instant::now();
        session.last_seen = Some(now);
        let mut map = self.lock();
        map.retain(|_, s| s.last_seen.is_none_or(|t| now - t <= IDLE));
        map.insert(id.clone(), session);
        Ok(id)
    }

    pub fn remove(&self, id: &str) -> Option<Session> {
        self.lock().remove(id)
    }
}

impl Session {
    pub fn signed_in(tokens: Tokens) -> Self {
        Self {
            tokens: Some(tokens),
            ..Self::default()
        }
    }

    pub fn add_pending(&mut self, pending: Pending) {
        self.pending.retain(|p| p.started.elapsed() <= PENDING_TTL);
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        self.pending.push(pending);
    }

    /// The sign-in this `state` belongs to; each can be completed once.
    pub fn take_pending(&mut self, state: &str) -> Option<Pending> {
        let i = self
            .pending
            .iter()
            .position(|p| p.state.secret() == state)?;
        let p = self.pending.remove(i);
        (p.started.elapsed() <= PENDING_TTL).then_some(p)
    }
}
