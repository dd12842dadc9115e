//! A small web app that signs its users in with Gatehouse, the way a third-party app
//! would: the OAuth 2 authorization-code flow with PKCE (S256) and OpenID Connect,
//! then the user's profile from `userinfo`, their API keys from the Gatehouse API with
//! the access token, a refresh (Gatehouse rotates refresh tokens), and a sign-out that
//! revokes the grant (RFC 7009).
//!
//! ```text
//! cargo run -p gatehouse-sample-app -- --client-id ID --client-secret SECRET
//! ```
//!
//! See `examples/sample-app/README.md` for registering the app in Gatehouse.

mod gatehouse;
mod pages;
mod routes;
mod session;

use std::process::ExitCode;
use std::time::Duration;

use actix_web::{App, HttpServer, web};
use anyhow::{Context, bail};
use clap::Parser;
use url::Url;

use crate::gatehouse::Gatehouse;
use crate::session::Sessions;

/// Gatehouse sample app: sign in with Gatehouse (OAuth 2 + PKCE), see your profile
/// and API keys, refresh the token, sign out.
#[derive(Parser)]
#[command(name = "sample-app", version)]
struct Config {
    /// Gatehouse's base URL; the app reads `/.well-known/openid-configuration` there.
    #[arg(
        long,
        env = "SAMPLE_GATEHOUSE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    gatehouse: Url,
    /// The client id Gatehouse gave this app when it was registered.
    #[arg(long, env = "SAMPLE_CLIENT_ID")]
    client_id: String,
    /// The client secret of a confidential client (sent with HTTP Basic). Leave it out
    /// for a public client: then only PKCE protects the code (token endpoint auth `none`).
    #[arg(long, env = "SAMPLE_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "SAMPLE_LISTEN", default_value = "127.0.0.1:3000")]
    listen: String,
    /// The URL browsers reach this app at; the redirect URI is `{public_url}/callback`.
    #[arg(
        long,
        env = "SAMPLE_PUBLIC_URL",
        default_value = "http://127.0.0.1:3000"
    )]
    public_url: Url,
    /// The scopes to ask for, separated by spaces.
    #[arg(
        long,
        env = "SAMPLE_SCOPES",
        default_value = "openid profile email api:read"
    )]
    scopes: String,
}

/// What every request handler shares.
pub struct AppState {
    pub gatehouse: Gatehouse,
    pub sessions: Sessions,
    /// `scheme://host[:port]` of `--public-url`, for the same-origin check on POSTs.
    pub origin: String,
    /// Whether the session cookie gets `Secure` (when the public URL is https).
    pub secure_cookie: bool,
}

#[actix_web::main]
async fn main() -> ExitCode {
    match run(Config::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sample-app: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let public_url = config.public_url.as_str().trim_end_matches('/').to_string();
    if !matches!(config.public_url.scheme(), "http" | "https") {
        bail!("--public-url must be an http or https URL");
    }
    let client_secret = config.client_secret.filter(|s| !s.is_empty());
    let scopes: Vec<String> = config
        .scopes
        .split_whitespace()
        .map(str::to_string)
        .collect();
    // One HTTP client for every call to Gatehouse. It follows no redirects: an OAuth
    // endpoint that redirects is a misconfiguration, not something to chase.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(15))
        .build()
        .context("building the HTTP client")?;
    let gatehouse = Gatehouse::discover(
        http,
        config.gatehouse.as_str().trim_end_matches('/'),
        config.client_id,
        client_secret,
        &format!("{public_url}/callback"),
        scopes,
    )
    .await?;
    let kind = if gatehouse.is_public() {
        "public client, PKCE only"
    } else {
        "confidential client"
    };
    let state = web::Data::new(AppState {
        gatehouse,
        sessions: Sessions::default(),
        origin: config.public_url.origin().ascii_serialization(),
        secure_cookie: config.public_url.scheme() == "https",
    });
    let server = HttpServer::new({
        let state = state.clone();
        move || {
            App::new()
                .app_data(state.clone())
                .configure(routes::configure)
        }
    })
    .bind(&config.listen)
    .with_context(|| format!("listening on {}", config.listen))?;
    let addrs: Vec<String> = server.addrs().iter().map(|a| a.to_string()).collect();
    println!(
        "sample-app listening on {} — open {public_url}/ ({kind}, Gatehouse {})",
        addrs.join(", "),
        state.gatehouse.issuer(),
    );
    server.run().await.context("serving")?;
    Ok(())
}
