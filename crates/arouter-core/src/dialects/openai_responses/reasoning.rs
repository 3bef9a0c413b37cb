//! Reasoning items and who may read them. OpenAI's `encrypted_content` replays only to OpenAI's
//! Responses API; thinking signatures ARouter hands out for other vendors are tagged with the
//! issuing vendor so they come back to that vendor only, and elsewhere just the summary text
//! travels.

use crate::model::{tagged, Dialect, Part, Signed};
use serde_json::Value;

use super::wire::ReasoningItem;

/// The `encrypted_content` ARouter hands out for a thinking signature (a foreign one tagged
/// with its issuer, see [`Signed`]).
pub fn wrap(signed: &Signed) -> String {
    signed.hand_out(Dialect::OpenAiResponses)
}

/// Redacted reasoning (Anthropic's `redacted_thinking`, an OpenAI-compatible upstream's
/// encrypted reasoning) as `encrypted_content`: tagged apart from signatures, since it comes
/// back as a block of its own.
pub fn wrap_redacted(data: &Signed) -> String {
    if data.by == Dialect::OpenAiResponses {
        return data.value.clone();
    }
    format!("{}{}", redacted_tag(data.by), data.value)
}

fn redacted_tag(by: Dialect) -> String {
    format!(
        "{}-redacted:",
        tagged(by, Dialect::OpenAiResponses, "").trim_end_matches(':')
    )
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
    for by in [Dialect::Anthropic, Dialect::Gemini, Dialect::OpenAi] {
        if let Some(data) = encrypted.strip_prefix(redacted_tag(by).as_str()) {
            return vec![Part::RedactedThinking {
                data: Signed::new(by, data),
            }];
        }
    }
    let signed = Signed::take_in(Dialect::OpenAiResponses, encrypted);
    if signed.by != Dialect::OpenAiResponses {
        return vec![Part::Thinking {
            text,
            signature: Some(signed),
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
