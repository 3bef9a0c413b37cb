//! Token estimates for a stream the client left before the upstream reported its usage: the
//! prompt from the request, the output from the text already streamed. Deliberately cheap (no
//! tokenizer): ⌈bytes / 4⌉, the rule the budget's worst case uses too.

use crate::model::{ChatRequest, Part};
use serde_json::Value;

/// Tokens counted for one image, audio clip or file: a flat figure, since its bytes say little
/// (Gemini bills an image at 258 tokens; OpenAI's low-detail image is 85).
const MEDIA_TOKENS: u64 = 258;

/// Members whose string value is generated text in a stream value of any dialect: OpenAI chat
/// `content` / `reasoning` / `refusal` / tool `arguments`, Anthropic `text` / `thinking` /
/// `partial_json`, Gemini `text`, Responses `delta`.
const TEXT_KEYS: &[&str] = &[
    "content",
    "text",
    "thinking",
    "partial_json",
    "arguments",
    "reasoning",
    "reasoning_content",
    "refusal",
    "delta",
];

/// Tokens in `bytes` bytes of text.
pub fn text_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4)
}

/// The prompt tokens of a request, estimated from its text (system, messages, tool
/// definitions); 0 when the endpoint has no hub form.
pub fn prompt_tokens(req: Option<&ChatRequest>) -> u64 {
    let Some(req) = req else {
        return 0;
    };
    fn part(p: &Part) -> (usize, u64) {
        match p {
            Part::Text { text, .. } | Part::Thinking { text, .. } => (text.len(), 0),
            Part::Image { .. } | Part::File { .. } | Part::Audio { .. } => (0, MEDIA_TOKENS),
            Part::ToolUse {
                name, arguments, ..
            } => (name.len() + arguments.len(), 0),
            Part::ToolResult { content, .. } => content
                .iter()
                .map(part)
                .fold((0, 0), |(b, m), (pb, pm)| (b + pb, m + pm)),
            Part::RedactedThinking { data } => (data.value.len(), 0),
            Part::Unknown { .. } => (0, 0),
        }
    }
    let mut bytes = 0;
    let mut media = 0;
    let parts = req
        .system
        .iter()
        .chain(req.messages.iter().flat_map(|m| m.content.iter()));
    for p in parts {
        let (b, m) = part(p);
        bytes += b;
        media += m;
    }
    for t in &req.tools {
        bytes += t.name.len() + t.description.as_ref().map_or(0, String::len);
        bytes += t.parameters.to_string().len();
    }
    text_tokens(bytes) + media
}

/// Bytes of generated text in one value sent to a streaming client, in any dialect. Responses
/// events other than `*.delta` repeat text already counted (`*.done`, `response.completed`)
/// and count nothing.
pub fn streamed_text_bytes(v: &Value) -> usize {
    if let Some(t) = v.get("type").and_then(Value::as_str) {
        if t.starts_with("response.") && !t.ends_with(".delta") {
            return 0;
        }
    }
    text_bytes(v)
}

fn text_bytes(v: &Value) -> usize {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) if TEXT_KEYS.contains(&k.as_str()) => s.len(),
                // Gemini sends a function call's arguments whole, as an object.
                Value::Object(_) if k == "args" => v.to_string().len(),
                _ => text_bytes(v),
            })
            .sum(),
        Value::Array(a) => a.iter().map(text_bytes).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_the_generated_text_of_every_dialect() {
        let openai = json!({"id": "gen-1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hello",
            "tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{\"a\""}}]}}]});
        assert_eq!(streamed_text_bytes(&openai), 5 + 4);
        let anthropic = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "hello"}});
        assert_eq!(streamed_text_bytes(&anthropic), 5);
        let tool = json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "{\"a\":"}});
        assert_eq!(streamed_text_bytes(&tool), 5);
        let stop = json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 3}});
        assert_eq!(streamed_text_bytes(&stop), 0);
        let gemini = json!({"candidates": [{"content": {"role": "model",
            "parts": [{"text": "héllo"}, {"functionCall": {"name": "f", "args": {"a": 1}}}]}}],
            "modelVersion": "gemini-x", "responseId": "r"});
        assert_eq!(streamed_text_bytes(&gemini), 6 + 7);
        let delta = json!({"type": "response.output_text.delta", "delta": "hello"});
        assert_eq!(streamed_text_bytes(&delta), 5);
        let done = json!({"type": "response.output_text.done", "text": "hello"});
        assert_eq!(streamed_text_bytes(&done), 0);
        let completed = json!({"type": "response.completed", "response": {"output": [
            {"content": [{"type": "output_text", "text": "hello"}]}]}});
        assert_eq!(streamed_text_bytes(&completed), 0);
    }

    #[test]
    fn prompt_counts_text_and_media_flat() {
        use crate::model::{Message, Role};
        assert_eq!(prompt_tokens(None), 0);
        let req = ChatRequest {
            system: vec![Part::text("abcd")],
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text("12345678")],
            }],
            ..Default::default()
        };
        assert_eq!(prompt_tokens(Some(&req)), 3);
        assert_eq!(text_tokens(0), 0);
        assert_eq!(text_tokens(1), 1);
        assert_eq!(text_tokens(8), 2);
    }
}
