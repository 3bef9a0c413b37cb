//! Usage and history: totals per group, per-day stacks, the CSV export, the request log and
//! one request with its bodies and failed attempts.

use super::{ok, time, usd, Call};
use arouter_core::catalog::pusd_to_decimal;
use arouter_core::error::ApiError;
use arouter_core::store::StoredJson;
use arouter_store::{GroupBy, LoggedRequest, RequestFilter, UsageRow};
use axum::extract::Path;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

fn group_by(call: &Call, default: GroupBy, allow_day: bool) -> Result<GroupBy, ApiError> {
    let Some(v) = call.param("by") else {
        return Ok(default);
    };
    let by: GroupBy = v
        .parse()
        .map_err(|e: String| ApiError::bad_request(format!("by: {e}")))?;
    if by == GroupBy::Day && !allow_day {
        return Err(ApiError::bad_request(
            "by: expected app, model, provider or key (rows are already per day)",
        ));
    }
    Ok(by)
}

fn usage_fields(r: &UsageRow) -> serde_json::Map<String, Value> {
    let v = json!({
        "requests": r.requests,
        "errors": r.errors,
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "reasoning_tokens": r.reasoning_tokens,
        "cache_read_tokens": r.cache_read_tokens,
        "cache_write_tokens": r.cache_write_tokens,
        "cost": usd(r.cost_pusd),
        "unpriced": r.unpriced,
    });
    match v {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

/// Integer totals of every group (exact, summed before conversion to USD).
fn totals(rows: &[UsageRow]) -> UsageRow {
    rows.iter().fold(UsageRow::default(), |mut t, r| {
        t.requests += r.requests;
        t.errors += r.errors;
        t.input_tokens += r.input_tokens;
        t.output_tokens += r.output_tokens;
        t.reasoning_tokens += r.reasoning_tokens;
        t.cache_read_tokens += r.cache_read_tokens;
        t.cache_write_tokens += r.cache_write_tokens;
        t.cost_pusd += r.cost_pusd;
        t.unpriced += r.unpriced;
        t
    })
}

pub async fn summary(call: Call) -> Response {
    let r = async {
        let range = call.range()?;
        let by = group_by(&call, GroupBy::Model, true)?;
        let rows = call.blocking(move |s| s.usage_in_range(range, by)).await?;
        let data: Vec<Value> = rows
            .iter()
            .map(|r| {
                let mut m = serde_json::Map::new();
                m.insert("group".into(), r.group.clone().into());
                m.extend(usage_fields(r));
                Value::Object(m)
            })
            .collect();
        ok(json!({"data": data, "totals": usage_fields(&totals(&rows))}))
    }
    .await;
    call.reply(r)
}

pub async fn daily(call: Call) -> Response {
    let r = async {
        let range = call.range()?;
        let by = group_by(&call, GroupBy::Model, false)?;
        let rows = call.blocking(move |s| s.daily_usage(range, by)).await?;
        let data: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({
                    "day": r.day,
                    "group": r.group,
                    "requests": r.requests,
                    "input_tokens": r.input_tokens,
                    "output_tokens": r.output_tokens,
                    "cost": usd(r.cost_pusd),
                })
            })
            .collect();
        ok(json!({ "data": data }))
    }
    .await;
    call.reply(r)
}

/// The Request object of the log.
fn request_json(l: &LoggedRequest) -> Value {
    let r = &l.record;
    let u = &r.usage;
    json!({
        "id": r.id,
        "created_at": time::iso(r.created_ms),
        "app": r.app,
        "key_name": l.key_name,
        "surface": r.surface,
        "endpoint": r.endpoint,
        "requested_model": r.requested_model,
        "served_model": r.served_model,
        "provider": r.provider,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "cache_read_tokens": u.cache_read_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "cost": usd(r.cost_pusd),
        "priced": r.priced,
        "estimated": r.estimated,
        "latency_ms": r.latency_ms,
        "ttft_ms": r.ttft_ms,
        "streamed": r.streamed,
        "finish_reason": r.finish_reason,
        "status": r.status,
        "error": r.error,
        "attempt": r.attempt,
    })
}

fn bool_param(call: &Call, name: &str, yes: &str, no: &str) -> Result<Option<bool>, ApiError> {
    match call.param(name) {
        None => Ok(None),
        Some(v) if v == yes => Ok(Some(true)),
        Some(v) if v == no => Ok(Some(false)),
        Some(v) => Err(ApiError::bad_request(format!(
            "{name}: expected {yes} or {no}, not \"{v}\""
        ))),
    }
}

pub async fn list_requests(call: Call) -> Response {
    let r = async {
        let (limit, offset) = call.page()?;
        let filter = RequestFilter {
            range: call.range()?,
            app: call.param("app").map(str::to_string),
            model: call.param("model").map(str::to_string),
            provider: call.param("provider").map(str::to_string),
            ok: bool_param(&call, "status", "ok", "error")?,
            streamed: bool_param(&call, "streamed", "true", "false")?,
            limit,
            offset,
        };
        let (rows, total) = call.blocking(move |s| s.list_requests(&filter)).await?;
        ok(json!({"data": rows.iter().map(request_json).collect::<Vec<_>>(), "total": total}))
    }
    .await;
    call.reply(r)
}

pub async fn request_detail(Path(id): Path<String>, call: Call) -> Response {
    let r = async {
        let lookup = id.clone();
        let found = call.blocking(move |s| s.request_detail(&lookup)).await?;
        let (main, attempts) =
            found.ok_or_else(|| ApiError::not_found(format!("no request \"{id}\"")))?;
        let mut v = request_json(&main);
        let stored = |b: &Option<StoredJson>| b.as_ref().map_or(Value::Null, StoredJson::to_value);
        v["request"] = stored(&main.record.request_body);
        v["response"] = stored(&main.record.response_body);
        v["attempts"] = attempts.iter().map(request_json).collect();
        ok(json!({ "data": v }))
    }
    .await;
    call.reply(r)
}

/// One CSV field: text a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab or CR
/// first: app names come from request headers) gets a leading `'`; quoted when it holds a
/// separator, quote or line break.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

const CSV_HEADER: &str = "id,time,app,key,model,provider,input_tokens,output_tokens,\
reasoning_tokens,cache_read_tokens,cache_write_tokens,cost,status,estimated\r\n";

fn csv_line(l: &LoggedRequest) -> String {
    let r = &l.record;
    let u = &r.usage;
    let fields = [
        csv_field(&r.id),
        time::iso(r.created_ms),
        csv_field(&r.app),
        csv_field(l.key_name.as_deref().unwrap_or(&r.key_hash)),
        csv_field(&r.served_model),
        csv_field(&r.provider),
        u.input_tokens.to_string(),
        u.output_tokens.to_string(),
        u.reasoning_tokens.to_string(),
        u.cache_read_tokens.to_string(),
        u.cache_write_tokens.to_string(),
        pusd_to_decimal(r.cost_pusd),
        r.status.to_string(),
        r.estimated.to_string(),
    ];
    fields.join(",") + "\r\n"
}

/// Rows per page read for the CSV export.
const CSV_PAGE: i64 = 1000;

/// The CSV export, streamed: the window is read page by page on a blocking thread and each
/// page is sent as it is formatted (at most a few pages in memory, whatever the window).
pub async fn csv(call: Call) -> Response {
    let r = async {
        let range = call.range()?;
        let store = call.store.clone();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(4);
        tokio::task::spawn_blocking(move || {
            store.flush();
            if tx
                .blocking_send(Ok(bytes::Bytes::from_static(CSV_HEADER.as_bytes())))
                .is_err()
            {
                return;
            }
            let mut after: Option<(i64, String)> = None;
            loop {
                let page = match store.export_requests_page(range, after.as_ref(), CSV_PAGE) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!("CSV export stopped: {e:#}");
                        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                        return;
                    }
                };
                let mut out = String::with_capacity(page.len() * 128);
                for row in &page {
                    out.push_str(&csv_line(row));
                }
                after = page
                    .last()
                    .map(|l| (l.record.created_ms, l.record.id.clone()));
                if !out.is_empty() && tx.blocking_send(Ok(bytes::Bytes::from(out))).is_err() {
                    return; // The client left.
                }
                if (page.len() as i64) < CSV_PAGE {
                    return;
                }
            }
        });
        let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
        Ok((
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"arouter-usage.csv\""),
                ),
            ],
            axum::body::Body::from_stream(stream),
        )
            .into_response())
    }
    .await;
    call.reply(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn csv_formulas_are_neutralised() {
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-2"), "'-2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("my-app"), "my-app");
    }
}
