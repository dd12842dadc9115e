//! Passkeys in the browser, through `frontend/passkeys.js` (`window.gatehousePasskeys`):
//! the server's options in, the browser's signed credential out, both as JSON.

use js_sys::{Function, Promise, Reflect};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

fn bridge() -> Option<JsValue> {
    let window = web_sys::window()?;
    Reflect::get(&window, &JsValue::from_str("gatehousePasskeys"))
        .ok()
        .filter(|b| !b.is_undefined())
}

/// Whether this browser can use passkeys.
pub fn supported() -> bool {
    bridge()
        .and_then(|b| Reflect::get(&b, &JsValue::from_str("supported")).ok())
        .and_then(|f| f.dyn_into::<Function>().ok())
        .and_then(|f| f.call0(&JsValue::NULL).ok())
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// `navigator.credentials.create()` (`register`) or `.get()` with the server's
/// options; the credential, or a sentence for people.
async fn call(method: &str, options: &Value) -> Result<Value, String> {
    let not_here = || "This browser cannot use passkeys.".to_string();
    let bridge = bridge().ok_or_else(not_here)?;
    let f: Function = Reflect::get(&bridge, &JsValue::from_str(method))
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(not_here)?;
    let promise: Promise = f
        .call1(&bridge, &JsValue::from_str(&options.to_string()))
        .ok()
        .and_then(|p| p.dyn_into().ok())
        .ok_or_else(not_here)?;
    let answer = JsFuture::from(promise).await.map_err(|_| {
        "The passkey was not used: it was cancelled, timed out, or is not on this device."
            .to_string()
    })?;
    answer
        .as_string()
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or_else(not_here)
}

pub async fn create(options: &Value) -> Result<Value, String> {
    call("create", options).await
}

pub async fn get(options: &Value) -> Result<Value, String> {
    call("get", options).await
}
