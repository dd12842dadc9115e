//! The app's frame: every page in one list (its address, where it shows, its tab),
//! the signed-in shell with the header, the user menu and the tabs, and the sudo
//! dialog.

use leptos::prelude::*;
use leptos_router::components::{A, Redirect, Router};
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::location::{BrowserUrl, LocationProvider};

use crate::api;
use crate::pages;
use crate::session::{Auth, RequireSignIn, here, use_auth};

/// Where a page shows: alone (sign-in, consent, device, the holds), or in the
/// signed-in shell with the tabs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Frame {
    Alone,
    Shell,
}

/// The page's link in the navigation: a main tab, or one of the administration's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    None,
    Main(&'static str),
    /// Shown to admins only.
    AdminSection(&'static str),
    Admin(&'static str),
}

/// One page of the app. `path` ends in `/:id` for a page about one record.
struct Page {
    path: &'static str,
    frame: Frame,
    tab: Tab,
    view: fn() -> AnyView,
}

macro_rules! page {
    ($path:literal, $frame:ident, $tab:expr, $view:path) => {
        Page {
            path: $path,
            frame: Frame::$frame,
            tab: $tab,
            view: || $view().into_any(),
        }
    };
}

/// Every page: the router, the tabs and the administration's links all read this list.
/// (A plain match rather than `leptos_router`'s typed route tree, whose per-route
/// generic code was a tenth of the bundle.)
static PAGES: [Page; 17] = [
    page!("/login", Alone, Tab::None, pages::login::Login),
    page!("/authorize", Alone, Tab::None, pages::consent::Consent),
    page!("/device", Alone, Tab::None, pages::device::Device),
    page!("/enrol", Alone, Tab::None, pages::profile::EnrolPage),
    page!(
        "/change-password",
        Alone,
        Tab::None,
        pages::profile::ChangePasswordPage
    ),
    page!("/", Shell, Tab::None, to_apps),
    page!(
        "/apps",
        Shell,
        Tab::Main("Authorized Applications"),
        pages::apps::AppsPage
    ),
    page!("/keys", Shell, Tab::Main("API Keys"), pages::keys::KeysPage),
    page!(
        "/clients",
        Shell,
        Tab::Main("OAuth Clients"),
        pages::clients::ClientsPage
    ),
    page!("/profile", Shell, Tab::None, pages::profile::ProfilePage),
    page!(
        "/admin",
        Shell,
        Tab::AdminSection("Administration"),
        to_settings
    ),
    page!(
        "/admin/settings",
        Shell,
        Tab::Admin("Settings"),
        pages::admin::SettingsPage
    ),
    page!(
        "/admin/users",
        Shell,
        Tab::Admin("Users"),
        pages::admin::UsersPage
    ),
    page!(
        "/admin/users/:id",
        Shell,
        Tab::None,
        pages::admin::PersonPage
    ),
    page!(
        "/admin/keys",
        Shell,
        Tab::Admin("All API keys"),
        pages::admin::AllKeysPage
    ),
    page!(
        "/admin/clients",
        Shell,
        Tab::Admin("All OAuth clients"),
        pages::admin::AllClientsPage
    ),
    page!(
        "/admin/audit",
        Shell,
        Tab::Admin("Audit log"),
        pages::admin::AuditPage
    ),
];

fn to_apps() -> impl IntoView {
    view! { <Redirect path="/apps"/> }
}

fn to_settings() -> impl IntoView {
    view! { <Redirect path="/admin/settings"/> }
}

/// The page at `path` (a trailing slash is the same page), by its index in [`PAGES`].
fn page_at(path: &str) -> Option<usize> {
    let path = match path.trim_end_matches('/') {
        "" => "/",
        p => p,
    };
    PAGES
        .iter()
        .position(|p| match p.path.strip_suffix("/:id") {
            Some(parent) => path
                .strip_prefix(parent)
                .and_then(|rest| rest.strip_prefix('/'))
                .is_some_and(|id| !id.is_empty() && !id.contains('/')),
            None => p.path == path,
        })
}

/// Whether `href` is the current page or a section above it.
fn is_current(pathname: &str, href: &str) -> bool {
    pathname == href || pathname.starts_with(&format!("{href}/"))
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
            <Pages/>
        </Router>
    }
}

/// The page of the address: alone, or inside the signed-in shell (which stays while
/// its pages change).
#[component]
fn Pages() -> impl IntoView {
    let location = use_location();
    let page = Memo::new(move |_| location.pathname.with(|p| page_at(p)));
    // The router puts a new address in the browser's bar once its page has been
    // rendered (as its own route tree would say): here, after each change of page.
    let browser_url = use_context::<BrowserUrl>();
    Effect::new(move |_| {
        location.pathname.track();
        if let Some(url) = &browser_url {
            url.ready_to_complete();
        }
    });
    // Which frame, and which page when it shows alone: moving between the shell's
    // pages leaves this unchanged, so the shell is not built again.
    let frame = Memo::new(move |_| match page.get() {
        Some(i) if PAGES[i].frame == Frame::Shell => Some(None),
        Some(i) => Some(Some(i)),
        None => None,
    });
    move || match frame.get() {
        Some(None) => view! { <Shell page=page/> }.into_any(),
        Some(Some(i)) => (PAGES[i].view)(),
        None => view! { <pages::NotFound/> }.into_any(),
    }
}

/// The signed-in frame: header with the subscription's name and the user menu, the
/// tabs (and the administration's links, for admins there), and the page.
#[component]
fn Shell(page: Memo<Option<usize>>) -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let in_admin = Memo::new(move |_| location.pathname.with(|p| is_current(p, "/admin")));
    view! {
        <RequireSignIn>
            <Header/>
            <Tabs/>
            <main id="main" class="page">
                <Show when=move || in_admin.get() && auth.is_admin()>
                    <nav class="subtabs" aria-label="Administration">
                        {PAGES.iter().filter_map(|p| match p.tab {
                            Tab::Admin(label) => Some(tab_link(p.path, label, "")),
                            _ => None,
                        }).collect_view()}
                    </nav>
                </Show>
                {move || page.get().map(|i| (PAGES[i].view)())}
            </main>
        </RequireSignIn>
    }
}

/// A navigation link that says when it is the current page (or its section).
fn tab_link(href: &'static str, label: &'static str, class: &'static str) -> impl IntoView {
    let location = use_location();
    let current = move || location.pathname.with(|p| is_current(p, href));
    view! {
        <a href=href class=class class:active=current aria-current=move || current().then_some("page")>
            {label}
        </a>
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
    view! {
        <nav class="tabs" aria-label="Sections">
            {PAGES.iter().filter_map(|p| match p.tab {
                Tab::Main(label) => Some(tab_link(p.path, label, "tab").into_any()),
                Tab::AdminSection(label) => Some((move || auth.is_admin().then(|| tab_link(p.path, label, "tab"))).into_any()),
                _ => None,
            }).collect_view()}
        </nav>
    }
}
