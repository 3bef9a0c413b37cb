//! End to end: `POST /v1/responses` through the real `arouter` binary against strict mocks of
//! every kind: the same-dialect relay (lossless, ids ours, previous_response_id rebuilt),
//! translation to Anthropic / Gemini / Chat-only upstreams (custom tools bridged, built-in
//! tools refused, reasoning signatures returned to their vendor only), stream endings on
//! failure, keep-alives, Chat callers reaching a Responses-only model, store:false, Codex's
//! model list and remote compaction.

mod common;

use arouter_tests::{Behavior, MockUpstream, RouterProcess, Vendor};
use common::{client, data_json, sse_events};
use serde_json::{json, Value};
use std::time::Duration;

struct Setup {
    oar: MockUpstream,
    oa: MockUpstream,
    an: MockUpstream,
    gm: MockUpstream,
    router: RouterProcess,
}

async fn setup() -> Setup {
    let oar = MockUpstream::start(Vendor::OpenAi).await;
    let oa = MockUpstream::start(Vendor::OpenAi).await;
    let an = MockUpstream::start(Vendor::Anthropic).await;
    let gm = MockUpstream::start(Vendor::Gemini).await;
    let cfg = format!(
        "[server]\nkeepalive_secs = 1\n{}wire = \"responses\"\n{}{}{}[models.\"oa/gpt-5-pro\"]\nwire = \"responses\"\n",
        oar.provider_toml("oar", None),
        oa.provider_toml("oa", None),
        an.provider_toml("an", None),
        gm.provider_toml("gm", None),
    );
    let router = RouterProcess::start(&cfg).await;
    Setup {
        oar,
        oa,
        an,
        gm,
        router,
    }
}

async fn post(s: &Setup, path: &str, body: &Value) -> reqwest::Response {
    client()
        .post(s.router.url(path))
        .bearer_auth(&s.router.app_key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn get(s: &Setup, path: &str) -> reqwest::Response {
    client()
        .get(s.router.url(path))
        .bearer_auth(&s.router.app_key)
        .send()
        .await
        .unwrap()
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_surface_end_to_end() {
    let s = setup().await;
    same_dialect_relay_is_lossless(&s).await;
    previous_response_id_rebuilds_the_conversation_for_any_provider(&s).await;
    custom_tools_bridge_to_function_tools_and_back(&s).await;
    built_in_tools_only_reach_openai(&s).await;
    reasoning_goes_back_to_its_vendor_only(&s).await;
    streams_always_end_in_a_terminal_event(&s).await;
    chat_callers_reach_responses_only_models(&s).await;
    store_false_keeps_no_bodies(&s).await;
    codex_endpoints(&s).await;
}

async fn same_dialect_relay_is_lossless(s: &Setup) {
    let body = json!({
        "model": "oar/gpt-5-codex",
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
        "instructions": "be brief",
        "truncation": "auto",
        "client_metadata": {"session": "x"},
        "reasoning": {"effort": "low", "summary": "auto"},
        "tools": [{"type": "web_search"}, {"type": "custom", "name": "apply_patch"}],
        "store": false,
        "stream": false,
    });
    let r = post(s, "/v1/responses", &body).await;
    assert_eq!(r.status(), 200);
    let gen = r.headers()["x-generation-id"].to_str().unwrap().to_string();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["id"], json!(gen));
    assert!(gen.starts_with("resp_"), "{gen}");
    assert_eq!(v["model"], "oar/gpt-5-codex");
    assert!(v["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap()
        .contains("mock"));
    // Everything but the model name reaches the upstream as sent.
    let mut sent = s.oar.last_json().unwrap();
    assert_eq!(s.oar.last_request().unwrap().path, "/v1/responses");
    assert_eq!(sent["model"], "gpt-5-codex");
    sent["model"] = json!("oar/gpt-5-codex");
    assert_eq!(sent, body);
    // The generation and the history know it as a responses request.
    let g: Value = get(s, &format!("/api/v1/generation?id={gen}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g["data"]["id"], json!(gen));
    assert!(
        g["data"]["tokens_prompt"].as_u64().unwrap_or(1) > 0
            || g["data"]["native_tokens_prompt"].as_u64().unwrap_or(1) > 0
    );
    let history: Value = client()
        .get(s.router.url("/api/v1/requests?limit=5"))
        .bearer_auth(&s.router.admin_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null);
    let text = history.to_string();
    assert!(text.contains(&gen) && text.contains("responses"), "{text}");
}

async fn previous_response_id_rebuilds_the_conversation_for_any_provider(s: &Setup) {
    let first: Value = post(
        s,
        "/v1/responses",
        &json!({"model": "an/claude-sonnet-4-5", "input": "My name is Ada."}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = first["id"].as_str().unwrap();
    // The next turn goes to a Responses upstream, which stores nothing: ARouter sends it the
    // whole conversation (the strict mock rejects any previous_response_id).
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "oar/gpt-5", "input": "What is my name?", "previous_response_id": id}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let second: Value = r.json().await.unwrap();
    assert_eq!(second["previous_response_id"], json!(id));
    let sent = s.oar.last_json().unwrap();
    assert!(sent.get("previous_response_id").is_none());
    let input = sent["input"].as_array().unwrap();
    assert_eq!(input.len(), 3, "{input:?}");
    assert_eq!(input[0]["content"][0]["text"], "My name is Ada.");
    assert_eq!(input[1]["role"], "assistant");
    assert_eq!(input[2]["content"][0]["text"], "What is my name?");
    // And a third turn on Gemini, chained on the second.
    let third = post(
        s,
        "/v1/responses",
        &json!({"model": "gm/gemini-2.5-flash", "input": "Thanks", "previous_response_id": second["id"]}),
    )
    .await;
    assert_eq!(third.status(), 200);
    let sent = s.gm.last_json().unwrap();
    assert_eq!(sent["contents"].as_array().unwrap().len(), 5, "{sent}");
    // Unknown ids are OpenAI's 400.
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "oar/gpt-5", "input": "x", "previous_response_id": "resp_nope"}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["param"], "previous_response_id");
}

async fn custom_tools_bridge_to_function_tools_and_back(s: &Setup) {
    let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch\n";
    let tools = json!([
        {"type": "custom", "name": "apply_patch", "description": "Apply a patch",
         "format": {"type": "grammar", "syntax": "lark", "definition": "start: /.+/"}},
        {"type": "function", "name": "shell", "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}},
    ]);
    for stream in [false, true] {
        s.an.push(Behavior::tool_call("apply_patch", &json!({"input": patch})));
        let r = post(
            s,
            "/v1/responses",
            &json!({"model": "an/claude-sonnet-4-5", "input": "patch it", "tools": tools, "stream": stream}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let item = if stream {
            let (events, _) = sse_events(r).await;
            let events = data_json(&events);
            let t = types(&events);
            assert!(t.contains(&"response.custom_tool_call_input.done"), "{t:?}");
            let done = events
                .iter()
                .find(|e| e["type"] == "response.custom_tool_call_input.done")
                .unwrap();
            assert_eq!(done["input"], patch);
            events.last().unwrap()["response"]["output"][0].clone()
        } else {
            let v: Value = r.json().await.unwrap();
            v["output"][0].clone()
        };
        assert_eq!(item["type"], "custom_tool_call", "{item}");
        assert_eq!(item["input"], patch);
        let sent = s.an.last_json().unwrap();
        let tool = &sent["tools"][0];
        assert_eq!(tool["name"], "apply_patch");
        assert_eq!(tool["input_schema"]["required"], json!(["input"]));
    }
    // The call and its output go back to Anthropic as tool_use / tool_result.
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "an/claude-sonnet-4-5", "tools": tools, "input": [
            {"role": "user", "content": "patch it"},
            {"type": "custom_tool_call", "call_id": "toolu_1", "name": "apply_patch", "input": patch},
            {"type": "custom_tool_call_output", "call_id": "toolu_1", "output": "Done!"},
        ]}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = s.an.last_json().unwrap();
    let msgs = sent["messages"].as_array().unwrap();
    assert_eq!(msgs[1]["content"][0]["type"], "tool_use");
    assert_eq!(msgs[1]["content"][0]["input"], json!({"input": patch}));
    assert_eq!(msgs[2]["content"][0]["type"], "tool_result");
}

async fn built_in_tools_only_reach_openai(s: &Setup) {
    for model in [
        "an/claude-sonnet-4-5",
        "gm/gemini-2.5-flash",
        "oa/gpt-4o-mini",
    ] {
        let r = post(
            s,
            "/v1/responses",
            &json!({"model": model, "input": "x", "tools": [{"type": "web_search"}]}),
        )
        .await;
        assert_eq!(r.status(), 400, "{model}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("\"web_search\""),
            "{e}"
        );
        assert_eq!(e["error"]["type"], "invalid_request_error");
    }
}

async fn reasoning_goes_back_to_its_vendor_only(s: &Setup) {
    s.an.push(Behavior::Thinking {
        thinking: "Six times seven".into(),
        signature: "ant-sig-1".into(),
        text: "42".into(),
    });
    let first: Value = post(
        s,
        "/v1/responses",
        &json!({"model": "an/claude-sonnet-4-5", "input": "6*7?", "reasoning": {"effort": "low", "summary": "auto"}, "max_output_tokens": 4000}),
    )
    .await
    .json()
    .await
    .unwrap();
    let reasoning = first["output"][0].clone();
    assert_eq!(reasoning["type"], "reasoning", "{first}");
    assert_eq!(reasoning["summary"][0]["text"], "Six times seven");
    assert_eq!(
        reasoning["encrypted_content"],
        "arouter:anthropic:ant-sig-1"
    );
    let history = json!([{"role": "user", "content": "6*7?"}, reasoning, first["output"][1], {"role": "user", "content": "doubled?"}]);
    // Back to Anthropic: the signature is replayed as a thinking block.
    let r = post(s, "/v1/responses", &json!({"model": "an/claude-sonnet-4-5", "input": history, "store": false, "reasoning": {"effort": "low"}, "max_output_tokens": 4000})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = s.an.last_json().unwrap();
    assert_eq!(
        sent["messages"][1]["content"][0]["type"], "thinking",
        "{sent}"
    );
    assert_eq!(sent["messages"][1]["content"][0]["signature"], "ant-sig-1");
    // To OpenAI's Responses API it is dropped (the strict mock rejects foreign content).
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "oar/gpt-5", "input": history, "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = s.oar.last_json().unwrap();
    assert!(!sent.to_string().contains("ant-sig-1"), "{sent}");
    // OpenAI's own encrypted reasoning reaches only OpenAI.
    s.oar.push(Behavior::Thinking {
        thinking: "hmm".into(),
        signature: "oa-sig".into(),
        text: "ok".into(),
    });
    let oa_first: Value = post(
        s,
        "/v1/responses",
        &json!({"model": "oar/o4-mini", "input": "q", "include": ["reasoning.encrypted_content"], "reasoning": {"effort": "low", "summary": "auto"}}),
    )
    .await
    .json()
    .await
    .unwrap();
    let item = oa_first["output"][0].clone();
    assert_eq!(item["encrypted_content"], "enc_mock_oa-sig");
    let history = json!([{"role": "user", "content": "q"}, item, oa_first["output"][1], {"role": "user", "content": "more"}]);
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "gm/gemini-2.5-flash", "input": history, "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(!s
        .gm
        .last_json()
        .unwrap()
        .to_string()
        .contains("enc_mock_oa-sig"));
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "oar/o4-mini", "input": history, "store": false}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(s
        .oar
        .last_json()
        .unwrap()
        .to_string()
        .contains("enc_mock_oa-sig"));
}

async fn streams_always_end_in_a_terminal_event(s: &Setup) {
    // Translated: the upstream fails midway.
    for (mock, model) in [
        (&s.an, "an/claude-sonnet-4-5"),
        (&s.oar, "oar/gpt-5"),
        (&s.gm, "gm/gemini-2.5-flash"),
    ] {
        for behavior in [
            Behavior::MidStreamError { after_chunks: 2 },
            Behavior::MidStreamDrop { after_chunks: 2 },
        ] {
            mock.push(behavior.clone());
            let r = post(
                s,
                "/v1/responses",
                &json!({"model": model, "input": "x", "stream": true}),
            )
            .await;
            assert_eq!(r.status(), 200);
            let (events, raw) = sse_events(r).await;
            let events = data_json(&events);
            let t = types(&events);
            assert_eq!(
                t.first(),
                Some(&"response.created"),
                "{model} {behavior:?}: {raw}"
            );
            assert_eq!(
                t.last(),
                Some(&"response.failed"),
                "{model} {behavior:?}: {raw}"
            );
            let seqs: Vec<u64> = events
                .iter()
                .map(|e| e["sequence_number"].as_u64().unwrap())
                .collect();
            // Translated streams number every event; a relayed one keeps the upstream's numbers.
            let relayed = model.starts_with("oar/");
            assert!(
                seqs.windows(2)
                    .all(|w| w[1] == w[0] + 1 || relayed && w[1] > w[0]),
                "{model}: {seqs:?}"
            );
            assert!(events.last().unwrap()["response"]["error"]["code"].is_string());
        }
    }
    // Keep-alive comments while the upstream thinks.
    s.an.push(Behavior::SlowFirstByte(
        Duration::from_millis(2500),
        Box::new(Behavior::text("late")),
    ));
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "an/claude-sonnet-4-5", "input": "x", "stream": true}),
    )
    .await;
    let (events, raw) = sse_events(r).await;
    assert!(raw.starts_with(": AROUTER PROCESSING"), "{raw}");
    assert_eq!(
        types(&data_json(&events)).last(),
        Some(&"response.completed")
    );
    // A rate limit before the stream begins is an HTTP 429 in OpenAI's shape, with the delay.
    s.an.push(Behavior::Error {
        status: 429,
        body: None,
        retry_after: Some(9),
    });
    let r = post(
        s,
        "/v1/responses",
        &json!({"model": "an/claude-sonnet-4-5", "input": "x", "stream": true}),
    )
    .await;
    assert_eq!(r.status(), 429);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "rate_limit_exceeded");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("try again in"),
        "{e}"
    );
}

async fn chat_callers_reach_responses_only_models(s: &Setup) {
    for stream in [false, true] {
        let r = post(
            s,
            "/v1/chat/completions",
            &json!({"model": "oa/gpt-5-pro", "messages": [{"role": "user", "content": "hi"}], "stream": stream, "max_tokens": 100}),
        )
        .await;
        assert_eq!(r.status(), 200);
        let req = s.oa.last_request().unwrap();
        assert_eq!(req.path, "/v1/responses");
        let sent = req.json.unwrap();
        assert_eq!(sent["max_output_tokens"], 100);
        assert_eq!(sent["input"][0]["content"][0]["text"], "hi");
        if stream {
            let (events, _) = sse_events(r).await;
            let text: String = data_json(&events)
                .iter()
                .filter_map(|c| {
                    c.pointer("/choices/0/delta/content")
                        .and_then(Value::as_str)
                })
                .collect();
            assert!(text.contains("mock"), "{text}");
        } else {
            let v: Value = r.json().await.unwrap();
            assert!(v["choices"][0]["message"]["content"]
                .as_str()
                .unwrap()
                .contains("mock"));
        }
    }
    // An Anthropic caller too.
    let r = client()
        .post(s.router.url("/v1/messages"))
        .header("x-api-key", &s.router.app_key)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "oar/gpt-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(s.oar.last_request().unwrap().path, "/v1/responses");
    // Other models of the same provider stay on Chat Completions.
    let r = post(
        s,
        "/v1/chat/completions",
        &json!({"model": "oa/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.oa.last_request().unwrap().path, "/v1/chat/completions");
}

async fn store_false_keeps_no_bodies(s: &Setup) {
    let v: Value = post(
        s,
        "/v1/responses",
        &json!({"model": "oa/gpt-4o-mini", "input": "secret", "store": false}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = v["id"].as_str().unwrap();
    assert_eq!(get(s, &format!("/v1/responses/{id}")).await.status(), 404);
    assert_eq!(
        get(s, &format!("/v1/chat/completions/{id}")).await.status(),
        404
    );
    let g: Value = get(s, &format!("/api/v1/generation?id={id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(g["data"]["id"], json!(id), "the ledger row is kept");
    // Stored (the default) until deleted; then gone, the ledger row still there.
    let v: Value = post(
        s,
        "/v1/responses",
        &json!({"model": "oa/gpt-4o-mini", "input": "keep me"}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = v["id"].as_str().unwrap();
    let got: Value = get(s, &format!("/v1/responses/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["id"], json!(id));
    let items: Value = get(s, &format!("/v1/responses/{id}/input_items"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(items["data"][0]["content"][0]["text"], "keep me", "{items}");
    let del = client()
        .delete(s.router.url(&format!("/v1/responses/{id}")))
        .bearer_auth(&s.router.app_key)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 200);
    assert_eq!(get(s, &format!("/v1/responses/{id}")).await.status(), 404);
    assert_eq!(
        get(s, &format!("/api/v1/generation?id={id}"))
            .await
            .status(),
        200
    );
}

async fn codex_endpoints(s: &Setup) {
    let v: Value = get(s, "/v1/models?client_version=0.171.0")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v, json!({"models": []}));
    let v: Value = get(s, "/v1/models").await.json().await.unwrap();
    assert!(v["data"].is_array());
    let r = post(
        s,
        "/v1/responses/compact",
        &json!({"model": "oar/gpt-5", "input": []}),
    )
    .await;
    assert_eq!(r.status(), 501);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("compaction"));
    assert_eq!(e["error"]["type"], "invalid_request_error");
}
