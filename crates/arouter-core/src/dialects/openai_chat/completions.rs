//! Legacy `POST /v1/completions` for providers that only chat (anthropic and gemini kinds,
//! and openai-kind chat-only servers reached through the hub), as OpenRouter does it: the
//! prompt becomes one user message, and the answer's text comes back as a `text_completion`
//! (unary) or `text_completion` chunks (stream). openai-kind providers get the request
//! itself, relayed.

use super::inbound::{self, ResponseIds};
use super::usage::UsageOut;
use crate::error::ApiError;
use crate::model::{ChatRequest, ChatResponse, Part};
use serde_json::{json, Map, Value};

/// Legacy-only fields with no chat equivalent (left out of the hub request).
const LEGACY_ONLY: &[&str] = &["prompt", "suffix", "echo", "best_of", "logprobs"];

/// The hub form of a completions body: `prompt` (a string, or a list of strings joined by
/// newlines) as the user message, the other parameters as on chat.
pub fn to_internal(body: &Value) -> Result<ChatRequest, ApiError> {
    let prompt = match body.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => {
            let texts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            texts
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "prompt: token-id prompts are only accepted by openai-kind providers",
                    )
                })?
                .join("\n")
        }
        _ => {
            return Err(ApiError::bad_request(
                "prompt: expected a string or an array",
            ))
        }
    };
    let mut chat: Map<String, Value> = body
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(k, _)| !LEGACY_ONLY.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    chat.insert(
        "messages".into(),
        json!([{"role": "user", "content": prompt}]),
    );
    inbound::to_internal(&Value::Object(chat))
}

fn text_of(parts: &[Part]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

/// A hub response as a `text_completion`.
pub fn from_internal(resp: &ChatResponse, ids: &ResponseIds) -> Value {
    json!({
        "id": ids.id,
        "object": "text_completion",
        "created": ids.created,
        "model": ids.model,
        "provider": ids.provider,
        "choices": [{
            "index": 0,
            "text": text_of(&resp.content),
            "finish_reason": resp.stop_reason.as_str(),
            "native_finish_reason": resp.native_stop_reason,
            "logprobs": null,
        }],
        "usage": UsageOut::new(&resp.usage, ids.cost_usd),
    })
}

/// A `chat.completion.chunk` (from the chat stream encoder) as a `text_completion` chunk:
/// text deltas, the finish and the usage chunk pass; role, reasoning and tool deltas have no
/// legacy form and are left out (`None`).
pub fn chunk_from_chat(mut chunk: Value) -> Option<Value> {
    let obj = chunk.as_object_mut()?;
    obj.insert("object".into(), json!("text_completion"));
    let Some(Value::Array(choices)) = obj.get_mut("choices") else {
        return Some(chunk);
    };
    if choices.is_empty() {
        return Some(chunk); // the usage chunk
    }
    let c = choices.first_mut()?.as_object_mut()?;
    let text = c
        .get("delta")
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let finish = c.get("finish_reason").filter(|f| !f.is_null()).cloned();
    if text.is_none() && finish.is_none() {
        return None;
    }
    c.remove("delta");
    c.insert("text".into(), json!(text.unwrap_or_default()));
    Some(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_becomes_a_user_message_and_chunks_become_text() {
        let hub = to_internal(&json!({"model": "m", "prompt": ["a", "b"], "max_tokens": 5,
            "echo": false, "logprobs": 2, "suffix": "x"}))
        .unwrap();
        assert_eq!(hub.messages.len(), 1);
        assert_eq!(hub.max_tokens, Some(5));
        assert!(to_internal(&json!({"prompt": [1, 2]})).is_err());

        let delta = json!({"id": "g", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": null}]});
        let c = chunk_from_chat(delta).unwrap();
        assert_eq!(c["object"], "text_completion");
        assert_eq!(c["choices"][0]["text"], "hi");
        assert!(c["choices"][0].get("delta").is_none());
        let role = json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]});
        assert!(chunk_from_chat(role).is_none());
        let fin = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]});
        assert_eq!(chunk_from_chat(fin).unwrap()["choices"][0]["text"], "");
    }
}
