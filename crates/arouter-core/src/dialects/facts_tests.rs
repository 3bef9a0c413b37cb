//! One test per wire fact: the same fixture through every path that reads it (translated by
//! the outbound adapter, unary and streamed; relayed same-dialect, unary and streamed; the
//! provider proxy). A fact defined twice would show up here as paths that disagree.

use crate::catalog::Pricing;
use crate::config::ProviderKind;
use crate::dispatch::{Ids, NativeStream, Outcome};
use crate::error::ApiError;
use crate::model::{StopReason, StreamEvent, Usage};
use crate::providers;
use crate::sse::SseEvent;
use crate::surfaces;
use bytes::Bytes;
use serde_json::{json, Value};

fn ids() -> Ids {
    Ids {
        id: "gen-1".into(),
        requested: "p/m".into(),
        model: "p/m".into(),
        provider: "p".into(),
        created: 1,
        include_reasoning: true,
        signer: crate::model::Dialect::OpenAi,
    }
}

fn pricing() -> Pricing {
    Pricing {
        prices: Default::default(),
        priced: false,
        context_length: None,
        max_output: None,
        info: None,
    }
}

fn data(v: &Value) -> SseEvent {
    SseEvent {
        event: None,
        data: v.to_string(),
    }
}

fn named(v: &Value) -> SseEvent {
    SseEvent {
        event: v.get("type").and_then(Value::as_str).map(str::to_string),
        data: v.to_string(),
    }
}

/// The last usage a hub stream reported.
fn decoded_usage(kind: ProviderKind, events: &[SseEvent]) -> Usage {
    let mut d = providers::stream_decoder(kind, "p");
    let mut out = Vec::new();
    for ev in events {
        d.event(ev, &mut out).unwrap();
    }
    let _ = d.finish(&mut out);
    out.iter()
        .rev()
        .find_map(|e| match e {
            StreamEvent::Usage(u) => Some(*u),
            _ => None,
        })
        .expect("the stream reported usage")
}

fn decoded_stop(kind: ProviderKind, events: &[SseEvent]) -> StopReason {
    let mut d = providers::stream_decoder(kind, "p");
    let mut out = Vec::new();
    for ev in events {
        d.event(ev, &mut out).unwrap();
    }
    let _ = d.finish(&mut out);
    out.iter()
        .find_map(|e| match e {
            StreamEvent::Finish { reason, .. } => Some(*reason),
            _ => None,
        })
        .expect("the stream stopped")
}

fn relayed(mut relay: Box<dyn NativeStream>, events: &[SseEvent]) -> Outcome {
    let mut out = Vec::new();
    for ev in events {
        relay.event(ev, &pricing(), &mut out).unwrap();
    }
    let _ = relay.end(&mut out);
    relay.outcome()
}

// ---- OpenAI chat: DeepSeek's prompt_cache_hit_tokens -----------------------------------------

#[test]
fn deepseek_cache_hits_read_the_same_on_every_path() {
    let usage = json!({"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
        "prompt_cache_hit_tokens": 80, "prompt_cache_miss_tokens": 20});
    let want = Usage {
        input_tokens: 100,
        output_tokens: 7,
        reasoning_tokens: 0,
        cache_read_tokens: 80,
        cache_write_tokens: 0,
    };
    let body = json!({"id": "x", "object": "chat.completion", "model": "deepseek-chat",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
        "finish_reason": "stop"}], "usage": usage});
    let raw = Bytes::from(body.to_string());

    let translated = providers::parse_chat(ProviderKind::OpenAi, "p", &raw).unwrap();
    assert_eq!(translated.usage, want, "translated unary");
    let chunks = [
        data(&json!({"id": "x", "choices": [{"index": 0, "delta": {"content": "hi"}}]})),
        data(&json!({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})),
        data(&json!({"id": "x", "choices": [], "usage": usage})),
        SseEvent {
            event: None,
            data: "[DONE]".into(),
        },
    ];
    assert_eq!(
        decoded_usage(ProviderKind::OpenAi, &chunks),
        want,
        "translated stream"
    );

    let (_, raw_edit) = surfaces::openai_chat::relay_response(&raw, &ids(), &pricing()).unwrap();
    assert_eq!(raw_edit.usage, want, "relayed unary (raw edit)");
    let (_, tree_edit) =
        surfaces::openai_chat::edit_response_value(&raw, &ids(), &pricing()).unwrap();
    assert_eq!(tree_edit.usage, want, "relayed unary (tree edit)");
    let stream = relayed(surfaces::openai_chat::relay_stream(&ids()), &chunks);
    assert_eq!(stream.usage, want, "relayed stream");

    let proxied = crate::http::proxy::usage_of(ProviderKind::OpenAi, &body).unwrap();
    assert_eq!(proxied, want, "proxy");
}

#[test]
fn openai_usage_details_and_odd_values() {
    let u = json!({"prompt_tokens": 10, "completion_tokens": 5.0,
        "prompt_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 2},
        "completion_tokens_details": null, "extra": [1, {"a": 2}]});
    let got = super::openai_chat::usage::from_value(Some(&u));
    assert_eq!(
        got,
        Usage {
            input_tokens: 10,
            output_tokens: 0,
            reasoning_tokens: 0,
            cache_read_tokens: 4,
            cache_write_tokens: 2,
        }
    );
    assert_eq!(
        super::openai_chat::usage::from_raw(&u.to_string()),
        Some(got)
    );
    let body = json!({"id": "x", "choices": [], "usage": u});
    let (_, raw_edit) =
        surfaces::openai_chat::relay_response(&Bytes::from(body.to_string()), &ids(), &pricing())
            .unwrap();
    assert_eq!(raw_edit.usage, got);
}

// ---- Gemini: toolUsePromptTokenCount, thoughts, cache -----------------------------------------

#[test]
fn gemini_usage_metadata_reads_the_same_on_every_path() {
    let meta = json!({"promptTokenCount": 50, "candidatesTokenCount": 10,
        "thoughtsTokenCount": 5, "cachedContentTokenCount": 20,
        "toolUsePromptTokenCount": 30, "totalTokenCount": 95});
    let want = Usage {
        input_tokens: 80,
        output_tokens: 15,
        reasoning_tokens: 5,
        cache_read_tokens: 20,
        cache_write_tokens: 0,
    };
    let body = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]},
        "finishReason": "STOP"}], "usageMetadata": meta, "modelVersion": "gemini-x"});
    let raw = Bytes::from(body.to_string());

    let translated = providers::parse_chat(ProviderKind::Gemini, "p", &raw).unwrap();
    assert_eq!(translated.usage, want, "translated unary");
    assert_eq!(
        decoded_usage(ProviderKind::Gemini, &[data(&body)]),
        want,
        "translated stream"
    );
    let (_, relayed_unary) = surfaces::gemini::relay_response(&raw, &ids()).unwrap();
    assert_eq!(relayed_unary.usage, want, "relayed unary");
    let stream = relayed(surfaces::gemini::relay_stream(&ids()), &[data(&body)]);
    assert_eq!(stream.usage, want, "relayed stream");
    let proxied = crate::http::proxy::usage_of(ProviderKind::Gemini, &body).unwrap();
    assert_eq!(proxied, want, "proxy");
}

// ---- Gemini: finishReason --------------------------------------------------------------------

#[test]
fn gemini_finish_reasons_map_the_same_on_every_path() {
    let table = [
        ("STOP", StopReason::Stop),
        ("FINISH_REASON_UNSPECIFIED", StopReason::Stop),
        ("MAX_TOKENS", StopReason::Length),
        ("SAFETY", StopReason::ContentFilter),
        ("MODEL_ARMOR", StopReason::ContentFilter),
        ("IMAGE_SAFETY", StopReason::ContentFilter),
        ("MALFORMED_FUNCTION_CALL", StopReason::Error),
        ("OTHER", StopReason::Error),
        ("SOMETHING_NEW", StopReason::Error),
    ];
    for (native, want) in table {
        let body = json!({"candidates": [{"content": {"role": "model",
            "parts": [{"text": "hi"}]}, "finishReason": native}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}});
        let raw = Bytes::from(body.to_string());
        let translated = providers::parse_chat(ProviderKind::Gemini, "p", &raw).unwrap();
        assert_eq!(translated.stop_reason, want, "{native}: translated unary");
        assert_eq!(
            decoded_stop(ProviderKind::Gemini, &[data(&body)]),
            want,
            "{native}: translated stream"
        );
        let (_, o) = surfaces::gemini::relay_response(&raw, &ids()).unwrap();
        assert_eq!(
            o.finish.as_deref(),
            Some(want.as_str()),
            "{native}: relayed"
        );
        assert_eq!(o.native_finish.as_deref(), Some(native));
        let s = relayed(surfaces::gemini::relay_stream(&ids()), &[data(&body)]);
        assert_eq!(
            s.finish.as_deref(),
            Some(want.as_str()),
            "{native}: relayed stream"
        );
    }
}

// ---- Anthropic: usage, stop_reason -----------------------------------------------------------

#[test]
fn anthropic_usage_and_stop_reason_read_the_same_on_every_path() {
    let usage = json!({"input_tokens": 10, "output_tokens": 3,
        "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5});
    let want = Usage {
        input_tokens: 115,
        output_tokens: 3,
        reasoning_tokens: 0,
        cache_read_tokens: 100,
        cache_write_tokens: 5,
    };
    let body = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
        "content": [{"type": "text", "text": "hi"}], "stop_reason": "max_tokens",
        "stop_sequence": null, "usage": usage});
    let raw = Bytes::from(body.to_string());
    let translated = providers::parse_chat(ProviderKind::Anthropic, "p", &raw).unwrap();
    assert_eq!(translated.usage, want);
    assert_eq!(translated.stop_reason, StopReason::Length);
    let (_, o) = surfaces::anthropic::relay_response(&raw, &ids()).unwrap();
    assert_eq!(o.usage, want);
    assert_eq!(o.finish.as_deref(), Some("length"));

    let events = [
        named(
            &json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "c", "content": [], "stop_reason": null,
            "usage": {"input_tokens": 10, "output_tokens": 1, "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 5}}}),
        ),
        named(
            &json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens",
            "stop_sequence": null}, "usage": {"output_tokens": 3}}),
        ),
        named(&json!({"type": "message_stop"})),
    ];
    assert_eq!(decoded_usage(ProviderKind::Anthropic, &events), want);
    assert_eq!(
        decoded_stop(ProviderKind::Anthropic, &events),
        StopReason::Length
    );
    let s = relayed(surfaces::anthropic::relay_stream(&ids()), &events);
    assert_eq!(s.usage, want);
    assert_eq!(s.finish.as_deref(), Some("length"));
    let proxied = crate::http::proxy::usage_of(ProviderKind::Anthropic, &body).unwrap();
    assert_eq!(proxied, want, "proxy");
}

// ---- Anthropic: error type <-> status --------------------------------------------------------

#[test]
fn anthropic_error_types_and_statuses_agree_everywhere() {
    use super::anthropic::errors::{error_body, TYPE_STATUS};
    for &(kind, status) in TYPE_STATUS {
        let event = json!({"type": "error", "error": {"type": kind, "message": "m"}});
        // Upstream error body (non-2xx answer) and in-stream error event, translated.
        let e = providers::parse_error(
            ProviderKind::Anthropic,
            "p",
            status,
            event.to_string().as_bytes(),
        );
        assert_eq!(e.status, status, "{kind}: error body");
        let mut d = providers::stream_decoder(ProviderKind::Anthropic, "p");
        let err: ApiError = d.event(&named(&event), &mut Vec::new()).unwrap_err();
        assert_eq!(err.status, status, "{kind}: translated stream");
        // Relayed stream.
        let mut relay = surfaces::anthropic::relay_stream(&ids());
        let err = relay
            .event(&named(&event), &pricing(), &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.status, status, "{kind}: relayed stream");
        // And what we send for that error names the same type.
        let sent = error_body(&err);
        assert_eq!(sent["error"]["type"], json!(kind), "{kind}: rendered");
    }
}

// ---- Google error status codes ---------------------------------------------------------------

#[test]
fn google_status_codes_round_trip() {
    use super::gemini::errors::{error_body, CODE_STATUS};
    for &(code, status) in CODE_STATUS {
        let body = json!({"error": {"code": status, "message": "m", "status": code}});
        let e = providers::parse_error(
            ProviderKind::Gemini,
            "p",
            status,
            body.to_string().as_bytes(),
        );
        assert_eq!(e.status, status, "{code}");
        // Stream elements have no HTTP status: the code alone gives it.
        let element = json!({"error": {"message": "m", "status": code}});
        let mut d = providers::stream_decoder(ProviderKind::Gemini, "p");
        let err = d.event(&data(&element), &mut Vec::new()).unwrap_err();
        assert_eq!(err.status, status, "{code}: stream");
        let sent = error_body(&err);
        assert_eq!(sent["error"]["code"], json!(status));
    }
}

/// Thinking signatures: whichever surface hands one out and takes it back, it reaches only
/// the vendor that signed it (foreign ones travel tagged with their issuer).
#[test]
fn thinking_signatures_go_back_only_to_their_signer() {
    use crate::dialects::target::Target;
    use crate::dialects::{anthropic, gemini, openai_chat};
    use crate::model::{BlockDelta, BlockStart, ChatRequest, Dialect};

    let cfg = crate::config::Config::parse(
        "[providers.an]\nkind=\"anthropic\"\nbase_url=\"https://api.anthropic.com\"\n\
         [providers.ge]\nkind=\"gemini\"\nbase_url=\"https://generativelanguage.googleapis.com\"\n\
         [providers.oa]\nkind=\"openai\"\nbase_url=\"https://openrouter.ai/api/v1\"\n",
    )
    .unwrap();
    let upstream_body = |req: &ChatRequest, p: &str, model: &str| -> Value {
        let target = Target {
            provider: &cfg.providers[p],
            model,
            api_key: Some("k"),
            default_max_tokens: 1024,
        };
        serde_json::from_slice(&providers::build_chat(req, &target).unwrap().body).unwrap()
    };
    let anthropic_sigs = |b: &Value| -> Vec<String> {
        b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
            .filter(|c| c["type"] == "thinking")
            .map(|c| c["signature"].as_str().unwrap().to_string())
            .collect()
    };
    let gemini_sigs = |b: &Value| -> Vec<String> {
        b["contents"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default())
            .filter_map(|p| p["thoughtSignature"].as_str().map(str::to_string))
            .collect()
    };

    // Anthropic signs; a Gemini-surface client gets it tagged and sends it back.
    let an_answer = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "thinking", "thinking": "hmm", "signature": "ANT-SIG"},
                    {"type": "text", "text": "hi"}],
        "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}});
    let resp = providers::parse_chat(
        ProviderKind::Anthropic,
        "an",
        an_answer.to_string().as_bytes(),
    )
    .unwrap();
    let to_gemini_client = gemini::inbound::from_internal(&resp, "an/claude-x", true);
    let parts = &to_gemini_client["candidates"][0]["content"]["parts"];
    let handed = parts
        .as_array()
        .unwrap()
        .iter()
        .find_map(|p| p["thoughtSignature"].as_str())
        .unwrap()
        .to_string();
    // Gemini's signatures are bytes (base64) on the wire: the tagged text is base64 too, so
    // Google's SDKs can decode it.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(b64.decode(&handed).unwrap(), b"arouter:anthropic:ANT-SIG");
    let next_turn = json!({"contents": [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": parts},
        {"role": "user", "parts": [{"text": "again"}]}]});
    let hub = gemini::inbound::to_internal(&next_turn, "m").unwrap();
    let to_anthropic = upstream_body(&hub, "an", "claude-x");
    assert_eq!(anthropic_sigs(&to_anthropic), ["ANT-SIG"], "{to_anthropic}");
    let to_gemini = upstream_body(&hub, "ge", "gemini-x");
    assert!(gemini_sigs(&to_gemini).is_empty(), "{to_gemini}");

    // Gemini signs; an Anthropic-surface client gets it tagged (unary and streamed).
    let ge_answer = json!({"candidates": [{"content": {"role": "model", "parts": [
        {"text": "plan", "thought": true}, {"text": "hi", "thoughtSignature": "GEM-SIG"}]},
        "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1}});
    let resp = providers::parse_chat(ProviderKind::Gemini, "ge", ge_answer.to_string().as_bytes())
        .unwrap();
    let to_claude_client = anthropic::inbound::from_internal(&resp, "msg_2", "ge/gemini-x");
    let thinking = to_claude_client["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "thinking")
        .unwrap()
        .clone();
    assert_eq!(thinking["signature"], "arouter:gemini:GEM-SIG");
    let mut enc = anthropic::inbound::EventEncoder::new("msg_2", "ge/gemini-x", Dialect::Gemini);
    let mut events = Vec::new();
    for ev in [
        StreamEvent::BlockStart {
            index: 0,
            block: BlockStart::Thinking,
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Signature("GEM-".into()),
        },
        StreamEvent::BlockDelta {
            index: 0,
            delta: BlockDelta::Signature("SIG".into()),
        },
    ] {
        enc.encode(&ev, &mut events);
    }
    let streamed: String = events
        .iter()
        .filter_map(|e| e["delta"]["signature"].as_str())
        .collect();
    assert_eq!(
        streamed, "arouter:gemini:GEM-SIG",
        "tag once, on the first fragment"
    );
    let next_turn = json!({"model": "x", "max_tokens": 10, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [thinking, {"type": "text", "text": "hi"}]},
        {"role": "user", "content": "again"}]});
    let hub = anthropic::inbound::to_internal(&next_turn).unwrap();
    assert!(anthropic_sigs(&upstream_body(&hub, "an", "claude-x")).is_empty());
    assert_eq!(
        gemini_sigs(&upstream_body(&hub, "ge", "gemini-x")),
        ["GEM-SIG"]
    );

    // A native client's own (untagged) signature is its surface's vendor's.
    let own = json!({"model": "x", "max_tokens": 10, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "ANT-2"},
            {"type": "text", "text": "a"}]},
        {"role": "user", "content": "again"}]});
    let hub = anthropic::inbound::to_internal(&own).unwrap();
    assert_eq!(
        anthropic_sigs(&upstream_body(&hub, "an", "claude-x")),
        ["ANT-2"]
    );
    assert!(gemini_sigs(&upstream_body(&hub, "ge", "gemini-x")).is_empty());

    // OpenAI chat surface: reasoning_details signatures are tagged the same way.
    let rendered = openai_chat::inbound::from_internal(
        &providers::parse_chat(
            ProviderKind::Anthropic,
            "an",
            an_answer.to_string().as_bytes(),
        )
        .unwrap(),
        &openai_chat::inbound::ResponseIds {
            id: "gen-1",
            model: "an/claude-x",
            provider: "an",
            created: 1,
            cost_usd: None,
            include_reasoning: true,
            signer: Dialect::Anthropic,
        },
    );
    let rendered: Value = serde_json::from_slice(&rendered).unwrap();
    let details = rendered["choices"][0]["message"]["reasoning_details"].clone();
    assert_eq!(details[0]["signature"], "arouter:anthropic:ANT-SIG");
    let next_turn = json!({"model": "x", "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "hi", "reasoning_details": details},
        {"role": "user", "content": "again"}]});
    let hub = openai_chat::inbound::to_internal(&next_turn).unwrap();
    assert_eq!(
        anthropic_sigs(&upstream_body(&hub, "an", "claude-x")),
        ["ANT-SIG"]
    );
    assert!(gemini_sigs(&upstream_body(&hub, "ge", "gemini-x")).is_empty());

    // The same-dialect relays forward the client's body, less other vendors' signatures.
    let relayed = json!({"model": "x", "max_tokens": 10, "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "t", "signature": "arouter:gemini:GEM-SIG"},
            {"type": "thinking", "thinking": "u", "signature": "ANT-3"},
            {"type": "redacted_thinking", "data": "arouter:openai-chat:X"},
            {"type": "text", "text": "a"}]},
        {"role": "user", "content": "again"}]});
    let raw = relayed.to_string();
    let sent: Value = serde_json::from_slice(&surfaces::anthropic::passthrough_body(
        &relayed,
        Some(raw.as_bytes()),
        "claude-x",
    ))
    .unwrap();
    assert_eq!(anthropic_sigs(&sent), ["ANT-3"], "{sent}");
    assert_eq!(sent["messages"][1]["content"].as_array().unwrap().len(), 2);
    let gemini_client = json!({"contents": [
        {"role": "user", "parts": [{"text": "q"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "arouter:anthropic:A"},
            {"text": "b", "thoughtSignature": b64.encode("arouter:anthropic:B")},
            {"text": "c", "thoughtSignature": "GEM-OWN"}]}]});
    let contents = gemini::relay::contents_without_foreign_signatures(&gemini_client).unwrap();
    assert_eq!(
        contents[1]["parts"],
        json!([
            {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "skip_thought_signature_validator"},
            {"text": "b"},
            {"text": "c", "thoughtSignature": "GEM-OWN"}])
    );
    assert!(gemini::relay::contents_without_foreign_signatures(&next_turn_gemini_own()).is_none());
    let chat_client = json!({"messages": [{"role": "assistant", "content": "a", "reasoning_details": [
        {"type": "reasoning.text", "text": "t", "signature": "arouter:anthropic:S"},
        {"type": "reasoning.encrypted", "data": "arouter:anthropic:D"},
        {"type": "reasoning.text", "text": "u", "signature": "OWN"}]}]});
    let messages = openai_chat::relay::messages_without_foreign_reasoning(&chat_client).unwrap();
    assert_eq!(
        messages[0]["reasoning_details"],
        json!([{"type": "reasoning.text", "text": "t"},
               {"type": "reasoning.text", "text": "u", "signature": "OWN"}])
    );
}

fn next_turn_gemini_own() -> Value {
    json!({"contents": [{"role": "model", "parts": [{"text": "c", "thoughtSignature": "GEM-OWN"}]}]})
}
