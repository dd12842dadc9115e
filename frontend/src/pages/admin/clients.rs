//! Every OAuth client of the subscription, with its owner.

use gatehouse_types::{OAuthClient, UpdateOAuthClient};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::{self, ApiError};
use crate::components::*;

use super::AdminFrame;

#[component]
pub fn AllClientsPage() -> impl IntoView {
    let clients = Pager::<OAuthClient>::new();
    let load = move |reset: bool| clients.load(reset, api::oauth_clients_page);
    load(true);
    // Owners named from every user of the subscription.
    let owners = Loaded::new(|| async { api::all_users().await });
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
            let box_id = c.id.clone();
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
                        // The box the person ticked goes back: the list's data never
                        // changed, so nothing else would untick it.
                        let ticked = web_sys::window()
                            .and_then(|w| w.document())
                            .and_then(|d| d.query_selector(&format!("tr[data-client-id=\"{box_id}\"] input[type=checkbox]")).ok().flatten())
                            .and_then(|el| el.dyn_into::<web_sys::HtmlInputElement>().ok());
                        if let Some(input) = ticked {
                            input.set_checked(false);
                        }
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
                                        <tr data-client=c.name.clone() data-client-id=c.id.clone()>
                                            <th scope="row" class="name">{c.name.clone()}</th>
                                            <td data-label="Client ID"><Mono text=c.client_id.clone() label=format!("Copy client ID of {}", c.name)/></td>
                                            <td data-label="Owner">{owner_name(&c.owner_id)}</td>
                                            <td data-label="Type">{match c.client_type { gatehouse_types::ClientType::Confidential => "Confidential", gatehouse_types::ClientType::Public => "Public" }}</td>
                                            <td data-label="Created"><When t=Some(c.created_at)/></td>
                                            <td data-label="Standard">
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
