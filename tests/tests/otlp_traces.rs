//! OTLP trace export end to end: an OTLP/HTTP receiver in the test decodes what ARouter sends
//! and checks the spans (one per request, one per upstream attempt, parent/child), their GenAI
//! attributes and that content stays out unless `otlp_content` is on. A dead or hanging
//! collector does not hold requests up: they complete and the drop counter rises.

mod common;

use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use axum::routing::post;
use common::client;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An OTLP/HTTP JSON receiver: every span it got, flattened.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<Value>>>,
}

async fn receiver() -> Receiver {
    let spans: Arc<Mutex<Vec<Value>>> = Arc::default();
    let got = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let got = got.clone();
            async move {
                assert_eq!(headers["content-type"], "application/json");
                let v: Value = serde_json::from_str(&body).expect("OTLP JSON");
                for rs in v["resourceSpans"].as_array().unwrap() {
                    assert!(rs["resource"]["attributes"].as_array().unwrap().contains(
                        &json!({"key": "service.name", "value": {"stringValue": "arouter"}})
                    ));
                    for ss in rs["scopeSpans"].as_array().unwrap() {
                        got.lock()
                            .extend(ss["spans"].as_array().unwrap().iter().cloned());
                    }
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, spans }
}

/// A span's attributes as a map of plain JSON values.
fn attrs(span: &Value) -> HashMap<String, Value> {
    span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let v = &a["value"];
            let plain = if let Some(s) = v.get("stringValue") {
                s.clone()
            } else if let Some(i) = v.get("intValue") {
                json!(i.as_str().unwrap().parse::<i64>().unwrap())
            } else if let Some(d) = v.get("doubleValue") {
                d.clone()
            } else if let Some(b) = v.get("boolValue") {
                b.clone()
            } else {
                json!(v["arrayValue"]["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["stringValue"].clone())
                    .collect::<Vec<_>>())
            };
            (a["key"].as_str().unwrap().to_string(), plain)
        })
        .collect()
}

/// The spans of the trace whose root has `arouter.generation_id = id` (root last).
async fn trace_of(r: &Receiver, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let spans = r.spans.lock().clone();
        if let Some(root) = spans
            .iter()
            .find(|s| attrs(s).get("arouter.generation_id") == Some(&json!(id)))
        {
            let mut t: Vec<Value> = spans
                .iter()
                .filter(|s| s["traceId"] == root["traceId"] && s["spanId"] != root["spanId"])
                .cloned()
                .collect();
            t.push(root.clone());
            return t;
        }
        assert!(Instant::now() < deadline, "no trace for {id}: {spans:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn setup(telemetry: &str) -> (MockUpstream, MockUpstream, RouterProcess) {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let an = MockUpstream::start(Vendor::Anthropic).await;
    let cfg = format!(
        "[telemetry]\n{telemetry}\n[aliases]\nboth = [\"oa/m\", \"an/m\"]\n{}models = [\"m\"]\n{}models = [\"m\"]\n",
        oa.provider_toml("oa", None),
        an.provider_toml("an", None),
    );
    let router = RouterProcess::start(&cfg).await;
    (oa, an, router)
}

async fn chat(router: &RouterProcess, model: &str, stream: bool) -> (String, Value) {
    let mut body =
        json!({"model": model, "messages": [{"role": "user", "content": "secret prompt words"}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let r = client()
        .post(router.url("/v1/chat/completions"))
        .bearer_auth(&router.app_key)
        .header("x-title", "Trace Test App")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-generation-id"].to_str().unwrap().to_string();
    let text = r.text().await.unwrap();
    let usage = if stream {
        text.lines()
            .rev()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<Value>(d).ok())
            .find(|v| v["usage"].is_object())
            .unwrap()["usage"]
            .clone()
    } else {
        serde_json::from_str::<Value>(&text).unwrap()["usage"].clone()
    };
    (id, usage)
}

#[tokio::test]
async fn spans_per_request_and_attempt_with_genai_attributes() {
    let rx = receiver().await;
    let (oa, _an, router) = setup(&format!("otlp_endpoint = \"{}\"", rx.url)).await;

    // The first candidate fails (500), the second serves: three spans.
    oa.push(Behavior::error(500));
    let (id, usage) = chat(&router, "both", false).await;
    let spans = trace_of(&rx, &id).await;
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let root = &spans[2];
    assert!(root.get("parentSpanId").is_none());
    assert_eq!(root["kind"], 2);
    assert_eq!(root["name"], "chat both");
    assert_eq!(root["traceId"].as_str().unwrap().len(), 32);
    let a = attrs(root);
    assert_eq!(a["gen_ai.operation.name"], "chat");
    assert_eq!(a["gen_ai.request.model"], "both");
    assert_eq!(a["gen_ai.response.model"], "an/m");
    assert_eq!(a["gen_ai.provider.name"], "an");
    assert_eq!(a["gen_ai.response.finish_reasons"], json!(["stop"]));
    assert_eq!(a["gen_ai.usage.input_tokens"], usage["prompt_tokens"]);
    assert_eq!(a["gen_ai.usage.output_tokens"], usage["completion_tokens"]);
    assert_eq!(a["arouter.app"], "Trace Test App");
    assert_eq!(a["arouter.key_name"], "testapp");
    assert_eq!(a["arouter.attempts"], 2);
    assert_eq!(a["http.response.status_code"], 200);
    assert_eq!(root["status"]["code"], 0);
    let (failed, served) = (&spans[0], &spans[1]);
    for s in [failed, served] {
        assert_eq!(s["parentSpanId"], root["spanId"]);
        assert_eq!(s["kind"], 3);
    }
    let (fa, sa) = (attrs(failed), attrs(served));
    assert_eq!(fa["gen_ai.provider.name"], "oa");
    assert_eq!(fa["gen_ai.request.model"], "oa/m");
    assert_eq!(fa["error.type"], "provider_error");
    assert_eq!(fa["http.response.status_code"], 500);
    assert_eq!(failed["status"]["code"], 2);
    assert_eq!(sa["gen_ai.provider.name"], "an");
    assert_eq!(sa["gen_ai.usage.output_tokens"], usage["completion_tokens"]);
    assert_eq!(sa["arouter.attempt"], 1);
    let start = |s: &Value| {
        s["startTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let end = |s: &Value| {
        s["endTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert!(
        start(root) <= start(failed) && end(failed) <= start(served) && end(served) <= end(root)
    );

    // A stream: one attempt; content stays home (otlp_content is off).
    let (id, usage) = chat(&router, "oa/m", true).await;
    let spans = trace_of(&rx, &id).await;
    assert_eq!(spans.len(), 2);
    assert_eq!(
        attrs(&spans[1])["gen_ai.usage.output_tokens"],
        usage["completion_tokens"]
    );
    let all = serde_json::to_string(&*rx.spans.lock()).unwrap();
    assert!(
        !all.contains("secret prompt words"),
        "content left the machine"
    );

    let m = client()
        .get(router.url("/metrics"))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("arouter_trace_spans_dropped_total 0"), "{m}");
    assert!(!m.contains("arouter_trace_spans_exported_total 0\n"), "{m}");
}

#[tokio::test]
async fn content_only_with_its_switch() {
    let rx = receiver().await;
    let (_oa, _an, router) = setup(&format!(
        "otlp_endpoint = \"{}/v1/traces\"\notlp_content = true",
        rx.url
    ))
    .await;
    let (id, _) = chat(&router, "oa/m", false).await;
    let spans = trace_of(&rx, &id).await;
    let a = attrs(spans.last().unwrap());
    assert!(a["arouter.request.body"]
        .as_str()
        .unwrap()
        .contains("secret prompt words"));
    assert!(a["arouter.response.body"]
        .as_str()
        .unwrap()
        .contains("choices"));
}

async fn dropped(router: &RouterProcess) -> u64 {
    let m = client()
        .get(router.url("/metrics"))
        .bearer_auth(&router.admin_key)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("arouter_trace_spans_dropped_total "))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn dead_or_hanging_collectors_do_not_hold_requests() {
    // Refused connections.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_oa, _an, router) = setup(&format!("otlp_endpoint = \"http://127.0.0.1:{port}\"")).await;
    // A collector that accepts and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hang_addr = hang.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = hang.accept().await {
            keep.lock().push(s);
        }
    });
    let (_oa2, _an2, router2) = setup(&format!("otlp_endpoint = \"http://{hang_addr}\"")).await;

    for r in [&router, &router2] {
        let reqs = (0..20).map(|_| chat(r, "oa/m", false));
        let done = futures_util::future::join_all(reqs).await;
        assert_eq!(done.len(), 20);
        let (_, usage) = chat(r, "oa/m", true).await;
        assert!(usage["completion_tokens"].as_u64().unwrap() > 0);
    }
    // Both exporters give up on their batches (refused at once; the hanging one after its
    // export timeout) and count the spans dropped.
    for r in [&router, &router2] {
        let deadline = Instant::now() + Duration::from_secs(20);
        while dropped(r).await == 0 {
            assert!(Instant::now() < deadline, "no spans counted dropped");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    assert!(!held.lock().is_empty(), "the hanging collector was reached");
}
