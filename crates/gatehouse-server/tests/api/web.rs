//! The web app as a browser meets it: `index.html` for every page path with a strict
//! Content-Security-Policy and no caching, hashed assets cached for a year and gzipped
//! when accepted, nothing outside `assets/` reachable, the API's JSON errors untouched,
//! and a 503 page while the app is not built.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::tempfile_dir::TempDir;
use crate::helpers::{Backend, TestApp, error_code, spawn_app_with};

both_backends!(
    pages_answer_index_html_under_a_strict_policy,
    assets_are_immutable_and_gzipped_when_the_browser_accepts_it,
    only_plain_asset_names_are_served,
    api_and_protocol_paths_keep_their_json_errors,
    without_a_built_app_pages_answer_503_and_the_api_works,
);

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const INDEX: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Gatehouse</title><link rel=\"stylesheet\" href=\"/assets/style-1a2b3c4d.css\">\
<script type=\"module\" src=\"/assets/boot-1a2b3c4d.js\"></script></head><body></body></html>";
const JS: &str = "export function start() { console.log('gatehouse'); }\n";
const JS_NAME: &str = "gatehouse-frontend-1a2b3c4d.js";
const WASM_NAME: &str = "gatehouse-frontend-1a2b3c4d_bg.wasm";
const CSS_NAME: &str = "style-1a2b3c4d.css";
const WASM: &[u8] = b"\0asm\x01\0\0\0";
const CSS: &str = "body { margin: 0; }\n";
/// Written next to `assets/` (and as a hidden asset): must never be served.
const SECRET: &str = "not-for-browsers-7f3a";

/// A gzip member holding `data` in one stored (uncompressed) deflate block: what
/// browsers decode like any other gzip, built without a compression crate.
fn gzip(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).unwrap();
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.push(1); // final block, stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// A web dir laid out as `cargo xtask build-web` writes it.
fn built_app() -> TempDir {
    let dir = TempDir::new();
    let assets = dir.path().join("assets");
    std::fs::create_dir_all(assets.join("sub")).unwrap();
    std::fs::write(dir.path().join("index.html"), INDEX).unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), SECRET).unwrap();
    std::fs::write(assets.join(JS_NAME), JS).unwrap();
    std::fs::write(assets.join(format!("{JS_NAME}.gz")), gzip(JS.as_bytes())).unwrap();
    std::fs::write(assets.join(WASM_NAME), WASM).unwrap();
    std::fs::write(assets.join(format!("{WASM_NAME}.gz")), gzip(WASM)).unwrap();
    // No precompressed sibling: served plain whatever the browser accepts.
    std::fs::write(assets.join(CSS_NAME), CSS).unwrap();
    std::fs::write(assets.join(".hidden"), SECRET).unwrap();
    std::fs::write(assets.join("sub").join("x.js"), SECRET).unwrap();
    dir
}

async fn serve(b: Backend, web_dir: std::path::PathBuf) -> TestApp {
    spawn_app_with(b, move |s| s.web_dir = web_dir).await
}

fn header<'a>(res: &'a reqwest::Response, name: &str) -> &'a str {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_else(|| panic!("no {name} header"))
}

/// One request with its path sent exactly as written (reqwest, like browsers, would
/// resolve `..` before sending): the status and the body.
async fn raw_get(app: &TestApp, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.address.trim_start_matches("http://");
    let mut stream = actix_web::rt::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

async fn pages_answer_index_html_under_a_strict_policy(b: Backend) {
    let dir = built_app();
    let app = serve(b, dir.path().to_path_buf()).await;
    let c = app.anonymous();
    for path in [
        "/",
        "/login?next=%2Fkeys",
        "/authorize?request=x",
        "/keys",
        "/admin/users",
        "/some/unknown/page",
    ] {
        let res = c.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&res, "cache-control"), "no-store", "{path}");
        let csp = header(&res, "content-security-policy");
        assert_eq!(csp, CSP, "{path}");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"));
        assert_eq!(header(&res, "x-frame-options"), "DENY");
        assert_eq!(header(&res, "x-content-type-options"), "nosniff");
        assert_eq!(header(&res, "referrer-policy"), "same-origin");
        assert_eq!(res.text().await.unwrap(), INDEX, "{path}");
    }
    // HEAD: the same headers, no body.
    let res = c.request(Method::HEAD, "/keys").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-security-policy"), CSP);
    assert_eq!(header(&res, "cache-control"), "no-store");
    assert_eq!(header(&res, "content-length"), INDEX.len().to_string());
    assert!(res.bytes().await.unwrap().is_empty());
    // A page is read, never changed.
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let res = c
            .request(method.clone(), "/keys")
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} /keys"
        );
        assert_eq!(error_code(res).await, "method_not_allowed");
    }
    let res = c.delete("/").await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn assets_are_immutable_and_gzipped_when_the_browser_accepts_it(b: Backend) {
    let dir = built_app();
    let app = serve(b, dir.path().to_path_buf()).await;
    let c = app.anonymous();
    let js = format!("/assets/{JS_NAME}");
    // Twice each: the first read comes from disk, the second from memory.
    for _ in 0..2 {
        let res = c
            .request(Method::GET, &js)
            .header("accept-encoding", "gzip, deflate, br, zstd")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(&res, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header(&res, "content-encoding"), "gzip");
        assert_eq!(header(&res, "vary"), "Accept-Encoding");
        assert_eq!(
            header(&res, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(res.bytes().await.unwrap(), gzip(JS.as_bytes()));

        for accept in [None, Some("identity"), Some("br"), Some("gzip;q=0")] {
            let mut rb = c.request(Method::GET, &js);
            if let Some(a) = accept {
                rb = rb.header("accept-encoding", a);
            }
            let res = rb.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert!(
                res.headers().get("content-encoding").is_none(),
                "{accept:?}"
            );
            assert_eq!(header(&res, "vary"), "Accept-Encoding");
            assert_eq!(
                header(&res, "cache-control"),
                "public, max-age=31536000, immutable"
            );
            assert_eq!(res.text().await.unwrap(), JS, "{accept:?}");
        }
    }
    let res = c
        .request(Method::GET, &format!("/assets/{WASM_NAME}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&res, "content-type"), "application/wasm");
    assert_eq!(header(&res, "content-encoding"), "gzip");
    assert_eq!(res.bytes().await.unwrap(), gzip(WASM));
    let res = c.get(&format!("/assets/{WASM_NAME}")).await;
    assert_eq!(res.bytes().await.unwrap(), WASM);
    // Without a `.gz` sibling the plain file goes, even to a browser that takes gzip.
    let res = c
        .request(Method::GET, &format!("/assets/{CSS_NAME}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-type"), "text/css; charset=utf-8");
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(header(&res, "vary"), "Accept-Encoding");
    assert_eq!(res.text().await.unwrap(), CSS);
    // HEAD: the headers of the same answer, no body.
    let res = c
        .request(Method::HEAD, &js)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(header(&res, "content-encoding"), "gzip");
    assert_eq!(
        header(&res, "content-length"),
        gzip(JS.as_bytes()).len().to_string()
    );
    assert!(res.bytes().await.unwrap().is_empty());
    let res = c.post(&js, &json!({})).await;
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn only_plain_asset_names_are_served(b: Backend) {
    let dir = built_app();
    let app = serve(b, dir.path().to_path_buf()).await;
    for path in [
        "/assets/../Cargo.toml",
        "/assets/%2e%2e%2fCargo.toml",
        "/assets/%2E%2E%2FCargo.toml",
        "/assets/..%2fCargo.toml",
        "/assets/.hidden",
        "/assets/%2ehidden",
        "/assets/sub/x.js",
        "/assets/sub%2fx.js",
        "/assets/nope-00000000.js",
        "/assets/",
        "/assets",
    ] {
        let (status, body) = raw_get(&app, path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body.contains("\"not_found\""), "{path}: {body}");
        assert!(!body.contains(SECRET), "{path} leaked a file");
    }
    let res = app.anonymous().get("/assets/nope-00000000.js").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(res).await, "not_found");
}

async fn api_and_protocol_paths_keep_their_json_errors(b: Backend) {
    let dir = built_app();
    let app = serve(b, dir.path().to_path_buf()).await;
    let c = app.anonymous();
    for path in [
        "/api/v1/nope",
        "/api/v2/session",
        "/api",
        "/oauth/nope",
        "/.well-known/nope",
        "/login/oauth2/nope",
        "/metrics",
    ] {
        let res = c.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            header(&res, "content-type"),
            "application/json; charset=utf-8"
        );
        assert!(res.headers().get("content-security-policy").is_none());
        assert_eq!(error_code(res).await, "not_found", "{path}");
    }
    let res = c.post("/oauth/nope", &json!({})).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c.get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthenticated");
    assert_eq!(c.get("/healthz").await.status(), StatusCode::OK);
}

async fn without_a_built_app_pages_answer_503_and_the_api_works(b: Backend) {
    let dir = TempDir::new();
    let web_dir = dir.path().join("dist");
    let app = serve(b, web_dir.clone()).await;
    let c = app.anonymous();
    for path in ["/", "/keys", "/login?next=%2Fkeys"] {
        let res = c.get(path).await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(header(&res, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&res, "cache-control"), "no-store");
        let body = res.text().await.unwrap();
        assert!(body.contains("cargo xtask build-web"), "{body}");
        assert!(body.contains("GATEHOUSE_WEB_DIR"), "{body}");
    }
    let res = c.get(&format!("/assets/{JS_NAME}")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c.get("/api/v1/session").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(res).await, "unauthenticated");
    let admin = app.admin().await;
    assert_eq!(admin.get("/api/v1/me").await.status(), StatusCode::OK);
    // Building the app while the server runs: pages answer at once.
    std::fs::create_dir_all(&web_dir).unwrap();
    std::fs::write(web_dir.join("index.html"), INDEX).unwrap();
    let res = c.get("/keys").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), INDEX);
}
