//! A local token estimate for openai-kind upstreams, which have no count endpoint: OpenAI's
//! tokenizer families (tiktoken) over the hub request, with OpenAI's documented per-message,
//! per-tool and per-image overheads.

use crate::error::{ApiError, ErrorKind};
use crate::model::{ChatRequest, MediaSource, Part, Role, Tool};
use serde_json::Map;

type Obj = Map<String, Value>;
use serde_json::Value;

/// OpenAI's tokenizer families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    O200kBase,
    Cl100kBase,
}

impl Encoding {
    /// `o200k_base` for the GPT-4o / 4.1 / 4.5 / 5 and o-series families, else `cl100k_base`.
    pub fn for_model(model: &str) -> Encoding {
        let name = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        let o_series = ["o1", "o3", "o4"]
            .iter()
            .any(|p| name == *p || name.starts_with(&format!("{p}-")));
        let o200k = [
            "gpt-4o",
            "chatgpt-4o",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-5",
            "gpt-oss",
            "codex-",
        ]
        .iter()
        .any(|p| name.starts_with(p));
        if o_series || o200k {
            Encoding::O200kBase
        } else {
            Encoding::Cl100kBase
        }
    }

    fn count(self, text: &str) -> u64 {
        let bpe = match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        };
        bpe.count_ordinary(text) as u64
    }
}

// Framing constants from OpenAI's cookbook ("How to count tokens with tiktoken", and its
// section on function/tool definitions, measured for the gpt-4o family).
const TOKENS_PER_MESSAGE: u64 = 3;
const REPLY_PRIMING: u64 = 3;
const TOOL_CALL_OVERHEAD: u64 = 1;
const FUNC_INIT: u64 = 7;
const PROP_INIT: u64 = 3;
const PROP_KEY: u64 = 3;
const ENUM_ITEM: u64 = 3;
const FUNC_END: u64 = 12;

/// Estimates the prompt tokens an openai-kind upstream would count for a hub request, with
/// tiktoken and the cookbook's per-message and per-tool overheads. Images use OpenAI's tile
/// formula when their size can be read from the data (an unreadable or remote image counts as
/// a 1024×1024 one); reasoning parts are not sent to OpenAI-format upstreams and are not
/// counted. Documents cannot be counted locally: that is an error, not a guess.
pub fn estimate_openai_tokens(req: &ChatRequest, model: &str) -> Result<u64, ApiError> {
    let enc = Encoding::for_model(model);
    let mini = model
        .rsplit('/')
        .next()
        .unwrap_or(model)
        .starts_with("gpt-4o-mini");
    let mut total = REPLY_PRIMING;
    if !req.system.is_empty() {
        total += TOKENS_PER_MESSAGE + enc.count("system");
        for p in &req.system {
            total += part_tokens(enc, p, mini)?;
        }
    }
    for m in &req.messages {
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        let mut body = 0;
        // An empty turn is still a message; one holding only tool results is not.
        let mut has_body = m.content.is_empty();
        for p in &m.content {
            if let Part::ToolResult { content, .. } = p {
                // Each tool result is its own `tool` message on the OpenAI wire.
                total += TOKENS_PER_MESSAGE + enc.count("tool");
                for c in content {
                    total += part_tokens(enc, c, mini)?;
                }
            } else {
                has_body = true;
                body += part_tokens(enc, p, mini)?;
            }
        }
        if has_body {
            total += TOKENS_PER_MESSAGE + enc.count(role) + body;
        }
    }
    if !req.tools.is_empty() {
        total += req.tools.iter().map(|t| tool_tokens(enc, t)).sum::<u64>() + FUNC_END;
    }
    Ok(total)
}

fn part_tokens(enc: Encoding, p: &Part, mini: bool) -> Result<u64, ApiError> {
    Ok(match p {
        Part::Text { text, .. } => enc.count(text),
        Part::Image { source, detail } => image_tokens(source, detail.as_deref(), mini),
        Part::ToolUse {
            name, arguments, ..
        } => enc.count(name) + enc.count(arguments) + TOOL_CALL_OVERHEAD,
        Part::ToolResult { content, .. } => {
            let mut n = 0;
            for c in content {
                n += part_tokens(enc, c, mini)?;
            }
            n
        }
        Part::Thinking { .. } | Part::RedactedThinking { .. } | Part::Unknown { .. } => 0,
        Part::File { .. } | Part::Audio { .. } => {
            return Err(ApiError::new(
                ErrorKind::NotImplemented,
                "token counting for documents and audio is not available for openai-kind providers; remove them or count against an anthropic or gemini provider",
            ))
        }
    })
}

/// One tool definition, following the cookbook: name and description, then each top-level
/// property as `name:type:description` plus its enum values. Nested schemas (which the
/// cookbook does not cover) add their compact JSON.
fn tool_tokens(enc: Encoding, t: &Tool) -> u64 {
    let desc = t.description.as_deref().unwrap_or("");
    let mut n = FUNC_INIT + enc.count(&format!("{}:{}", t.name, desc.trim_end_matches('.')));
    let Some(props) = t.parameters.get("properties").and_then(Value::as_object) else {
        return n;
    };
    if props.is_empty() {
        return n;
    }
    n += PROP_INIT;
    for (key, schema) in props {
        n += PROP_KEY;
        let kind = match schema.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let p_desc = schema
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or("");
        n += enc.count(&format!("{key}:{kind}:{}", p_desc.trim_end_matches('.')));
        if let Some(items) = schema.get("enum").and_then(Value::as_array) {
            // The cookbook's enum_init is -3: the first item's framing is free.
            n = n.saturating_sub(ENUM_ITEM);
            for item in items {
                let text = item
                    .as_str()
                    .map_or_else(|| item.to_string(), str::to_string);
                n += ENUM_ITEM + enc.count(&text);
            }
        }
        let nested: Obj = schema
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "type" | "description" | "enum"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        if !nested.is_empty() {
            n += enc.count(&Value::Object(nested).to_string());
        }
    }
    n
}

/// OpenAI's image cost: 85 base tokens plus 170 per 512px tile after scaling to fit 2048×2048
/// and then to a 768px shortest side (gpt-4o-mini: 2833 + 5667 per tile); `low` detail is the
/// base cost alone.
fn image_tokens(source: &MediaSource, detail: Option<&str>, mini: bool) -> u64 {
    let (base, per_tile) = if mini { (2833, 5667) } else { (85, 170) };
    if detail == Some("low") {
        return base;
    }
    let (w, h) = match source {
        MediaSource::Base64 { data, .. } => image_size(data).unwrap_or((1024, 1024)),
        MediaSource::Url { .. } => (1024, 1024),
    };
    let (mut w, mut h) = (w.max(1) as f64, h.max(1) as f64);
    let fit = (2048.0 / w.max(h)).min(1.0);
    w *= fit;
    h *= fit;
    let shrink = (768.0 / w.min(h)).min(1.0);
    w *= shrink;
    h *= shrink;
    let tiles = ((w / 512.0).ceil() * (h / 512.0).ceil()) as u64;
    base + per_tile * tiles
}

/// Width and height of a base64 PNG, GIF, JPEG or WebP image, read from its header.
pub fn image_size(b64: &str) -> Option<(u32, u32)> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let be16 = |i: usize| Some(u16::from_be_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as u32);
    let le16 = |i: usize| Some(u16::from_le_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as u32);
    let be32 = |i: usize| {
        Some(u32::from_be_bytes([
            *bytes.get(i)?,
            *bytes.get(i + 1)?,
            *bytes.get(i + 2)?,
            *bytes.get(i + 3)?,
        ]))
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some((be32(16)?, be32(20)?));
    }
    if bytes.starts_with(b"GIF8") {
        return Some((le16(6)?, le16(8)?));
    }
    if bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP") {
        return webp_size(&bytes);
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        // Walk JPEG segments to the first start-of-frame marker.
        let mut i = 2;
        while i + 9 < bytes.len() {
            if bytes[i] != 0xFF {
                return None;
            }
            let marker = bytes[i + 1];
            let len = be16(i + 2)? as usize;
            let sof = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
            if sof {
                return Some((be16(i + 7)?, be16(i + 5)?));
            }
            i += 2 + len;
        }
    }
    None
}

fn webp_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let b = |i: usize| bytes.get(i).copied().map(u32::from);
    match bytes.get(12..16)? {
        b"VP8X" => Some((
            1 + (b(24)? | b(25)? << 8 | b(26)? << 16),
            1 + (b(27)? | b(28)? << 8 | b(29)? << 16),
        )),
        b"VP8 " => Some((
            (b(26)? | b(27)? << 8) & 0x3FFF,
            (b(28)? | b(29)? << 8) & 0x3FFF,
        )),
        b"VP8L" => {
            let bits = b(21)? | b(22)? << 8 | b(23)? << 16 | b(24)? << 24;
            Some((1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)))
        }
        _ => None,
    }
}
