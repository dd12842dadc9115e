//! `/device` (RFC 8628's verification URI): a signed-in person enters the code a
//! command-line tool or a TV shows (or arrives with it in `?user_code=`), sees which
//! app, from which address and program, asks for what — with the warning of §5.4
//! against codes that someone else sent them — and allows or denies. The device hears
//! the answer at its next poll.

use gatehouse_types::{Decision, DeviceDecisionResult, DeviceRequestView};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::{self, ApiError};
use crate::components::*;
use crate::format;
use crate::session::{RequireSignIn, use_auth};

#[component]
pub fn Device() -> impl IntoView {
    view! {
        <main id="main" class="center-page">
            <RequireSignIn>
                <DeviceCard/>
            </RequireSignIn>
        </main>
    }
}

#[component]
fn DeviceCard() -> impl IntoView {
    let query = use_query_map();
    let given = query
        .with_untracked(|q| q.get("user_code"))
        .unwrap_or_default();
    let code = RwSignal::new(given);
    let request = RwSignal::new(None::<DeviceRequestView>);
    let done = RwSignal::new(None::<DeviceDecisionResult>);
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let look_up = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::device_request(code.get_untracked()).await {
                Ok(r) => request.set(Some(r)),
                Err(e) => error.set(Some(unknown_code(e))),
            }
            busy.set(false);
        });
    };
    view! {
        <div class="card consent">
            <div class="brand">
                <span class="logo" aria-hidden="true">"◆"</span>
                " Gatehouse"
            </div>
            {move || match (done.get(), request.get()) {
                (Some(d), _) => view! { <Decided result=d/> }.into_any(),
                (None, Some(r)) => view! { <Ask request=r done=done/> }.into_any(),
                (None, None) => view! {
                    <h1>"Connect a device"</h1>
                    <p>"Enter the code that the device or command-line tool shows you."</p>
                    <p class="notice" id="device-warning">
                        "Only enter a code that you got from a device you are setting up yourself, right now. "
                        "If someone sent you this code or this link, do not go on: they would get access to your account."
                    </p>
                    <form on:submit=look_up id="device-form">
                        <label class="field">
                            <span>"Code"</span>
                            <input name="user_code" required autocomplete="off" autocapitalize="characters"
                                spellcheck="false" maxlength="32" placeholder="XXXX-XXXX" class="mono code-input"
                                prop:value=move || code.get()
                                on:input=move |ev| code.set(event_target_value(&ev))/>
                        </label>
                        <ErrorNote error=error/>
                        <div class="actions">
                            <button type="submit" disabled=move || busy.get()>"Continue"</button>
                        </div>
                    </form>
                }.into_any(),
            }}
        </div>
    }
}

/// A code that matches nothing waiting (404) said in this page's words.
fn unknown_code(e: ApiError) -> ApiError {
    if e.status != 404 {
        return e;
    }
    ApiError {
        code: "unknown_user_code".into(),
        message: "No device is waiting with this code: check it on the device's screen, or start again there.".into(),
        ..e
    }
}

#[component]
fn Ask(request: DeviceRequestView, done: RwSignal<Option<DeviceDecisionResult>>) -> impl IntoView {
    let auth = use_auth();
    let error = RwSignal::new(None::<ApiError>);
    let busy = RwSignal::new(false);
    let code = StoredValue::new(request.user_code.clone());
    let decide = move |decision: Decision| {
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::decide_device(code.get_value(), decision).await {
                Ok(r) => done.set(Some(r)),
                Err(e) => {
                    error.set(Some(unknown_code(e)));
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
    let device = match (&request.device_user_agent, &request.device_ip) {
        (Some(agent), Some(ip)) => format!("{agent}, from {ip}"),
        (Some(agent), None) => agent.clone(),
        (None, Some(ip)) => format!("from {ip}"),
        (None, None) => "unknown".into(),
    };
    view! {
        <h1 id="device-title">
            "Allow " <strong class="app-name">{request.client_name.clone()}</strong> " on this device to act for you?"
        </h1>
        <dl class="facts consent-facts">
            <div><dt>"Code"</dt><dd><code class="mono" id="device-code">{request.user_code.clone()}</code></dd></div>
            <div><dt>"Device (as it describes itself)"</dt><dd id="device-agent">{device}</dd></div>
            <div><dt>"Asked"</dt><dd><When t=Some(request.requested_at)/></dd></div>
            {request.homepage_url.clone().zip(homepage_host).map(|(u, host)| view! {
                <div><dt>"Website"</dt><dd><a href=u rel="noopener noreferrer" target="_blank">{host}</a></dd></div>
            })}
            <div><dt>"Registered by"</dt><dd>{request.registered_by.clone()}</dd></div>
            <div><dt>"Signed in as"</dt><dd>{user}</dd></div>
        </dl>
        <p class="notice">"Check that the code matches the one on your device. If you did not start this yourself, deny it."</p>
        <h2 class="small-heading">"It will be able to"</h2>
        <ul class="scopes" id="device-scopes">
            {format::ordered_scopes(&request.scopes).iter().map(|s| view! { <li>{format::scope_text(s)}</li> }).collect_view()}
        </ul>
        <p class="hint">"You can revoke this at any time under Authorized Applications."</p>
        <ErrorNote error=error/>
        <DecisionButtons busy=busy on_decide=Callback::new(decide)/>
    }
}

#[component]
fn Decided(result: DeviceDecisionResult) -> impl IntoView {
    let (title, text) = match result.decision {
        Decision::Allow => (
            "Device connected",
            format!(
                "{} is signed in. You can go back to your device; it continues by itself.",
                result.client_name
            ),
        ),
        Decision::Deny => (
            "Request denied",
            format!(
                "{} was not given access. You can close this page.",
                result.client_name
            ),
        ),
    };
    view! {
        <h1 id="device-done">{title}</h1>
        <p role="status">{text}</p>
        <p><a href="/apps">"Go to your applications"</a></p>
    }
}
