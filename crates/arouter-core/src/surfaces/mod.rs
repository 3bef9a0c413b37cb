//! Inbound API surfaces, one per dialect: thin axum handlers that authenticate, parse the
//! body with their dialect (`dialects::<name>::inbound`), hand the request to
//! [`crate::dispatch`], and render the answer in their dialect. The same-dialect relay's
//! pieces (how an upstream body or event is edited for the client) plug in through
//! [`crate::dispatch::Codec`].

pub mod anthropic;
pub mod gemini;
pub mod openai_chat;
pub mod openai_responses;
