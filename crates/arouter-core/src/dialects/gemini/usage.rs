//! Gemini's `usageMetadata`, both directions: the one definition read by the outbound adapter
//! (unary and stream), the same-dialect relay and the proxy, and written by the inbound surface.
//! `promptTokenCount` includes `cachedContentTokenCount`; `candidatesTokenCount` excludes
//! thoughts and `toolUsePromptTokenCount` is prompt the model read from tool results.

use crate::dialects::lenient;
use crate::model::Usage;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Gemini's `usageMetadata`. `candidatesTokenCount` excludes thoughts, which are counted apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UsageMetadata {
    #[serde(deserialize_with = "lenient::count")]
    pub prompt_token_count: u64,
    #[serde(deserialize_with = "lenient::count")]
    pub candidates_token_count: u64,
    #[serde(deserialize_with = "lenient::count")]
    pub total_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    #[serde(deserialize_with = "lenient::count")]
    pub thoughts_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    #[serde(deserialize_with = "lenient::count")]
    pub cached_content_token_count: u64,
    #[serde(skip_serializing_if = "is_zero")]
    #[serde(deserialize_with = "lenient::count")]
    pub tool_use_prompt_token_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl UsageMetadata {
    pub fn from_usage(u: &Usage) -> Self {
        UsageMetadata {
            prompt_token_count: u.input_tokens,
            candidates_token_count: u.output_tokens.saturating_sub(u.reasoning_tokens),
            total_token_count: u.total(),
            thoughts_token_count: u.reasoning_tokens,
            cached_content_token_count: u.cache_read_tokens,
            tool_use_prompt_token_count: 0,
        }
    }

    /// Hub usage: the tool-use prompt counts as input, thoughts as (reasoning) output.
    pub fn to_usage(self) -> Usage {
        Usage {
            input_tokens: self.prompt_token_count + self.tool_use_prompt_token_count,
            output_tokens: self.candidates_token_count + self.thoughts_token_count,
            reasoning_tokens: self.thoughts_token_count,
            cache_read_tokens: self.cached_content_token_count,
            cache_write_tokens: 0,
        }
    }
}

/// Hub usage from a response's (or chunk's) `usageMetadata`, if it has one.
pub fn usage_of(resp: &Value) -> Option<Usage> {
    let meta = resp.get("usageMetadata").filter(|m| m.is_object())?;
    UsageMetadata::deserialize(meta)
        .ok()
        .map(UsageMetadata::to_usage)
}
