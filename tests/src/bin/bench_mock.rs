//! `bench_mock`: the benchmark's fast upstream — OpenAI chat, OpenAI Responses and Anthropic
//! messages, JSON or SSE, with no checks, no recording and no per-request locks (it is the baseline).
//!
//! Usage: `bench_mock PORT [WORKER_THREADS]`. The model name shapes streams: `-c<N>` sets the
//! number of content chunks (default 50), `-i<MS>` the pause before each (default 0). Every
//! content chunk's text is `ts:<unix ns>;`, the moment it was handed to the socket, so a
//! client can compute each chunk's delivery delay and see any chunk held back.

use axum::body::{Body, Bytes};
use futures_util::stream::{self, Stream, StreamExt};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BODY_LIMIT: usize = 4 * 1024 * 1024;
const TEXT: &str = "Hello from the bench mock.";

#[derive(Deserialize)]
struct Req {
    #[serde(default)]
    model: String,
    #[serde(default)]
    stream: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Dialect {
    OpenAi,
    Responses,
    Anthropic,
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(port) = args.next().and_then(|p| p.parse::<u16>().ok()) else {
        eprintln!("usage: bench_mock PORT [WORKER_THREADS]");
        return std::process::ExitCode::FAILURE;
    };
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build();
    match rt.map(|rt| rt.block_on(serve(port))) {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) | Err(e) => {
            eprintln!("bench_mock: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(handle);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), svc)
                .await;
        });
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    if path == "/healthz" {
        return Ok(json(r#"{"status":"ok"}"#.to_string()));
    }
    let dialect = if path.ends_with("/messages") {
        Dialect::Anthropic
    } else if path.ends_with("/chat/completions") {
        Dialect::OpenAi
    } else if path.ends_with("/responses") {
        Dialect::Responses
    } else {
        return Ok(status(404, r#"{"error":{"message":"not found"}}"#));
    };
    let bytes = match axum::body::to_bytes(Body::new(req.into_body()), BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => return Ok(status(400, r#"{"error":{"message":"unreadable body"}}"#)),
    };
    let Ok(parsed) = serde_json::from_slice::<Req>(&bytes) else {
        return Ok(status(400, r#"{"error":{"message":"body is not JSON"}}"#));
    };
    let model = parsed.model.replace(['"', '\\'], "");
    Ok(match (dialect, parsed.stream) {
        (Dialect::OpenAi, false) => json(openai_json(&model)),
        (Dialect::Responses, false) => json(responses_json(&model)),
        (Dialect::Anthropic, false) => json(anthropic_json(&model)),
        (d, true) => sse(d, model),
    })
}

fn json(body: String) -> Response<Body> {
    let mut r = Response::new(Body::from(body));
    r.headers_mut()
        .insert("content-type", "application/json".parse().expect("static"));
    r
}

fn status(code: u16, body: &'static str) -> Response<Body> {
    let mut r = json(body.to_string());
    *r.status_mut() = hyper::StatusCode::from_u16(code).expect("static status");
    r
}

fn openai_json(model: &str) -> String {
    format!(
        r#"{{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"{model}","choices":[{{"index":0,"message":{{"role":"assistant","content":"{TEXT}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":10,"completion_tokens":6,"total_tokens":16}}}}"#
    )
}

fn responses_json(model: &str) -> String {
    format!(
        r#"{{"id":"resp_bench","object":"response","created_at":1700000000,"status":"completed","error":null,"incomplete_details":null,"model":"{model}","output":[{{"id":"msg_bench","type":"message","status":"completed","role":"assistant","content":[{{"type":"output_text","text":"{TEXT}","annotations":[]}}]}}],"usage":{{"input_tokens":10,"input_tokens_details":{{"cached_tokens":0}},"output_tokens":6,"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":16}}}}"#
    )
}

fn anthropic_json(model: &str) -> String {
    format!(
        r#"{{"id":"msg_bench","type":"message","role":"assistant","model":"{model}","content":[{{"type":"text","text":"{TEXT}"}}],"stop_reason":"end_turn","stop_sequence":null,"usage":{{"input_tokens":10,"output_tokens":6}}}}"#
    )
}

/// `-c<N>` / `-i<MS>` in the model name.
fn model_param(model: &str, flag: &str, default: u64) -> u64 {
    model
        .split('-')
        .find_map(|part| part.strip_prefix(flag).and_then(|n| n.parse().ok()))
        .unwrap_or(default)
}

fn unix_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Where a stream is: before the content, at content chunk `i`, after it, done.
enum Step {
    Head,
    Chunk(u64),
    Tail,
    Done,
}

fn sse(dialect: Dialect, model: String) -> Response<Body> {
    let chunks = model_param(&model, "c", 50).min(100_000);
    let pause = Duration::from_millis(model_param(&model, "i", 0).min(10_000));
    let frames = stream::unfold(Step::Head, move |step| {
        let model = model.clone();
        async move {
            let (bytes, next) = match step {
                Step::Head => (head(dialect, &model), first_chunk(chunks)),
                Step::Chunk(i) => {
                    if !pause.is_zero() {
                        tokio::time::sleep(pause).await;
                    }
                    let next = if i + 1 < chunks {
                        Step::Chunk(i + 1)
                    } else {
                        Step::Tail
                    };
                    (content(dialect, &model, i), next)
                }
                Step::Tail => (tail(dialect, &model, chunks), Step::Done),
                Step::Done => return None,
            };
            Some((Ok::<_, Infallible>(Bytes::from(bytes)), next))
        }
    });
    sse_response(frames)
}

fn first_chunk(chunks: u64) -> Step {
    if chunks == 0 {
        Step::Tail
    } else {
        Step::Chunk(0)
    }
}

fn sse_response(
    frames: impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response<Body> {
    let mut r = Response::new(Body::from_stream(frames.boxed()));
    let h = r.headers_mut();
    h.insert("content-type", "text/event-stream".parse().expect("static"));
    h.insert("cache-control", "no-cache".parse().expect("static"));
    r
}

fn head(dialect: Dialect, model: &str) -> String {
    match dialect {
        Dialect::OpenAi => format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}},\"finish_reason\":null}}]}}\n\n"
        ),
        Dialect::Responses => format!(
            "event: response.created\ndata: {{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{{\"id\":\"resp_bench\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"in_progress\",\"model\":\"{model}\",\"output\":[],\"usage\":null}}}}\n\n\
             event: response.output_item.added\ndata: {{\"type\":\"response.output_item.added\",\"sequence_number\":1,\"output_index\":0,\"item\":{{\"id\":\"msg_bench\",\"type\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}}}\n\n\
             event: response.content_part.added\ndata: {{\"type\":\"response.content_part.added\",\"sequence_number\":2,\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"part\":{{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}}}\n\n"
        ),
        Dialect::Anthropic => format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_bench\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"{model}\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{{\"input_tokens\":10,\"output_tokens\":1}}}}}}\n\n\
             event: content_block_start\ndata: {{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{{\"type\":\"text\",\"text\":\"\"}}}}\n\n"
        ),
    }
}

fn content(dialect: Dialect, model: &str, i: u64) -> String {
    let text = format!("ts:{};", unix_ns());
    match dialect {
        Dialect::OpenAi => format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
        ),
        Dialect::Responses => format!(
            "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":{},\"item_id\":\"msg_bench\",\"output_index\":0,\"content_index\":0,\"delta\":\"{text}\"}}\n\n",
            3 + i
        ),
        Dialect::Anthropic => format!(
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{text}\"}}}}\n\n"
        ),
    }
}

fn tail(dialect: Dialect, model: &str, chunks: u64) -> String {
    match dialect {
        Dialect::OpenAi => format!(
            "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{model}\",\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"stop\"}}]}}\n\n\
             data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"{model}\",\"choices\":[],\"usage\":{{\"prompt_tokens\":10,\"completion_tokens\":{chunks},\"total_tokens\":{}}}}}\n\n\
             data: [DONE]\n\n",
            chunks + 10
        ),
        Dialect::Responses => format!(
            "event: response.output_item.done\ndata: {{\"type\":\"response.output_item.done\",\"sequence_number\":{},\"output_index\":0,\"item\":{{\"id\":\"msg_bench\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[]}}}}\n\n\
             event: response.completed\ndata: {{\"type\":\"response.completed\",\"sequence_number\":{},\"response\":{{\"id\":\"resp_bench\",\"object\":\"response\",\"created_at\":1700000000,\"status\":\"completed\",\"model\":\"{model}\",\"output\":[],\"usage\":{{\"input_tokens\":10,\"input_tokens_details\":{{\"cached_tokens\":0}},\"output_tokens\":{chunks},\"output_tokens_details\":{{\"reasoning_tokens\":0}},\"total_tokens\":{}}}}}}}\n\n",
            3 + chunks,
            4 + chunks,
            chunks + 10
        ),
        Dialect::Anthropic => format!(
            "event: content_block_stop\ndata: {{\"type\":\"content_block_stop\",\"index\":0}}\n\n\
             event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"end_turn\",\"stop_sequence\":null}},\"usage\":{{\"output_tokens\":{chunks}}}}}\n\n\
             event: message_stop\ndata: {{\"type\":\"message_stop\"}}\n\n"
        ),
    }
}
