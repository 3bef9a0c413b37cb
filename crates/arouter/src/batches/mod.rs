//! Anthropic's Message Batches API (`/v1/messages/batches`, also under `/api/v1`): batches whose
//! requests all go to one anthropic-kind provider are forwarded to its batch API; the others run
//! here, persisted in SQLite and worked off by [`BatchWorker`].
//!
//! The handlers live in this crate (not in arouter-core) because they need the batch store
//! directly, like the management API; core lends `surfaces::anthropic::run_unary` and the routing.

mod forward;
mod worker;

pub use worker::{BatchWorker, Waker};

use crate::admin::time::iso;
use arouter_core::app::App;
use arouter_core::dialects::anthropic::inbound as wire;
use arouter_core::error::ApiError;
use arouter_core::http::respond::{json_response, read_bytes, Surface};
use arouter_core::http::{authed, Ctx};
use arouter_core::record::now_ms;
use arouter_core::surfaces::anthropic::ClientHeaders;
use arouter_store::batches::{self as state, BatchRow, Cursor, NewBatch};
use arouter_store::BatchStore;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Requests per batch, as Anthropic allows.
const MAX_REQUESTS: usize = 100_000;
/// Largest create body (Anthropic's batch size limit); the server's `max_body_mb` applies
/// first, so a batch cannot bring in more than any other request.
const MAX_BODY: usize = 256 * 1024 * 1024;
/// Batches expire 24 hours after creation.
const EXPIRY_MS: i64 = 24 * 3600 * 1000;
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;
/// The results file's media type.
const JSONL: &str = "application/x-jsonl";

/// What the handlers share: the store and the worker's wake-up call.
#[derive(Clone)]
struct Shared {
    store: Arc<dyn BatchStore>,
    waker: Waker,
    /// Budget reservations of forwarded batches, by batch id, until their usage is recorded.
    holds: forward::Holds,
}

/// Every batch route under `/v1` and `/api/v1`.
pub fn routes(store: Arc<dyn BatchStore>, waker: Waker) -> Router<Arc<App>> {
    let mut r = Router::new();
    for prefix in ["/v1", "/api/v1"] {
        r = r
            .route(
                &format!("{prefix}/messages/batches"),
                get(list).post(create),
            )
            .route(
                &format!("{prefix}/messages/batches/{{id}}"),
                get(retrieve).delete(delete),
            )
            .route(
                &format!("{prefix}/messages/batches/{{id}}/cancel"),
                post(cancel),
            )
            .route(
                &format!("{prefix}/messages/batches/{{id}}/results"),
                get(results),
            );
    }
    r.layer(Extension(Shared {
        store,
        waker,
        holds: Default::default(),
    }))
}

/// An authenticated batch request; errors in Anthropic's shape.
struct Call {
    ctx: Ctx,
    shared: Shared,
    query: HashMap<String, String>,
    body: Bytes,
    /// `http://host/v1` or `http://host/api/v1`: where this client reaches the batch API.
    base: String,
}

impl FromRequest<Arc<App>> for Call {
    type Rejection = Response;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Response> {
        let surface = Surface::Anthropic;
        let (parts, body) = req.into_parts();
        let shared = parts
            .extensions
            .get::<Shared>()
            .cloned()
            .ok_or_else(|| surface.error(&ApiError::internal("batch store not attached")))?;
        let ctx = authed(app, parts.headers, parts.uri.query(), surface, false).await?;
        let fail = |e: ApiError| ctx.finish(surface.error(&e));
        let query = match Query::<HashMap<String, String>>::try_from_uri(&parts.uri) {
            Ok(Query(q)) => q,
            Err(e) => {
                return Err(fail(ApiError::bad_request(format!(
                    "invalid query string: {e}"
                ))))
            }
        };
        let limit = MAX_BODY.min(ctx.cfg.server.max_body_bytes);
        let body = match read_bytes(&ctx.headers, body, limit).await {
            Ok(b) => b,
            Err(e) => return Err(fail(e)),
        };
        let prefix = if parts.uri.path().starts_with("/api/v1/") {
            "/api/v1"
        } else {
            "/v1"
        };
        let host = ctx
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}:{}", ctx.cfg.server.host, ctx.cfg.server.port));
        Ok(Call {
            base: format!("http://{host}{prefix}"),
            ctx,
            shared,
            query,
            body,
        })
    }
}

impl Call {
    fn reply(&self, result: Result<Response, ApiError>) -> Response {
        self.ctx
            .finish(result.unwrap_or_else(|e| Surface::Anthropic.error(&e)))
    }

    /// Runs a store call off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn BatchStore) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, ApiError> {
        blocking(&self.shared.store, f).await
    }

    /// The batch, if it exists and this caller may see it (its creator, or an admin key).
    async fn batch(&self, id: &str) -> Result<BatchRow, ApiError> {
        let owned = id.to_string();
        let row = self.blocking(move |s| s.get_batch(&owned)).await?;
        let key = &self.ctx.caller.key;
        row.filter(|r| r.key_hash == key.hash || key.admin)
            .ok_or_else(|| ApiError::not_found(format!("No Message Batch with id \"{id}\"")))
    }

    fn results_url(&self, id: &str) -> String {
        format!("{}/messages/batches/{id}/results", self.base)
    }

    /// The batch object a client sees.
    fn render(&self, row: &BatchRow) -> Value {
        match &row.snapshot {
            Some(upstream) if row.forward.is_some() => self.render_forwarded(row, upstream),
            _ => render_local(row, &self.results_url(&row.id)),
        }
    }

    /// The upstream object under our id, its results URL pointing here.
    fn render_forwarded(&self, row: &BatchRow, upstream: &Value) -> Value {
        let mut v = upstream.clone();
        v["id"] = json!(row.id);
        if v.get("results_url").is_some_and(|u| !u.is_null()) {
            v["results_url"] = json!(self.results_url(&row.id));
        }
        v
    }
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    store: &Arc<dyn BatchStore>,
    f: impl FnOnce(&dyn BatchStore) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&*store))
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("store error: {e:#}")))
}

fn opt_iso(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |m| json!(iso(m)))
}

/// A batch run here, as Anthropic renders a `message_batch`.
fn render_local(row: &BatchRow, results_url: &str) -> Value {
    let c = row.counts;
    let ended = row.status == state::ENDED;
    json!({
        "id": row.id,
        "type": "message_batch",
        "processing_status": row.status,
        "request_counts": {
            "processing": c.processing,
            "succeeded": c.succeeded,
            "errored": c.errored,
            "canceled": c.canceled,
            "expired": c.expired,
        },
        "ended_at": opt_iso(row.ended_ms),
        "created_at": iso(row.created_ms),
        "expires_at": iso(row.expires_ms),
        "archived_at": opt_iso(row.archived_ms),
        "cancel_initiated_at": opt_iso(row.cancel_ms),
        "results_url": if ended { json!(results_url) } else { Value::Null },
    })
}

/// A new batch id: `msgbatch_` + 24 random alphanumerics.
fn new_batch_id() -> String {
    use rand::distributions::{Alphanumeric, DistString};
    format!(
        "msgbatch_{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
    )
}

fn is_custom_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks a create body: 1..=100000 requests, each with a unique well-formed `custom_id` and
/// `params` valid for `POST /v1/messages` (not streamed). Returns (custom_id, params) pairs.
fn validate(body: &Value) -> Result<Vec<(String, Value)>, ApiError> {
    let requests = match body.get("requests") {
        None | Some(Value::Null) => return Err(ApiError::bad_request("requests: Field required")),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ApiError::bad_request(
                "requests: Input should be a valid list",
            ))
        }
    };
    if requests.is_empty() || requests.len() > MAX_REQUESTS {
        return Err(ApiError::bad_request(format!(
            "requests: a batch holds 1 to {MAX_REQUESTS} requests, not {}",
            requests.len()
        )));
    }
    let mut seen = HashSet::with_capacity(requests.len());
    let mut out = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let custom_id = match request.get("custom_id") {
            None | Some(Value::Null) => {
                return Err(ApiError::bad_request(format!(
                    "requests.{i}.custom_id: Field required"
                )))
            }
            Some(Value::String(s)) if is_custom_id(s) => s.clone(),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "requests.{i}.custom_id: expected 1 to 64 characters of a-z, A-Z, 0-9, _ or -"
                )))
            }
        };
        if !seen.insert(custom_id.clone()) {
            return Err(ApiError::bad_request(format!(
                "requests.{i}.custom_id: \"{custom_id}\" is used more than once; custom_id must be unique within a batch"
            )));
        }
        let params = match request.get("params") {
            Some(p @ Value::Object(_)) => p.clone(),
            None | Some(Value::Null) => {
                return Err(ApiError::bad_request(format!(
                    "requests.{i}.params: Field required"
                )))
            }
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "requests.{i}.params: Input should be an object"
                )))
            }
        };
        let hub = wire::to_internal(&params).map_err(|e| in_request(i, e))?;
        if hub.stream {
            return Err(ApiError::bad_request(format!(
                "requests.{i}.params.stream: streaming is not supported in Message Batches"
            )));
        }
        out.push((custom_id, params));
    }
    Ok(out)
}

/// Prefixes an error about one request's params with where it is.
fn in_request(i: usize, mut e: ApiError) -> ApiError {
    e.message = format!("requests.{i}.params: {}", e.message);
    e
}

/// `POST /v1/messages/batches`.
async fn create(mut call: Call) -> Response {
    let result = create_batch(&mut call).await;
    call.reply(result)
}

async fn create_batch(call: &mut Call) -> Result<Response, ApiError> {
    if call.body.is_empty() {
        return Err(ApiError::bad_request(
            "Request body is empty; expected a JSON object",
        ));
    }
    let body: Value = serde_json::from_slice(&call.body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
    call.body = Bytes::new();
    let requests = validate(&body)?;
    let ctx = &call.ctx;
    let client = ClientHeaders::from(&ctx.headers);
    let mut headers = json!({"anthropic-version": client.version});
    if let Some(beta) = &client.beta {
        headers["anthropic-beta"] = json!(beta);
    }
    let now = now_ms();
    let mut batch = NewBatch {
        id: new_batch_id(),
        key_hash: ctx.caller.key.hash.clone(),
        app: ctx.caller.app.clone(),
        headers,
        created_ms: now,
        expires_ms: now + EXPIRY_MS,
        forward: None,
        snapshot: None,
        requests: Vec::new(),
    };
    match forward::plan(ctx, &requests)? {
        Some(plan) => {
            let hold = forward::reserve(ctx, &plan, &requests).await?;
            let (forward, upstream) = forward::create(ctx, &plan, &requests).await?;
            if let Some(hold) = hold {
                call.shared.holds.lock().insert(batch.id.clone(), hold);
            }
            batch.forward = Some(forward);
            batch.snapshot = Some(upstream);
        }
        None => batch.requests = requests,
    }
    let id = batch.id.clone();
    call.blocking(move |s| s.create_batch(&batch)).await?;
    call.shared.waker.wake();
    let row = call.batch(&id).await?;
    Ok(json_response(&call.render(&row)))
}

/// `GET /v1/messages/batches/{id}`.
async fn retrieve(Path(id): Path<String>, call: Call) -> Response {
    let result = async {
        let row = fresh(&call, &id).await?;
        Ok(json_response(&call.render(&row)))
    }
    .await;
    call.reply(result)
}

/// The batch, with a forwarded one's upstream state refreshed unless it already ended.
async fn fresh(call: &Call, id: &str) -> Result<BatchRow, ApiError> {
    let mut row = call.batch(id).await?;
    if row.forward.is_some() && !forward::ended(&row) {
        forward::refresh(call, &mut row).await?;
    }
    Ok(row)
}

/// `POST /v1/messages/batches/{id}/cancel`.
async fn cancel(Path(id): Path<String>, call: Call) -> Response {
    let result = async {
        let mut row = call.batch(&id).await?;
        if row.forward.is_some() {
            forward::cancel(&call, &mut row).await?;
            return Ok(json_response(&call.render(&row)));
        }
        let owned = id.clone();
        call.blocking(move |s| s.cancel_batch(&owned, now_ms()))
            .await?;
        call.shared.waker.wake();
        let row = call.batch(&id).await?;
        Ok(json_response(&call.render(&row)))
    }
    .await;
    call.reply(result)
}

/// `DELETE /v1/messages/batches/{id}`: only once processing ended.
async fn delete(Path(id): Path<String>, call: Call) -> Response {
    let result = async {
        let row = fresh(&call, &id).await?;
        if row.forward.is_some() {
            forward::delete(&call, &row).await?;
            call.shared.holds.lock().remove(&id);
        } else if row.status != state::ENDED {
            return Err(ApiError::bad_request(format!(
                "Message Batch {id} cannot be deleted while it is processing; cancel it first"
            )));
        }
        let owned = id.clone();
        call.blocking(move |s| s.delete_batch(&owned)).await?;
        Ok(json_response(
            &json!({"id": id, "type": "message_batch_deleted"}),
        ))
    }
    .await;
    call.reply(result)
}

/// `GET /v1/messages/batches/{id}/results`: one JSON line per request, in request order.
async fn results(Path(id): Path<String>, call: Call) -> Response {
    let result = async {
        let row = call.batch(&id).await?;
        if row.forward.is_some() {
            let body = forward::results(&call, &row).await?;
            return Ok(jsonl_response(body));
        }
        if row.status != state::ENDED {
            return Err(ApiError::bad_request(format!(
                "Message Batch {id} has not finished processing; results are available once processing_status is \"ended\""
            )));
        }
        let owned = id.clone();
        let rows = call.blocking(move |s| s.batch_results(&owned)).await?;
        let mut out = Vec::with_capacity(rows.len() * 256);
        for r in rows {
            let result = match r.status.as_str() {
                state::SUCCEEDED | state::ERRORED => r.result.unwrap_or(Value::Null),
                other => json!({"type": other}),
            };
            serde_json::to_writer(&mut out, &json!({"custom_id": r.custom_id, "result": result}))
                .map_err(|e| ApiError::internal(format!("encoding results: {e}")))?;
            out.push(b'\n');
        }
        Ok(jsonl_response(Bytes::from(out)))
    }
    .await;
    call.reply(result)
}

fn jsonl_response(body: Bytes) -> Response {
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSONL));
    resp
}

/// `GET /v1/messages/batches`: the caller's batches, newest first.
async fn list(call: Call) -> Response {
    let result = list_batches(&call).await;
    call.reply(result)
}

async fn list_batches(call: &Call) -> Result<Response, ApiError> {
    let param = |name: &str| call.query.get(name).filter(|v| !v.is_empty()).cloned();
    let limit = match param("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!("limit: expected an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    let cursor = match (param("after_id"), param("before_id")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "after_id and before_id cannot be used together",
            ))
        }
        (Some(a), None) => Cursor::After(a),
        (None, Some(b)) => Cursor::Before(b),
        (None, None) => Cursor::First,
    };
    let key = call.ctx.caller.key.hash.clone();
    let (rows, has_more) = call
        .blocking(move |s| s.list_batches(Some(&key), limit, &cursor))
        .await?;
    let mut data = Vec::with_capacity(rows.len());
    for mut row in rows {
        if row.forward.is_some() && !forward::ended(&row) {
            if let Err(e) = forward::refresh(call, &mut row).await {
                tracing::warn!(batch = %row.id, "listing with the last known upstream state: {}", e.message);
            }
        }
        data.push(call.render(&row));
    }
    let first_id = data.first().map_or(Value::Null, |v| v["id"].clone());
    let last_id = data.last().map_or(Value::Null, |v| v["id"].clone());
    Ok(json_response(&json!({
        "data": data,
        "has_more": has_more,
        "first_id": first_id,
        "last_id": last_id,
    })))
}

/// An error for a request the batch could not run (`result.error` of an errored line):
/// Anthropic's error response, which carries a `request_id`.
fn error_response(mut body: Value) -> Value {
    if let Some(m) = body.as_object_mut() {
        m.entry("request_id").or_insert(Value::Null);
    }
    body
}

fn errored(body: Value) -> Value {
    json!({"type": "errored", "error": error_response(body)})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str) -> Value {
        json!({"custom_id": id, "params": {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}})
    }

    #[test]
    fn validation_names_the_failing_request() {
        let ok = validate(&json!({"requests": [request("a"), request("b-1_X")]})).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[1].0, "b-1_X");

        let cases = [
            (json!({}), "requests: Field required"),
            (json!({"requests": []}), "1 to 100000"),
            (
                json!({"requests": [request("a"), request("a")]}),
                "requests.1.custom_id",
            ),
            (
                json!({"requests": [request("bad id")]}),
                "requests.0.custom_id",
            ),
            (
                json!({"requests": [{"custom_id": "a"}]}),
                "requests.0.params: Field required",
            ),
            (
                json!({"requests": [{"custom_id": "a", "params": {"model": "m", "messages": []}}]}),
                "requests.0.params: max_tokens",
            ),
            (
                json!({"requests": [{"custom_id": "a", "params": {"model": "m", "max_tokens": 1, "stream": true, "messages": [{"role": "user", "content": "x"}]}}]}),
                "requests.0.params.stream",
            ),
        ];
        for (body, needle) in cases {
            let e = validate(&body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains(needle), "{} lacks {needle}", e.message);
        }
    }

    #[test]
    fn local_batches_render_like_anthropic() {
        let row = BatchRow {
            id: "msgbatch_x".into(),
            key_hash: "k".into(),
            app: "a".into(),
            headers: json!({}),
            status: state::ENDED.into(),
            created_ms: 0,
            expires_ms: EXPIRY_MS,
            ended_ms: Some(1000),
            cancel_ms: None,
            archived_ms: None,
            forward: None,
            snapshot: None,
            results_recorded: false,
            counts: arouter_store::RequestCounts {
                succeeded: 2,
                errored: 1,
                ..Default::default()
            },
        };
        let v = render_local(&row, "http://h/v1/messages/batches/msgbatch_x/results");
        assert_eq!(v["type"], "message_batch");
        assert_eq!(v["processing_status"], "ended");
        assert_eq!(
            v["request_counts"],
            json!({"processing": 0, "succeeded": 2, "errored": 1, "canceled": 0, "expired": 0})
        );
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(v["ended_at"], "1970-01-01T00:00:01.000Z");
        assert_eq!(v["cancel_initiated_at"], Value::Null);
        assert_eq!(
            v["results_url"],
            "http://h/v1/messages/batches/msgbatch_x/results"
        );
        assert!(new_batch_id().starts_with("msgbatch_"));
    }
}
