//! Reasoning items and who may read them. OpenAI's `encrypted_content` replays only to OpenAI's
//! Responses API; thinking signatures ARouter hands out for other vendors are tagged with the
//! issuing vendor so they come back to that vendor only, and elsewhere just the summary text
//! travels.

use crate::model::{Dialect, Part};
use serde_json::Value;

use super::wire::ReasoningItem;

const TAG_ANTHROPIC: &str = "arouter:anthropic:";
const TAG_ANTHROPIC_REDACTED: &str = "arouter:anthropic-redacted:";
const TAG_GEMINI: &str = "arouter:gemini:";
const TAG_OPENAI_CHAT: &str = "arouter:openai-chat:";

/// The `encrypted_content` ARouter hands out for a signature issued by `issuer`.
pub fn wrap(issuer: Dialect, signature: &str) -> String {
    match issuer {
        Dialect::Anthropic => format!("{TAG_ANTHROPIC}{signature}"),
        Dialect::Gemini => format!("{TAG_GEMINI}{signature}"),
        Dialect::OpenAi => format!("{TAG_OPENAI_CHAT}{signature}"),
        Dialect::OpenAiResponses => signature.to_string(),
    }
}

/// Anthropic's `redacted_thinking` data as `encrypted_content`.
pub fn wrap_redacted(data: &str) -> String {
    format!("{TAG_ANTHROPIC_REDACTED}{data}")
}

/// The summary (or, failing that, the raw reasoning text) of an item.
pub fn text_of(item: &ReasoningItem) -> String {
    let parts = if item.summary.is_empty() {
        item.content.as_deref().unwrap_or_default()
    } else {
        &item.summary[..]
    };
    let texts: Vec<&str> = parts.iter().map(|p| p.text.as_str()).collect();
    texts.join("\n\n")
}

/// Hub parts for a reasoning input item (`raw` is the item as the caller sent it).
pub fn to_parts(item: &ReasoningItem, raw: &Value) -> Vec<Part> {
    let text = text_of(item);
    let Some(encrypted) = item.encrypted_content.as_deref().filter(|e| !e.is_empty()) else {
        return plain(text);
    };
    if let Some(sig) = encrypted.strip_prefix(TAG_ANTHROPIC) {
        return vec![Part::Thinking {
            text,
            signature: Some(sig.to_string()),
        }];
    }
    if let Some(data) = encrypted.strip_prefix(TAG_ANTHROPIC_REDACTED) {
        return vec![Part::RedactedThinking {
            data: data.to_string(),
        }];
    }
    if let Some(sig) = encrypted
        .strip_prefix(TAG_GEMINI)
        .or_else(|| encrypted.strip_prefix(TAG_OPENAI_CHAT))
    {
        return vec![Part::Thinking {
            text,
            signature: Some(sig.to_string()),
        }];
    }
    // OpenAI's own: verbatim to a Responses upstream, the summary as plain text elsewhere.
    let mut parts = vec![Part::Unknown {
        dialect: Dialect::OpenAiResponses,
        value: raw.clone(),
    }];
    parts.extend(plain(text));
    parts
}

fn plain(text: String) -> Vec<Part> {
    if text.is_empty() {
        return Vec::new();
    }
    vec![Part::Thinking {
        text,
        signature: None,
    }]
}

/// Whether an item is a reasoning item whose `encrypted_content` ARouter handed out for another
/// vendor (OpenAI rejects what it cannot verify, and the item's id is unknown to it).
pub fn is_foreign(item: &Value) -> bool {
    item.get("type").and_then(Value::as_str) == Some("reasoning")
        && item
            .get("encrypted_content")
            .and_then(Value::as_str)
            .is_some_and(|e| e.starts_with("arouter:"))
}
