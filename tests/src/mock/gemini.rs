//! Gemini wire shapes (generateContent, streamGenerateContent, countTokens, models) and
//! validation, under both `/v1beta` and `/v1`.

use super::{
    approx_tokens, auxiliary, collect_text, generate, ErrorShape, Frame, GenRequest, Output,
    RecordedRequest, Reply, Shape, State,
};
use bytes::Bytes;
use serde_json::{json, Map, Value};

const MODELS: &[(&str, &str)] = &[
    ("gemini-2.5-flash", "Gemini 2.5 Flash"),
    ("gemini-2.5-pro", "Gemini 2.5 Pro"),
];

/// Keys of Gemini's OpenAPI-subset `Schema` (proto JSON accepts camelCase and snake_case).
const SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "max_items",
    "minItems",
    "min_items",
    "properties",
    "required",
    "minProperties",
    "min_properties",
    "maxProperties",
    "max_properties",
    "minLength",
    "min_length",
    "maxLength",
    "max_length",
    "pattern",
    "example",
    "anyOf",
    "any_of",
    "propertyOrdering",
    "property_ordering",
    "default",
    "items",
    "minimum",
    "maximum",
];

pub(super) fn respond(state: &State, req: &RecordedRequest) -> Reply {
    if let Some(rejection) = check_auth(state, req) {
        return rejection;
    }
    let path = req.path_only();
    let Some(rest) = path
        .strip_prefix("/v1beta/models")
        .or_else(|| path.strip_prefix("/v1/models"))
    else {
        return not_found(path);
    };
    if req.method == "GET" && rest.is_empty() {
        return models();
    }
    let Some((model, method)) = rest.strip_prefix('/').and_then(|r| r.rsplit_once(':')) else {
        return not_found(path);
    };
    let result = match (req.method.as_str(), method) {
        ("POST", "generateContent") => generate_content(state, req, model, false),
        ("POST", "streamGenerateContent") => generate_content(state, req, model, true),
        ("POST", "countTokens") => count_tokens(state, req),
        _ => Err(not_found(path)),
    };
    result.unwrap_or_else(|rejection| rejection)
}

fn check_auth(state: &State, req: &RecordedRequest) -> Option<Reply> {
    let expected = state.expected_key()?;
    match req.header("x-goog-api-key").or_else(|| req.query("key")) {
        Some(key) if key == expected => None,
        Some(_) => Some(Reply::json(
            400,
            &json!({"error": {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"}
                }]
            }}),
        )),
        None => Some(Reply::json(
            403,
            &json!({"error": {
                "code": 403,
                "message": "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                "status": "PERMISSION_DENIED"
            }}),
        )),
    }
}

fn error_json(code: u16, status: &str, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status}})
}

fn invalid(message: &str) -> Reply {
    Reply::json(400, &error_json(400, "INVALID_ARGUMENT", message))
}

fn not_found(path: &str) -> Reply {
    Reply::json(
        404,
        &error_json(
            404,
            "NOT_FOUND",
            &format!("The requested URL {path} was not found on this server."),
        ),
    )
}

fn status_error(code: u16) -> Value {
    let (status, message) = match code {
        400 => ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
        403 => ("PERMISSION_DENIED", "The caller does not have permission"),
        404 => ("NOT_FOUND", "Requested entity was not found."),
        429 => ("RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details."),
        503 => ("UNAVAILABLE", "The model is overloaded. Please try again later."),
        504 => ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        _ => ("INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
    };
    error_json(code, status, message)
}

fn body_object(req: &RecordedRequest) -> Result<&Map<String, Value>, Reply> {
    req.json
        .as_ref()
        .and_then(Value::as_object)
        .ok_or_else(|| invalid("Invalid JSON payload received. Unexpected token."))
}

/// A field in camelCase or its snake_case twin.
fn field<'a>(body: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    body.get(camel).or_else(|| body.get(snake))
}

fn generate_content(
    state: &State,
    req: &RecordedRequest,
    model: &str,
    streaming: bool,
) -> Result<Reply, Reply> {
    let body = body_object(req)?;
    validate(body)?;
    let sse = streaming && req.query("alt") == Some("sse");
    let shape = Generate {
        model: model.to_owned(),
        response_id: format!("mockResp{:08}", state.next_seq()),
        json_array: streaming && !sse,
    };
    Ok(generate(
        state,
        &GenRequest {
            shape: &shape,
            stream: sse,
            prompt_tokens: prompt_tokens(body),
            tool_id_prefix: "",
        },
    ))
}

fn count_tokens(state: &State, req: &RecordedRequest) -> Result<Reply, Reply> {
    let mut body = body_object(req)?;
    if let Some(inner) = field(body, "generateContentRequest", "generate_content_request") {
        body = inner
            .as_object()
            .ok_or_else(|| invalid("Invalid JSON payload received. Unexpected token."))?;
    }
    validate(body)?;
    let tokens = prompt_tokens(body);
    let normal = Reply::json(
        200,
        &json!({"totalTokens": tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": tokens}]}),
    );
    Ok(auxiliary(state, &Errors, normal))
}

fn prompt_tokens(body: &Map<String, Value>) -> u64 {
    let mut text = String::new();
    if let Some(system) = field(body, "systemInstruction", "system_instruction") {
        collect_text(system, &["text"], &mut text);
    }
    if let Some(contents) = body.get("contents") {
        collect_text(contents, &["text"], &mut text);
    }
    approx_tokens(&text)
}

fn models() -> Reply {
    let models: Vec<Value> = MODELS
        .iter()
        .map(|(id, name)| json!({
            "name": format!("models/{id}"),
            "version": "001",
            "displayName": name,
            "inputTokenLimit": 1_048_576,
            "outputTokenLimit": 65_536,
            "supportedGenerationMethods": ["generateContent", "countTokens", "streamGenerateContent"],
            "thinking": true
        }))
        .collect();
    Reply::json(200, &json!({"models": models}))
}

fn validate(body: &Map<String, Value>) -> Result<(), Reply> {
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| invalid("* GenerateContentRequest.contents: contents is not specified\n"))?;
    validate_schemas(body)?;
    for content in contents {
        match content.get("role").and_then(Value::as_str) {
            None | Some("user") | Some("model") => {}
            Some(_) => return Err(invalid("Please use a valid role: user, model.")),
        }
    }
    validate_function_turns(contents)
}

fn count_parts(content: &Value, kind: &str, snake: &str) -> usize {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get(kind).or_else(|| p.get(snake)).is_some())
                .count()
        })
        .unwrap_or(0)
}

/// A functionCall turn follows a user turn; a functionResponse turn follows a functionCall
/// turn and answers each of its calls.
fn validate_function_turns(contents: &[Value]) -> Result<(), Reply> {
    for (i, content) in contents.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &contents[p]);
        let prev_calls = previous
            .map(|p| count_parts(p, "functionCall", "function_call"))
            .unwrap_or(0);
        let responses = count_parts(content, "functionResponse", "function_response");
        if responses > 0 {
            if prev_calls == 0 {
                return Err(invalid(
                    "Please ensure that function response turn comes immediately after a function call turn.",
                ));
            }
            if responses != prev_calls {
                return Err(invalid("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."));
            }
        }
        let calls = count_parts(content, "functionCall", "function_call");
        let after_user = previous
            .is_some_and(|p| p.get("role").and_then(Value::as_str).unwrap_or("user") == "user");
        if calls > 0 && !after_user {
            return Err(invalid("Please ensure that function call turn comes immediately after a user turn or after a function response turn."));
        }
    }
    Ok(())
}

/// Rejects JSON Schema keywords outside Gemini's `Schema` in `parameters` / `responseSchema`,
/// one violation per keyword, as the API does.
fn validate_schemas(body: &Map<String, Value>) -> Result<(), Reply> {
    let mut violations = Vec::new();
    let tools = body.get("tools").and_then(Value::as_array);
    for (t, tool) in tools.into_iter().flatten().enumerate() {
        let declarations = tool
            .get("functionDeclarations")
            .or_else(|| tool.get("function_declarations"))
            .and_then(Value::as_array);
        for (d, declaration) in declarations.into_iter().flatten().enumerate() {
            if let Some(schema) = declaration.get("parameters") {
                let path = format!("tools[{t}].function_declarations[{d}].parameters");
                check_schema(schema, &path, &mut violations);
            }
        }
    }
    let config = field(body, "generationConfig", "generation_config");
    if let Some(schema) =
        config.and_then(|c| c.get("responseSchema").or_else(|| c.get("response_schema")))
    {
        check_schema(schema, "generation_config.response_schema", &mut violations);
    }
    if violations.is_empty() {
        return Ok(());
    }
    let descriptions: Vec<String> = violations
        .iter()
        .map(|(key, path)| {
            format!("Invalid JSON payload received. Unknown name \"{key}\" at '{path}': Cannot find field.")
        })
        .collect();
    let field_violations: Vec<Value> = violations
        .iter()
        .zip(&descriptions)
        .map(|((_, path), description)| json!({"field": path, "description": description}))
        .collect();
    let mut body = error_json(400, "INVALID_ARGUMENT", &descriptions.join("\n"));
    body["error"]["details"] = json!([{
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": field_violations
    }]);
    Err(Reply::json(400, &body))
}

fn check_schema(schema: &Value, path: &str, violations: &mut Vec<(String, String)>) {
    let Some(map) = schema.as_object() else {
        return;
    };
    for (key, value) in map {
        match key.as_str() {
            "properties" => {
                for (k, (_, sub)) in value.as_object().into_iter().flatten().enumerate() {
                    check_schema(sub, &format!("{path}.properties[{k}].value"), violations);
                }
            }
            "items" => check_schema(value, &format!("{path}.items"), violations),
            "anyOf" | "any_of" => {
                for (k, sub) in value.as_array().into_iter().flatten().enumerate() {
                    check_schema(sub, &format!("{path}.any_of[{k}]"), violations);
                }
            }
            known if SCHEMA_KEYS.contains(&known) => {}
            unknown => violations.push((unknown.to_owned(), path.to_owned())),
        }
    }
}

struct Errors;

/// A GenerateContentResponse, whole or as stream chunks.
struct Generate {
    model: String,
    response_id: String,
    /// `streamGenerateContent` without `alt=sse`: the chunks as one JSON array.
    json_array: bool,
}

macro_rules! gemini_errors {
    ($($shape:ty),*) => {$(
        impl ErrorShape for $shape {
            fn error(&self, status: u16) -> Value {
                status_error(status)
            }

            fn overloaded_status(&self) -> u16 {
                503
            }
        }
    )*};
}

gemini_errors!(Errors, Generate);

fn usage_json(out: &Output, last: bool) -> Value {
    let u = &out.usage;
    let input = u.input_total();
    let details = json!([{"modality": "TEXT", "tokenCount": input}]);
    if !last {
        return json!({"promptTokenCount": input, "totalTokenCount": input, "promptTokensDetails": details});
    }
    let mut usage = json!({
        "promptTokenCount": input,
        "candidatesTokenCount": u.completion,
        "totalTokenCount": input + u.completion + u.reasoning,
        "promptTokensDetails": details
    });
    if u.reasoning > 0 {
        usage["thoughtsTokenCount"] = json!(u.reasoning);
    }
    if u.cache_read > 0 {
        usage["cachedContentTokenCount"] = json!(u.cache_read);
    }
    usage
}

impl Generate {
    /// Thought parts, then answer parts; the first answer part carries the signature.
    fn parts(&self, out: &Output, whole: bool) -> Vec<Value> {
        let mut parts = Vec::new();
        let signature = out.thinking.as_ref().map(|t| t.signature.clone());
        if let Some(thinking) = &out.thinking {
            if whole {
                parts.push(json!({"text": out.thinking_text(), "thought": true}));
            } else {
                parts.extend(
                    thinking
                        .pieces
                        .iter()
                        .map(|p| json!({"text": p, "thought": true})),
                );
            }
        }
        let mut answer: Vec<Value> = match &out.tool {
            Some(tool) => {
                let args: Value = serde_json::from_str(&tool.arguments).unwrap_or(json!({}));
                vec![json!({"functionCall": {"name": tool.name, "args": args}})]
            }
            None if whole => vec![json!({"text": out.text()})],
            None => out.text.iter().map(|p| json!({"text": p})).collect(),
        };
        if let (Some(sig), Some(first)) = (signature, answer.first_mut()) {
            first["thoughtSignature"] = json!(sig);
        }
        parts.extend(answer);
        parts
    }

    fn response(&self, parts: Vec<Value>, out: &Output, last: bool) -> Value {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if last {
            candidate["finishReason"] = json!("STOP");
        }
        json!({
            "candidates": [candidate],
            "usageMetadata": usage_json(out, last),
            "modelVersion": self.model,
            "responseId": self.response_id
        })
    }

    fn chunks(&self, out: &Output) -> Vec<Value> {
        let parts = self.parts(out, false);
        let count = parts.len();
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| self.response(vec![part], out, i + 1 == count))
            .collect()
    }
}

impl Shape for Generate {
    fn body(&self, out: &Output) -> Value {
        self.response(self.parts(out, true), out, true)
    }

    fn stream(&self, out: &Output) -> Vec<Frame> {
        self.chunks(out)
            .into_iter()
            .map(|chunk| Frame::chunk(self.frame("", &chunk.to_string())))
            .collect()
    }

    fn frame(&self, _event: &str, data: &str) -> String {
        format!("data: {data}\r\n\r\n")
    }

    fn stream_error(&self) -> String {
        self.frame("", &status_error(503).to_string())
    }

    fn json_body(&self, out: &Output) -> Bytes {
        if !self.json_array {
            return Bytes::from(self.body(out).to_string());
        }
        let chunks: Vec<String> = self.chunks(out).iter().map(Value::to_string).collect();
        Bytes::from(format!("[{}]", chunks.join(",\r\n")))
    }
}
