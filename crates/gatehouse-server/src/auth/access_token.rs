//! The resource side of OAuth: turning a JWT access token into a `Principal`.
//!
//! The signature, `typ`, issuer, audience and expiry are checked offline; then the
//! grant the token was issued under is looked up (through the grant cache) and must be
//! active, of the same generation, for the same client and user, and the user active.
//! So revoking a grant, deleting its client or disabling its user stops its JWTs at
//! once on this replica and within the cache TTL on the others.

use std::sync::Arc;

use actix_web::web;
use gatehouse_types::{Permission, UserState, codes};

use super::jwt::VerifyError;
use super::scopes;
use crate::auth::Authenticator;
use crate::auth::cache::CachedGrant;
use crate::auth::{Principal, Via};
use crate::db::grants as grants_store;
use crate::error::ApiError;

/// A refused token gets one fixed sentence: the reason (which may quote the token's
/// own bytes, from the JWT library) goes to the debug log, never into a header or body.
fn invalid(why: &str) -> ApiError {
    tracing::debug!(reason = %why, "access token refused");
    ApiError::unauthorized(
        codes::TOKEN_INVALID,
        "The access token is not valid: malformed, expired, or not signed by this server.",
    )
}

fn revoked() -> ApiError {
    ApiError::unauthorized(
        codes::TOKEN_REVOKED,
        "The access token has been revoked: the application's access was withdrawn.",
    )
}

/// Checks an access token and the grant behind it; the answer says why not.
pub async fn verify(
    auth: &web::Data<Authenticator>,
    token: &str,
) -> Result<(Arc<super::jwt::AccessClaims>, Arc<CachedGrant>), ApiError> {
    let claims = match auth.signing.verify_access(token) {
        Ok(c) => c,
        Err(VerifyError::UnknownKey) => {
            // Perhaps another replica rotated the signing key: look once more — on
            // the read path, and only when the throttle allows (checked first).
            if auth.signing.claim_reload() {
                let st = auth.clone();
                auth.db
                    .read(move |conn| Ok(st.signing.refresh(conn)?))
                    .await?;
            }
            auth.signing.verify_access(token).map_err(|e| match e {
                VerifyError::UnknownKey => invalid("unknown signing key"),
                VerifyError::Invalid(why) => invalid(&why),
            })?
        }
        Err(VerifyError::Invalid(why)) => return Err(invalid(&why)),
    };
    let entry = auth
        .grants
        .get_or_load(&claims.grant, || async {
            let id = claims.grant.clone();
            let found = auth
                .db
                .read(move |conn| Ok(grants_store::find_for_auth(conn, &id)?))
                .await?;
            Ok(found.map(|(grant, client, user, subscription)| {
                CachedGrant::new(grant, client, user, subscription)
            }))
        })
        .await?
        .ok_or_else(revoked)?;
    // A disabled client's grants are revoked; this also refuses a token minted in
    // the moment of the disabling (client credentials re-activating its grant).
    if !entry.grant.is_active()
        || entry.grant.generation != claims.generation
        || entry.client.metadata.disabled_at.is_some()
    {
        return Err(revoked());
    }
    if entry.client.client_id != claims.client_id || entry.user.id != claims.sub {
        return Err(invalid("it does not match its grant"));
    }
    if entry.user.state != UserState::Active {
        return Err(ApiError::unauthorized(
            codes::USER_INACTIVE,
            "The token's user is disabled or locked.",
        ));
    }
    Ok((claims, entry))
}

pub async fn authenticate(
    auth: &web::Data<Authenticator>,
    token: &str,
) -> Result<Principal, ApiError> {
    super::traced("access_token", check(auth, token)).await
}

async fn check(auth: &web::Data<Authenticator>, token: &str) -> Result<Principal, ApiError> {
    let (claims, entry) = verify(auth, token).await?;
    let now = auth.clock.now();
    let id = entry.grant.id.clone();
    crate::auth::cache::record_use(auth, &entry.last_touch, now, "grant", move |conn| {
        Ok(grants_store::touch(conn, &id, now)?)
    });
    // What the token may do: its own scopes, never more than the grant holds now.
    let granted = scopes::split(&entry.grant.scopes);
    let token_scopes: Vec<String> = scopes::split(&claims.scope)
        .into_iter()
        .filter(|s| granted.contains(s))
        .collect();
    // `api:write` acts as a full-access key would: only for roles that may hold one.
    let may_write = crate::auth::role_listed(
        &entry.subscription.api_key_full_access_roles,
        entry.user.role,
    );
    let permission = if may_write && token_scopes.iter().any(|s| s == "api:write") {
        Some(Permission::FullAccess)
    } else if token_scopes.iter().any(|s| s == "api:read") {
        Some(Permission::ReadOnly)
    } else {
        None
    };
    Ok(Principal {
        user: entry.user.clone(),
        subscription: entry.subscription.clone(),
        via: Via::OAuth {
            grant_id: entry.grant.id.clone(),
            client_id: entry.client.client_id.clone(),
            client_name: entry.client.name.clone(),
            scopes: token_scopes,
            permission,
            client_origins: entry.client.origin_list(),
        },
    })
}
