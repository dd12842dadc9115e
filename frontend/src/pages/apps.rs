//! The Authorized Applications tab: the apps the user allowed, what each may do, and
//! revoking one. A revoked app comes back only by signing in through it again.

use gatehouse_types::{AuthorizedApp, GrantState};
use leptos::prelude::*;

use crate::api;
use crate::components::*;
use crate::format;

#[component]
pub fn AppsPage() -> impl IntoView {
    let apps = Loaded::new(|| async { api::authorized_apps().await });
    let revoking = RwSignal::new(None::<AuthorizedApp>);
    let reload = Callback::new(move |_| apps.refetch());
    view! {
        <div class="page-head">
            <div>
                <h1>"Authorized Applications"</h1>
                <p class="lead">"Applications you allowed to act for you. Revoke one and it loses access at once."</p>
            </div>
        </div>
        {move || match apps.get() {
            None => view! { <Loading/> }.into_any(),
            Some(Err(e)) => view! { <LoadFailed error=e retry=reload/> }.into_any(),
            Some(Ok(page)) if page.items.is_empty() => view! {
                <div class="empty">
                    <h2>"No authorized applications"</h2>
                    <p>"When you sign in to an application with Gatehouse and allow it, it appears here, and you can revoke it at any time."</p>
                </div>
            }
            .into_any(),
            Some(Ok(page)) => view! {
                <ul class="cards" id="apps-list">
                    {page.items.into_iter().map(|app| view! { <AppCard app=app revoking=revoking/> }).collect_view()}
                </ul>
            }
            .into_any(),
        }}
        {move || revoking.get().map(|app| view! {
            <RevokeApp app=app on_cancel=Callback::new(move |_| revoking.set(None)) on_done=Callback::new(move |_| { revoking.set(None); apps.refetch(); })/>
        })}
    }
}

#[component]
fn AppCard(app: AuthorizedApp, revoking: RwSignal<Option<AuthorizedApp>>) -> impl IntoView {
    let active = app.state == GrantState::Active;
    let a = app.clone();
    let homepage_host = app.homepage_url.as_deref().and_then(format::host);
    view! {
        <li class="card app" class:revoked=!active data-app=app.client_name.clone()>
            <div class="card-head">
                <div>
                    <h2 class="app-name">{app.client_name.clone()}</h2>
                    {app.homepage_url.clone().zip(homepage_host).map(|(u, host)| view! {
                        <a href=u rel="noopener noreferrer" target="_blank" class="muted">{host}</a>
                    })}
                </div>
                <div class="badges">
                    {app.standard.then(|| view! { <span class="badge">"Standard integration"</span> })}
                    {if active {
                        view! { <span class="badge ok">"Active"</span> }.into_any()
                    } else {
                        view! { <span class="badge danger-badge">"Revoked"</span> }.into_any()
                    }}
                </div>
            </div>
            <h3 class="small-heading">{if active { "It can" } else { "It could" }}</h3>
            <ul class="scopes">
                {format::ordered_scopes(&app.scopes).iter().map(|s| view! { <li>{format::scope_text(s)}</li> }).collect_view()}
            </ul>
            <dl class="facts">
                <div><dt>"First authorized"</dt><dd><When t=Some(app.authorized_at)/></dd></div>
                <div><dt>"Last used"</dt><dd><When t=app.last_used_at/></dd></div>
                {app.revoked_at.map(|t| view! { <div><dt>"Revoked"</dt><dd><When t=Some(t)/></dd></div> })}
            </dl>
            {if active {
                view! {
                    <div class="actions left">
                        <button type="button" class="danger" aria-label=format!("Revoke access for {}", app.client_name) on:click=move |_| revoking.set(Some(a.clone()))>
                            "Revoke access"
                        </button>
                    </div>
                }
                .into_any()
            } else {
                view! {
                    <p class="hint">
                        "This application can no longer act for you. To use it again, sign in to it with Gatehouse and allow it: it gets new access, and its old tokens stay dead."
                    </p>
                }
                .into_any()
            }}
        </li>
    }
}

#[component]
fn RevokeApp(app: AuthorizedApp, on_cancel: Callback<()>, on_done: Callback<()>) -> impl IntoView {
    let id = app.id.clone();
    view! {
        <ConfirmAction
            title=format!("Revoke “{}”?", app.client_name)
            confirm_label="Revoke access"
            action=move || { let id = id.clone(); async move { api::revoke_app(&id).await } }
            on_done=on_done
            on_cancel=on_cancel
        >
            <p>"The application loses access at once: every token it holds stops working. You can allow it again later by signing in through it."</p>
        </ConfirmAction>
    }
}
