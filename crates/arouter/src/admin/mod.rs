//! The management API under `/api/v1/` (keys, providers, routing settings, usage, money) for
//! the web UI and the tray: admin keys only, errors in OpenRouter's shape.

mod keys;
mod models;
mod money;
mod providers;
mod settings;
pub mod time;
mod tools;
mod usage;

use arouter_core::app::App;
use arouter_core::error::ApiError;
use arouter_core::http::respond::{json_response, read_bytes, Surface};
use arouter_core::http::Ctx;
use arouter_store::{ManageStore, TimeRange};
use axum::body::Bytes;
use axum::extract::{FromRequest, Query, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Router};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest management request body.
const MAX_BODY: usize = 1024 * 1024;
/// Page size of lists when `limit` is not given, and the largest allowed.
const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 500;

/// Every management route; the store is handed to handlers as a request extension.
pub fn routes(store: Arc<dyn ManageStore>) -> Router<Arc<App>> {
    Router::new()
        .route("/api/v1/keys", get(keys::list).post(keys::create))
        .route(
            "/api/v1/keys/{hash}",
            get(keys::get_one).patch(keys::update).delete(keys::delete),
        )
        .route("/api/v1/key", get(keys::current))
        .route(
            "/api/v1/providers",
            get(providers::list).post(providers::create),
        )
        .route(
            "/api/v1/providers/{id}",
            axum::routing::patch(providers::update).delete(providers::delete),
        )
        .route(
            "/api/v1/providers/{id}/credential",
            put(providers::set_credential).delete(providers::delete_credential),
        )
        .route("/api/v1/providers/{id}/test", post(providers::test))
        .route("/api/v1/provider-presets", get(providers::presets))
        .route(
            "/api/v1/settings",
            get(settings::get_settings).patch(settings::patch_settings),
        )
        .route("/api/v1/default-model", put(settings::set_default_model))
        .route(
            "/api/v1/aliases/{name}",
            put(settings::set_alias).delete(settings::delete_alias),
        )
        .route("/api/v1/catalog", get(settings::catalog))
        .route("/api/v1/models/facts", get(models::facts))
        .route("/api/v1/models/refresh", post(models::refresh))
        .route(
            "/api/v1/model-overrides/{provider}/{*model}",
            put(settings::set_override).delete(settings::delete_override),
        )
        .route("/api/v1/usage", get(usage::summary))
        .route("/api/v1/usage/daily", get(usage::daily))
        .route("/api/v1/usage.csv", get(usage::csv))
        .route("/api/v1/requests", get(usage::list_requests))
        .route("/api/v1/requests/{id}", get(usage::request_detail))
        .route(
            "/api/v1/credits",
            get(money::credits).post(money::add_credit),
        )
        .route("/api/v1/balance", get(money::balance))
        .route("/api/v1/transactions", get(money::transactions))
        .route("/api/v1/activity", get(money::activity))
        .route("/api/v1/tools", get(tools::list))
        .route("/api/v1/tools/{id}/connect", post(tools::connect))
        .route("/api/v1/tools/{id}/disconnect", post(tools::disconnect))
        .layer(Extension(store))
}

/// Authenticates a management request. Unlike the API surfaces it ignores the tray's pause:
/// the UI must keep working to show the pause and lift it.
async fn management_authed(
    app: &Arc<App>,
    headers: axum::http::HeaderMap,
    query: Option<&str>,
    admin_only: bool,
) -> Result<Ctx, Response> {
    match arouter_core::auth::authenticate(app, &headers, query, admin_only).await {
        Ok(caller) => Ok(Ctx {
            app: app.clone(),
            cfg: app.config(),
            caller,
            headers: Arc::new(headers),
        }),
        Err(refusal) => {
            let mut resp = Surface::OpenAi.error(&refusal.error);
            if let Some(rate) = &refusal.rate {
                arouter_core::auth::rate_headers(rate, resp.headers_mut());
            }
            Err(resp)
        }
    }
}

/// An authenticated management request: admin keys only unless `ADMIN` is false.
pub(crate) struct Call<const ADMIN: bool = true> {
    pub ctx: Ctx,
    pub store: Arc<dyn ManageStore>,
    pub query: HashMap<String, String>,
    body: Bytes,
}

impl<const ADMIN: bool> FromRequest<Arc<App>> for Call<ADMIN> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let store = parts
            .extensions
            .get::<Arc<dyn ManageStore>>()
            .cloned()
            .ok_or_else(|| Surface::OpenAi.error(&ApiError::internal("store not attached")))?;
        let ctx = management_authed(app, parts.headers, parts.uri.query(), ADMIN).await?;
        let query = match Query::<HashMap<String, String>>::try_from_uri(&parts.uri) {
            Ok(Query(q)) => q,
            Err(e) => {
                let err = ApiError::bad_request(format!("invalid query string: {e}"));
                return Err(ctx.finish(Surface::OpenAi.error(&err)));
            }
        };
        let body = match read_bytes(&ctx.headers, body, MAX_BODY).await {
            Ok(b) => b,
            Err(e) => return Err(ctx.finish(Surface::OpenAi.error(&e))),
        };
        Ok(Call {
            ctx,
            store,
            query,
            body,
        })
    }
}

impl<const ADMIN: bool> Call<ADMIN> {
    pub fn app(&self) -> &Arc<App> {
        &self.ctx.app
    }

    /// The final response, with the rate-limit headers.
    pub fn reply(&self, result: Result<Response, ApiError>) -> Response {
        self.ctx
            .finish(result.unwrap_or_else(|e| Surface::OpenAi.error(&e)))
    }

    pub fn body_is_empty(&self) -> bool {
        self.body.is_empty()
    }

    /// The request body as a JSON object.
    pub async fn json(&mut self) -> Result<Map<String, Value>, ApiError> {
        if self.body.is_empty() {
            return Err(ApiError::bad_request(
                "Request body is empty; expected a JSON object",
            ));
        }
        let v: Value = serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
        match v {
            Value::Object(map) => Ok(map),
            _ => Err(ApiError::bad_request("Request body must be a JSON object")),
        }
    }

    /// A non-empty query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// `since` / `until` as a time window.
    pub fn range(&self) -> Result<TimeRange, ApiError> {
        let parse = |name, bound| {
            self.param(name)
                .map(|v| time::parse_instant(v, name, bound))
                .transpose()
        };
        Ok(TimeRange {
            since_ms: parse("since", time::Bound::Since)?,
            until_ms: parse("until", time::Bound::Until)?,
        })
    }

    /// `limit` (default 50, at most 500) and `offset`.
    pub fn page(&self) -> Result<(i64, i64), ApiError> {
        let int = |name: &str, default: i64| -> Result<i64, ApiError> {
            match self.param(name) {
                None => Ok(default),
                Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::bad_request(format!("{name}: expected a non-negative integer"))
                }),
            }
        };
        Ok((
            int("limit", DEFAULT_LIMIT)?.min(MAX_LIMIT),
            int("offset", 0)?,
        ))
    }

    /// Runs a store call off the async threads.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn ManageStore) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        // Read-your-writes: usage, logs and keys include every request answered before this
        // call, not only the ledger's last committed batch.
        tokio::task::spawn_blocking(move || {
            store.flush();
            f(&*store)
        })
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("store error: {e:#}")))
    }
}

/// `200` with a JSON body.
pub(crate) fn ok(v: Value) -> Result<Response, ApiError> {
    Ok(json_response(&v))
}

/// `201` with a JSON body.
pub(crate) fn created(v: Value) -> Result<Response, ApiError> {
    Ok((StatusCode::CREATED, json_response(&v)).into_response())
}

/// A body field: absent, explicitly `null`, or a value.
pub(crate) enum Field<T> {
    Absent,
    Null,
    Set(T),
}

impl<T> Field<T> {
    /// `None` when absent, `Some(None)` when null.
    pub fn patch(self) -> Option<Option<T>> {
        match self {
            Field::Absent => None,
            Field::Null => Some(None),
            Field::Set(v) => Some(Some(v)),
        }
    }

    /// The value, or `None` when absent or null.
    pub fn value(self) -> Option<T> {
        self.patch().flatten()
    }

    /// The value; absent or null is an error naming the field.
    pub fn required(self, name: &str) -> Result<T, ApiError> {
        self.value()
            .ok_or_else(|| ApiError::bad_request(format!("{name}: required")))
    }
}

/// Reads field `name` with `conv`; a value of the wrong type is a 400 naming the field and
/// what was expected.
pub(crate) fn field<T>(
    body: &Map<String, Value>,
    name: &str,
    expected: &str,
    conv: impl Fn(&Value) -> Option<T>,
) -> Result<Field<T>, ApiError> {
    match body.get(name) {
        None => Ok(Field::Absent),
        Some(Value::Null) => Ok(Field::Null),
        Some(v) => conv(v)
            .map(Field::Set)
            .ok_or_else(|| ApiError::bad_request(format!("{name}: expected {expected}"))),
    }
}

pub(crate) fn string(body: &Map<String, Value>, name: &str) -> Result<Field<String>, ApiError> {
    field(body, name, "a string", |v| v.as_str().map(str::to_string))
}

pub(crate) fn boolean(body: &Map<String, Value>, name: &str) -> Result<Field<bool>, ApiError> {
    field(body, name, "true or false", Value::as_bool)
}

/// A finite, non-negative number.
pub(crate) fn amount(body: &Map<String, Value>, name: &str) -> Result<Field<f64>, ApiError> {
    field(body, name, "a non-negative number", |v| {
        v.as_f64().filter(|n| n.is_finite() && *n >= 0.0)
    })
}

pub(crate) fn string_list(
    body: &Map<String, Value>,
    name: &str,
) -> Result<Field<Vec<String>>, ApiError> {
    field(body, name, "a list of strings", |v| {
        v.as_array()?
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

/// Refuses fields the endpoint does not know (a typo would otherwise be silently ignored).
pub(crate) fn only(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::bad_request(format!(
            "{k}: unknown field (expected {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Integer pico-USD → USD for JSON.
pub(crate) fn usd(pusd: i64) -> Value {
    Value::from(arouter_core::catalog::pusd_to_usd(pusd))
}
