//! Stream decoder for Responses upstreams: OpenAI's events → hub stream events. Text, reasoning
//! (summary or raw text), function and custom tool calls become hub blocks; `response.completed`
//! / `response.incomplete` carry usage and the stop reason; `response.failed` and `error`
//! become errors with OpenAI's code kept. A stream that ends without one of those is an error.

use super::custom;
use super::errors;
use super::usage;
use super::wire;
use crate::error::{upstream_error, ApiError};
use crate::model::{BlockDelta, BlockStart, StopReason, StreamEvent};
use crate::providers::{bad_body, StreamDecoder};
use crate::sse::SseEvent;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Thinking,
    Call,
    Custom,
}

#[derive(Debug)]
struct Slot {
    output_index: u64,
    content_index: u64,
    block: usize,
    kind: Kind,
    /// Argument text seen as deltas (function calls) / the last summary index (reasoning).
    seen: bool,
    summary_index: i64,
    open: bool,
}

pub struct Decoder {
    provider: String,
    next_block: usize,
    slots: Vec<Slot>,
    has_call: bool,
    done: bool,
}

impl Decoder {
    pub fn new(provider: &str) -> Self {
        Decoder {
            provider: provider.to_string(),
            next_block: 0,
            slots: Vec::new(),
            has_call: false,
            done: false,
        }
    }

    fn open(
        &mut self,
        output_index: u64,
        content_index: u64,
        kind: Kind,
        block: BlockStart,
        out: &mut Vec<StreamEvent>,
    ) -> usize {
        if let Some(s) = self.slots.iter().find(|s| {
            s.output_index == output_index && s.content_index == content_index && s.kind == kind
        }) {
            return s.block;
        }
        let index = self.next_block;
        self.next_block += 1;
        out.push(StreamEvent::BlockStart { index, block });
        self.slots.push(Slot {
            output_index,
            content_index,
            block: index,
            kind,
            seen: false,
            summary_index: -1,
            open: true,
        });
        index
    }

    fn slot_mut(&mut self, output_index: u64, kind: Kind) -> Option<&mut Slot> {
        self.slots
            .iter_mut()
            .find(|s| s.output_index == output_index && s.kind == kind && s.open)
    }

    fn close_item(&mut self, output_index: u64, out: &mut Vec<StreamEvent>) {
        for s in self.slots.iter_mut() {
            if s.output_index == output_index && s.open {
                s.open = false;
                out.push(StreamEvent::BlockStop { index: s.block });
            }
        }
    }

    fn close_all(&mut self, out: &mut Vec<StreamEvent>) {
        for s in self.slots.iter_mut().filter(|s| s.open) {
            s.open = false;
            out.push(StreamEvent::BlockStop { index: s.block });
        }
    }

    fn text(&mut self, oi: u64, ci: u64, delta: &str, out: &mut Vec<StreamEvent>) {
        if delta.is_empty() {
            return;
        }
        let index = self.open(oi, ci, Kind::Text, BlockStart::Text, out);
        out.push(StreamEvent::BlockDelta {
            index,
            delta: BlockDelta::Text(delta.to_string()),
        });
    }

    fn thinking(&mut self, oi: u64, part: i64, delta: &str, out: &mut Vec<StreamEvent>) {
        if delta.is_empty() {
            return;
        }
        let index = self.open(oi, 0, Kind::Thinking, BlockStart::Thinking, out);
        let mut text = String::new();
        if let Some(slot) = self.slot_mut(oi, Kind::Thinking) {
            if slot.summary_index >= 0 && part > slot.summary_index {
                text.push_str("\n\n");
            }
            slot.summary_index = slot.summary_index.max(part);
        }
        text.push_str(delta);
        out.push(StreamEvent::BlockDelta {
            index,
            delta: BlockDelta::Thinking(text),
        });
    }

    fn item_added(&mut self, oi: u64, item: &Value, out: &mut Vec<StreamEvent>) {
        let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
        let kind = match s("type") {
            "function_call" => Kind::Call,
            "custom_tool_call" => Kind::Custom,
            _ => return,
        };
        self.has_call = true;
        let block = BlockStart::ToolUse {
            id: s("call_id").to_string(),
            name: s("name").to_string(),
        };
        self.open(oi, 0, kind, block, out);
    }

    fn item_done(&mut self, oi: u64, item: &Value, out: &mut Vec<StreamEvent>) {
        let s = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default();
        match s("type") {
            "function_call" | "custom_tool_call" => {
                // Servers that skip `output_item.added` still get a block.
                self.item_added(oi, item, out);
                let custom = s("type") == "custom_tool_call";
                let kind = if custom { Kind::Custom } else { Kind::Call };
                let fragment = if custom {
                    custom::arguments_for(s("input"))
                } else {
                    s("arguments").to_string()
                };
                if let Some(slot) = self.slot_mut(oi, kind) {
                    if !slot.seen && !fragment.is_empty() {
                        slot.seen = true;
                        let index = slot.block;
                        out.push(StreamEvent::BlockDelta {
                            index,
                            delta: BlockDelta::ToolInput(fragment),
                        });
                    }
                }
            }
            "message" if !self.slots.iter().any(|s| s.output_index == oi) => {
                let parts = item.get("content").and_then(Value::as_array);
                for (ci, p) in parts.into_iter().flatten().enumerate() {
                    let text = p.get("text").or_else(|| p.get("refusal"));
                    if let Some(t) = text.and_then(Value::as_str) {
                        self.text(oi, ci as u64, t, out);
                    }
                }
            }
            "reasoning" if !self.slots.iter().any(|s| s.output_index == oi) => {
                if let Ok(r) = serde_json::from_value::<wire::ReasoningItem>(item.clone()) {
                    self.thinking(oi, 0, &super::reasoning::text_of(&r), out);
                }
            }
            _ => {}
        }
        self.close_item(oi, out);
    }

    fn end(&mut self, response: Option<&Value>, out: &mut Vec<StreamEvent>) {
        self.done = true;
        self.close_all(out);
        let r = response.unwrap_or(&Value::Null);
        if let Some(u) = r
            .get("usage")
            .filter(|u| u.is_object())
            .and_then(|u| serde_json::from_value::<wire::Usage>(u.clone()).ok())
        {
            out.push(StreamEvent::Usage(usage::from_wire(&u)));
        }
        let status = r.get("status").and_then(Value::as_str);
        let incomplete = r
            .pointer("/incomplete_details/reason")
            .and_then(Value::as_str);
        let reason: StopReason = usage::stop_reason(status, incomplete, self.has_call);
        out.push(StreamEvent::Finish {
            reason,
            native: incomplete.or(status).map(str::to_string),
            stop_sequence: None,
        });
    }
}

impl StreamDecoder for Decoder {
    fn event(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        let data = ev.data.trim();
        if self.done || data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|_| bad_body(&self.provider, "stream event is not JSON", data.as_bytes()))?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or_default();
        let oi = v.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        let ci = v.get("content_index").and_then(Value::as_u64).unwrap_or(0);
        let delta = v.get("delta").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "response.created" => {
                let r = v.get("response");
                let text = |k: &str| {
                    r.and_then(|r| r.get(k))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                out.push(StreamEvent::Start {
                    id: text("id"),
                    model: text("model"),
                });
            }
            "response.output_item.added" => {
                if let Some(item) = v.get("item") {
                    self.item_added(oi, item, out);
                }
            }
            "response.output_text.delta" | "response.refusal.delta" => {
                self.text(oi, ci, delta, out)
            }
            "response.reasoning_summary_text.delta" => {
                let part = v.get("summary_index").and_then(Value::as_i64).unwrap_or(0);
                self.thinking(oi, part, delta, out);
            }
            "response.reasoning_text.delta" => {
                let part = v.get("content_index").and_then(Value::as_i64).unwrap_or(0);
                self.thinking(oi, part, delta, out);
            }
            "response.function_call_arguments.delta" => {
                if let Some(slot) = self.slot_mut(oi, Kind::Call) {
                    slot.seen = true;
                    if !delta.is_empty() {
                        let index = slot.block;
                        out.push(StreamEvent::BlockDelta {
                            index,
                            delta: BlockDelta::ToolInput(delta.to_string()),
                        });
                    }
                }
            }
            "response.output_item.done" => {
                if let Some(item) = v.get("item") {
                    self.item_done(oi, item, out);
                }
            }
            "response.completed" | "response.incomplete" => self.end(v.get("response"), out),
            "response.failed" => {
                self.done = true;
                let error = v.get("response").and_then(|r| r.get("error"));
                return Err(errors::from_failed(&self.provider, error, data.as_bytes()));
            }
            "error" => {
                self.done = true;
                let error = v.get("error").unwrap_or(&v);
                return Err(errors::from_failed(
                    &self.provider,
                    Some(error),
                    data.as_bytes(),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), ApiError> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        self.close_all(out);
        Err(upstream_error(
            &self.provider,
            502,
            "stream ended before response.completed".to_string(),
            b"",
        ))
    }
}
