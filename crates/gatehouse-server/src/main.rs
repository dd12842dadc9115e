//! `gatehouse`: parses the command line and hands over to the library.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::Parser;
use gatehouse_server::auth::password::{generate_password, hash_sync};
use gatehouse_server::config::{Cli, Command, Settings, SigningKeyAction};
use gatehouse_server::startup::Application;
use gatehouse_server::{bootstrap, db, telemetry};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.settings) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);
    let result = match cli.command {
        Command::Serve => actix_web::rt::System::new().block_on(serve(settings)),
        Command::Migrate => migrate(&settings),
        Command::Bootstrap {
            subscription,
            username,
            password_stdin,
        } => run_bootstrap(&settings, &subscription, &username, password_stdin),
        Command::SigningKey {
            action: SigningKeyAction::Rotate,
        } => rotate_signing_keys(&settings),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gatehouse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(settings.clone())?;
    let state = app.state();
    let mut conn = state.pool.get()?;
    if bootstrap::is_empty(&mut conn)? {
        let password = generate_password();
        let hash = hash_sync(&password)?;
        match bootstrap::create_subscription(&mut conn, "Default", "admin", &hash) {
            Ok(_) => print_first_admin(&settings.public_url, "admin", &password),
            // Another replica sharing the database got there first.
            Err(e) if e.to_string().contains("already taken") => {}
            Err(e) => return Err(anyhow::anyhow!("creating the first admin: {e}")),
        }
    }
    drop(conn);
    tracing::info!(listen = %settings.listen, public_url = %settings.public_url, "serving");
    app.run_until_stopped().await?;
    Ok(())
}

/// The one time the first admin's password is shown: on standard output, not in the
/// log, so log collectors never see it.
fn print_first_admin(url: &str, username: &str, password: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n  Gatehouse is ready at {url}\n\n  First admin (shown once, change it after signing in):\n    username: {username}\n    password: {password}\n"
    );
    let _ = out.flush();
}

fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    let applied = db::migrate(&mut conn)?;
    println!("applied {applied} migration(s)");
    Ok(())
}

fn rotate_signing_keys(settings: &Settings) -> anyhow::Result<()> {
    let pool = db::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    db::migrate(&mut conn)?;
    // Make sure an Ed25519 key exists before rotating it.
    gatehouse_server::oauth::jwt::SigningKeys::load_or_create(&mut conn, settings)?;
    let kids = gatehouse_server::oauth::jwt::rotate(&mut conn)?;
    println!("new signing keys: {}", kids.join(", "));
    println!(
        "running servers sign with them within 30 seconds; old tokens verify until they expire"
    );
    Ok(())
}

fn run_bootstrap(
    settings: &Settings,
    subscription: &str,
    username: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        gatehouse_types::validate::password(&line)
            .map_err(|m| anyhow::anyhow!("the password {m}"))?;
        (line, false)
    } else {
        (generate_password(), true)
    };
    let pool = db::connect(&settings.database_url, 1)?;
    let mut conn = pool.get()?;
    db::migrate(&mut conn)?;
    let hash = hash_sync(&password)?;
    let created = bootstrap::create_subscription(&mut conn, subscription, username, &hash)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("subscription: {}", created.subscription_id);
    println!("admin user:   {}", created.user_id);
    if generated {
        println!("password:     {password}   (shown once)");
    }
    Ok(())
}
