//! The hub: one internal request / content / usage / stop-reason / stream-event model that every
//! inbound surface converts into and every provider adapter converts out of.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which wire dialect a piece of data came from (for the unknown-part escape hatch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
    /// OpenAI's Responses API (items such as encrypted reasoning replay only to it).
    #[serde(rename = "openai_responses")]
    OpenAiResponses,
}

impl Dialect {
    /// The dialect an upstream of this kind answers in (`responses`: an openai-kind provider
    /// called on the Responses API).
    pub fn of_upstream(kind: crate::config::ProviderKind, responses: bool) -> Dialect {
        use crate::config::ProviderKind;
        match kind {
            ProviderKind::Anthropic => Dialect::Anthropic,
            ProviderKind::Gemini => Dialect::Gemini,
            ProviderKind::OpenAi if responses => Dialect::OpenAiResponses,
            ProviderKind::OpenAi => Dialect::OpenAi,
        }
    }

    /// The name in ARouter's tag on a signature handed to a client of another dialect.
    fn tag(self) -> &'static str {
        match self {
            Dialect::OpenAi => "arouter:openai-chat:",
            Dialect::Anthropic => "arouter:anthropic:",
            Dialect::Gemini => "arouter:gemini:",
            Dialect::OpenAiResponses => "arouter:openai-responses:",
        }
    }
}

/// An opaque vendor signature over reasoning (Anthropic's thinking `signature` and
/// `redacted_thinking` data, Gemini's `thoughtSignature`, an OpenAI-compatible upstream's
/// `reasoning_details` signature or encrypted data) and the dialect that issued it. A vendor
/// accepts only its own: a signature goes back to providers of its issuer's dialect and is
/// dropped for any other. A client of another dialect receives it tagged with its issuer
/// (`arouter:gemini:…`), so that it is recognised when the client sends it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub by: Dialect,
    pub value: String,
}

impl Signed {
    pub fn new(by: Dialect, value: impl Into<String>) -> Signed {
        Signed {
            by,
            value: value.into(),
        }
    }

    /// The value for an upstream speaking `to`: only its own signatures.
    pub fn for_upstream(&self, to: Dialect) -> Option<&str> {
        (self.by == to && !self.value.is_empty()).then_some(self.value.as_str())
    }

    /// What a client of `surface` is handed for it.
    pub fn hand_out(&self, surface: Dialect) -> String {
        tagged(self.by, surface, &self.value)
    }

    /// A signature a client of `surface` sent back: a tagged one names its issuer; an
    /// untagged one is `surface`'s own.
    pub fn take_in(surface: Dialect, raw: &str) -> Signed {
        const ALL: [Dialect; 4] = [
            Dialect::OpenAi,
            Dialect::Anthropic,
            Dialect::Gemini,
            Dialect::OpenAiResponses,
        ];
        let decoded = (surface == Dialect::Gemini && raw.starts_with(TAG_BASE64_PREFIX))
            .then(|| {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
                String::from_utf8(bytes).ok()
            })
            .flatten();
        let text = decoded.as_deref().unwrap_or(raw);
        for d in ALL {
            if let Some(v) = text.strip_prefix(d.tag()) {
                return Signed::new(d, v);
            }
        }
        Signed::new(surface, raw)
    }
}

/// Whether a signature a client of `surface` sent is another vendor's (tagged by ARouter).
/// A same-dialect relay forwards the client's body as is, so it leaves these out.
pub fn is_foreign(surface: Dialect, value: &str) -> bool {
    (value.starts_with("arouter:")
        || (surface == Dialect::Gemini && value.starts_with(TAG_BASE64_PREFIX)))
        && Signed::take_in(surface, value).by != surface
}

/// Gemini's `thoughtSignature` is bytes on the wire (base64, and Google's SDKs decode it), so a
/// tagged signature handed to a Gemini client is the base64 of the tagged text; every such
/// value starts with these characters (the base64 of `arouter:`'s first bytes).
const TAG_BASE64_PREFIX: &str = "YXJvdXRlcj";

/// A signature `by` issued, as handed to a client of `surface` (see [`Signed`]).
pub fn tagged(by: Dialect, surface: Dialect, value: &str) -> String {
    if by == surface {
        return value.to_string();
    }
    let text = format!("{}{value}", by.tag());
    if surface == Dialect::Gemini {
        use base64::Engine as _;
        return base64::engine::general_purpose::STANDARD.encode(text);
    }
    text
}

/// A chat request in hub form. `model` is the upstream model name once routed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    /// System / developer instructions, in order (text parts, possibly with cache_control).
    pub system: Vec<Part>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u32>,
    pub stop: Vec<String>,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    pub logit_bias: Option<Value>,
    pub logprobs: Option<bool>,
    pub top_logprobs: Option<u32>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning: Option<Reasoning>,
    pub n: Option<u32>,
    pub stream: bool,
    /// End-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    /// Fields of the inbound dialect the hub has no slot for; forwarded only to the same dialect.
    pub extra: Map<String, Value>,
    pub extra_dialect: Option<Dialect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One conversation turn. Tool results travel as `Part::ToolResult` inside a user turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text {
        text: String,
        /// Anthropic `cache_control`, kept so it can be replayed.
        cache_control: Option<Value>,
    },
    Image {
        source: MediaSource,
        /// OpenAI `detail` (auto/low/high).
        detail: Option<String>,
    },
    Audio {
        /// base64 data
        data: String,
        /// e.g. "wav", "mp3"
        format: String,
    },
    File {
        source: MediaSource,
        filename: Option<String>,
    },
    ToolUse {
        id: String,
        name: String,
        /// The arguments as JSON text (what OpenAI carries); adapters parse it where needed.
        arguments: String,
        /// Gemini `thoughtSignature` attached to a function call.
        signature: Option<Signed>,
    },
    ToolResult {
        tool_use_id: String,
        /// Gemini needs the function name for `functionResponse`; filled from history when known.
        name: Option<String>,
        content: Vec<Part>,
        is_error: bool,
    },
    Thinking {
        text: String,
        signature: Option<Signed>,
    },
    RedactedThinking {
        data: Signed,
    },
    /// A vendor block the hub does not model; replayed verbatim to the same dialect only.
    Unknown {
        dialect: Dialect,
        value: Value,
    },
}

impl Part {
    pub fn text(t: impl Into<String>) -> Self {
        Part::Text {
            text: t.into(),
            cache_control: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaSource {
    Base64 {
        media_type: String,
        data: String,
    },
    Url {
        url: String,
        media_type: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments (object).
    pub parameters: Value,
    pub strict: Option<bool>,
    pub cache_control: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effort {
    Minimal,
    Low,
    Medium,
    High,
}

impl Effort {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "minimal" | "none" => Effort::Minimal,
            "low" => Effort::Low,
            "medium" => Effort::Medium,
            "high" | "xhigh" => Effort::High,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
        }
    }
}

/// OpenRouter's unified `reasoning` object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reasoning {
    pub effort: Option<Effort>,
    pub max_tokens: Option<u32>,
    /// Reason, but do not return the reasoning text to the caller.
    pub exclude: bool,
    /// `Some(false)` turns reasoning off explicitly.
    pub enabled: Option<bool>,
}

impl Reasoning {
    /// Whether the caller asked for reasoning at all.
    pub fn is_on(&self) -> bool {
        self.enabled != Some(false)
            && (self.enabled == Some(true) || self.effort.is_some() || self.max_tokens.is_some())
    }
    /// A thinking token budget: explicit, or derived from effort as a share of `max_tokens`.
    pub fn budget(&self, max_tokens: u32) -> u32 {
        if let Some(b) = self.max_tokens {
            return b;
        }
        let share = match self.effort.unwrap_or(Effort::Medium) {
            Effort::Minimal => 0.1,
            Effort::Low => 0.2,
            Effort::Medium => 0.5,
            Effort::High => 0.8,
        };
        ((max_tokens as f64) * share) as u32
    }
}

/// Token usage. `input_tokens` is the whole prompt including cached tokens (OpenAI's
/// convention); `output_tokens` includes reasoning tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// Normalised finish reason (OpenRouter's set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
    Error,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Stop => "stop",
            StopReason::Length => "length",
            StopReason::ToolCalls => "tool_calls",
            StopReason::ContentFilter => "content_filter",
            StopReason::Error => "error",
        }
    }
}

/// A finished (non-streaming) answer in hub form.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    /// Assistant output in order: thinking, text, tool uses.
    pub content: Vec<Part>,
    pub stop_reason: StopReason,
    /// The vendor's own finish reason (`end_turn`, `STOP`, `length`…).
    pub native_stop_reason: Option<String>,
    /// The stop sequence that ended generation, when the vendor says.
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

/// Streaming, modelled on content blocks: start / delta / stop per block index, then usage,
/// then finish. Block indexes are dense and increasing from 0.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Start {
        id: Option<String>,
        model: Option<String>,
    },
    BlockStart {
        index: usize,
        block: BlockStart,
    },
    BlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    BlockStop {
        index: usize,
    },
    /// The usage known so far, as a full snapshot (the last one wins).
    Usage(Usage),
    Finish {
        reason: StopReason,
        native: Option<String>,
        stop_sequence: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum BlockStart {
    Text,
    Thinking,
    RedactedThinking { data: String },
    ToolUse { id: String, name: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum BlockDelta {
    Text(String),
    Thinking(String),
    Signature(String),
    /// A fragment of a tool call's JSON arguments.
    ToolInput(String),
}
