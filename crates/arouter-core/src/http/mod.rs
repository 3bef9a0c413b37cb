//! The HTTP server: one axum router for every surface, the hygiene layer (Host guard against
//! DNS rebinding, no CORS for foreign origins), and graceful serving.

pub mod authed;
pub mod conn;
pub mod cores;
pub mod guard;
pub mod models;
pub mod openapi;
pub mod proxy;
pub mod respond;
pub mod tls;

use crate::surfaces::{anthropic, gemini, openai_chat as openai, openai_responses as responses};

use crate::app::App;
pub use crate::ctx::Ctx;
use crate::error::{ApiError, ErrorKind};
pub use crate::raw_json;
pub use authed::{authed, AnthropicApi, Authed, GeminiApi, ModelsApi, OpenAiApi};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::Router;
use std::future::Future;
use std::sync::Arc;

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
        .route("/metrics", get(crate::metrics::endpoint::serve))
        .route("/api/v1/health", get(crate::metrics::health::serve))
        .merge(extra)
        // Last: every static route above (and `/ui/…` from `extra`) wins over this capture;
        // reserved ids that still land here get `not_found`.
        .route("/{provider}/{*path}", any(proxy::handle))
        .fallback(respond::not_found)
        .method_not_allowed_fallback(guard::method_not_allowed)
        .layer(middleware::from_fn_with_state(app.clone(), hygiene))
        .with_state(app)
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    respond::json_response(&serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "ledger": {
            "rows_lost": app.store.lost_records(),
            "rows_without_bodies": app.store.rows_without_bodies(),
        },
    }))
}

async fn chat(Authed { ctx, .. }: Authed<OpenAiApi>, body: Body) -> Response {
    openai::handle(ctx, openai::Endpoint::Chat, body).await
}

async fn completions(Authed { ctx, .. }: Authed<OpenAiApi>, body: Body) -> Response {
    openai::handle(ctx, openai::Endpoint::Completions, body).await
}

async fn embeddings(Authed { ctx, .. }: Authed<OpenAiApi>, body: Body) -> Response {
    openai::handle(ctx, openai::Endpoint::Embeddings, body).await
}

/// Public mode: every endpoint but `/healthz` needs a valid, enabled key, including the ones
/// that are open on loopback (the UI's files, the model list, the OpenAPI document). Rate
/// limits are still counted by the endpoint's own authentication, once.
async fn public_key_check(app: &Arc<App>, raw: Option<String>) -> Result<(), ApiError> {
    let refused = |m: &str| ApiError::new(ErrorKind::Unauthorized, m.to_string());
    let raw =
        raw.ok_or_else(|| refused("This server is public: every request needs an API key"))?;
    let hash = crate::store::hash_key(&raw);
    let key = match app.store.find_key(&hash) {
        Some(k) => Some(k),
        None => {
            let store = app.store.clone();
            tokio::task::spawn_blocking(move || store.find_key_or_reload(&hash))
                .await
                .ok()
                .flatten()
        }
    };
    match key {
        Some(k) if !k.disabled => Ok(()),
        Some(_) => Err(refused("This API key is disabled")),
        None => Err(refused("Invalid API key")),
    }
}

/// DNS-rebinding guard and CORS: requests must name a loopback host (or the configured bind
/// host) in ASCII and have a decodable path; only the desktop window's origin gets a CORS grant.
async fn hygiene(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let (host_ok, public) = {
        let cfg = app.config();
        let s = &cfg.server;
        let allowed: &[String] = if s.public { &s.allowed_hosts } else { &[] };
        (guard::check_host(req.headers(), &s.host, allowed), s.public)
    };
    if let Err(why) = host_ok {
        let surface = guard::surface_of(req.uri().path(), req.headers());
        return guard::refuse(surface, ErrorKind::Forbidden, 403, why);
    }
    if public && req.uri().path() != "/healthz" {
        let raw = crate::auth::extract_key(req.headers(), req.uri().query());
        if let Err(refusal) = public_key_check(&app, raw).await {
            let surface = guard::surface_of(req.uri().path(), req.headers());
            return guard::refuse(surface, refusal.kind, refusal.status, refusal.message);
        }
    }
    if let Err(why) = guard::check_path(req.uri().path()) {
        let surface = guard::surface_of(req.uri().path(), req.headers());
        return guard::refuse(surface, ErrorKind::BadRequest, 400, why);
    }
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let granted = origin
        .as_deref()
        .filter(|o| guard::origin_allowed(o))
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
    let cfg = app.config();
    let limits = conn::Limits::from_config(&cfg.server);
    let tls = match (&cfg.server.tls_cert, &cfg.server.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key).map_err(std::io::Error::other)?),
        _ => None,
    };
    drop(cfg);
    cores::serve(
        router(app, extra),
        listener,
        cores::thread_count(),
        limits,
        tls,
        shutdown,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

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
