//! Stream encoder: hub stream events → OpenAI's Responses event sequence, each event numbered
//! by `sequence_number`:
//!
//! `response.created`, `response.in_progress`, then per output item `output_item.added`,
//! its content events (`content_part.added`, `output_text.delta`/`.done`, `content_part.done`;
//! `reasoning_summary_part.added`, `reasoning_summary_text.delta`/`.done`,
//! `reasoning_summary_part.done`; `function_call_arguments.delta`/`.done`;
//! `custom_tool_call_input.delta`/`.done`), `output_item.done`; and last exactly one of
//! `response.completed`, `response.incomplete` or `response.failed`.

use super::custom;
use super::reasoning;
use super::response::{output_text, Meta};
use super::usage;
use crate::error::ApiError;
use crate::model::{BlockDelta, BlockStart, Signed, StopReason, StreamEvent, Usage};
use bytes::Bytes;
use serde_json::{json, Value};

/// An output item being streamed.
#[derive(Debug)]
enum Open {
    Text {
        out: usize,
        id: String,
        text: String,
    },
    Reasoning {
        out: usize,
        id: String,
        text: String,
        signature: String,
        part_open: bool,
    },
    Redacted {
        out: usize,
        id: String,
        data: String,
    },
    Call {
        out: usize,
        id: String,
        call_id: String,
        name: String,
        args: String,
    },
}

#[derive(Debug)]
pub struct Encoder {
    meta: Meta,
    seq: u64,
    started: bool,
    /// Hub block index → open item (few at a time: a vector beats a map).
    open: Vec<(usize, Open)>,
    /// Output items by output index; `Null` while still open.
    output: Vec<Value>,
    usage: Option<Usage>,
    reason: Option<StopReason>,
    /// The last response object sent (completed, incomplete or failed).
    last: Option<Value>,
}

/// One event as SSE bytes: `event: <type>` and `data: <json>`, as OpenAI sends them.
pub fn sse(event: &Value) -> Bytes {
    let kind = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    let data = serde_json::to_string(event).unwrap_or_default();
    let mut s = String::with_capacity(data.len() + kind.len() + 16);
    s.push_str("event: ");
    s.push_str(kind);
    s.push_str("\ndata: ");
    s.push_str(&data);
    s.push_str("\n\n");
    Bytes::from(s)
}

impl Encoder {
    pub fn new(meta: Meta) -> Self {
        Encoder {
            meta,
            seq: 0,
            started: false,
            open: Vec::new(),
            output: Vec::new(),
            usage: None,
            reason: None,
            last: None,
        }
    }

    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Whether the terminal event (completed / incomplete / failed) went out.
    pub fn is_finished(&self) -> bool {
        self.last.is_some()
    }

    /// The terminal response object, once sent (what `store` keeps).
    pub fn final_response(&self) -> Option<&Value> {
        self.last.as_ref()
    }

    fn emit(&mut self, out: &mut Vec<Value>, kind: &str, mut body: Value) {
        body["type"] = json!(kind);
        body["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.push(body);
    }

    /// `response.created` and `response.in_progress` (once).
    pub fn start(&mut self, out: &mut Vec<Value>) {
        if self.started {
            return;
        }
        self.started = true;
        let obj = self
            .meta
            .object("in_progress", Vec::new(), None, None, None);
        self.emit(out, "response.created", json!({"response": obj.clone()}));
        self.emit(out, "response.in_progress", json!({"response": obj}));
    }

    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        self.start(out);
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Finish { reason, .. } => self.reason = Some(*reason),
            StreamEvent::BlockStart { index, block } => self.block_start(*index, block, out),
            StreamEvent::BlockDelta { index, delta } => self.block_delta(*index, delta, out),
            StreamEvent::BlockStop { index } => self.block_stop(*index, out),
        }
    }

    fn add_item(&mut self, out: &mut Vec<Value>, item: Value) -> usize {
        let n = self.output.len();
        self.output.push(Value::Null);
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": n, "item": item}),
        );
        n
    }

    fn block_start(&mut self, index: usize, block: &BlockStart, out: &mut Vec<Value>) {
        if self.open.iter().any(|(i, _)| *i == index) {
            return;
        }
        let n = self.output.len();
        let open = match block {
            BlockStart::Text => {
                let id = self.meta.item_id("msg", n);
                let item = self.meta.message_item(&id, "in_progress", &[]);
                self.add_item(out, item);
                self.emit(
                    out,
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "part": output_text("")}),
                );
                Open::Text {
                    out: n,
                    id,
                    text: String::new(),
                }
            }
            BlockStart::Thinking => {
                let id = self.meta.item_id("rs", n);
                let item = self.meta.reasoning_item(&id, "", None);
                self.add_item(out, item);
                Open::Reasoning {
                    out: n,
                    id,
                    text: String::new(),
                    signature: String::new(),
                    part_open: false,
                }
            }
            BlockStart::RedactedThinking { data } => {
                let id = self.meta.item_id("rs", n);
                let item = self.meta.reasoning_item(&id, "", None);
                self.add_item(out, item);
                Open::Redacted {
                    out: n,
                    id,
                    data: data.clone(),
                }
            }
            BlockStart::ToolUse { id: call_id, name } => {
                let mut item = self.meta.call_item(n, call_id, name, "", "in_progress");
                let id = item["id"].as_str().unwrap_or_default().to_string();
                if item["type"] == "custom_tool_call" {
                    item["input"] = json!("");
                }
                self.add_item(out, item);
                Open::Call {
                    out: n,
                    id,
                    call_id: call_id.clone(),
                    name: name.clone(),
                    args: String::new(),
                }
            }
        };
        self.open.push((index, open));
    }

    fn block_delta(&mut self, index: usize, delta: &BlockDelta, out: &mut Vec<Value>) {
        let Some(pos) = self.open.iter().position(|(i, _)| *i == index) else {
            return;
        };
        let mut pending: Vec<(&'static str, Value)> = Vec::new();
        match (&mut self.open[pos].1, delta) {
            (Open::Text { out: n, id, text }, BlockDelta::Text(t)) if !t.is_empty() => {
                text.push_str(t);
                pending.push((
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "delta": t, "logprobs": []}),
                ));
            }
            (
                Open::Reasoning {
                    out: n,
                    id,
                    text,
                    part_open,
                    ..
                },
                BlockDelta::Thinking(t),
            ) if !t.is_empty() => {
                if !*part_open {
                    *part_open = true;
                    pending.push((
                        "response.reasoning_summary_part.added",
                        json!({"item_id": id, "output_index": n, "summary_index": 0,
                               "part": {"type": "summary_text", "text": ""}}),
                    ));
                }
                text.push_str(t);
                pending.push((
                    "response.reasoning_summary_text.delta",
                    json!({"item_id": id, "output_index": n, "summary_index": 0, "delta": t}),
                ));
            }
            (Open::Reasoning { signature, .. }, BlockDelta::Signature(s)) => {
                signature.push_str(s);
            }
            (
                Open::Call {
                    out: n,
                    id,
                    name,
                    args,
                    ..
                },
                BlockDelta::ToolInput(f),
            ) if !f.is_empty() => {
                args.push_str(f);
                // A custom tool's input is the decoded string inside the arguments: it goes out
                // whole when the call ends.
                if !self.meta.tools.contains(name) {
                    pending.push((
                        "response.function_call_arguments.delta",
                        json!({"item_id": id, "output_index": n, "delta": f}),
                    ));
                }
            }
            _ => {}
        }
        for (kind, body) in pending {
            self.emit(out, kind, body);
        }
    }

    fn block_stop(&mut self, index: usize, out: &mut Vec<Value>) {
        let Some(pos) = self.open.iter().position(|(i, _)| *i == index) else {
            return;
        };
        let (_, open) = self.open.remove(pos);
        self.close(open, out);
    }

    fn close(&mut self, open: Open, out: &mut Vec<Value>) {
        let (n, item) = match open {
            Open::Text { out: n, id, text } => {
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "part": output_text(&text)}),
                );
                (n, self.meta.message_item(&id, "completed", &[text]))
            }
            Open::Reasoning {
                out: n,
                id,
                text,
                signature,
                part_open,
            } => {
                if part_open {
                    self.emit(
                        out,
                        "response.reasoning_summary_text.done",
                        json!({"item_id": id, "output_index": n, "summary_index": 0, "text": text}),
                    );
                    self.emit(
                        out,
                        "response.reasoning_summary_part.done",
                        json!({"item_id": id, "output_index": n, "summary_index": 0,
                               "part": {"type": "summary_text", "text": text}}),
                    );
                }
                let signed = Signed::new(self.meta.issuer, signature);
                let enc = self.meta.encrypted(Some(&signed));
                (n, self.meta.reasoning_item(&id, &text, enc))
            }
            Open::Redacted { out: n, id, data } => (
                n,
                self.meta.reasoning_item(
                    &id,
                    "",
                    Some(reasoning::wrap_redacted(&Signed::new(
                        self.meta.issuer,
                        data,
                    ))),
                ),
            ),
            Open::Call {
                out: n,
                id,
                call_id,
                name,
                args,
            } => {
                let args = if args.is_empty() {
                    "{}".to_string()
                } else {
                    args
                };
                if self.meta.tools.contains(&name) {
                    let input = custom::input_from(&args);
                    if !input.is_empty() {
                        self.emit(
                            out,
                            "response.custom_tool_call_input.delta",
                            json!({"item_id": id, "output_index": n, "delta": input}),
                        );
                    }
                    self.emit(
                        out,
                        "response.custom_tool_call_input.done",
                        json!({"item_id": id, "output_index": n, "input": input}),
                    );
                } else {
                    self.emit(
                        out,
                        "response.function_call_arguments.done",
                        json!({"item_id": id, "output_index": n, "name": name, "arguments": args}),
                    );
                }
                (
                    n,
                    self.meta.call_item(n, &call_id, &name, &args, "completed"),
                )
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": n, "item": item.clone()}),
        );
        self.output[n] = item;
    }

    fn close_all(&mut self, out: &mut Vec<Value>) {
        while !self.open.is_empty() {
            let (_, open) = self.open.remove(0);
            self.close(open, out);
        }
    }

    /// The upstream finished: open items close, then `response.completed` (or
    /// `response.incomplete` when it stopped at the token cap or a content filter).
    pub fn finish(&mut self, out: &mut Vec<Value>) {
        if self.is_finished() {
            return;
        }
        self.start(out);
        self.close_all(out);
        let reason = self.reason.unwrap_or(StopReason::Stop);
        let (status, _) = usage::status_of(reason);
        let usage = self.usage.unwrap_or_default();
        let output = std::mem::take(&mut self.output);
        let obj = self
            .meta
            .object(status, output.clone(), Some(&usage), Some(reason), None);
        self.output = output;
        let kind = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit(out, kind, json!({"response": obj.clone()}));
        self.last = Some(obj);
    }

    /// A failure after the stream began: `response.failed` with OpenAI's error code.
    pub fn fail(&mut self, err: &ApiError, out: &mut Vec<Value>) {
        if self.is_finished() {
            return;
        }
        self.start(out);
        let done: Vec<Value> = self
            .output
            .iter()
            .filter(|v| !v.is_null())
            .cloned()
            .collect();
        let obj = self.meta.object(
            "failed",
            done,
            self.usage.as_ref(),
            None,
            Some(super::errors::response_error(err)),
        );
        self.emit(out, "response.failed", json!({"response": obj.clone()}));
        self.last = Some(obj);
    }

    /// The usage seen so far.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
