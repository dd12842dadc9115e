//! The web app's two handlers: `asset` for `/assets/{file}` and `page` for every
//! other path that belongs to the app.

use actix_web::http::{Method, StatusCode, header};
use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse};
use anyhow::Context;

use super::WebFiles;
use super::files::{accepts_gzip, is_asset_name};
use super::{CONTENT_SECURITY_POLICY, is_reserved};
use crate::error::ApiError;

/// `GET`/`HEAD /assets/{file}`: a hashed file of the build, cached by browsers for a
/// year, gzipped when the browser accepts it and the build wrote `<file>.gz`.
pub async fn asset(
    files: Data<WebFiles>,
    req: HttpRequest,
    file: Path<String>,
) -> Result<HttpResponse, ApiError> {
    let name = file.into_inner();
    if !is_asset_name(&name) {
        return Err(ApiError::NotFound);
    }
    let asset = match files.cached(&name) {
        Some(a) => a,
        None => {
            let files = files.clone();
            actix_web::web::block(move || files.load(&name))
                .await?
                .context("reading a web app asset")?
                .ok_or(ApiError::NotFound)?
        }
    };
    let gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(accepts_gzip);
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, asset.content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .insert_header((header::VARY, "Accept-Encoding"));
    match (&asset.gzip, gzip) {
        (Some(gz), true) => Ok(res
            .insert_header((header::CONTENT_ENCODING, "gzip"))
            .body(gz.clone())),
        _ => Ok(res.body(asset.plain.clone())),
    }
}

/// Every path that is not reserved for the API, the OAuth protocol or the probes:
/// `index.html`, whose app routes on the client and shows its own not-found page.
/// Reserved paths keep the JSON API's 404; other methods than `GET` and `HEAD` get 405.
pub async fn page(files: Data<WebFiles>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if is_reserved(req.match_info().as_str()) {
        return Err(ApiError::NotFound);
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(crate::routing::method_not_allowed("GET, HEAD"));
    }
    let files = files.clone();
    let index = actix_web::web::block(move || files.read_index())
        .await?
        .context("reading the web app's index.html")?;
    let mut res = match index {
        Some(_) => HttpResponse::Ok(),
        None => HttpResponse::build(StatusCode::SERVICE_UNAVAILABLE),
    };
    res.content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY));
    Ok(match index {
        Some(html) => res.body(html),
        None => res.body(NOT_BUILT),
    })
}

/// What pages answer until the app is built; the API works meanwhile.
const NOT_BUILT: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Gatehouse: web app not built</title></head><body><h1>The web app is not built</h1>\
<p>Gatehouse's JSON API is running at <code>/api/v1</code>, but the web app's files are \
missing. Build them with <code>cargo xtask build-web</code>, or point \
<code>GATEHOUSE_WEB_DIR</code> (<code>--web-dir</code>) at a folder that holds \
<code>index.html</code> and <code>assets/</code>.</p></body></html>";
