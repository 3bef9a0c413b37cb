//! Gemini `generateContent` (Google AI Studio and Vertex AI's shape). Spoken inbound on
//! `/v1beta/models/{model}:generateContent` and friends (the Gemini CLI, Google's SDKs) and
//! outbound to gemini-kind providers; same dialect in and out is relayed unchanged.

pub mod errors;
pub mod inbound;
pub mod outbound;
pub mod reasons;
pub mod relay;
pub mod usage;

/// The signature Google documents for function calls Gemini did not produce itself (history from
/// another model or hand-built transcripts): Gemini 3 answers 400 when the first `functionCall` of
/// a step in the current turn carries no signature at all.
pub const FOREIGN_SIGNATURE: &str = "skip_thought_signature_validator";

/// The model list (`GET`), one page as large as the API allows. A base URL may already name
/// the API version.
pub fn models_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    if base.ends_with("/v1beta") || base.ends_with("/v1") {
        format!("{base}/models?pageSize=1000")
    } else {
        format!("{base}/v1beta/models?pageSize=1000")
    }
}

/// How a Gemini API request carries its credential.
pub fn auth_header(key: &str) -> (&'static str, String) {
    ("x-goog-api-key", key.to_string())
}

/// The headers of a Gemini API request with a JSON body.
pub fn request_headers(key: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![("content-type", "application/json".to_string())];
    headers.extend(key.map(auth_header));
    headers
}
