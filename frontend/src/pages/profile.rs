//! Profile and password: the display name and e-mail, and a password change (which
//! ends every other session of the user).

use gatehouse_types::{
    PasswordChanged, RecentKind, SecondFactorKind, SecondFactors, TotpEnrolment, UpdateMe,
};
use leptos::prelude::*;

use crate::api::{self, ApiError};
use crate::components::*;
use crate::format;
use crate::session::use_auth;

#[component]
pub fn ProfilePage() -> impl IntoView {
    let auth = use_auth();
    let user = auth.user();
    let username = user
        .as_ref()
        .map(|u| u.username.clone())
        .unwrap_or_default();
    let role = user
        .as_ref()
        .map(|u| format::role_label(u.role))
        .unwrap_or_default();
    let save_profile = move |name: String, email: Option<String>| async move {
        let u = api::update_me(UpdateMe {
            display_name: Some(name),
            email: Some(email),
        })
        .await?;
        auth.session.update(|s| {
            if let Some(s) = s {
                s.user = u;
            }
        });
        Ok(())
    };

    let pw_saved = RwSignal::new(None::<PasswordChanged>);

    view! {
        <div class="page-head">
            <div>
                <h1>"Profile and password"</h1>
                <p class="lead">{format!("Signed in as {username} ({role}).")}</p>
            </div>
        </div>
        <section class="card wide" aria-labelledby="profile-heading">
            <h2 id="profile-heading">"Profile"</h2>
            <NameAndEmailForm
                form_id="profile-form"
                name=user.as_ref().map(|u| u.display_name.clone()).unwrap_or_default()
                email=user.as_ref().and_then(|u| u.email.clone())
                save=save_profile
                submit_label="Save profile"
                saved_text="Profile saved."
            />
        </section>
        <section class="card wide" aria-labelledby="password-heading">
            <h2 id="password-heading">"Change password"</h2>
            <p class="hint">"At least 12 characters. Changing it signs you out everywhere else."</p>
            <PasswordForm
                username=username.clone()
                current_label="Current password"
                submit_label="Change password"
                on_changed=Callback::new(move |c| pw_saved.set(Some(c)))
            />
            {move || pw_saved.get().map(changed_note)}
        </section>
        <TwoStep/>
        <Sessions password_changed=Signal::derive(move || pw_saved.with(Option::is_some))/>
        <super::admin::Activity
            filter=api::AuditFilter { scope: "me".into(), ..Default::default() }
            heading="Your activity"
            id="my-activity"
        />
    }
}

/// The person's signed-in browsers: which, from where, since when; the current one
/// marked; each other one signed out alone, or all of them at once.
#[component]
fn Sessions(
    /// Changes when the password does (which signs out the other sessions).
    #[prop(into)]
    password_changed: Signal<bool>,
) -> impl IntoView {
    let sessions = Loaded::new(move || {
        password_changed.track();
        async { api::my_sessions().await }
    });
    let error = RwSignal::new(None::<ApiError>);
    let asking = RwSignal::new(false);
    let ended = RwSignal::new(None::<u64>);
    let reload = Callback::new(move |_| sessions.refetch());
    let end_one = move |id: String| {
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::end_my_session(&id).await {
                Ok(()) => sessions.refetch(),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    view! {
        <section class="card wide" aria-labelledby="sessions-heading" id="sessions">
            <h2 id="sessions-heading">"Where you are signed in"</h2>
            <ErrorNote error=error/>
            {move || ended.get().map(|n| view! {
                <p class="success" role="status">{match n {
                    0 => "No other browser was signed in.".to_string(),
                    1 => "1 other browser was signed out.".to_string(),
                    n => format!("{n} other browsers were signed out."),
                }}</p>
            })}
            {move || match sessions.get() {
                None => view! { <Loading/> }.into_any(),
                Some(Err(e)) => view! { <LoadFailed error=e retry=reload/> }.into_any(),
                Some(Ok(list)) => {
                    let others = list.iter().filter(|s| !s.current).count();
                    view! {
                        <ul class="session-list">
                            {list.into_iter().map(|s| {
                                let id = s.id.clone();
                                let name = s.user_agent.as_deref().map(format::browser).unwrap_or_else(|| "Unknown browser".into());
                                view! {
                                    <li class="session" data-current=s.current.to_string()>
                                        <div>
                                            <strong>{name.clone()}</strong>
                                            {s.current.then(|| view! { " "<span class="badge ok">"This browser"</span> })}
                                            <div class="muted small">
                                                {s.ip.clone().unwrap_or_default()}
                                                " · signed in " <When t=Some(s.created_at)/>
                                                " · last active " <When t=Some(s.last_seen_at)/>
                                            </div>
                                        </div>
                                        {(!s.current).then(|| view! {
                                            <button type="button" class="secondary small" aria-label=format!("End session: {name}")
                                                on:click=move |_| end_one(id.clone())>"End session"</button>
                                        })}
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                        {(others > 0).then(|| view! {
                            <div class="actions left">
                                <button type="button" class="secondary" id="sign-out-others" on:click=move |_| asking.set(true)>
                                    "Sign out everywhere else"
                                </button>
                            </div>
                        })}
                    }
                    .into_any()
                }
            }}
            <Show when=move || asking.get()>
                <ConfirmAction
                    title="Sign out everywhere else?"
                    confirm_label="Sign out the others"
                    action=api::end_my_other_sessions
                    on_done=Callback::new(move |done: gatehouse_types::SessionsEnded| {
                        asking.set(false);
                        ended.set(Some(done.sessions_ended));
                        sessions.refetch();
                    })
                    on_cancel=Callback::new(move |_| asking.set(false))
                >
                    <p>"Every other browser signed in as you is signed out at once, and the apps signed in through them are told. This browser stays signed in; your API keys and authorized applications keep working."</p>
                </ConfirmAction>
            </Show>
        </section>
    }
}

/// A new password: the current one, the new one twice (checked here by the server's
/// own rule before it is sent). Cleared once changed; `on_changed` has the answer.
#[component]
fn PasswordForm(
    username: String,
    current_label: &'static str,
    submit_label: &'static str,
    on_changed: Callback<PasswordChanged>,
) -> impl IntoView {
    let current = RwSignal::new(String::new());
    let new = RwSignal::new(String::new());
    let repeat = RwSignal::new(String::new());
    let changing = Submit::new(move || {
        let (c, n) = (current.get_untracked(), new.get_untracked());
        let checked = if n != repeat.get_untracked() {
            Err(ApiError::local(
                "The two new passwords differ. Type the same one twice.".into(),
            ))
        } else {
            // The server's own rule, compiled into the app from the shared types crate.
            gatehouse_types::validate::password(&n)
                .map_err(|why| ApiError::local(format!("The new password {why}.")))
        };
        async move {
            checked?;
            let changed = api::change_password(c, n).await?;
            current.set(String::new());
            new.set(String::new());
            repeat.set(String::new());
            on_changed.run(changed);
            Ok(())
        }
    });
    let error = changing.error();
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        changing.run();
    };
    view! {
        <form on:submit=submit id="password-form">
            <input type="text" name="username" autocomplete="username" value=username hidden/>
            {password_field(current_label, "current_password", "current-password", current)}
            <FieldError error=error field="current_password"/>
            {password_field("New password", "new_password", "new-password", new)}
            <FieldError error=error field="new_password"/>
            {password_field("New password again", "repeat_password", "new-password", repeat)}
            <ErrorNote error=error fields=&["current_password", "new_password"]/>
            <div class="actions left">
                <button type="submit" disabled=changing.busy()>{submit_label}</button>
            </div>
        </form>
    }
}

/// For the pages a held session visits first (`/change-password`, `/enrol`): where to
/// go afterwards (`?next=`, made safe), and back to sign-in when there is no session.
fn next_after_hold() -> Memo<String> {
    let auth = use_auth();
    let query = leptos_router::hooks::use_query_map();
    let navigate = leptos_router::hooks::use_navigate();
    let next = Memo::new(move |_| super::login::safe_next(query.with(|q| q.get("next"))));
    Effect::new(move |_| {
        if auth.checked.get() && auth.session.with(Option::is_none) {
            navigate(
                &crate::session::login_url(&next.get_untracked()),
                Default::default(),
            );
        }
    });
    next
}

/// `/change-password?next=…`: the person signed in with a temporary password (an
/// administrator generated it) and chooses their own before anything else; then on to
/// `next`.
#[component]
pub fn ChangePasswordPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = leptos_router::hooks::use_navigate();
    let next = next_after_hold();
    let username = auth.user().map(|u| u.username).unwrap_or_default();
    // Changed: the session is read again (it is free now, or owes a second step
    // next), and the sign-in page's rule decides where to go.
    let changed = Callback::new(move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            if let Ok(info) = api::session().await {
                let to = crate::session::hold_url(&info, &next.get_untracked());
                auth.signed_in(info);
                match to {
                    Some(to) => navigate(&to, Default::default()),
                    None => super::login::go_to(&next.get_untracked(), &navigate),
                }
            }
        });
    });
    view! {
        <main id="main" class="center-page">
            <div class="card narrow">
                <div class="brand big">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Gatehouse"
                </div>
                <h1>"Choose your password"</h1>
                <p class="notice" role="status">
                    "You signed in with a temporary password from your administrator. Choose your own to continue: at least 12 characters, one nobody else knows."
                </p>
                <Show when=move || auth.session.with(Option::is_some)>
                    <PasswordForm
                        username=username.clone()
                        current_label="Temporary password"
                        submit_label="Save and continue"
                        on_changed=changed
                    />
                </Show>
            </div>
        </main>
    }
}

/// `/enrol?next=…`: the subscription requires a second step of this person, and they
/// set one up before anything else; then on to `next`.
#[component]
pub fn EnrolPage() -> impl IntoView {
    let auth = use_auth();
    let navigate = leptos_router::hooks::use_navigate();
    let next = next_after_hold();
    let done = Memo::new(move |_| {
        auth.session.with(|s| {
            s.as_ref()
                .is_some_and(|s| crate::session::hold_url(s, "/").is_none())
        })
    });
    // Each change re-reads the session: the first second step frees it.
    let refresh = Callback::new(move |_| {
        leptos::task::spawn_local(async move {
            if let Ok(info) = api::session().await {
                auth.signed_in(info);
            }
        });
    });
    let go_on = move |_| super::login::go_to(&next.get_untracked(), &navigate);
    view! {
        <main id="main" class="center-page">
            <div class="card">
                <div class="brand big">
                    <span class="logo" aria-hidden="true">"◆"</span>
                    " Gatehouse"
                </div>
                <h1>"Set up two-step sign-in"</h1>
                <Show
                    when=move || done.get()
                    fallback=|| view! {
                        <p class="notice" role="status">"Your subscription requires a second step when you sign in. Add an authenticator app to continue."</p>
                    }
                >
                    <p class="success" role="status">"Two-step sign-in is on. Keep your recovery codes, then continue."</p>
                    <div class="actions left">
                        <button type="button" id="enrol-continue" on:click=go_on.clone()>"Continue"</button>
                    </div>
                </Show>
                <Show when=move || auth.session.with(Option::is_some)>
                    <TwoStep on_change=refresh/>
                </Show>
            </div>
        </main>
    }
}

/// Two-step sign-in: the person's authenticator apps, adding one (QR code, then a code
/// from it), removing one, and recovery codes (shown once).
#[component]
fn TwoStep(#[prop(optional)] on_change: Option<Callback<()>>) -> impl IntoView {
    let changed = move || {
        if let Some(f) = on_change {
            f.run(())
        }
    };
    let factors = RwSignal::new(None::<SecondFactors>);
    let error = RwSignal::new(None::<ApiError>);
    let enrolling = RwSignal::new(None::<TotpEnrolment>);
    let code = RwSignal::new(String::new());
    let name = RwSignal::new("Phone".to_string());
    let codes = RwSignal::new(None::<Vec<String>>);
    let busy = RwSignal::new(false);
    let load = move || {
        leptos::task::spawn_local(async move {
            match api::second_factors().await {
                Ok(f) => factors.set(Some(f)),
                Err(e) => error.set(Some(e)),
            }
        })
    };
    load();
    let start = move |_| {
        error.set(None);
        codes.set(None);
        leptos::task::spawn_local(async move {
            match api::start_totp().await {
                Ok(e) => enrolling.set(Some(e)),
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(started) = enrolling.get_untracked() else {
            return;
        };
        busy.set(true);
        error.set(None);
        let (c, n) = (code.get_untracked(), name.get_untracked());
        leptos::task::spawn_local(async move {
            match api::confirm_totp(&started.id, c, n).await {
                Ok(done) => {
                    enrolling.set(None);
                    code.set(String::new());
                    codes.set(done.recovery_codes);
                    load();
                    changed();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let new_codes = move |_| {
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::new_recovery_codes().await {
                Ok(r) => {
                    codes.set(Some(r.codes));
                    load();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let passkey_name = RwSignal::new("Passkey".to_string());
    let add_passkey = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        error.set(None);
        codes.set(None);
        let name = passkey_name.get_untracked();
        leptos::task::spawn_local(async move {
            match api::add_passkey(name).await {
                Ok(done) => {
                    codes.set(done.recovery_codes);
                    load();
                    changed();
                }
                Err(e) => error.set(Some(e)),
            }
            busy.set(false);
        });
    };
    let passkeys_here = crate::passkeys::supported();
    let remove = move |id: String| {
        error.set(None);
        leptos::task::spawn_local(async move {
            match api::remove_second_factor(&id).await {
                Ok(()) => {
                    load();
                    changed();
                }
                Err(e) => error.set(Some(e)),
            }
        });
    };
    let list = move || {
        factors.get().map(|f| {
            let left = f.recovery_codes_left;
            let on = !f.items.is_empty();
            let rows = f
                .items
                .into_iter()
                .map(|item| {
                    let id = item.id.clone();
                    let label = format!("Remove {}", item.name);
                    let kind = match item.kind {
                        SecondFactorKind::Totp => "authenticator app",
                        SecondFactorKind::Passkey => "passkey",
                    };
                    view! {
                        <li>
                            <strong>{item.name}</strong>
                            " (" {kind} ") — added " {format::relative(item.created_at)}
                            ", last used " <When t=item.last_used_at/>
                            " "
                            <button type="button" class="link" aria-label=label
                                on:click=move |_| remove(id.clone())>"Remove"</button>
                        </li>
                    }
                })
                .collect_view();
            view! {
                <p>{if on {
                    "On: signing in asks for a passkey or a code from your authenticator app after the password; a passkey also signs you in on its own."
                } else {
                    "Off: your password alone signs you in."
                }}</p>
                <ul id="second-factors">{rows}</ul>
                {on.then(|| view! {
                    <p>{format!("{left} recovery codes left. ")}
                        <button type="button" class="link" on:click=new_codes>"New recovery codes"</button>
                    </p>
                })}
            }
        })
    };
    view! {
        <section class="card wide" aria-labelledby="two-step-heading">
            <h2 id="two-step-heading">"Two-step sign-in"</h2>
            {list}
            <ErrorNote error=error/>
            {move || codes.get().map(|list| view! {
                <div class="notice" role="status" id="recovery-codes">
                    <p>"Your recovery codes. Each signs you in once if you lose your phone. Keep them somewhere safe: they are not shown again."</p>
                    <ul class="mono">{list.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}</ul>
                </div>
            })}
            {move || match enrolling.get() {
                None => view! {
                    <div class="actions left">
                        <button type="button" on:click=start>"Add an authenticator app"</button>
                    </div>
                    {passkeys_here.then(|| view! {
                        <form on:submit=add_passkey id="passkey-form" class="inline-form">
                            <label class="field">
                                <span>"Passkey name"</span>
                                <input name="passkey_name" maxlength="100" required
                                    prop:value=move || passkey_name.get()
                                    on:input=move |ev| passkey_name.set(event_target_value(&ev))/>
                            </label>
                            <div class="actions left">
                                <button type="submit" class="secondary" disabled=move || busy.get()>"Add a passkey"</button>
                            </div>
                        </form>
                    })}
                }.into_any(),
                Some(started) => view! {
                    <form on:submit=confirm id="totp-form">
                        <p>"Scan this with your authenticator app, or type the key into it:"</p>
                        <div class="qr" inner_html=started.qr_svg></div>
                        <p><span class="mono" id="totp-secret">{started.secret}</span></p>
                        <label class="field">
                            <span>"Code the app shows"</span>
                            <input name="code" autocomplete="one-time-code" inputmode="numeric" required
                                prop:value=move || code.get()
                                on:input=move |ev| code.set(event_target_value(&ev))/>
                        </label>
                        <label class="field">
                            <span>"Name"</span>
                            <input name="name" maxlength="100" required
                                prop:value=move || name.get()
                                on:input=move |ev| name.set(event_target_value(&ev))/>
                        </label>
                        <div class="actions left">
                            <button type="submit" disabled=move || busy.get()>"Turn on"</button>
                            <button type="button" class="secondary" on:click=move |_| enrolling.set(None)>"Cancel"</button>
                        </div>
                    </form>
                }.into_any(),
            }}
        </section>
    }
}

/// After a change: how many sessions ended, and what was created in the last day, in
/// case someone else knew the old password.
fn changed_note(changed: PasswordChanged) -> impl IntoView {
    let ended = match changed.sessions_ended {
        0 => "No other session was signed in.".to_string(),
        1 => "1 other session was signed out.".to_string(),
        n => format!("{n} other sessions were signed out."),
    };
    let recent = (!changed.recent.is_empty()).then(|| {
        let items = changed
            .recent
            .into_iter()
            .map(|r| {
                let (what, href) = match r.kind {
                    RecentKind::ApiKey => ("API key", "/keys"),
                    RecentKind::AuthorizedApp => ("App allowed", "/apps"),
                };
                view! { <li>{what}": " <a href=href>{r.name}</a> " — " {format::relative(r.created_at)}</li> }
            })
            .collect_view();
        view! {
            <p>"Created in the last day. If you do not recognise one, delete or revoke it:"</p>
            <ul id="recent-credentials">{items}</ul>
        }
    });
    view! {
        <div class="success" role="status">
            <p>"Password changed. " {ended}</p>
            {recent}
        </div>
    }
}

fn password_field(
    label: &'static str,
    name: &'static str,
    autocomplete: &'static str,
    value: RwSignal<String>,
) -> impl IntoView {
    view! {
        <label class="field">
            <span>{label}</span>
            <input name=name type="password" autocomplete=autocomplete required
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))/>
        </label>
    }
}
