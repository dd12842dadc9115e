//! Administration (admins only): subscription settings, users, every API key of the
//! subscription, every OAuth client, and the audit log.

mod audit;
mod clients;
mod keys;
mod person;
mod settings;
mod users;

pub use audit::{Activity, AuditPage};
pub use clients::AllClientsPage;
pub use keys::AllKeysPage;
pub use person::PersonPage;
pub use settings::SettingsPage;
pub use users::UsersPage;

use leptos::prelude::*;

use crate::session::use_auth;

/// The guard of the administration's pages (its links are the shell's, from the app's
/// page list), and the page's heading.
#[component]
pub(crate) fn AdminFrame(#[prop(into)] title: String, children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    // A memo: saving the settings refreshes the session's data, which must not
    // re-render the page (and lose its "saved" message).
    let admin = Memo::new(move |_| auth.is_admin());
    move || {
        if !admin.get() {
            return view! {
                <div class="empty">
                    <h1>"Administration"</h1>
                    <p>"Only administrators of the subscription can see this page."</p>
                </div>
            }
            .into_any();
        }
        view! {
            <h1>{title.clone()}</h1>
            {children()}
        }
        .into_any()
    }
}
