//! Model facts: where the bundled catalog came from, what the last live refresh of each
//! provider found, and refreshing on demand.

use super::{ok, Call};
use arouter_core::app::App;
use arouter_core::catalog::{live, refresh, Catalog};
use arouter_core::error::{ApiError, ErrorKind};
use axum::response::Response;
use serde_json::{json, Value};

/// The bundle's pins and each configured provider's cached live list (age and size).
fn facts_json(app: &App) -> Value {
    let cache = live::load_cache(&app.data_dir);
    let cfg = app.config();
    let providers: Vec<Value> = cfg
        .providers
        .keys()
        .map(|id| {
            let list = cache.as_ref().ok().and_then(|c| c.providers.get(id));
            json!({
                "provider": id,
                "fetched_ms": list.map(|l| l.fetched_ms),
                "models": list.map_or(0, |l| l.models.len()),
                "priced": list.map_or(0, |l| l.models.iter().filter(|m| m.is_priced()).count()),
            })
        })
        .collect();
    json!({
        "bundle": Catalog::bundled().source(),
        "bundle_models": Catalog::bundled().entries().len(),
        "cache": live::cache_path(&app.data_dir).display().to_string(),
        "cache_error": cache.err(),
        "providers": providers,
    })
}

/// `GET /api/v1/models/facts`.
pub async fn facts(call: Call) -> Response {
    let app = call.app().clone();
    let r = tokio::task::spawn_blocking(move || facts_json(&app))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
        .and_then(|v| ok(json!({ "data": v })));
    call.reply(r)
}

/// `POST /api/v1/models/refresh`: asks every configured provider for its model list now.
/// 200 with a per-provider report when at least one answered; 502 saying why each failed
/// when none did (nothing changed then).
pub async fn refresh(call: Call) -> Response {
    let report = refresh::refresh_all(call.app()).await;
    if report.all_failed() {
        let why: Vec<String> = report
            .providers
            .iter()
            .map(|p| format!("{}: {}", p.provider, p.error.as_deref().unwrap_or("failed")))
            .collect();
        let e = ApiError::new(
            ErrorKind::UpstreamError,
            format!("model refresh failed, nothing changed: {}", why.join("; ")),
        );
        return call.reply(Err(e));
    }
    call.reply(ok(json!({ "data": report })))
}
