//! Every API key of the subscription, with its owner: filter, sort, download, reset, delete.

use gatehouse_types::SubscriptionApiKey;
use leptos::prelude::*;

use crate::api::{self, ApiError, KeyFilter};
use crate::components::*;
use crate::format;

use super::AdminFrame;

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
                    <DataTable id="all-keys-table" label="Every API key" headers=&["Name", "User", "Key", "Permission", "Created", "Last used", "Last reset", "Expires", ""]>
                                {items.into_iter().map(|k| {
                                    let (k1, k2) = (k.clone(), k.clone());
                                    let name = k.key.name.clone();
                                    view! {
                                        <tr data-key-id=k.key.id.clone()>
                                            <th scope="row" class="name">{k.key.name.clone()}</th>
                                            <td data-label="User"><a href=format!("/admin/users/{}", k.key.user_id)>{if k.user_display_name.is_empty() { k.username.clone() } else { k.user_display_name.clone() }}</a></td>
                                            <td data-label="Key"><code class="mono">{k.key.hint.clone()}</code></td>
                                            <td data-label="Permission">{format::permission_label(k.key.permission)}</td>
                                            <td data-label="Created"><When t=Some(k.key.created_at)/></td>
                                            <td data-label="Last used"><When t=k.key.last_used_at/></td>
                                            <td data-label="Last reset"><When t=k.key.last_reset_at/></td>
                                            <td data-label="Expires"><Expiry t=k.key.expires_at/></td>
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
