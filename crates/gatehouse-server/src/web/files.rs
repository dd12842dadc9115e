//! The web app's files on disk: `index.html`, read on every page request so a rebuild
//! shows at once, and the hashed files under `assets/`, kept in memory after their
//! first read — a hashed name never changes its content — up to `MAX_CACHED_BYTES`.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use actix_web::web::Bytes;

/// Memory the asset cache may hold; files read beyond it are served but not kept.
/// A built app (WASM, scripts, styles, each plain and gzipped) is a few MB.
const MAX_CACHED_BYTES: usize = 64 * 1024 * 1024;

/// One file of `assets/`, plain and, when the build wrote `<file>.gz`, gzipped.
#[derive(Debug)]
pub struct Asset {
    pub content_type: &'static str,
    pub plain: Bytes,
    pub gzip: Option<Bytes>,
}

impl Asset {
    fn size(&self) -> usize {
        self.plain.len() + self.gzip.as_ref().map_or(0, Bytes::len)
    }
}

#[derive(Default)]
struct Cached {
    assets: HashMap<String, Arc<Asset>>,
    bytes: usize,
}

/// The built web app in `web_dir` and the memory cache of its assets.
pub struct WebFiles {
    dir: PathBuf,
    cache: RwLock<Cached>,
}

impl WebFiles {
    pub fn new(dir: PathBuf) -> WebFiles {
        WebFiles {
            dir,
            cache: RwLock::new(Cached::default()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn index_path(&self) -> PathBuf {
        self.dir.join("index.html")
    }

    /// Whether the app is built: pages answer 503 until `index.html` exists.
    pub fn is_built(&self) -> bool {
        self.index_path().is_file()
    }

    /// `index.html`, or `None` when the app is not built. Blocking: call it on the
    /// blocking pool.
    pub fn read_index(&self) -> io::Result<Option<Bytes>> {
        read_file(&self.index_path())
    }

    /// An asset from memory, if it was read before.
    pub fn cached(&self, name: &str) -> Option<Arc<Asset>> {
        self.cache.read().ok()?.assets.get(name).cloned()
    }

    /// Reads `assets/<name>` (and `<name>.gz`) from disk and keeps it while the cache
    /// has room. `None` when there is no such file. `name` must have passed
    /// [`is_asset_name`]. Blocking: call it on the blocking pool.
    pub fn load(&self, name: &str) -> io::Result<Option<Arc<Asset>>> {
        let path = self.dir.join("assets").join(name);
        let Some(plain) = read_file(&path)? else {
            return Ok(None);
        };
        let gzip = read_file(&self.dir.join("assets").join(format!("{name}.gz")))?;
        let asset = Arc::new(Asset {
            content_type: content_type(name),
            plain,
            gzip,
        });
        if let Ok(mut cache) = self.cache.write()
            && !cache.assets.contains_key(name)
            && cache.bytes + asset.size() <= MAX_CACHED_BYTES
        {
            cache.bytes += asset.size();
            cache.assets.insert(name.to_string(), asset.clone());
        }
        Ok(Some(asset))
    }
}

/// A regular file's bytes; `None` when it is missing or not a regular file.
fn read_file(path: &Path) -> io::Result<Option<Bytes>> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(Bytes::from(bytes))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A plain file name as the build writes them (`boot-1a2b3c4d.js`): letters, digits,
/// `-`, `_` and `.`, not starting with a dot and without `..`. Anything else — a path,
/// a hidden file, an encoded separator — is refused before the disk is touched.
pub fn is_asset_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The media type by extension; unknown ones are sent as bytes to download.
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether an `Accept-Encoding` header allows gzip (RFC 9110 §12.5.3): `gzip` (or
/// `x-gzip`) or `*` with a non-zero weight, unless gzip itself is given weight 0.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut gzip = None;
    let mut any = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let mut q = 1.0_f32;
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                q = v.trim().parse().unwrap_or(0.0);
            }
        }
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(q > 0.0),
            "*" => any = Some(q > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_file_names_are_assets() {
        for ok in [
            "gatehouse-frontend-1a2b3c4d_bg.wasm",
            "boot-1a2b3c4d.js",
            "style-1a2b3c4d.css",
            "favicon.ico",
        ] {
            assert!(is_asset_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".hidden",
            "..",
            "../Cargo.toml",
            "a/b.js",
            "a\\b.js",
            "x..js",
            "a%2fb",
            "a b.js",
            "é.js",
        ] {
            assert!(!is_asset_name(bad), "{bad}");
        }
    }

    #[test]
    fn gzip_is_negotiated_by_weight() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("gzip, deflate, br, zstd"));
        assert!(accepts_gzip("br;q=1.0, GZIP;q=0.5"));
        assert!(accepts_gzip("*"));
        assert!(accepts_gzip("x-gzip"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("br"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("*, gzip;q=0"));
        assert!(!accepts_gzip("*;q=0"));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("a-1.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("a-1_bg.wasm"), "application/wasm");
        assert_eq!(content_type("style-1.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("logo.svg"), "image/svg+xml");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }
}
