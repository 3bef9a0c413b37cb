//! Anthropic Messages. Spoken inbound on `/v1/messages` (Claude Code, the Anthropic SDKs) and
//! outbound to anthropic-kind providers; same dialect in and out is relayed losslessly.

pub mod count;
pub mod errors;
pub mod inbound;
pub mod outbound;
pub mod reasons;
pub mod relay;
pub mod usage;

/// The `anthropic-version` sent upstream when the client names none.
pub const API_VERSION: &str = "2023-06-01";

/// The model list (`GET`), one page as large as the API allows.
pub fn models_url(base_url: &str) -> String {
    format!("{}/v1/models?limit=1000", base_url.trim_end_matches('/'))
}

/// How an Anthropic API request carries its credential.
pub fn auth_header(key: &str) -> (&'static str, String) {
    ("x-api-key", key.to_string())
}

/// The headers of an Anthropic API request with a JSON body: credential and API version.
pub fn request_headers(key: Option<&str>, version: &str) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        ("anthropic-version", version.to_string()),
    ];
    headers.extend(key.map(auth_header));
    headers
}
