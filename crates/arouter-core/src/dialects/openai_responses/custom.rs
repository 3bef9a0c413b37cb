//! Codex's freeform tools (`{"type":"custom"}`, e.g. `apply_patch`) for upstreams that only
//! know JSON-schema function tools: each becomes a function tool with one string argument,
//! and a call of it comes back as a `custom_tool_call` with that string as its input.

use crate::model::Tool;
use serde_json::{json, Value};

/// The one argument a bridged custom tool takes.
pub const INPUT_ARG: &str = "input";

/// What the caller's tool list says about tool names the hub flattens: which are custom
/// (freeform) tools, and which function tools came from a `namespace` group. Few entries, so a
/// linear scan beats hashing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomTools {
    custom: Vec<String>,
    /// (tool name, namespace name)
    namespaced: Vec<(String, String)>,
}

impl CustomTools {
    pub fn add(&mut self, name: &str) {
        self.custom.push(name.to_string());
    }
    pub fn add_namespaced(&mut self, name: &str, namespace: &str) {
        self.namespaced
            .push((name.to_string(), namespace.to_string()));
    }
    pub fn contains(&self, name: &str) -> bool {
        self.custom.iter().any(|n| n == name)
    }
    pub fn namespace_of(&self, name: &str) -> Option<&str> {
        self.namespaced
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, ns)| ns.as_str())
    }
    pub fn is_empty(&self) -> bool {
        self.custom.is_empty() && self.namespaced.is_empty()
    }
}

/// The function tool standing in for a custom tool. Its grammar (if any) is described to the
/// model in words: JSON-schema upstreams cannot constrain output by a grammar.
pub fn as_function(name: &str, description: Option<&str>, format: Option<&Value>) -> Tool {
    let mut text = description.unwrap_or_default().to_string();
    if let Some(definition) = format
        .filter(|f| f.get("type").and_then(Value::as_str) == Some("grammar"))
        .and_then(|f| f.get("definition"))
        .and_then(Value::as_str)
    {
        let syntax = format
            .and_then(|f| f.get("syntax"))
            .and_then(Value::as_str)
            .unwrap_or("lark");
        text.push_str(&format!(
            "\n\nThe `{INPUT_ARG}` string must follow this {syntax} grammar:\n{definition}"
        ));
    }
    Tool {
        name: name.to_string(),
        description: (!text.is_empty()).then_some(text),
        parameters: json!({
            "type": "object",
            "properties": {INPUT_ARG: {"type": "string", "description": "The raw tool input."}},
            "required": [INPUT_ARG],
            "additionalProperties": false,
        }),
        strict: None,
        cache_control: None,
    }
}

/// The function arguments carrying a custom call's input.
pub fn arguments_for(input: &str) -> String {
    json!({ INPUT_ARG: input }).to_string()
}

/// The custom input inside a bridged call's arguments; arguments that are not the expected
/// object pass through as they are (the tool itself then reports the problem).
pub fn input_from(arguments: &str) -> String {
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(mut o)) => match o.remove(INPUT_ARG) {
            Some(Value::String(s)) => s,
            _ => arguments.to_string(),
        },
        _ => arguments.to_string(),
    }
}
