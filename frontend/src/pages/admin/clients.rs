//! Every OAuth client of the subscription, with its owner: search, order, mark one
//! standard, disable or delete any of them.

use gatehouse_types::{OAuthClient, UpdateOAuthClient};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::components::*;
use crate::format;
use crate::pages::clients::{client_order, client_words};

use super::AdminFrame;

/// A client and the name of who registered it.
type Owned = (OAuthClient, String);

const ORDERS: &[(&str, &str)] = &[("created", "Newest"), ("name", "Name"), ("owner", "Owner")];

#[derive(Clone)]
enum Dialog {
    None,
    Standard(OAuthClient),
    Disable(Owned),
    Delete(Owned),
}

#[component]
pub fn AllClientsPage() -> impl IntoView {
    let clients = Pager::<OAuthClient>::new();
    // The whole list: search and order work on every client, not on a first page.
    let load = move || clients.load(true, |_| api::oauth_clients());
    load();
    // Owners named from every user of the subscription.
    let owners = Loaded::new(|| async { api::all_users().await });
    let owner_name = move |id: &str| {
        owners
            .with(|r| {
                r.as_ref()
                    .and_then(|r| r.as_ref().ok())
                    .and_then(|p| p.items.iter().find(|u| u.id == id))
                    .map(|u| u.username.clone())
            })
            .unwrap_or_else(|| "another user".into())
    };
    let owned = Signal::derive(move || {
        clients
            .items
            .get()
            .into_iter()
            .map(|c| {
                let owner = owner_name(&c.owner_id);
                (c, owner)
            })
            .collect::<Vec<Owned>>()
    });
    let query = ListQuery::new("created");
    let row_error = RwSignal::new(None::<ApiError>);
    let replace = move |c: OAuthClient| {
        clients.items.update(|v| {
            if let Some(x) = v.iter_mut().find(|x| x.id == c.id) {
                *x = c;
            }
        })
    };
    let update = move |id: String, body: UpdateOAuthClient| async move {
        replace(api::update_oauth_client(&id, body).await?);
        Ok(())
    };
    let set_standard = move |id: String, standard: bool| {
        row_error.set(None);
        leptos::task::spawn_local(async move {
            let body = UpdateOAuthClient {
                standard: Some(standard),
                ..Default::default()
            };
            if let Err(e) = update(id, body).await {
                row_error.set(Some(e));
                load();
            }
        });
    };
    let dialog = RwSignal::new(Dialog::None);
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    view! {
        {move || match dialog.get() {
            Dialog::None => ().into_any(),
            Dialog::Standard(c) => view! { <MakeStandard client=c dialog=dialog on_confirm=Callback::new(move |id| set_standard(id, true)) reload=Callback::new(move |_| load())/> }.into_any(),
            Dialog::Disable((c, owner)) => {
                let id = c.id.clone();
                view! {
                    <ConfirmAction
                        title=format!("Disable “{}”?", c.name)
                        confirm_label="Disable client"
                        action=move || {
                            let body = UpdateOAuthClient { disabled: Some(true), ..Default::default() };
                            update(id.clone(), body)
                        }
                        on_done=close
                        on_cancel=close
                    >
                        <p id="disable-effect">{format!(
                            "Everyone who allowed “{}” loses its access at once: every token it holds stops working. It cannot sign anyone in or get tokens until you enable it again, and enabling it brings nothing back: people allow it anew. {owner} registered it and keeps it.",
                            c.name
                        )}</p>
                    </ConfirmAction>
                }
                .into_any()
            }
            Dialog::Delete((c, owner)) => {
                let id = c.id.clone();
                view! {
                    <ConfirmAction
                        title=format!("Delete “{}”?", c.name)
                        confirm_label="Delete client"
                        action=move || { let id = id.clone(); async move { api::delete_oauth_client(&id).await } }
                        on_done=Callback::new(move |_| { dialog.set(Dialog::None); load(); })
                        on_cancel=close
                    >
                        <p>{format!(
                            "{owner} registered it. Everyone who allowed it loses its access at once, and the application can no longer sign anyone in. This cannot be undone."
                        )}</p>
                    </ConfirmAction>
                }
                .into_any()
            }
        }}
        <AdminFrame title="All OAuth clients">
            <p class="lead">"Every client registered in the subscription. Mark a first-party integration as standard to pre-approve its consent; disable a client to stop it at once without deleting it."</p>
            <ErrorNote error=row_error/>
            <ErrorNote error=clients.error/>
            {move || {
                if !clients.loaded.get() {
                    return view! { <Loading/> }.into_any();
                }
                if clients.items.with(Vec::is_empty) {
                    return view! { <div class="empty"><p>"No OAuth clients are registered yet."</p></div> }.into_any();
                }
                searchable(
                    owned,
                    query,
                    "Search clients",
                    ORDERS,
                    |(c, owner): &Owned| {
                        let mut words = client_words(c);
                        words.push(owner.as_str());
                        words
                    },
                    |sort, (a, ao): &Owned, (b, bo): &Owned| match sort {
                        "owner" => by_name(ao, bo).then_with(|| by_name(&a.name, &b.name)),
                        _ => client_order(sort, a, b),
                    },
                    move |items| view! { <ClientRows items=items dialog=dialog set_standard=Callback::new(move |id| set_standard(id, false)) replace=Callback::new(replace)/> }.into_any(),
                )
                .into_any()
            }}
        </AdminFrame>
    }
}

#[component]
fn ClientRows(
    items: Vec<Owned>,
    dialog: RwSignal<Dialog>,
    /// Unmark: takes nothing away from anyone, so it needs no confirmation.
    set_standard: Callback<String>,
    replace: Callback<OAuthClient>,
) -> impl IntoView {
    view! {
        <DataTable id="all-clients-table" label="Every OAuth client" headers=&["Name", "Client ID", "Owner", "Type", "Created", "Standard", ""]>
            {items.into_iter().map(|(c, owner)| {
                let id = c.id.clone();
                let whole = c.clone();
                let (disable, delete) = ((c.clone(), owner.clone()), (c.clone(), owner.clone()));
                let enable_id = c.id.clone();
                let name = c.name.clone();
                view! {
                    <tr data-client=c.name.clone() data-client-id=c.id.clone()>
                        <th scope="row" class="name">
                            {c.name.clone()}
                            {c.disabled_at.map(|t| view! { " " <span class="badge danger-badge" title=format::exact(t)>"Disabled"</span> })}
                        </th>
                        <td data-label="Client ID"><Mono text=c.client_id.clone() label=format!("Copy client ID of {}", c.name)/></td>
                        <td data-label="Owner">{owner}</td>
                        <td data-label="Type">{match c.client_type { gatehouse_types::ClientType::Confidential => "Confidential", gatehouse_types::ClientType::Public => "Public" }}</td>
                        <td data-label="Created"><When t=Some(c.created_at)/></td>
                        <td data-label="Standard">
                            <label class="choice">
                                <input type="checkbox" prop:checked=c.standard
                                    on:change=move |ev| {
                                        if event_target_checked(&ev) {
                                            dialog.set(Dialog::Standard(whole.clone()));
                                        } else {
                                            set_standard.run(id.clone());
                                        }
                                    }/>
                                <span class="visually-hidden">{format!("{} is a standard integration", c.name)}</span>
                            </label>
                        </td>
                        <td class="row-actions">
                            {if c.disabled_at.is_some() {
                                view! { <EnableButton id=enable_id name=name.clone() on_enabled=replace/> }.into_any()
                            } else {
                                view! {
                                    <button type="button" class="secondary small" aria-label=format!("Disable {name}")
                                        on:click=move |_| dialog.set(Dialog::Disable(disable.clone()))>"Disable"</button>
                                }.into_any()
                            }}
                            <button type="button" class="danger small" aria-label=format!("Delete {}", c.name)
                                on:click=move |_| dialog.set(Dialog::Delete(delete.clone()))>"Delete"</button>
                        </td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
}

/// Enabling gives nothing back that was revoked, so it needs no confirmation.
#[component]
fn EnableButton(id: String, name: String, on_enabled: Callback<OAuthClient>) -> impl IntoView {
    let enabling = Submit::new(move || {
        let id = id.clone();
        async move {
            let body = UpdateOAuthClient {
                disabled: Some(false),
                ..Default::default()
            };
            on_enabled.run(api::update_oauth_client(&id, body).await?);
            Ok(())
        }
    });
    view! {
        <button type="button" class="secondary small" aria-label=format!("Enable {name}") disabled=enabling.busy() on:click=move |_| enabling.run()>"Enable"</button>
        <ErrorNote error=enabling.error()/>
    }
}

/// Marking a client standard skips consent for everyone: asked first. Cancelling
/// unticks the box the person ticked.
#[component]
fn MakeStandard(
    client: OAuthClient,
    dialog: RwSignal<Dialog>,
    on_confirm: Callback<String>,
    reload: Callback<()>,
) -> impl IntoView {
    let id = client.id.clone();
    let box_id = client.id.clone();
    view! {
        <Confirm
            title=format!("Make “{}” a standard integration?", client.name)
            confirm_label="Make standard"
            on_confirm=Callback::new(move |_| {
                dialog.set(Dialog::None);
                on_confirm.run(id.clone());
            })
            on_cancel=Callback::new(move |_| {
                dialog.set(Dialog::None);
                // The box the person ticked goes back: the list's data never
                // changed, so nothing else would untick it.
                let ticked = web_sys::window()
                    .and_then(|w| w.document())
                    .and_then(|d| d.query_selector(&format!("tr[data-client-id=\"{box_id}\"] input[type=checkbox]")).ok().flatten())
                    .and_then(|el| el.dyn_into::<web_sys::HtmlInputElement>().ok());
                if let Some(input) = ticked {
                    input.set_checked(false);
                }
                reload.run(());
            })
            busy=Signal::derive(|| false)
            error=Signal::derive(|| None)
        >
            <p id="standard-effect">{format!(
                "Nobody in the subscription will be asked before “{}” acts for them: its consent is approved for everyone, for the callback URLs it has now. Only a first-party integration should be standard.",
                client.name
            )}</p>
        </Confirm>
    }
}
