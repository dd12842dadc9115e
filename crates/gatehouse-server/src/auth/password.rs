//! Password hashing: argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane) in PHC
//! strings, computed on a bounded number of blocking threads so that a flood of
//! sign-ins queues here instead of taking every core from the requests that
//! authenticate by token.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::{Rng, RngCore};
use tokio::sync::Semaphore;

use crate::error::ApiError;
use crate::secret::SecretString;

/// How many sign-ins may wait for a hashing slot before new ones are turned away with
/// 429: enough for a burst, bounded so a flood cannot pile up memory and latency.
const MAX_WAITING: usize = 256;

#[derive(Clone)]
pub struct Passwords {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    /// A real hash of a random password: verifying against it makes an unknown
    /// username cost exactly what a wrong password costs.
    dummy_hash: Arc<String>,
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1. The parameters are
    // constants, so `Params::new` cannot fail; fall back to the library default
    // (also argon2id, with stronger memory) rather than panic.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes on the calling thread; for the CLI and start-up, not for request handlers.
pub fn hash_sync(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(hash.to_string())
}

fn verify_sync(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

impl Passwords {
    pub fn new(concurrency: usize) -> anyhow::Result<Self> {
        let dummy = crate::auth::tokens::random_token(24);
        Ok(Passwords {
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            dummy_hash: Arc::new(hash_sync(&dummy)?),
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &SecretString) -> Result<String, ApiError> {
        let password = password.clone();
        self.run(move || hash_sync(password.expose()).map_err(ApiError::Internal))
            .await?
    }

    /// Checks a password against a stored hash; `None` checks it against the dummy so
    /// that the caller spends the same time whether or not the user exists.
    pub async fn verify(
        &self,
        password: &SecretString,
        phc: Option<String>,
    ) -> Result<bool, ApiError> {
        let password = password.clone();
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy_hash.as_str().to_string());
        let ok = self
            .run(move || verify_sync(password.expose(), &phc))
            .await?;
        Ok(ok && known)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let waiting = Waiting::enter(&self.waiting).ok_or(ApiError::RateLimited {
            retry_after_secs: 1,
        })?;
        let permit = self.slots.acquire().await;
        drop(waiting);
        let _permit = permit.map_err(|e| ApiError::Internal(e.into()))?;
        Ok(actix_web::web::block(work).await?)
    }
}

/// A place in the queue for a hashing slot; leaving it (also when the request is
/// dropped while it waits, as on a client disconnect) frees the place.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(counter: &'a AtomicUsize) -> Option<Waiting<'a>> {
        if counter.fetch_add(1, Ordering::SeqCst) >= MAX_WAITING {
            counter.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Waiting(counter))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A random password for a new user or the first admin: 20 characters from an
/// unambiguous alphabet, about 115 bits.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let phc = hash_sync("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_sync("correct horse battery", &phc));
        assert!(!verify_sync("wrong horse battery", &phc));
        assert!(!verify_sync("anything", "not a phc string"));
    }

    #[test]
    fn the_queue_is_bounded_and_places_are_given_back() {
        let counter = AtomicUsize::new(0);
        let places: Vec<_> = (0..MAX_WAITING)
            .map(|_| Waiting::enter(&counter).unwrap())
            .collect();
        assert!(Waiting::enter(&counter).is_none());
        drop(places);
        assert_eq!(counter.load(Ordering::SeqCst), 0);
        assert!(Waiting::enter(&counter).is_some());
    }

    #[test]
    fn generated_passwords_pass_the_policy() {
        let p = generate_password();
        assert_eq!(p.len(), 20);
        assert!(gatehouse_types::validate::password(&p).is_ok());
    }
}
