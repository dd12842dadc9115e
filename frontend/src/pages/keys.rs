//! The API Keys tab: the user's keys, create (with the one-time secret), rename, reset
//! and delete; when the subscription has switched keys off, the message of
//! docs/PRODUCT.md §6 and only delete.

use chrono::{Duration, Utc};
use gatehouse_types::error::API_KEYS_DISABLED_MESSAGE;
use gatehouse_types::{ApiKey, ApiKeyWithSecret, CreateApiKey, Permission, Subscription};
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::*;
use crate::format;
use crate::session::use_auth;

/// What the dialogs of this page are doing.
#[derive(Clone)]
enum Dialog {
    None,
    Create,
    Rename(ApiKey),
    Reset(ApiKey),
    Delete(ApiKey),
    Secret(ApiKeyWithSecret, &'static str),
}

#[component]
pub fn KeysPage() -> impl IntoView {
    let auth = use_auth();
    let keys = Loaded::new(|| async { api::api_keys().await });
    // The settings decide what this page offers; read them fresh.
    let sub = auth.fresh_subscription();
    let dialog = RwSignal::new(Dialog::None);
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    let reload = Callback::new(move |_| keys.refetch());
    let query = ListQuery::new("created");
    let enabled = move || {
        sub.get()
            .and_then(|s| s.ok())
            .map(|s| s.settings.api_keys_enabled)
            .unwrap_or(true)
    };

    view! {
        <div class="page-head">
            <div>
                <h1>"API Keys"</h1>
                <p class="lead">
                    "Keys let scripts call the Gatehouse API as you. Send one in the "
                    <code>"Authorization: Bearer"</code> " or " <code>"ZSESSIONID"</code> " header."
                </p>
            </div>
            <Show when=enabled>
                <button type="button" id="create-key" on:click=move |_| dialog.set(Dialog::Create)>
                    "Create API key"
                </button>
            </Show>
        </div>
        <Show when=move || !enabled()>
            <div class="banner warning" role="alert" id="keys-disabled">
                <p>{API_KEYS_DISABLED_MESSAGE}</p>
                <p>"The keys listed here do not work while API keys are switched off."</p>
            </div>
        </Show>
        {move || match keys.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <LoadFailed error=e retry=reload/> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => view! {
                <div class="empty">
                    <h2>"No API keys yet"</h2>
                    <p>
                        {if enabled() {
                            "Create a key for each script or service that calls the API, so you can reset or delete one without touching the others."
                        } else {
                            "API keys are switched off for your subscription."
                        }}
                    </p>
                </div>
            }
            .into_any(),
            Some(Ok(page)) => searchable(
                Signal::stored(page.items),
                query,
                "Search your keys",
                KEY_ORDERS,
                |k: &ApiKey| vec![k.name.as_str(), k.hint.as_str()],
                key_order,
                move |keys| view! { <KeyTable keys=keys dialog=dialog enabled=Signal::derive(enabled)/> }.into_any(),
            )
            .into_any(),
        }}
        {move || match dialog.get() {
            Dialog::None => ().into_any(),
            Dialog::Create => {
                let s = sub.get().and_then(|s| s.ok());
                view! {
                    <CreateKey
                        subscription=s
                        on_cancel=close
                        on_created=Callback::new(move |k| {
                            keys.refetch();
                            dialog.set(Dialog::Secret(k, "Your new API key"));
                        })
                    />
                }
                .into_any()
            }
            Dialog::Rename(k) => view! { <RenameKey key=k on_cancel=close on_done=Callback::new(move |_| { keys.refetch(); dialog.set(Dialog::None); })/> }.into_any(),
            Dialog::Reset(k) => view! {
                <ResetKey key=k on_cancel=close on_done=Callback::new(move |k| { keys.refetch(); dialog.set(Dialog::Secret(k, "Your key's new secret")); })/>
            }
            .into_any(),
            Dialog::Delete(k) => view! { <DeleteKey key=k on_cancel=close on_done=Callback::new(move |_| { keys.refetch(); dialog.set(Dialog::None); })/> }.into_any(),
            Dialog::Secret(k, title) => {
                let note = format!("Key “{}”, {}.", k.key.name, format::permission_label(k.key.permission).to_lowercase());
                view! { <SecretPanel title=title label="API key" secret=k.secret note=note on_done=close/> }.into_any()
            }
        }}
    }
}

const KEY_ORDERS: &[(&str, &str)] = &[
    ("created", "Newest"),
    ("name", "Name"),
    ("used", "Last used"),
    ("expires", "Expires soonest"),
];

fn key_order(sort: &str, a: &ApiKey, b: &ApiKey) -> std::cmp::Ordering {
    match sort {
        "name" => by_name(&a.name, &b.name),
        // Never used last; a key without expiry after every dated one.
        "used" => b.last_used_at.cmp(&a.last_used_at),
        "expires" => {
            (a.expires_at.is_none(), a.expires_at).cmp(&(b.expires_at.is_none(), b.expires_at))
        }
        _ => b.created_at.cmp(&a.created_at),
    }
}

#[component]
fn KeyTable(keys: Vec<ApiKey>, dialog: RwSignal<Dialog>, enabled: Signal<bool>) -> impl IntoView {
    view! {
        <DataTable id="keys-table" label="Your API keys" headers=&["Name", "Key", "Permission", "Created", "Last used", "Expires", ""]>
                    {keys
                        .into_iter()
                        .map(|k| {
                            let (k1, k2, k3) = (k.clone(), k.clone(), k.clone());
                            let name = k.name.clone();
                            view! {
                                <tr data-key-id=k.id.clone()>
                                    <th scope="row" class="name">{k.name.clone()}</th>
                                    <td data-label="Key"><code class="mono">{k.hint.clone()}</code></td>
                                    <td data-label="Permission">
                                        <span class=if k.permission == Permission::FullAccess { "badge strong" } else { "badge" }>
                                            {format::permission_label(k.permission)}
                                        </span>
                                    </td>
                                    <td data-label="Created"><When t=Some(k.created_at)/></td>
                                    <td data-label="Last used"><When t=k.last_used_at/></td>
                                    <td data-label="Expires"><Expiry t=k.expires_at/></td>
                                    <td class="row-actions">
                                        <Show when=move || enabled.get()>
                                            <button type="button" class="secondary small" aria-label=format!("Rename {name}") on:click={let k1 = k1.clone(); move |_| dialog.set(Dialog::Rename(k1.clone()))}>"Rename"</button>
                                            <button type="button" class="secondary small" aria-label=format!("Reset {}", k2.name) on:click={let k2 = k2.clone(); move |_| dialog.set(Dialog::Reset(k2.clone()))}>"Reset"</button>
                                        </Show>
                                        <button type="button" class="danger small" aria-label=format!("Delete {}", k3.name) on:click=move |_| dialog.set(Dialog::Delete(k3.clone()))>"Delete"</button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </DataTable>
    }
}

/// The expiry choices a key can have under the subscription's lifetime cap (days, or
/// `never`, or `custom`), with the one to offer first.
fn expiry_choices(max_days: Option<u32>) -> (Vec<(String, String)>, String) {
    const ALL: [(u32, &str); 4] = [
        (7, "7 days"),
        (30, "30 days"),
        (90, "90 days"),
        (365, "1 year"),
    ];
    let mut out: Vec<(String, String)> = ALL
        .iter()
        .filter(|(d, _)| max_days.is_none_or(|m| *d <= m))
        .map(|(d, l)| (d.to_string(), l.to_string()))
        .collect();
    // 90 days unless the administrator's cap is shorter: a key that never expires is
    // a choice to make on purpose, not the default.
    let default = match max_days {
        Some(m) => {
            if !ALL.iter().any(|(d, _)| *d == m) {
                out.push((m.to_string(), format!("{m} days (the longest allowed)")));
            }
            m.min(90).to_string()
        }
        None => {
            out.push(("never".into(), "No expiry".into()));
            "90".into()
        }
    };
    out.push(("custom".into(), "On a date…".into()));
    (out, default)
}

#[component]
fn CreateKey(
    subscription: Option<Subscription>,
    on_cancel: Callback<()>,
    on_created: Callback<ApiKeyWithSecret>,
) -> impl IntoView {
    let auth = use_auth();
    let settings = subscription.map(|s| s.settings);
    let max_days = settings.as_ref().and_then(|s| s.api_key_max_lifetime_days);
    let full_allowed = match (auth.role(), &settings) {
        (Some(role), Some(s)) => s.api_key_full_access_roles.contains(&role),
        _ => false,
    };
    let full_roles = settings
        .as_ref()
        .map(|s| format::roles_text(&s.api_key_full_access_roles))
        .unwrap_or_default();
    let name = RwSignal::new(String::new());
    let permission = RwSignal::new(Permission::ReadOnly);
    let (choices, default) = expiry_choices(max_days);
    let expiry = RwSignal::new(default);
    let custom_date = RwSignal::new(String::new());
    let creating = Submit::new(move || {
        let expires_at = match expiry.get_untracked().as_str() {
            "never" => Ok(None),
            "custom" => format::day_at(&custom_date.get_untracked(), 23, 59, 59)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::local("Choose the date the key should stop working.".into())
                }),
            // The cap itself: ask for none and the server gives exactly the cap, by
            // its own clock (the browser's may be ahead).
            days if max_days.is_some_and(|m| days == m.to_string()) => Ok(None),
            days => Ok(days.parse::<i64>().ok().map(|d| {
                chrono::DateTime::<Utc>::from_timestamp_millis(js_sys::Date::now() as i64)
                    .unwrap_or_default()
                    + Duration::days(d)
            })),
        };
        let body = expires_at.map(|expires_at| CreateApiKey {
            name: name.get_untracked().trim().to_string(),
            permission: permission.get_untracked(),
            expires_at,
        });
        async move {
            on_created.run(api::create_api_key(body?).await?);
            Ok(())
        }
    });
    let error = creating.error();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        creating.run();
    };

    view! {
        <Modal title="Create an API key" on_close=on_cancel>
            <form on:submit=submit id="create-key-form">
                <label class="field">
                    <span>"Name"</span>
                    <input
                        name="name"
                        required
                        maxlength="100"
                        autofocus
                        placeholder="e.g. nightly export"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <small class="hint">"What the key is for, so you recognise it later."</small>
                    <FieldError error=error field="name"/>
                </label>
                <fieldset class="field">
                    <legend>"Permission"</legend>
                    <label class="choice">
                        <input
                            type="radio"
                            name="permission"
                            value="read_only"
                            prop:checked=move || permission.get() == Permission::ReadOnly
                            on:change=move |_| permission.set(Permission::ReadOnly)
                        />
                        <span><strong>"Read-only"</strong>" — may only read (GET)."</span>
                    </label>
                    <label class="choice">
                        <input
                            type="radio"
                            name="permission"
                            value="full_access"
                            disabled=!full_allowed
                            prop:checked=move || permission.get() == Permission::FullAccess
                            on:change=move |_| permission.set(Permission::FullAccess)
                        />
                        <span><strong>"Full access"</strong>" — may do everything you can."</span>
                    </label>
                    {(!full_allowed).then(|| view! {
                        <small class="hint">{format!("Only {full_roles} may hold full-access keys in this subscription.")}</small>
                    })}
                </fieldset>
                <label class="field">
                    <span>"Expires"</span>
                    <select
                        name="expiry"
                        prop:value=move || expiry.get()
                        on:change=move |ev| expiry.set(event_target_value(&ev))
                    >
                        {choices
                            .iter()
                            .map(|(v, l)| {
                                let v2 = v.clone();
                                view! { <option value=v.clone() selected=move || expiry.get() == v2>{l.clone()}</option> }
                            })
                            .collect_view()}
                    </select>
                    {max_days.map(|m| view! {
                        <small class="hint">{format!("Your administrator limits keys to {m} days.")}</small>
                    })}
                    <Show when=move || expiry.get() == "never">
                        <small class="warning hint-box" id="no-expiry-warning">
                            "A key without expiry works until someone deletes it, even if it leaks or is forgotten. Prefer a date and reset the key when it comes."
                        </small>
                    </Show>
                    <FieldError error=error field="expires_at"/>
                </label>
                <Show when=move || expiry.get() == "custom">
                    <label class="field">
                        <span>"Expiry date"</span>
                        <input
                            type="date"
                            name="expiry_date"
                            prop:value=move || custom_date.get()
                            on:input=move |ev| custom_date.set(event_target_value(&ev))
                        />
                    </label>
                </Show>
                <ErrorNote error=error fields=&["name", "expires_at"]/>
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="submit" disabled=creating.busy()>"Create key"</button>
                </div>
            </form>
        </Modal>
    }
}

#[component]
fn RenameKey(key: ApiKey, on_cancel: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let name = RwSignal::new(key.name.clone());
    let id = key.id.clone();
    let renaming = Submit::new(move || {
        let (id, n) = (id.clone(), name.get_untracked().trim().to_string());
        async move { api::rename_api_key(&id, n).await.map(|_| on_done.run(())) }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        renaming.run();
    };
    view! {
        <Modal title=format!("Rename “{}”", key.name) on_close=on_cancel>
            <form on:submit=submit>
                <label class="field">
                    <span>"New name"</span>
                    <input
                        name="name"
                        required
                        maxlength="100"
                        autofocus
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <ErrorNote error=renaming.error()/>
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="submit" disabled=renaming.busy()>"Rename"</button>
                </div>
            </form>
        </Modal>
    }
}

#[component]
fn ResetKey(
    key: ApiKey,
    on_cancel: Callback<()>,
    on_done: Callback<ApiKeyWithSecret>,
) -> impl IntoView {
    let id = key.id.clone();
    view! {
        <ConfirmAction
            title=format!("Reset “{}”?", key.name)
            confirm_label="Reset key"
            action=move || { let id = id.clone(); async move { api::reset_api_key(&id).await } }
            on_done=on_done
            on_cancel=on_cancel
        >
            <p>"The key gets a new secret. The current secret stops working at once: every script that uses it must be given the new one."</p>
        </ConfirmAction>
    }
}

#[component]
fn DeleteKey(key: ApiKey, on_cancel: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let id = key.id.clone();
    view! {
        <ConfirmAction
            title=format!("Delete “{}”?", key.name)
            confirm_label="Delete key"
            action=move || { let id = id.clone(); async move { api::delete_api_key(&id).await } }
            on_done=on_done
            on_cancel=on_cancel
        >
            <p>"Scripts that use this key stop working at once. This cannot be undone."</p>
        </ConfirmAction>
    }
}
