//! Forwarded batches: every request goes to one anthropic-kind provider, so the batch runs on
//! its own batch API. We keep our id → (provider, upstream id), relay the upstream objects and
//! record the succeeded results' usage once, the first time results are fetched.

use super::{blocking, Call};
use arouter_core::app::App;
use arouter_core::catalog;
use arouter_core::config::{ProviderConfig, ProviderKind};
use arouter_core::dialects::anthropic::inbound as wire;
use arouter_core::dialects::anthropic::{reasons, usage};
use arouter_core::error::ApiError;
use arouter_core::http::Ctx;
use arouter_core::providers;
use arouter_core::record::{new_generation_id, now_ms};
use arouter_core::store::UsageRecord;
use arouter_core::surfaces::anthropic::{self, ClientHeaders};
use arouter_core::upstream;
use arouter_store::batches::{self as state, BatchRow, Forward};
use axum::body::Bytes;
use axum::http::Method;
use serde_json::{json, Map, Value};

/// Where a forwardable batch goes: the provider and each request's upstream model.
pub(super) struct Plan {
    provider: String,
    models: Vec<String>,
}

/// The plan when every request resolves to exactly one candidate, all on the same
/// anthropic-kind provider; `None` when the batch must run here. Unknown models are a 400.
pub(super) fn plan(ctx: &Ctx, requests: &[(String, Value)]) -> Result<Option<Plan>, ApiError> {
    let mut provider: Option<String> = None;
    let mut models = Vec::with_capacity(requests.len());
    let mut single = true;
    for (i, (_, params)) in requests.iter().enumerate() {
        let (_, candidates) =
            anthropic::candidates(ctx, params, None).map_err(|e| super::in_request(i, e))?;
        match candidates.as_slice() {
            [only] if provider.as_ref().is_none_or(|p| *p == only.provider) => {
                provider = Some(only.provider.clone());
                models.push(only.model.clone());
            }
            _ => single = false,
        }
    }
    let Some(provider) = provider.filter(|_| single) else {
        return Ok(None);
    };
    let kind = App::provider(&ctx.cfg, &provider)?.kind;
    Ok((kind == ProviderKind::Anthropic).then_some(Plan { provider, models }))
}

/// Creates the batch upstream with each request's model set to the upstream name.
pub(super) async fn create(
    ctx: &Ctx,
    plan: &Plan,
    requests: &[(String, Value)],
) -> Result<(Forward, Value), ApiError> {
    let upstream_requests: Vec<Value> = requests
        .iter()
        .zip(&plan.models)
        .map(|((custom_id, params), model)| {
            json!({"custom_id": custom_id, "params": upstream_params(params, model)})
        })
        .collect();
    let body = Bytes::from(json!({"requests": upstream_requests}).to_string());
    let provider = App::provider(&ctx.cfg, &plan.provider)?;
    let v = call_upstream(ctx, provider, Method::POST, "", body).await?;
    let upstream_id = v
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            providers::bad_body(
                &provider.id,
                "batch without an id",
                v.to_string().as_bytes(),
            )
        })?
        .to_string();
    let forward = Forward {
        provider: plan.provider.clone(),
        upstream_id,
    };
    Ok((forward, v))
}

/// The params without router-only fields, naming the upstream model.
fn upstream_params(params: &Value, model: &str) -> Value {
    let mut m: Map<String, Value> = params.as_object().cloned().unwrap_or_default();
    for f in wire::ROUTER_ONLY_FIELDS {
        m.remove(*f);
    }
    m.insert("model".into(), json!(model));
    Value::Object(m)
}

/// Whether the last known upstream state is final.
pub(super) fn ended(row: &BatchRow) -> bool {
    row.snapshot
        .as_ref()
        .and_then(|s| s.get("processing_status"))
        .and_then(Value::as_str)
        == Some(state::ENDED)
}

fn forward_of(row: &BatchRow) -> Result<&Forward, ApiError> {
    row.forward
        .as_ref()
        .ok_or_else(|| ApiError::internal(format!("batch {} is not forwarded", row.id)))
}

/// Re-reads the upstream batch and keeps it as the snapshot.
pub(super) async fn refresh(call: &Call, row: &mut BatchRow) -> Result<(), ApiError> {
    let v = batch_call(call, row, Method::GET, "").await?;
    save_snapshot(call, row, v).await
}

/// Cancels upstream; the answer is the new snapshot.
pub(super) async fn cancel(call: &Call, row: &mut BatchRow) -> Result<(), ApiError> {
    let v = batch_call(call, row, Method::POST, "/cancel").await?;
    save_snapshot(call, row, v).await
}

/// Deletes upstream.
pub(super) async fn delete(call: &Call, row: &BatchRow) -> Result<(), ApiError> {
    batch_call(call, row, Method::DELETE, "").await.map(|_| ())
}

async fn save_snapshot(call: &Call, row: &mut BatchRow, v: Value) -> Result<(), ApiError> {
    let id = row.id.clone();
    let stored = v.clone();
    blocking(&call.shared.store, move |s| {
        s.set_batch_snapshot(&id, &stored)
    })
    .await?;
    row.snapshot = Some(v);
    Ok(())
}

/// A JSON call on `/v1/messages/batches/{upstream id}{suffix}`.
async fn batch_call(
    call: &Call,
    row: &BatchRow,
    method: Method,
    suffix: &str,
) -> Result<Value, ApiError> {
    let fw = forward_of(row)?;
    let provider = App::provider(&call.ctx.cfg, &fw.provider)?;
    let path = format!("/{}{suffix}", fw.upstream_id);
    call_upstream(&call.ctx, provider, method, &path, Bytes::new()).await
}

/// Sends to `{base_url}/v1/messages/batches{path}` with the client's Anthropic headers.
async fn send(
    ctx: &Ctx,
    provider: &ProviderConfig,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<Bytes, ApiError> {
    let key = ctx.app.credential(provider).await?;
    let request = ClientHeaders::from(&ctx.headers).request(
        provider,
        &format!("/v1/messages/batches{path}"),
        key.as_deref(),
        body,
    );
    let resp = match upstream::send_method(ctx.app.http(), provider, method, &request).await {
        Ok(r) => r,
        Err(e) => {
            if e.status == 401 || e.status == 403 {
                ctx.app.forget_credential(&provider.id);
            }
            return Err(e);
        }
    };
    upstream::read_body(resp, provider).await
}

async fn call_upstream(
    ctx: &Ctx,
    provider: &ProviderConfig,
    method: Method,
    path: &str,
    body: Bytes,
) -> Result<Value, ApiError> {
    let bytes = send(ctx, provider, method, path, body).await?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| providers::bad_body(&provider.id, "not a JSON object", &bytes))
}

/// The upstream results file, relayed as is; the first fetch records each succeeded result.
pub(super) async fn results(call: &Call, row: &BatchRow) -> Result<Bytes, ApiError> {
    let fw = forward_of(row)?;
    let provider = App::provider(&call.ctx.cfg, &fw.provider)?;
    let path = format!("/{}/results", fw.upstream_id);
    let body = send(&call.ctx, provider, Method::GET, &path, Bytes::new()).await?;
    let id = row.id.clone();
    let claimed = blocking(&call.shared.store, move |s| s.claim_results_recording(&id)).await?;
    if claimed {
        let recorded = record_usage(call, row, provider, &body);
        tracing::info!(batch = %row.id, recorded, "recorded forwarded batch usage");
    }
    Ok(body)
}

/// Anthropic bills batch requests at half the standard price.
const BATCH_PRICE_DIVISOR: i64 = 2;

/// One ledger row per succeeded line; returns how many.
fn record_usage(call: &Call, row: &BatchRow, provider: &ProviderConfig, body: &[u8]) -> usize {
    let cfg = &call.ctx.cfg;
    let mut n = 0;
    for line in body
        .split(|&b| b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty())
    {
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            tracing::warn!(batch = %row.id, "skipping a results line that is not JSON");
            continue;
        };
        if v.pointer("/result/type").and_then(Value::as_str) != Some(state::SUCCEEDED) {
            continue;
        }
        let Some(message) = v.pointer("/result/message") else {
            continue;
        };
        let model = message.get("model").and_then(Value::as_str).unwrap_or("");
        let usage = message
            .get("usage")
            .map(usage::from_value)
            .unwrap_or_default();
        let pricing = catalog::pricing(cfg, provider, model);
        let native = message.get("stop_reason").and_then(Value::as_str);
        let served = format!("{}/{model}", provider.id);
        call.ctx.app.store.record(UsageRecord {
            id: new_generation_id(),
            created_ms: now_ms(),
            app: row.app.clone(),
            key_hash: row.key_hash.clone(),
            surface: "anthropic".into(),
            endpoint: "batch".into(),
            requested_model: served.clone(),
            served_model: served,
            provider: provider.id.clone(),
            usage,
            cost_pusd: pricing.prices.cost_pusd(&usage) / BATCH_PRICE_DIVISOR,
            priced: pricing.priced,
            finish_reason: native.map(|s| reasons::hub_stop_reason(Some(s)).as_str().to_string()),
            native_finish_reason: native.map(str::to_string),
            status: 200,
            ..Default::default()
        });
        n += 1;
    }
    n
}
