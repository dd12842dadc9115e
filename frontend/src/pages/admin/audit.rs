//! The audit log: filter by actor, action and time; download as CSV.

use gatehouse_types::AuditEvent;
use gatehouse_types::audit::AuditAction;
use leptos::prelude::*;

use crate::api::{self, ApiError, AuditFilter};
use crate::components::*;
use crate::format;

use super::AdminFrame;

/// A date input's value as the start (or end) of that day in UTC, RFC 3339.
fn day_bound(value: &str, end: bool) -> String {
    let at = if end {
        format::day_at(value, 23, 59, 59)
    } else {
        format::day_at(value, 0, 0, 0)
    };
    at.map(format::iso).unwrap_or_default()
}

#[component]
pub fn AuditPage() -> impl IntoView {
    let events = Pager::<AuditEvent>::new();
    let action = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let filter = move || AuditFilter {
        scope: "all".into(),
        actor: actor.get_untracked(),
        action: action.get_untracked(),
        since: day_bound(&since.get_untracked(), false),
        until: day_bound(&until.get_untracked(), true),
    };
    let load = move |reset: bool| {
        let f = filter();
        events.load(
            reset,
            move |c| async move { api::audit_events(&f, c).await },
        )
    };
    load(true);
    let users = Loaded::new(|| async { api::all_users().await });
    let csv_error = RwSignal::new(None::<ApiError>);
    let download_csv = move |_| {
        let f = filter();
        leptos::task::spawn_local(async move {
            match api::audit_events_csv(&f).await {
                Ok(csv) => download("audit-log.csv", &csv, "text/csv"),
                Err(e) => csv_error.set(Some(e)),
            }
        });
    };
    view! {
        <AdminFrame title="Audit log">
            <p class="lead">"Every change and every failed sign-in in the subscription: who, with which credential, from where."</p>
            <form class="toolbar" on:submit=move |ev: leptos::ev::SubmitEvent| { ev.prevent_default(); load(true); }>
                <label class="field">
                    <span>"Action"</span>
                    <select name="action" on:change=move |ev| action.set(event_target_value(&ev))>
                        <option value="">"Any action"</option>
                        {AuditAction::ALL.iter().map(|a| view! { <option value=a.as_str()>{a.label()}</option> }).collect_view()}
                    </select>
                </label>
                <label class="field">
                    <span>"Who"</span>
                    <select name="actor" on:change=move |ev| actor.set(event_target_value(&ev))>
                        <option value="">"Anyone"</option>
                        {move || users.get().and_then(|r| r.ok()).map(|p| p.items.into_iter().map(|u| view! {
                            <option value=u.id.clone()>{u.username.clone()}</option>
                        }).collect_view())}
                    </select>
                </label>
                <label class="field">
                    <span>"From"</span>
                    <input type="date" name="since" prop:value=move || since.get() on:input=move |ev| since.set(event_target_value(&ev))/>
                </label>
                <label class="field">
                    <span>"To"</span>
                    <input type="date" name="until" prop:value=move || until.get() on:input=move |ev| until.set(event_target_value(&ev))/>
                </label>
                <button type="submit" class="secondary">"Apply"</button>
                <button type="button" class="secondary" id="audit-csv" on:click=download_csv>"Download CSV"</button>
            </form>
            <ErrorNote error=csv_error/>
            <ErrorNote error=events.error/>
            {paged(events, "No events match these filters.", move |items| view! {
                <EventTable id="audit-table" events=items/>
            }.into_any())}
            <MoreButton has_more=Signal::derive(move || events.next.with(Option::is_some)) loading=events.loading on_more=Callback::new(move |_| load(false))/>
        </AdminFrame>
    }
}

/// What an event was done to, in words: the kind of thing and its name when the event
/// recorded one.
fn target_text(e: &AuditEvent) -> String {
    let kind = match e.target_type.as_deref() {
        Some("user") => "User",
        Some("api_key") => "API key",
        Some("oauth_client") => "OAuth client",
        Some("oauth_grant") => "Authorized app",
        Some("subscription") => "Subscription",
        Some("second_factor") => "Second step",
        Some(other) => other,
        None => return String::new(),
    };
    let name = ["target_name", "name", "username", "client_name"]
        .iter()
        .find_map(|k| e.details.get(*k).and_then(|v| v.as_str()));
    match name {
        Some(n) => format!("{kind}: {n}"),
        None => kind.to_string(),
    }
}

/// The audit events as people read them: the exact time, who, what happened (in
/// words), to what, with which credential, from where; and each event's every detail.
#[component]
pub fn EventTable(id: &'static str, events: Vec<AuditEvent>) -> impl IntoView {
    view! {
        <DataTable id=id label="Audit events" headers=&["When", "Who", "What", "Target", "With", "From"]>
            {events.into_iter().map(|e| {
                let label = AuditAction::label_of(&e.action).to_string();
                let target = target_text(&e);
                let details = e.details.as_object().map(|o| {
                    o.iter()
                        .filter(|(_, v)| !v.is_null())
                        .map(|(k, v)| (k.replace('_', " "), match v.as_str() {
                            Some(s) => s.to_string(),
                            None => v.to_string(),
                        }))
                        .collect::<Vec<_>>()
                }).unwrap_or_default();
                view! {
                    <tr data-action=e.action.clone()>
                        <td data-label="When">
                            <time datetime=format::iso(e.created_at)>{format::exact(e.created_at)}</time>
                            <br/><small class="muted">{format::relative(e.created_at)}</small>
                        </td>
                        <td data-label="Who">{e.actor_username.clone().unwrap_or_else(|| "unknown".into())}</td>
                        <th scope="row">
                            <details class="event">
                                <summary>{label}</summary>
                                <dl class="event-details">
                                    <dt>"Action"</dt><dd><code class="mono">{e.action.clone()}</code></dd>
                                    {e.target_id.clone().map(|t| view! { <dt>"Target id"</dt><dd><code class="mono">{t}</code></dd> })}
                                    {e.credential_id.clone().map(|c| view! { <dt>"Credential id"</dt><dd><code class="mono">{c}</code></dd> })}
                                    {e.user_agent.clone().map(|u| view! { <dt>"Browser or client"</dt><dd>{u}</dd> })}
                                    {details.into_iter().map(|(k, v)| view! { <dt>{k}</dt><dd>{v}</dd> }).collect_view()}
                                </dl>
                            </details>
                        </th>
                        <td data-label="Target" class="wrap">{target}</td>
                        <td data-label="With">{e.credential_kind.clone().map(|k| k.replace('_', " ")).unwrap_or_default()}</td>
                        <td data-label="From">{e.ip.clone().unwrap_or_default()}</td>
                    </tr>
                }
            }).collect_view()}
        </DataTable>
    }
}

/// A section of someone's audit events, newest first, a page at a time: one's own on
/// the Profile, a person's on their admin page.
#[component]
pub fn Activity(
    filter: AuditFilter,
    heading: &'static str,
    /// The table's id; the heading's is derived from it.
    id: &'static str,
) -> impl IntoView {
    let events = Pager::new();
    let load = move |reset: bool| {
        let filter = filter.clone();
        events.load(reset, move |c| async move {
            api::audit_events(&filter, c).await
        })
    };
    load(true);
    let heading_id = format!("{id}-heading");
    view! {
        <section aria-labelledby=heading_id.clone()>
            <h2 id=heading_id.clone()>{heading}</h2>
            <ErrorNote error=events.error/>
            {paged(events, "Nothing yet.", move |items| view! {
                <EventTable id=id events=items/>
            }.into_any())}
            <MoreButton has_more=Signal::derive(move || events.next.with(Option::is_some)) loading=events.loading on_more=Callback::new(move |_| load(false))/>
        </section>
    }
}
