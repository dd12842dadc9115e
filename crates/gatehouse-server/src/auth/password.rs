//! Password hashing: argon2id at OWASP's parameters (19 MiB, 2 passes, 1 lane) in PHC
//! strings, computed on a bounded number of blocking threads so that a flood of
//! sign-ins queues here instead of taking every core from the requests that
//! authenticate by token.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::{Rng, RngCore};
use tokio::sync::Semaphore;

use crate::config::PasswordCost;
use crate::error::ApiError;
use crate::secret::SecretString;

/// How many sign-ins may wait for a hashing slot before new ones are turned away with
/// 429: enough for a burst, bounded so a flood cannot pile up memory and latency.
const MAX_WAITING: usize = 256;

/// Argon2's working memory (19 MiB at these parameters), allocated for each hash and
/// given back to the system right after ([`fresh_memory`]).
type Memory = Vec<Block>;

/// Room reserved for a working memory: just over 32 MiB. glibc serves an allocation
/// that large from its own `mmap` and unmaps it when it is freed, always (32 MiB is the
/// most its dynamic `mmap` threshold grows to). At 19 MiB it did not: after the first
/// free the threshold rose past it, and every later working memory stayed resident in
/// the heap arena of whichever blocking thread had hashed — RSS 18 MB fresh, 38 MB after
/// one sign-in, 116 MB after six. Reused per hashing slot instead, one stayed resident
/// per slot for good (38 MB idle). Only the pages argon2 touches (19 MiB) are ever
/// resident; the rest is address space.
const MEMORY_RESERVED_BLOCKS: usize = 33 * 1024;

fn fresh_memory() -> Memory {
    Vec::with_capacity(MEMORY_RESERVED_BLOCKS)
}

#[derive(Clone)]
pub struct Passwords {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    /// A real hash of a random password: verifying against it makes an unknown
    /// username cost exactly what a wrong password costs.
    dummy_hash: Arc<String>,
    cost: PasswordCost,
}

fn argon2() -> Argon2<'static> {
    argon2_at(PasswordCost::Owasp)
}

fn argon2_at(cost: PasswordCost) -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1. The parameters are
    // constants, so `Params::new` cannot fail; fall back to the library default
    // (also argon2id, with stronger memory) rather than panic.
    let params = match cost {
        PasswordCost::Owasp => Params::new(19 * 1024, 2, 1, None),
        PasswordCost::Cheap => Params::new(64, 1, 1, None),
    };
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        params.unwrap_or_default(),
    )
}

/// Hashes on the calling thread; for the CLI and start-up, not for request handlers.
pub fn hash_sync(password: &str) -> anyhow::Result<String> {
    hash_sync_at(password, PasswordCost::Owasp)
}

/// [`hash_sync`] at a chosen cost (the test suite's bootstrap uses the cheap one).
pub fn hash_sync_at(password: &str, cost: PasswordCost) -> anyhow::Result<String> {
    hash_with(password, cost, &mut fresh_memory())
}

fn hash_with(password: &str, cost: PasswordCost, memory: &mut Memory) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let hash = compute(
        &argon2_at(cost),
        password.as_bytes(),
        salt.as_salt(),
        memory,
    )
    .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
    Ok(hash.to_string())
}

/// What `PasswordHasher::hash_password` does, in `memory` instead of a fresh allocation.
fn compute<'a>(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'a>,
    memory: &mut Memory,
) -> argon2::password_hash::Result<PasswordHash<'a>> {
    let params = argon.params();
    let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
    let output = Output::init_with(output_len, |out| {
        hash_into(argon, password, salt, out, memory)
    })?;
    Ok(PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(argon2::Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt),
        hash: Some(output),
    })
}

/// Argon2 of `password` under `salt` into `out`, in `memory` (sized to the parameters).
fn hash_into(
    argon: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'_>,
    out: &mut [u8],
    memory: &mut Memory,
) -> argon2::password_hash::Result<()> {
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    memory.resize(argon.params().block_count(), Block::default());
    argon
        .hash_password_into_with_memory(password, salt_bytes, out, &mut memory[..])
        .map_err(|_| argon2::password_hash::Error::Crypto)
}

/// Checks `password` against a PHC string, with the string's own parameters (so hashes
/// made with other costs still verify); the outputs are compared in constant time.
fn verify_with(password: &str, phc: &str, memory: &mut Memory) -> bool {
    let Ok(stored) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&stored) else {
        return false;
    };
    // Stored hashes are this server's own; one asking for more memory than its
    // parameters is not (and would pin that memory in a slot for good).
    if params.m_cost() > argon2().params().m_cost() {
        return false;
    }
    let argon = Argon2::new(algorithm, version, params);
    let mut computed = vec![0u8; expected.len()];
    hash_into(&argon, password.as_bytes(), salt, &mut computed, memory).is_ok()
        && Output::new(&computed).is_ok_and(|out| out == expected)
}

impl Passwords {
    pub fn new(concurrency: usize, cost: PasswordCost) -> anyhow::Result<Self> {
        if cost != PasswordCost::Owasp {
            tracing::warn!(?cost, "passwords are hashed at a test cost, not OWASP's");
        }
        let dummy = crate::auth::tokens::random_token(24);
        let concurrency = concurrency.max(1);
        Ok(Passwords {
            slots: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::new(AtomicUsize::new(0)),
            dummy_hash: Arc::new(hash_sync_at(&dummy, cost)?),
            cost,
        })
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: &SecretString) -> Result<String, ApiError> {
        let (password, cost) = (password.clone(), self.cost);
        self.run(move |memory| {
            hash_with(password.expose(), cost, memory).map_err(ApiError::Internal)
        })
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
            .run(move |memory| verify_with(password.expose(), &phc, memory))
            .await?;
        Ok(ok && known)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let waiting = Waiting::enter(&self.waiting).ok_or(ApiError::RateLimited {
            retry_after_secs: 1,
        })?;
        let permit = self.slots.clone().acquire_owned().await;
        drop(waiting);
        let permit = permit.map_err(|e| ApiError::Internal(e.into()))?;
        // The slot goes with the work: a request dropped mid-hash (a client that
        // disconnects) does not free it before the hash ends and its memory is given
        // back, so there are never more working memories than slots.
        Ok(actix_web::web::block(move || {
            let mut memory = fresh_memory();
            let result = work(&mut memory);
            drop(memory);
            drop(permit);
            result
        })
        .await?)
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
/// How long a generated (temporary) password signs in: long enough to reach its
/// person over a weekend, short enough not to stay a way in.
pub const TEMPORARY_PASSWORD_LIFETIME: chrono::TimeDelta = chrono::TimeDelta::days(3);

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

    /// The reused-memory path and the library agree both ways, also for hashes made
    /// with other costs; a wrong password, or a damaged string, fails.
    #[test]
    fn reused_memory_hashes_agree_with_the_library() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let mut memory = Memory::new();
        let ours = hash_with("correct horse battery", PasswordCost::Owasp, &mut memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(
            argon2()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let cheaper = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 3, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &salt)
        .unwrap()
        .to_string();
        let dearer = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(32 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"correct horse battery", &salt)
        .unwrap()
        .to_string();
        assert!(
            !verify_with("correct horse battery", &dearer, &mut memory),
            "more memory than this server's parameters: not one of its hashes"
        );
        for phc in [&ours, &cheaper] {
            assert!(verify_with("correct horse battery", phc, &mut memory));
            assert!(!verify_with("correct horse batterz", phc, &mut memory));
        }
        assert!(!verify_with(
            "correct horse battery",
            &ours[..ours.len() - 2],
            &mut memory
        ));
        assert!(!verify_with(
            "correct horse battery",
            "not a hash",
            &mut memory
        ));
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters() {
        let phc = hash_sync("correct horse battery").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_with(
            "correct horse battery",
            &phc,
            &mut Memory::new()
        ));
        assert!(!verify_with(
            "wrong horse battery",
            &phc,
            &mut Memory::new()
        ));
        assert!(!verify_with(
            "anything",
            "not a phc string",
            &mut Memory::new()
        ));
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
