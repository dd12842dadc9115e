//! A small web app that signs its users in with Gatehouse, the way a third-party app
//! would: the OAuth 2 authorization-code flow with PKCE (S256) and OpenID Connect,
//! then the user's profile from `userinfo`, their API keys from the Gatehouse API with
//! the access token, a refresh (Gatehouse rotates refresh tokens), and a sign-out that
//! revokes the grant (RFC 7009).
//!
//! ```text
//! cargo run -p gatehouse-sample-app -- --client-id ID --client-secret SECRET
//! cargo run -p gatehouse-sample-app -- --client-id ID device-login
//! ```
//!
//! `device-login` is the command-line side: the device authorization grant (RFC 8628)
//! through the `oauth2` crate — it prints where to go and the code to type, waits for
//! the person to allow it in their browser, then shows who signed in.
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
use clap::{Parser, Subcommand};
use url::Url;

use crate::gatehouse::Gatehouse;
use crate::session::Sessions;

/// Gatehouse sample app: sign in with Gatehouse (OAuth 2 + PKCE), see your profile
/// and API keys, refresh the token, sign out.
#[derive(Parser)]
#[command(name = "sample-app", version)]
struct Config {
    #[command(subcommand)]
    command: Option<Command>,
    /// Gatehouse's base URL; the app reads `/.well-known/openid-configuration` there.
    #[arg(
        long,
        env = "SAMPLE_GATEHOUSE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    gatehouse: Url,
    /// The client id Gatehouse gave this app when it was registered.
    #[arg(long, env = "SAMPLE_CLIENT_ID", global = true)]
    client_id: Option<String>,
    /// The client secret of a confidential client (sent with HTTP Basic). Leave it out
    /// for a public client: then only PKCE protects the code (token endpoint auth `none`).
    #[arg(
        long,
        env = "SAMPLE_CLIENT_SECRET",
        hide_env_values = true,
        global = true
    )]
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
        default_value = "openid profile email api:read",
        global = true
    )]
    scopes: String,
}

#[derive(Subcommand)]
enum Command {
    /// Sign in from this terminal with the device authorization grant (RFC 8628): open
    /// the address shown, type the code, allow; then see who signed in. The client must
    /// be registered for the device grant.
    DeviceLogin,
}

/// What every request handler shares.
pub struct AppState {
    pub gatehouse: Gatehouse,
    pub sessions: Sessions,
    /// `scheme://host[:port]` of `--public-url`, for the same-origin check on POSTs.
    pub origin: String,
    /// Gatehouse's origin, where signing out goes on to (the pages' `form-action`).
    pub gatehouse_origin: String,
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
    let Some(client_id) = config.client_id.clone() else {
        bail!("--client-id (or SAMPLE_CLIENT_ID) is required");
    };
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
        client_id,
        client_secret,
        &format!("{public_url}/callback"),
        scopes,
    )
    .await?;
    if let Some(Command::DeviceLogin) = config.command {
        return device_login(&gatehouse).await;
    }
    let kind = if gatehouse.is_public() {
        "public client, PKCE only"
    } else {
        "confidential client"
    };
    let state = web::Data::new(AppState {
        gatehouse,
        sessions: Sessions::default(),
        origin: config.public_url.origin().ascii_serialization(),
        gatehouse_origin: config.gatehouse.origin().ascii_serialization(),
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

/// `sample-app device-login`: what a command-line tool does to sign someone in.
async fn device_login(gatehouse: &Gatehouse) -> anyhow::Result<()> {
    let tokens = gatehouse
        .device_login(|uri, code, complete| {
            println!("To sign in, open {uri} in your browser and enter the code {code}");
            if let Some(complete) = complete {
                println!("(or open {complete})");
            }
            println!("Waiting for you to allow it…");
        })
        .await
        .map_err(|f| anyhow::anyhow!("device sign-in failed: {f}"))?;
    let access = oauth2::TokenResponse::access_token(&tokens);
    let scope = oauth2::TokenResponse::scopes(&tokens)
        .map(|s| {
            s.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    match gatehouse.userinfo(access).await {
        Ok(me) => println!(
            "Signed in as {} ({})",
            me.preferred_username.as_deref().unwrap_or("?"),
            me.sub
        ),
        Err(f) => println!("Signed in; userinfo answered {:?}", f.code),
    }
    println!("Scopes: {scope}");
    match gatehouse.api_keys(access).await {
        Ok(page) => println!("Your API keys: {}", page.items.len()),
        Err(f) => println!("The API answered {:?}", f.code),
    }
    Ok(())
}
