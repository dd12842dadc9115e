//! The app's frame: who is signed in (`Auth`), the routes, and the signed-in shell
//! with the header, the user menu and the tabs.

use gatehouse_types::{Role, SessionInfo, Subscription, User};
use leptos::prelude::*;
use leptos_router::components::{A, Outlet, ParentRoute, Redirect, Route, Router, Routes};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::path;

use crate::api;
use crate::components::Loading;
use crate::pages;

/// Who is signed in, shared by every page through the context.
#[derive(Clone, Copy)]
pub struct Auth {
    pub session: RwSignal<Option<SessionInfo>>,
    /// The first `GET /session` has answered.
    pub checked: RwSignal<bool>,
    /// The session ended while the app was open (not a first visit).
    pub expired: RwSignal<bool>,
}

impl Auth {
    pub fn user(&self) -> Option<User> {
        self.session.with(|s| s.as_ref().map(|s| s.user.clone()))
    }

    pub fn role(&self) -> Option<Role> {
        self.session.with(|s| s.as_ref().map(|s| s.user.role))
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    pub fn subscription(&self) -> Option<Subscription> {
        self.session
            .with(|s| s.as_ref().map(|s| s.subscription.clone()))
    }

    /// Stores a fresher copy of the subscription (after settings change).
    pub fn set_subscription(&self, sub: Subscription) {
        self.session.update(|s| {
            if let Some(s) = s {
                s.subscription = sub;
            }
        });
    }

    /// The subscription read fresh (its settings decide what a page offers, and an
    /// admin may have changed them since sign-in); the shared copy follows.
    pub fn fresh_subscription(self) -> LocalResource<api::ApiResult<Subscription>> {
        LocalResource::new(move || async move {
            let s = api::subscription().await;
            if let Ok(s) = &s {
                self.set_subscription(s.clone());
            }
            s
        })
    }

    pub fn signed_in(&self, info: SessionInfo) {
        api::set_csrf(info.csrf_token.clone());
        self.expired.set(false);
        self.session.set(Some(info));
    }

    pub fn signed_out(&self) {
        api::set_csrf(None);
        self.session.set(None);
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// The current location as a path with its query, for `?next=`.
pub fn here() -> String {
    web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.pathname().ok()?, l.search().ok()?))
        })
        .unwrap_or_else(|| "/".into())
}

/// Where a session that must do something first goes, then back to `next`: choosing
/// its own password (signed in with a temporary one), then setting up a second step
/// (the subscription requires one). `None` when it is free.
pub fn hold_url(info: &SessionInfo, next: &str) -> Option<String> {
    let page = match info.credential {
        gatehouse_types::Credential::Session {
            password_change_required: true,
            ..
        } => "/change-password",
        gatehouse_types::Credential::Session {
            enrolment_required: true,
            ..
        } => "/enrol",
        _ => return None,
    };
    Some(format!("{page}?next={}", api::encode(next)))
}

/// The open sudo dialog and the promise it answers.
#[derive(Clone, Copy)]
struct SudoPrompt {
    open: RwSignal<bool>,
    resolve: StoredValue<Option<js_sys::Function>, LocalStorage>,
}

impl SudoPrompt {
    fn answer(self, confirmed: bool) {
        if let Some(resolve) = self.resolve.try_update_value(Option::take).flatten() {
            let _ = resolve.call1(&wasm_bindgen::JsValue::NULL, &confirmed.into());
        }
        self.open.set(false);
    }
}

/// "Confirm it is you": the password again (and a code, for a person with a second
/// step) before a sensitive action, as GitHub's sudo mode asks.
#[component]
fn SudoDialog(prompt: SudoPrompt) -> impl IntoView {
    let auth = use_auth();
    let password = RwSignal::new(String::new());
    let code = RwSignal::new(String::new());
    let needs_code = RwSignal::new(false);
    let error = RwSignal::new(None::<api::ApiError>);
    let busy = RwSignal::new(false);
    let close = Callback::new(move |_| {
        password.set(String::new());
        code.set(String::new());
        error.set(None);
        prompt.answer(false);
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let (p, c) = (password.get_untracked(), code.get_untracked());
        // A recovery code has letters; an app's code only digits.
        let recovery = c.chars().any(|ch| ch.is_ascii_alphabetic());
        leptos::task::spawn_local(async move {
            match api::sudo(p, c, recovery).await {
                Ok(info) => {
                    password.set(String::new());
                    code.set(String::new());
                    auth.signed_in(info);
                    prompt.answer(true);
                }
                Err(e) => {
                    if e.field.as_deref() == Some("code") {
                        needs_code.set(true);
                    }
                    code.set(String::new());
                    error.set(Some(e));
                }
            }
            busy.set(false);
        });
    };
    let with_passkey = move |_| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::sudo_passkey().await {
                Ok(info) => {
                    password.set(String::new());
                    auth.signed_in(info);
                    prompt.answer(true);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    view! {
        <Show when=move || prompt.open.get()>
            <crate::components::Modal title="Confirm it is you" on_close=close>
                <form on:submit=submit id="sudo-form" novalidate>
                    <p>"This changes something sensitive. Type your password again to go on; you will not be asked again for ten minutes."</p>
                    <label class="field">
                        <span>"Password"</span>
                        <input name="password" type="password" autocomplete="current-password" required autofocus
                            prop:value=move || password.get()
                            on:input=move |ev| password.set(event_target_value(&ev))/>
                    </label>
                    <Show when=move || needs_code.get()>
                        <label class="field">
                            <span>"Code from your authenticator app, or a recovery code"</span>
                            <input name="code" autocomplete="one-time-code" autocapitalize="none" spellcheck="false" required
                                prop:value=move || code.get()
                                on:input=move |ev| code.set(event_target_value(&ev))/>
                        </label>
                    </Show>
                    {move || error.get().map(|e| {
                        // The person is signed in: a wrong password here is only that.
                        let text = if e.code == gatehouse_types::codes::INVALID_CREDENTIALS {
                            "That password is not right.".to_string()
                        } else {
                            crate::format::error_text(&e)
                        };
                        view! { <p class="error" role="alert">{text}</p> }
                    })}
                    <div class="actions">
                        <button type="button" class="secondary" on:click=move |_| close.run(())>"Cancel"</button>
                        {crate::passkeys::supported().then(|| view! {
                            <button type="button" class="secondary" disabled=move || busy.get() on:click=with_passkey>"Use a passkey"</button>
                        })}
                        <button type="submit" disabled=move || busy.get()>"Confirm"</button>
                    </div>
                </form>
            </crate::components::Modal>
        </Show>
    }
}

/// The sign-in page's address that comes back to `next` afterwards.
pub fn login_url(next: &str) -> String {
    format!("/login?next={}", api::encode(next))
}

#[component]
pub fn App() -> impl IntoView {
    let auth = Auth {
        session: RwSignal::new(None),
        checked: RwSignal::new(false),
        expired: RwSignal::new(false),
    };
    provide_context(auth);
    api::on_signed_out(move || {
        if auth.session.with_untracked(Option::is_some) {
            auth.expired.set(true);
        }
        auth.signed_out();
    });
    leptos::task::spawn_local(async move {
        if let Ok(info) = api::session().await {
            auth.signed_in(info);
        }
        auth.checked.set(true);
    });
    // The server wants the password again (sudo mode): the dialog asks, and the
    // request goes again once it is confirmed.
    let sudo = SudoPrompt {
        open: RwSignal::new(false),
        resolve: StoredValue::new_local(None),
    };
    api::on_sudo(move || {
        js_sys::Promise::new(&mut |resolve, _reject| {
            sudo.resolve.set_value(Some(resolve));
            sudo.open.set(true);
        })
    });
    // The session must do something first: choose its own password, or set up the
    // second step the subscription requires.
    api::on_held(|page| {
        if let Some(w) = web_sys::window()
            && w.location().pathname().ok().as_deref() != Some(page)
        {
            let _ = w
                .location()
                .assign(&format!("{page}?next={}", api::encode(&here())));
        }
    });
    view! {
        <SudoDialog prompt=sudo/>
        <Router>
            <Routes fallback=|| view! { <pages::NotFound/> }>
                <Route path=path!("/login") view=pages::login::Login/>
                <Route path=path!("/authorize") view=pages::consent::Consent/>
                <Route path=path!("/device") view=pages::device::Device/>
                <Route path=path!("/enrol") view=pages::profile::EnrolPage/>
                <Route path=path!("/change-password") view=pages::profile::ChangePasswordPage/>
                <ParentRoute path=path!("") view=Shell>
                    <Route path=path!("") view=|| view! { <Redirect path="/apps"/> }/>
                    <Route path=path!("apps") view=pages::apps::AppsPage/>
                    <Route path=path!("keys") view=pages::keys::KeysPage/>
                    <Route path=path!("clients") view=pages::clients::ClientsPage/>
                    <Route path=path!("profile") view=pages::profile::ProfilePage/>
                    <Route path=path!("admin") view=|| view! { <Redirect path="/admin/settings"/> }/>
                    <Route path=path!("admin/settings") view=pages::admin::SettingsPage/>
                    <Route path=path!("admin/users") view=pages::admin::UsersPage/>
                    <Route path=path!("admin/users/:id") view=pages::admin::PersonPage/>
                    <Route path=path!("admin/keys") view=pages::admin::AllKeysPage/>
                    <Route path=path!("admin/clients") view=pages::admin::AllClientsPage/>
                    <Route path=path!("admin/audit") view=pages::admin::AuditPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// Sends a signed-out visitor to the sign-in page, to come back here afterwards.
#[component]
pub fn RequireSignIn(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    // Only signing in or out re-renders the page, not every change to the session's
    // data (a fresher copy of the settings, an edited profile).
    let signed_in = Memo::new(move |_| auth.session.with(Option::is_some));
    let held = Memo::new(move |_| {
        auth.session
            .with(|s| s.as_ref().and_then(|s| hold_url(s, "/")).is_some())
    });
    Effect::new(move |_| {
        // (Signing out leaves for the sign-in page before the session is forgotten:
        // this frame, on its way out, must not send it there again with itself as
        // `next`.)
        let on_sign_in = here().starts_with("/login");
        if auth.checked.get() && !signed_in.get() && !on_sign_in {
            navigate(&login_url(&here()), Default::default());
        } else if held.get() && !on_sign_in {
            let to = auth
                .session
                .with_untracked(|s| s.as_ref().and_then(|s| hold_url(s, &here())));
            if let Some(to) = to {
                navigate(&to, Default::default());
            }
        }
    });
    move || {
        if !auth.checked.get() {
            view! { <Loading/> }.into_any()
        } else if signed_in.get() {
            children().into_any()
        } else {
            view! { <Loading/> }.into_any()
        }
    }
}

/// The signed-in frame: header with the subscription's name and the user menu, the
/// tabs, and the page.
#[component]
fn Shell() -> impl IntoView {
    view! {
        <RequireSignIn>
            <Header/>
            <Tabs/>
            <main id="main" class="page">
                <Outlet/>
            </main>
        </RequireSignIn>
    }
}

#[component]
pub fn Header() -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    let sign_out = move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let _ = api::sign_out().await;
            // Leave the signed-in pages first, so that they do not also send the
            // visitor to sign in with a `next` back to where they were.
            navigate("/login", Default::default());
            auth.signed_out();
        });
    };
    let sub_name = move || auth.subscription().map(|s| s.name).unwrap_or_default();
    let user_name = move || {
        auth.user()
            .map(|u| {
                if u.display_name.is_empty() {
                    u.username
                } else {
                    u.display_name
                }
            })
            .unwrap_or_default()
    };
    view! {
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="topbar">
            <div class="brand">
                <span class="logo" aria-hidden="true">"◆"</span>
                <span class="product">"Gatehouse"</span>
                <span class="subscription" title="Subscription">{sub_name}</span>
            </div>
            <details class="user-menu">
                <summary title="Account menu">
                    <span class="avatar" aria-hidden="true">
                        {move || user_name().chars().next().map(|c| c.to_uppercase().to_string()).unwrap_or_default()}
                    </span>
                    <span class="user-name">{user_name}</span>
                </summary>
                <div class="menu">
                    <A href="/profile">"Profile and password"</A>
                    <button type="button" class="link" on:click=sign_out>
                        "Sign out"
                    </button>
                </div>
            </details>
        </header>
    }
}

#[component]
fn Tabs() -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let tab = move |href: &'static str, label: &'static str| {
        let current = move || {
            let p = location.pathname.get();
            p == href || p.starts_with(&format!("{href}/"))
        };
        view! {
            <a
                href=href
                class="tab"
                class:active=current
                aria-current=move || if current() { Some("page") } else { None }
            >
                {label}
            </a>
        }
    };
    view! {
        <nav class="tabs" aria-label="Sections">
            {tab("/apps", "Authorized Applications")}
            {tab("/keys", "API Keys")}
            {tab("/clients", "OAuth Clients")}
            {move || auth.is_admin().then(|| tab("/admin", "Administration"))}
        </nav>
    }
}
