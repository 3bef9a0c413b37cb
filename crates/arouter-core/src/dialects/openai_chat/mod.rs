//! OpenAI chat completions, with OpenRouter's additions (`reasoning`, `provider`, `usage.cost`).
//! Spoken inbound on `/v1/chat/completions` (and `/v1/completions`, `/v1/embeddings`) and
//! outbound to every openai-kind provider: OpenAI, OpenRouter, DeepSeek, Mistral, Groq, local
//! runtimes (Ollama, LM Studio, llama.cpp, vLLM).

pub mod completions;
pub mod errors;
pub mod estimate;
pub mod inbound;
pub mod outbound;
pub mod reasons;
pub mod relay;
pub mod usage;

/// The model list (`GET`).
pub fn models_url(base_url: &str) -> String {
    format!("{}/models", base_url.trim_end_matches('/'))
}

/// How an OpenAI(-compatible) API request carries its credential.
pub fn auth_header(key: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {key}"))
}

/// The headers of an OpenAI API request with a JSON body (chat, completions, embeddings,
/// Responses).
pub fn request_headers(key: Option<&str>) -> Vec<(&'static str, String)> {
    let mut headers = vec![("content-type", "application/json".to_string())];
    headers.extend(key.map(auth_header));
    headers
}
