//! The main window: the router's own web UI over HTTP, signed in with the launch's session
//! key, or a small local page saying why the router is not running. Closing it hides it to
//! the tray (or quits when there is no tray to come back from).

use crate::Desktop;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tauri::http::{header, Request, Response};
use tauri::{
    AppHandle, Manager, UriSchemeContext, WebviewUrl, WebviewWindowBuilder, Window, WindowEvent,
    Wry,
};

pub const MAIN: &str = "main";
/// The custom scheme serving the "not running" page.
pub const STATUS_SCHEME: &str = "arouter";

/// Where the "not running" page is served (Windows' and Android's webviews reach custom
/// schemes through `http://<scheme>.localhost`).
fn status_page_url() -> &'static str {
    if cfg!(any(windows, target_os = "android")) {
        "http://arouter.localhost/"
    } else {
        "arouter://localhost/"
    }
}

fn url(desktop: &Desktop) -> tauri::Result<WebviewUrl> {
    let url = match desktop.router.running() {
        Some(r) => WebviewUrl::External(parse(&r.dashboard_url())?),
        None => WebviewUrl::CustomProtocol(parse(status_page_url())?),
    };
    Ok(url)
}

fn parse(s: &str) -> tauri::Result<tauri::Url> {
    s.parse()
        .map_err(|e| tauri::Error::Anyhow(anyhow::anyhow!("bad window URL: {e}")))
}

/// Creates the main window.
pub fn create(app: &AppHandle, visible: bool) -> tauri::Result<()> {
    let desktop = app.state::<Arc<Desktop>>();
    WebviewWindowBuilder::new(app, MAIN, url(&desktop)?)
        .title("ARouter")
        .inner_size(1180.0, 800.0)
        .min_inner_size(640.0, 480.0)
        .visible(visible)
        .build()?;
    Ok(())
}

/// Brings the main window to the front (re-creating it if it was closed).
pub fn show(app: &AppHandle) -> tauri::Result<()> {
    match app.get_webview_window(MAIN) {
        Some(w) => {
            w.show()?;
            w.unminimize()?;
            w.set_focus()
        }
        None => create(app, true),
    }
}

/// Close hides the window while a tray can bring it back.
pub fn on_event(window: &Window<Wry>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        let desktop = window.state::<Arc<Desktop>>();
        if desktop.tray_available.load(Ordering::SeqCst) {
            api.prevent_close();
            if let Err(e) = window.hide() {
                tracing::warn!("cannot hide the window: {e}");
            }
        }
    }
}

/// Serves the "not running" page on [`STATUS_SCHEME`].
pub fn serve_status_page(
    ctx: UriSchemeContext<'_, Wry>,
    _req: Request<Vec<u8>>,
) -> Response<Vec<u8>> {
    let desktop = ctx.app_handle().state::<Arc<Desktop>>();
    let body = status_page(desktop.failure().unwrap_or("ARouter is running."));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(body.into_bytes())
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

/// The page shown when the router could not start.
pub fn status_page(reason: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ARouter is not running</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; margin: 0; background: #f6f6f9; color: #1d1d27; }}
main {{ max-width: 640px; margin: 12vh auto; padding: 32px; background: #fff;
  border: 1px solid #e2e2ea; border-radius: 12px; }}
h1 {{ font-size: 20px; margin: 0 0 12px; color: #b42318; }}
pre {{ white-space: pre-wrap; background: #fdf2f2; padding: 12px; border-radius: 8px; }}
code {{ background: #eef; padding: 1px 4px; border-radius: 4px; }}
</style></head>
<body><main>
<h1>ARouter is not running</h1>
<pre>{}</pre>
<p>If another ARouter (the desktop app or <code>arouter serve</code>) already uses this port,
quit it, or choose another port: <code>port</code> under <code>[server]</code> in
<code>config.toml</code>, or the <code>AROUTER_PORT</code> environment variable.
Then restart ARouter.</p>
</main></body></html>
"#,
        escape(reason)
    )
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_page_shows_the_reason_escaped() {
        let page = status_page("cannot listen on 127.0.0.1:8402 <b>&</b>");
        assert!(page.contains("cannot listen on 127.0.0.1:8402 &lt;b&gt;&amp;&lt;/b&gt;"));
        assert!(!page.contains("<b>"));
        assert!(page.contains("AROUTER_PORT"));
    }
}
