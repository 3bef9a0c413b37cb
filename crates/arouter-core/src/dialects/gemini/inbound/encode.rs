//! Hub -> Gemini `GenerateContentResponse`: unary bodies and stream chunks.

use super::*;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutResponse {
    candidates: Vec<OutCandidate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_metadata: Option<UsageMetadata>,
    model_version: String,
    response_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutCandidate {
    content: OutContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Debug, Serialize)]
pub(super) struct OutContent {
    parts: Vec<OutPart>,
    role: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum OutPart {
    Known(Box<KnownPart>),
    /// A Gemini part the hub carried verbatim.
    Raw(Value),
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct KnownPart {
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inline_data: Option<OutBlob>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_data: Option<OutFileData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function_call: Option<OutFunctionCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thought_signature: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutBlob {
    mime_type: String,
    data: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OutFileData {
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
    file_uri: String,
}

#[derive(Debug, Serialize)]
pub(super) struct OutFunctionCall {
    id: String,
    name: String,
    args: Value,
}

/// Renders a hub response as a `GenerateContentResponse`. Thought summaries appear only when
/// the caller asked for them (`includeThoughts`); signatures always travel.
pub fn from_internal(resp: &ChatResponse, model: &str, include_thoughts: bool) -> Value {
    let mut parts = Vec::new();
    let mut signature: Option<String> = None;
    for p in &resp.content {
        match p {
            Part::Thinking {
                text,
                signature: sig,
            } => {
                let sig = sig.as_ref().map(|s| s.hand_out(Dialect::Gemini));
                if include_thoughts && !text.is_empty() {
                    parts.push(OutPart::Known(Box::new(KnownPart {
                        text: Some(text.clone()),
                        thought: Some(true),
                        ..KnownPart::default()
                    })));
                }
                if sig.is_some() {
                    signature = sig;
                }
            }
            Part::ToolUse { signature: own, .. } => {
                let mut known = known_part(p).unwrap_or_default();
                known.thought_signature = own
                    .as_ref()
                    .map(|s| s.hand_out(Dialect::Gemini))
                    .or_else(|| signature.take());
                parts.push(OutPart::Known(Box::new(known)));
            }
            Part::Unknown {
                dialect: Dialect::Gemini,
                value,
            } => parts.push(OutPart::Raw(value.clone())),
            other => {
                if let Some(mut known) = known_part(other) {
                    known.thought_signature = signature.take();
                    parts.push(OutPart::Known(Box::new(known)));
                }
            }
        }
    }
    if let Some(sig) = signature {
        parts.push(signature_part(sig));
    }
    let out = OutResponse {
        candidates: vec![OutCandidate {
            content: OutContent {
                parts,
                role: "model",
            },
            finish_reason: Some(reasons::finish_reason(resp.stop_reason)),
            index: 0,
        }],
        usage_metadata: Some(UsageMetadata::from_usage(&resp.usage)),
        model_version: model.to_string(),
        response_id: resp.id.clone(),
    };
    serde_json::to_value(out).unwrap_or_else(|_| json!({}))
}

/// An empty text part carrying a signature that had no following part to ride on.
pub(super) fn signature_part(sig: String) -> OutPart {
    OutPart::Known(Box::new(KnownPart {
        text: Some(String::new()),
        thought_signature: Some(sig),
        ..KnownPart::default()
    }))
}

/// The Gemini part for a hub output part (thinking is handled by the caller).
pub(super) fn known_part(p: &Part) -> Option<KnownPart> {
    let mut k = KnownPart::default();
    match p {
        Part::Text { text, .. } => k.text = Some(text.clone()),
        Part::ToolUse {
            id,
            name,
            arguments,
            ..
        } => {
            k.function_call = Some(OutFunctionCall {
                id: id.clone(),
                name: name.clone(),
                args: args_object(arguments),
            })
        }
        Part::Image { source, .. } | Part::File { source, .. } => match source {
            MediaSource::Base64 { media_type, data } => {
                k.inline_data = Some(OutBlob {
                    mime_type: media_type.clone(),
                    data: data.clone(),
                })
            }
            MediaSource::Url { url, media_type } => {
                k.file_data = Some(OutFileData {
                    mime_type: media_type.clone(),
                    file_uri: url.clone(),
                })
            }
        },
        Part::Audio { data, format } => {
            k.inline_data = Some(OutBlob {
                mime_type: format!("audio/{format}"),
                data: data.clone(),
            })
        }
        _ => return None,
    }
    Some(k)
}

/// Tool arguments as the object Gemini's `args` must be. Unparseable or non-object text (a
/// truncated call) becomes `{}` rather than an invalid part.
pub(super) fn args_object(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({}),
    }
}

/// A tool call being streamed: Gemini sends each call whole, so arguments are buffered.
#[derive(Debug)]
pub(super) struct PendingCall {
    id: String,
    name: String,
    args: String,
}

/// Encodes hub stream events as `GenerateContentResponse` chunks.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    response_id: String,
    include_thoughts: bool,
    calls: BTreeMap<usize, PendingCall>,
    signature: Option<String>,
    /// Who signed the thinking: another dialect's signatures go out tagged.
    signer: Dialect,
    usage: Usage,
    finish: Option<StopReason>,
}

impl StreamEncoder {
    pub fn new(model: &str, response_id: &str, include_thoughts: bool, signer: Dialect) -> Self {
        StreamEncoder {
            signer,
            model: model.to_string(),
            response_id: response_id.to_string(),
            include_thoughts,
            calls: BTreeMap::new(),
            signature: None,
            usage: Usage::default(),
            finish: None,
        }
    }

    /// Appends the chunks for one event (usage and finish are held for [`Self::finish`]).
    pub fn encode(&mut self, ev: &StreamEvent, out: &mut Vec<Value>) {
        match ev {
            StreamEvent::Start { .. } => {}
            StreamEvent::BlockStart {
                index,
                block: BlockStart::ToolUse { id, name },
            } => {
                self.calls.insert(
                    *index,
                    PendingCall {
                        id: id.clone(),
                        name: name.clone(),
                        args: String::new(),
                    },
                );
            }
            StreamEvent::BlockStart { .. } => {}
            StreamEvent::BlockDelta { index, delta } => self.delta(*index, delta, out),
            StreamEvent::BlockStop { index } => {
                if let Some(call) = self.calls.remove(index) {
                    self.emit_call(call, out);
                }
            }
            StreamEvent::Usage(u) => self.usage = *u,
            StreamEvent::Finish { reason, .. } => self.finish = Some(*reason),
        }
    }

    fn delta(&mut self, index: usize, delta: &BlockDelta, out: &mut Vec<Value>) {
        match delta {
            BlockDelta::Text(text) if !text.is_empty() => {
                let part = KnownPart {
                    text: Some(text.clone()),
                    thought_signature: self.signature.take(),
                    ..KnownPart::default()
                };
                out.push(self.chunk(vec![OutPart::Known(Box::new(part))], None));
            }
            BlockDelta::Thinking(text) if self.include_thoughts && !text.is_empty() => {
                let part = KnownPart {
                    text: Some(text.clone()),
                    thought: Some(true),
                    ..KnownPart::default()
                };
                out.push(self.chunk(vec![OutPart::Known(Box::new(part))], None));
            }
            BlockDelta::Signature(sig) => {
                self.signature = Some(tagged(self.signer, Dialect::Gemini, sig));
            }
            BlockDelta::ToolInput(fragment) => {
                if let Some(call) = self.calls.get_mut(&index) {
                    call.args.push_str(fragment);
                }
            }
            _ => {}
        }
    }

    fn emit_call(&mut self, call: PendingCall, out: &mut Vec<Value>) {
        let part = KnownPart {
            function_call: Some(OutFunctionCall {
                id: call.id,
                name: call.name,
                args: args_object(&call.args),
            }),
            thought_signature: self.signature.take(),
            ..KnownPart::default()
        };
        out.push(self.chunk(vec![OutPart::Known(Box::new(part))], None));
    }

    /// The last chunks of a successful stream: calls never closed, then a chunk with the
    /// finish reason and the whole request's usage.
    pub fn finish(&mut self, out: &mut Vec<Value>) {
        for (_, call) in std::mem::take(&mut self.calls) {
            self.emit_call(call, out);
        }
        let mut last = KnownPart {
            text: Some(String::new()),
            ..KnownPart::default()
        };
        last.thought_signature = self.signature.take();
        let reason = reasons::finish_reason(self.finish.unwrap_or(StopReason::Stop));
        let mut chunk = self.chunk(vec![OutPart::Known(Box::new(last))], Some(reason));
        if let Ok(meta) = serde_json::to_value(UsageMetadata::from_usage(&self.usage)) {
            chunk["usageMetadata"] = meta;
        }
        out.push(chunk);
    }

    fn chunk(&self, parts: Vec<OutPart>, finish: Option<&'static str>) -> Value {
        let resp = OutResponse {
            candidates: vec![OutCandidate {
                content: OutContent {
                    parts,
                    role: "model",
                },
                finish_reason: finish,
                index: 0,
            }],
            usage_metadata: None,
            model_version: self.model.clone(),
            response_id: self.response_id.clone(),
        };
        serde_json::to_value(resp).unwrap_or_else(|_| json!({}))
    }
}
