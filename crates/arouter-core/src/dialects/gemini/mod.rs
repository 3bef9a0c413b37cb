//! Gemini `generateContent` (Google AI Studio and Vertex AI's shape). Spoken inbound on
//! `/v1beta/models/{model}:generateContent` and friends (the Gemini CLI, Google's SDKs) and
//! outbound to gemini-kind providers; same dialect in and out is relayed unchanged.

pub mod errors;
pub mod inbound;
pub mod outbound;
pub mod reasons;
pub mod usage;
