//! Anthropic Messages. Spoken inbound on `/v1/messages` (Claude Code, the Anthropic SDKs) and
//! outbound to anthropic-kind providers; same dialect in and out is relayed losslessly.

pub mod count;
pub mod errors;
pub mod inbound;
pub mod outbound;
pub mod reasons;
pub mod usage;

/// The `anthropic-version` sent upstream when the client names none.
pub const API_VERSION: &str = "2023-06-01";
