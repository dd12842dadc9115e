//! The Gatehouse web app: a Leptos client-side app compiled to WASM. It talks only to
//! the JSON API (`api.rs`), with the types the server compiles too.

mod api;
mod app;
mod components;
mod format;
mod pages;
mod passkeys;
mod session;

fn main() {
    leptos::mount::mount_to_body(app::App);
}
