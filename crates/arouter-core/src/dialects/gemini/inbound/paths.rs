//! The `models/{model}:method` path grammar of the Gemini surface.

use crate::error::{ApiError, ErrorKind};

/// Methods this surface serves on `models/{model}:method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    GenerateContent,
    StreamGenerateContent,
    CountTokens,
}

/// Gemini model methods ARouter knows of but does not serve.
const OTHER_METHODS: &[&str] = &[
    "embedContent",
    "batchEmbedContents",
    "batchGenerateContent",
    "asyncBatchEmbedContent",
    "predict",
    "predictLongRunning",
    "computeTokens",
    "countTextTokens",
    "generateText",
    "generateMessage",
    "generateAnswer",
    "embedText",
];

/// A parsed `models/{model}[:method]` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPath {
    /// The model as the client named it, decoded, without a leading `models/`.
    pub model: String,
    /// `None` for a plain model resource (`GET models/{model}`).
    pub method: Option<Method>,
}

/// Parses what follows `/models/` in a request path (raw, possibly percent-encoded). The method
/// is split off at the last `:` only when it names a Gemini method, so model ids with a tag
/// (`ollama/llama3:8b`) stay whole.
pub fn parse_model_path(raw: &str) -> Result<ModelPath, ApiError> {
    let decoded = percent_decode(raw)?;
    let (model, method) = match decoded.rsplit_once(':') {
        Some((model, m)) => match m {
            "generateContent" => (model, Some(Method::GenerateContent)),
            "streamGenerateContent" => (model, Some(Method::StreamGenerateContent)),
            "countTokens" => (model, Some(Method::CountTokens)),
            other if OTHER_METHODS.contains(&other) => {
                return Err(ApiError::new(
                    ErrorKind::NotImplemented,
                    format!(
                        "ARouter does not serve :{other}; supported methods are generateContent, streamGenerateContent and countTokens"
                    ),
                ))
            }
            _ => (decoded.as_str(), None),
        },
        None => (decoded.as_str(), None),
    };
    let model = strip_models_prefix(model);
    if model.is_empty() {
        return Err(ApiError::bad_request("the path names no model"));
    }
    Ok(ModelPath {
        model: model.to_string(),
        method,
    })
}

/// `models/gemini-2.5-flash` → `gemini-2.5-flash`.
pub fn strip_models_prefix(model: &str) -> &str {
    let m = model.trim_start_matches('/');
    m.strip_prefix("models/").unwrap_or(m)
}

/// Decodes `%XX` escapes (model ids with `/` arrive as `oa%2Fgpt-4o-mini`).
fn percent_decode(s: &str) -> Result<String, ApiError> {
    if !s.contains('%') {
        return Ok(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::bad_request(format!("bad %-escape in path \"{s}\"")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out)
        .map_err(|_| ApiError::bad_request(format!("path \"{s}\" is not UTF-8 once decoded")))
}
