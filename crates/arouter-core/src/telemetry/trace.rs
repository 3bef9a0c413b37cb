//! One request's spans as the recorder sees it: the request (server span) and its upstream
//! attempts (client spans, children of it), with GenAI attributes from the ledger row.

use super::{Kind, Span, Value};
use crate::error::ApiError;
use crate::store::UsageRecord;
use rand::RngCore;

/// Prompt/response text put on a span at most (the rest is cut).
const MAX_CONTENT: usize = 32 * 1024;

pub fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn span_id() -> [u8; 8] {
    let mut id = [0u8; 8];
    while id == [0; 8] {
        rand::thread_rng().fill_bytes(&mut id);
    }
    id
}

struct Attempt {
    id: [u8; 8],
    start_ns: u64,
    provider: String,
    model: String,
    index: u32,
}

/// The spans of one request, built as it goes.
pub struct Trace {
    trace_id: [u8; 16],
    root: [u8; 8],
    start_ns: u64,
    operation: &'static str,
    content: bool,
    open: Option<Attempt>,
    attempts: u32,
    spans: Vec<Span>,
}

impl Trace {
    pub fn start(operation: &'static str, content: bool) -> Trace {
        let mut trace_id = [0u8; 16];
        while trace_id == [0; 16] {
            rand::thread_rng().fill_bytes(&mut trace_id);
        }
        Trace {
            trace_id,
            root: span_id(),
            start_ns: unix_ns(),
            operation,
            content,
            open: None,
            attempts: 0,
            spans: Vec::new(),
        }
    }

    /// An attempt begins (the previous one, if still open, ends unremarked).
    pub fn attempt(&mut self, provider: &str, served_model: &str) {
        self.close(None, Vec::new());
        self.open = Some(Attempt {
            id: span_id(),
            start_ns: unix_ns(),
            provider: provider.to_string(),
            model: served_model.to_string(),
            index: self.attempts,
        });
        self.attempts += 1;
    }

    /// The open attempt failed.
    pub fn attempt_failed(&mut self, e: &ApiError) {
        let attrs = vec![
            ("error.type", Value::Str(e.error_type().into())),
            ("http.response.status_code", Value::Int(e.status.into())),
        ];
        self.close(Some(e.message.clone()), attrs);
    }

    fn close(&mut self, error: Option<String>, extra: Vec<(&'static str, Value)>) {
        let Some(a) = self.open.take() else {
            return;
        };
        let mut attributes = vec![
            ("gen_ai.operation.name", Value::Str(self.operation.into())),
            ("gen_ai.provider.name", Value::Str(a.provider)),
            ("gen_ai.request.model", Value::Str(a.model.clone())),
            ("arouter.attempt", Value::Int(a.index.into())),
        ];
        attributes.extend(extra);
        self.spans.push(Span {
            trace_id: self.trace_id,
            span_id: a.id,
            parent: Some(self.root),
            name: format!("{} {}", self.operation, a.model),
            kind: Kind::Client,
            start_ns: a.start_ns,
            end_ns: unix_ns(),
            attributes,
            error,
        });
    }

    /// Ends the request with its final ledger row; returns every span (attempts first).
    pub fn finish(mut self, r: &UsageRecord, key_name: &str) -> Vec<Span> {
        let failed = r.status >= 400;
        let error = failed.then(|| r.error.clone().unwrap_or_else(|| r.status.to_string()));
        let mut outcome = usage_attributes(r);
        if failed {
            outcome.push(("error.type", Value::Str(r.status.to_string())));
        }
        outcome.push(("http.response.status_code", Value::Int(r.status.into())));
        self.close(error.clone(), outcome.clone());
        let mut attributes = vec![
            ("gen_ai.operation.name", Value::Str(self.operation.into())),
            (
                "gen_ai.request.model",
                Value::Str(r.requested_model.clone()),
            ),
            ("arouter.generation_id", Value::Str(r.id.clone())),
            ("arouter.app", Value::Str(r.app.clone())),
            ("arouter.key_name", Value::Str(key_name.into())),
            ("arouter.surface", Value::Str(r.surface.clone())),
            ("arouter.attempts", Value::Int(self.attempts.into())),
        ];
        if !r.provider.is_empty() {
            attributes.push(("gen_ai.provider.name", Value::Str(r.provider.clone())));
        }
        attributes.extend(outcome);
        if self.content {
            for (name, body) in [
                ("arouter.request.body", &r.request_body),
                ("arouter.response.body", &r.response_body),
            ] {
                if let Some(b) = body {
                    let text = String::from_utf8_lossy(&b.0[..b.0.len().min(MAX_CONTENT)]);
                    attributes.push((name, Value::Str(text.into_owned())));
                }
            }
        }
        let name = format!("{} {}", self.operation, r.requested_model);
        self.spans.push(Span {
            trace_id: self.trace_id,
            span_id: self.root,
            parent: None,
            name,
            kind: Kind::Server,
            start_ns: self.start_ns,
            end_ns: unix_ns(),
            attributes,
            error,
        });
        self.spans
    }
}

/// What the response says: model, id, finish reason, usage and cost.
fn usage_attributes(r: &UsageRecord) -> Vec<(&'static str, Value)> {
    let mut a = Vec::with_capacity(10);
    if !r.served_model.is_empty() {
        a.push(("gen_ai.response.model", Value::Str(r.served_model.clone())));
    }
    a.push(("gen_ai.response.id", Value::Str(r.id.clone())));
    if let Some(f) = &r.finish_reason {
        a.push((
            "gen_ai.response.finish_reasons",
            Value::Strs(vec![f.clone()]),
        ));
    }
    let u = &r.usage;
    for (k, v) in [
        ("gen_ai.usage.input_tokens", u.input_tokens),
        ("gen_ai.usage.output_tokens", u.output_tokens),
        ("gen_ai.usage.cache_read.input_tokens", u.cache_read_tokens),
        (
            "gen_ai.usage.cache_creation.input_tokens",
            u.cache_write_tokens,
        ),
        ("arouter.usage.reasoning_tokens", u.reasoning_tokens),
    ] {
        a.push((k, Value::Int(v.min(i64::MAX as u64) as i64)));
    }
    a.push((
        "arouter.cost_usd",
        Value::F64(crate::catalog::pusd_to_usd(r.cost_pusd)),
    ));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_are_children_of_the_request() {
        let mut t = Trace::start("chat", false);
        t.attempt("a", "a/m");
        t.attempt_failed(&ApiError::new(crate::error::ErrorKind::Timeout, "slow"));
        t.attempt("b", "b/m");
        let r = UsageRecord {
            id: "gen-1".into(),
            status: 200,
            provider: "b".into(),
            served_model: "b/m".into(),
            requested_model: "fast".into(),
            finish_reason: Some("stop".into()),
            ..Default::default()
        };
        let spans = t.finish(&r, "k");
        assert_eq!(spans.len(), 3);
        let root = &spans[2];
        assert_eq!(root.parent, None);
        assert_eq!(root.name, "chat fast");
        assert!(spans[..2].iter().all(|s| s.parent == Some(root.span_id)
            && s.trace_id == root.trace_id
            && s.kind == Kind::Client));
        assert!(spans[0].error.is_some() && spans[1].error.is_none());
        assert!(spans[1]
            .attributes
            .contains(&("gen_ai.response.model", Value::Str("b/m".into()))));
    }
}
