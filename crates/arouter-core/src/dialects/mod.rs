//! Wire dialects, one folder each, spoken in both directions (inbound surface, outbound upstream).

pub mod openai_responses;
