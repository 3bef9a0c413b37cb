//! Sanitising JSON Schemas for Gemini function declarations (the OpenAPI subset it accepts).

use super::*;

/// Nesting beyond this (or a `$ref` cycle) is cut off as a plain OBJECT.
pub(super) const MAX_SCHEMA_DEPTH: usize = 24;

/// Rewrites a JSON Schema into the OpenAPI 3.0 subset Gemini accepts in `parameters` and
/// `responseSchema`: only `type` (upper-case enum), `format`, `description`, `nullable`, `enum`,
/// `properties`, `required`, `propertyOrdering`, `items`, `anyOf`, `minItems`/`maxItems`,
/// `minLength`/`maxLength`, `pattern`, `minProperties`/`maxProperties`, `minimum`/`maximum`
/// survive, recursively. `$ref`s are inlined from the same document, `const` becomes a one-value
/// `enum`, `["T","null"]` and `anyOf` with a null branch become `nullable`, `oneOf` becomes
/// `anyOf` and `allOf` is merged.
pub fn sanitize_schema(schema: &Value) -> Value {
    let mut sanitizer = Sanitizer {
        root: schema,
        ref_stack: Vec::new(),
    };
    sanitizer.convert(schema, 0)
}

pub(super) struct Sanitizer<'a> {
    root: &'a Value,
    /// `$ref`s being expanded, to cut cycles.
    ref_stack: Vec<String>,
}

impl Sanitizer<'_> {
    fn convert(&mut self, schema: &Value, depth: usize) -> Value {
        let Value::Object(obj) = schema else {
            // Boolean schemas (`true`): anything goes.
            return Value::Object(Map::new());
        };
        if depth > MAX_SCHEMA_DEPTH {
            return json!({ "type": "OBJECT" });
        }
        if let Some(reference) = obj.get("$ref").and_then(Value::as_str) {
            return self.convert_ref(obj, reference, depth);
        }
        match obj.get("allOf").and_then(Value::as_array) {
            Some(all) => {
                let merged = self.merge_all_of(obj, all);
                self.convert_object(&merged, depth)
            }
            None => self.convert_object(obj, depth),
        }
    }

    fn convert_ref(&mut self, obj: &Map<String, Value>, reference: &str, depth: usize) -> Value {
        let root = self.root;
        let mut out = match resolve_pointer(root, reference) {
            Some(target) if !self.ref_stack.iter().any(|r| r == reference) => {
                self.ref_stack.push(reference.to_string());
                let out = self.convert(target, depth + 1);
                self.ref_stack.pop();
                out
            }
            // A recursive or unresolvable reference: the most Gemini can take is an object.
            _ => json!({ "type": "OBJECT" }),
        };
        if let Value::Object(map) = &mut out {
            copy_string(obj, map, "description");
            if obj.get("nullable") == Some(&Value::Bool(true)) {
                map.insert("nullable".into(), Value::Bool(true));
            }
        }
        out
    }

    /// Folds `allOf` members (resolving their refs) into one schema: properties and required
    /// lists are unioned, other keywords keep their first value.
    fn merge_all_of(&self, obj: &Map<String, Value>, all: &[Value]) -> Map<String, Value> {
        let mut merged: Map<String, Value> = obj
            .iter()
            .filter(|(k, _)| k.as_str() != "allOf")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for member in all {
            let member = match member.get("$ref").and_then(Value::as_str) {
                Some(r) => resolve_pointer(self.root, r).unwrap_or(member),
                None => member,
            };
            let Value::Object(member) = member else {
                continue;
            };
            for (key, value) in member {
                match (key.as_str(), merged.get_mut(key), value) {
                    ("properties", Some(Value::Object(props)), Value::Object(more)) => {
                        for (k, v) in more {
                            props.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    ("required", Some(Value::Array(req)), Value::Array(more)) => {
                        for v in more {
                            if !req.contains(v) {
                                req.push(v.clone());
                            }
                        }
                    }
                    (_, Some(_), _) => {}
                    (_, None, _) => {
                        merged.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        merged
    }

    fn convert_object(&mut self, obj: &Map<String, Value>, depth: usize) -> Value {
        let mut nullable = obj.get("nullable") == Some(&Value::Bool(true));
        let mut types: Vec<&str> = match obj.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if types.contains(&"null") {
            nullable = true;
            types.retain(|t| *t != "null");
        }

        let mut variants: Vec<Value> = Vec::new();
        for key in ["anyOf", "oneOf"] {
            for v in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
                if is_null_schema(v) {
                    nullable = true;
                } else {
                    variants.push(self.convert(v, depth + 1));
                }
            }
        }

        let mut out = Map::new();
        if types.len() > 1 {
            // ["string","integer"]: one branch per type, each keeping the keywords of its type.
            for t in &types {
                let mut single = obj.clone();
                single.insert("type".into(), Value::String((*t).to_string()));
                for k in ["anyOf", "oneOf", "nullable", "description"] {
                    single.remove(k);
                }
                variants.push(self.convert_object(&single, depth + 1));
            }
            copy_string(obj, &mut out, "description");
        } else {
            if let Some(t) = types.first().and_then(|t| gemini_type(t)) {
                out.insert("type".into(), Value::String(t.into()));
            }
            self.copy_keywords(obj, &mut out, &mut nullable, depth);
        }

        match variants.len() {
            0 => {}
            1 if !out.contains_key("type") => {
                // anyOf: [X, null] is a nullable X.
                if let Some(Value::Object(only)) = variants.pop() {
                    for (k, v) in only {
                        if k == "description" && out.contains_key("description") {
                            continue;
                        }
                        out.insert(k, v);
                    }
                }
            }
            _ => {
                out.insert("anyOf".into(), Value::Array(variants));
            }
        }

        if !out.contains_key("type") && !out.contains_key("anyOf") {
            if let Some(t) = inferred_type(&out) {
                out.insert("type".into(), Value::String(t.into()));
            }
        }
        if out.get("enum").is_some()
            && out.get("type").and_then(Value::as_str) != Some("STRING")
            && !out.contains_key("format")
        {
            // Gemini's enum values are strings; on other types it wants `format: enum`.
            out.insert("format".into(), Value::String("enum".into()));
        }
        if nullable {
            out.insert("nullable".into(), Value::Bool(true));
        }
        Value::Object(out)
    }

    /// Copies the supported keywords of one (single-typed) schema, converting sub-schemas.
    fn copy_keywords(
        &mut self,
        obj: &Map<String, Value>,
        out: &mut Map<String, Value>,
        nullable: &mut bool,
        depth: usize,
    ) {
        copy_string(obj, out, "description");
        copy_format(obj, out);
        copy_enum(obj, out, nullable);

        if let Some(Value::Object(props)) = obj.get("properties") {
            let mut converted = Map::new();
            for (name, sub) in props {
                converted.insert(name.clone(), self.convert(sub, depth + 1));
            }
            if !converted.is_empty() {
                let names: Vec<&String> = converted.keys().collect();
                if let Some(Value::Array(required)) = obj.get("required") {
                    let kept: Vec<Value> = required
                        .iter()
                        .filter(|r| r.as_str().is_some_and(|r| converted.contains_key(r)))
                        .cloned()
                        .collect();
                    if !kept.is_empty() {
                        out.insert("required".into(), Value::Array(kept));
                    }
                }
                if let Some(Value::Array(order)) = obj.get("propertyOrdering") {
                    let all_known = order
                        .iter()
                        .all(|o| o.as_str().is_some_and(|o| names.iter().any(|n| *n == o)));
                    if all_known {
                        out.insert("propertyOrdering".into(), Value::Array(order.clone()));
                    }
                }
                out.insert("properties".into(), Value::Object(converted));
            }
        }

        let items = match obj.get("items").or_else(|| obj.get("prefixItems")) {
            // Tuple validation has no Gemini form: any of the positional schemas.
            Some(Value::Array(tuple)) => {
                let mut branches: Vec<Value> =
                    tuple.iter().map(|s| self.convert(s, depth + 1)).collect();
                match branches.len() {
                    0 => None,
                    1 => branches.pop(),
                    _ => Some(json!({ "anyOf": branches })),
                }
            }
            Some(single) => Some(self.convert(single, depth + 1)),
            None => None,
        };
        if let Some(items) = items {
            out.insert("items".into(), items);
        }

        for key in [
            "minItems",
            "maxItems",
            "minLength",
            "maxLength",
            "minProperties",
            "maxProperties",
        ] {
            if let Some(n) = obj.get(key).filter(|v| v.is_u64()) {
                out.insert(key.into(), n.clone());
            }
        }
        copy_string(obj, out, "pattern");
        copy_bound(obj, out, "minimum", "exclusiveMinimum");
        copy_bound(obj, out, "maximum", "exclusiveMaximum");
    }
}

/// Resolves a local JSON pointer reference (`#/$defs/Name`, `#/definitions/Name`, `#`).
pub(super) fn resolve_pointer<'v>(root: &'v Value, reference: &str) -> Option<&'v Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

pub(super) fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("const") == Some(&Value::Null)
}

pub(super) fn gemini_type(json_type: &str) -> Option<&'static str> {
    Some(match json_type {
        "string" => "STRING",
        "number" => "NUMBER",
        "integer" => "INTEGER",
        "boolean" => "BOOLEAN",
        "array" => "ARRAY",
        "object" => "OBJECT",
        _ => return None,
    })
}

pub(super) fn inferred_type(out: &Map<String, Value>) -> Option<&'static str> {
    if out.contains_key("properties") {
        Some("OBJECT")
    } else if out.contains_key("items") {
        Some("ARRAY")
    } else if out.contains_key("enum") {
        Some("STRING")
    } else {
        None
    }
}

pub(super) fn copy_string(from: &Map<String, Value>, to: &mut Map<String, Value>, key: &str) {
    if let Some(v) = from.get(key).filter(|v| v.is_string()) {
        to.insert(key.into(), v.clone());
    }
}

/// Gemini honours only a few formats; others (`uri`, `email`…) are rejected by the Developer API.
pub(super) fn copy_format(from: &Map<String, Value>, to: &mut Map<String, Value>) {
    let Some(format) = from.get("format").and_then(Value::as_str) else {
        return;
    };
    if matches!(
        format,
        "enum" | "date-time" | "float" | "double" | "int32" | "int64"
    ) {
        to.insert("format".into(), Value::String(format.into()));
    }
}

/// `enum` (and `const`, as a one-value enum) with string values; a null value means nullable.
pub(super) fn copy_enum(
    from: &Map<String, Value>,
    to: &mut Map<String, Value>,
    nullable: &mut bool,
) {
    let values: Vec<&Value> = match (from.get("enum"), from.get("const")) {
        (Some(Value::Array(values)), _) => values.iter().collect(),
        (_, Some(value)) => vec![value],
        _ => return,
    };
    let mut strings = Vec::new();
    for v in values {
        match v {
            Value::Null => *nullable = true,
            Value::String(s) => strings.push(Value::String(s.clone())),
            other => strings.push(Value::String(other.to_string())),
        }
    }
    if !strings.is_empty() {
        to.insert("enum".into(), Value::Array(strings));
    }
}

/// `minimum`/`maximum`, falling back to a numeric `exclusiveMinimum`/`exclusiveMaximum`
/// (draft 6+), which Gemini lacks: the closest inclusive bound it can express.
pub(super) fn copy_bound(
    from: &Map<String, Value>,
    to: &mut Map<String, Value>,
    key: &str,
    exclusive: &str,
) {
    let value = from
        .get(key)
        .filter(|v| v.is_number())
        .or_else(|| from.get(exclusive).filter(|v| v.is_number()));
    if let Some(v) = value {
        to.insert(key.into(), v.clone());
    }
}
