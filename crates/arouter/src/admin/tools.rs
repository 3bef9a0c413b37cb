//! `/api/v1/tools`: the agent CLIs ARouter can connect (status, connect, disconnect), for the
//! web UI's "Your tools" card and the tray.

use super::{ok, only, string, Call};
use crate::connect::{self, Env, Request};
use arouter_core::error::ApiError;
use axum::extract::Path;
use axum::http::header::HOST;
use axum::response::Response;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The URL tools should call: the address this request reached (loopback, checked by the Host
/// guard), else the configured port.
fn base_url(call: &Call) -> String {
    call.ctx
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(|h| format!("http://{h}"))
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", call.ctx.cfg.server.port))
}

fn env() -> Result<Env, ApiError> {
    Env::current().map_err(|e| ApiError::internal(format!("{e:#}")))
}

fn known(id: &str) -> Result<(), ApiError> {
    match connect::tools::find(id) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!(
            "unknown tool \"{id}\" (known: {})",
            connect::tools::ids()
        ))),
    }
}

fn slots(body: &Map<String, Value>) -> Result<BTreeMap<String, String>, ApiError> {
    match body.get("slots") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => Ok((k.clone(), s.to_string())),
                None => Err(ApiError::bad_request(format!(
                    "slots.{k}: expected a string"
                ))),
            })
            .collect(),
        Some(_) => Err(ApiError::bad_request(
            "slots: expected an object of slot name to model",
        )),
    }
}

pub async fn list(call: Call) -> Response {
    let base = base_url(&call);
    let data_dir = call.app().data_dir.clone();
    let models = connect::chat_models(&call.app().config());
    let r = async {
        let env = env()?;
        let list = call
            .blocking(move |s| Ok(connect::status(s, &data_dir, &env)))
            .await?;
        ok(json!({
            "data": list,
            // What the model pickers offer: aliases and models that can answer a chat.
            "models": models,
            // What GUI editors with no config file (Cursor and the like) are given to paste.
            "manual": {
                "openai_base_url": format!("{base}/v1"),
                "anthropic_base_url": base,
                "gemini_base_url": base,
            },
        }))
    }
    .await;
    call.reply(r)
}

pub async fn connect(Path(id): Path<String>, mut call: Call) -> Response {
    let base = base_url(&call);
    let data_dir = call.app().data_dir.clone();
    let cfg = call.app().config();
    let r = async {
        known(&id)?;
        let body = if call.body_is_empty() {
            Map::new()
        } else {
            call.json().await?
        };
        only(&body, &["model", "slots", "key_name"])?;
        let req = Request {
            model: string(&body, "model")?.value().filter(|m| !m.is_empty()),
            slots: slots(&body)?,
            key_name: string(&body, "key_name")?.value().filter(|m| !m.is_empty()),
        };
        let env = env()?;
        let out = call
            .blocking(move |s| {
                let ctx = connect::Ctx {
                    store: s,
                    data_dir: &data_dir,
                    cfg: &cfg,
                    base,
                    env: &env,
                };
                Ok(connect::connect(&ctx, &id, &req).map_err(|e| format!("{e:#}")))
            })
            .await?
            .map_err(ApiError::bad_request)?;
        ok(json!({"data": out}))
    }
    .await;
    call.reply(r)
}

pub async fn disconnect(Path(id): Path<String>, call: Call) -> Response {
    let base = base_url(&call);
    let data_dir = call.app().data_dir.clone();
    let cfg = call.app().config();
    let r = async {
        known(&id)?;
        let env = env()?;
        let out = call
            .blocking(move |s| {
                let ctx = connect::Ctx {
                    store: s,
                    data_dir: &data_dir,
                    cfg: &cfg,
                    base,
                    env: &env,
                };
                Ok(connect::disconnect(&ctx, &id).map_err(|e| format!("{e:#}")))
            })
            .await?
            .map_err(ApiError::bad_request)?;
        ok(json!({"data": out}))
    }
    .await;
    call.reply(r)
}
