//! Gemini responses and streams -> hub: unary parse and the stream decoder.

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GenerateContentResponse {
    #[serde(default)]
    candidates: Vec<Candidate>,
    prompt_feedback: Option<PromptFeedback>,
    usage_metadata: Option<UsageMetadata>,
    model_version: Option<String>,
    response_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Candidate {
    content: Option<CandidateContent>,
    finish_reason: Option<String>,
    #[serde(default)]
    index: u32,
}

#[derive(Deserialize)]
pub(super) struct CandidateContent {
    #[serde(default)]
    parts: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RespPart {
    text: Option<String>,
    #[serde(default)]
    thought: bool,
    thought_signature: Option<String>,
    function_call: Option<FunctionCallIn>,
    inline_data: Option<BlobIn>,
}

#[derive(Deserialize)]
pub(super) struct FunctionCallIn {
    id: Option<String>,
    name: String,
    args: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BlobIn {
    mime_type: String,
    data: String,
}

/// One response part, classified.
pub(super) enum Piece {
    Thought {
        text: String,
        signature: Option<String>,
    },
    Text {
        text: String,
        signature: Option<String>,
    },
    Call {
        id: String,
        name: String,
        args: String,
        signature: Option<String>,
    },
    Image {
        mime_type: String,
        data: String,
    },
    Other(Value),
}

pub(super) fn classify(raw: &Value) -> Piece {
    let Ok(part) = RespPart::deserialize(raw) else {
        return Piece::Other(raw.clone());
    };
    let signature = part.thought_signature.filter(|s| !s.is_empty());
    if let Some(call) = part.function_call {
        let args = call
            .args
            .filter(|a| !a.is_null())
            .unwrap_or_else(|| Value::Object(Map::new()));
        return Piece::Call {
            id: call
                .id
                .filter(|id| !id.is_empty())
                .unwrap_or_else(new_call_id),
            name: call.name,
            args: args.to_string(),
            signature,
        };
    }
    match (part.text, part.inline_data) {
        (Some(text), _) if part.thought => Piece::Thought { text, signature },
        (Some(text), _) => Piece::Text { text, signature },
        (None, Some(blob)) if blob.mime_type.starts_with("image/") => Piece::Image {
            mime_type: blob.mime_type,
            data: blob.data,
        },
        // A part carrying nothing but a signature (seen at the end of streams).
        (None, None) if signature.is_some() && raw.as_object().is_some_and(|o| o.len() <= 2) => {
            Piece::Thought {
                text: String::new(),
                signature,
            }
        }
        _ => Piece::Other(raw.clone()),
    }
}

pub(super) fn new_call_id() -> String {
    format!("call_{}", hex::encode(rand::random::<[u8; 12]>()))
}

pub(super) fn new_response_id() -> String {
    format!("gemini-{}", hex::encode(rand::random::<[u8; 12]>()))
}

/// The candidate the hub follows: index 0 (others exist only with `candidateCount` > 1).
pub(super) fn first_candidate(candidates: &[Candidate]) -> Option<&Candidate> {
    candidates
        .iter()
        .find(|c| c.index == 0)
        .or_else(|| candidates.first())
}

pub(super) fn candidate_parts(candidate: &Candidate) -> &[Value] {
    candidate
        .content
        .as_ref()
        .map_or(&[], |c| c.parts.as_slice())
}

/// Appends a response part to hub content. A signature on a non-thought part travels as a
/// thinking part right before it (so `build` puts it back on the same part).
pub(super) fn push_piece(content: &mut Vec<Part>, piece: Piece) {
    match piece {
        Piece::Thought { text, signature } => {
            let signature = signature.map(|s| Signed::new(Dialect::Gemini, s));
            match content.last_mut() {
                Some(Part::Thinking {
                    text: prev,
                    signature: prev_sig @ None,
                }) => {
                    prev.push_str(&text);
                    *prev_sig = signature;
                }
                _ => content.push(Part::Thinking { text, signature }),
            }
        }
        Piece::Text { text, signature } => {
            if let Some(sig) = signature {
                push_piece(
                    content,
                    Piece::Thought {
                        text: String::new(),
                        signature: Some(sig),
                    },
                );
            }
            if text.is_empty() {
                return;
            }
            match content.last_mut() {
                Some(Part::Text { text: prev, .. }) => prev.push_str(&text),
                _ => content.push(Part::text(text)),
            }
        }
        Piece::Call {
            id,
            name,
            args,
            signature,
        } => content.push(Part::ToolUse {
            id,
            name,
            arguments: args,
            signature: signature.map(|s| Signed::new(Dialect::Gemini, s)),
        }),
        Piece::Image { mime_type, data } => content.push(Part::Image {
            source: MediaSource::Base64 {
                media_type: mime_type,
                data,
            },
            detail: None,
        }),
        Piece::Other(value) => content.push(Part::Unknown {
            dialect: Dialect::Gemini,
            value,
        }),
    }
}

/// Parses a 2xx `generateContent` body.
pub fn parse(provider: &str, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad_body(provider, &e.to_string(), body))?;
    if let Some(error) = value.get("error") {
        return Err(errors::error_object(provider, None, error, body));
    }
    let resp: GenerateContentResponse =
        serde_json::from_value(value).map_err(|e| bad_body(provider, &e.to_string(), body))?;
    let usage = resp
        .usage_metadata
        .as_ref()
        .map(|u| u.to_usage())
        .unwrap_or_default();
    let id = resp.response_id.clone().unwrap_or_else(new_response_id);
    let model = resp.model_version.clone().unwrap_or_default();
    let block_reason = resp
        .prompt_feedback
        .as_ref()
        .and_then(|f| f.block_reason.clone());
    let Some(candidate) = first_candidate(&resp.candidates) else {
        let Some(reason) = block_reason else {
            return Err(bad_body(provider, "no candidates", body));
        };
        return Ok(ChatResponse {
            id,
            model,
            content: Vec::new(),
            stop_reason: StopReason::ContentFilter,
            native_stop_reason: Some(reason),
            stop_sequence: None,
            usage,
        });
    };
    let mut content = Vec::new();
    for raw in candidate_parts(candidate) {
        push_piece(&mut content, classify(raw));
    }
    let saw_tool_call = content.iter().any(|p| matches!(p, Part::ToolUse { .. }));
    let native = candidate.finish_reason.clone();
    let stop_reason = match native.as_deref() {
        Some(n) => hub_stop_reason(n, saw_tool_call),
        None if saw_tool_call => StopReason::ToolCalls,
        None => StopReason::Stop,
    };
    Ok(ChatResponse {
        id,
        model,
        content,
        stop_reason,
        native_stop_reason: native,
        stop_sequence: None,
        usage,
    })
}

// ---------------------------------------------------------------------------------------------
// Streaming
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum BlockKind {
    Text,
    Thinking,
}

pub(super) struct OpenBlock {
    index: usize,
    kind: BlockKind,
    signed: bool,
}

/// Decodes `streamGenerateContent?alt=sse`: every `data:` event is a whole
/// `GenerateContentResponse` chunk.
pub struct Decoder {
    provider: String,
    started: bool,
    next_index: usize,
    open: Option<OpenBlock>,
    saw_tool_call: bool,
    usage: Option<Usage>,
    finished: bool,
}

impl Decoder {
    pub fn new(provider: &str) -> Self {
        Decoder {
            provider: provider.to_string(),
            started: false,
            next_index: 0,
            open: None,
            saw_tool_call: false,
            usage: None,
            finished: false,
        }
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(block) = self.open.take() {
            out.push(StreamEvent::BlockStop { index: block.index });
        }
    }

    fn new_index(&mut self) -> usize {
        let index = self.next_index;
        self.next_index += 1;
        index
    }

    /// The open block of `kind`, starting one if another kind (or a signed thinking block) is
    /// open: a thinking block ends with its signature.
    fn ensure_open(&mut self, kind: BlockKind, out: &mut Vec<StreamEvent>) -> usize {
        if let Some(block) = &self.open {
            if block.kind == kind && !(kind == BlockKind::Thinking && block.signed) {
                return block.index;
            }
        }
        self.close(out);
        let index = self.new_index();
        out.push(StreamEvent::BlockStart {
            index,
            block: match kind {
                BlockKind::Text => BlockStart::Text,
                BlockKind::Thinking => BlockStart::Thinking,
            },
        });
        self.open = Some(OpenBlock {
            index,
            kind,
            signed: false,
        });
        index
    }

    fn sign(&mut self, signature: String, out: &mut Vec<StreamEvent>) {
        let index = self.ensure_open(BlockKind::Thinking, out);
        out.push(StreamEvent::BlockDelta {
            index,
            delta: BlockDelta::Signature(signature),
        });
        if let Some(block) = &mut self.open {
            block.signed = true;
        }
    }

    fn piece(&mut self, piece: Piece, out: &mut Vec<StreamEvent>) {
        match piece {
            Piece::Thought { text, signature } => {
                if !text.is_empty() {
                    let index = self.ensure_open(BlockKind::Thinking, out);
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Thinking(text),
                    });
                }
                if let Some(sig) = signature {
                    self.sign(sig, out);
                }
            }
            Piece::Text { text, signature } => {
                if let Some(sig) = signature {
                    self.sign(sig, out);
                }
                if !text.is_empty() {
                    let index = self.ensure_open(BlockKind::Text, out);
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Text(text),
                    });
                }
            }
            Piece::Call {
                id,
                name,
                args,
                signature,
            } => {
                self.close(out);
                self.saw_tool_call = true;
                let index = self.new_index();
                out.push(StreamEvent::BlockStart {
                    index,
                    block: BlockStart::ToolUse { id, name },
                });
                if let Some(sig) = signature {
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: BlockDelta::Signature(sig),
                    });
                }
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: BlockDelta::ToolInput(args),
                });
                out.push(StreamEvent::BlockStop { index });
            }
            // Inline images and other vendor parts have no stream block in the hub.
            Piece::Image { .. } | Piece::Other(_) => {}
        }
    }

    fn end(
        &mut self,
        reason: StopReason,
        native: String,
        usage: Option<Usage>,
        out: &mut Vec<StreamEvent>,
    ) {
        self.close(out);
        if usage.is_some() {
            self.usage = usage;
        }
        out.push(StreamEvent::Usage(self.usage.unwrap_or_default()));
        out.push(StreamEvent::Finish {
            reason,
            native: Some(native),
            stop_sequence: None,
        });
        self.finished = true;
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let data = ev.data.trim();
        if self.finished || data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                self.close(out);
                return Err(bad_body(
                    &self.provider,
                    &format!("stream chunk: {e}"),
                    data.as_bytes(),
                ));
            }
        };
        if let Some(error) = value.get("error") {
            self.close(out);
            return Err(errors::error_object(
                &self.provider,
                None,
                error,
                data.as_bytes(),
            ));
        }
        let chunk: GenerateContentResponse = match serde_json::from_value(value) {
            Ok(c) => c,
            Err(e) => {
                self.close(out);
                return Err(bad_body(
                    &self.provider,
                    &format!("stream chunk: {e}"),
                    data.as_bytes(),
                ));
            }
        };
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: chunk.response_id.clone(),
                model: chunk.model_version.clone(),
            });
        }
        let usage = chunk.usage_metadata.as_ref().map(|u| u.to_usage());
        if let Some(candidate) = first_candidate(&chunk.candidates) {
            for raw in candidate_parts(candidate) {
                self.piece(classify(raw), out);
            }
            if let Some(native) = &candidate.finish_reason {
                let reason = hub_stop_reason(native, self.saw_tool_call);
                self.end(reason, native.clone(), usage, out);
                return Ok(());
            }
        } else if let Some(block) = chunk
            .prompt_feedback
            .as_ref()
            .and_then(|f| f.block_reason.clone())
        {
            self.end(StopReason::ContentFilter, block, usage, out);
            return Ok(());
        }
        if let Some(u) = usage {
            if self.usage != Some(u) {
                self.usage = Some(u);
                out.push(StreamEvent::Usage(u));
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if self.finished {
            return Ok(());
        }
        self.close(out);
        Err(upstream_error(
            &self.provider,
            502,
            "stream ended before finishReason".into(),
            b"",
        ))
    }
}
