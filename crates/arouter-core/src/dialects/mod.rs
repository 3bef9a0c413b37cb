//! One folder per wire format, used in both directions. Each dialect holds its typed wire
//! structs, request and response conversion to and from the hub (`inbound`: what a client
//! sends us and what we answer; `outbound`: what we send a provider and what it answers),
//! its stream decoder and encoder, and its single definitions of usage, stop / finish
//! reasons, error type <-> status, error bodies and version constants. Every reader (the
//! inbound surface, the outbound adapter, the same-dialect relay, the provider proxy, token
//! counting) uses these; there are no other copies.
//!
//! Adding a dialect: a folder here, a thin handler in `surfaces/`, a route in `http::router`
//! (and, if providers speak it, a `ProviderKind` arm in `providers`).

pub mod anthropic;
pub mod gemini;
pub mod lenient;
pub mod openai_chat;
pub mod openai_responses;
pub mod target;

#[cfg(test)]
mod facts_tests;
