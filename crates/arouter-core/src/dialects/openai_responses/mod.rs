//! OpenAI's Responses API (`POST /v1/responses`), the fourth dialect: wire structs, request and
//! response conversion to and from the hub in both directions, the stream encoder (OpenAI's
//! exact event sequence with `sequence_number`) and decoder, usage, stop reasons and errors.
//!
//! Codex's freeform tools (`custom_tool_call`) cross the hub as a function tool with one string
//! argument (`input`), and come back as custom tool calls for the caller that declared them.

pub mod custom;
pub mod decode;
pub mod encode;
pub mod errors;
pub mod reasoning;
pub mod request;
pub mod response;
pub mod upstream;
pub mod usage;
pub mod wire;

#[cfg(test)]
mod tests;

pub use custom::CustomTools;
pub use decode::Decoder;
pub use encode::Encoder;
