//! `/login?next=…`: sign in, then go where `next` points — back into an OAuth
//! authorization, or to the page the session expired on.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};

use crate::api::{self, ApiError};
use crate::components::ErrorNote;
use crate::session::use_auth;

/// `next` only if it is a path on this server (never another origin: no open redirect).
/// Browsers drop tabs and line breaks from URLs (`/\t/evil.example` is
/// `//evil.example`), so any control character or space is refused, and what is kept
/// is the path of the URL the browser itself parses, checked to be of this origin.
pub fn safe_next(next: Option<String>) -> String {
    let fallback = || "/apps".to_string();
    let Some(n) = next else {
        return fallback();
    };
    // Never back to the sign-in page itself: signing in there would go nowhere.
    if !n.starts_with('/')
        || n.starts_with("//")
        || n == "/login"
        || n.starts_with("/login?")
        || n.chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return fallback();
    }
    let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) else {
        return fallback();
    };
    match web_sys::Url::new_with_base(&n, &origin) {
        Ok(url) if url.origin() == origin => {
            format!("{}{}{}", url.pathname(), url.search(), url.hash())
        }
        _ => fallback(),
    }
}

/// Paths the server answers itself (the OAuth endpoints) need a real page load.
fn is_server_path(path: &str) -> bool {
    path.starts_with("/oauth/") || path.starts_with("/login/oauth2/")
}

pub fn go_to(next: &str, navigate: &impl Fn(&str, leptos_router::NavigateOptions)) {
    if is_server_path(next) {
        if let Some(w) = web_sys::window() {
            let _ = w.location().assign(next);
        }
    } else {
        navigate(next, Default::default());
    }
}

#[component]
pub fn Login() -> impl IntoView {
    let auth = use_auth();
    let query = use_query_map();
    let navigate = use_navigate();
    let next = Memo::new(move |_| safe_next(query.with(|q| q.get("next"))));
    let username = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    // An application asked for a new sign-in (OpenID Connect `prompt=login` or
    // `max_age`): the existing session does not count, only a sign-in made here.
    let reauth = Memo::new(move |_| query.with(|q| q.get("reauth").as_deref() == Some("1")));
    let fresh = RwSignal::new(false);
    // The password was right and a second step is owed: the waiting sign-in's token,
    // and the passkey challenge when the person has a passkey.
    let owed = RwSignal::new(None::<String>);
    let owed_passkey = RwSignal::new(None::<serde_json::Value>);
    let code = RwSignal::new(String::new());
    let recovery = RwSignal::new(false);

    // Already signed in (or just signed in): go on.
    let nav = navigate.clone();
    Effect::new(move |_| {
        if auth.checked.get()
            && auth.session.with(Option::is_some)
            && (fresh.get() || !reauth.get())
        {
            // A temporary password to replace, or a second step the subscription
            // requires: that first.
            let held = auth.session.with(|s| {
                s.as_ref()
                    .and_then(|s| crate::session::hold_url(s, &next.get_untracked()))
            });
            match held {
                Some(to) => nav(&to, Default::default()),
                None => go_to(&next.get_untracked(), &nav),
            }
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let (u, p) = (username.get_untracked(), password.get_untracked());
        leptos::task::spawn_local(async move {
            match api::sign_in(u, p).await {
                Ok(api::SignIn::Done(info)) => {
                    password.set(String::new());
                    fresh.set(true);
                    auth.signed_in(*info);
                }
                Ok(api::SignIn::SecondStep(step)) => {
                    password.set(String::new());
                    let passkey_only = !step.methods.iter().any(|m| m == "totp");
                    owed_passkey.set(step.passkey_options);
                    owed.set(Some(step.second_step_token));
                    busy.set(false);
                    // Someone with passkeys alone types a recovery code, if anything.
                    recovery.set(passkey_only);
                }
                Err(e) => {
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    let submit_code = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(token) = owed.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let (c, r) = (code.get_untracked(), recovery.get_untracked());
        leptos::task::spawn_local(async move {
            match api::second_step(token, c, r).await {
                Ok(info) => {
                    code.set(String::new());
                    fresh.set(true);
                    auth.signed_in(info);
                }
                Err(e) => {
                    // Expired or tried too often: back to the password.
                    if e.code == gatehouse_types::codes::SECOND_STEP_EXPIRED {
                        owed.set(None);
                    }
                    code.set(String::new());
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };

    // The passkey as the second step.
    let use_passkey = move |_| {
        let (Some(token), Some(options)) = (owed.get_untracked(), owed_passkey.get_untracked())
        else {
            return;
        };
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::second_step_passkey(token, &options).await {
                Ok(info) => {
                    fresh.set(true);
                    auth.signed_in(info);
                }
                Err(e) => {
                    if e.code == gatehouse_types::codes::SECOND_STEP_EXPIRED {
                        owed.set(None);
                    }
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    // A passkey alone, no username typed.
    let passkey_sign_in = move |_| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::passkey_sign_in().await {
                Ok(info) => {
                    fresh.set(true);
                    auth.signed_in(info);
                }
                Err(e) => {
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    let passkeys_here = crate::passkeys::supported();

    let oauth_next = move || is_server_path(&next.get());
    view! {
        <main id="main" class="center-page">
            <div class="card narrow">
                <div class="brand big">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Gatehouse"
                </div>
                <h1>"Sign in"</h1>
                <Show when=move || auth.expired.get()>
                    <p class="notice" role="status">"Your session has ended. Sign in again to continue."</p>
                </Show>
                <Show when=move || oauth_next() && !reauth.get()>
                    <p class="notice" role="status">"An application asked you to sign in with Gatehouse."</p>
                </Show>
                <Show when=move || reauth.get()>
                    <p class="notice" role="status">"An application asked you to confirm it is you: sign in again to continue."</p>
                </Show>
                <Show when=move || owed.with(Option::is_some)>
                    <form on:submit=submit_code novalidate id="second-step-form">
                        <label class="field">
                            <span>{move || if recovery.get() { "Recovery code" } else { "Code from your authenticator app" }}</span>
                            <input
                                name="code"
                                autocomplete="one-time-code"
                                inputmode=move || if recovery.get() { "text" } else { "numeric" }
                                autocapitalize="none"
                                spellcheck="false"
                                required
                                autofocus
                                prop:value=move || code.get()
                                on:input=move |ev| code.set(event_target_value(&ev))
                            />
                        </label>
                        <ErrorNote error=error/>
                        <button type="submit" class="wide" disabled=move || busy.get()>"Continue"</button>
                        <Show when=move || owed_passkey.with(Option::is_some) && passkeys_here>
                            <button type="button" class="wide secondary" disabled=move || busy.get() on:click=use_passkey>
                                "Use your passkey"
                            </button>
                        </Show>
                        <button type="button" class="link" on:click=move |_| {
                            recovery.update(|r| *r = !*r);
                            code.set(String::new());
                            error.set(None);
                        }>
                            {move || if recovery.get() { "Use the authenticator app instead" } else { "Use a recovery code instead" }}
                        </button>
                    </form>
                </Show>
                <form on:submit=submit novalidate hidden=move || owed.with(Option::is_some)>
                    <label class="field">
                        <span>"Username"</span>
                        <input
                            name="username"
                            autocomplete="username"
                            autocapitalize="none"
                            spellcheck="false"
                            required
                            autofocus
                            prop:value=move || username.get()
                            on:input=move |ev| username.set(event_target_value(&ev))
                        />
                    </label>
                    <label class="field">
                        <span>"Password"</span>
                        <input
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                            prop:value=move || password.get()
                            on:input=move |ev| password.set(event_target_value(&ev))
                        />
                    </label>
                    <ErrorNote error=error/>
                    <button type="submit" class="wide" disabled=move || busy.get()>
                        {move || if busy.get() { "Signing in…" } else { "Sign in" }}
                    </button>
                    {passkeys_here.then(|| view! {
                        <button type="button" class="wide secondary" disabled=move || busy.get() on:click=passkey_sign_in>
                            "Sign in with a passkey"
                        </button>
                    })}
                </form>
                <p class="hint">"Forgot your password? Ask an administrator of your subscription to set a new one."</p>
            </div>
        </main>
    }
}
