//! The `gemini` wire format adapter (placeholder until the adapter lands).

use super::{StreamDecoder, Target, UpstreamRequest};
use crate::error::{ApiError, ErrorKind};
use crate::model::{ChatRequest, ChatResponse, StreamEvent};
use crate::sse::SseEvent;

fn unimplemented() -> ApiError {
    ApiError::new(
        ErrorKind::NotImplemented,
        "the gemini adapter is not built yet",
    )
}

pub fn build(_req: &ChatRequest, _target: &Target) -> Result<UpstreamRequest, ApiError> {
    Err(unimplemented())
}

pub fn parse(_provider: &str, _body: &[u8]) -> Result<ChatResponse, ApiError> {
    Err(unimplemented())
}

pub fn parse_error(provider: &str, status: u16, body: &[u8]) -> ApiError {
    crate::error::upstream_error(provider, status, "upstream error".into(), body)
}

pub struct Decoder;

impl Decoder {
    pub fn new(_provider: &str) -> Self {
        Decoder
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, _ev: &SseEvent, _out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        Err(unimplemented())
    }
    fn finish(&mut self, _out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        Err(unimplemented())
    }
}
