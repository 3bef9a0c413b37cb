//! Hub -> OpenAI: the `chat.completion` body and `chat.completion.chunk` stream chunks.

use super::*;
use std::collections::HashSet;

/// Renders a hub response as an OpenRouter-style `chat.completion`, serialized straight from
/// typed parts (no `Value` tree: this is the translated unary path).
pub fn from_internal(resp: &ChatResponse, ids: &ResponseIds) -> Vec<u8> {
    use serde::Serialize;
    #[derive(Serialize)]
    struct Completion<'a> {
        id: &'a str,
        object: &'static str,
        created: i64,
        model: &'a str,
        provider: &'a str,
        choices: [Choice<'a>; 1],
        usage: UsageOut,
    }
    #[derive(Serialize)]
    struct Choice<'a> {
        index: u32,
        message: Message<'a>,
        finish_reason: &'static str,
        native_finish_reason: &'a Option<String>,
        logprobs: Option<()>,
    }
    #[derive(Serialize)]
    struct Message<'a> {
        role: &'static str,
        content: Joined<'a>,
        refusal: Option<()>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reasoning: Option<Joined<'a>>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        reasoning_details: Vec<Value>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<Value>,
    }
    /// The text (or thinking) parts concatenated, null when there are none.
    struct Joined<'a>(&'a [Part], bool);
    impl Serialize for Joined<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let texts = self.0.iter().filter_map(|p| match p {
                Part::Text { text, .. } if !self.1 => Some(text.as_str()),
                Part::Thinking { text, .. } if self.1 => Some(text.as_str()),
                _ => None,
            });
            match texts.collect::<Vec<_>>().as_slice() {
                [] => s.serialize_none(),
                [one] => s.serialize_str(one),
                many => s.serialize_str(&many.concat()),
            }
        }
    }
    let u = &resp.usage;
    let out = Completion {
        id: ids.id,
        object: "chat.completion",
        created: ids.created,
        model: ids.model,
        provider: ids.provider,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: Joined(&resp.content, false),
                refusal: None,
                reasoning: ids.include_reasoning.then_some(Joined(&resp.content, true)),
                reasoning_details: if ids.include_reasoning {
                    reasoning_details(&resp.content)
                } else {
                    Vec::new()
                },
                tool_calls: tool_calls(&resp.content),
            },
            finish_reason: resp.stop_reason.as_str(),
            native_finish_reason: &resp.native_stop_reason,
            logprobs: None,
        }],
        usage: UsageOut::new(u, ids.cost_usd),
    };
    serde_json::to_vec(&out).unwrap_or_default()
}

pub(super) fn reasoning_details(parts: &[Part]) -> Vec<Value> {
    let mut details = Vec::new();
    for part in parts {
        let index = details.len();
        match part {
            Part::Thinking { text, signature } => {
                let mut d = json!({"type": "reasoning.text", "text": text, "index": index});
                if let Some(sig) = signature {
                    d["signature"] = json!(sig.hand_out(Dialect::OpenAi));
                }
                details.push(d);
            }
            Part::RedactedThinking { data } => {
                let data = data.hand_out(Dialect::OpenAi);
                details.push(json!({"type": "reasoning.encrypted", "data": data, "index": index}));
            }
            _ => {}
        }
    }
    details
}

pub(super) fn tool_calls(parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::ToolUse {
                id,
                name,
                arguments,
                ..
            } => Some(json!({
                "id": id,
                "type": "function",
                "function": {
                    "name": name,
                    "arguments": if arguments.is_empty() { "{}" } else { arguments.as_str() },
                },
            })),
            _ => None,
        })
        .collect()
}

/// What a hub block index turned into on the OpenAI wire.
#[derive(Debug, Clone, Copy)]
pub(super) enum Block {
    Text,
    /// A reasoning block and its position in `reasoning_details`.
    Reasoning(usize),
    /// A tool call and its 0-based ordinal among tool calls.
    Tool(usize),
}

/// Encodes hub stream events as `chat.completion.chunk` objects.
#[derive(Debug)]
pub struct ChunkEncoder {
    id: String,
    model: String,
    provider: String,
    created: i64,
    include_reasoning: bool,
    started: bool,
    blocks: HashMap<usize, Block>,
    tool_count: usize,
    reasoning_count: usize,
    signer: Dialect,
    /// Blocks whose signature has begun (only its first fragment carries the tag).
    signed: HashSet<usize>,
    usage: Usage,
}

impl ChunkEncoder {
    pub fn new(ids: ResponseIds<'_>) -> Self {
        ChunkEncoder {
            id: ids.id.to_string(),
            model: ids.model.to_string(),
            provider: ids.provider.to_string(),
            created: ids.created,
            include_reasoning: ids.include_reasoning,
            started: false,
            blocks: HashMap::new(),
            tool_count: 0,
            reasoning_count: 0,
            signer: ids.signer,
            signed: HashSet::new(),
            usage: Usage::default(),
        }
    }

    /// Appends the chunks for one event. Usage is remembered for [`ChunkEncoder::finish_chunk`].
    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        if let StreamEvent::Usage(u) = ev {
            self.usage = *u;
            return;
        }
        if !self.started {
            self.started = true;
            out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
        }
        match ev {
            StreamEvent::Start { .. } | StreamEvent::BlockStop { .. } | StreamEvent::Usage(_) => {}
            StreamEvent::BlockStart { index, block } => self.block_start(*index, block, out),
            StreamEvent::BlockDelta { index, delta } => self.block_delta(*index, delta, out),
            StreamEvent::Finish { reason, native, .. } => {
                out.push(self.chunk(json!({}), Some((*reason, native.as_deref()))));
            }
        }
    }

    fn block_start(&mut self, index: usize, block: &BlockStart, out: &mut Vec<Value>) {
        match block {
            BlockStart::Text => {
                self.blocks.insert(index, Block::Text);
            }
            BlockStart::Thinking => {
                self.reasoning_block(index);
            }
            BlockStart::RedactedThinking { data } => {
                let detail = self.reasoning_block(index);
                if self.include_reasoning {
                    let data = tagged(self.signer, Dialect::OpenAi, data);
                    let d = json!({"type": "reasoning.encrypted", "data": data, "index": detail});
                    out.push(self.chunk(json!({"reasoning_details": [d]}), None));
                }
            }
            BlockStart::ToolUse { id, name } => {
                let ordinal = self.tool_count;
                self.tool_count += 1;
                self.blocks.insert(index, Block::Tool(ordinal));
                let call = json!({
                    "index": ordinal,
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                });
                out.push(self.chunk(json!({"tool_calls": [call]}), None));
            }
        }
    }

    fn reasoning_block(&mut self, index: usize) -> usize {
        if let Some(Block::Reasoning(detail)) = self.blocks.get(&index) {
            return *detail;
        }
        let detail = self.reasoning_count;
        self.reasoning_count += 1;
        self.blocks.insert(index, Block::Reasoning(detail));
        detail
    }

    fn block_delta(&mut self, index: usize, delta: &BlockDelta, out: &mut Vec<Value>) {
        let delta_json = match delta {
            BlockDelta::Text(text) if !text.is_empty() => json!({"content": text}),
            BlockDelta::Thinking(text) if self.include_reasoning && !text.is_empty() => {
                let detail = self.reasoning_block(index);
                json!({
                    "reasoning": text,
                    "reasoning_details": [{"type": "reasoning.text", "text": text, "index": detail}],
                })
            }
            BlockDelta::Signature(sig) if self.include_reasoning => {
                let detail = self.reasoning_block(index);
                let sig = if self.signed.insert(index) {
                    tagged(self.signer, Dialect::OpenAi, sig)
                } else {
                    sig.clone()
                };
                json!({
                    "reasoning_details": [{"type": "reasoning.text", "signature": sig, "index": detail}],
                })
            }
            BlockDelta::ToolInput(fragment) if !fragment.is_empty() => {
                // A fragment for a block that never started has no call id to attach to.
                let Some(Block::Tool(ordinal)) = self.blocks.get(&index) else {
                    return;
                };
                json!({"tool_calls": [{"index": ordinal, "function": {"arguments": fragment}}]})
            }
            _ => return,
        };
        out.push(self.chunk(delta_json, None));
    }

    fn envelope(&self) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "provider": self.provider,
        })
    }

    fn chunk(&self, delta: Value, finish: Option<(StopReason, Option<&str>)>) -> Value {
        let mut c = self.envelope();
        c["choices"] = json!([{
            "index": 0,
            "delta": delta,
            "finish_reason": finish.map(|(r, _)| r.as_str()),
            "native_finish_reason": finish.and_then(|(_, n)| n),
            "logprobs": null,
        }]);
        c
    }

    /// The last chunk: no choices, the whole request's usage (sent once).
    pub fn finish_chunk(&self, cost_usd: Option<f64>) -> Value {
        let mut c = self.envelope();
        c["choices"] = json!([]);
        c["usage"] = usage_json(&self.usage, cost_usd);
        c
    }
}
