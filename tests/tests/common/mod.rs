//! Shared helpers for the end-to-end tests: a client, SSE parsing of responses, config text.

#![allow(dead_code)]

use arouter_core::sse::{SseDecoder, SseEvent};
use serde_json::Value;

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

/// All SSE events of a response body (comments dropped), and the raw text.
pub async fn sse_events(resp: reqwest::Response) -> (Vec<SseEvent>, String) {
    let text = resp.text().await.unwrap();
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    d.push(text.as_bytes(), &mut out);
    d.finish(&mut out);
    (out, text)
}

/// The JSON data of every event except `[DONE]`.
pub fn data_json(events: &[SseEvent]) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.data != "[DONE]")
        .map(|e| serde_json::from_str(&e.data).unwrap_or_else(|_| panic!("not JSON: {}", e.data)))
        .collect()
}

/// Concatenated `choices[0].delta.content` of OpenAI chunks.
pub fn openai_stream_text(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect()
}
