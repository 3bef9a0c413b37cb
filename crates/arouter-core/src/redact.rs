//! `Debug` for the types that carry a provider credential, with the credential left out, so a
//! `{:?}` in a log line or a panic message can never print a key.

use crate::providers::{Target, UpstreamRequest};
use std::fmt;

const SECRET_HEADERS: [&str; 4] = ["authorization", "x-api-key", "x-goog-api-key", "api-key"];

/// The URL with the value of any `key=` query parameter replaced.
pub fn redact_url(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if crate::query::decode_component(k) == "key" => format!("{k}=[redacted]"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

impl fmt::Debug for Target<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("provider", &self.provider.id)
            .field("model", &self.model)
            .field("api_key", &self.api_key.map(|_| "[redacted]"))
            .field("default_max_tokens", &self.default_max_tokens)
            .finish()
    }
}

impl fmt::Debug for UpstreamRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if SECRET_HEADERS.iter().any(|s| k.eq_ignore_ascii_case(s)) {
                    (*k, "[redacted]")
                } else {
                    (*k, v.as_str())
                }
            })
            .collect();
        f.debug_struct("UpstreamRequest")
            .field("url", &redact_url(&self.url))
            .field("headers", &headers)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_print() {
        let cfg = crate::config::Config::parse(
            "[providers.oa]\nkind=\"openai\"\nbase_url=\"https://api.openai.com/v1\"\n",
        )
        .unwrap();
        let t = Target {
            provider: &cfg.providers["oa"],
            model: "m",
            api_key: Some("sk-SECRET"),
            default_max_tokens: 1,
        };
        assert!(!format!("{t:?}").contains("SECRET"));
        let r = UpstreamRequest {
            url: "https://g/v1beta/models/x?alt=sse&key=sk-SECRET".into(),
            headers: vec![
                ("authorization", "Bearer sk-SECRET".into()),
                ("x-goog-api-key", "sk-SECRET".into()),
                ("content-type", "application/json".into()),
            ],
            body: bytes::Bytes::from_static(b"{}"),
        };
        let d = format!("{r:?}");
        assert!(!d.contains("SECRET"), "{d}");
        assert!(
            d.contains("application/json") && d.contains("alt=sse"),
            "{d}"
        );
    }
}
