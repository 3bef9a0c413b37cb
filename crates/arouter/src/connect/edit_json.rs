//! JSON / JSONC editing that keeps key order, indentation and comments, on `jsonc-parser`'s
//! concrete syntax tree (the editor Deno uses for its own config files).

use super::doc::{descend, is_hollow, Doc};
use anyhow::{anyhow, bail, Result};
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};
use jsonc_parser::ParseOptions;
use serde_json::Value;

pub struct JsonDoc {
    root: CstRootNode,
}

fn input(v: &Value) -> CstInputValue {
    match v {
        Value::Null => CstInputValue::Null,
        Value::Bool(b) => CstInputValue::Bool(*b),
        Value::Number(n) => CstInputValue::Number(n.to_string()),
        Value::String(s) => CstInputValue::String(s.clone()),
        Value::Array(a) => CstInputValue::Array(a.iter().map(input).collect()),
        Value::Object(m) => {
            CstInputValue::Object(m.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}

impl JsonDoc {
    pub fn parse(text: Option<&str>) -> Result<JsonDoc> {
        let text = match text {
            Some(t) if !t.trim().is_empty() => t,
            _ => "{}\n",
        };
        let root = CstRootNode::parse(text, &ParseOptions::default())
            .map_err(|e| anyhow!("not valid JSON: {e}"))?;
        match root.value() {
            Some(v) if v.as_object().is_some() => {}
            _ => bail!("not a JSON object at the top level"),
        }
        Ok(JsonDoc { root })
    }

    fn object_at(&self, path: &[String]) -> Option<CstObject> {
        let mut obj = self.root.object_value()?;
        for seg in path {
            obj = obj.object_value(seg)?;
        }
        Some(obj)
    }
}

impl Doc for JsonDoc {
    fn get(&self, path: &[String]) -> Option<Value> {
        let whole = self.root.to_serde_value()?;
        descend(&whole, path).cloned()
    }

    fn set(&mut self, path: &[String], value: &Value) -> Result<Vec<Vec<String>>> {
        let (last, parents) = path.split_last().ok_or_else(|| anyhow!("empty path"))?;
        let mut created = Vec::new();
        let mut obj = self
            .root
            .object_value()
            .ok_or_else(|| anyhow!("not a JSON object"))?;
        for (i, seg) in parents.iter().enumerate() {
            obj = match obj.get(seg) {
                Some(prop) => prop
                    .object_value()
                    .ok_or_else(|| anyhow!("\"{}\" is not an object", parents[..=i].join(".")))?,
                None => {
                    created.push(parents[..=i].to_vec());
                    obj.object_value_or_set(seg)
                }
            };
        }
        match obj.get(last) {
            Some(prop) => prop.set_value(input(value)),
            None => {
                obj.append(last, input(value));
            }
        }
        Ok(created)
    }

    fn remove(&mut self, path: &[String]) -> Result<()> {
        let Some((last, parents)) = path.split_last() else {
            return Ok(());
        };
        if let Some(prop) = self.object_at(parents).and_then(|o| o.get(last)) {
            prop.remove();
        }
        Ok(())
    }

    fn render(&self) -> String {
        self.root.to_string()
    }

    fn is_empty(&self) -> bool {
        self.root.to_serde_value().is_none_or(|v| is_hollow(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &str) -> Vec<String> {
        s.split('.').map(str::to_string).collect()
    }

    #[test]
    fn set_and_remove_keep_comments_and_order() {
        let text = "{\n  // mine\n  \"theme\": \"dark\",\n  \"env\": {\n    \"FOO\": \"1\" // why\n  }\n}\n";
        let mut d = JsonDoc::parse(Some(text)).unwrap();
        assert!(d.set(&p("env.BAR"), &json!("2")).unwrap().is_empty());
        let out = d.render();
        assert!(out.contains("// mine") && out.contains("// why"), "{out}");
        assert_eq!(d.get(&p("env.BAR")), Some(json!("2")));
        d.remove(&p("env.BAR")).unwrap();
        assert_eq!(d.get(&p("env")), Some(json!({"FOO": "1"})));
        assert!(d.render().contains("\"theme\": \"dark\""));
    }

    #[test]
    fn creates_parents_and_reports_them() {
        let mut d = JsonDoc::parse(None).unwrap();
        let created = d.set(&p("a.b.c"), &json!("x")).unwrap();
        assert_eq!(created, vec![p("a"), p("a.b")]);
        assert_eq!(d.get(&p("a.b.c")), Some(json!("x")));
        assert!(!d.is_empty());
        d.remove(&p("a.b.c")).unwrap();
        assert!(d.is_empty());
    }

    #[test]
    fn refuses_garbage_and_non_objects() {
        assert!(JsonDoc::parse(Some("{\"a\": ")).is_err());
        assert!(JsonDoc::parse(Some("[1, 2]")).is_err());
    }
}
