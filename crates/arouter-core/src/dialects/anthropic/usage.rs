//! Anthropic's `usage` object, both directions. Its `input_tokens` excludes cached tokens
//! (`cache_read_input_tokens`, `cache_creation_input_tokens`); the hub's includes them. The one
//! reading for the outbound adapter, the same-dialect relay and the proxy.

use crate::model::Usage;
use serde::Deserialize;
use serde_json::{json, Value};

/// Anthropic usage; every field optional because `message_delta` sends only what changed.
#[derive(Deserialize, Default, Debug, Clone, Copy)]
pub struct WireUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Later counts replace earlier ones (Anthropic's stream counts are cumulative).
    pub fn merge(&mut self, newer: &WireUsage) {
        self.input_tokens = newer.input_tokens.or(self.input_tokens);
        self.output_tokens = newer.output_tokens.or(self.output_tokens);
        self.cache_creation_input_tokens = newer
            .cache_creation_input_tokens
            .or(self.cache_creation_input_tokens);
        self.cache_read_input_tokens = newer
            .cache_read_input_tokens
            .or(self.cache_read_input_tokens);
    }

    /// Anthropic's `input_tokens` excludes cached tokens; the hub's includes them.
    pub fn to_hub(self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        let write = self.cache_creation_input_tokens.unwrap_or(0);
        Usage {
            input_tokens: self.input_tokens.unwrap_or(0) + read + write,
            output_tokens: self.output_tokens.unwrap_or(0),
            reasoning_tokens: 0,
            cache_read_tokens: read,
            cache_write_tokens: write,
        }
    }

    /// A usage value as sent (`null` or not an object: nothing known).
    pub fn from_value(u: &Value) -> WireUsage {
        WireUsage::deserialize(u).unwrap_or_default()
    }
}

/// Hub usage from an Anthropic usage value.
pub fn from_value(u: &Value) -> Usage {
    WireUsage::from_value(u).to_hub()
}

/// Anthropic's usage object for a hub usage.
pub fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": uncached_input(u),
        "output_tokens": u.output_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
    })
}

/// The `input_tokens` Anthropic reports: without the cached tokens.
pub fn uncached_input(u: &Usage) -> u64 {
    u.input_tokens
        .saturating_sub(u.cache_read_tokens)
        .saturating_sub(u.cache_write_tokens)
}
