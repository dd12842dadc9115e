//! Who is signed in: the session context every page reads (`use_auth`), the pages a
//! held session must visit first, and the guard that sends a signed-out visitor to
//! sign in. Pages and the app's frame both build on this module; neither imports the
//! other's.

use gatehouse_types::{Role, SessionInfo, Subscription, User};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use crate::api;
use crate::components::{Loaded, Loading};

/// Who is signed in, shared by every page through the context.
#[derive(Clone, Copy)]
pub struct Auth {
    pub session: RwSignal<Option<SessionInfo>>,
    /// The first `GET /session` has answered.
    pub checked: RwSignal<bool>,
    /// The session ended while the app was open (not a first visit).
    pub expired: RwSignal<bool>,
}

impl Auth {
    pub fn user(&self) -> Option<User> {
        self.session.with(|s| s.as_ref().map(|s| s.user.clone()))
    }

    pub fn role(&self) -> Option<Role> {
        self.session.with(|s| s.as_ref().map(|s| s.user.role))
    }

    pub fn is_admin(&self) -> bool {
        self.role() == Some(Role::Admin)
    }

    pub fn subscription(&self) -> Option<Subscription> {
        self.session
            .with(|s| s.as_ref().map(|s| s.subscription.clone()))
    }

    /// Stores a fresher copy of the subscription (after settings change).
    pub fn set_subscription(&self, sub: Subscription) {
        self.session.update(|s| {
            if let Some(s) = s {
                s.subscription = sub;
            }
        });
    }

    /// The subscription read fresh (its settings decide what a page offers, and an
    /// admin may have changed them since sign-in); the shared copy follows.
    pub fn fresh_subscription(self) -> Loaded<api::ApiResult<Subscription>> {
        Loaded::new(move || async move {
            let s = api::subscription().await;
            if let Ok(s) = &s {
                self.set_subscription(s.clone());
            }
            s
        })
    }

    pub fn signed_in(&self, info: SessionInfo) {
        api::set_csrf(info.csrf_token.clone());
        self.expired.set(false);
        self.session.set(Some(info));
    }

    pub fn signed_out(&self) {
        api::set_csrf(None);
        self.session.set(None);
    }
}

pub fn use_auth() -> Auth {
    expect_context::<Auth>()
}

/// The current location as a path with its query, for `?next=`.
pub fn here() -> String {
    web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.pathname().ok()?, l.search().ok()?))
        })
        .unwrap_or_else(|| "/".into())
}

/// Where a session that must do something first goes, then back to `next`: choosing
/// its own password (signed in with a temporary one), then setting up a second step
/// (the subscription requires one). `None` when it is free.
pub fn hold_url(info: &SessionInfo, next: &str) -> Option<String> {
    let page = match info.credential {
        gatehouse_types::Credential::Session {
            password_change_required: true,
            ..
        } => "/change-password",
        gatehouse_types::Credential::Session {
            enrolment_required: true,
            ..
        } => "/enrol",
        _ => return None,
    };
    Some(format!("{page}?next={}", api::encode(next)))
}

/// The sign-in page's address that comes back to `next` afterwards.
pub fn login_url(next: &str) -> String {
    format!("/login?next={}", api::encode(next))
}

/// Sends a signed-out visitor to the sign-in page, to come back here afterwards.
#[component]
pub fn RequireSignIn(children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let navigate = use_navigate();
    // Only signing in or out re-renders the page, not every change to the session's
    // data (a fresher copy of the settings, an edited profile).
    let signed_in = Memo::new(move |_| auth.session.with(Option::is_some));
    let held = Memo::new(move |_| {
        auth.session
            .with(|s| s.as_ref().and_then(|s| hold_url(s, "/")).is_some())
    });
    Effect::new(move |_| {
        // (Signing out leaves for the sign-in page before the session is forgotten:
        // this frame, on its way out, must not send it there again with itself as
        // `next`.)
        let on_sign_in = here().starts_with("/login");
        if auth.checked.get() && !signed_in.get() && !on_sign_in {
            navigate(&login_url(&here()), Default::default());
        } else if held.get() && !on_sign_in {
            let to = auth
                .session
                .with_untracked(|s| s.as_ref().and_then(|s| hold_url(s, &here())));
            if let Some(to) = to {
                navigate(&to, Default::default());
            }
        }
    });
    move || {
        if !auth.checked.get() {
            view! { <Loading/> }.into_any()
        } else if signed_in.get() {
            children().into_any()
        } else {
            view! { <Loading/> }.into_any()
        }
    }
}
