//! Routing settings (default model, aliases, content logging), the routable catalog and
//! per-model price overrides; every change is a validated edit of `config.toml`.

use super::providers::edit;
use super::{amount, boolean, field, ok, only, string, string_list, Call};
use arouter_core::app::App;
use arouter_core::catalog;
use arouter_core::config::ModelOverride;
use arouter_core::config_edit::Edit;
use arouter_core::error::ApiError;
use arouter_core::http::models::{model_object, routable};
use axum::extract::Path;
use axum::response::Response;
use serde_json::{json, Value};
use std::sync::Arc;

fn settings_json(app: &Arc<App>) -> Value {
    let cfg = app.config();
    let s = &cfg.server;
    json!({
        "default_model": cfg.default_model,
        "aliases": cfg.aliases,
        "server": {
            "host": s.host,
            "port": s.port,
            "store_content": s.store_content,
            "max_body_mb": s.max_body_bytes / (1024 * 1024),
        },
        "ledger": {
            "rows_lost": app.store.lost_records(),
            "rows_without_bodies": app.store.rows_without_bodies(),
        },
        "data_dir": app.data_dir.display().to_string(),
        "config_path": app.config_path.display().to_string(),
        "version": env!("CARGO_PKG_VERSION"),
    })
}

pub async fn get_settings(call: Call) -> Response {
    call.reply(ok(settings_json(call.app())))
}

pub async fn set_default_model(mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(&body, &["model"])?;
        let model = string(&body, "model")?.patch().ok_or_else(|| {
            ApiError::bad_request("model: required (a model id, an alias or null)")
        })?;
        let model = model.map(|m| m.trim().to_string());
        edit(call.app(), Edit::DefaultModel(model)).await?;
        ok(settings_json(call.app()))
    }
    .await;
    call.reply(r)
}

pub async fn set_alias(Path(name): Path<String>, mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(&body, &["models"])?;
        let models = string_list(&body, "models")?.required("models")?;
        if models.is_empty() {
            return Err(ApiError::bad_request(
                "models: an alias needs at least one model id",
            ));
        }
        edit(call.app(), Edit::SetAlias { name, models }).await?;
        ok(settings_json(call.app()))
    }
    .await;
    call.reply(r)
}

pub async fn delete_alias(Path(name): Path<String>, call: Call) -> Response {
    let r = async {
        edit(call.app(), Edit::RemoveAlias(name)).await?;
        ok(settings_json(call.app()))
    }
    .await;
    call.reply(r)
}

pub async fn patch_settings(mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(&body, &["store_content"])?;
        if body.get("store_content").is_some_and(Value::is_null) {
            return Err(ApiError::bad_request("store_content: must not be null"));
        }
        if let Some(on) = boolean(&body, "store_content")?.value() {
            edit(call.app(), Edit::StoreContent(on)).await?;
        }
        ok(settings_json(call.app()))
    }
    .await;
    call.reply(r)
}

pub async fn catalog(call: Call) -> Response {
    let cfg = call.app().config();
    let data: Vec<Value> = routable(&cfg)
        .iter()
        .map(|(id, (pricing, provider))| model_object(id, pricing, provider))
        .collect();
    call.reply(ok(json!({ "data": data })))
}

pub async fn set_override(
    Path((provider, model)): Path<(String, String)>,
    mut call: Call,
) -> Response {
    let r = async {
        let body = call.json().await?;
        only(
            &body,
            &[
                "input_per_mtok",
                "output_per_mtok",
                "cache_read_per_mtok",
                "cache_write_per_mtok",
                "context_length",
            ],
        )?;
        let o = ModelOverride {
            input_per_mtok: Some(amount(&body, "input_per_mtok")?.required("input_per_mtok")?),
            output_per_mtok: Some(amount(&body, "output_per_mtok")?.required("output_per_mtok")?),
            cache_read_per_mtok: amount(&body, "cache_read_per_mtok")?.value(),
            cache_write_per_mtok: amount(&body, "cache_write_per_mtok")?.value(),
            context_length: field(&body, "context_length", "a positive integer", |v| {
                v.as_u64().filter(|n| *n > 0)
            })?
            .value(),
            ..Default::default()
        };
        let id = format!("{provider}/{model}");
        edit(
            call.app(),
            Edit::SetModelOverride {
                id: id.clone(),
                model: o,
            },
        )
        .await?;
        let cfg = call.app().config();
        let p = App::provider(&cfg, &provider)?;
        let pricing = catalog::pricing(&cfg, p, &model);
        ok(json!({"data": model_object(&id, &pricing, &provider)}))
    }
    .await;
    call.reply(r)
}

pub async fn delete_override(
    Path((provider, model)): Path<(String, String)>,
    call: Call,
) -> Response {
    let r = async {
        edit(
            call.app(),
            Edit::RemoveModelOverride(format!("{provider}/{model}")),
        )
        .await?;
        ok(json!({"deleted": true}))
    }
    .await;
    call.reply(r)
}
