//! Anthropic responses and streams -> hub: unary parse and the stream decoder.

use super::*;

#[derive(Deserialize)]
pub(super) struct WireResponse {
    id: String,
    model: String,
    content: Vec<Value>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireContentBlock {
    Text {
        text: String,
    },
    Thinking {
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
}

pub(super) const MODELLED_BLOCKS: &[&str] = &["text", "thinking", "redacted_thinking", "tool_use"];

/// Parses a 2xx `/v1/messages` body.
pub fn parse(provider: &str, body: &[u8]) -> Result<ChatResponse, ApiError> {
    let wire: WireResponse = serde_json::from_slice(body).map_err(|e| {
        crate::dialects::target::bad_body(
            provider,
            &format!("not an Anthropic message ({e})"),
            body,
        )
    })?;
    let content = wire
        .content
        .into_iter()
        .map(response_part)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|what| crate::dialects::target::bad_body(provider, &what, body))?;
    Ok(ChatResponse {
        id: wire.id,
        model: wire.model,
        content,
        stop_reason: reasons::hub_stop_reason(wire.stop_reason.as_deref()),
        native_stop_reason: wire.stop_reason,
        stop_sequence: wire.stop_sequence,
        usage: wire.usage.to_hub(),
    })
}

pub(super) fn response_part(value: Value) -> Result<Part, String> {
    let kind = match value.get("type").and_then(Value::as_str) {
        Some(kind) if MODELLED_BLOCKS.contains(&kind) => kind.to_string(),
        _ => {
            return Ok(Part::Unknown {
                dialect: Dialect::Anthropic,
                value,
            })
        }
    };
    let block: WireContentBlock =
        serde_json::from_value(value).map_err(|e| format!("malformed {kind} block ({e})"))?;
    Ok(match block {
        WireContentBlock::Text { text } => Part::text(text),
        WireContentBlock::Thinking {
            thinking,
            signature,
        } => Part::Thinking {
            text: thinking,
            signature: signature
                .filter(|s| !s.is_empty())
                .map(|s| Signed::new(Dialect::Anthropic, s)),
        },
        WireContentBlock::RedactedThinking { data } => Part::RedactedThinking {
            data: Signed::new(Dialect::Anthropic, data),
        },
        WireContentBlock::ToolUse { id, name, input } => Part::ToolUse {
            id,
            name,
            arguments: compact_json(&input.unwrap_or_else(|| Value::Object(Map::new()))),
            signature: None,
        },
    })
}

pub(super) fn compact_json(value: &Value) -> String {
    // Serializing a `Value` cannot fail (its map keys are strings).
    serde_json::to_string(value).unwrap_or_default()
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireEvent {
    MessageStart {
        message: WireStartMessage,
    },
    ContentBlockStart {
        index: u64,
        content_block: WireStartBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: WireDelta,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        delta: WireMessageDelta,
        #[serde(default)]
        usage: Option<WireUsage>,
    },
    MessageStop,
    Ping,
    Error {
        error: WireError,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
pub(super) struct WireStartMessage {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireStartBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Option<Value>,
    },
    /// Server tool blocks and future types: the hub stream has no slot for them.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum WireDelta {
    TextDelta {
        text: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    /// e.g. `citations_delta`.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
pub(super) struct WireMessageDelta {
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    stop_sequence: Option<String>,
}

/// Anthropic SSE (`message_start` … `message_stop`) to hub stream events.
pub struct Decoder {
    provider: String,
    /// Upstream block index → dense hub index, for the block types the hub models.
    indexes: HashMap<u64, usize>,
    next_index: usize,
    /// Hub indexes started and not yet stopped, in start order.
    open: Vec<usize>,
    usage: WireUsage,
    /// `message_stop` seen: the stream is complete.
    complete: bool,
    /// An `error` event or a garbled event ended the stream (already reported as `Err`).
    failed: bool,
}

impl Decoder {
    pub fn new(provider: &str) -> Self {
        Decoder {
            provider: provider.to_string(),
            indexes: HashMap::new(),
            next_index: 0,
            open: Vec::new(),
            usage: WireUsage::default(),
            complete: false,
            failed: false,
        }
    }

    fn block_start(&mut self, upstream: u64, block: WireStartBlock, out: &mut Vec<StreamEvent>) {
        if self.indexes.contains_key(&upstream) {
            return;
        }
        let (start, first_deltas) = match block {
            WireStartBlock::Text { text } => (BlockStart::Text, vec![BlockDelta::Text(text)]),
            WireStartBlock::Thinking {
                thinking,
                signature,
            } => (
                BlockStart::Thinking,
                vec![
                    BlockDelta::Thinking(thinking),
                    BlockDelta::Signature(signature.unwrap_or_default()),
                ],
            ),
            WireStartBlock::RedactedThinking { data } => {
                (BlockStart::RedactedThinking { data }, Vec::new())
            }
            WireStartBlock::ToolUse { id, name, input } => {
                // The start carries `input: {}`; the arguments follow as input_json_delta.
                let initial = input
                    .filter(|v| !v.as_object().is_some_and(Map::is_empty))
                    .map(|v| compact_json(&v))
                    .unwrap_or_default();
                (
                    BlockStart::ToolUse { id, name },
                    vec![BlockDelta::ToolInput(initial)],
                )
            }
            WireStartBlock::Other => return,
        };
        let index = self.next_index;
        self.next_index += 1;
        self.indexes.insert(upstream, index);
        self.open.push(index);
        out.push(StreamEvent::BlockStart {
            index,
            block: start,
        });
        for delta in first_deltas.into_iter().filter(|d| !delta_is_empty(d)) {
            out.push(StreamEvent::BlockDelta { index, delta });
        }
    }

    fn block_delta(&mut self, upstream: u64, delta: WireDelta, out: &mut Vec<StreamEvent>) {
        let Some(&index) = self.indexes.get(&upstream) else {
            return;
        };
        let delta = match delta {
            WireDelta::TextDelta { text } => BlockDelta::Text(text),
            WireDelta::ThinkingDelta { thinking } => BlockDelta::Thinking(thinking),
            WireDelta::SignatureDelta { signature } => BlockDelta::Signature(signature),
            WireDelta::InputJsonDelta { partial_json } => BlockDelta::ToolInput(partial_json),
            WireDelta::Other => return,
        };
        if !delta_is_empty(&delta) {
            out.push(StreamEvent::BlockDelta { index, delta });
        }
    }

    fn block_stop(&mut self, upstream: u64, out: &mut Vec<StreamEvent>) {
        let Some(&index) = self.indexes.get(&upstream) else {
            return;
        };
        if let Some(pos) = self.open.iter().position(|&i| i == index) {
            self.open.remove(pos);
            out.push(StreamEvent::BlockStop { index });
        }
    }

    fn message_delta(
        &mut self,
        delta: WireMessageDelta,
        usage: Option<WireUsage>,
        out: &mut Vec<StreamEvent>,
    ) {
        if let Some(usage) = usage {
            self.usage.merge(&usage);
        }
        out.push(StreamEvent::Usage(self.usage.to_hub()));
        if let Some(native) = delta.stop_reason {
            out.push(StreamEvent::Finish {
                reason: reasons::hub_stop_reason(Some(&native)),
                native: Some(native),
                stop_sequence: delta.stop_sequence,
            });
        }
    }

    fn close_open_blocks(&mut self, out: &mut Vec<StreamEvent>) {
        for index in self.open.drain(..) {
            out.push(StreamEvent::BlockStop { index });
        }
    }
}

pub(super) fn delta_is_empty(delta: &BlockDelta) -> bool {
    match delta {
        BlockDelta::Text(s)
        | BlockDelta::Thinking(s)
        | BlockDelta::Signature(s)
        | BlockDelta::ToolInput(s) => s.is_empty(),
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if self.complete || self.failed {
            return Ok(());
        }
        let event: WireEvent = match serde_json::from_str(&ev.data) {
            Ok(event) => event,
            Err(e) => {
                self.failed = true;
                let what = format!("invalid stream event ({e})");
                return Err(crate::dialects::target::bad_body(
                    &self.provider,
                    &what,
                    ev.data.as_bytes(),
                ));
            }
        };
        match event {
            WireEvent::MessageStart { message } => {
                out.push(StreamEvent::Start {
                    id: message.id,
                    model: message.model,
                });
                self.usage.merge(&message.usage);
                out.push(StreamEvent::Usage(self.usage.to_hub()));
            }
            WireEvent::ContentBlockStart {
                index,
                content_block,
            } => self.block_start(index, content_block, out),
            WireEvent::ContentBlockDelta { index, delta } => self.block_delta(index, delta, out),
            WireEvent::ContentBlockStop { index } => self.block_stop(index, out),
            WireEvent::MessageDelta { delta, usage } => self.message_delta(delta, usage, out),
            WireEvent::MessageStop => self.complete = true,
            WireEvent::Ping | WireEvent::Other => {}
            WireEvent::Error { error } => {
                self.failed = true;
                let status = errors::status_for_type(&error.kind).unwrap_or(502);
                return Err(errors::api_error(
                    &self.provider,
                    status,
                    &error,
                    ev.data.as_bytes(),
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        self.close_open_blocks(out);
        if self.complete || self.failed {
            return Ok(());
        }
        Err(upstream_error(
            &self.provider,
            502,
            "stream ended before message_stop".into(),
            b"",
        ))
    }
}
