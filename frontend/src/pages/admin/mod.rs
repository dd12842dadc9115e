//! Administration (admins only): subscription settings, users, every API key of the
//! subscription, every OAuth client, and the audit log.

mod audit;
mod clients;
mod keys;
mod person;
mod settings;
mod users;

pub use audit::AuditPage;
pub use clients::AllClientsPage;
pub use keys::AllKeysPage;
pub use person::PersonPage;
pub use settings::SettingsPage;
pub use users::UsersPage;

use leptos::prelude::*;
use leptos_router::hooks::use_location;

use crate::app::use_auth;

/// The admin section's own navigation, and the guard for everyone else.
#[component]
pub(crate) fn AdminFrame(#[prop(into)] title: String, children: ChildrenFn) -> impl IntoView {
    let auth = use_auth();
    let location = use_location();
    let link = move |href: &'static str, label: &'static str| {
        // A person's page is under Users.
        let current = move || {
            location
                .pathname
                .with(|p| p == href || p.starts_with(&format!("{href}/")))
        };
        view! {
            <a href=href class:active=current aria-current=move || current().then_some("page")>{label}</a>
        }
    };
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
            <nav class="subtabs" aria-label="Administration">
                {link("/admin/settings", "Settings")}
                {link("/admin/users", "Users")}
                {link("/admin/keys", "All API keys")}
                {link("/admin/clients", "All OAuth clients")}
                {link("/admin/audit", "Audit log")}
            </nav>
            <h1>{title.clone()}</h1>
            {children()}
        }
        .into_any()
    }
}
