//! Scriptable mock upstreams speaking the exact OpenAI, Anthropic and Gemini wire formats.
//!
//! A [`MockUpstream`] binds `127.0.0.1:0`, checks the vendor's credential, validates requests as
//! strictly as the real API (answering the vendor's own error JSON), records every request, and
//! answers from a FIFO script of [`Behavior`]s. Streams are written with every SSE frame cut into
//! 2–3 separately flushed writes at awkward byte offsets (inside multi-byte UTF-8 when present).
//!
//! Script consumption: one behavior per request that passes authentication and validation on a
//! POST endpoint (generation, token counting, embeddings). Model listings (GET) never consume.
//! Content behaviors (`Text`, `ToolCall`, `Thinking`, `Chunks`) only shape generation endpoints;
//! the other endpoints answer normally for them.
//!
//! Usage accounting: the uncached prompt `P` = [`approx_tokens`] of all message text in the
//! request (system text, string contents and text parts concatenated). Cache tokens set with
//! [`MockUpstream::set_cache_usage`] come on top, reported the vendor's way: Anthropic
//! `input_tokens = P` plus `cache_read_input_tokens` / `cache_creation_input_tokens`; OpenAI
//! `prompt_tokens = P + read + write` with `cached_tokens = read`; Gemini
//! `promptTokenCount = P + read + write` with `cachedContentTokenCount = read`. Output tokens are
//! `approx_tokens` of the visible text (or tool name + arguments); reasoning tokens are
//! `approx_tokens` of the thinking text, included in OpenAI `completion_tokens` and Anthropic
//! `output_tokens`, separate in Gemini `thoughtsTokenCount`.

mod anthropic;
mod anthropic_batches;
mod gemini;
mod openai;
mod openai_responses;

use axum::body::Body;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use parking_lot::Mutex;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::task::JoinHandle;

/// Which vendor's wire format a mock speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    OpenAi,
    Anthropic,
    Gemini,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::OpenAi => "OpenAI",
            Vendor::Anthropic => "Anthropic",
            Vendor::Gemini => "Gemini",
        }
    }

    /// The provider `kind` string used in `config.toml`.
    pub fn kind(self) -> &'static str {
        match self {
            Vendor::OpenAi => "openai",
            Vendor::Anthropic => "anthropic",
            Vendor::Gemini => "gemini",
        }
    }
}

impl From<arouter_core::config::ProviderKind> for Vendor {
    fn from(kind: arouter_core::config::ProviderKind) -> Self {
        use arouter_core::config::ProviderKind;
        match kind {
            ProviderKind::OpenAi => Vendor::OpenAi,
            ProviderKind::Anthropic => Vendor::Anthropic,
            ProviderKind::Gemini => Vendor::Gemini,
        }
    }
}

/// What the mock does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Behavior {
    /// Answer with this text (streamed word by word when the request streams).
    Text(String),
    /// Answer with one tool call; `arguments_json` is streamed in several pieces.
    ToolCall {
        name: String,
        arguments_json: String,
    },
    /// Reasoning with a signature, then text. OpenAI-compatible: `reasoning` +
    /// `reasoning_details`; Anthropic: a thinking block; Gemini: `thought` parts and a
    /// `thoughtSignature` on the first answer part.
    Thinking {
        thinking: String,
        signature: String,
        text: String,
    },
    /// Answer `status` with `body`, or the vendor's own error JSON for that status when `None`;
    /// `retry_after` adds a `Retry-After` header (seconds).
    Error {
        status: u16,
        body: Option<String>,
        retry_after: Option<u64>,
    },
    /// Close the socket without any response.
    DropConnection,
    /// Wait before sending anything (headers included), then behave as the inner behavior.
    SlowFirstByte(Duration, Box<Behavior>),
    /// Stream `after_chunks` text chunks, then cut the TCP connection without the end marker.
    /// A non-streaming request gets its headers and half its JSON body, then the cut.
    MidStreamDrop { after_chunks: usize },
    /// Stream `after_chunks` text chunks, then the vendor's in-stream error (OpenAI: a chunk with
    /// a top-level `error`; Anthropic: `event: error` overloaded_error; Gemini: an `error`
    /// object). A non-streaming request gets the matching HTTP error (500 / 529 / 503).
    MidStreamError { after_chunks: usize },
    /// 200 with a garbage body, or garbage SSE data when streaming.
    InvalidJson,
    /// Stream `n` text chunks "c0 ", "c1 "…, waiting `delay` before each one.
    Chunks { n: usize, delay: Option<Duration> },
}

impl Behavior {
    pub fn text(text: impl Into<String>) -> Behavior {
        Behavior::Text(text.into())
    }

    pub fn tool_call(name: impl Into<String>, arguments: &Value) -> Behavior {
        Behavior::ToolCall {
            name: name.into(),
            arguments_json: arguments.to_string(),
        }
    }

    /// An error with the vendor's default body and no `Retry-After`.
    pub fn error(status: u16) -> Behavior {
        Behavior::Error {
            status,
            body: None,
            retry_after: None,
        }
    }

    pub fn chunks(n: usize) -> Behavior {
        Behavior::Chunks { n, delay: None }
    }
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path plus `?query` when present.
    pub path: String,
    /// Lowercased names; repeated headers joined with ", ".
    pub headers: BTreeMap<String, String>,
    pub body: Bytes,
    /// The body parsed as JSON, when it is JSON.
    pub json: Option<Value>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The path without the query string.
    pub fn path_only(&self) -> &str {
        self.path.split('?').next().unwrap_or_default()
    }

    /// A query parameter's raw (undecoded) value.
    pub fn query(&self, name: &str) -> Option<&str> {
        let (_, query) = self.path.split_once('?')?;
        query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Shared state of one mock server.
pub(crate) struct State {
    vendor: Vendor,
    key: Mutex<Option<String>>,
    script: Mutex<VecDeque<Behavior>>,
    requests: Mutex<Vec<RecordedRequest>>,
    cache: Mutex<(u64, u64)>,
    seq: AtomicU64,
    /// The Anthropic mock's Message Batches.
    batches: anthropic_batches::Batches,
}

impl State {
    pub(crate) fn expected_key(&self) -> Option<String> {
        self.key.lock().clone()
    }

    pub(crate) fn next_behavior(&self) -> Behavior {
        self.script
            .lock()
            .pop_front()
            .unwrap_or_else(|| Behavior::Text(format!("Hello from {} mock", self.vendor.name())))
    }

    /// A number unique within this mock, for ids and split offsets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed)
    }

    /// (cache read, cache write) tokens to report.
    pub(crate) fn cache_usage(&self) -> (u64, u64) {
        *self.cache.lock()
    }
}

/// A running mock upstream; the server stops when this is dropped.
pub struct MockUpstream {
    addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl MockUpstream {
    /// Binds `127.0.0.1:0` and serves `vendor`'s API on the current tokio runtime.
    pub async fn start(vendor: Vendor) -> MockUpstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("mock upstream: binding 127.0.0.1:0");
        let addr = listener.local_addr().expect("mock upstream: local addr");
        let state = Arc::new(State {
            vendor,
            key: Mutex::new(None),
            script: Mutex::new(VecDeque::new()),
            requests: Mutex::new(Vec::new()),
            cache: Mutex::new((0, 0)),
            seq: AtomicU64::new(1),
            batches: anthropic_batches::Batches::default(),
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        MockUpstream { addr, state, task }
    }

    /// The base URL a provider config takes: `http://127.0.0.1:PORT/v1` for OpenAI,
    /// `http://127.0.0.1:PORT` for Anthropic and Gemini.
    pub fn url(&self) -> String {
        match self.state.vendor {
            Vendor::OpenAi => format!("http://{}/v1", self.addr),
            Vendor::Anthropic | Vendor::Gemini => format!("http://{}", self.addr),
        }
    }

    /// A `[providers.ID]` table for `config.toml` pointing at this mock.
    pub fn provider_toml(&self, id: &str, api_key_env: Option<&str>) -> String {
        let key = api_key_env
            .map(|env| format!("api_key_env = \"{env}\"\n"))
            .unwrap_or_default();
        format!(
            "[providers.{id}]\nkind = \"{}\"\nbase_url = \"{}\"\n{key}",
            self.state.vendor.kind(),
            self.url()
        )
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn vendor(&self) -> Vendor {
        self.state.vendor
    }

    /// The credential every request must carry; `None` (the default) accepts any or none.
    pub fn expect_key(&self, key: Option<&str>) {
        *self.state.key.lock() = key.map(str::to_owned);
    }

    /// Appends one behavior to the script.
    pub fn push(&self, behavior: Behavior) {
        self.state.script.lock().push_back(behavior);
    }

    /// Appends several behaviors to the script, in order.
    pub fn script(&self, behaviors: impl IntoIterator<Item = Behavior>) {
        self.state.script.lock().extend(behaviors);
    }

    /// Behaviors not consumed yet.
    pub fn pending(&self) -> usize {
        self.state.script.lock().len()
    }

    /// Cache-read and cache-write token counts reported in usage from now on.
    pub fn set_cache_usage(&self, read: u64, write: u64) {
        *self.state.cache.lock() = (read, write);
    }

    /// Every request received so far (rejected ones included), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().clone()
    }

    pub fn call_count(&self) -> usize {
        self.state.requests.lock().len()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.requests.lock().last().cloned()
    }

    /// The JSON body of the last request.
    pub fn last_json(&self) -> Option<Value> {
        self.state
            .requests
            .lock()
            .last()
            .and_then(|r| r.json.clone())
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections; aborting this task drops the JoinSet, which aborts every connection.
async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors and the like: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        // Without NODELAY, Nagle would merge the deliberately separate writes.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
        });
        while connections.try_join_next().is_some() {}
    }
}

/// Returned to hyper to make it close the connection without writing a response.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mock dropped the connection")
    }
}

impl std::error::Error for Dropped {}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Result<Response<Body>, Dropped> {
    let recorded = record(req).await;
    state.requests.lock().push(recorded.clone());
    let reply = match state.vendor {
        Vendor::OpenAi => openai::respond(&state, &recorded),
        Vendor::Anthropic => anthropic::respond(&state, &recorded),
        Vendor::Gemini => gemini::respond(&state, &recorded),
    };
    deliver(reply, state.next_seq()).await
}

async fn record(req: Request<Incoming>) -> RecordedRequest {
    let (parts, body) = req.into_parts();
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let body = axum::body::to_bytes(Body::new(body), usize::MAX)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&body).ok();
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| parts.uri.path().to_owned());
    RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path,
        headers,
        body,
        json,
    }
}

/// What to send back, before timing and splitting are applied.
pub(crate) enum Reply {
    Full {
        status: u16,
        headers: Vec<(&'static str, String)>,
        content_type: &'static str,
        body: Bytes,
    },
    Stream {
        content_type: &'static str,
        items: Vec<Item>,
        /// Cut every data item into 2–3 writes.
        split: bool,
    },
    Drop,
    Delayed(Duration, Box<Reply>),
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Reply {
        Reply::Full {
            status,
            headers: Vec::new(),
            content_type: "application/json",
            body: Bytes::from(body.to_string()),
        }
    }
}

/// One step of a streamed body.
pub(crate) enum Item {
    Data(Bytes),
    Delay(Duration),
    /// Abort the connection (no terminating chunk).
    Cut,
}

async fn deliver(reply: Reply, seed: u64) -> Result<Response<Body>, Dropped> {
    match reply {
        Reply::Delayed(delay, inner) => {
            tokio::time::sleep(delay).await;
            Box::pin(deliver(*inner, seed)).await
        }
        Reply::Drop => Err(Dropped),
        Reply::Full {
            status,
            headers,
            content_type,
            body,
        } => {
            let mut builder = Response::builder()
                .status(status)
                .header("content-type", content_type);
            for (name, value) in headers {
                builder = builder.header(name, value);
            }
            builder.body(Body::from(body)).map_err(|_| Dropped)
        }
        Reply::Stream {
            content_type,
            items,
            split,
        } => {
            let items = if split {
                split_items(items, seed)
            } else {
                items
            };
            Response::builder()
                .status(200)
                .header("content-type", content_type)
                .header("cache-control", "no-cache")
                .body(Body::from_stream(body_stream(items)))
                .map_err(|_| Dropped)
        }
    }
}

/// Yields data items one at a time, returning `Pending` before each so hyper flushes every
/// write on its own.
fn body_stream(
    items: Vec<Item>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::unfold(items.into_iter(), |mut items| async move {
        loop {
            match items.next()? {
                Item::Data(bytes) => {
                    tokio::task::yield_now().await;
                    return Some((Ok(bytes), items));
                }
                Item::Delay(delay) => tokio::time::sleep(delay).await,
                Item::Cut => {
                    // Give hyper time to flush what was written before the abort.
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    let err = std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "mock cut the stream",
                    );
                    return Some((Err(err), items));
                }
            }
        }
    })
}

/// Cuts each data item into 2–3 pieces; the first cut lands inside a multi-byte UTF-8
/// character whenever the item has one.
fn split_items(items: Vec<Item>, seed: u64) -> Vec<Item> {
    let mut rng = XorShift(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut out = Vec::with_capacity(items.len() * 3);
    for item in items {
        match item {
            Item::Data(bytes) => {
                for piece in split_bytes(&bytes, &mut rng) {
                    out.push(Item::Data(piece));
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn split_bytes(bytes: &Bytes, rng: &mut XorShift) -> Vec<Bytes> {
    let len = bytes.len();
    if len < 2 {
        return vec![bytes.clone()];
    }
    let continuation: Vec<usize> = (1..len)
        .filter(|&i| bytes[i] & 0b1100_0000 == 0b1000_0000)
        .collect();
    let mut cuts = vec![if continuation.is_empty() {
        1 + rng.below(len - 1)
    } else {
        continuation[rng.below(continuation.len())]
    }];
    if len >= 3 && rng.below(2) == 1 {
        cuts.push(1 + rng.below(len - 1));
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        pieces.push(bytes.slice(start..cut));
        start = cut;
    }
    pieces.push(bytes.slice(start..));
    pieces
}

/// Deterministic pseudo-random offsets (reproducible runs, no extra dependency).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// The tokenizer stand-in: ⌈chars / 4⌉, at least 1.
pub fn approx_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

/// Concatenates every string found under one of `keys`, at any depth of `value`.
pub(crate) fn collect_text(value: &Value, keys: &[&str], out: &mut String) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if keys.contains(&k.as_str()) => out.push_str(s),
                    _ => collect_text(v, keys, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, keys, out)),
        _ => {}
    }
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Token accounting of one answer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    /// Uncached prompt tokens derived from the request.
    pub prompt: u64,
    /// Visible output (text or tool call).
    pub completion: u64,
    pub reasoning: u64,
    pub cache_read: u64,
    pub cache_write: u64,
}

impl Usage {
    /// Every input token: uncached + cache read + cache write.
    pub fn input_total(&self) -> u64 {
        self.prompt + self.cache_read + self.cache_write
    }

    /// Visible output plus reasoning.
    pub fn output_total(&self) -> u64 {
        self.completion + self.reasoning
    }
}

pub(crate) struct ToolOut {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

pub(crate) struct ThinkingOut {
    pub pieces: Vec<String>,
    pub signature: String,
}

/// A generated answer, independent of wire format.
pub(crate) struct Output {
    pub thinking: Option<ThinkingOut>,
    /// Visible text in stream-sized pieces.
    pub text: Vec<String>,
    pub tool: Option<ToolOut>,
    pub usage: Usage,
}

impl Output {
    pub fn text(&self) -> String {
        self.text.concat()
    }

    pub fn thinking_text(&self) -> String {
        self.thinking
            .as_ref()
            .map(|t| t.pieces.concat())
            .unwrap_or_default()
    }
}

/// Splits text after each whitespace run, keeping the whitespace: "héllo 😀" → ["héllo ", "😀"].
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        current.push(c);
        let next_starts_word = chars.peek().is_some_and(|n| !n.is_whitespace());
        if c.is_whitespace() && next_starts_word {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// Cuts `text` into `n` roughly equal pieces on char boundaries.
pub(crate) fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(n.max(1)).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// One SSE frame of a planned stream; `chunk` marks frames carrying generated content.
pub(crate) struct Frame {
    pub text: String,
    pub chunk: bool,
}

impl Frame {
    pub fn meta(text: String) -> Frame {
        Frame { text, chunk: false }
    }

    pub fn chunk(text: String) -> Frame {
        Frame { text, chunk: true }
    }
}

/// How a vendor renders HTTP errors.
pub(crate) trait ErrorShape {
    /// The vendor's error JSON for `status`.
    fn error(&self, status: u16) -> Value;
    /// The status of the vendor's "overloaded" failure (500 / 529 / 503).
    fn overloaded_status(&self) -> u16;
}

/// The wire shape of one generation endpoint.
pub(crate) trait Shape: ErrorShape {
    /// The non-streaming JSON body.
    fn body(&self, out: &Output) -> Value;
    /// Every SSE frame of the streamed answer, end marker included.
    fn stream(&self, out: &Output) -> Vec<Frame>;
    /// One SSE frame carrying `data` (and the event name where the vendor uses one).
    fn frame(&self, event: &str, data: &str) -> String;
    /// The in-stream error frame (the "overloaded" failure, mid-stream).
    fn stream_error(&self) -> String;
    fn sse_content_type(&self) -> &'static str {
        "text/event-stream"
    }
    /// The body type of a non-SSE answer (Gemini's JSON-array stream differs).
    fn json_body(&self, out: &Output) -> Bytes {
        Bytes::from(self.body(out).to_string())
    }
}

/// What a generation endpoint knows about the request.
pub(crate) struct GenRequest<'a> {
    pub shape: &'a dyn Shape,
    pub stream: bool,
    pub prompt_tokens: u64,
    /// Prefix for tool call ids (`call_`, `toolu_`).
    pub tool_id_prefix: &'a str,
}

/// Consumes the next behavior and answers a generation request with it.
pub(crate) fn generate(state: &State, req: &GenRequest<'_>) -> Reply {
    let behavior = state.next_behavior();
    render(state, req, behavior)
}

fn render(state: &State, req: &GenRequest<'_>, behavior: Behavior) -> Reply {
    let shape = req.shape;
    match behavior {
        Behavior::Error {
            status,
            body,
            retry_after,
        } => error_reply(shape, status, body, retry_after),
        Behavior::DropConnection => Reply::Drop,
        Behavior::SlowFirstByte(delay, inner) => {
            Reply::Delayed(delay, Box::new(render(state, req, *inner)))
        }
        Behavior::InvalidJson => invalid_json(req),
        Behavior::MidStreamDrop { after_chunks } => {
            let out = output(state, req, Content::Chunks(after_chunks + 1));
            if req.stream {
                let mut items = frames_until(shape.stream(&out), after_chunks);
                items.push(Item::Cut);
                sse(shape, items)
            } else {
                half_then_cut(shape.json_body(&out))
            }
        }
        Behavior::MidStreamError { after_chunks } => {
            if req.stream {
                let out = output(state, req, Content::Chunks(after_chunks + 1));
                let mut items = frames_until(shape.stream(&out), after_chunks);
                items.push(Item::Data(Bytes::from(shape.stream_error())));
                sse(shape, items)
            } else {
                error_reply(shape, shape.overloaded_status(), None, None)
            }
        }
        Behavior::Chunks { n, delay } => answer(state, req, Content::Chunks(n), delay),
        Behavior::Text(text) => answer(state, req, Content::Text(text), None),
        Behavior::ToolCall {
            name,
            arguments_json,
        } => answer(state, req, Content::Tool(name, arguments_json), None),
        Behavior::Thinking {
            thinking,
            signature,
            text,
        } => answer(
            state,
            req,
            Content::Thinking(thinking, signature, text),
            None,
        ),
    }
}

/// A complete answer carrying `content`, streamed (waiting `delay` before each content chunk)
/// or whole.
fn answer(state: &State, req: &GenRequest<'_>, content: Content, delay: Option<Duration>) -> Reply {
    let shape = req.shape;
    let out = output(state, req, content);
    if !req.stream {
        return Reply::Full {
            status: 200,
            headers: Vec::new(),
            content_type: "application/json",
            body: shape.json_body(&out),
        };
    }
    let items = shape
        .stream(&out)
        .into_iter()
        .flat_map(|frame| {
            let wait = delay.filter(|_| frame.chunk).map(Item::Delay);
            wait.into_iter()
                .chain(std::iter::once(Item::Data(Bytes::from(frame.text))))
        })
        .collect();
    sse(shape, items)
}

fn sse(shape: &dyn Shape, items: Vec<Item>) -> Reply {
    Reply::Stream {
        content_type: shape.sse_content_type(),
        items,
        split: true,
    }
}

/// The frames up to and including the `n`-th content chunk (none of them when `n` is 0).
fn frames_until(frames: Vec<Frame>, n: usize) -> Vec<Item> {
    let mut seen = 0;
    frames
        .into_iter()
        .take_while(|f| {
            if f.chunk {
                seen += 1;
            }
            !f.chunk || seen <= n
        })
        .map(|f| Item::Data(Bytes::from(f.text)))
        .collect()
}

/// Headers and the first half of `body`, then the connection is cut.
fn half_then_cut(body: Bytes) -> Reply {
    Reply::Stream {
        content_type: "application/json",
        items: vec![Item::Data(body.slice(..body.len() / 2)), Item::Cut],
        split: false,
    }
}

pub(crate) fn error_reply<S: ErrorShape + ?Sized>(
    shape: &S,
    status: u16,
    body: Option<String>,
    retry_after: Option<u64>,
) -> Reply {
    let body = body.unwrap_or_else(|| shape.error(status).to_string());
    let headers = retry_after
        .map(|secs| vec![("retry-after", secs.to_string())])
        .unwrap_or_default();
    Reply::Full {
        status,
        headers,
        content_type: "application/json",
        body: Bytes::from(body),
    }
}

const GARBAGE_JSON: &[u8] = b"{\"id\": \"broken\", \"choices\": [<html>502 Bad Gateway";

fn invalid_json(req: &GenRequest<'_>) -> Reply {
    if req.stream {
        let garbage = req.shape.frame(
            "content_block_delta",
            "{\"id\": \"broken\", \"choices\": [{\"de",
        );
        sse(req.shape, vec![Item::Data(Bytes::from(garbage))])
    } else {
        garbage_body()
    }
}

fn garbage_body() -> Reply {
    Reply::Full {
        status: 200,
        headers: Vec::new(),
        content_type: "application/json",
        body: Bytes::from_static(GARBAGE_JSON),
    }
}

/// Consumes the next behavior for a non-generation POST endpoint: failure behaviors apply,
/// content behaviors yield `normal`.
pub(crate) fn auxiliary<S: ErrorShape + ?Sized>(state: &State, shape: &S, normal: Reply) -> Reply {
    aux_render(shape, state.next_behavior(), normal)
}

fn aux_render<S: ErrorShape + ?Sized>(shape: &S, behavior: Behavior, normal: Reply) -> Reply {
    match behavior {
        Behavior::Error {
            status,
            body,
            retry_after,
        } => error_reply(shape, status, body, retry_after),
        Behavior::DropConnection => Reply::Drop,
        Behavior::SlowFirstByte(delay, inner) => {
            Reply::Delayed(delay, Box::new(aux_render(shape, *inner, normal)))
        }
        Behavior::InvalidJson => garbage_body(),
        Behavior::MidStreamError { .. } => {
            error_reply(shape, shape.overloaded_status(), None, None)
        }
        Behavior::MidStreamDrop { .. } => match normal {
            Reply::Full { body, .. } => half_then_cut(body),
            other => other,
        },
        Behavior::Text(_)
        | Behavior::ToolCall { .. }
        | Behavior::Thinking { .. }
        | Behavior::Chunks { .. } => normal,
    }
}

/// What a content behavior generates.
enum Content {
    Text(String),
    Chunks(usize),
    /// Name, arguments JSON.
    Tool(String, String),
    /// Thinking, signature, text.
    Thinking(String, String, String),
}

/// Turns generated content into an answer with usage.
fn output(state: &State, req: &GenRequest<'_>, content: Content) -> Output {
    let (cache_read, cache_write) = state.cache_usage();
    let mut out = Output {
        thinking: None,
        text: Vec::new(),
        tool: None,
        usage: Usage {
            prompt: req.prompt_tokens,
            completion: 0,
            reasoning: 0,
            cache_read,
            cache_write,
        },
    };
    match content {
        Content::Text(text) => out.text = words(&text),
        Content::Chunks(n) => out.text = (0..n).map(|i| format!("c{i} ")).collect(),
        Content::Tool(name, arguments) => {
            out.tool = Some(ToolOut {
                id: format!("{}mock{:06}", req.tool_id_prefix, state.next_seq()),
                name,
                arguments,
            })
        }
        Content::Thinking(thinking, signature, text) => {
            out.thinking = Some(ThinkingOut {
                pieces: words(&thinking),
                signature,
            });
            out.text = words(&text);
        }
    }
    let visible = match &out.tool {
        Some(tool) => format!("{}{}", tool.name, tool.arguments),
        None => out.text(),
    };
    out.usage.completion = approx_tokens(&visible);
    if out.thinking.is_some() {
        out.usage.reasoning = approx_tokens(&out.thinking_text());
    }
    out
}
