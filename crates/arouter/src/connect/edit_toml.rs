//! TOML editing with `toml_edit`: comments, order and formatting of everything else stay.

use super::doc::Doc;
use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};
use toml_edit::{DocumentMut, Item, Table};

pub struct TomlDoc {
    doc: DocumentMut,
}

fn to_json(item: &Item) -> Option<Value> {
    match item {
        Item::None => None,
        Item::Value(v) => Some(value_to_json(v)),
        Item::Table(t) => Some(Value::Object(
            t.iter()
                .filter_map(|(k, v)| Some((k.to_string(), to_json(v)?)))
                .collect::<Map<_, _>>(),
        )),
        Item::ArrayOfTables(a) => Some(Value::Array(
            a.iter()
                .filter_map(|t| to_json(&Item::Table(t.clone())))
                .collect(),
        )),
    }
}

fn value_to_json(v: &toml_edit::Value) -> Value {
    use toml_edit::Value as V;
    match v {
        V::String(s) => Value::String(s.value().clone()),
        V::Integer(i) => Value::from(*i.value()),
        V::Float(f) => Value::from(*f.value()),
        V::Boolean(b) => Value::Bool(*b.value()),
        V::Datetime(d) => Value::String(d.value().to_string()),
        V::Array(a) => Value::Array(a.iter().map(value_to_json).collect()),
        V::InlineTable(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.to_string(), value_to_json(v)))
                .collect(),
        ),
    }
}

fn to_toml(v: &Value) -> Result<toml_edit::Value> {
    Ok(match v {
        Value::String(s) => s.as_str().into(),
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        Value::Array(a) => toml_edit::Value::Array(a.iter().map(to_toml).collect::<Result<_>>()?),
        Value::Object(m) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, v) in m {
                t.insert(k, to_toml(v)?);
            }
            toml_edit::Value::InlineTable(t)
        }
        Value::Null => bail!("TOML has no null"),
    })
}

impl TomlDoc {
    pub fn parse(text: Option<&str>) -> Result<TomlDoc> {
        let doc = text
            .unwrap_or("")
            .parse::<DocumentMut>()
            .map_err(|e| anyhow!("not valid TOML: {e}"))?;
        Ok(TomlDoc { doc })
    }

    fn table_at(&mut self, path: &[String]) -> Option<&mut Table> {
        let mut t = self.doc.as_table_mut();
        for seg in path {
            t = t.get_mut(seg)?.as_table_mut()?;
        }
        Some(t)
    }
}

impl Doc for TomlDoc {
    fn get(&self, path: &[String]) -> Option<Value> {
        let mut item = self.doc.as_item();
        for seg in path {
            item = item.get(seg)?;
        }
        to_json(item)
    }

    fn set(&mut self, path: &[String], value: &Value) -> Result<Vec<Vec<String>>> {
        let (last, parents) = path.split_last().ok_or_else(|| anyhow!("empty path"))?;
        let mut created = Vec::new();
        let mut t = self.doc.as_table_mut();
        for (i, seg) in parents.iter().enumerate() {
            if !t.contains_key(seg) {
                created.push(parents[..=i].to_vec());
                let mut new = Table::new();
                // `[a.b]` without an empty `[a]` header above it, as people write it.
                new.set_implicit(i + 1 < parents.len());
                t.insert(seg, Item::Table(new));
            }
            t = t
                .get_mut(seg)
                .and_then(Item::as_table_mut)
                .ok_or_else(|| anyhow!("\"{}\" is not a table", parents[..=i].join(".")))?;
        }
        let new = to_toml(value)?;
        match t.get_mut(last).and_then(Item::as_value_mut) {
            // Keep the key's own comment and spacing; replace only the value.
            Some(old) => {
                let decor = old.decor().clone();
                *old = new;
                *old.decor_mut() = decor;
            }
            None => {
                t.insert(last, Item::Value(new));
            }
        }
        Ok(created)
    }

    fn remove(&mut self, path: &[String]) -> Result<()> {
        let Some((last, parents)) = path.split_last() else {
            return Ok(());
        };
        if let Some(t) = self.table_at(parents) {
            t.remove(last);
        }
        Ok(())
    }

    fn render(&self) -> String {
        self.doc.to_string()
    }

    fn is_empty(&self) -> bool {
        to_json(self.doc.as_item()).is_none_or(|v| super::doc::is_hollow(&v))
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
    fn top_level_keys_go_above_tables_and_comments_stay() {
        let text = "# mine\n[profiles.fast]\nmodel = \"o3\" # keep\n";
        let mut d = TomlDoc::parse(Some(text)).unwrap();
        d.set(&p("model"), &json!("m")).unwrap();
        let created = d
            .set(&p("model_providers.arouter.base_url"), &json!("u"))
            .unwrap();
        assert_eq!(
            created,
            vec![p("model_providers"), p("model_providers.arouter")]
        );
        let out = d.render();
        assert!(
            out.find("model = \"m\"").unwrap() < out.find("[profiles.fast]").unwrap(),
            "{out}"
        );
        assert!(
            out.contains("# keep") && out.contains("[model_providers.arouter]"),
            "{out}"
        );
        assert!(!out.contains("[model_providers]\n"), "{out}");
    }
}
