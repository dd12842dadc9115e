//! One module per page of docs/PRODUCT.md §5.

pub mod admin;
pub mod apps;
pub mod clients;
pub mod consent;
pub mod device;
pub mod keys;
pub mod login;
pub mod profile;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <main id="main" class="center-page">
            <div class="card narrow">
                <h1>"Page not found"</h1>
                <p>"There is no page at this address. It may have moved, or the link may be mistyped."</p>
                <p>
                    <a href="/apps">"Go to your applications"</a>
                </p>
            </div>
        </main>
    }
}
