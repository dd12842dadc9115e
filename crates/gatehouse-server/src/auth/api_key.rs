//! API keys as a credential: an offline checksum first, then the hash through the
//! per-process key cache, then the subscription's switch, the expiry and the user's
//! state; the permission is the key's, capped by what the user's role may hold.

use actix_web::web;
use gatehouse_types::{UserState, codes};

use crate::auth::Authenticator;
use crate::auth::cache::CachedKey;
use crate::auth::{Principal, Via, tokens};
use crate::db::api_keys as store;
use crate::error::ApiError;

/// Every API key starts with this (then random bytes and a checksum).
pub const SECRET_PREFIX: &str = "gatk_";

fn invalid() -> ApiError {
    ApiError::unauthorized(codes::API_KEY_INVALID, "The API key is not valid.")
}

/// Resolves an API key into a principal, or 401 with the reason: `api_key_invalid`
/// (malformed, unknown, deleted or reset), `api_keys_disabled`, `api_key_expired`,
/// `user_inactive`. Nothing in the answer says anything about other keys.
pub async fn authenticate(
    auth: &web::Data<Authenticator>,
    secret: &str,
) -> Result<Principal, ApiError> {
    super::traced("api_key", check(auth, secret)).await
}

async fn check(auth: &web::Data<Authenticator>, secret: &str) -> Result<Principal, ApiError> {
    // Offline first: a typo or a random string never reaches the database.
    if !tokens::has_valid_checksum(SECRET_PREFIX, secret) {
        return Err(invalid());
    }
    let hash = auth.tokens.hash(secret);
    let entry = auth
        .keys
        .get_or_load(&hash, || async {
            let lookup = hash.clone();
            let found = auth
                .db
                .read(move |conn| Ok(store::find_for_auth(conn, &lookup)?))
                .await?;
            // The unique index matched the hash; compare it once more in constant
            // time so that correctness never rests on the database's collation.
            Ok(found
                .filter(|(key, _, _)| tokens::constant_time_eq(&key.secret_hash, &hash))
                .map(|(key, user, subscription)| CachedKey::new(key, user, subscription)))
        })
        .await?
        .ok_or_else(invalid)?;
    let now = auth.clock.now();
    if !entry.subscription.api_keys_enabled {
        return Err(ApiError::unauthorized(
            codes::API_KEYS_DISABLED,
            gatehouse_types::error::API_KEYS_DISABLED_MESSAGE,
        ));
    }
    if entry.key.expires_at.is_some_and(|at| at <= now) {
        return Err(ApiError::unauthorized(
            codes::API_KEY_EXPIRED,
            "The API key has expired.",
        ));
    }
    if entry.user.state != UserState::Active {
        return Err(ApiError::unauthorized(
            codes::USER_INACTIVE,
            "The API key's user is disabled or locked.",
        ));
    }
    let id = entry.key.id.clone();
    crate::auth::cache::record_use(auth, &entry.last_touch, now, "api key", move |conn| {
        Ok(store::touch(conn, &id, now)?)
    });
    Ok(Principal {
        user: entry.user.clone(),
        subscription: entry.subscription.clone(),
        via: Via::ApiKey {
            id: entry.key.id.clone(),
            name: entry.key.name.clone(),
            key_permission: entry.key.permission,
            permission: entry.permission,
            answer: entry.answer.clone(),
        },
    })
}
