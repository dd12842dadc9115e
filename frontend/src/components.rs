//! Building blocks every page uses: dialogs that take and give back focus, the
//! one-time secret panel, copy buttons, relative dates, error and loading states.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::ApiError;
use crate::format;

thread_local! {
    /// For each open dialog (by its `data-modal` number), the element to give focus
    /// back to when it closes.
    static OPENERS: RefCell<HashMap<u64, web_sys::HtmlElement>> = RefCell::new(HashMap::new());
    static NEXT_MODAL: Cell<u64> = const { Cell::new(0) };
}

fn active_element() -> Option<web_sys::HtmlElement> {
    web_sys::window()?
        .document()?
        .active_element()?
        .dyn_into::<web_sys::HtmlElement>()
        .ok()
}

/// What should get focus when a dialog opened now closes: the focused element, or,
/// when a dialog replaces another (a form, then its secret), the first one's opener.
fn opener() -> Option<web_sys::HtmlElement> {
    let active = active_element()?;
    let Ok(Some(dialog)) = active.closest("dialog[data-modal]") else {
        return Some(active);
    };
    let id: u64 = dialog.get_attribute("data-modal")?.parse().ok()?;
    OPENERS.with(|o| o.borrow().get(&id).cloned())
}

/// What a form or a confirming button does, as a Leptos [`Action`]: `busy` while it
/// runs, the API's refusal as `error` (cleared when it runs again). Success is the
/// work's own business — it closes the dialog or shows the secret — so the action's
/// value is only what went wrong. One action type for every form: only the boxed work
/// is compiled per form.
#[derive(Clone, Copy)]
pub struct Submit(Action<(), Option<ApiError>>);

impl Submit {
    pub fn new<F, Fut>(work: F) -> Self
    where
        F: Fn() -> Fut + 'static,
        Fut: std::future::Future<Output = crate::api::ApiResult<()>> + 'static,
    {
        Submit::boxed(std::rc::Rc::new(move || Box::pin(work())))
    }

    /// The action itself, compiled once: every form's work arrives boxed.
    fn boxed(work: BoxedAction) -> Self {
        Submit(Action::new_local(move |_: &()| {
            let work = work();
            async move { work.await.err() }
        }))
    }

    pub fn run(&self) {
        self.0.dispatch_local(());
    }

    pub fn busy(&self) -> Signal<bool> {
        self.0.pending().into()
    }

    pub fn error(&self) -> Signal<Option<ApiError>> {
        let action = self.0;
        Signal::derive(move || {
            if action.pending().get() {
                None
            } else {
                action.value().get().flatten()
            }
        })
    }

    /// Whether it has run to the end without a refusal, since it was made.
    pub fn succeeded(&self) -> Signal<bool> {
        let action = self.0;
        Signal::derive(move || {
            !action.pending().get() && action.value().with(|v| matches!(v, Some(None)))
        })
    }
}

/// A modal dialog (the native `<dialog>`, so focus stays inside and Escape closes
/// it). Focus moves into it when it opens and back to the opener when it closes.
#[component]
pub fn Modal(
    #[prop(into)] title: String,
    on_close: Callback<()>,
    children: Children,
) -> impl IntoView {
    let dialog = NodeRef::<leptos::html::Dialog>::new();
    let id = NEXT_MODAL.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    if let Some(el) = opener() {
        OPENERS.with(|o| o.borrow_mut().insert(id, el));
    }
    Effect::new(move |_| {
        if let Some(d) = dialog.get()
            && !d.open()
        {
            let _ = d.show_modal();
        }
    });
    on_cleanup(move || {
        // Later, once the dialog has left the page: while a modal dialog is open the
        // rest of the page is inert and refuses focus. (A dialog that replaces this
        // one, created meanwhile, has taken over the opener.)
        set_timeout(
            move || {
                if let Some(el) = OPENERS.with(|o| o.borrow_mut().remove(&id))
                    && el.is_connected()
                {
                    let _ = el.focus();
                }
            },
            std::time::Duration::ZERO,
        );
    });
    let title_id = format!("dialog-{id}");
    let labelled_by = title_id.clone();
    view! {
        <dialog
            node_ref=dialog
            class="modal"
            data-modal=id.to_string()
            aria-labelledby=labelled_by
            on:cancel=move |ev: web_sys::Event| {
                ev.prevent_default();
                on_close.run(());
            }
        >
            <h2 id=title_id>{title}</h2>
            {children()}
        </dialog>
    }
}

/// "Are you sure?" for a destructive or irreversible action. The safe choice has the
/// focus: Enter (or a stray keystroke) cancels, never destroys.
#[component]
pub fn Confirm(
    #[prop(into)] title: String,
    #[prop(into)] confirm_label: String,
    on_confirm: Callback<()>,
    on_cancel: Callback<()>,
    #[prop(into)] busy: Signal<bool>,
    #[prop(into)] error: Signal<Option<ApiError>>,
    children: Children,
) -> impl IntoView {
    view! {
        <Modal title=title on_close=on_cancel>
            <div class="dialog-body">{children()}</div>
            <ErrorNote error=error/>
            <div class="actions">
                <button type="button" class="secondary" autofocus on:click=move |_| on_cancel.run(())>
                    "Cancel"
                </button>
                <button
                    type="button"
                    class="danger"
                    disabled=move || busy.get()
                    on:click=move |_| on_confirm.run(())
                >
                    {confirm_label}
                </button>
            </div>
        </Modal>
    }
}

/// A confirm dialog that runs `action` when confirmed: `on_done` gets its answer, and a
/// failure stays in the dialog as a sentence for people.
#[component]
pub fn ConfirmAction<F, Fut, T>(
    #[prop(into)] title: String,
    #[prop(into)] confirm_label: String,
    action: F,
    on_done: Callback<T>,
    on_cancel: Callback<()>,
    children: Children,
) -> impl IntoView
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = crate::api::ApiResult<T>> + 'static,
    T: Send + Sync + 'static,
{
    // Only this boxing is compiled per use; the dialog once.
    let run: BoxedAction = std::rc::Rc::new(move || {
        let work = action();
        Box::pin(async move { work.await.map(|v| on_done.run(v)) })
    });
    confirm_boxed(title, confirm_label, run, on_cancel, children)
}

type BoxedAction = std::rc::Rc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::api::ApiResult<()>>>>,
>;

fn confirm_boxed(
    title: String,
    confirm_label: String,
    run: BoxedAction,
    on_cancel: Callback<()>,
    children: Children,
) -> AnyView {
    let submit = Submit::boxed(run);
    view! {
        <Confirm title=title confirm_label=confirm_label on_confirm=Callback::new(move |_| submit.run()) on_cancel=on_cancel busy=submit.busy() error=submit.error()>
            {children()}
        </Confirm>
    }
    .into_any()
}

type SaveNameAndEmail = std::rc::Rc<
    dyn Fn(
        String,
        Option<String>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::api::ApiResult<()>>>>,
>;

/// A person's display name and e-mail with a save button, for the Profile page and an
/// admin's page of a person. `save` gets them trimmed (an empty e-mail as none); field
/// errors show at their fields.
#[component]
pub fn NameAndEmailForm<F, Fut>(
    form_id: &'static str,
    name: String,
    email: Option<String>,
    save: F,
    submit_label: &'static str,
    saved_text: &'static str,
) -> impl IntoView
where
    F: Fn(String, Option<String>) -> Fut + 'static,
    Fut: std::future::Future<Output = crate::api::ApiResult<()>> + 'static,
{
    let save: SaveNameAndEmail = std::rc::Rc::new(move |n, e| Box::pin(save(n, e)));
    name_and_email(form_id, name, email, save, submit_label, saved_text)
}

fn name_and_email(
    form_id: &'static str,
    name: String,
    email: Option<String>,
    save: SaveNameAndEmail,
    submit_label: &'static str,
    saved_text: &'static str,
) -> AnyView {
    let name = RwSignal::new(name);
    let email = RwSignal::new(email.unwrap_or_default());
    let saving = Submit::new(move || {
        let e = email.get_untracked().trim().to_string();
        save(
            name.get_untracked().trim().to_string(),
            (!e.is_empty()).then_some(e),
        )
    });
    let (error, saved) = (saving.error(), saving.succeeded());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        saving.run();
    };
    view! {
        <form on:submit=submit id=form_id>
            <label class="field">
                <span>"Display name"</span>
                <input name="display_name" required maxlength="100" autocomplete="name"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))/>
                <FieldError error=error field="display_name"/>
            </label>
            <label class="field">
                <span>"E-mail"</span>
                <input name="email" type="email" autocomplete="email"
                    prop:value=move || email.get()
                    on:input=move |ev| email.set(event_target_value(&ev))/>
                <FieldError error=error field="email"/>
            </label>
            <ErrorNote error=error fields=&["display_name", "email"]/>
            <Show when=move || saved.get()>
                <p class="success" role="status">{saved_text}</p>
            </Show>
            <div class="actions left">
                <button type="submit" disabled=saving.busy()>{submit_label}</button>
            </div>
        </form>
    }
    .into_any()
}

/// The one time a secret is shown: monospace, a copy button, and a plain warning.
#[component]
pub fn SecretPanel(
    #[prop(into)] title: String,
    #[prop(into)] label: String,
    #[prop(into)] secret: String,
    #[prop(optional, into)] note: Option<String>,
    on_done: Callback<()>,
) -> impl IntoView {
    view! {
        <Modal title=title on_close=on_done>
            <div class="secret-panel">
                <p class="warning" role="note">
                    <strong>"Copy it now."</strong>
                    " For your security it will not be shown again. If you lose it, reset it to get a new one."
                </p>
                <label class="field">
                    <span>{label}</span>
                    <div class="copy-row">
                        // A text area, so the whole secret shows on a phone, wrapped.
                        <textarea
                            class="mono secret"
                            readonly
                            rows="3"
                            spellcheck="false"
                            prop:value=secret.clone()
                            data-secret="true"
                            on:focus=move |ev| {
                                if let Some(area) = ev
                                    .target()
                                    .and_then(|t| t.dyn_into::<web_sys::HtmlTextAreaElement>().ok())
                                {
                                    area.select();
                                }
                            }
                        ></textarea>
                        <CopyButton text=secret.clone() label="Copy secret"/>
                    </div>
                </label>
                {note.map(|n| view! { <p class="hint">{n}</p> })}
            </div>
            <div class="actions">
                <button type="button" autofocus on:click=move |_| on_done.run(())>
                    "I have copied it"
                </button>
            </div>
        </Modal>
    }
}

/// Copies `text` to the clipboard and says so.
#[component]
pub fn CopyButton(#[prop(into)] text: String, #[prop(into)] label: String) -> impl IntoView {
    let copied = RwSignal::new(false);
    let text = StoredValue::new(text);
    let on_click = move |_| {
        let Some(window) = web_sys::window() else {
            return;
        };
        let promise = window.navigator().clipboard().write_text(&text.get_value());
        leptos::task::spawn_local(async move {
            let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            copied.set(ok);
        });
    };
    view! {
        <button type="button" class="secondary copy" aria-label=label.clone() on:click=on_click>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}

/// An id or other machine value in monospace, with a copy button.
#[component]
pub fn Mono(#[prop(into)] text: String, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <span class="mono-copy">
            <code class="mono">{text.clone()}</code>
            <CopyButton text=text label=label/>
        </span>
    }
}

/// A date as "3 days ago", the exact time on hover; `never` when there is none.
#[component]
pub fn When(
    t: Option<DateTime<Utc>>,
    #[prop(into, default = "never".into())] never: String,
) -> impl IntoView {
    match t {
        Some(t) => view! {
            <time datetime=format::iso(t) title=format::exact(t)>
                {format::relative(t)}
            </time>
        }
        .into_any(),
        None => view! { <span class="muted">{never}</span> }.into_any(),
    }
}

/// When a credential stops working: "12 Mar 2027 (in 5 days)", an Expired badge once
/// past, and a quiet "No expiry" when it never does.
#[component]
pub fn Expiry(t: Option<DateTime<Utc>>) -> impl IntoView {
    match t {
        Some(t) if t.timestamp_millis() <= js_sys::Date::now() as i64 => view! {
            <span class="badge danger-badge" title=format::exact(t)>"Expired"</span>
            " "<time datetime=format::iso(t)>{format::day(t)}</time>
        }
        .into_any(),
        Some(t) => view! {
            <time datetime=format::iso(t) title=format::exact(t)>
                {format!("{} ({})", format::day(t), format::relative(t))}
            </time>
        }
        .into_any(),
        None => view! { <span class="muted">"No expiry"</span> }.into_any(),
    }
}

/// A URL that may break after its slashes (and before `?`, `&`), never inside a word.
#[component]
pub fn Url(#[prop(into)] url: String) -> impl IntoView {
    let mut parts = Vec::new();
    let mut start = 0;
    for (i, c) in url.char_indices() {
        if c == '/' || c == '?' || c == '&' {
            let end = if c == '/' { i + 1 } else { i };
            if end > start {
                parts.push(url[start..end].to_string());
                start = end;
            }
        }
    }
    parts.push(url[start..].to_string());
    view! {
        <code class="mono">{parts.into_iter().map(|p| view! { {p}<wbr/> }).collect_view()}</code>
    }
}

/// The error of the last attempt, if any, as a sentence for people — unless it is
/// about one of `fields`, which their [`FieldError`] shows where the field is.
#[component]
pub fn ErrorNote(
    #[prop(into)] error: Signal<Option<ApiError>>,
    #[prop(optional)] fields: &'static [&'static str],
) -> impl IntoView {
    move || {
        error
            .get()
            .filter(|e| !e.field.as_deref().is_some_and(|f| fields.contains(&f)))
            .map(|e| {
                view! {
                    <p class="error" role="alert">
                        {format::error_text(&e)}
                    </p>
                }
            })
    }
}

/// The error of the last attempt when it is about `field`, under that field, in
/// words ("The expiry date must be in the future."), not with the API's field name.
#[component]
pub fn FieldError(
    #[prop(into)] error: Signal<Option<ApiError>>,
    field: &'static str,
) -> impl IntoView {
    move || {
        error.get().and_then(|e| {
            (e.field.as_deref() == Some(field)).then(|| {
                let text = match e.reason {
                    Some(r) => format!("{} {r}.", format::field_label(field)),
                    None => format::error_text(&e),
                };
                // Brought into view: in a long dialog the field may be far above the
                // button that was pressed.
                let node = NodeRef::<leptos::html::Small>::new();
                Effect::new(move |_| {
                    if let Some(el) = node.get() {
                        el.scroll_into_view_with_bool(false);
                    }
                });
                view! { <small class="error field-error" role="alert" data-field=field node_ref=node>{text}</small> }
            })
        })
    }
}

/// Deny and Allow on a page that lets an app act for the person (consent, device). The
/// buttons wake up 700 ms after they show, and nothing has focus on arrival: a
/// keystroke or click aimed at another window (a popup opened under the pointer) cannot
/// allow anything by accident.
#[component]
pub fn DecisionButtons(
    #[prop(into)] busy: Signal<bool>,
    on_decide: Callback<gatehouse_types::Decision>,
) -> impl IntoView {
    use gatehouse_types::Decision;
    let armed = RwSignal::new(false);
    set_timeout(
        move || armed.set(true),
        std::time::Duration::from_millis(700),
    );
    let idle = move || busy.get() || !armed.get();
    view! {
        <p class="hint arming" aria-live="polite">
            {move || (!armed.get()).then_some("The buttons wake up in a moment, so that a stray click or key cannot decide for you.")}
        </p>
        <div class="actions">
            <button type="button" class="secondary" id="deny" disabled=idle on:click=move |_| on_decide.run(Decision::Deny)>
                "Deny"
            </button>
            <button type="button" id="allow" disabled=idle on:click=move |_| on_decide.run(Decision::Allow)>
                "Allow"
            </button>
        </div>
    }
}

#[component]
pub fn Loading() -> impl IntoView {
    view! {
        <p class="loading" role="status" aria-live="polite">
            "Loading…"
        </p>
    }
}

/// A page-level failure to load, with a way to try again.
#[component]
pub fn LoadFailed(error: ApiError, retry: Callback<()>) -> impl IntoView {
    view! {
        <div class="error-state" role="alert">
            <p>{format::error_text(&error)}</p>
            <button type="button" class="secondary" on:click=move |_| retry.run(())>
                "Try again"
            </button>
        </div>
    }
}

/// Offers `contents` as a file download (for CSV exports).
pub fn download(filename: &str, contents: &str, mime: &str) {
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(contents));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let anchor = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.create_element("a").ok())
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(a) = anchor {
        a.set_href(&url);
        a.set_download(filename);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// An API answer loaded into a signal: `None` until it arrives, then the last answer
/// (kept while it is asked again). It asks again by itself when a signal that `fetch`
/// reads changes, or on [`Loaded::refetch`]; an answer overtaken by a newer question is
/// dropped.
///
/// Leptos' own `LocalResource` does the same with its async machinery, which cost a
/// kilobyte of bundle per use: with fourteen of them, a twentieth of the whole app.
pub struct Loaded<T: Send + Sync + 'static> {
    value: RwSignal<Option<T>>,
    asked: RwSignal<u32>,
}

impl<T: Send + Sync + 'static> Clone for Loaded<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Loaded<T> {}

impl<T: Clone + Send + Sync + 'static> Loaded<T> {
    pub fn get(&self) -> Option<T> {
        self.value.get()
    }
}

impl<T: Send + Sync + 'static> Loaded<T> {
    /// Reads the answer in place (`None` until it has come).
    pub fn with<R>(&self, f: impl FnOnce(&Option<T>) -> R) -> R {
        self.value.with(f)
    }

    pub fn refetch(&self) {
        self.asked.update(|n| *n = n.wrapping_add(1));
    }
}

type Fetch<T> = Box<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>>>;

impl<T: Send + Sync + 'static> Loaded<T> {
    pub fn new<F, Fut>(fetch: F) -> Loaded<T>
    where
        F: Fn() -> Fut + 'static,
        Fut: std::future::Future<Output = T> + 'static,
    {
        // Only this boxing is compiled per use; the loading once per answer type.
        load_boxed(Box::new(move || Box::pin(fetch())))
    }
}

fn load_boxed<T: Send + Sync + 'static>(fetch: Fetch<T>) -> Loaded<T> {
    let loaded = Loaded {
        value: RwSignal::new(None),
        asked: RwSignal::new(0),
    };
    Effect::new(move |_| {
        let question = loaded.asked.get();
        let answer = fetch();
        leptos::task::spawn_local(async move {
            let answer = answer.await;
            if loaded.asked.get_untracked() == question {
                loaded.value.set(Some(answer));
            }
        });
    });
    loaded
}

/// A list loaded a page at a time ("Show more"), as the API's cursors allow.
pub struct Pager<T: Send + Sync + 'static> {
    pub items: RwSignal<Vec<T>>,
    pub next: RwSignal<Option<String>>,
    pub loading: RwSignal<bool>,
    /// The first page has arrived.
    pub loaded: RwSignal<bool>,
    pub error: RwSignal<Option<ApiError>>,
}

type PageFuture<T> = std::pin::Pin<
    Box<dyn std::future::Future<Output = crate::api::ApiResult<gatehouse_types::Page<T>>>>,
>;

impl<T: Send + Sync + 'static> Clone for Pager<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Pager<T> {}

impl<T: Send + Sync + 'static> Pager<T> {
    pub fn new() -> Self {
        Pager {
            items: RwSignal::new(Vec::new()),
            next: RwSignal::new(None),
            loading: RwSignal::new(false),
            loaded: RwSignal::new(false),
            error: RwSignal::new(None),
        }
    }

    /// Loads the first page again (`reset`) or the next one, with `fetch(cursor)`.
    pub fn load<F, Fut>(self, reset: bool, fetch: F)
    where
        F: FnOnce(Option<String>) -> Fut + 'static,
        Fut:
            std::future::Future<Output = crate::api::ApiResult<gatehouse_types::Page<T>>> + 'static,
    {
        let cursor = if reset {
            None
        } else {
            self.next.get_untracked()
        };
        self.loading.set(true);
        self.error.set(None);
        // Boxed: the loading below is compiled once per record type, not per caller.
        self.receive(reset, Box::pin(fetch(cursor)));
    }

    fn receive(self, reset: bool, page: PageFuture<T>) {
        leptos::task::spawn_local(async move {
            match page.await {
                Ok(page) => {
                    if reset {
                        self.items.set(page.items);
                    } else {
                        self.items.update(|v| v.extend(page.items));
                    }
                    self.next.set(page.next_cursor);
                    self.loaded.set(true);
                }
                Err(e) => self.error.set(Some(e)),
            }
            self.loading.set(false);
        });
    }
}

/// "Show more" under a paged list, while there is more.
#[component]
pub fn MoreButton(
    #[prop(into)] has_more: Signal<bool>,
    #[prop(into)] loading: Signal<bool>,
    on_more: Callback<()>,
) -> impl IntoView {
    view! {
        <Show when=move || has_more.get()>
            <div class="more">
                <button type="button" class="secondary" disabled=move || loading.get() on:click=move |_| on_more.run(())>
                    {move || if loading.get() { "Loading…" } else { "Show more" }}
                </button>
            </div>
        </Show>
    }
}

/// A table of records: scrollable sideways (with keyboard access) on narrow screens,
/// column headers from `headers` (an empty one is an unlabelled actions column), rows
/// from `children`.
#[component]
pub fn DataTable(
    id: &'static str,
    label: &'static str,
    headers: &'static [&'static str],
    children: Children,
) -> impl IntoView {
    view! {
        <div class="table-wrap" tabindex="0" role="region" aria-label=label>
            <table class="list" id=id>
                <thead>
                    <tr>
                        {headers
                            .iter()
                            .map(|h| {
                                if h.is_empty() {
                                    view! { <th scope="col"><span class="visually-hidden">"Actions"</span></th> }.into_any()
                                } else {
                                    view! { <th scope="col">{*h}</th> }.into_any()
                                }
                            })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </div>
    }
}

/// The record id of a page about one record (`/admin/users/{id}`): the last segment
/// of the address.
pub fn record_id() -> Memo<String> {
    let location = leptos_router::hooks::use_location();
    Memo::new(move |_| {
        location
            .pathname
            .with(|p| p.rsplit('/').next().unwrap_or_default().to_string())
    })
}

/// A paged list's states: loading, empty (`empty` says so), or its items as
/// `render` shows them.
pub fn paged<T: Clone + Send + Sync + 'static>(
    pager: Pager<T>,
    empty: &'static str,
    render: impl Fn(Vec<T>) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        if !pager.loaded.get() {
            return view! { <Loading/> }.into_any();
        }
        let items = pager.items.get();
        if items.is_empty() {
            return view! { <div class="empty"><p>{empty}</p></div> }.into_any();
        }
        render(items)
    }
}

/// Search and order for a list the page holds whole: what the person typed and the
/// order they chose (the first word of one of the page's `sorts`).
#[derive(Clone, Copy)]
pub struct ListQuery {
    pub text: RwSignal<String>,
    pub sort: RwSignal<&'static str>,
}

impl ListQuery {
    pub fn new(sort: &'static str) -> Self {
        ListQuery {
            text: RwSignal::new(String::new()),
            sort: RwSignal::new(sort),
        }
    }

    /// `items` that contain what was typed in any of their `words` (ignoring case),
    /// in the chosen order. Tracks both, so a view that calls it follows them.
    pub fn apply<T>(&self, items: Vec<T>, words: Words<T>, order: Order<T>) -> Vec<T> {
        let shown = self.shown(items.len(), &|i| words(&items[i]), &|sort, a, b| {
            order(sort, &items[a], &items[b])
        });
        let mut slots: Vec<Option<T>> = items.into_iter().map(Some).collect();
        shown.into_iter().filter_map(|i| slots[i].take()).collect()
    }

    /// Which of `n` records show, in which order, by their indices: compiled once for
    /// every list, not once per record type.
    fn shown<'a>(
        &self,
        n: usize,
        words: &dyn Fn(usize) -> Vec<&'a str>,
        order: &dyn Fn(&str, usize, usize) -> std::cmp::Ordering,
    ) -> Vec<usize> {
        let needle = self.text.with(|t| t.trim().to_lowercase());
        let sort = self.sort.get();
        let mut shown: Vec<usize> = (0..n)
            .filter(|i| {
                needle.is_empty() || words(*i).iter().any(|w| w.to_lowercase().contains(&needle))
            })
            .collect();
        format::sort_indices(&mut shown, &|a, b| order(sort, a, b));
        shown
    }
}

/// The search box and the order menu above a list, and how many of `total` show.
#[component]
pub fn ListControls(
    query: ListQuery,
    /// What is searched, for the box's label: "Search keys".
    label: &'static str,
    /// `(value, words)` of each order the menu offers.
    sorts: &'static [(&'static str, &'static str)],
    #[prop(into)] shown: Signal<usize>,
    #[prop(into)] total: Signal<usize>,
) -> impl IntoView {
    view! {
        <div class="toolbar list-controls" role="search">
            <label class="field grow">
                <span>{label}</span>
                <input
                    type="search"
                    name="q"
                    autocomplete="off"
                    prop:value=move || query.text.get()
                    on:input=move |ev| query.text.set(event_target_value(&ev))
                />
            </label>
            <label class="field">
                <span>"Sort by"</span>
                <select
                    name="sort"
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        if let Some(&(s, _)) = sorts.iter().find(|(s, _)| *s == v) {
                            query.sort.set(s);
                        }
                    }
                >
                    {sorts.iter().map(|(v, words)| view! {
                        <option value=*v selected=move || query.sort.get() == *v>{*words}</option>
                    }).collect_view()}
                </select>
            </label>
            <p class="hint count" aria-live="polite">{move || {
                let (s, t) = (shown.get(), total.get());
                if s == t { format!("{t} in all") } else { format!("{s} of {t} match") }
            }}</p>
        </div>
    }
}

/// Names compared as people read them: ignoring case.
pub fn by_name(a: &str, b: &str) -> std::cmp::Ordering {
    a.to_lowercase().cmp(&b.to_lowercase())
}

/// The words of a record that search looks in.
pub type Words<T> = fn(&T) -> Vec<&str>;
/// How two records compare in the order named first.
pub type Order<T> = fn(&str, &T, &T) -> std::cmp::Ordering;

fn no_match(query: ListQuery) -> AnyView {
    let typed = query.text.with_untracked(|t| t.trim().to_string());
    view! { <p class="empty" id="no-match">{format!("Nothing matches “{typed}”.")}</p> }.into_any()
}

/// A list with its search box and order menu: `render` gets the records that match,
/// in order; when none does, the list says so.
pub fn searchable<T: Clone + Send + Sync + 'static>(
    source: Signal<Vec<T>>,
    query: ListQuery,
    label: &'static str,
    sorts: &'static [(&'static str, &'static str)],
    words: Words<T>,
    order: Order<T>,
    render: impl Fn(Vec<T>) -> AnyView + Send + Sync + 'static,
) -> impl IntoView {
    let shown = Signal::derive(move || query.apply(source.get(), words, order).len());
    let total = Signal::derive(move || source.with(Vec::len));
    let body = move || {
        let items = query.apply(source.get(), words, order);
        if items.is_empty() {
            no_match(query)
        } else {
            render(items)
        }
    };
    list_with_controls(query, label, sorts, shown, total, Box::new(body))
}

fn list_with_controls(
    query: ListQuery,
    label: &'static str,
    sorts: &'static [(&'static str, &'static str)],
    shown: Signal<usize>,
    total: Signal<usize>,
    body: Box<dyn Fn() -> AnyView + Send + Sync>,
) -> AnyView {
    view! {
        <ListControls query=query label=label sorts=sorts shown=shown total=total/>
        {body}
    }
    .into_any()
}
