//! Inbound API surfaces: each dialect's wire types, conversion to and from the hub, stream
//! encoder and error rendering.

pub mod anthropic;
pub mod gemini;
pub mod openai;
