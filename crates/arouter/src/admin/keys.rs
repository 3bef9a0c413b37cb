//! `/api/v1/keys` and `/api/v1/key`: OpenRouter's key object plus ARouter's rpm / admin flags,
//! with spend per UTC day, week and month.

use super::{amount, boolean, created, field, ok, only, string, time, usd, Call, Field};
use arouter_core::catalog::usd_to_pusd;
use arouter_core::error::ApiError;
use arouter_core::record::now_ms;
use arouter_core::store::KeyInfo;
use arouter_store::{KeyMeta, KeyPatch, KeyUsage, ManageStore, LIMIT_RESETS};
use axum::extract::Path;
use axum::response::Response;
use serde_json::{json, Map, Value};

/// A key with what the JSON needs beside `KeyInfo`.
struct KeyView {
    info: KeyInfo,
    meta: Option<KeyMeta>,
    usage: KeyUsage,
}

fn load_view(store: &dyn ManageStore, info: KeyInfo) -> anyhow::Result<KeyView> {
    let meta = store.key_meta(&info.hash)?;
    let usage = store.key_usage(&info.hash, &time::window_starts(now_ms()))?;
    Ok(KeyView { info, meta, usage })
}

fn find(store: &dyn ManageStore, hash: &str) -> anyhow::Result<Option<KeyView>> {
    let info = store.list_keys()?.into_iter().find(|k| k.hash == hash);
    info.map(|i| load_view(store, i)).transpose()
}

fn not_found(hash: &str) -> ApiError {
    ApiError::not_found(format!("no key with hash \"{hash}\""))
}

fn key_json(v: &KeyView) -> Value {
    let k = &v.info;
    let reset = v.meta.as_ref().and_then(|m| m.limit_reset.clone());
    let window_usage = match reset.as_deref() {
        Some("daily") => v.usage.daily_pusd,
        Some("weekly") => v.usage.weekly_pusd,
        Some("monthly") => v.usage.monthly_pusd,
        _ => v.usage.total_pusd,
    };
    json!({
        "hash": k.hash,
        "name": k.name,
        "label": v.meta.as_ref().map(|m| m.label.clone()),
        "disabled": k.disabled,
        "limit": k.limit_pusd.map(usd),
        "limit_remaining": k.limit_pusd.map(|l| usd((l - window_usage).max(0))),
        "limit_reset": reset,
        "usage": usd(v.usage.total_pusd),
        "usage_daily": usd(v.usage.daily_pusd),
        "usage_weekly": usd(v.usage.weekly_pusd),
        "usage_monthly": usd(v.usage.monthly_pusd),
        "created_at": time::iso_secs(k.created_at),
        "updated_at": time::iso_secs(v.meta.as_ref().map_or(k.created_at, |m| m.updated_at)),
        "rpm": k.rpm,
        "admin": k.admin,
        "proxy": k.may_proxy(),
    })
}

fn limit_reset(body: &Map<String, Value>) -> Result<Field<String>, ApiError> {
    field(
        body,
        "limit_reset",
        "\"daily\", \"weekly\", \"monthly\" or null",
        |v| {
            v.as_str()
                .filter(|s| LIMIT_RESETS.contains(s))
                .map(str::to_string)
        },
    )
}

fn rpm(body: &Map<String, Value>) -> Result<Field<u32>, ApiError> {
    field(body, "rpm", "a positive integer or null", |v| {
        v.as_u64()
            .filter(|n| *n > 0)
            .and_then(|n| u32::try_from(n).ok())
    })
}

fn name(body: &Map<String, Value>) -> Result<Field<String>, ApiError> {
    match string(body, "name")? {
        Field::Set(n) if n.trim().is_empty() => {
            Err(ApiError::bad_request("name: must not be empty"))
        }
        Field::Set(n) => Ok(Field::Set(n.trim().to_string())),
        Field::Null => Err(ApiError::bad_request("name: must not be null")),
        Field::Absent => Ok(Field::Absent),
    }
}

fn name_taken(store: &dyn ManageStore, name: &str, except: &str) -> anyhow::Result<bool> {
    Ok(store
        .list_keys()?
        .iter()
        .any(|k| k.name == name && k.hash != except))
}

fn conflict(name: &str) -> ApiError {
    ApiError::bad_request(format!("name: a key named \"{name}\" already exists")).with_status(409)
}

pub async fn list(call: Call) -> Response {
    let r = call
        .blocking(|s| {
            s.list_keys()?
                .into_iter()
                .map(|k| load_view(s, k))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await
        .and_then(|views| ok(json!({"data": views.iter().map(key_json).collect::<Vec<_>>()})));
    call.reply(r)
}

pub async fn get_one(Path(hash): Path<String>, call: Call) -> Response {
    let r = async {
        let h = hash.clone();
        let view = call.blocking(move |s| find(s, &h)).await?;
        let view = view.ok_or_else(|| not_found(&hash))?;
        ok(json!({"data": key_json(&view)}))
    }
    .await;
    call.reply(r)
}

/// `GET /api/v1/key`: the calling key, app or admin.
pub async fn current(call: Call<false>) -> Response {
    let info = call.ctx.caller.key.clone();
    let r = call
        .blocking(move |s| load_view(s, info))
        .await
        .and_then(|v| ok(json!({"data": key_json(&v)})));
    call.reply(r)
}

pub async fn create(mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(
            &body,
            &["name", "limit", "limit_reset", "rpm", "admin", "proxy"],
        )?;
        let proxy = boolean(&body, "proxy")?.value();
        let name = name(&body)?.required("name")?;
        let limit = amount(&body, "limit")?.value().map(usd_to_pusd);
        let reset = limit_reset(&body)?.value();
        let rpm = rpm(&body)?.value();
        let admin = boolean(&body, "admin")?.value().unwrap_or(false);
        let created_key = call
            .blocking(move |s| {
                if name_taken(s, &name, "")? {
                    return Ok(Err(conflict(&name)));
                }
                let (raw, info) = s.create_key(&name, admin, rpm, limit)?;
                s.set_key_limit_reset(&info.hash, reset.as_deref())?;
                let info = match proxy {
                    Some(p) => {
                        s.set_key_proxy(&info.hash, Some(p))?;
                        KeyInfo {
                            proxy: Some(p),
                            ..info
                        }
                    }
                    None => info,
                };
                Ok(Ok((raw, load_view(s, info)?)))
            })
            .await??;
        let (raw, view) = created_key;
        created(json!({"data": key_json(&view), "key": raw}))
    }
    .await;
    call.reply(r)
}

pub async fn update(Path(hash): Path<String>, mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(
            &body,
            &["name", "disabled", "limit", "limit_reset", "rpm", "proxy"],
        )?;
        let proxy = boolean(&body, "proxy")?.patch();
        let patch = KeyPatch {
            name: name(&body)?.value(),
            disabled: match boolean(&body, "disabled")? {
                Field::Null => return Err(ApiError::bad_request("disabled: must not be null")),
                f => f.value(),
            },
            rpm: rpm(&body)?.patch(),
            limit_pusd: amount(&body, "limit")?.patch().map(|l| l.map(usd_to_pusd)),
        };
        let reset = limit_reset(&body)?.patch();
        let h = hash.clone();
        let updated = call
            .blocking(move |s| {
                if let Some(n) = &patch.name {
                    if name_taken(s, n, &h)? {
                        return Ok(Err(conflict(n)));
                    }
                }
                let Some(mut info) = s.update_key(&h, &patch)? else {
                    return Ok(Err(not_found(&h)));
                };
                if let Some(p) = proxy {
                    s.set_key_proxy(&h, p)?;
                    info.proxy = p;
                }
                if let Some(reset) = reset {
                    s.set_key_limit_reset(&h, reset.as_deref())?;
                }
                Ok(Ok(load_view(s, info)?))
            })
            .await??;
        ok(json!({"data": key_json(&updated)}))
    }
    .await;
    call.reply(r)
}

pub async fn delete(Path(hash): Path<String>, call: Call) -> Response {
    let r = async {
        let h = hash.clone();
        if call.blocking(move |s| s.delete_key(&h)).await? {
            ok(json!({"deleted": true}))
        } else {
            Err(not_found(&hash))
        }
    }
    .await;
    call.reply(r)
}
