//! Money in OpenRouter's shapes: credits, balance, transactions (credits and per-request
//! charges) and daily activity per model and app. Sums are integer pico-USD until rendering.

use super::{amount, created, ok, only, string, time, usd, Call};
use arouter_core::catalog::usd_to_pusd;
use arouter_core::error::ApiError;
use arouter_store::TransactionFilter;
use axum::response::Response;
use serde_json::{json, Value};

pub async fn credits(call: Call) -> Response {
    let r = async {
        let (credits, usage) = call
            .blocking(|s| Ok((s.credits_total()?, s.usage_total()?)))
            .await?;
        ok(json!({"data": {"total_credits": usd(credits), "total_usage": usd(usage)}}))
    }
    .await;
    call.reply(r)
}

pub async fn add_credit(mut call: Call) -> Response {
    let r = async {
        let body = call.json().await?;
        only(&body, &["amount", "note"])?;
        let amount = usd_to_pusd(amount(&body, "amount")?.required("amount")?);
        if amount <= 0 {
            return Err(ApiError::bad_request("amount: must be more than 0 USD"));
        }
        let note = string(&body, "note")?.value().unwrap_or_default();
        let c = call.blocking(move |s| s.add_credit(amount, &note)).await?;
        created(json!({"data": {
            "id": format!("credit-{}", c.id),
            "amount": usd(c.amount_pusd),
            "note": c.note,
            "created_at": time::iso(c.created_ms),
        }}))
    }
    .await;
    call.reply(r)
}

pub async fn balance(call: Call) -> Response {
    let r = async {
        let (credits, usage) = call
            .blocking(|s| Ok((s.credits_total()?, s.usage_total()?)))
            .await?;
        ok(json!({"data": {
            "credits": usd(credits),
            "usage": usd(usage),
            "remaining": usd(credits - usage),
        }}))
    }
    .await;
    call.reply(r)
}

pub async fn transactions(call: Call) -> Response {
    let r = async {
        let (limit, offset) = call.page()?;
        let filter = TransactionFilter {
            range: call.range()?,
            key: call.param("key").map(str::to_string),
            app: call.param("app").map(str::to_string),
            limit,
            offset,
        };
        let (rows, total) = call.blocking(move |s| s.transactions(&filter)).await?;
        let data: Vec<Value> = rows
            .iter()
            .map(|t| {
                if t.is_credit {
                    json!({
                        "id": t.id,
                        "type": "credit",
                        "amount": usd(t.amount_pusd),
                        "created_at": time::iso(t.created_ms),
                        "note": t.note,
                    })
                } else {
                    json!({
                        "id": t.id,
                        "type": "charge",
                        "amount": usd(t.amount_pusd),
                        "created_at": time::iso(t.created_ms),
                        "model": t.model,
                        "app": t.app,
                        "key_name": t.key_name,
                    })
                }
            })
            .collect();
        ok(json!({"data": data, "total": total}))
    }
    .await;
    call.reply(r)
}

pub async fn activity(call: Call) -> Response {
    let r = async {
        let range = call.range()?;
        let rows = call.blocking(move |s| s.activity(range)).await?;
        let data: Vec<Value> = rows
            .iter()
            .map(|a| {
                json!({
                    "date": a.date,
                    "model": a.model,
                    "app": a.app,
                    "requests": a.requests,
                    "prompt_tokens": a.prompt_tokens,
                    "completion_tokens": a.completion_tokens,
                    "reasoning_tokens": a.reasoning_tokens,
                    "usage": usd(a.usage_pusd),
                })
            })
            .collect();
        ok(json!({ "data": data }))
    }
    .await;
    call.reply(r)
}
