//! One person of the subscription (`/admin/users/{id}`): their name and e-mail to
//! edit, a new password when they forgot theirs, their API keys, the applications
//! they allowed, and what they did.

use gatehouse_types::{GrantState, PasswordReset, SubscriptionApiKey, UpdateUser, User, UserKind};
use leptos::prelude::*;

use crate::api::{self, AuditFilter, KeyFilter};
use crate::components::*;
use crate::format;
use crate::session::use_auth;

use super::AdminFrame;
use super::users::{state_badges, user_label};

#[component]
pub fn PersonPage() -> impl IntoView {
    let id = record_id();
    let person = Loaded::new(move || {
        let id = id.get();
        async move { api::user(&id).await }
    });
    let reload = Callback::new(move |_| person.refetch());
    view! {
        <AdminFrame title="Users">
            <p><a href="/admin/users">"← All users"</a></p>
            {move || match person.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <LoadFailed error=e retry=reload/> }.into_any(),
                Some(Ok(u)) => view! { <Person user=u/> }.into_any(),
            }}
        </AdminFrame>
    }
}

#[component]
fn Person(user: User) -> impl IntoView {
    let auth = use_auth();
    let is_me = auth.user().is_some_and(|m| m.id == user.id);
    let service = user.kind == UserKind::Service;
    let current = RwSignal::new(user);
    let label = move || current.with(user_label);
    let id = current.with_untracked(|u| u.id.clone());
    let username = current.with_untracked(|u| u.username.clone());
    let resetting = RwSignal::new(false);
    let revealed = RwSignal::new(None::<PasswordReset>);
    view! {
        <section class="card wide" aria-labelledby="person-heading">
            <div class="card-head">
                <h2 id="person-heading">{label}</h2>
                <div class="badges">{move || current.with(state_badges)}</div>
            </div>
            <dl class="facts">
                <div><dt>"Username"</dt><dd><code class="mono">{username.clone()}</code></dd></div>
                <div><dt>"Role"</dt><dd>{move || format::role_label(current.with(|u| u.role))}</dd></div>
                <div><dt>"Last sign-in"</dt><dd><When t=current.with_untracked(|u| u.last_sign_in_at)/></dd></div>
                <div><dt>"Added"</dt><dd><When t=Some(current.with_untracked(|u| u.created_at))/></dd></div>
            </dl>
            {if service {
                view! { <p class="hint">"An OAuth client's service account: it cannot sign in, and its name and role are set on the client."</p> }.into_any()
            } else {
                view! { <DetailsForm user=current/> }.into_any()
            }}
        </section>
        {(!service && !is_me).then(|| view! {
            <section class="card wide" aria-labelledby="password-heading">
                <h2 id="password-heading">"Password"</h2>
                <p class="hint">"When they forgot theirs: a new one is made for them, shown to you once. They choose their own the next time they sign in."</p>
                <div class="actions left">
                    <button type="button" class="secondary" id="reset-password" on:click=move |_| resetting.set(true)>
                        "Reset password"
                    </button>
                </div>
            </section>
        })}
        <PersonKeys user_id=id.clone()/>
        <PersonApps user_id=id.clone()/>
        <super::Activity
            filter=AuditFilter { scope: "all".into(), actor: id.clone(), ..Default::default() }
            heading="Activity"
            id="person-activity"
        />
        <Show when=move || resetting.get()>
            {
                let id = id.clone();
                view! {
                    <ConfirmAction
                        title=format!("Reset the password of {}?", current.with_untracked(user_label))
                        confirm_label="Reset password"
                        action=move || { let id = id.clone(); async move { api::reset_user_password(&id).await } }
                        on_done=Callback::new(move |r: PasswordReset| {
                            current.set(r.user.clone());
                            resetting.set(false);
                            revealed.set(Some(r));
                        })
                        on_cancel=Callback::new(move |_| resetting.set(false))
                    >
                        <p>"Their current password stops working and they are signed out everywhere. Their API keys and authorized applications keep working."</p>
                    </ConfirmAction>
                }
            }
        </Show>
        {move || revealed.get().map(|r| {
            let ended = match r.sessions_ended {
                0 => String::new(),
                1 => " 1 session was signed out.".into(),
                n => format!(" {n} sessions were signed out."),
            };
            let note = format!("Give it to {} by a safe way (not the e-mail their account uses if it may be lost). They choose their own when they sign in.{ended}", r.user.username);
            view! {
                <SecretPanel title="Temporary password" label="Temporary password" secret=r.temporary_password note=note
                    on_done=Callback::new(move |_| revealed.set(None))/>
            }
        })}
    }
}

/// The display name and e-mail, as an admin corrects them.
#[component]
fn DetailsForm(user: RwSignal<User>) -> impl IntoView {
    let id = user.with_untracked(|u| u.id.clone());
    let save = move |name: String, email: Option<String>| {
        let id = id.clone();
        async move {
            let body = UpdateUser {
                display_name: Some(name),
                email: Some(email),
                ..Default::default()
            };
            user.set(api::update_user(&id, body).await?);
            Ok(())
        }
    };
    view! {
        <NameAndEmailForm
            form_id="person-form"
            name=user.with_untracked(|u| u.display_name.clone())
            email=user.with_untracked(|u| u.email.clone())
            save=save
            submit_label="Save"
            saved_text="Saved."
        />
    }
}

/// The person's API keys, a page at a time.
#[component]
fn PersonKeys(user_id: String) -> impl IntoView {
    let keys = Pager::<SubscriptionApiKey>::new();
    let filter = KeyFilter {
        user: user_id,
        ..Default::default()
    };
    let load = move |reset: bool| {
        let filter = filter.clone();
        keys.load(reset, move |c| async move {
            api::subscription_api_keys(&filter, c).await
        })
    };
    load(true);
    view! {
        <section aria-labelledby="person-keys-heading">
            <h2 id="person-keys-heading">"API keys"</h2>
            <ErrorNote error=keys.error/>
            {paged(keys, "No API keys.", |items| view! {
                <DataTable id="person-keys" label="Their API keys" headers=&["Name", "Key", "Permission", "Created", "Last used", "Expires"]>
                    {items.into_iter().map(|k| {
                        let k = k.key;
                        view! {
                            <tr>
                                <th scope="row" class="name">{k.name.clone()}</th>
                                <td data-label="Key"><code class="mono">{k.hint.clone()}</code></td>
                                <td data-label="Permission">{format::permission_label(k.permission)}</td>
                                <td data-label="Created"><When t=Some(k.created_at)/></td>
                                <td data-label="Last used"><When t=k.last_used_at/></td>
                                <td data-label="Expires"><Expiry t=k.expires_at/></td>
                            </tr>
                        }
                    }).collect_view()}
                </DataTable>
            }.into_any())}
            <MoreButton has_more=Signal::derive(move || keys.next.with(Option::is_some)) loading=keys.loading on_more=Callback::new(move |_| load(false))/>
        </section>
    }
}

/// The applications the person allowed to act for them, active and revoked.
#[component]
fn PersonApps(user_id: String) -> impl IntoView {
    let apps = Loaded::new(move || {
        let id = user_id.clone();
        async move { api::user_authorized_apps(&id).await }
    });
    let reload = Callback::new(move |_| apps.refetch());
    view! {
        <section aria-labelledby="person-apps-heading">
            <h2 id="person-apps-heading">"Authorized applications"</h2>
            {move || match apps.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <LoadFailed error=e retry=reload/> }.into_any(),
                Some(Ok(page)) if page.items.is_empty() => view! { <div class="empty"><p>"No authorized applications."</p></div> }.into_any(),
                Some(Ok(page)) => view! {
                    <DataTable id="person-apps" label="Their authorized applications" headers=&["Application", "May", "State", "First authorized", "Last used"]>
                        {page.items.into_iter().map(|a| {
                            let active = a.state == GrantState::Active;
                            view! {
                                <tr>
                                    <th scope="row" class="name">{a.client_name.clone()}</th>
                                    <td data-label="May" class="wrap">{format::ordered_scopes(&a.scopes).iter().map(|s| format::scope_text(s)).collect::<Vec<_>>().join("; ")}</td>
                                    <td data-label="State">{if active {
                                        view! { <span class="badge ok">"Active"</span> }.into_any()
                                    } else {
                                        view! { <span class="badge danger-badge">"Revoked"</span> }.into_any()
                                    }}</td>
                                    <td data-label="First authorized"><When t=Some(a.authorized_at)/></td>
                                    <td data-label="Last used"><When t=a.last_used_at/></td>
                                </tr>
                            }
                        }).collect_view()}
                    </DataTable>
                }.into_any(),
            }}
        </section>
    }
}
