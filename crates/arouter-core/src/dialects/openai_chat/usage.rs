//! The OpenAI `usage` object, both directions. The one reading of it: the outbound adapter
//! (unary and stream), the same-dialect relay (raw and tree edits) and the provider proxy all
//! call [`from_value`] or [`from_raw`], which share [`WireUsage`].

use crate::dialects::lenient;
use crate::model::Usage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `usage` as upstreams send it. Unknown members are ignored; odd values read as 0.
#[derive(Debug, Default, Deserialize)]
pub struct WireUsage {
    #[serde(default, deserialize_with = "lenient::count")]
    prompt_tokens: u64,
    #[serde(default, deserialize_with = "lenient::count")]
    completion_tokens: u64,
    #[serde(default, deserialize_with = "lenient::object")]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default, deserialize_with = "lenient::object")]
    completion_tokens_details: Option<CompletionDetails>,
    /// DeepSeek's cache hits (its `prompt_tokens` includes them, like OpenAI's).
    #[serde(default, deserialize_with = "lenient::count")]
    prompt_cache_hit_tokens: u64,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct PromptDetails {
    #[serde(default, deserialize_with = "lenient::count")]
    pub cached_tokens: u64,
    #[serde(default, deserialize_with = "lenient::count")]
    pub cache_write_tokens: u64,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub struct CompletionDetails {
    #[serde(default, deserialize_with = "lenient::count")]
    pub reasoning_tokens: u64,
}

impl WireUsage {
    pub fn to_hub(&self) -> Usage {
        let prompt = self.prompt_tokens_details.as_ref();
        let cached = prompt
            .map(|p| p.cached_tokens)
            .filter(|&c| c > 0)
            .unwrap_or(self.prompt_cache_hit_tokens);
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .map_or(0, |c| c.reasoning_tokens),
            cache_read_tokens: cached,
            cache_write_tokens: prompt.map_or(0, |p| p.cache_write_tokens),
        }
    }
}

/// Hub usage from a `usage` value (absent or not an object: zeros).
pub fn from_value(u: Option<&Value>) -> Usage {
    u.filter(|u| u.is_object())
        .and_then(|u| WireUsage::deserialize(u).ok())
        .unwrap_or_default()
        .to_hub()
}

/// Hub usage from a `usage` object's raw JSON text (the relay's tree-free edit); `None` when it
/// is not valid JSON of that shape.
pub fn from_raw(raw: &str) -> Option<Usage> {
    serde_json::from_str::<WireUsage>(raw)
        .ok()
        .map(|u| u.to_hub())
}

/// Whether a `usage` object is OpenAI-shaped (the proxy tells dialects apart by this).
pub fn is_openai_shape(u: &Value) -> bool {
    u.get("prompt_tokens").is_some()
}

/// OpenRouter's usage object as we send it. `cost` is in USD and omitted when unknown.
#[derive(Debug, Serialize)]
pub struct UsageOut {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost: Option<f64>,
}

impl UsageOut {
    pub fn new(u: &Usage, cost_usd: Option<f64>) -> Self {
        UsageOut {
            prompt_tokens: u.input_tokens,
            completion_tokens: u.output_tokens,
            total_tokens: u.total(),
            prompt_tokens_details: PromptDetails {
                cached_tokens: u.cache_read_tokens,
                cache_write_tokens: u.cache_write_tokens,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: u.reasoning_tokens,
            },
            cost: cost_usd,
        }
    }
}

/// [`UsageOut`] as a `Value` (stream chunks are built as trees).
pub fn usage_json(u: &Usage, cost_usd: Option<f64>) -> Value {
    serde_json::to_value(UsageOut::new(u, cost_usd)).unwrap_or_default()
}
