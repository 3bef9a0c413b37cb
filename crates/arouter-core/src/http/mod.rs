//! The HTTP server: one axum router for every surface, the hygiene layer (Host guard against
//! DNS rebinding, no CORS for foreign origins), and graceful serving.

pub mod cores;
pub mod models;
pub mod openapi;
pub mod proxy;
pub mod raw_json;
pub mod respond;

use crate::surfaces::{anthropic, gemini, openai_chat as openai, openai_responses as responses};

use crate::app::App;
use crate::auth;
pub use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorKind};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use respond::Surface;
use std::future::Future;
use std::sync::Arc;

/// Authenticates a request for a surface; on failure returns the response to send.
pub async fn authed(
    app: &Arc<App>,
    headers: HeaderMap,
    query: Option<&str>,
    surface: Surface,
    admin_only: bool,
) -> Result<Ctx, Response> {
    match auth::authenticate(app, &headers, query, admin_only).await {
        Ok(_) if app.paused.load(std::sync::atomic::Ordering::Relaxed) => Err(surface
            .error(&ApiError::new(ErrorKind::Unavailable, "routing is paused").with_status(503))),
        Ok(caller) => Ok(Ctx {
            app: app.clone(),
            cfg: app.config(),
            caller,
            headers: Arc::new(headers),
        }),
        Err(refusal) => {
            let mut resp = surface.error(&refusal.error);
            if let Some(rate) = &refusal.rate {
                auth::rate_headers(rate, resp.headers_mut());
            }
            Err(resp)
        }
    }
}

/// The full router: every surface plus `extra` routes (management API, UI) from the binary,
/// all behind the hygiene layer.
pub fn router(app: Arc<App>, extra: Router<Arc<App>>) -> Router {
    let mut r = Router::new().route("/healthz", get(healthz)).route(
        "/",
        get(|| async { axum::response::Redirect::temporary("/ui/") }),
    );
    for prefix in ["/v1", "/api/v1"] {
        r = r
            .route(&format!("{prefix}/chat/completions"), post(chat))
            .route(&format!("{prefix}/completions"), post(completions))
            .route(&format!("{prefix}/embeddings"), post(embeddings))
            .route(&format!("{prefix}/messages"), post(anthropic::messages))
            .route(
                &format!("{prefix}/messages/count_tokens"),
                post(anthropic::count_tokens),
            )
            .route(&format!("{prefix}/models"), get(models::list))
            .route(&format!("{prefix}/models/{{*rest}}"), get(models::get_one))
            .route(
                &format!("{prefix}/chat/completions/{{id}}"),
                get(models::stored_completion),
            )
            .route(&format!("{prefix}/responses"), post(responses::create))
            .route(
                &format!("{prefix}/responses/compact"),
                post(responses::compact),
            )
            .route(
                &format!("{prefix}/responses/{{id}}"),
                get(responses::get).delete(responses::delete),
            )
            .route(
                &format!("{prefix}/responses/{{id}}/input_items"),
                get(responses::input_items),
            );
    }
    r = gemini::routes(r);
    r.route("/api/v1/generation", get(models::generation))
        .route("/openapi.yaml", get(openapi::serve))
        .merge(extra)
        // Last: every static route above (and `/ui/…` from `extra`) wins over this capture;
        // reserved ids that still land here get `not_found`.
        .route("/{provider}/{*path}", any(proxy::handle))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), hygiene))
        .with_state(app)
}

async fn healthz() -> Response {
    respond::json_response(
        &serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}),
    )
}

async fn not_found(req: Request) -> Response {
    let surface = if req.uri().path().starts_with("/v1beta") {
        Surface::Gemini
    } else {
        Surface::OpenAi
    };
    surface.error(&ApiError::not_found(format!(
        "No route for {} {}",
        req.method(),
        req.uri().path()
    )))
}

async fn chat(State(app): State<Arc<App>>, req: Request) -> Response {
    openai_endpoint(app, req, openai::Endpoint::Chat).await
}

async fn completions(State(app): State<Arc<App>>, req: Request) -> Response {
    openai_endpoint(app, req, openai::Endpoint::Completions).await
}

async fn embeddings(State(app): State<Arc<App>>, req: Request) -> Response {
    openai_endpoint(app, req, openai::Endpoint::Embeddings).await
}

async fn openai_endpoint(app: Arc<App>, req: Request, endpoint: openai::Endpoint) -> Response {
    let (parts, body) = req.into_parts();
    match authed(
        &app,
        parts.headers,
        parts.uri.query(),
        Surface::OpenAi,
        false,
    )
    .await
    {
        Ok(ctx) => openai::handle(ctx, endpoint, body).await,
        Err(resp) => resp,
    }
}

/// Is this `Host` header (or origin host) a loopback name?
fn is_loopback_host(host: &str) -> bool {
    let h = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        })
    };
    let h = h.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost"
        || h.ends_with(".localhost")
        || h == "::1"
        || h.parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn origin_allowed(origin: &str) -> bool {
    if origin == "tauri://localhost" {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    (scheme == "http" || scheme == "https")
        && is_loopback_host(rest.split('/').next().unwrap_or(""))
}

/// DNS-rebinding guard and CORS: requests must name a loopback host (or the configured bind
/// host); cross-origin browsers get a CORS grant only from loopback origins (the UI, Tauri).
async fn hygiene(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bind_host = app.config().server.host.clone();
    let host_ok = host.is_empty()
        || is_loopback_host(host)
        || host.split(':').next() == Some(bind_host.as_str()) && bind_host != "0.0.0.0";
    if !host_ok {
        return (
            StatusCode::FORBIDDEN,
            respond::json_response(&Surface::OpenAi.error_body(&ApiError::new(
                ErrorKind::Forbidden,
                format!("Host \"{host}\" is not allowed: ARouter only answers to loopback names"),
            ))),
        )
            .into_response();
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let granted = origin
        .as_deref()
        .filter(|o| origin_allowed(o))
        .map(str::to_string);
    if req.method() == Method::OPTIONS && origin.is_some() {
        let mut resp = if granted.is_some() {
            StatusCode::NO_CONTENT.into_response()
        } else {
            StatusCode::FORBIDDEN.into_response()
        };
        if let Some(o) = &granted {
            cors_headers(resp.headers_mut(), o);
        }
        return resp;
    }
    let mut resp = next.run(req).await;
    if let Some(o) = &granted {
        cors_headers(resp.headers_mut(), o);
    }
    resp
}

fn cors_headers(h: &mut HeaderMap, origin: &str) {
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "authorization, content-type, x-api-key, x-goog-api-key, anthropic-version, anthropic-beta, x-title, http-referer",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "x-generation-id, x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset",
        ),
    );
    h.insert(header::VARY, HeaderValue::from_static("origin"));
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
pub async fn serve(
    app: Arc<App>,
    extra: Router<Arc<App>>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    cores::serve(
        router(app, extra),
        listener,
        cores::thread_count(),
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in [
            "localhost",
            "localhost:8402",
            "127.0.0.1:8402",
            "[::1]:8402",
            "127.0.0.2",
            "app.localhost",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "evil.com",
            "evil.com:8402",
            "192.168.1.2",
            "localhost.evil.com",
            "127.0.0.1.evil.com",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert!(origin_allowed("http://127.0.0.1:8402"));
        assert!(origin_allowed("tauri://localhost"));
        assert!(!origin_allowed("https://evil.com"));
    }

    /// The proxy's capture never shadows static routes such as the binary's `/ui/…`.
    #[tokio::test]
    async fn static_routes_beat_the_proxy_capture() {
        use tower::ServiceExt;
        let router: Router = Router::new()
            .route("/ui/", get(|| async { "ui" }))
            .route("/ui/{*path}", get(|| async { "ui" }))
            .route("/v1/models", get(|| async { "models" }))
            .route("/{provider}/{*path}", any(|| async { "proxy" }));
        for (path, want) in [
            ("/ui/", "ui"),
            ("/ui/assets/app.js", "ui"),
            ("/v1/models", "models"),
            ("/v1/other/thing", "proxy"),
            ("/oa/chat/completions", "proxy"),
        ] {
            let req = Request::builder()
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = router.clone().oneshot(req).await.unwrap();
            let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
            assert_eq!(body, want.as_bytes(), "{path}");
        }
    }
}
