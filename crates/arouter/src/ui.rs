//! The web UI: static files from `ui/` embedded in the binary and served at `/ui/`.
//!
//! Plain HTML, ES modules and CSS (no build step), so a fresh clone serves the full UI from
//! `cargo run -- serve`. `index.html` answers `/ui`, `/ui/` and unknown sub-paths that do not
//! look like files (the UI routes on the URL hash). Every file is served with `no-cache` plus an
//! ETag, so an upgraded binary never leaves a browser on stale scripts. No authentication here:
//! the files hold no data; everything comes from `/api/v1/*` with the admin key.

use arouter_core::app::App;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Only our own origin: no CDN, no inline script, no framing. `data:` images for the favicon
/// fallback some browsers use; `blob:` is needed for the CSV download link.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../ui/", $path)),
        }
    };
}

/// Every file under `ui/` (a test checks this table against the directory).
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("favicon.svg", SVG),
    asset!("css/app.css", CSS),
    asset!("js/api.js", JS),
    asset!("js/app.js", JS),
    asset!("js/chart.js", JS),
    asset!("js/dom.js", JS),
    asset!("js/format.js", JS),
    asset!("js/snippets.js", JS),
    asset!("js/pages/health.js", JS),
    asset!("js/pages/history.js", JS),
    asset!("js/pages/keys.js", JS),
    asset!("js/pages/models.js", JS),
    asset!("js/pages/overview.js", JS),
    asset!("js/pages/providers.js", JS),
    asset!("js/pages/settings.js", JS),
    asset!("js/pages/tools.js", JS),
    asset!("js/pages/usage.js", JS),
];

/// The UI's routes, merged into the router by [`crate::routes`].
pub fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(file))
}

async fn index(headers: HeaderMap) -> Response {
    serve("", &headers)
}

async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

/// The response for `/ui/{path}`: the embedded file, index.html for client-side routes, or 404
/// for a missing file (a missing script must not come back as HTML).
fn serve(path: &str, headers: &HeaderMap) -> Response {
    let asset = match find(path) {
        Some(a) => a,
        None if looks_like_file(path) => return not_found(path),
        None => index_asset(),
    };
    let etag = etag(asset.bytes);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.bytes.into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if asset.content_type == HTML {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}

fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

fn index_asset() -> &'static Asset {
    &ASSETS[0]
}

/// A last segment with an extension is a file request, not a client-side route.
fn looks_like_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

fn not_found(path: &str) -> Response {
    let mut resp = (
        StatusCode::NOT_FOUND,
        format!("No UI file named /ui/{path}\n"),
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// A strong validator from the file's bytes (FNV-1a 64; collisions only cost a stale cache).
fn etag(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    fn ui_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui")
    }

    fn files_under(dir: &std::path::Path, prefix: &str, out: &mut BTreeSet<String>) {
        let entries = std::fs::read_dir(dir).expect("reading ui/");
        for entry in entries {
            let entry = entry.expect("ui/ entry");
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if entry.path().is_dir() {
                files_under(&entry.path(), &format!("{rel}/"), out);
            } else {
                out.insert(rel);
            }
        }
    }

    async fn body(resp: Response) -> Vec<u8> {
        axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .expect("reading body")
            .to_vec()
    }

    #[test]
    fn table_matches_the_ui_directory() {
        let mut on_disk = BTreeSet::new();
        files_under(&ui_dir(), "", &mut on_disk);
        let table: BTreeSet<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        assert_eq!(
            on_disk, table,
            "ui/ and the ASSETS table in ui.rs differ: add or remove entries"
        );
        assert_eq!(index_asset().path, "index.html");
    }

    /// Every `import ... from './x.js'` and every `/ui/...` reference in HTML resolves to an
    /// embedded file, so a typo cannot ship a UI that fails to load.
    #[test]
    fn every_reference_resolves() {
        for a in ASSETS {
            let text = std::str::from_utf8(a.bytes).expect("UI files are UTF-8");
            if a.content_type == JS {
                let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
                for spec in text.split("from '").skip(1) {
                    let spec = spec.split('\'').next().unwrap_or_default();
                    let target = resolve(dir, spec);
                    assert!(
                        find(&target).is_some(),
                        "{} imports {spec} → {target}, not embedded",
                        a.path
                    );
                }
            }
            if a.content_type == HTML {
                for part in text.split("\"/ui/").skip(1) {
                    let target = part.split('"').next().unwrap_or_default();
                    assert!(find(target).is_some(), "index.html refers to /ui/{target}");
                }
            }
        }
    }

    fn resolve(dir: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = dir.split('/').filter(|s| !s.is_empty()).collect();
        for seg in spec.split('/') {
            match seg {
                "." => {}
                ".." => {
                    parts.pop();
                }
                s => parts.push(s),
            }
        }
        parts.join("/")
    }

    /// Nothing the page loads can come from another host: HTML `src`/`href` stay under `/ui/`,
    /// CSS pulls in nothing (no `url()`, no `@import`), scripts import only relative modules.
    #[test]
    fn loads_nothing_from_elsewhere() {
        for a in ASSETS {
            let text = std::str::from_utf8(a.bytes).expect("UTF-8");
            match a.content_type {
                HTML => {
                    for attr in ["src=\"", "href=\""] {
                        for part in text.split(attr).skip(1) {
                            assert!(part.starts_with("/ui/"), "{}: {attr}{part:.40}", a.path);
                        }
                    }
                }
                CSS => {
                    assert!(!text.contains("url("), "{} uses url()", a.path);
                    assert!(!text.contains("@import"), "{} uses @import", a.path);
                }
                JS => {
                    // static imports, and import('...') (JSDoc type references or dynamic)
                    for sep in ["from '", "import('"] {
                        for spec in text.split(sep).skip(1) {
                            assert!(
                                spec.starts_with("./") || spec.starts_with("../"),
                                "{}: {sep}{spec:.40}",
                                a.path
                            );
                        }
                    }
                }
                _ => {}
            }
        }
    }

    #[tokio::test]
    async fn serves_files_with_types_and_index_for_routes() {
        let none = HeaderMap::new();
        let resp = serve("js/app.js", &none);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], JS);
        assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
        assert!(resp
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .is_none());
        assert_eq!(
            body(resp).await,
            find("js/app.js").map(|a| a.bytes).unwrap_or_default()
        );

        let resp = serve("css/app.css", &none);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], CSS);

        for route in ["", "providers", "history/gen-123"] {
            let resp = serve(route, &none);
            assert_eq!(resp.status(), StatusCode::OK, "{route}");
            assert_eq!(resp.headers()[header::CONTENT_TYPE], HTML);
            assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
            assert!(resp.headers()[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .is_ok_and(|v| v.contains("default-src 'self'")));
            let html = String::from_utf8(body(resp).await).unwrap_or_default();
            assert!(html.contains("<script type=\"module\" src=\"/ui/js/app.js\">"));
        }

        let resp = serve("js/missing.js", &none);
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        assert!(resp.headers()[header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|v| v.starts_with("text/plain")));
    }

    #[tokio::test]
    async fn etag_revalidation_answers_304() {
        let first = serve("js/format.js", &HeaderMap::new());
        let tag = first.headers()[header::ETAG].clone();
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, tag.clone());
        let again = serve("js/format.js", &headers);
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(again.headers()[header::ETAG], tag);
        assert!(body(again).await.is_empty());

        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(serve("js/format.js", &headers).status(), StatusCode::OK);
    }
}
