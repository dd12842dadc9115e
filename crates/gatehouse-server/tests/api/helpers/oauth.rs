//! The OAuth helpers other test files share: a registered client, the `oauth2` crate's
//! client of it, and a whole authorization through the browser's part (the consent API).

use oauth2::basic::{BasicClient, BasicTokenResponse};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, RedirectUrl, Scope, TokenUrl,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Client, TestApp};

pub const CALLBACK: &str = "https://app.example.com/callback";

pub type OAuth =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// The `oauth2` crate's HTTP hook, over reqwest, following no redirects.
pub async fn http(req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let client = crate::helpers::http_client();
    let mut rb = client
        .request(req.method().clone(), req.uri().to_string())
        .body(req.body().clone());
    for (k, v) in req.headers() {
        rb = rb.header(k, v);
    }
    let res = rb.send().await?;
    let mut out = http::Response::builder().status(res.status());
    for (k, v) in res.headers() {
        out = out.header(k, v);
    }
    Ok(out.body(res.bytes().await?.to_vec()).unwrap())
}

pub struct Registered {
    pub id: String,
    pub client_id: String,
    pub secret: Option<String>,
}

pub async fn register(owner: &Client, public: bool, redirects: &[&str]) -> Registered {
    let res = owner
        .post(
            "/api/v1/oauth-clients",
            &json!({
                "name": "Acme Dashboard",
                "redirect_uris": redirects,
                "client_type": if public { "public" } else { "confidential" },
                "homepage_url": "https://app.example.com",
            }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let v: Value = res.json().await.unwrap();
    Registered {
        id: v["id"].as_str().unwrap().to_string(),
        client_id: v["client_id"].as_str().unwrap().to_string(),
        secret: v["client_secret"].as_str().map(str::to_string),
    }
}

pub fn oauth(app: &TestApp, reg: &Registered, redirect: &str) -> OAuth {
    oauth_at(&app.address, reg, redirect)
}

/// The `oauth2` client of `reg` at the server at `base`.
pub fn oauth_at(base: &str, reg: &Registered, redirect: &str) -> OAuth {
    let mut c = BasicClient::new(ClientId::new(reg.client_id.clone()))
        .set_auth_uri(AuthUrl::new(format!("{base}/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(redirect.to_string()).unwrap());
    if let Some(s) = &reg.secret {
        c = c.set_client_secret(ClientSecret::new(s.clone()));
    }
    c
}

pub fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The browser's part: follow the authorization URL, allow (or deny) on the consent
/// API if asked, and return where the browser is sent back to.
pub async fn browser(app: &TestApp, user: &Client, auth_url: &str, allow: bool) -> String {
    let _ = app;
    browser_step(user, auth_url, allow).await
}

async fn browser_step(user: &Client, auth_url: &str, allow: bool) -> String {
    let res = user.http.get(auth_url).send().await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(
        res.headers().get("content-security-policy").unwrap(),
        "frame-ancestors 'none'"
    );
    let location = res
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let Some(request) = location.strip_prefix("/authorize?request=") else {
        return location;
    };
    let view: Value = user
        .get(&format!("/api/v1/oauth/requests/{request}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["client_name"], "Acme Dashboard");
    assert!(
        view["registered_by"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "{view}"
    );
    let decision = if allow { "allow" } else { "deny" };
    let res = user
        .post(
            &format!("/api/v1/oauth/requests/{request}"),
            &json!({"decision": decision}),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Value>().await.unwrap()["redirect_to"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A whole authorization: returns the tokens.
pub async fn authorize(
    app: &TestApp,
    user: &Client,
    reg: &Registered,
    scopes: &[&str],
) -> BasicTokenResponse {
    authorize_at(
        &app.address,
        Some(app.state.auth.signing.issuer()),
        user,
        reg,
        scopes,
    )
    .await
}

/// A whole authorization at the server at `base`, whose issuer is checked when given.
pub async fn authorize_at(
    base: &str,
    issuer: Option<&str>,
    user: &Client,
    reg: &Registered,
    scopes: &[&str],
) -> BasicTokenResponse {
    let client = oauth_at(base, reg, CALLBACK);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scopes.iter().map(|s| Scope::new(s.to_string())))
        .set_pkce_challenge(challenge)
        .url();
    let back = browser_step(user, url.as_str(), true).await;
    assert!(back.starts_with(CALLBACK), "{back}");
    assert_eq!(
        param(&back, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    if let Some(issuer) = issuer {
        assert_eq!(param(&back, "iss").as_deref(), Some(issuer));
    }
    let code = param(&back, "code").expect("a code");
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange")
}
