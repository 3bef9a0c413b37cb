//! `GET /openapi.yaml`: the OpenAPI 3.1 document of every endpoint, built from one table of
//! operations (checked against the router's registered routes by a test) and the shared
//! schemas of the wire shapes.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// Who may call an operation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    App,
    Admin,
}

/// One documented operation.
pub struct Op {
    pub method: &'static str,
    /// Axum syntax (`{id}`, `{*rest}`); `/v1/…` operations are also served under `/api/v1/…`.
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub access: Access,
    /// Schema name of the JSON request body.
    pub body: Option<&'static str>,
    /// Schema name of the 200 response (`None`: free-form JSON).
    pub response: Option<&'static str>,
    /// Answers `text/event-stream` when the body asks for `stream`.
    pub streams: bool,
    /// The 200 response is this text type instead of JSON.
    pub text: Option<&'static str>,
}

const fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    access: Access,
) -> Op {
    Op {
        method,
        path,
        tag,
        summary,
        access,
        body: None,
        response: None,
        streams: false,
        text: None,
    }
}

impl Op {
    const fn body(mut self, schema: &'static str) -> Op {
        self.body = Some(schema);
        self
    }
    const fn returns(mut self, schema: &'static str) -> Op {
        self.response = Some(schema);
        self
    }
    const fn text(mut self, content_type: &'static str) -> Op {
        self.text = Some(content_type);
        self
    }
    const fn streaming(mut self) -> Op {
        self.streams = true;
        self
    }
}

use Access::{Admin, App, Open};

/// Every operation the router serves.
pub const OPS: &[Op] = &[
    op("get", "/healthz", "misc", "Liveness (no auth)", Open),
    op("get", "/openapi.yaml", "misc", "This document", Open),
    op(
        "get",
        "/metrics",
        "misc",
        "Prometheus metrics (text format 0.0.4). Needs an admin key, unless [telemetry] metrics_open = true and the scrape comes from loopback",
        Admin,
    )
    .text("text/plain"),
    op(
        "get",
        "/api/v1/health",
        "misc",
        "Provider health for people: state (ok, cooling_down, failing, unknown), error rate and p50/p95 latency and time to first token over the last 15 minutes, last error; ledger rows lost; trace export counters",
        Admin,
    )
    .returns("Health"),
    op("get", "/", "misc", "Redirects to the web UI", Open),
    op("get", "/ui", "misc", "The web UI", Open),
    op("get", "/ui/", "misc", "The web UI", Open),
    op("get", "/ui/{*path}", "misc", "Web UI assets", Open),
    op(
        "post",
        "/v1/chat/completions",
        "openai",
        "Chat completion (OpenAI / OpenRouter shape)",
        App,
    )
    .body("ChatCompletionRequest")
    .returns("ChatCompletion")
    .streaming(),
    op(
        "get",
        "/v1/chat/completions/{id}",
        "openai",
        "The stored request and response of a generation",
        App,
    )
    .returns("StoredCompletion"),
    op(
        "post",
        "/v1/responses",
        "openai",
        "OpenAI Responses API: relayed to wire = \"responses\" providers, translated for the rest",
        App,
    )
    .body("ResponseCreateRequest")
    .returns("Response")
    .streaming(),
    op(
        "get",
        "/v1/responses/{id}",
        "openai",
        "A stored response (requests with store, the default)",
        App,
    )
    .returns("Response"),
    op(
        "delete",
        "/v1/responses/{id}",
        "openai",
        "Deletes a stored response's content (the ledger row stays)",
        App,
    ),
    op(
        "get",
        "/v1/responses/{id}/input_items",
        "openai",
        "The input items of a stored response",
        App,
    )
    .returns("ResponseItemList"),
    op(
        "post",
        "/v1/responses/compact",
        "openai",
        "Codex remote compaction: not available (501 in OpenAI's error shape)",
        App,
    ),
    op(
        "post",
        "/v1/completions",
        "openai",
        "Legacy text completion",
        App,
    )
    .body("CompletionRequest")
    .streaming(),
    op("post", "/v1/embeddings", "openai", "Embeddings", App).body("EmbeddingRequest"),
    op(
        "get",
        "/v1/models",
        "openai",
        "Routable models (Anthropic's list shape with anthropic-version)",
        App,
    )
    .returns("ModelList"),
    op(
        "get",
        "/v1/models/{*rest}",
        "openai",
        "One model (`provider/model`), or a Gemini model",
        App,
    )
    .returns("Model"),
    op(
        "post",
        "/v1/models/{*rest}",
        "gemini",
        "Gemini `{model}:generateContent`, `:streamGenerateContent`, `:countTokens`",
        App,
    )
    .body("GenerateContentRequest")
    .streaming(),
    op(
        "post",
        "/v1/messages",
        "anthropic",
        "Anthropic Messages",
        App,
    )
    .body("MessagesRequest")
    .returns("Message")
    .streaming(),
    op(
        "post",
        "/v1/messages/count_tokens",
        "anthropic",
        "Count a Messages request's input tokens",
        App,
    )
    .body("MessagesRequest")
    .returns("TokenCount"),
    op(
        "post",
        "/v1/messages/batches",
        "anthropic",
        "Create a Message Batch (forwarded to Anthropic, or run locally)",
        App,
    ),
    op(
        "get",
        "/v1/messages/batches",
        "anthropic",
        "List Message Batches",
        App,
    ),
    op(
        "get",
        "/v1/messages/batches/{id}",
        "anthropic",
        "One Message Batch",
        App,
    ),
    op(
        "delete",
        "/v1/messages/batches/{id}",
        "anthropic",
        "Delete an ended Message Batch",
        App,
    ),
    op(
        "post",
        "/v1/messages/batches/{id}/cancel",
        "anthropic",
        "Cancel a Message Batch",
        App,
    ),
    op(
        "get",
        "/v1/messages/batches/{id}/results",
        "anthropic",
        "Results as JSONL",
        App,
    ),
    op(
        "get",
        "/v1beta/models",
        "gemini",
        "Routable models in Gemini's shape",
        App,
    ),
    op(
        "get",
        "/v1beta/models/{*rest}",
        "gemini",
        "One model in Gemini's shape",
        App,
    ),
    op(
        "post",
        "/v1beta/models/{*rest}",
        "gemini",
        "Gemini `{model}:generateContent`, `:streamGenerateContent` (`alt=sse`), `:countTokens`",
        App,
    )
    .body("GenerateContentRequest")
    .streaming(),
    op(
        "get",
        "/api/v1/generation",
        "billing",
        "A generation's metadata (`?id=`)",
        App,
    )
    .returns("Generation"),
    op("get", "/api/v1/key", "keys", "The calling key", App).returns("KeyEnvelope"),
    op("get", "/api/v1/keys", "keys", "List keys", Admin),
    op(
        "post",
        "/api/v1/keys",
        "keys",
        "Create a key (the raw key is returned once)",
        Admin,
    )
    .body("KeyCreate"),
    op("get", "/api/v1/keys/{hash}", "keys", "One key", Admin).returns("KeyEnvelope"),
    op(
        "patch",
        "/api/v1/keys/{hash}",
        "keys",
        "Rename, disable, set limits",
        Admin,
    )
    .body("KeyPatch"),
    op(
        "delete",
        "/api/v1/keys/{hash}",
        "keys",
        "Delete a key",
        Admin,
    ),
    op(
        "get",
        "/api/v1/providers",
        "providers",
        "Providers with credential presence and health",
        Admin,
    ),
    op(
        "post",
        "/api/v1/providers",
        "providers",
        "Add a provider",
        Admin,
    )
    .body("ProviderCreate"),
    op(
        "patch",
        "/api/v1/providers/{id}",
        "providers",
        "Edit a provider",
        Admin,
    ),
    op(
        "delete",
        "/api/v1/providers/{id}",
        "providers",
        "Remove a provider",
        Admin,
    ),
    op(
        "put",
        "/api/v1/providers/{id}/credential",
        "providers",
        "Store a credential in the OS keychain",
        Admin,
    ),
    op(
        "delete",
        "/api/v1/providers/{id}/credential",
        "providers",
        "Remove the keychain credential",
        Admin,
    ),
    op(
        "post",
        "/api/v1/providers/{id}/test",
        "providers",
        "Test the connection",
        Admin,
    ),
    op(
        "get",
        "/api/v1/provider-presets",
        "providers",
        "Presets for well-known providers",
        Admin,
    ),
    op(
        "get",
        "/api/v1/settings",
        "routing",
        "Default model, aliases, server settings",
        Admin,
    ),
    op(
        "patch",
        "/api/v1/settings",
        "routing",
        "Change settings (content logging)",
        Admin,
    ),
    op(
        "put",
        "/api/v1/default-model",
        "routing",
        "Set the default model",
        Admin,
    ),
    op(
        "put",
        "/api/v1/aliases/{name}",
        "routing",
        "Create or replace a fallback list",
        Admin,
    ),
    op(
        "delete",
        "/api/v1/aliases/{name}",
        "routing",
        "Delete a fallback list",
        Admin,
    ),
    op(
        "get",
        "/api/v1/catalog",
        "routing",
        "Routable models with prices",
        Admin,
    ),
    op(
        "get",
        "/api/v1/models/facts",
        "routing",
        "Where model facts come from: the bundled catalog's pinned source, each provider's cached model list",
        Admin,
    ),
    op(
        "post",
        "/api/v1/models/refresh",
        "routing",
        "Ask every provider for its model list and prices now (502, nothing changed, when none answers)",
        Admin,
    ),
    op(
        "put",
        "/api/v1/model-overrides/{provider}/{*model}",
        "routing",
        "Override a model's price or limits",
        Admin,
    ),
    op(
        "delete",
        "/api/v1/model-overrides/{provider}/{*model}",
        "routing",
        "Remove an override",
        Admin,
    ),
    op(
        "get",
        "/api/v1/usage",
        "usage",
        "Usage aggregates by app, model, provider, key or day",
        Admin,
    ),
    op(
        "get",
        "/api/v1/usage/daily",
        "usage",
        "Usage per day and group",
        Admin,
    ),
    op(
        "get",
        "/api/v1/usage.csv",
        "usage",
        "Request log as CSV",
        Admin,
    ),
    op("get", "/api/v1/requests", "usage", "The request log", Admin),
    op(
        "get",
        "/api/v1/requests/{id}",
        "usage",
        "One request with its stored content and attempts",
        Admin,
    ),
    op(
        "get",
        "/api/v1/credits",
        "billing",
        "Credits recorded and usage",
        Admin,
    ),
    op(
        "post",
        "/api/v1/credits",
        "billing",
        "Record a credit",
        Admin,
    ),
    op(
        "get",
        "/api/v1/balance",
        "billing",
        "Credits, usage, remaining",
        Admin,
    ),
    op(
        "get",
        "/api/v1/transactions",
        "billing",
        "Credits and per-request charges, newest first",
        Admin,
    ),
    op(
        "get",
        "/api/v1/activity",
        "billing",
        "Usage per day, model and app",
        Admin,
    ),
    op(
        "get",
        "/api/v1/tools",
        "tools",
        "Agent CLIs: installed, connected (key), last request, today's spend",
        Admin,
    ),
    op(
        "post",
        "/api/v1/tools/{id}/connect",
        "tools",
        "Point a tool at ARouter with its own key ({model, slots, key_name})",
        Admin,
    ),
    op(
        "post",
        "/api/v1/tools/{id}/disconnect",
        "tools",
        "Restore a tool's config files and revoke its key",
        Admin,
    ),
    op(
        "get",
        "/{provider}/{*path}",
        "proxy",
        "Provider proxy: forwarded verbatim with the provider's credential",
        App,
    ),
    op(
        "post",
        "/{provider}/{*path}",
        "proxy",
        "Provider proxy: forwarded verbatim with the provider's credential",
        App,
    ),
    op("put", "/{provider}/{*path}", "proxy", "Provider proxy", App),
    op(
        "patch",
        "/{provider}/{*path}",
        "proxy",
        "Provider proxy",
        App,
    ),
    op(
        "delete",
        "/{provider}/{*path}",
        "proxy",
        "Provider proxy",
        App,
    ),
];

/// OpenAPI path syntax for an axum path (`{*rest}` → `{rest}`).
fn openapi_path(p: &str) -> String {
    p.replace("{*", "{")
}

fn params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let name = name.trim_start_matches('*');
            json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
        })
        .collect()
}

fn operation(op: &Op, path: &str) -> Value {
    let slug = path.replace(['/', '{', '}', '*', '.', '-'], "_");
    let slug = slug.trim_matches('_');
    let id = if path.ends_with('/') && path.len() > 1 {
        format!("{}_{slug}_index", op.method)
    } else {
        format!("{}_{slug}", op.method)
    };
    let mut o = json!({
        "tags": [op.tag],
        "summary": op.summary,
        "operationId": id,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": op.response.map_or(json!({"type": "object"}), |s| json!({"$ref": format!("#/components/schemas/{s}")}))}}},
            "4XX": {"description": "Client error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            "5XX": {"description": "Upstream or router error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        },
    });
    if let Some(ct) = op.text {
        o["responses"]["200"]["content"] = json!({ct: {"schema": {"type": "string"}}});
    }
    if op.streams {
        o["responses"]["200"]["content"]["text/event-stream"] = json!({"schema": {"type": "string", "description": "Server-sent events in the surface's own stream format"}});
    }
    let ps = params(op.path);
    if !ps.is_empty() {
        o["parameters"] = Value::Array(ps);
    }
    if let Some(b) = op.body {
        o["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
    }
    match op.access {
        Open => o["security"] = json!([]),
        App => {}
        Admin => {
            o["description"] =
                json!("Needs an admin key (`arouter keys create --admin`); app keys get 403.")
        }
    }
    o
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let mut targets = vec![openapi_path(op.path)];
        if let Some(rest) = op.path.strip_prefix("/v1/") {
            targets.push(openapi_path(&format!("/api/v1/{rest}")));
        }
        for path in targets {
            let operation = operation(op, &path);
            paths.entry(path).or_insert_with(|| json!({}))[op.method] = operation;
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ARouter",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A local LLM router: OpenAI-, Anthropic- and Gemini-compatible endpoints in front of any provider, with a usage ledger and management API.",
        },
        "servers": [{"url": "http://127.0.0.1:8402"}],
        "security": [{"bearer": []}, {"apiKey": []}, {"googApiKey": []}, {"queryKey": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "googApiKey": {"type": "apiKey", "in": "header", "name": "x-goog-api-key"},
                "queryKey": {"type": "apiKey", "in": "query", "name": "key"},
            },
            "schemas": schemas(),
        },
    })
}

fn schemas() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let message = obj(
        json!({"role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
               "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}, {"type": "null"}]},
               "tool_calls": {"type": "array", "items": {"type": "object"}},
               "tool_call_id": {"type": "string"},
               "reasoning_details": {"type": "array", "items": {"type": "object"}}}),
        &["role"],
    );
    let usage = json!({"type": "object", "properties": {
        "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"},
        "prompt_tokens_details": {"type": "object"}, "completion_tokens_details": {"type": "object"},
        "cost": {"type": "number", "description": "USD"}}});
    json!({
        "Error": obj(json!({"error": obj(json!({"code": {"type": "integer"}, "message": {"type": "string"}, "metadata": {"type": "object"}}), &["code", "message"])}), &["error"]),
        "Message_": message,
        "Usage": usage,
        "ChatCompletionRequest": obj(json!({
            "model": {"type": "string", "description": "provider/model, an alias, a catalog id; default_model when absent"},
            "models": {"type": "array", "items": {"type": "string"}, "description": "OpenRouter fallback list"},
            "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message_"}},
            "stream": {"type": "boolean"}, "max_tokens": {"type": "integer"}, "max_completion_tokens": {"type": "integer"},
            "temperature": {"type": "number"}, "top_p": {"type": "number"}, "top_k": {"type": "integer"},
            "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "tools": {"type": "array", "items": {"type": "object"}}, "tool_choice": {},
            "response_format": {"type": "object"}, "reasoning": {"type": "object"}, "reasoning_effort": {"type": "string"},
            "provider": {"type": "object", "description": "OpenRouter provider preferences: order, only, ignore, allow_fallbacks, require_parameters, sort, max_price"},
        }), &["messages"]),
        "ChatCompletion": obj(json!({"id": {"type": "string"}, "object": {"type": "string"}, "created": {"type": "integer"},
            "model": {"type": "string"}, "provider": {"type": "string"}, "choices": {"type": "array", "items": {"type": "object"}},
            "usage": {"$ref": "#/components/schemas/Usage"}}), &["id", "choices"]),
        "StoredCompletion": obj(json!({"request": {"type": "object"}, "response": {}}), &["request"]),
        "ResponseCreateRequest": obj(json!({
            "model": {"type": "string"}, "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
            "instructions": {"type": "string"}, "tools": {"type": "array", "items": {"type": "object"}}, "tool_choice": {},
            "reasoning": {"type": "object"}, "text": {"type": "object"}, "max_output_tokens": {"type": "integer"},
            "store": {"type": "boolean", "description": "default true: kept in the ledger for GET and previous_response_id"},
            "previous_response_id": {"type": "string"}, "include": {"type": "array", "items": {"type": "string"}},
            "stream": {"type": "boolean"}}), &["model"]),
        "Response": obj(json!({"id": {"type": "string"}, "object": {"type": "string"}, "status": {"type": "string"},
            "model": {"type": "string"}, "output": {"type": "array", "items": {"type": "object"}}, "usage": {"type": ["object", "null"]}}),
            &["id", "output"]),
        "ResponseItemList": obj(json!({"data": {"type": "array", "items": {"type": "object"}}, "has_more": {"type": "boolean"}}), &["data"]),
        "CompletionRequest": obj(json!({"model": {"type": "string"}, "prompt": {"oneOf": [{"type": "string"}, {"type": "array"}]}, "stream": {"type": "boolean"}}), &["prompt"]),
        "EmbeddingRequest": obj(json!({"model": {"type": "string"}, "input": {"oneOf": [{"type": "string"}, {"type": "array"}]}}), &["input"]),
        "Model": obj(json!({"id": {"type": "string"}, "name": {"type": "string"}, "context_length": {"type": ["integer", "null"]},
            "pricing": {"type": "object", "additionalProperties": {"type": "string"}}, "architecture": {"type": "object"},
            "supported_parameters": {"type": "array", "items": {"type": "string"}}}), &["id"]),
        "ModelList": obj(json!({"data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}), &["data"]),
        "MessagesRequest": obj(json!({"model": {"type": "string"}, "max_tokens": {"type": "integer"},
            "system": {"oneOf": [{"type": "string"}, {"type": "array"}]}, "messages": {"type": "array", "items": {"type": "object"}},
            "tools": {"type": "array"}, "thinking": {"type": "object"}, "stream": {"type": "boolean"}}), &["model", "messages"]),
        "Message": obj(json!({"id": {"type": "string"}, "type": {"type": "string"}, "role": {"type": "string"},
            "content": {"type": "array", "items": {"type": "object"}}, "stop_reason": {"type": ["string", "null"]}, "usage": {"type": "object"}}), &["id", "content"]),
        "TokenCount": obj(json!({"input_tokens": {"type": "integer"}}), &["input_tokens"]),
        "GenerateContentRequest": obj(json!({"contents": {"type": "array", "items": {"type": "object"}},
            "systemInstruction": {"type": "object"}, "tools": {"type": "array"}, "generationConfig": {"type": "object"}}), &["contents"]),
        "Generation": obj(json!({"data": {"type": "object"}}), &["data"]),
        "KeyEnvelope": obj(json!({"data": {"type": "object"}}), &["data"]),
        "Health": health_schema(),
        "KeyCreate": obj(json!({"name": {"type": "string"}, "limit": {"type": ["number", "null"]}, "limit_reset": {"type": ["string", "null"]},
            "rpm": {"type": ["integer", "null"]}, "admin": {"type": "boolean"}}), &["name"]),
        "KeyPatch": obj(json!({"name": {"type": "string"}, "disabled": {"type": "boolean"}, "limit": {"type": ["number", "null"]},
            "limit_reset": {"type": ["string", "null"]}, "rpm": {"type": ["integer", "null"]}}), &[]),
        "ProviderCreate": obj(json!({"id": {"type": "string"}, "kind": {"type": "string", "enum": ["openai", "anthropic", "gemini"]},
            "base_url": {"type": "string"}, "api_key_env": {"type": "string"}, "models": {"type": "array", "items": {"type": "string"}}}), &["id", "kind", "base_url"]),
    })
}

/// `GET /api/v1/health`'s answer (built apart: one `json!` this deep exceeds the macro's
/// recursion limit).
fn health_schema() -> Value {
    let obj = |props: Value, required: &[&str]| json!({"type": "object", "properties": props, "required": required});
    let ms = json!({"type": ["integer", "null"]});
    let quantiles = obj(json!({"p50": ms, "p95": ms}), &["p50", "p95"]);
    let recent = obj(
        json!({"window_secs": {"type": "integer"}, "attempts": {"type": "integer"}, "errors": {"type": "integer"},
               "error_rate": {"type": ["number", "null"]}, "latency_ms": quantiles, "ttft_ms": quantiles}),
        &["attempts", "errors", "error_rate", "latency_ms", "ttft_ms"],
    );
    let provider = obj(
        json!({"id": {"type": "string"}, "kind": {"type": "string"},
               "state": {"type": "string", "enum": ["ok", "cooling_down", "failing", "unknown"]},
               "consecutive_failures": {"type": "integer"}, "last_error": {"type": ["string", "null"]},
               "last_error_at_ms": {"type": ["integer", "null"], "description": "unix ms"},
               "last_success_at_ms": {"type": ["integer", "null"], "description": "unix ms"},
               "recent": recent}),
        &["id", "state", "recent"],
    );
    let ledger = obj(
        json!({"rows_lost": {"type": "integer"}, "rows_without_bodies": {"type": "integer"},
               "queue_depth": {"type": "integer"}, "rows_written": {"type": "integer"}}),
        &["rows_lost"],
    );
    let traces = obj(
        json!({"enabled": {"type": "boolean"}, "exported": {"type": "integer"}, "dropped": {"type": "integer"}}),
        &["enabled"],
    );
    let data = obj(
        json!({"providers": {"type": "array", "items": provider}, "ledger": ledger, "traces": traces}),
        &["providers", "ledger", "traces"],
    );
    obj(json!({ "data": data }), &["data"])
}

/// YAML for a JSON value (block style; strings double-quoted, so no YAML ambiguity).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    write_yaml(v, 0, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn write_yaml(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, val) in m {
                let key = serde_json::to_string(k).unwrap_or_default();
                match val {
                    Value::Object(c) if !c.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        write_yaml(val, indent + 2, out);
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}{key}:\n"));
                        write_yaml(val, indent + 2, out);
                    }
                    _ => out.push_str(&format!("{pad}{key}: {}\n", inline(val))),
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for item in a {
                match item {
                    Value::Object(c) if !c.is_empty() => {
                        let mut nested = String::new();
                        write_yaml(item, indent + 2, &mut nested);
                        out.push_str(&format!("{pad}- {}", &nested[indent + 2..]));
                    }
                    Value::Array(a) if !a.is_empty() => {
                        out.push_str(&format!("{pad}- {}\n", inline(item)));
                    }
                    _ => out.push_str(&format!("{pad}- {}\n", inline(item))),
                }
            }
        }
        _ => out.push_str(&format!("{pad}{}\n", inline(v))),
    }
}

/// Flow style for empty containers, short arrays of scalars and scalars.
fn inline(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        Value::Object(_) => serde_json::to_string(v).unwrap_or_default(),
        other => scalar(other),
    }
}

pub async fn serve() -> Response {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        to_yaml(&document()),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v1_operation_is_also_under_api_v1() {
        let doc = document();
        assert!(doc["paths"]["/api/v1/chat/completions"]["post"].is_object());
        assert!(doc["paths"]["/v1/models/{rest}"]["get"].is_object());
        let refs = doc.to_string();
        // Every $ref points at a defined schema.
        for part in refs.split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "undefined schema {name}"
            );
        }
    }

    #[test]
    fn yaml_is_block_style_with_quoted_strings() {
        let y = to_yaml(&json!({"a": {"b": [1, "x"], "c": {}}, "d": [{"e": true, "f": "g"}]}));
        assert_eq!(y, "\"a\":\n  \"b\":\n    - 1\n    - \"x\"\n  \"c\": {}\n\"d\":\n  - \"e\": true\n    \"f\": \"g\"\n");
    }
}
