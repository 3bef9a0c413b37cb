//! The Anthropic mock's Message Batches API: create, list, retrieve, cancel, results (JSONL)
//! and delete, with Anthropic's object shapes and errors.
//!
//! Lifecycle: a batch is created `in_progress`; the first retrieve after that processes it
//! (each request consumes one script behavior, as `POST /v1/messages` would) and reports it
//! `ended`. Canceling an `in_progress` batch makes it `canceling`; the next retrieve ends it
//! with every request canceled.

use super::anthropic::{batch_message, error};
use super::{unix_now, RecordedRequest, Reply, State};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{json, Value};

/// Every batch of one mock, oldest first.
#[derive(Default)]
pub(crate) struct Batches(Mutex<Vec<Batch>>);

struct Batch {
    id: String,
    status: &'static str,
    created: u64,
    ended: Option<u64>,
    cancel_initiated: Option<u64>,
    /// (custom_id, params, result once processed).
    requests: Vec<(String, Value, Option<Value>)>,
}

pub(super) fn respond(state: &State, method: &str, path: &str, req: &RecordedRequest) -> Reply {
    let rest = path.trim_start_matches("/v1/messages/batches");
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    match (method, parts.as_slice()) {
        ("POST", []) => create(state, req),
        ("GET", []) => list(state),
        ("GET", [id]) => with_batch(state, id, |b| {
            advance(state, b);
            Reply::json(200, &render(b))
        }),
        ("POST", [id, "cancel"]) => with_batch(state, id, |b| {
            if b.status == "in_progress" {
                b.status = "canceling";
                b.cancel_initiated = Some(unix_now());
            }
            Reply::json(200, &render(b))
        }),
        ("GET", [id, "results"]) => with_batch(state, id, results),
        ("DELETE", [id]) => delete(state, id),
        _ => error(404, "not_found_error", "Not Found"),
    }
}

fn invalid(message: &str) -> Reply {
    error(400, "invalid_request_error", message)
}

fn create(state: &State, req: &RecordedRequest) -> Reply {
    let Some(requests) = req
        .json
        .as_ref()
        .and_then(|b| b.get("requests"))
        .and_then(Value::as_array)
    else {
        return invalid("requests: Field required");
    };
    if requests.is_empty() {
        return invalid("requests: List should have at least 1 item after validation, not 0");
    }
    let mut parsed = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        let Some(custom_id) = r.get("custom_id").and_then(Value::as_str) else {
            return invalid(&format!("requests.{i}.custom_id: Field required"));
        };
        if parsed.iter().any(|(c, _, _)| c == custom_id) {
            return invalid(&format!(
                "requests.{i}: custom_id `{custom_id}` is not unique within the batch"
            ));
        }
        let Some(params) = r.get("params").filter(|p| p.is_object()) else {
            return invalid(&format!("requests.{i}.params: Field required"));
        };
        parsed.push((custom_id.to_owned(), params.clone(), None));
    }
    let batch = Batch {
        id: format!("msgbatch_mock{:020}", state.next_seq()),
        status: "in_progress",
        created: unix_now(),
        ended: None,
        cancel_initiated: None,
        requests: parsed,
    };
    let body = render(&batch);
    state.batches.0.lock().push(batch);
    Reply::json(200, &body)
}

fn with_batch(state: &State, id: &str, f: impl FnOnce(&mut Batch) -> Reply) -> Reply {
    let mut batches = state.batches.0.lock();
    match batches.iter_mut().find(|b| b.id == id) {
        Some(b) => f(b),
        None => error(
            404,
            "not_found_error",
            &format!("Message Batch {id} not found"),
        ),
    }
}

/// Processes an `in_progress` batch, or finishes canceling one.
fn advance(state: &State, b: &mut Batch) {
    match b.status {
        "in_progress" => {
            for (_, params, result) in &mut b.requests {
                *result = Some(match batch_message(state, params) {
                    Ok(message) => json!({"type": "succeeded", "message": message}),
                    Err(error) => json!({"type": "errored", "error": error}),
                });
            }
        }
        "canceling" => {
            for (_, _, result) in &mut b.requests {
                result.get_or_insert_with(|| json!({"type": "canceled"}));
            }
        }
        _ => return,
    }
    b.status = "ended";
    b.ended = Some(unix_now());
}

fn count(b: &Batch, kind: &str) -> usize {
    if b.status != "ended" {
        return 0;
    }
    b.requests
        .iter()
        .filter(|(_, _, r)| r.as_ref().and_then(|r| r["type"].as_str()) == Some(kind))
        .count()
}

/// The `message_batch` object; counts move out of `processing` only once the batch ended.
fn render(b: &Batch) -> Value {
    let ended = b.status == "ended";
    json!({
        "id": b.id,
        "type": "message_batch",
        "processing_status": b.status,
        "request_counts": {
            "processing": if ended { 0 } else { b.requests.len() },
            "succeeded": count(b, "succeeded"),
            "errored": count(b, "errored"),
            "canceled": count(b, "canceled"),
            "expired": count(b, "expired"),
        },
        "ended_at": b.ended.map(rfc3339),
        "created_at": rfc3339(b.created),
        "expires_at": rfc3339(b.created + 86_400),
        "archived_at": null,
        "cancel_initiated_at": b.cancel_initiated.map(rfc3339),
        "results_url": ended.then(|| format!("https://api.anthropic.com/v1/messages/batches/{}/results", b.id)),
    })
}

fn results(b: &mut Batch) -> Reply {
    if b.status != "ended" {
        return invalid(&format!(
            "Message Batch {} has not yet ended processing.",
            b.id
        ));
    }
    let mut out = String::new();
    for (custom_id, _, result) in &b.requests {
        out.push_str(&json!({"custom_id": custom_id, "result": result}).to_string());
        out.push('\n');
    }
    Reply::Full {
        status: 200,
        headers: Vec::new(),
        content_type: "application/binary",
        body: Bytes::from(out),
    }
}

fn list(state: &State) -> Reply {
    let batches = state.batches.0.lock();
    let data: Vec<Value> = batches.iter().rev().map(render).collect();
    let first = data.first().map(|v| v["id"].clone());
    let last = data.last().map(|v| v["id"].clone());
    Reply::json(
        200,
        &json!({"data": data, "has_more": false, "first_id": first, "last_id": last}),
    )
}

fn delete(state: &State, id: &str) -> Reply {
    let mut batches = state.batches.0.lock();
    let Some(pos) = batches.iter().position(|b| b.id == id) else {
        return error(
            404,
            "not_found_error",
            &format!("Message Batch {id} not found"),
        );
    };
    if batches[pos].status != "ended" {
        return invalid(&format!(
            "Message Batch {id} cannot be deleted while it is processing. Cancel it first."
        ));
    }
    batches.remove(pos);
    Reply::json(200, &json!({"id": id, "type": "message_batch_deleted"}))
}

/// Unix seconds → `2024-08-20T18:37:24.000000Z` (UTC, days-to-civil conversion).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000000Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_724_179_044), "2024-08-20T18:37:24.000000Z");
    }
}
