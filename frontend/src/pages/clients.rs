//! The OAuth Clients tab: apps the user registered to sign people in with Gatehouse.
//! Register ("Create new client"), the one-time client secret, edit, reset the secret
//! (optionally revoking every token), delete. Roles that may not register clients see
//! why instead of the button.

use gatehouse_types::validate::DEVICE_CODE_GRANT;
use gatehouse_types::{
    ClientType, CreateOAuthClient, OAuthClient, OAuthClientWithSecret, Role, UpdateOAuthClient,
};
use leptos::prelude::*;

use crate::api;
use crate::components::*;
use crate::format;
use crate::session::use_auth;

#[derive(Clone)]
enum Dialog {
    None,
    Create,
    Edit(OAuthClient),
    Reset(OAuthClient),
    Delete(OAuthClient),
    Secret(OAuthClientWithSecret, &'static str),
}

#[component]
pub fn ClientsPage() -> impl IntoView {
    let auth = use_auth();
    let clients = Loaded::new(|| async { api::oauth_clients().await });
    let sub = auth.fresh_subscription();
    let may_register = move || {
        let role = auth.role();
        sub.get()
            .and_then(|s| s.ok())
            .map(|s| role.is_some_and(|r| s.settings.oauth_client_roles.contains(&r)))
    };
    let dialog = RwSignal::new(Dialog::None);
    let close = Callback::new(move |_| dialog.set(Dialog::None));
    let reload = Callback::new(move |_| clients.refetch());
    let query = ListQuery::new("created");
    let done = Callback::new(move |_| {
        clients.refetch();
        dialog.set(Dialog::None);
    });

    view! {
        <div class="page-head">
            <div>
                <h1>"OAuth Clients"</h1>
                <p class="lead">
                    "Register an application so it can sign people in with Gatehouse and call the API for them (OAuth 2 authorization code with PKCE)."
                </p>
            </div>
            <button
                type="button"
                id="create-client"
                disabled=move || may_register() != Some(true)
                on:click=move |_| dialog.set(Dialog::Create)
            >
                "Create new client"
            </button>
        </div>
        {move || {
            (may_register() == Some(false)).then(|| {
                let roles = sub
                    .get()
                    .and_then(|s| s.ok())
                    .map(|s| format::roles_text(&s.settings.oauth_client_roles))
                    .unwrap_or_default();
                view! {
                    <div class="banner" role="note" id="clients-not-allowed">
                        {format!("In this subscription only {roles} may register OAuth clients. Ask an administrator if you need one.")}
                    </div>
                }
            })
        }}
        <Integration/>
        {move || match clients.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) if e.status == 403 => view! {
                <div class="empty"><p>"You cannot manage OAuth clients with your role."</p></div>
            }
            .into_any(),
            Some(Err(e)) => view! { <LoadFailed error=e retry=reload/> }.into_any(),
            // Only someone who may register is told to (the banner above says who may).
            Some(Ok(page)) if page.items.is_empty() => view! {
                <div class="empty" id="clients-empty">
                    <h2>"No OAuth clients yet"</h2>
                    <p>{move || if may_register() == Some(false) {
                        "You have no OAuth clients. Registering them is for the roles named above."
                    } else {
                        "Create a client for each application that should let people sign in with Gatehouse. You will need its callback URL."
                    }}</p>
                </div>
            }
            .into_any(),
            Some(Ok(page)) => searchable(
                Signal::stored(page.items),
                query,
                "Search your clients",
                CLIENT_ORDERS,
                client_words,
                client_order,
                move |clients| view! { <ClientTable clients=clients dialog=dialog/> }.into_any(),
            )
            .into_any(),
        }}
        {move || match dialog.get() {
            Dialog::None => ().into_any(),
            Dialog::Create => view! {
                <ClientForm
                    client=None
                    on_cancel=close
                    on_created=Callback::new(move |c| {
                        clients.refetch();
                        dialog.set(Dialog::Secret(c, "Your new OAuth client"));
                    })
                    on_saved=done
                />
            }
            .into_any(),
            Dialog::Edit(c) => view! { <ClientForm client=Some(c) on_cancel=close on_created=Callback::new(|_| {}) on_saved=done/> }.into_any(),
            Dialog::Reset(c) => view! {
                <ResetSecret client=c on_cancel=close on_done=Callback::new(move |c| { clients.refetch(); dialog.set(Dialog::Secret(c, "Your client's new secret")); })/>
            }
            .into_any(),
            Dialog::Delete(c) => view! { <DeleteClient client=c on_cancel=close on_done=done/> }.into_any(),
            Dialog::Secret(c, title) => view! { <ClientSecret client=c title=title on_done=close/> }.into_any(),
        }}
    }
}

/// What a developer configures in their application besides its client ID and
/// secret: the issuer, the discovery document, and each endpoint, to copy.
#[component]
fn Integration() -> impl IntoView {
    let found = Loaded::new(|| async { api::discovery().await });
    const ENDPOINTS: [(&str, &str); 8] = [
        ("authorization_endpoint", "Authorization"),
        ("token_endpoint", "Token"),
        ("userinfo_endpoint", "UserInfo"),
        ("jwks_uri", "JWKS (signing keys)"),
        ("revocation_endpoint", "Revocation"),
        ("introspection_endpoint", "Introspection"),
        ("device_authorization_endpoint", "Device authorization"),
        ("end_session_endpoint", "Sign-out (end session)"),
    ];
    move || {
        found.get().and_then(Result::ok).map(|doc| {
            let issuer = doc["issuer"].as_str().unwrap_or_default().to_string();
            let discovery = format!("{issuer}/.well-known/openid-configuration");
            let row = |label: &'static str, url: String| {
                view! {
                    <div>
                        <dt>{label}</dt>
                        <dd><Mono text=url label=format!("Copy the {label} URL")/></dd>
                    </div>
                }
            };
            view! {
                <details class="card integration" id="integration">
                    <summary>"Issuer and endpoints for your application"</summary>
                    <p class="hint">"Most libraries need only the issuer: they read the rest from the discovery document."</p>
                    <dl class="endpoints">
                        {row("Issuer", issuer)}
                        {row("Discovery document", discovery)}
                        {ENDPOINTS.iter().filter_map(|(key, label)| {
                            doc[*key].as_str().map(|u| row(label, u.to_string()))
                        }).collect_view()}
                    </dl>
                </details>
            }
        })
    }
}

/// After create or reset: the client id, and the secret once (confidential clients).
#[component]
fn ClientSecret(
    client: OAuthClientWithSecret,
    title: &'static str,
    on_done: Callback<()>,
) -> impl IntoView {
    match client.client_secret {
        Some(secret) => {
            let note = format!("Client ID: {}", client.client.client_id);
            view! { <SecretPanel title=title label="Client secret" secret=secret note=note on_done=on_done/> }.into_any()
        }
        None => view! {
            <Modal title=title on_close=on_done>
                <p>"This public client has no secret: it must use PKCE. Give the application its client ID:"</p>
                <p><Mono text=client.client.client_id.clone() label="Copy client ID"/></p>
                <div class="actions">
                    <button type="button" autofocus on:click=move |_| on_done.run(())>"Done"</button>
                </div>
            </Modal>
        }
        .into_any(),
    }
}

pub(crate) const CLIENT_ORDERS: &[(&str, &str)] = &[("created", "Newest"), ("name", "Name")];

/// What search looks in: the name, the client ID and the callback URLs.
pub(crate) fn client_words(c: &OAuthClient) -> Vec<&str> {
    let mut words = vec![c.name.as_str(), c.client_id.as_str()];
    words.extend(c.redirect_uris.iter().map(String::as_str));
    words
}

pub(crate) fn client_order(sort: &str, a: &OAuthClient, b: &OAuthClient) -> std::cmp::Ordering {
    match sort {
        "name" => by_name(&a.name, &b.name),
        _ => b.created_at.cmp(&a.created_at),
    }
}

#[component]
fn ClientTable(clients: Vec<OAuthClient>, dialog: RwSignal<Dialog>) -> impl IntoView {
    view! {
        <DataTable id="clients-table" label="Your OAuth clients" headers=&["Name", "Client ID", "Type", "Callback URLs", ""]>
                    {clients
                        .into_iter()
                        .map(|c| {
                            let (c1, c2, c3) = (c.clone(), c.clone(), c.clone());
                            let confidential = c.client_type == ClientType::Confidential;
                            view! {
                                <tr data-client=c.name.clone()>
                                    <th scope="row" class="name">
                                        {c.name.clone()}
                                        <div class="muted small">"Created " <When t=Some(c.created_at)/></div>
                                        {c.standard.then(|| view! { " " <span class="badge">"Standard"</span> })}
                                        {c.disabled_at.map(|t| view! {
                                            " " <span class="badge danger-badge" title=format::exact(t)>"Disabled by an administrator"</span>
                                        })}
                                    </th>
                                    <td data-label="Client ID"><Mono text=c.client_id.clone() label=format!("Copy client ID of {}", c.name)/></td>
                                    <td data-label="Type">{if confidential { "Confidential" } else { "Public (PKCE)" }}</td>
                                    <td class="wrap" data-label="Callback URLs">
                                        {c.redirect_uris.iter().map(|u| view! { <div><Url url=u.clone()/></div> }).collect_view()}
                                    </td>
                                    <td class="row-actions">
                                        <button type="button" class="secondary small" aria-label=format!("Edit {}", c.name) on:click=move |_| dialog.set(Dialog::Edit(c1.clone()))>"Edit"</button>
                                        {confidential.then(|| view! {
                                            <button type="button" class="secondary small" aria-label=format!("Reset secret of {}", c2.name) on:click=move |_| dialog.set(Dialog::Reset(c2.clone()))>"Reset secret"</button>
                                        })}
                                        <button type="button" class="danger small" aria-label=format!("Delete {}", c3.name) on:click=move |_| dialog.set(Dialog::Delete(c3.clone()))>"Delete"</button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </DataTable>
    }
}

const AUTHORIZATION_CODE: &str = "authorization_code";
const CLIENT_CREDENTIALS: &str = "client_credentials";
const REFRESH_TOKEN: &str = "refresh_token";

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn optional(text: String) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// Register a client (`client: None`) or edit one.
#[component]
fn ClientForm(
    client: Option<OAuthClient>,
    on_cancel: Callback<()>,
    on_created: Callback<OAuthClientWithSecret>,
    on_saved: Callback<()>,
) -> impl IntoView {
    let editing = client.clone();
    let name = RwSignal::new(client.as_ref().map(|c| c.name.clone()).unwrap_or_default());
    let uris = RwSignal::new(
        client
            .as_ref()
            .map(|c| c.redirect_uris.join("\n"))
            .unwrap_or_default(),
    );
    let homepage = RwSignal::new(
        client
            .as_ref()
            .and_then(|c| c.homepage_url.clone())
            .unwrap_or_default(),
    );
    let client_type = RwSignal::new(
        client
            .as_ref()
            .map(|c| c.client_type)
            .unwrap_or(ClientType::Confidential),
    );
    let origins_before = client
        .as_ref()
        .map(|c| c.allowed_origins.join("\n"))
        .unwrap_or_default();
    let origins = RwSignal::new(origins_before.clone());
    let logout_uris = RwSignal::new(
        client
            .as_ref()
            .map(|c| c.post_logout_redirect_uris.join("\n"))
            .unwrap_or_default(),
    );
    let backchannel = RwSignal::new(
        client
            .as_ref()
            .and_then(|c| c.backchannel_logout_uri.clone())
            .unwrap_or_default(),
    );
    let grant_types_before: Vec<String> = client
        .as_ref()
        .map(|c| c.grant_types.clone())
        .unwrap_or_else(|| vec![AUTHORIZATION_CODE.into(), REFRESH_TOKEN.into()]);
    let device = RwSignal::new(grant_types_before.iter().any(|g| g == DEVICE_CODE_GRANT));
    // Client credentials: a service account with this role (administrators only).
    let service_before = client.as_ref().and_then(|c| c.service_role);
    let service = RwSignal::new(service_before);
    let is_admin = use_auth().is_admin();
    // The grant types with the device grant as the checkbox says; `None` when unchanged.
    let grant_types = move || {
        let mut g: Vec<String> = grant_types_before
            .iter()
            .filter(|g| *g != DEVICE_CODE_GRANT && *g != CLIENT_CREDENTIALS)
            .cloned()
            .collect();
        if device.get_untracked() {
            g.push(DEVICE_CODE_GRANT.into());
        }
        if service.get_untracked().is_some() {
            g.push(CLIENT_CREDENTIALS.into());
        }
        (g != grant_types_before).then_some(g)
    };
    let saving = Submit::new(move || {
        let editing = editing.clone();
        let grant_types = grant_types();
        // The origins are sent only when edited; emptied, they go back to the default.
        let origins_text = origins.get_untracked();
        let allowed_origins = (origins_text.trim() != origins_before.trim())
            .then(|| Some(lines(&origins_text)).filter(|o| !o.is_empty()));
        async move {
            match editing {
                None => api::create_oauth_client(CreateOAuthClient {
                    name: name.get_untracked().trim().to_string(),
                    redirect_uris: lines(&uris.get_untracked()),
                    client_type: client_type.get_untracked(),
                    homepage_url: optional(homepage.get_untracked()),
                    logo_url: None,
                    grant_types,
                    post_logout_redirect_uris: Some(lines(&logout_uris.get_untracked())),
                    backchannel_logout_uri: optional(backchannel.get_untracked()),
                    allowed_origins: allowed_origins.flatten(),
                    service_role: service.get_untracked(),
                })
                .await
                .map(|c| on_created.run(c)),
                // Where codes and logouts go is sent only when it changed: changing it
                // asks for the password again (sudo mode), a rename does not.
                Some(c) => api::update_oauth_client(
                    &c.id,
                    UpdateOAuthClient {
                        name: Some(name.get_untracked().trim().to_string()),
                        redirect_uris: Some(lines(&uris.get_untracked()))
                            .filter(|u| *u != c.redirect_uris),
                        homepage_url: Some(optional(homepage.get_untracked())),
                        grant_types,
                        post_logout_redirect_uris: Some(lines(&logout_uris.get_untracked()))
                            .filter(|u| *u != c.post_logout_redirect_uris),
                        backchannel_logout_uri: Some(optional(backchannel.get_untracked()))
                            .filter(|u| *u != c.backchannel_logout_uri),
                        allowed_origins,
                        service_role: (service.get_untracked() != service_before)
                            .then(|| service.get_untracked()),
                        ..Default::default()
                    },
                )
                .await
                .map(|_| on_saved.run(())),
            }
        }
    });
    let error = saving.error();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saving.run();
    };
    let creating = client.is_none();
    let title = match &client {
        None => "Create a new client".to_string(),
        Some(c) => format!("Edit “{}”", c.name),
    };
    view! {
        <Modal title=title on_close=on_cancel>
            <form on:submit=submit id="client-form">
                <label class="field">
                    <span>"Application name"</span>
                    <input name="name" required maxlength="100" autofocus
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))/>
                    <small class="hint">"People see this name when they are asked to allow the application."</small>
                    <FieldError error=error field="name"/>
                </label>
                <label class="field">
                    <span>"Callback URLs"</span>
                    <textarea name="redirect_uris" required placeholder="https://app.example.com/callback"
                        prop:value=move || uris.get()
                        on:input=move |ev| uris.set(event_target_value(&ev))></textarea>
                    <small class="hint">"One per line. Gatehouse sends people back only to these exact addresses; http is allowed only for 127.0.0.1 and localhost."</small>
                    <FieldError error=error field="redirect_uris"/>
                </label>
                <label class="field">
                    <span>"Homepage (optional)"</span>
                    <input name="homepage_url" type="url" placeholder="https://app.example.com"
                        prop:value=move || homepage.get()
                        on:input=move |ev| homepage.set(event_target_value(&ev))/>
                    <FieldError error=error field="homepage_url"/>
                </label>
                <label class="field">
                    <span>"Allowed origins (optional)"</span>
                    <textarea name="allowed_origins" placeholder="https://app.example.com"
                        prop:value=move || origins.get()
                        on:input=move |ev| origins.set(event_target_value(&ev))></textarea>
                    <small class="hint">"Browser apps on these origins may call the token endpoint and the API with this client's tokens. One per line, like https://app.example.com. Left empty, the origins your callbacks are on."</small>
                    <FieldError error=error field="allowed_origins"/>
                </label>
                <label class="field">
                    <span>"Sign-out return URLs (optional)"</span>
                    <textarea name="post_logout_redirect_uris" placeholder="https://app.example.com/signed-out"
                        prop:value=move || logout_uris.get()
                        on:input=move |ev| logout_uris.set(event_target_value(&ev))></textarea>
                    <small class="hint">"Where the app may send people after they sign out of Gatehouse. One per line, matched exactly."</small>
                    <FieldError error=error field="post_logout_redirect_uris"/>
                </label>
                <label class="field">
                    <span>"Back-channel logout URL (optional)"</span>
                    <input name="backchannel_logout_uri" type="url" placeholder="https://app.example.com/backchannel-logout"
                        prop:value=move || backchannel.get()
                        on:input=move |ev| backchannel.set(event_target_value(&ev))/>
                    <small class="hint">"Gatehouse posts a signed logout token here when someone signs out or revokes the app."</small>
                    <FieldError error=error field="backchannel_logout_uri"/>
                </label>
                <label class="choice">
                    <input type="checkbox" name="device_code"
                        prop:checked=move || device.get()
                        on:change=move |ev| device.set(event_target_checked(&ev))/>
                    <span><strong>"Device sign-in"</strong>" — command-line tools and TVs sign people in with a code (RFC 8628)."</span>
                </label>
                {is_admin.then(|| view! {
                    <label class="field">
                        <span>"Service account (client credentials)"</span>
                        <select name="service_role"
                            on:change=move |ev| service.set(Role::parse(&event_target_value(&ev)))>
                            <option value="" selected=move || service.get().is_none()>"None"</option>
                            <option value="viewer" selected=move || service.get() == Some(Role::Viewer)>"Viewer: reads the API"</option>
                            <option value="editor" selected=move || service.get() == Some(Role::Editor)>"Editor: reads and writes the API"</option>
                        </select>
                        <small class="hint">"A confidential client may then get tokens for itself, acting as its own service account (listed under Users). Administrators only."</small>
                    </label>
                })}
                {creating.then(|| view! {
                    <fieldset class="field">
                        <legend>"Client type"</legend>
                        <label class="choice">
                            <input type="radio" name="client_type" value="confidential"
                                prop:checked=move || client_type.get() == ClientType::Confidential
                                on:change=move |_| client_type.set(ClientType::Confidential)/>
                            <span><strong>"Confidential"</strong>" — a server that can keep a secret."</span>
                        </label>
                        <label class="choice">
                            <input type="radio" name="client_type" value="public"
                                prop:checked=move || client_type.get() == ClientType::Public
                                on:change=move |_| client_type.set(ClientType::Public)/>
                            <span><strong>"Public"</strong>" — a browser or mobile app; no secret, PKCE only."</span>
                        </label>
                    </fieldset>
                })}
                <ErrorNote error=error fields=&["name", "redirect_uris", "homepage_url", "allowed_origins", "post_logout_redirect_uris", "backchannel_logout_uri"]/>
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="submit" disabled=saving.busy()>{if creating { "Create client" } else { "Save" }}</button>
                </div>
            </form>
        </Modal>
    }
}

#[component]
fn ResetSecret(
    client: OAuthClient,
    on_cancel: Callback<()>,
    on_done: Callback<OAuthClientWithSecret>,
) -> impl IntoView {
    let revoke = RwSignal::new(false);
    let id = client.id.clone();
    view! {
        <ConfirmAction
            title=format!("Reset the secret of “{}”?", client.name)
            confirm_label="Reset secret"
            action=move || { let id = id.clone(); async move { api::reset_client_secret(&id, revoke.get_untracked()).await } }
            on_done=on_done
            on_cancel=on_cancel
        >
            <p>"The client gets a new secret and the current one stops working at once: the application must be given the new one."</p>
            <label class="choice">
                <input type="checkbox" name="revoke_tokens"
                    prop:checked=move || revoke.get()
                    on:change=move |ev| revoke.set(event_target_checked(&ev))/>
                <span>"Also revoke every token the application holds (everyone must allow it again)."</span>
            </label>
        </ConfirmAction>
    }
}

#[component]
fn DeleteClient(
    client: OAuthClient,
    on_cancel: Callback<()>,
    on_done: Callback<()>,
) -> impl IntoView {
    let id = client.id.clone();
    view! {
        <ConfirmAction
            title=format!("Delete “{}”?", client.name)
            confirm_label="Delete client"
            action=move || { let id = id.clone(); async move { api::delete_oauth_client(&id).await } }
            on_done=on_done
            on_cancel=on_cancel
        >
            <p>"Everyone who allowed this application loses it at once: every authorization and token of the client is revoked. This cannot be undone."</p>
        </ConfirmAction>
    }
}
