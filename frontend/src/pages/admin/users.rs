//! Users: the people of the subscription, their roles and states; adding one.

use gatehouse_types::{CreateUser, Role, UpdateUser, User, UserKind, UserState};
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::*;
use crate::format;
use crate::session::use_auth;

use super::AdminFrame;

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

pub(super) fn user_label(u: &User) -> String {
    if u.display_name.is_empty() || u.display_name == u.username {
        u.username.clone()
    } else {
        format!("{} ({})", u.display_name, u.username)
    }
}

const USER_ORDERS: &[(&str, &str)] = &[
    ("name", "Username"),
    ("created", "Newest"),
    ("sign_in", "Last sign-in"),
    ("role", "Role"),
];

fn user_order(sort: &str, a: &User, b: &User) -> std::cmp::Ordering {
    let name = || by_name(&a.username, &b.username);
    match sort {
        "created" => b.created_at.cmp(&a.created_at),
        "sign_in" => b.last_sign_in_at.cmp(&a.last_sign_in_at).then_with(name),
        // Administrators first.
        "role" => Role::ALL
            .iter()
            .position(|r| *r == a.role)
            .cmp(&Role::ALL.iter().position(|r| *r == b.role))
            .then_with(name),
        _ => name(),
    }
}

#[component]
pub fn UsersPage() -> impl IntoView {
    let auth = use_auth();
    let users = Pager::<User>::new();
    // The whole list: search and order work on everyone, not on a first page.
    let load = move || users.load(true, |_| api::all_users());
    load();
    let query = ListQuery::new("name");
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
                    load();
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
                    searchable(
                        users.items.into(),
                        query,
                        "Search users",
                        USER_ORDERS,
                        |u: &User| vec![u.username.as_str(), u.display_name.as_str(), u.email.as_deref().unwrap_or_default()],
                        user_order,
                        move |items| {
                            let me = me.clone();
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
                                                <th scope="row" class="name"><a href=format!("/admin/users/{}", u.id)>{label.clone()}</a>{is_me.then_some(" — you")}
                                                    {service.then(|| view! { " "<span class="badge" title="An OAuth client's service account (client credentials). It cannot sign in; its role is set on the client.">"Service account"</span> })}
                                                </th>
                                                <td data-label="Role">
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
                                                <td data-label="State">{state_badges(&u)}</td>
                                                <td data-label="Last sign-in"><When t=u.last_sign_in_at/></td>
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
                        },
                    )
                    .into_any()
                }
            }
            {move || match dialog.get() {
                UserDialog::None => ().into_any(),
                UserDialog::Create => view! {
                    <CreateUserForm on_cancel=close on_created=Callback::new(move |(u, pw): (User, Option<String>)| {
                        load();
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
                            on_done=Callback::new(move |_| { load(); dialog.set(UserDialog::None); })
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
                            on_done=Callback::new(move |_| { load(); dialog.set(UserDialog::None); })
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
                    let cancel = Callback::new(move |_| { load(); dialog.set(UserDialog::None); });
                    view! {
                        <ConfirmAction
                            title=format!("Make {} {}?", user_label(&u), format::role_label(role).to_lowercase())
                            confirm_label="Change role"
                            action=move || { let id = id.clone(); async move { api::update_user(&id, UpdateUser { role: Some(role), ..Default::default() }).await } }
                            on_done=Callback::new(move |_| { load(); dialog.set(UserDialog::None); })
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
                            on_done=Callback::new(move |_| { load(); dialog.set(UserDialog::None); })
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
    let adding = Submit::new(move || {
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
        async move {
            let c = api::create_user(body).await?;
            on_created.run((c.user, c.initial_password));
            Ok(())
        }
    });
    let error = adding.error();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        adding.run();
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
                    <FieldError error=error field="username"/>
                </label>
                <label class="field">
                    <span>"Display name (optional)"</span>
                    <input name="display_name" prop:value=move || display_name.get() on:input=move |ev| display_name.set(event_target_value(&ev))/>
                    <FieldError error=error field="display_name"/>
                </label>
                <label class="field">
                    <span>"E-mail (optional)"</span>
                    <input name="email" type="email" prop:value=move || email.get() on:input=move |ev| email.set(event_target_value(&ev))/>
                    <FieldError error=error field="email"/>
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
                    <FieldError error=error field="password"/>
                </label>
                <ErrorNote error=error fields=&["username", "display_name", "email", "password"]/>
                <div class="actions">
                    <button type="button" class="secondary" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                    <button type="submit" disabled=adding.busy()>"Add user"</button>
                </div>
            </form>
        </Modal>
    }
}

/// A person's state as badges: active, disabled or locked, and a password lock with
/// the exact time it ends.
pub(super) fn state_badges(u: &User) -> impl IntoView + use<> {
    let state = u.state;
    let password_locked = state == UserState::Active && u.password_locked_until.is_some();
    view! {
        <span class=match state { UserState::Active => "badge ok", UserState::Disabled => "badge", UserState::Locked => "badge danger-badge" }>
            {match state { UserState::Active => "Active", UserState::Disabled => "Disabled", UserState::Locked => "Locked" }}
        </span>
        {u.password_locked_until.filter(|_| password_locked).map(|until| view! {
            " "<span class="badge danger-badge" title="Too many failed sign-ins: password sign-in is locked until then. Sessions, keys and apps keep working.">{format!("Sign-in locked until {}", format::exact(until))}</span>
        })}
    }
}
