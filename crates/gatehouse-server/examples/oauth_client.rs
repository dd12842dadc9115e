//! A command-line OAuth client against Gatehouse, written as a developer would with the
//! `oauth2` crate: authorization code + PKCE, then a call to the API, then a refresh.
//!
//! ```text
//! cargo run -p gatehouse-server --example oauth_client -- \
//!     http://127.0.0.1:8080 CLIENT_ID CLIENT_SECRET https://app.example.com/callback
//! ```
//!
//! It prints the authorization URL; open it in a browser where you are signed in to
//! Gatehouse, allow the app, and paste the URL you were sent back to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufRead;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse, TokenUrl,
};

async fn http(req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
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

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [base, client_id, secret, callback] = args.as_slice() else {
        eprintln!("usage: oauth_client GATEHOUSE_URL CLIENT_ID CLIENT_SECRET CALLBACK_URL");
        std::process::exit(2);
    };
    let client = BasicClient::new(ClientId::new(client_id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_auth_uri(AuthUrl::new(format!("{base}/oauth/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap())
        .set_redirect_uri(RedirectUrl::new(callback.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("api:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    println!("Open this URL, allow the app, then paste the URL you land on:\n\n{url}\n");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    let back = url::Url::parse(line.trim()).expect("a URL");
    let param = |name: &str| {
        back.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(
        param("state").as_deref(),
        Some(state.secret().as_str()),
        "state mismatch"
    );
    let code = param("code").expect("no code in the URL (was the request denied?)");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let me = reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    println!("GET /api/v1/me with the access token:\n{me}\n");
    let renewed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .request_async(&http)
        .await
        .expect("refresh");
    println!(
        "Refreshed: new access token expires in {:?}",
        renewed.expires_in()
    );
}
