//! Administration (admins only): subscription settings, users, every API key of the
//! subscription, every OAuth client, and the audit log.

use chrono::{NaiveDate, TimeZone, Utc};
use gatehouse_types::{
    AuditEvent, CreateUser, OAuthClient, Role, SubscriptionApiKey, SubscriptionSettings,
    TwoStepPolicy, UpdateOAuthClient, UpdateSubscription, UpdateUser, User, UserKind, UserState,
};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::api::{self, ApiError, AuditFilter, KeyFilter};
use crate::app::use_auth;
use crate::components::*;
use crate::format;

/// The admin section's own navigation, and the guard for everyone else.
#[component]
fn AdminFrame(#[prop(into)] title: String, children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let link = move |href: &'static str, label: &'static str| {
        let current = move || location.pathname.get() == href;
        view! {
            <a href=href class:active=current aria-current=move || current().then_some("page")>{label}</a>
        }
    };
    // A memo: saving the settings refreshes the session's data, which must not
    // re-render the page (and lose its "saved" message).
    let admin = Memo::new(move |_| auth.is_admin());
    move || {
        if !admin.get() {
            return view! {
                <div class="empty">
                    <h1>"Administration"</h1>
                    <p>"Only administrators of the subscription can see this page."</p>
                </div>
            }
            .into_any();
        }
        view! {
            <nav class="subtabs" aria-label="Administration">
                {link("/admin/settings", "Settings")}
                {link("/admin/users", "Users")}
                {link("/admin/keys", "All API keys")}
                {link("/admin/clients", "All OAuth clients")}
                {link("/admin/audit", "Audit log")}
            </nav>
            <h1>{title.clone()}</h1>
            {children()}
        }
        .into_any()
    }
}

// ----- settings -----

#[component]
pub fn SettingsPage() -> impl IntoView {
    let sub = LocalResource::new(|| async { api::subscription().await });
    let reload = Callback::new(move |_| sub.refetch());
    view! {
        <AdminFrame title="Subscription settings">
            {move || match sub.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <LoadFailed error=e retry=reload/> }.into_any(),
                Some(Ok(s)) => view! { <SettingsForm name=s.name settings=s.settings/> }.into_any(),
            }}
        </AdminFrame>
    }
}

fn role_checkboxes(
    legend: &'static str,
    name: &'static str,
    roles: RwSignal<Vec<Role>>,
) -> impl IntoView {
    view! {
        <fieldset class="field">
            <legend>{legend}</legend>
            {Role::ALL
                .into_iter()
                .map(|role| {
                    view! {
                        <label class="choice inline">
                            <input type="checkbox" name=name value=role.as_str()
                                prop:checked=move || roles.with(|r| r.contains(&role))
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    roles.update(|r| {
                                        r.retain(|x| *x != role);
                                        if on {
                                            r.push(role);
                                        }
                                    });
                                }/>
                            <span>{format::role_label(role)}</span>
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

fn number_field(
    label: &'static str,
    name: &'static str,
    value: RwSignal<String>,
    hint: &'static str,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input type="number" min="1" inputmode="numeric" name=name
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))/>
            <small class="hint">{hint}</small>
        </label>
    }
}

#[component]
fn SettingsForm(name: String, settings: SubscriptionSettings) -> impl IntoView {
    let auth = use_auth();
    let sub_name = RwSignal::new(name);
    let enabled = RwSignal::new(settings.api_keys_enabled);
    let max_days = RwSignal::new(
        settings
            .api_key_max_lifetime_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
    );
    let full_roles = RwSignal::new(settings.api_key_full_access_roles.clone());
    let client_roles = RwSignal::new(settings.oauth_client_roles.clone());
    let idle = RwSignal::new(settings.session_idle_minutes.to_string());
    let max_hours = RwSignal::new(settings.session_max_hours.to_string());
    let lockout = RwSignal::new(settings.login_lockout_threshold.to_string());
    let policy = RwSignal::new(settings.two_step_policy);
    let grace = RwSignal::new(settings.two_step_grace_days.to_string());
    let error = RwSignal::new(None::<ApiError>);
    let local_error = RwSignal::new(None::<String>);
    let saved = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let pending = StoredValue::new(None::<UpdateSubscription>);
    let confirm_off = RwSignal::new(None::<String>);
    let save = move |body: UpdateSubscription| {
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::update_subscription(body).await {
                Ok(s) => {
                    auth.set_subscription(s);
                    saved.set(true);
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saved.set(false);
        error.set(None);
        local_error.set(None);
        let number = |label: &str, v: String| -> Result<u32, String> {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("{label} must be a whole number."))
        };
        let parsed = (|| {
            let days = max_days.get_untracked();
            let days = if days.trim().is_empty() {
                None
            } else {
                Some(number("The key lifetime", days)?)
            };
            Ok::<_, String>(UpdateSubscription {
                name: Some(sub_name.get_untracked().trim().to_string()),
                api_keys_enabled: Some(enabled.get_untracked()),
                api_key_max_lifetime_days: Some(days),
                api_key_full_access_roles: Some(full_roles.get_untracked()),
                oauth_client_roles: Some(client_roles.get_untracked()),
                session_idle_minutes: Some(number("The idle time", idle.get_untracked())?),
                session_max_hours: Some(number("The session length", max_hours.get_untracked())?),
                login_lockout_threshold: Some(number(
                    "The lockout threshold",
                    lockout.get_untracked(),
                )?),
                two_step_policy: Some(policy.get_untracked()),
                two_step_grace_days: Some(number("The days to set it up", grace.get_untracked())?),
            })
        })();
        let body = match parsed {
            Ok(b) => b,
            Err(m) => {
                local_error.set(Some(m));
                return;
            }
        };
        // Switching keys off stops every script at once: say how many, and ask.
        let switching_off = body.api_keys_enabled == Some(false)
            && auth
                .subscription()
                .is_some_and(|s| s.settings.api_keys_enabled);
        if switching_off {
            busy.set(true);
            pending.set_value(Some(body));
            leptos::task::spawn_local(async move {
                confirm_off.set(Some(keys_that_stop().await));
                busy.set(false);
            });
            return;
        }
        save(body);
    };
    view! {
        <form on:submit=submit class="card wide" id="settings-form">
            <label class="field">
                <span>"Subscription name"</span>
                <input name="name" required maxlength="100"
                    prop:value=move || sub_name.get()
                    on:input=move |ev| sub_name.set(event_target_value(&ev))/>
            </label>
            <h2>"API keys"</h2>
            <div class="field switch-field">
                <span id="api-keys-switch"><strong>"API keys"</strong></span>
                <button type="button" role="switch" class="switch" aria-labelledby="api-keys-switch"
                    aria-checked=move || enabled.get().to_string()
                    on:click=move |_| enabled.update(|e| *e = !*e)>
                    <span class="switch-knob" aria-hidden="true"></span>
                    <span class="switch-state">{move || if enabled.get() { "On" } else { "Off" }}</span>
                </button>
                <small class="hint">"Off: every key stops working at once (each works again when switched back on) and nobody can create keys."</small>
            </div>
            {number_field("Longest key lifetime (days)", "api_key_max_lifetime_days", max_days, "Leave empty for no limit. New and reset keys expire no later than this.")}
            {role_checkboxes("Who may hold full-access keys", "api_key_full_access_roles", full_roles)}
            <h2>"OAuth clients"</h2>
            {role_checkboxes("Who may register OAuth clients", "oauth_client_roles", client_roles)}
            <h2>"Sign-in"</h2>
            {number_field("Sign out after inactivity (minutes)", "session_idle_minutes", idle, "A browser session ends after this long unused.")}
            {number_field("Longest session (hours)", "session_max_hours", max_hours, "A browser session ends after this long, whatever the activity.")}
            {number_field("Lock after failed sign-ins", "login_lockout_threshold", lockout, "Failed sign-ins in a row before password sign-in is locked for 15 minutes.")}
            <label class="field">
                <span>"Two-step sign-in"</span>
                <select name="two_step_policy"
                    on:change=move |ev| {
                        if let Some(p) = TwoStepPolicy::parse(&event_target_value(&ev)) {
                            policy.set(p);
                        }
                    }>
                    {TwoStepPolicy::ALL.into_iter().map(|p| view! {
                        <option value=p.as_str() selected=move || policy.get() == p>{match p {
                            TwoStepPolicy::Optional => "Optional: each person chooses",
                            TwoStepPolicy::Admins => "Required for administrators",
                            TwoStepPolicy::Everyone => "Required for everyone",
                        }}</option>
                    }).collect_view()}
                </select>
                <small class="hint">"Who must give a code from an authenticator app after the password. Set one up for yourself first."</small>
            </label>
            {number_field("Days to set up two-step sign-in", "two_step_grace_days", grace, "Once required, people are taken to set it up when they sign in; after this many days without one, only an administrator's reset lets them in.")}
            {move || local_error.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
            <ErrorNote error=error/>
            <Show when=move || saved.get()>
                <p class="success" role="status">"Settings saved. They apply at once."</p>
            </Show>
            <div class="actions left">
                <button type="submit" disabled=move || busy.get()>"Save settings"</button>
            </div>
        </form>
        {move || confirm_off.get().map(|effect| view! {
            <Confirm
                title="Switch API keys off?"
                confirm_label="Switch keys off"
                on_confirm=Callback::new(move |_| {
                    confirm_off.set(None);
                    if let Some(body) = pending.try_update_value(Option::take).flatten() {
                        save(body);
                    }
                })
                on_cancel=Callback::new(move |_| confirm_off.set(None))
                busy=busy
                error=error
            >
                <p id="keys-off-effect">{effect}</p>
            </Confirm>
        })}
    }
}

/// What switching keys off stops, in words: the subscription's keys that still work
/// and their people (counted over the first thousand keys).
async fn keys_that_stop() -> String {
    const PAGES: usize = 5;
    // (The browser's clock: chrono's has none in WASM.)
    let now = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(js_sys::Date::now() as i64)
        .unwrap_or_default();
    let (mut keys, mut people) = (0usize, std::collections::BTreeSet::new());
    let mut cursor = None;
    let mut more = false;
    for page in 0..PAGES {
        let Ok(found) = api::subscription_api_keys_page(cursor.take(), 200).await else {
            return "Every API key of the subscription stops working at once.".into();
        };
        for k in found
            .items
            .iter()
            .filter(|k| k.key.expires_at.is_none_or(|t| t > now))
        {
            keys += 1;
            people.insert(k.username.clone());
        }
        cursor = found.next_cursor;
        if cursor.is_none() {
            break;
        }
        more = page + 1 == PAGES;
    }
    let plural = |n: usize, one: &str, many: &str| {
        format!(
            "{n}{} {}",
            if more { "+" } else { "" },
            if n == 1 { one } else { many }
        )
    };
    if keys == 0 {
        return "No key works now, so no script stops; nobody can create keys while they are off."
            .into();
    }
    format!(
        "{} of {} {} working at once. They work again when you switch keys back on.",
        plural(keys, "key", "keys"),
        plural(people.len(), "person", "people"),
        if keys == 1 && !more { "stops" } else { "stop" },
    )
}

// ----- users -----

#[derive(Clone)]
enum UserDialog {
    None,
    Create,
    Delete(User),
    Disable(User),
    Role(User, Role),
    ResetTwoStep(User),
    Password(User, String),
}

fn user_label(u: &User) -> String {
    if u.display_name.is_empty() || u.display_name == u.username {
        u.username.clone()
    } else {
        format!("{} ({})", u.display_name, u.username)
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let auth = use_auth();
    let users = Pager::<User>::new();
    let load = move |reset: bool| users.load(reset, api::users);
    load(true);
    let dialog = RwSignal::new(UserDialog::None);
    let close = Callback::new(move |_| dialog.set(UserDialog::None));
    let row_error = RwSignal::new(None::<ApiError>);
    let me = auth.user().map(|u| u.id).unwrap_or_default();
    let update = move |id: String, body: UpdateUser| {
        row_error.set(None);
        leptos::task::spawn_local(async move {
            match api::update_user(&id, body).await {
                Ok(u) => users.items.update(|v| {
                    if let Some(x) = v.iter_mut().find(|x| x.id == u.id) {
                        *x = u;
                    }
                }),
                Err(e) => {
                    row_error.set(Some(e));
                    load(true);
                }
            }
        });
    };
    view! {
        <AdminFrame title="Users">
            <div class="page-head">
                <p class="lead">"People of the subscription, their roles and states. Changes apply at their next request."</p>
                <button type="button" id="create-user" on:click=move |_| dialog.set(UserDialog::Create)>"Add user"</button>
            </div>
            <ErrorNote error=row_error/>
            <ErrorNote error=users.error/>
            {
                let me = me.clone();
                move || {
                    if !users.loaded.get() {
                        return view! { <Loading/> }.into_any();
                    }
                    let me = me.clone();
                    // Read here, so that this closure (not the table's children, which
                    // run untracked) re-renders when a row changes.
                    let items = users.items.get();
                    view! {
                        <DataTable id="users-table" label="Users" headers=&["User", "Role", "State", "Last sign-in", ""]>
                                    {items.into_iter().map(|u| {
                                        let is_me = u.id == me;
                                        let (id2, id3) = (u.id.clone(), u.id.clone());
                                        let u_del = u.clone();
                                        let label = user_label(&u);
                                        let state = u.state;
                                        let password_locked = state == UserState::Active && u.password_locked_until.is_some();
                                        // A client's service account: its role and existence are the
                                        // client's (OAuth Clients), it may only be disabled here.
                                        let service = u.kind == UserKind::Service;
                                        let role_text = format::role_label(u.role);
                                        view! {
                                            <tr data-user=u.username.clone()>
                                                <th scope="row" class="name">{label.clone()}{is_me.then_some(" — you")}
                                                    {service.then(|| view! { " "<span class="badge" title="An OAuth client's service account (client credentials). It cannot sign in; its role is set on the client.">"Service account"</span> })}
                                                </th>
                                                <td>
                                                    {if service {
                                                        view! { <span>{role_text}</span> }.into_any()
                                                    } else {
                                                    view! {
                                                    <select aria-label=format!("Role of {label}")
                                                        on:change={
                                                            let u = u.clone();
                                                            move |ev| {
                                                                if let Some(role) = Role::parse(&event_target_value(&ev)) {
                                                                    dialog.set(UserDialog::Role(u.clone(), role));
                                                                }
                                                            }
                                                        }>
                                                        {Role::ALL.into_iter().map(|r| view! {
                                                            <option value=r.as_str() selected=r == u.role>{format::role_label(r)}</option>
                                                        }).collect_view()}
                                                    </select>
                                                    }.into_any()
                                                    }}
                                                </td>
                                                <td>
                                                    <span class=match state { UserState::Active => "badge ok", UserState::Disabled => "badge", UserState::Locked => "badge danger-badge" }>
                                                        {match state { UserState::Active => "Active", UserState::Disabled => "Disabled", UserState::Locked => "Locked" }}
                                                    </span>
                                                    {u.password_locked_until.filter(|_| password_locked).map(|until| view! {
                                                        " "<span class="badge danger-badge" title="Too many failed sign-ins: password sign-in is locked until then. Sessions, keys and apps keep working.">{format!("Sign-in locked until {}", format::exact(until))}</span>
                                                    })}
                                                </td>
                                                <td><When t=u.last_sign_in_at/></td>
                                                <td class="row-actions">
                                                    {password_locked.then(|| {
                                                        let id = u.id.clone();
                                                        view! {
                                                            <button type="button" class="secondary small" aria-label=format!("Unlock sign-in of {label}")
                                                                on:click=move |_| update(id.clone(), UpdateUser { state: Some(UserState::Active), ..Default::default() })>"Unlock sign-in"</button>
                                                        }
                                                    })}
                                                    {match state {
                                                        UserState::Active => {
                                                            let u = u.clone();
                                                            view! {
                                                                <button type="button" class="secondary small" aria-label=format!("Disable {label}")
                                                                    on:click=move |_| dialog.set(UserDialog::Disable(u.clone()))>"Disable"</button>
                                                            }.into_any()
                                                        }
                                                        UserState::Disabled => view! {
                                                            <button type="button" class="secondary small" aria-label=format!("Enable {label}")
                                                                on:click=move |_| update(id2.clone(), UpdateUser { state: Some(UserState::Active), ..Default::default() })>"Enable"</button>
                                                        }.into_any(),
                                                        UserState::Locked => view! {
                                                            <button type="button" class="secondary small" aria-label=format!("Unlock {label}")
                                                                on:click=move |_| update(id3.clone(), UpdateUser { state: Some(UserState::Active), ..Default::default() })>"Unlock"</button>
                                                        }.into_any(),
                                                    }}
                                                    {(!service && !is_me).then(|| {
                                                        let u = u.clone();
                                                        view! {
                                                            <button type="button" class="secondary small" aria-label=format!("Reset two-step sign-in of {label}")
                                                                on:click=move |_| dialog.set(UserDialog::ResetTwoStep(u.clone()))>"Reset two-step"</button>
                                                        }
                                                    })}
                                                    {(!service).then(|| view! {
                                                    <button type="button" class="danger small" aria-label=format!("Delete {label}")
                                                        on:click=move |_| dialog.set(UserDialog::Delete(u_del.clone()))>"Delete"</button>
                                                    })}
                                                </td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </DataTable>
                    }
                    .into_any()
                }
            }
            <MoreButton has_more=Signal::derive(move || users.next.with(Option::is_some)) loading=users.loading on_more=Callback::new(move |_| load(false))/>
            {move || match dialog.get() {
                UserDialog::None => ().into_any(),
                UserDialog::Create => view! {
                    <CreateUserForm on_cancel=close on_created=Callback::new(move |(u, pw): (User, Option<String>)| {
                        load(true);
                        dialog.set(match pw { Some(pw) => UserDialog::Password(u, pw), None => UserDialog::None });
                    })/>
                }.into_any(),
                UserDialog::Delete(u) => {
                    let id = u.id.clone();
                    view! {
                        <ConfirmAction
                            title=format!("Delete {}?", user_label(&u))
                            confirm_label="Delete user"
                            action=move || { let id = id.clone(); async move { api::delete_user(&id).await } }
                            on_done=Callback::new(move |_| { load(true); dialog.set(UserDialog::None); })
                            on_cancel=close
                        >
                            <p>"Their API keys, sessions and authorized applications are removed, and every token of theirs stops at once. This cannot be undone."</p>
                        </ConfirmAction>
                    }.into_any()
                }
                UserDialog::Disable(u) => {
                    let id = u.id.clone();
                    view! {
                        <ConfirmAction
                            title=format!("Disable {}?", user_label(&u))
                            confirm_label="Disable user"
                            action=move || { let id = id.clone(); async move { api::update_user(&id, UpdateUser { state: Some(UserState::Disabled), ..Default::default() }).await } }
                            on_done=Callback::new(move |_| { load(true); dialog.set(UserDialog::None); })
                            on_cancel=close
                        >
                            <p>"They are signed out at once, and their API keys and authorized applications stop working until you enable them again. Nothing is deleted."</p>
                        </ConfirmAction>
                    }.into_any()
                }
                UserDialog::Role(u, role) => {
                    let id = u.id.clone();
                    let own = auth.user().is_some_and(|m| m.id == u.id);
                    let effect = if own && u.role == Role::Admin && role != Role::Admin {
                        "You will no longer administer this subscription, from your next request. Another administrator would have to give it back.".to_string()
                    } else {
                        format!(
                            "Their sessions, API keys and authorized applications act with the rights of a {} from their next request.",
                            format::role_label(role).to_lowercase()
                        )
                    };
                    // Cancelled: the list is read again, so the menu shows the role kept.
                    let cancel = Callback::new(move |_| { load(true); dialog.set(UserDialog::None); });
                    view! {
                        <ConfirmAction
                            title=format!("Make {} {}?", user_label(&u), format::role_label(role).to_lowercase())
                            confirm_label="Change role"
                            action=move || { let id = id.clone(); async move { api::update_user(&id, UpdateUser { role: Some(role), ..Default::default() }).await } }
                            on_done=Callback::new(move |_| { load(true); dialog.set(UserDialog::None); })
                            on_cancel=cancel
                        >
                            <p>{effect}</p>
                        </ConfirmAction>
                    }.into_any()
                }
                UserDialog::ResetTwoStep(u) => {
                    let id = u.id.clone();
                    view! {
                        <ConfirmAction
                            title=format!("Reset two-step sign-in of {}?", user_label(&u))
                            confirm_label="Reset two-step sign-in"
                            action=move || { let id = id.clone(); async move { api::reset_user_second_factors(&id).await } }
                            on_done=Callback::new(move |_| { load(true); dialog.set(UserDialog::None); })
                            on_cancel=close
                        >
                            <p>"For a lost phone. Their authenticator apps and recovery codes are removed and they are signed out everywhere; they sign in with their password and set up a new second step."</p>
                        </ConfirmAction>
                    }.into_any()
                }
                UserDialog::Password(u, pw) => view! {
                    <SecretPanel title="User added" label="Initial password" secret=pw
                        note=format!("Give this password to {} through a safe channel; they should change it after signing in.", u.username)
                        on_done=close/>
                }.into_any(),
            }}
        </AdminFrame>
    }
}

#[component]
fn CreateUserForm(
    on_cancel: Callback<()>,
    on_created: Callback<(User, Option<String>)>,
) -> impl IntoView {
    let username = RwSignal::new(String::new());
    let display_name = RwSignal::new(String::new());
    let email = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        let opt = |s: String| {
            let t = s.trim().to_string();
            (!t.is_empty()).then_some(t)
        };
        let body = CreateUser {
            username: username.get_untracked().trim().to_string(),
            display_name: opt(display_name.get_untracked()),
            email: opt(email.get_untracked()),
            role: role.get_untracked(),
            password: (!password.get_untracked().is_empty()).then(|| password.get_untracked()),
        };
        leptos::task::spawn_local(async move {
            match api::create_user(body).await {
                Ok(c) => on_created.run((c.user, c.initial_password)),
                Err(e) => {
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    view! {
        <Modal title="Add user" on_close=on_cancel>
            <form on:submit=submit id="create-user-form">
                <label class="field">
                    <span>"Username"</span>
                    <input name="username" required autofocus autocapitalize="none" spellcheck="false" placeholder="grace@example.com"
                        prop:value=move || username.get()
                        on:input=move |ev| username.set(event_target_value(&ev))/>
                    <small class="hint">"An e-mail address is fine. Usernames are unique across Gatehouse."</small>
                </label>
                <label class="field">
                    <span>"Display name (optional)"</span>
                    <input name="display_name" prop:value=move || display_name.get() on:input=move |ev| display_name.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"E-mail (optional)"</span>
                    <input name="email" type="email" prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Role"</span>
                    <select name="role" on:change=move |ev| if let Some(r) = Role::parse(&event_target_value(&ev)) { role.set(r) }>
                        <option value="viewer" selected>"Viewer — reads; read-only keys"</option>
                        <option value="editor">"Editor — reads and writes; may register OAuth clients"</option>
                        <option value="admin">"Admin — also manages the subscription"</option>
                    </select>
                </label>
                <label class="field">
                    <span>"Initial password (optional)"</span>
                    <input name="password" type="password" autocomplete="new-password"
                        prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
                    <small class="hint">"Leave empty and Gatehouse generates one, shown to you once."</small>
                </label>
                <ErrorNote error=error/>
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="submit" disabled=move || busy.get()>"Add user"</button>
                </div>
            </form>
        </Modal>
    }
}

// ----- every key -----

#[derive(Clone)]
enum KeyDialog {
    None,
    Reset(SubscriptionApiKey),
    Delete(SubscriptionApiKey),
    Secret(String, String),
}

#[component]
pub fn AllKeysPage() -> impl IntoView {
    let keys = Pager::<SubscriptionApiKey>::new();
    let filter = RwSignal::new(KeyFilter {
        sort: "created_at".into(),
        order: "desc".into(),
        ..Default::default()
    });
    let load = move |reset: bool| {
        let f = filter.get_untracked();
        keys.load(reset, move |c| async move {
            api::subscription_api_keys(&f, c).await
        })
    };
    load(true);
    let dialog = RwSignal::new(KeyDialog::None);
    let close = Callback::new(move |_| dialog.set(KeyDialog::None));
    let csv_error = RwSignal::new(None::<ApiError>);
    let download_csv = move |_| {
        let f = filter.get_untracked();
        leptos::task::spawn_local(async move {
            match api::subscription_api_keys_csv(&f).await {
                Ok(csv) => download("api-keys.csv", &csv, "text/csv"),
                Err(e) => csv_error.set(Some(e)),
            }
        });
    };
    let search = RwSignal::new(String::new());
    view! {
        <AdminFrame title="All API keys">
            <p class="lead">"Every active key of the subscription. Reset or delete one that should not be used any more."</p>
            <form class="toolbar" role="search" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                filter.update(|f| f.q = search.get_untracked().trim().to_string());
                load(true);
            }>
                <label class="field">
                    <span>"Filter"</span>
                    <input type="search" name="q" placeholder="name, key ending or user"
                        prop:value=move || search.get() on:input=move |ev| search.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"Sort by"</span>
                    <select name="sort" on:change=move |ev| { filter.update(|f| f.sort = event_target_value(&ev)); load(true); }>
                        <option value="created_at" selected>"Created"</option>
                        <option value="last_used_at">"Last used"</option>
                        <option value="last_reset_at">"Last reset"</option>
                    </select>
                </label>
                <label class="field">
                    <span>"Order"</span>
                    <select name="order" on:change=move |ev| { filter.update(|f| f.order = event_target_value(&ev)); load(true); }>
                        <option value="desc" selected>"Newest first"</option>
                        <option value="asc">"Oldest first"</option>
                    </select>
                </label>
                <button type="submit" class="secondary">"Apply"</button>
                <button type="button" class="secondary" id="keys-csv" on:click=download_csv>"Download CSV"</button>
            </form>
            <ErrorNote error=csv_error/>
            <ErrorNote error=keys.error/>
            {paged(keys, "No keys match.", move |items| view! {
                    <DataTable id="all-keys-table" label="Every API key" headers=&["Name", "User", "Key", "Permission", "Created", "Last used", "Last reset", ""]>
                                {items.into_iter().map(|k| {
                                    let (k1, k2) = (k.clone(), k.clone());
                                    let name = k.key.name.clone();
                                    view! {
                                        <tr data-key-id=k.key.id.clone()>
                                            <th scope="row" class="name">{k.key.name.clone()}</th>
                                            <td>{if k.user_display_name.is_empty() { k.username.clone() } else { k.user_display_name.clone() }}</td>
                                            <td><code class="mono">{k.key.hint.clone()}</code></td>
                                            <td>{format::permission_label(k.key.permission)}</td>
                                            <td><When t=Some(k.key.created_at)/></td>
                                            <td><When t=k.key.last_used_at/></td>
                                            <td><When t=k.key.last_reset_at/></td>
                                            <td class="row-actions">
                                                <button type="button" class="secondary small" aria-label=format!("Reset {name}") on:click=move |_| dialog.set(KeyDialog::Reset(k1.clone()))>"Reset"</button>
                                                <button type="button" class="danger small" aria-label=format!("Delete {name}") on:click=move |_| dialog.set(KeyDialog::Delete(k2.clone()))>"Delete"</button>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </DataTable>
                }.into_any())}
            <MoreButton has_more=Signal::derive(move || keys.next.with(Option::is_some)) loading=keys.loading on_more=Callback::new(move |_| load(false))/>
            {move || match dialog.get() {
                KeyDialog::None => ().into_any(),
                KeyDialog::Reset(k) => {
                    let id = k.key.id.clone();
                    view! {
                        <ConfirmAction
                            title=format!("Reset “{}” of {}?", k.key.name, k.username)
                            confirm_label="Reset key"
                            action=move || { let id = id.clone(); async move { api::reset_api_key(&id).await } }
                            on_done=Callback::new(move |r: gatehouse_types::ApiKeyWithSecret| { load(true); dialog.set(KeyDialog::Secret(r.key.name.clone(), r.secret)); })
                            on_cancel=close
                        >
                            <p>"The current secret stops working at once. Give the new one to the key's owner through a safe channel, or let them reset it themselves."</p>
                        </ConfirmAction>
                    }.into_any()
                }
                KeyDialog::Delete(k) => {
                    let id = k.key.id.clone();
                    view! {
                        <ConfirmAction
                            title=format!("Delete “{}” of {}?", k.key.name, k.username)
                            confirm_label="Delete key"
                            action=move || { let id = id.clone(); async move { api::delete_api_key(&id).await } }
                            on_done=Callback::new(move |_| { load(true); dialog.set(KeyDialog::None); })
                            on_cancel=close
                        >
                            <p>"Scripts that use this key stop working at once. The owner is told in their activity log."</p>
                        </ConfirmAction>
                    }.into_any()
                }
                KeyDialog::Secret(name, secret) => view! {
                    <SecretPanel title="The key's new secret" label="API key" secret=secret note=format!("Key “{name}”.") on_done=close/>
                }.into_any(),
            }}
        </AdminFrame>
    }
}

// ----- every client -----

#[component]
pub fn AllClientsPage() -> impl IntoView {
    let clients = Pager::<OAuthClient>::new();
    let load = move |reset: bool| clients.load(reset, api::oauth_clients);
    load(true);
    // Owners' names, for the list (the first page of users is enough to name most).
    let owners = LocalResource::new(|| async { api::users(None).await });
    let owner_name = move |id: &str| {
        owners
            .get()
            .and_then(|r| r.ok())
            .and_then(|p| p.items.into_iter().find(|u| u.id == id))
            .map(|u| u.username)
            .unwrap_or_else(|| "another user".into())
    };
    let row_error = RwSignal::new(None::<ApiError>);
    let set_standard = move |id: String, standard: bool| {
        row_error.set(None);
        leptos::task::spawn_local(async move {
            let body = UpdateOAuthClient {
                standard: Some(standard),
                ..Default::default()
            };
            match api::update_oauth_client(&id, body).await {
                Ok(c) => clients.items.update(|v| {
                    if let Some(x) = v.iter_mut().find(|x| x.id == c.id) {
                        *x = c;
                    }
                }),
                Err(e) => {
                    row_error.set(Some(e));
                    load(true);
                }
            }
        });
    };
    // Marking a client standard skips consent for everyone: asked first.
    let marking = RwSignal::new(None::<OAuthClient>);
    view! {
        {move || marking.get().map(|c| {
            let id = c.id.clone();
            view! {
                <Confirm
                    title=format!("Make “{}” a standard integration?", c.name)
                    confirm_label="Make standard"
                    on_confirm=Callback::new(move |_| {
                        marking.set(None);
                        set_standard(id.clone(), true);
                    })
                    on_cancel=Callback::new(move |_| {
                        marking.set(None);
                        load(true);
                    })
                    busy=Signal::derive(|| false)
                    error=Signal::derive(|| None)
                >
                    <p id="standard-effect">{format!(
                        "Nobody in the subscription will be asked before “{}” acts for them: its consent is approved for everyone, for the callback URLs it has now. Only a first-party integration should be standard.",
                        c.name
                    )}</p>
                </Confirm>
            }
        })}
        <AdminFrame title="All OAuth clients">
            <p class="lead">"Every client registered in the subscription. Mark a first-party integration as standard to pre-approve its consent."</p>
            <ErrorNote error=row_error/>
            <ErrorNote error=clients.error/>
            {paged(clients, "No OAuth clients are registered yet.", move |items| view! {
                    <DataTable id="all-clients-table" label="Every OAuth client" headers=&["Name", "Client ID", "Owner", "Type", "Created", "Standard"]>
                                {items.into_iter().map(|c| {
                                    let id = c.id.clone();
                                    let whole = c.clone();
                                    view! {
                                        <tr data-client=c.name.clone()>
                                            <th scope="row" class="name">{c.name.clone()}</th>
                                            <td><Mono text=c.client_id.clone() label=format!("Copy client ID of {}", c.name)/></td>
                                            <td>{owner_name(&c.owner_id)}</td>
                                            <td>{match c.client_type { gatehouse_types::ClientType::Confidential => "Confidential", gatehouse_types::ClientType::Public => "Public" }}</td>
                                            <td><When t=Some(c.created_at)/></td>
                                            <td>
                                                <label class="choice">
                                                    <input type="checkbox" prop:checked=c.standard
                                                        on:change=move |ev| {
                                                            if event_target_checked(&ev) {
                                                                marking.set(Some(whole.clone()));
                                                            } else {
                                                                set_standard(id.clone(), false);
                                                            }
                                                        }/>
                                                    <span class="visually-hidden">{format!("{} is a standard integration", c.name)}</span>
                                                </label>
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </DataTable>
                }.into_any())}
            <MoreButton has_more=Signal::derive(move || clients.next.with(Option::is_some)) loading=clients.loading on_more=Callback::new(move |_| load(false))/>
        </AdminFrame>
    }
}

// ----- audit log -----

const ACTIONS: [&str; 25] = [
    "session.signed_in",
    "session.sign_in_failed",
    "session.signed_out",
    "user.created",
    "user.updated",
    "user.deleted",
    "user.locked",
    "user.profile_updated",
    "user.password_changed",
    "user.password_change_failed",
    "subscription.updated",
    "api_key.created",
    "api_key.renamed",
    "api_key.reset",
    "api_key.deleted",
    "oauth_client.created",
    "oauth_client.updated",
    "oauth_client.standard_removed",
    "oauth_client.secret_reset",
    "oauth_client.deleted",
    "oauth_grant.authorized",
    "oauth_grant.re_enabled",
    "oauth_grant.revoked",
    "oauth_code.reused",
    "oauth_refresh_token.reused",
];

/// A date input's value as the start (or end) of that day in UTC, RFC 3339.
fn day_bound(value: &str, end: bool) -> String {
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .and_then(|d| {
            if end {
                d.and_hms_opt(23, 59, 59)
            } else {
                d.and_hms_opt(0, 0, 0)
            }
        })
        .map(|t| format::iso(Utc.from_utc_datetime(&t)))
        .unwrap_or_default()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let events = Pager::<AuditEvent>::new();
    let action = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let filter = move || AuditFilter {
        scope: "all".into(),
        actor: actor.get_untracked(),
        action: action.get_untracked(),
        since: day_bound(&since.get_untracked(), false),
        until: day_bound(&until.get_untracked(), true),
    };
    let load = move |reset: bool| {
        let f = filter();
        events.load(
            reset,
            move |c| async move { api::audit_events(&f, c).await },
        )
    };
    load(true);
    let users = LocalResource::new(|| async { api::users(None).await });
    let csv_error = RwSignal::new(None::<ApiError>);
    let download_csv = move |_| {
        let f = filter();
        leptos::task::spawn_local(async move {
            match api::audit_events_csv(&f).await {
                Ok(csv) => download("audit-log.csv", &csv, "text/csv"),
                Err(e) => csv_error.set(Some(e)),
            }
        });
    };
    view! {
        <AdminFrame title="Audit log">
            <p class="lead">"Every change and every failed sign-in in the subscription: who, with which credential, from where."</p>
            <form class="toolbar" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); load(true); }>
                <label class="field">
                    <span>"Action"</span>
                    <select name="action" on:change=move |ev| action.set(event_target_value(&ev))>
                        <option value="">"Any action"</option>
                        {ACTIONS.into_iter().map(|a| view! { <option value=a>{a}</option> }).collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"Who"</span>
                    <select name="actor" on:change=move |ev| actor.set(event_target_value(&ev))>
                        <option value="">"Anyone"</option>
                        {move || users.get().and_then(|r| r.ok()).map(|p| p.items.into_iter().map(|u| view! {
                            <option value=u.id.clone()>{u.username.clone()}</option>
                        }).collect_view())}
                    </select>
                </label>
                <label class="field">
                    <span>"From"</span>
                    <input type="date" name="since" prop:value=move || since.get() on:input=move |ev| since.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"To"</span>
                    <input type="date" name="until" prop:value=move || until.get() on:input=move |ev| until.set(event_target_value(&ev))/>
                </label>
                <button type="submit" class="secondary">"Apply"</button>
                <button type="button" class="secondary" id="audit-csv" on:click=download_csv>"Download CSV"</button>
            </form>
            <ErrorNote error=csv_error/>
            <ErrorNote error=events.error/>
            {paged(events, "No events match these filters.", move |items| view! {
                    <DataTable id="audit-table" label="Audit events" headers=&["When", "Who", "Action", "Target", "With", "From"]>
                                {items.into_iter().map(|e| view! {
                                    <tr>
                                        <td><When t=Some(e.created_at)/></td>
                                        <td>{e.actor_username.clone().unwrap_or_else(|| "unknown".into())}</td>
                                        <th scope="row"><code class="mono">{e.action.clone()}</code></th>
                                        <td>{e.target_type.clone().unwrap_or_default()}</td>
                                        <td>{e.credential_kind.clone().map(|k| k.replace('_', " ")).unwrap_or_default()}</td>
                                        <td>{e.ip.clone().unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </DataTable>
                }.into_any())}
            <MoreButton has_more=Signal::derive(move || events.next.with(Option::is_some)) loading=events.loading on_more=Callback::new(move |_| load(false))/>
        </AdminFrame>
    }
}
