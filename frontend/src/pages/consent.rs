//! `/authorize?request=ID`: the consent page. It shows who is asking (the app, its
//! homepage, who registered it, where the browser goes next) and what for, in plain
//! words; Allow or Deny, then the browser follows the server's redirect.

use gatehouse_types::{AuthorizationRequestView, Decision};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{self, ApiError};
use crate::components::*;
use crate::format;
use crate::session::{RequireSignIn, use_auth};

#[component]
pub fn Consent() -> impl IntoView {
    view! {
        <main id="main" class="center-page">
            <RequireSignIn>
                <ConsentCard/>
            </RequireSignIn>
        </main>
    }
}

#[component]
fn ConsentCard() -> impl IntoView {
    let query = use_query_map();
    let id = query
        .with_untracked(|q| q.get("request"))
        .unwrap_or_default();
    let rid = id.clone();
    let request = Loaded::new(move || {
        let rid = rid.clone();
        async move {
            if rid.is_empty() {
                return Err(None);
            }
            api::authorization_request(&rid).await.map_err(Some)
        }
    });
    view! {
        <div class="card consent">
            {move || match request.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Ok(r)) => view! { <Ask request=r/> }.into_any(),
                Some(Err(e)) => view! { <Gone error=e/> }.into_any(),
            }}
        </div>
    }
}

/// An unknown, expired or already answered request: say so and what to do.
#[component]
fn Gone(error: Option<ApiError>) -> impl IntoView {
    let text = match &error {
        Some(e) if e.status != 404 => format::error_text(e),
        _ => "This authorization request has expired, was already answered, or does not exist. Go back to the application and sign in with Gatehouse again.".into(),
    };
    view! {
        <h1>"Nothing to authorize"</h1>
        <p id="consent-error" role="alert">{text}</p>
        <p><a href="/apps">"Go to your applications"</a></p>
    }
}

#[component]
fn Ask(request: AuthorizationRequestView) -> impl IntoView {
    let auth = use_auth();
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let id = StoredValue::new(request.id.clone());
    let decide = move |decision: Decision| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::decide(&id.get_value(), decision).await {
                Ok(r) => {
                    if let Some(w) = web_sys::window() {
                        // Replace: the answered request should not stay in the history.
                        let _ = w.location().replace(&r.redirect_to);
                    }
                }
                Err(e) => {
                    error.set(Some(e));
                    busy.set(false);
                }
            }
        });
    };
    let homepage_host = request
        .homepage_url
        .as_deref()
        .and_then(crate::format::host);
    let user = auth.user().map(|u| u.username).unwrap_or_default();
    view! {
        <div class="brand">
            <span class="logo" aria-hidden="true">"◆"</span>
            " Gatehouse"
        </div>
        <h1 id="consent-title">
            "Allow " <strong class="app-name">{request.client_name.clone()}</strong> " to act for you?"
        </h1>
        <dl class="facts consent-facts">
            {request.homepage_url.clone().zip(homepage_host).map(|(u, host)| view! {
                <div><dt>"Website"</dt><dd><a href=u rel="noopener noreferrer" target="_blank">{host}</a></dd></div>
            })}
            <div><dt>"Registered by"</dt><dd id="registered-by">{request.registered_by.clone()}</dd></div>
            <div><dt>"Afterwards you go to"</dt><dd><code class="mono">{request.redirect_host.clone()}</code></dd></div>
            <div><dt>"Signed in as"</dt><dd>{user}</dd></div>
        </dl>
        {request.standard.then(|| view! { <p class="notice">"This is a standard integration approved by your administrators."</p> })}
        <h2 class="small-heading">"It will be able to"</h2>
        <ul class="scopes" id="consent-scopes">
            {format::ordered_scopes(&request.scopes).iter().map(|s| view! { <li>{format::scope_text(s)}</li> }).collect_view()}
        </ul>
        <p class="hint">"You can revoke this at any time under Authorized Applications."</p>
        <ErrorNote error=error/>
        <DecisionButtons busy=busy on_decide=Callback::new(decide)/>
    }
}
