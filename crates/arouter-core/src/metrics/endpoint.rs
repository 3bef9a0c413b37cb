//! `GET /metrics`: the Prometheus scrape. Needs an admin key, unless `[telemetry]
//! metrics_open = true` and the scrape comes from a loopback address.

use crate::app::App;
use crate::auth;
use crate::http::respond::Surface;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// Whether a scrape from `peer` may skip the key.
pub fn open_to(metrics_open: bool, peer: Option<SocketAddr>) -> bool {
    metrics_open && peer.is_some_and(|p| p.ip().is_loopback())
}

/// Lets admin keys through, like the management API (also while routing is paused); the
/// refusal otherwise, in OpenRouter's error shape.
pub(crate) async fn admin(
    app: &Arc<App>,
    headers: &axum::http::HeaderMap,
    query: Option<&str>,
) -> Result<(), Response> {
    auth::authenticate(app, headers, query, true)
        .await
        .map(|_| ())
        .map_err(|refusal| {
            let mut resp = Surface::OpenAi.error(&refusal.error);
            if let Some(rate) = &refusal.rate {
                auth::rate_headers(rate, resp.headers_mut());
            }
            resp
        })
}

pub async fn serve(State(app): State<Arc<App>>, req: Request) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if !open_to(app.config().telemetry.metrics_open, peer) {
        if let Err(resp) = admin(&app, req.headers(), req.uri().query()).await {
            return resp;
        }
    }
    let body = super::render::render(&app.metrics, &app);
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(super::render::CONTENT_TYPE),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_scrapes_skip_the_key_and_only_when_switched_on() {
        let lo: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let lo6: SocketAddr = "[::1]:5000".parse().unwrap();
        let lan: SocketAddr = "192.168.1.9:5000".parse().unwrap();
        assert!(open_to(true, Some(lo)));
        assert!(open_to(true, Some(lo6)));
        assert!(!open_to(true, Some(lan)));
        assert!(!open_to(true, None));
        assert!(!open_to(false, Some(lo)));
    }
}
