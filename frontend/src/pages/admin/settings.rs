//! Subscription settings: keys, sessions, sign-in lockout, two-step policy, OAuth.

use gatehouse_types::{Role, SubscriptionSettings, TwoStepPolicy, UpdateSubscription};
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::*;
use crate::format;
use crate::session::use_auth;

use super::AdminFrame;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let sub = Loaded::new(|| async { api::subscription().await });
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
