//! `/api/v1/providers`: the configured providers with credential state and health, edits of
//! their config, keychain credentials, a connectivity test and the presets the UI offers.

use super::{created, ok, only, string, string_list, Call, Field};
use arouter_core::app::App;
use arouter_core::catalog::is_local;
use arouter_core::config::ProviderConfig;
use arouter_core::config_edit::{self, Edit, ProviderPatch};
use arouter_core::error::{ApiError, ErrorKind};
use arouter_core::upstream;
use axum::extract::Path;
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a provider test may take in all.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// Where a provider's key would come from now: its env variable, else the keychain.
async fn credential_source(app: &Arc<App>, p: &ProviderConfig) -> Option<&'static str> {
    let env_set = p
        .api_key_env
        .as_ref()
        .is_some_and(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
    if env_set {
        return Some("env");
    }
    let secrets = app.secrets.clone();
    let id = p.id.clone();
    let stored = tokio::task::spawn_blocking(move || secrets.get(&id))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    stored.map(|_| "keychain")
}

async fn provider_json(app: &Arc<App>, p: &ProviderConfig) -> Value {
    let source = credential_source(app, p).await;
    let h = app.health.snapshot(&p.id);
    json!({
        "id": p.id,
        "kind": p.kind.as_str(),
        "base_url": p.base_url,
        "api_key_env": p.api_key_env,
        "models": p.models,
        "has_credential": source.is_some(),
        "credential_source": source,
        "local": is_local(p),
        "health": {
            "status": h.status(),
            "recent_failures": h.recent_failures,
            "last_error": h.last_error,
            "last_error_at": h.last_error_at.map(super::time::iso),
            "last_success_at": h.last_success_at.map(super::time::iso),
        },
    })
}

/// The provider's JSON from the current config, or 404.
async fn current_json(app: &Arc<App>, id: &str) -> Result<Value, ApiError> {
    let cfg = app.config();
    let p = App::provider(&cfg, id)?;
    Ok(provider_json(app, p).await)
}

/// Applies a config edit off the async threads.
pub(crate) async fn edit(app: &Arc<App>, edit: Edit) -> Result<(), ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || config_edit::apply(&app, &edit))
        .await
        .map_err(|e| ApiError::internal(format!("config edit failed: {e}")))??;
    Ok(())
}

fn patch_from(body: &Map<String, Value>) -> Result<ProviderPatch, ApiError> {
    Ok(ProviderPatch {
        kind: string(body, "kind")?.value(),
        base_url: string(body, "base_url")?.value(),
        api_key_env: match string(body, "api_key_env")? {
            Field::Set(v) if v.trim().is_empty() => Some(None),
            f => f.patch(),
        },
        models: string_list(body, "models")?.value(),
    })
}

pub async fn list(call: Call) -> Response {
    let cfg = call.app().config();
    let mut data = Vec::new();
    for p in cfg.providers.values() {
        data.push(provider_json(call.app(), p).await);
    }
    call.reply(ok(json!({ "data": data })))
}

pub async fn create(mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(&body, &["id", "kind", "base_url", "api_key_env", "models"])?;
        let id = string(&body, "id")?.required("id")?;
        string(&body, "kind")?.required("kind")?;
        string(&body, "base_url")?.required("base_url")?;
        let patch = patch_from(&body)?;
        edit(
            call.app(),
            Edit::AddProvider {
                id: id.clone(),
                patch,
            },
        )
        .await?;
        call.app().health.forget(&id);
        created(json!({"data": current_json(call.app(), &id).await?}))
    }
    .await;
    call.reply(r)
}

pub async fn update(Path(id): Path<String>, mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(&body, &["kind", "base_url", "api_key_env", "models"])?;
        for required in ["kind", "base_url"] {
            if body.get(required).is_some_and(Value::is_null) {
                return Err(ApiError::bad_request(format!(
                    "{required}: must not be null"
                )));
            }
        }
        let patch = patch_from(&body)?;
        edit(
            call.app(),
            Edit::UpdateProvider {
                id: id.clone(),
                patch,
            },
        )
        .await?;
        call.app().health.forget(&id);
        call.app().forget_credential(&id);
        ok(json!({"data": current_json(call.app(), &id).await?}))
    }
    .await;
    call.reply(r)
}

/// Removes the provider from the config and its key from the keychain (best effort: a locked
/// keychain does not block the removal).
pub async fn delete(Path(id): Path<String>, call: Call) -> Response {
    let r = async {
        edit(call.app(), Edit::RemoveProvider(id.clone())).await?;
        let secrets = call.app().secrets.clone();
        let account = id.clone();
        let removed = tokio::task::spawn_blocking(move || secrets.delete(&account)).await;
        if let Ok(Err(e)) = removed {
            tracing::warn!(provider = %id, "could not remove the keychain entry: {e}");
        }
        call.app().forget_credential(&id);
        call.app().health.forget(&id);
        ok(json!({"deleted": true}))
    }
    .await;
    call.reply(r)
}

fn keychain_unavailable(msg: String) -> ApiError {
    ApiError::new(
        ErrorKind::Unavailable,
        format!("OS keychain unavailable: {msg}. Use api_key_env instead, or unlock the keychain."),
    )
}

/// Stores (`Some`) or removes (`None`) the provider's keychain entry.
async fn write_secret(app: &Arc<App>, id: &str, key: Option<String>) -> Result<(), ApiError> {
    App::provider(&app.config(), id)?;
    let secrets = app.secrets.clone();
    let account = id.to_string();
    tokio::task::spawn_blocking(move || match key {
        Some(k) => secrets.set(&account, &k),
        None => secrets.delete(&account),
    })
    .await
    .map_err(|e| ApiError::internal(format!("keychain task failed: {e}")))?
    .map_err(keychain_unavailable)?;
    app.forget_credential(id);
    app.health.forget(id);
    Ok(())
}

pub async fn set_credential(Path(id): Path<String>, mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(&body, &["key"])?;
        let key = string(&body, "key")?.required("key")?;
        let key = key.trim();
        if key.is_empty() {
            return Err(ApiError::bad_request("key: must not be empty"));
        }
        write_secret(call.app(), &id, Some(key.to_string())).await?;
        ok(json!({"data": current_json(call.app(), &id).await?}))
    }
    .await;
    call.reply(r)
}

pub async fn delete_credential(Path(id): Path<String>, call: Call) -> Response {
    let r = async {
        write_secret(call.app(), &id, None).await?;
        ok(json!({"data": current_json(call.app(), &id).await?}))
    }
    .await;
    call.reply(r)
}

/// How many models a listing names (`data` for OpenAI / Anthropic, `models` for Gemini).
fn count_models(body: &[u8]) -> Option<usize> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("data")
        .or_else(|| v.get("models"))
        .and_then(Value::as_array)
        .map(Vec::len)
}

/// Lists the provider's models upstream and reports what happened.
async fn run_test(app: &Arc<App>, p: &ProviderConfig) -> Value {
    let started = Instant::now();
    let attempt = async {
        let key = app.credential(p).await?;
        let req = arouter_core::providers::list_models_request(p, key.as_deref());
        let resp = upstream::send_method(app.http(), p, axum::http::Method::GET, &req).await?;
        let status = resp.status().as_u16();
        let body = upstream::read_body(resp, p).await?;
        Ok::<_, ApiError>((status, count_models(&body)))
    };
    let outcome = tokio::time::timeout(TEST_TIMEOUT, attempt).await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let (ok, status, message) = match outcome {
        Ok(Ok((status, Some(n)))) => (true, Some(status), format!("connected: {n} models listed")),
        Ok(Ok((status, None))) => (true, Some(status), "connected".to_string()),
        Ok(Err(e)) => {
            let status = e.metadata.as_ref().is_some_and(|m| m.get("raw").is_some());
            (false, status.then_some(e.status), e.message)
        }
        Err(_) => (
            false,
            None,
            format!("{}: no answer within {}s", p.id, TEST_TIMEOUT.as_secs()),
        ),
    };
    json!({"ok": ok, "status": status, "message": message, "latency_ms": latency_ms})
}

pub async fn test(Path(id): Path<String>, call: Call) -> Response {
    let cfg = call.app().config();
    let r = match App::provider(&cfg, &id) {
        Ok(p) => ok(run_test(call.app(), p).await),
        Err(e) => Err(e),
    };
    call.reply(r)
}

/// A provider the UI offers to add with one click.
struct Preset {
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    base_url: &'static str,
    api_key_env: Option<&'static str>,
    needs_key: bool,
}

const fn preset(
    id: &'static str,
    label: &'static str,
    kind: &'static str,
    base_url: &'static str,
    api_key_env: Option<&'static str>,
    needs_key: bool,
) -> Preset {
    Preset {
        id,
        label,
        kind,
        base_url,
        api_key_env,
        needs_key,
    }
}

#[rustfmt::skip]
const PRESETS: &[Preset] = &[
    preset("openai", "OpenAI", "openai", "https://api.openai.com/v1", Some("OPENAI_API_KEY"), true),
    preset("anthropic", "Anthropic", "anthropic", "https://api.anthropic.com", Some("ANTHROPIC_API_KEY"), true),
    preset("gemini", "Google Gemini", "gemini", "https://generativelanguage.googleapis.com", Some("GEMINI_API_KEY"), true),
    preset("openrouter", "OpenRouter", "openai", "https://openrouter.ai/api/v1", Some("OPENROUTER_API_KEY"), true),
    preset("groq", "Groq", "openai", "https://api.groq.com/openai/v1", Some("GROQ_API_KEY"), true),
    preset("deepseek", "DeepSeek", "openai", "https://api.deepseek.com", Some("DEEPSEEK_API_KEY"), true),
    preset("mistral", "Mistral", "openai", "https://api.mistral.ai/v1", Some("MISTRAL_API_KEY"), true),
    preset("xai", "xAI", "openai", "https://api.x.ai/v1", Some("XAI_API_KEY"), true),
    preset("together", "Together AI", "openai", "https://api.together.xyz/v1", Some("TOGETHER_API_KEY"), true),
    preset("ollama", "Ollama (local)", "openai", "http://127.0.0.1:11434/v1", None, false),
    preset("lmstudio", "LM Studio (local)", "openai", "http://127.0.0.1:1234/v1", None, false),
    preset("custom", "Custom OpenAI-compatible", "openai", "", None, false),
];

pub async fn presets(call: Call) -> Response {
    let data: Vec<Value> = PRESETS
        .iter()
        .map(|p| {
            json!({
                "id": p.id,
                "label": p.label,
                "kind": p.kind,
                "base_url": p.base_url,
                "api_key_env": p.api_key_env,
                "needs_key": p.needs_key,
            })
        })
        .collect();
    call.reply(ok(json!({ "data": data })))
}
