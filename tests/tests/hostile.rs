//! End to end: hostile input against the real `arouter serve`, as a web page or a local
//! process could send it. Each case asserts the status, the error shape of the surface asked,
//! and that the server still answers afterwards.

mod common;

use arouter_tests::{MockUpstream, RouterProcess, Vendor};
use common::client;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Short connection timeouts so slow clients are cut within the test's time.
async fn setup() -> (MockUpstream, RouterProcess) {
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let cfg = format!(
        "default_model = \"oa/m\"\n[server]\nmax_body_mb = 1\nheader_timeout_secs = 2\n\
         idle_timeout_secs = 3\nbody_timeout_secs = 2\nmax_connections = 24\n{}\n",
        oa.provider_toml("oa", None),
    );
    let router = RouterProcess::start(&cfg).await;
    (oa, router)
}

fn addr(r: &RouterProcess) -> String {
    r.base_url.trim_start_matches("http://").to_string()
}

/// Sends raw bytes on a fresh connection and reads the reply until the server closes or
/// `wait` passes. Returns (status, body text).
fn raw(r: &RouterProcess, bytes: &[u8], wait: Duration) -> (u16, String) {
    let mut s = TcpStream::connect(addr(r)).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if complete(&out) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// A response with a content-length whose body has fully arrived.
fn complete(out: &[u8]) -> bool {
    let text = String::from_utf8_lossy(out);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .is_some_and(|n| body.len() >= n)
}

fn assert_openai(v: &Value, status: u16) {
    assert_eq!(v["error"]["code"], status, "OpenAI shape: {v}");
    assert!(v["error"]["message"].is_string(), "{v}");
}

fn assert_anthropic(v: &Value) {
    assert_eq!(v["type"], "error", "Anthropic shape: {v}");
    assert!(
        v["error"]["type"].is_string() && v["error"]["message"].is_string(),
        "{v}"
    );
}

fn assert_gemini(v: &Value, status: u16) {
    assert_eq!(v["error"]["code"], status, "Gemini shape: {v}");
    assert!(v["error"]["status"].is_string(), "{v}");
}

async fn still_up(r: &RouterProcess) {
    let resp = client().get(r.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["ledger"]["rows_lost"], 0, "{v}");
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn hostile_hosts_origins_and_paths() {
    let (_oa, r) = setup().await;
    let c = client();

    // Wrong Host (DNS rebinding), in each surface's shape.
    let (s, v) = send(c.get(r.url("/v1/models")).header("host", "evil.com")).await;
    assert_eq!(s, 403);
    assert_openai(&v, 403);
    let (s, v) = send(c.post(r.url("/v1/messages")).header("host", "evil.com:80")).await;
    assert_eq!(s, 403);
    assert_anthropic(&v);
    still_up(&r).await;

    // A Host that is not ASCII used to read as absent, and pass.
    let (s, body) = raw(
        &r,
        b"GET /v1/models HTTP/1.1\r\nHost: \xe9vil.com\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(s, 403, "{body}");
    assert_openai(&serde_json::from_str(&body).unwrap(), 403);
    still_up(&r).await;

    // Foreign origins (any web page, including other loopback ports) get no CORS grant.
    for origin in [
        "https://evil.com",
        "http://localhost:3000",
        "http://127.0.0.1:1",
    ] {
        let resp = c
            .request(reqwest::Method::OPTIONS, r.url("/v1/chat/completions"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 403, "{origin}");
        assert!(resp.headers().get("access-control-allow-origin").is_none());
        let resp = c
            .get(r.url("/v1/models"))
            .header("origin", origin)
            .bearer_auth(&r.app_key)
            .send()
            .await
            .unwrap();
        assert!(
            resp.headers().get("access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
    // The desktop window's own origin does.
    let resp = c
        .request(reqwest::Method::OPTIONS, r.url("/v1/models"))
        .header("origin", "tauri://localhost")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "tauri://localhost"
    );

    // 405 in the caller's shape.
    let (s, v) = send(c.get(r.url("/v1/chat/completions"))).await;
    assert_eq!(s, 405);
    assert_openai(&v, 405);
    let (s, v) = send(c.get(r.url("/v1/messages"))).await;
    assert_eq!(s, 405);
    assert_anthropic(&v);

    // Paths that do not decode: caller's shape, never a plain-text rejection.
    let (s, v) = send(c.get(r.url("/v1/models/%FF%FE")).bearer_auth(&r.app_key)).await;
    assert_eq!(s, 400);
    assert_openai(&v, 400);
    let (s, v) = send(
        c.post(r.url("/v1beta/models/%C3:generateContent"))
            .header("x-goog-api-key", &r.app_key),
    )
    .await;
    assert_eq!(s, 400);
    assert_gemini(&v, 400);

    // Proxy path tricks never reach the management API or leave the provider's base URL.
    for path in [
        "/oa/../api/v1/keys",
        "/oa/%2e%2e/api/v1/keys",
        "/oa/%2E%2E%2F%2E%2E%2Fapi/v1/keys",
        "/oa//evil.com/x",
        "/api/../api/v1/keys",
    ] {
        let (s, v) = send(c.get(r.url(path)).bearer_auth(&r.app_key)).await;
        assert!(
            s != 200
                || v.get("data")
                    .is_none_or(|d| !d.to_string().contains("admin")),
            "{path}: {s} {v}"
        );
        assert!(s < 500 || s == 502, "{path}: {s} {v}");
        assert!(
            v.get("error").is_some() || v.get("data").is_none(),
            "{path}: {v}"
        );
    }
    still_up(&r).await;
}

#[tokio::test]
async fn hostile_keys_and_bodies() {
    let (oa, r) = setup().await;
    let c = client();

    // Missing and invalid keys, per surface.
    let (s, v) = send(c.post(r.url("/v1/chat/completions")).json(&json!({}))).await;
    assert_eq!(s, 401);
    assert_openai(&v, 401);
    let (s, v) = send(
        c.post(r.url("/v1/messages"))
            .header("x-api-key", "nope")
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 401);
    assert_anthropic(&v);
    let (s, v) = send(
        c.post(r.url("/v1beta/models/m:generateContent?key=wrong"))
            .json(&json!({})),
    )
    .await;
    assert_eq!(s, 401);
    assert_gemini(&v, 401);
    // An escape cut by a multi-byte character used to panic before authentication.
    let (s, body) = raw(
        &r,
        "GET /v1/models?key=%\u{e9}x HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            .as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(s, 401, "{body}");
    // Many unknown keys in a row (a web page's <img> loop) stay cheap and keep answering.
    let t = Instant::now();
    for i in 0..200 {
        let (s, _) = send(c.get(r.url(&format!("/v1/models?key=x{i}")))).await;
        assert_eq!(s, 401);
    }
    assert!(t.elapsed() < Duration::from_secs(20));
    // A key made a moment ago by the CLI works at once, even after it missed.
    let (s, _) = send(c.get(r.url("/v1/models?key=sk-late"))).await;
    assert_eq!(s, 401);
    let out = r.cli(&["keys", "create", "--name", "late"]).await;
    let late = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let (s, _) = send(c.get(r.url("/v1/models")).bearer_auth(&late)).await;
        if s == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a new CLI key did not work within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // App keys on admin endpoints.
    let (s, v) = send(c.get(r.url("/api/v1/keys")).bearer_auth(&r.app_key)).await;
    assert_eq!(s, 403);
    assert_openai(&v, 403);

    // The provider proxy is a per-key permission: a budgeted key needs it granted.
    let (s, v) = send(
        c.post(r.url("/api/v1/keys"))
            .bearer_auth(&r.admin_key)
            .json(&json!({"name": "budgeted", "limit": 5})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["data"]["proxy"], false, "{v}");
    let (budgeted, hash) = (
        v["key"].as_str().unwrap().to_string(),
        v["data"]["hash"].as_str().unwrap().to_string(),
    );
    let proxied = r.url("/oa/chat/completions");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
    let (s, v) = send(c.post(&proxied).bearer_auth(&budgeted).json(&body)).await;
    assert_eq!(s, 403, "{v}");
    assert_openai(&v, 403);
    let (s, _) = send(c.post(&proxied).bearer_auth(&r.app_key).json(&body)).await;
    assert_eq!(s, 200, "keys without a budget keep the proxy");
    let (s, v) = send(
        c.patch(r.url(&format!("/api/v1/keys/{hash}")))
            .bearer_auth(&r.admin_key)
            .json(&json!({"proxy": true})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"]["proxy"], true);
    let (s, v) = send(c.post(&proxied).bearer_auth(&budgeted).json(&body)).await;
    assert_eq!(s, 200, "{v}");

    let chat = r.url("/v1/chat/completions");
    // Oversize body: refused from its Content-Length, before the body is read.
    let (s, body) = raw(
        &r,
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{",
            r.app_key,
            2 << 20
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert_eq!(s, 413, "{body}");
    assert_openai(&serde_json::from_str(&body).unwrap(), 413);
    // And without a Content-Length (chunked), once the limit is passed.
    let chunks = futures_util::stream::iter(
        (0..40).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b' '; 64 << 10]))),
    );
    let resp = client()
        .post(&chat)
        .bearer_auth(&r.app_key)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // The server may close before the client has written it all (then no status is seen).
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
        assert_openai(&resp.json().await.unwrap(), 413);
    }
    // Deeply nested JSON.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (s, v) = send(
        c.post(&chat)
            .bearer_auth(&r.app_key)
            .header("content-type", "application/json")
            .body(deep.clone()),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_openai(&v, 400);
    let (s, v) = send(
        c.post(r.url("/v1/messages"))
            .header("x-api-key", &r.app_key)
            .header("content-type", "application/json")
            .body(deep),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_anthropic(&v);
    // Bad JSON and content types.
    for (ct, body) in [
        ("application/json", "{\"model\": "),
        ("text/plain", "hello"),
        (
            "application/json",
            "{\"model\":\"oa/m\",\"messages\":\"nope\"}",
        ),
    ] {
        let (s, v) = send(
            c.post(&chat)
                .bearer_auth(&r.app_key)
                .header("content-type", ct)
                .body(body),
        )
        .await;
        assert_eq!(s, 400, "{ct} {body}: {v}");
        assert_openai(&v, 400);
    }
    // Non-UTF-8 bytes.
    let (s, v) = send(
        c.post(&chat)
            .bearer_auth(&r.app_key)
            .header("content-type", "application/json")
            .body(
                b"{\"model\":\"oa/m\",\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}"
                    .to_vec(),
            ),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_openai(&v, 400);
    // NaN and negative parameters.
    for body in [
        "{\"model\":\"oa/m\",\"max_tokens\":-1,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"oa/m\",\"temperature\":NaN,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
        "{\"model\":\"oa/m\",\"n\":-3,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
    ] {
        let (s, v) = send(c.post(&chat).bearer_auth(&r.app_key).header("content-type", "application/json").body(body)).await;
        assert_eq!(s, 400, "{body}: {v}");
        assert_openai(&v, 400);
    }
    // A model name ending in a multi-byte character then 10 ASCII characters (used to panic
    // in the catalog's date-suffix slicing).
    let (s, v) = send(c.post(&chat).bearer_auth(&r.app_key).json(&json!({
        "model": "oa/x\u{e9}0123456789", "messages": [{"role": "user", "content": "x"}]
    })))
    .await;
    assert!(s == 200 || (400..500).contains(&s), "{s} {v}");
    let (s, _) = send(
        c.get(r.url("/v1/models/oa/x\u{e9}-2024-07-1"))
            .bearer_auth(&r.app_key),
    )
    .await;
    assert!(s < 500, "{s}");
    // Huge headers: 431 from the HTTP layer, or a reset when the server stops reading first.
    let mut req = b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 200_000));
    req.extend_from_slice(b"\r\n\r\n");
    let (s, _) = raw(&r, &req, Duration::from_secs(5));
    assert!(s == 431 || s == 0, "{s}");
    still_up(&r).await;
    drop(oa);
}

#[tokio::test]
async fn slow_and_idle_clients_are_cut_and_capped() {
    let (_oa, r) = setup().await;
    // Slowloris: half a header, then nothing. Closed after the 2 s header timeout.
    let t = Instant::now();
    let (s, _) = raw(
        &r,
        b"GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ",
        Duration::from_secs(10),
    );
    assert_eq!(s, 0, "no response, just a close");
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "{waited:?}"
    );
    // A silent socket likewise.
    let t = Instant::now();
    let (_, _) = raw(&r, b"", Duration::from_secs(10));
    assert!(t.elapsed() < Duration::from_secs(8));
    // A body that stalls: the request fails (the server answers) instead of hanging.
    let t = Instant::now();
    let (s, body) = raw(
        &r,
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"model\":",
            r.app_key
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert!(t.elapsed() < Duration::from_secs(8), "{s} {body}");
    assert!(s == 0 || s == 400 || s == 408, "{s} {body}");
    // Far more idle sockets than the cap (24): new clients are still served, because idle
    // connections are closed first.
    let mut idle = Vec::new();
    for _ in 0..60 {
        if let Ok(s) = TcpStream::connect(addr(&r)) {
            idle.push(s);
        }
    }
    let t = Instant::now();
    still_up(&r).await;
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    drop(idle);
    still_up(&r).await;
    assert!(!r.stderr_log().contains("panicked"), "{}", r.stderr_log());
}

/// Connection limits are read at start: an edit is not applied silently, it is logged as
/// needing a restart, while the rest of the file reloads.
#[tokio::test]
async fn connection_settings_edited_live_ask_for_a_restart() {
    let (_oa, r) = setup().await;
    let path = r.data_dir.join("config.toml");
    let cfg = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        cfg.replace("max_connections = 24", "max_connections = 50"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !r.stderr_log().contains("restart arouter to apply") {
        assert!(Instant::now() < deadline, "{}", r.stderr_log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let log = r.stderr_log();
    assert!(log.contains("server.max_connections changed"), "{log}");
    assert!(!log.contains("server.idle_timeout_secs"), "{log}");
    still_up(&r).await;
}

/// Batch input is held to the same body limit as any request (`max_body_mb`, 1 MiB here), with
/// or without a Content-Length; nothing is created.
#[tokio::test]
async fn batch_input_is_within_the_body_limit() {
    let (_oa, r) = setup().await;
    // Declared too big: refused from the Content-Length, before the body is read.
    let (s, body) = raw(
        &r,
        format!(
            "POST /v1/messages/batches HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {}\r\n\
             anthropic-version: 2023-06-01\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{{",
            r.app_key,
            2 << 20
        )
        .as_bytes(),
        Duration::from_secs(10),
    );
    assert_eq!(s, 413, "{body}");
    assert_anthropic(&serde_json::from_str(&body).unwrap());
    // Chunked: refused once the limit is passed.
    let text = "x".repeat(4096);
    let requests: Vec<Value> = (0..400)
        .map(|i| {
            json!({"custom_id": format!("r{i}"), "params": {"model": "oa/m", "max_tokens": 5,
                "messages": [{"role": "user", "content": text}]}})
        })
        .collect();
    let body = json!({ "requests": requests }).to_string().into_bytes();
    assert!(body.len() > 1 << 20);
    let chunks = futures_util::stream::iter(
        body.chunks(64 << 10)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let resp = client()
        .post(r.url("/v1/messages/batches"))
        .header("x-api-key", &r.app_key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // The server may close before the client has written it all (then no status is seen).
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), 413);
        assert_anthropic(&resp.json().await.unwrap());
    }
    let (s, v) = send(
        client()
            .get(r.url("/v1/messages/batches"))
            .header("x-api-key", &r.app_key)
            .header("anthropic-version", "2023-06-01"),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["data"], json!([]), "nothing was created");
    still_up(&r).await;
}

/// The connection timeouts (2 s header, 3 s idle, 2 s body here) never cut a request in flight:
/// an answer that takes longer to start, and a stream that lasts longer than all of them, both
/// arrive whole.
#[tokio::test]
async fn connection_timeouts_never_cut_a_request_in_flight() {
    let (oa, r) = setup().await;
    let chat = |stream: bool| {
        client()
            .post(r.url("/v1/chat/completions"))
            .bearer_auth(&r.app_key)
            .json(&json!({"model": "oa/m", "stream": stream,
                "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    oa.push(arouter_tests::Behavior::SlowFirstByte(
        Duration::from_millis(3500),
        Box::new(arouter_tests::Behavior::text("late but whole")),
    ));
    let resp = chat(false).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("late but whole"));
    oa.push(arouter_tests::Behavior::SlowFirstByte(
        Duration::from_millis(2500),
        Box::new(arouter_tests::Behavior::Chunks {
            n: 12,
            delay: Some(Duration::from_millis(300)),
        }),
    ));
    let t = Instant::now();
    let resp = chat(true).await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(t.elapsed() > Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(text.contains("\"c11 \""), "{text}");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
}
