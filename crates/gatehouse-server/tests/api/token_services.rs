//! Token services for resource servers and OpenID Connect (docs/PRODUCT.md §4): metadata,
//! JWKS (checked with `jsonwebtoken` as a third-party resource server would),
//! revocation, introspection of every kind of credential, id_tokens and userinfo
//! (checked with the `openidconnect` crate, configured by discovery alone), and
//! signing-key rotation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_types::Role;
use oauth2::TokenResponse;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::both_backends;
use crate::helpers::oauth::{CALLBACK, Registered, authorize, browser, http, param, register};
use crate::helpers::{
    Backend, IssuedKey, NewUser, OtherSubscription, TestApp, error_code, http_client, spawn_app,
    succeeded,
};

both_backends!(
    metadata_describes_the_server,
    resource_servers_validate_access_tokens_with_the_jwks,
    an_oidc_client_library_signs_in_from_discovery_alone,
    id_tokens_carry_nonce_auth_time_and_at_hash,
    userinfo_follows_the_scopes,
    revocation_stops_the_grant_and_ignores_what_it_should,
    introspection_answers_for_every_credential,
    introspection_is_private_to_the_subscription,
    introspection_says_inactive_for_expired_tokens_and_inactive_users,
    rotated_keys_keep_old_tokens_valid,
    a_stored_key_that_cannot_sign_is_passed_over,
    unknown_signing_keys_cost_no_database_work,
    only_callers_with_a_secret_may_introspect,
);

/// A public client's id is in every browser's address bar: it must not be enough to
/// introspect (RFC 7662 §2.1, §4). Revocation stays open to it for its own tokens.
async fn only_callers_with_a_secret_may_introspect(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser { client: user, .. } = app.user(&admin, Role::Editor).await;
    let public = register(&admin, true, &[CALLBACK]).await;
    let confidential = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &user, &public, &["api:read"]).await;
    let access = tokens.access_token().secret().to_string();
    let IssuedKey { secret: key, .. } = app.api_key(&user, "read_only").await;
    let c = http_client();
    for token in [access.as_str(), key.as_str()] {
        // The id in the form, or in Basic with an empty secret: refused, nothing said.
        let by_form = c
            .post(app.url("/oauth/introspect"))
            .form(&[("token", token), ("client_id", public.client_id.as_str())])
            .send()
            .await
            .unwrap();
        let by_basic = c
            .post(app.url("/oauth/introspect"))
            .basic_auth(&public.client_id, Some(""))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        for res in [by_form, by_basic] {
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            assert!(res.headers().get("www-authenticate").is_some());
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["error"], "invalid_client");
            assert!(v.get("active").is_none(), "nothing about the token: {v}");
        }
    }
    // A confidential client with its secret learns the answer.
    let v = introspect_as(&app, &confidential, &access).await;
    assert_eq!(v["active"], true);
    // The metadata says the same.
    let m: Value = c
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = m["introspection_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(!methods.iter().any(|x| x == "none"), "{methods:?}");
    // The public client may still revoke its own token.
    let res = c
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", public.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v = introspect_as(&app, &confidential, &access).await;
    assert_eq!(v["active"], false, "revoked by its own public client");
}

/// Tokens naming made-up signing keys are refused, and a flood of them makes the
/// process re-read its keys at most once per throttle interval, not once per request.
async fn unknown_signing_keys_cost_no_database_work(b: Backend) {
    let app = spawn_app(b).await;
    let before = app.state.auth.signing.reloads();
    for i in 0..40 {
        let header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"EdDSA","typ":"at+jwt","kid":"made-up-{i}"}}"#
        ));
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#);
        let token = format!("{header}.{claims}.c2lnbmF0dXJl");
        let res = app
            .anonymous()
            .request(reqwest::Method::GET, "/api/v1/session")
            .header("Authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error_code(res).await, "token_invalid");
    }
    let reloads = app.state.auth.signing.reloads() - before;
    assert!(reloads <= 1, "{reloads} key reloads for 40 unknown kids");
}

async fn metadata_describes_the_server(b: Backend) {
    let app = spawn_app(b).await;
    let c = http_client();
    let issuer = app.state.auth.signing.issuer().to_string();
    assert_eq!(issuer, app.address, "the issuer is the public URL");
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let m: Value = c
            .get(app.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(m["issuer"], issuer.as_str());
        for (field, suffix) in [
            ("authorization_endpoint", "/oauth/authorize"),
            ("token_endpoint", "/oauth/token"),
            ("jwks_uri", "/oauth/jwks"),
            ("revocation_endpoint", "/oauth/revoke"),
            ("introspection_endpoint", "/oauth/introspect"),
            ("userinfo_endpoint", "/oauth/userinfo"),
            (
                "device_authorization_endpoint",
                "/oauth/device_authorization",
            ),
            ("end_session_endpoint", "/oauth/logout"),
        ] {
            assert_eq!(m[field], format!("{issuer}{suffix}"), "{field}");
            // Every advertised endpoint exists.
            let url = m[field].as_str().unwrap();
            let status = c.get(url).send().await.unwrap().status();
            assert_ne!(status, StatusCode::NOT_FOUND, "{url}");
        }
        assert_eq!(m["response_types_supported"], json!(["code"]));
        assert_eq!(
            m["grant_types_supported"],
            json!([
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
                "client_credentials"
            ])
        );
        assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            json!(["client_secret_basic", "client_secret_post", "none"])
        );
        let scopes = m["scopes_supported"].as_array().unwrap();
        for s in [
            "openid",
            "profile",
            "email",
            "api:read",
            "api:write",
            "alm",
            "offline_access",
        ] {
            assert!(scopes.contains(&json!(s)), "{s}");
        }
        assert_eq!(m["id_token_signing_alg_values_supported"], json!(["RS256"]));
        assert_eq!(m["subject_types_supported"], json!(["public"]));
    }
}

fn jwk_for(jwks: &Value, kid: &str) -> jsonwebtoken::jwk::Jwk {
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap_or_else(|| panic!("kid {kid} not in the JWKS"));
    serde_json::from_value(key.clone()).unwrap()
}

async fn jwks(app: &TestApp) -> Value {
    http_client()
        .get(app.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn resource_servers_validate_access_tokens_with_the_jwks(b: Backend) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let token = tokens.access_token().secret();
    // What a resource server does: read the kid, fetch the JWKS, check everything.
    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    let jwk = jwk_for(&jwks(&app).await, header.kid.as_deref().unwrap());
    let key = DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = Validation::new(Algorithm::EdDSA);
    v.set_issuer(&[app.state.auth.signing.issuer()]);
    v.set_audience(&[format!("{}/api/v1", app.address)]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    let data = decode::<Value>(token, &key, &v).expect("a valid token");
    assert_eq!(data.claims["client_id"], reg.client_id.as_str());
    assert_eq!(data.claims["scope"], "api:read");
    // And a forged one fails that same check.
    let mut parts: Vec<&str> = token.split('.').collect();
    let evil = URL_SAFE_NO_PAD.encode(json!({"sub": "someone-else"}).to_string());
    parts[1] = &evil;
    assert!(decode::<Value>(&parts.join("."), &key, &v).is_err());
}

async fn an_oidc_client_library_signs_in_from_discovery_alone(b: Backend) {
    use openidconnect::core::{
        CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
    };
    use openidconnect::{
        AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
        OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse as _,
    };
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/me",
                &json!({"display_name": "Ada Lovelace", "email": "ada@example.com"}),
            )
            .await,
    );
    let reg = register(&admin, false, &[CALLBACK]).await;
    let provider =
        CoreProviderMetadata::discover_async(IssuerUrl::new(app.address.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        provider,
        ClientId::new(reg.client_id.clone()),
        Some(ClientSecret::new(reg.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(CALLBACK.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    let back = browser(&app, &admin, url.as_str(), true).await;
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    let response = client
        .exchange_code(AuthorizationCode::new(param(&back, "code").unwrap()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = response.id_token().expect("an id_token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("a valid id_token");
    assert_eq!(claims.subject().as_str(), app.admin_id);
    assert_eq!(
        claims.preferred_username().unwrap().as_str(),
        app.admin_username
    );
    assert_eq!(claims.email().unwrap().as_str(), "ada@example.com");
    let expected = AccessTokenHash::from_token(
        response.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
    let info: CoreUserInfoClaims = client
        .user_info(response.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), app.admin_id);
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some("Ada Lovelace")
    );
}

async fn id_tokens_carry_nonce_auth_time_and_at_hash(b: Backend) {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let client = crate::helpers::oauth::oauth(&app, &reg, CALLBACK);
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, _) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("openid".into()))
        .add_extra_param("nonce", "n-0S6_WzA2Mj")
        .set_pkce_challenge(challenge)
        .url();
    let back = browser(&app, &admin, url.as_str(), true).await;
    let res = http_client()
        .post(app.url("/oauth/token"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &param(&back, "code").unwrap()),
            ("redirect_uri", CALLBACK),
            ("code_verifier", verifier.secret()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    let id_token = body["id_token"].as_str().expect("an id_token");
    let access = body["access_token"].as_str().unwrap();
    let header = decode_header(id_token).unwrap();
    assert_eq!(header.alg, Algorithm::RS256);
    let key =
        DecodingKey::from_jwk(&jwk_for(&jwks(&app).await, header.kid.as_deref().unwrap())).unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.set_issuer(&[app.state.auth.signing.issuer()]);
    v.set_audience(&[&reg.client_id]);
    let claims = decode::<Value>(id_token, &key, &v).unwrap().claims;
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(claims["sub"], app.admin_id.as_str());
    let auth_time = claims["auth_time"].as_i64().unwrap();
    assert!((chrono::Utc::now().timestamp() - auth_time).abs() < 120);
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(claims["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    // An id_token is not an access token.
    let res = app.with_key(id_token).get("/api/v1/me").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Without openid, no id_token.
    let plain = authorize(&app, &admin, &reg, &["api:read"]).await;
    assert!(
        serde_json::to_value(&plain)
            .unwrap()
            .get("id_token")
            .is_none()
    );
}

async fn userinfo_follows_the_scopes(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    succeeded(
        admin
            .patch(
                "/api/v1/me",
                &json!({"display_name": "Grace", "email": "grace@example.com"}),
            )
            .await,
    );
    let reg = register(&admin, false, &[CALLBACK]).await;
    let get = |token: String| {
        let app_url = app.url("/oauth/userinfo");
        async move {
            http_client()
                .get(app_url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let only_openid = authorize(&app, &admin, &reg, &["openid"]).await;
    let v: Value = get(only_openid.access_token().secret().clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"sub": app.admin_id}));
    let full = authorize(&app, &admin, &reg, &["openid", "profile", "email"]).await;
    let v: Value = get(full.access_token().secret().clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["name"], "Grace");
    assert_eq!(v["preferred_username"], app.admin_username.as_str());
    assert_eq!(v["email"], "grace@example.com");
    let api_only = authorize(&app, &admin, &reg, &["api:read"]).await;
    let res = get(api_only.access_token().secret().clone()).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let res = get("not-a-token".into()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        res.headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    let res = http_client()
        .get(app.url("/oauth/userinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn revoke(app: &TestApp, reg: &Registered, token: &str) -> StatusCode {
    http_client()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
}

async fn revocation_stops_the_grant_and_ignores_what_it_should(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let other = register(&admin, false, &[CALLBACK]).await;
    // A refresh token: the grant's access tokens stop too.
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let api = app.with_key(tokens.access_token().secret());
    assert_eq!(api.get("/api/v1/me").await.status(), StatusCode::OK);
    assert_eq!(
        revoke(&app, &reg, tokens.refresh_token().unwrap().secret()).await,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // An access token.
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let api = app.with_key(tokens.access_token().secret());
    assert_eq!(
        revoke(&app, &reg, tokens.access_token().secret()).await,
        StatusCode::OK
    );
    assert_eq!(
        api.get("/api/v1/me").await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Unknown tokens, and another client's tokens: 200, nothing changes.
    let theirs = authorize(&app, &admin, &other, &["api:read"]).await;
    for t in [
        "gatr_unknown",
        "garbage",
        theirs.refresh_token().unwrap().secret(),
        theirs.access_token().secret(),
    ] {
        assert_eq!(revoke(&app, &reg, t).await, StatusCode::OK);
    }
    assert_eq!(
        app.with_key(theirs.access_token().secret())
            .get("/api/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
    // The client must authenticate.
    let res = http_client()
        .post(app.url("/oauth/revoke"))
        .basic_auth(&reg.client_id, Some("gats_wrong"))
        .form(&[("token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );
}

async fn introspect_as(app: &TestApp, reg: &Registered, token: &str) -> Value {
    http_client()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&reg.client_id, reg.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn introspection_answers_for_every_credential(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let NewUser {
        client: user,
        id: user_id,
        username,
    } = app.user(&admin, Role::Editor).await;
    let rs = register(&admin, false, &[CALLBACK]).await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &user, &reg, &["api:read"]).await;
    let v = introspect_as(&app, &rs, tokens.access_token().secret()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_use"], "access_token");
    assert_eq!(v["client_id"], reg.client_id.as_str());
    assert_eq!(v["sub"], user_id.as_str());
    assert_eq!(v["username"], username.as_str());
    assert_eq!(v["scope"], "api:read");
    assert!(v["exp"].as_i64().unwrap() > v["iat"].as_i64().unwrap());
    let v = introspect_as(&app, &rs, tokens.refresh_token().unwrap().secret()).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "refresh_token");
    let IssuedKey {
        secret: key,
        id: key_id,
    } = app.api_key(&user, "full_access").await;
    let v = introspect_as(&app, &rs, &key).await;
    assert_eq!(v["active"], true);
    assert_eq!(v["token_type"], "api_key");
    assert_eq!(v["permission"], "full_access");
    assert_eq!(v["sub"], user_id.as_str());
    // An admin's API key may introspect too.
    let IssuedKey {
        secret: admin_key, ..
    } = app.api_key(&admin, "read_only").await;
    let res = http_client()
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&admin_key)
        .form(&[("token", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["active"], true);
    // A non-admin's key may not.
    let IssuedKey {
        secret: user_key, ..
    } = app.api_key(&user, "read_only").await;
    let res = http_client()
        .post(app.url("/oauth/introspect"))
        .bearer_auth(&user_key)
        .form(&[("token", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Spent, revoked, deleted, inactive: all inactive.
    let renewed = crate::helpers::oauth::oauth(&app, &reg, CALLBACK)
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        introspect_as(&app, &rs, tokens.refresh_token().unwrap().secret()).await,
        json!({"active": false})
    );
    succeeded(user.delete(&format!("/api/v1/api-keys/{key_id}")).await);
    assert_eq!(
        introspect_as(&app, &rs, &key).await,
        json!({"active": false})
    );
    let apps: Value = user
        .get("/api/v1/authorized-apps")
        .await
        .json()
        .await
        .unwrap();
    succeeded(
        user.post(
            &format!(
                "/api/v1/authorized-apps/{}/revoke",
                apps["items"][0]["id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await,
    );
    assert_eq!(
        introspect_as(&app, &rs, renewed.access_token().secret()).await,
        json!({"active": false})
    );
    assert_eq!(
        introspect_as(&app, &rs, renewed.refresh_token().unwrap().secret()).await,
        json!({"active": false})
    );
    for junk in ["gatk_x", "gatr_x", "eyJ.x.y", "anything"] {
        assert_eq!(
            introspect_as(&app, &rs, junk).await["active"],
            false,
            "{junk:?}"
        );
    }
    // Unauthenticated callers learn nothing.
    let res = http_client()
        .post(app.url("/oauth/introspect"))
        .form(&[("token", key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

async fn introspection_is_private_to_the_subscription(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["api:read"]).await;
    let IssuedKey { secret: key, .. } = app.api_key(&admin, "read_only").await;
    let OtherSubscription {
        admin: other_admin, ..
    } = app.second_subscription().await;
    let theirs = register(&other_admin, false, &[CALLBACK]).await;
    for t in [
        tokens.access_token().secret().as_str(),
        tokens.refresh_token().unwrap().secret(),
        key.as_str(),
    ] {
        assert_eq!(
            introspect_as(&app, &theirs, t).await,
            json!({"active": false})
        );
        assert_eq!(introspect_as(&app, &reg, t).await["active"], true);
    }
    let _ = error_code;
}

async fn rotated_keys_keep_old_tokens_valid(b: Backend) {
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let before = authorize(&app, &admin, &reg, &["api:read", "openid"]).await;
    let kids_before: Vec<String> = jwks(&app).await["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        kids_before.len(),
        2,
        "an Ed25519 key and, after an id_token, an RSA key"
    );
    // The operator rotates with the CLI, against the same database.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["signing-key", "rotate", "--database-url", &app.database_url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The server picks the new keys up (it does every 30 s; here, now).
    let st = app.state.clone();
    app.with_db(|conn| st.auth.signing.refresh(conn).unwrap());
    let after = authorize(&app, &admin, &reg, &["api:read", "openid"]).await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    assert_ne!(
        kid(before.access_token().secret()),
        kid(after.access_token().secret())
    );
    let keys = jwks(&app).await;
    let kids_after: Vec<&str> = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids_after.len(), 4, "old and new keys are both published");
    for k in &kids_before {
        assert!(kids_after.contains(&k.as_str()));
    }
    // Old and new tokens both work.
    assert_eq!(
        app.with_key(before.access_token().secret())
            .get("/api/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.with_key(after.access_token().secret())
            .get("/api/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
    // When the old key is gone (its grace period over), the old token stops, though
    // this server verified it a moment ago.
    {
        use diesel::prelude::*;
        use gatehouse_server::db::schema::signing_keys::dsl as k;
        let old = kid(before.access_token().secret());
        app.with_db(|conn| {
            diesel::delete(k::signing_keys.filter(k::id.eq(old)))
                .execute(conn)
                .unwrap()
        });
    }
    app.with_db(|conn| st.auth.signing.refresh(conn).unwrap());
    let res = app
        .with_key(before.access_token().secret())
        .get("/api/v1/me")
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.with_key(after.access_token().secret())
            .get("/api/v1/me")
            .await
            .status(),
        StatusCode::OK
    );
}

/// A signing key row this build cannot parse (damaged, or written by something else)
/// must not take the server down: it is passed over, a new RSA key takes its place, and
/// id_tokens keep verifying with the published JWKS. Before, one such row made every
/// reload fail, made a restart write junk keys and refuse to start, and made
/// `signing-key rotate` fail.
async fn a_stored_key_that_cannot_sign_is_passed_over(b: Backend) {
    use diesel::prelude::*;
    use gatehouse_server::db::schema::signing_keys::dsl as k;
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let reg = register(&admin, false, &[CALLBACK]).await;
    let tokens = authorize(&app, &admin, &reg, &["openid"]).await;
    // The refresh grant answers with an id_token; each answer carries the next refresh.
    let refresh = |token: String| {
        let app = &app;
        let reg = &reg;
        async move {
            let body: Value = http_client()
                .post(app.url("/oauth/token"))
                .basic_auth(&reg.client_id, reg.secret.as_deref())
                .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id_token = body["id_token"].as_str().expect("an id_token").to_string();
            let next = body["refresh_token"].as_str().unwrap().to_string();
            (id_token, next)
        }
    };
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid.unwrap();
    let (id_token, next) = refresh(tokens.refresh_token().unwrap().secret().clone()).await;
    let damaged = kid(&id_token);
    let count = |alg: &str| -> i64 {
        app.with_db(|conn| {
            k::signing_keys
                .filter(k::algorithm.eq(alg.to_string()))
                .count()
                .get_result(conn)
                .unwrap()
        })
    };
    let ed25519_keys = count("EdDSA");
    app.with_db(|conn| {
        diesel::update(k::signing_keys.filter(k::id.eq(damaged.clone())))
            .set(k::private_key.eq("bm90IGEga2V5"))
            .execute(conn)
            .unwrap()
    });
    // The periodic reload, and a restart against the same database, both succeed.
    let st = app.state.clone();
    app.with_db(|conn| st.auth.signing.refresh(conn))
        .expect("reload");
    let settings = app.state.settings.clone();
    app.with_db(|conn| gatehouse_server::auth::jwt::SigningKeys::load_or_create(conn, &settings))
        .expect("a restart loads the keys");
    assert_eq!(
        count("EdDSA"),
        ed25519_keys,
        "no access-token key was written"
    );
    // The unusable key was replaced, and retired: it leaves the JWKS after the grace
    // period, as a rotated key does.
    let retired: Option<chrono::NaiveDateTime> = app.with_db(|conn| {
        k::signing_keys
            .find(damaged.clone())
            .select(k::retired_at)
            .first(conn)
            .unwrap()
    });
    assert!(retired.is_some(), "the unusable key is retired");
    // The next id_token is signed with a new key that the JWKS publishes.
    let (id_token, _) = refresh(next).await;
    assert_ne!(kid(&id_token), damaged);
    let jwk = jwk_for(&jwks(&app).await, &kid(&id_token));
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[&reg.client_id]);
    jsonwebtoken::decode::<Value>(
        &id_token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &validation,
    )
    .expect("the new id_token verifies with the published key");
    // The operator can still rotate.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(["signing-key", "rotate", "--database-url", &app.database_url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn introspection_says_inactive_for_expired_tokens_and_inactive_users(b: Backend) {
    use gatehouse_server::auth::jwt::AccessClaims;
    let app = spawn_app(b).await;
    let admin = app.admin().await;
    let rs = register(&admin, false, &[CALLBACK]).await;
    let NewUser {
        client: user,
        id: user_id,
        ..
    } = app.user(&admin, Role::Editor).await;
    let tokens = authorize(&app, &user, &rs, &["api:read"]).await;
    let access = tokens.access_token().secret().clone();
    // The same token, expired: signed by Gatehouse's key, an hour in the past.
    let claims: AccessClaims = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let expired = AccessClaims {
        iat: claims.iat - 7200,
        exp: claims.iat - 3600,
        ..claims
    };
    let expired = app.state.auth.signing.sign("at+jwt", &expired).unwrap();
    assert_eq!(
        introspect_as(&app, &rs, &expired).await,
        json!({"active": false})
    );
    let IssuedKey { secret: key, .. } = app.api_key(&user, "read_only").await;
    for t in [
        access.as_str(),
        tokens.refresh_token().unwrap().secret(),
        key.as_str(),
    ] {
        assert_eq!(introspect_as(&app, &rs, t).await["active"], true);
    }
    // The user is disabled: everything of theirs is inactive.
    succeeded(
        admin
            .patch(
                &format!("/api/v1/users/{user_id}"),
                &json!({"state": "disabled"}),
            )
            .await,
    );
    for t in [
        access.as_str(),
        tokens.refresh_token().unwrap().secret(),
        key.as_str(),
    ] {
        assert_eq!(introspect_as(&app, &rs, t).await, json!({"active": false}));
    }
}
