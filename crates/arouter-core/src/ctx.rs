//! One authenticated request's context: the app, a config snapshot for the whole request, the
//! caller and the request headers. Built by `http::Authed`; handed down the request path.

use crate::app::App;
use crate::auth::{self, Caller};
use crate::config::Config;
use crate::record::{Recorder, Start};
use axum::http::HeaderMap;
use axum::response::Response;
use std::sync::Arc;

/// Everything a handler needs about one authenticated request.
#[derive(Clone)]
pub struct Ctx {
    pub app: Arc<App>,
    pub cfg: Arc<Config>,
    pub caller: Caller,
    /// Shared: a request's context is cloned into its job, its headers need not be.
    pub headers: Arc<HeaderMap>,
}

impl Ctx {
    /// Adds the `X-RateLimit-*` headers every authenticated response carries.
    pub fn finish(&self, mut resp: Response) -> Response {
        auth::rate_headers(&self.caller.rate, resp.headers_mut());
        resp
    }

    /// Starts this request's ledger row.
    pub fn recorder(&self, start: Start<'_>) -> Recorder {
        Recorder::new(
            &self.app,
            &self.caller,
            self.cfg.server.store_content,
            start,
        )
    }
}
