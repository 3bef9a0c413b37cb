//! The first stage of the pipeline, the same for every surface: resolve what the request asks
//! for (`model`, OpenRouter's `models`, `fallbacks`; ids, aliases, catalog names) into an
//! ordered candidate list, then apply provider preferences (`provider`: only / ignore / order /
//! sort / max_price / require_parameters) and provider health (a provider cooling down after
//! repeated failures goes last).

use crate::ctx::Ctx;
use crate::error::ApiError;
use crate::model::ChatRequest;
use crate::routing::{self, Candidate};
use serde_json::Value;

/// The candidates a request body asks for, and the requested name(s) for the ledger.
/// `hub` (when the request has a hub form) lets `require_parameters` check what it needs.
pub fn from_body(
    ctx: &Ctx,
    body: &Value,
    hub: Option<&ChatRequest>,
) -> Result<(String, Vec<Candidate>), ApiError> {
    let model = match body.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(ApiError::bad_request("model: expected a string")),
    };
    let mut lists = string_list(body, "models")?;
    lists.extend(string_list(body, "fallbacks")?);
    let names = routing::requested(&ctx.cfg, model, &lists)?;
    let requested = names.join(",");
    let resolved = routing::resolve(&ctx.cfg, &names)?;
    let candidates = arrange(ctx, resolved, body.get("provider"), hub)?;
    Ok((requested, candidates))
}

/// Preferences and health over already resolved candidates (a surface that names its model
/// elsewhere, like Gemini's path, resolves first).
pub fn arrange(
    ctx: &Ctx,
    resolved: Vec<Candidate>,
    provider_prefs: Option<&Value>,
    hub: Option<&ChatRequest>,
) -> Result<Vec<Candidate>, ApiError> {
    let prefs = routing::Preferences::parse(provider_prefs)?;
    let needs = hub.map(routing::Needs::of).unwrap_or_default();
    routing::arrange(&ctx.cfg, resolved, prefs.as_ref(), needs, &ctx.app.health)
}

/// An optional list of strings (OpenRouter's `models`).
pub fn string_list(body: &Value, field: &str) -> Result<Vec<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| {
                m.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::bad_request(format!("{field}: expected a list of model ids"))
                })
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request(format!(
            "{field}: expected a list of model ids"
        ))),
    }
}
