//! RFC 8628, the device authorization grant.

use actix_web::web;

use super::error::OAuthError;
use super::params::Params;
use crate::auth::ClientMeta;
use crate::db::oauth_clients::ClientRow;
use crate::state::AppState;

pub async fn redeem(
    _state: &web::Data<AppState>,
    _meta: &ClientMeta,
    _client: &ClientRow,
    _params: &Params,
) -> Result<actix_web::HttpResponse, OAuthError> {
    Err(OAuthError::unsupported_grant_type("not yet"))
}
