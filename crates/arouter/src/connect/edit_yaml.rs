//! YAML editing on the text itself, for the two shapes tools need: a top-level `key: scalar`
//! (aider) and one flat item of a top-level list (Continue's `models`). Every other byte stays
//! as the user wrote it. The file is parsed with `yaml-rust2` before the edit (to refuse a
//! broken file) and after it (to prove the edit meant what it should); anything this small
//! editor cannot change safely is refused rather than guessed at. No maintained Rust YAML
//! crate round-trips comments, which is why the edits are done on spans of text.

use super::doc::{descend, Doc};
use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};
use yaml_rust2::{Yaml, YamlLoader};

pub struct YamlDoc {
    lines: Vec<String>,
    nl: &'static str,
    trailing_newline: bool,
}

fn to_json(y: &Yaml) -> Value {
    match y {
        Yaml::Real(s) => s
            .parse::<f64>()
            .map_or(Value::String(s.clone()), Value::from),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) | Yaml::Real(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        _ => String::new(),
                    };
                    (key, to_json(v))
                })
                .collect::<Map<_, _>>(),
        ),
        Yaml::Null | Yaml::BadValue | Yaml::Alias(_) => Value::Null,
    }
}

fn load(text: &str) -> Result<Value> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| anyhow!("not valid YAML: {e}"))?;
    match docs.as_slice() {
        [] => Ok(Value::Object(Map::new())),
        [Yaml::Null] => Ok(Value::Object(Map::new())),
        [one @ Yaml::Hash(_)] => Ok(to_json(one)),
        [_] => bail!("not a YAML mapping at the top level"),
        _ => bail!("holds several YAML documents; this editor handles one"),
    }
}

/// `[field=value]` → (field, value).
fn selector(seg: &str) -> Option<(&str, &str)> {
    seg.strip_prefix('[')?.strip_suffix(']')?.split_once('=')
}

/// A scalar as YAML text: plain when that reads back as the same string, else double-quoted
/// (JSON escapes are valid YAML).
fn scalar(v: &Value) -> Result<String> {
    let s = match v {
        Value::String(s) => s,
        Value::Bool(_) | Value::Number(_) => return Ok(v.to_string()),
        _ => bail!("only scalars are written to YAML here"),
    };
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+ ".contains(c))
        && !s.ends_with(' ')
        && !s.contains(" #")
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && !s.contains(": ")
        && matches!(load(&format!("k: {s}")).ok().and_then(|d| d.get("k").cloned()),
            Some(Value::String(ref r)) if r == s);
    Ok(if plain {
        s.clone()
    } else {
        Value::String(s.clone()).to_string()
    })
}

/// Where the comment of a `key: value  # note` line starts (byte index into `rest`).
fn comment_start(rest: &str) -> usize {
    let t = rest.trim_start();
    let lead = rest.len() - t.len();
    let body_end = match t.chars().next() {
        Some(q @ ('"' | '\'')) => t[1..].find(q).map_or(t.len(), |i| i + 2),
        _ => 0,
    };
    t[body_end..]
        .find(" #")
        .map_or(rest.len(), |i| lead + body_end + i)
        .min(if t.starts_with('#') { lead } else { usize::MAX })
}

fn is_top_key(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .and_then(|r| r.strip_prefix(':'))
        .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
}

/// A line that continues the block of the top-level key above it.
fn continues(line: &str) -> bool {
    line.trim().is_empty() || line.starts_with([' ', '\t', '#', '-'])
}

impl YamlDoc {
    pub fn parse(text: Option<&str>) -> Result<YamlDoc> {
        let text = text.unwrap_or("");
        load(text)?;
        Ok(YamlDoc {
            lines: text.lines().map(str::to_string).collect(),
            nl: if text.contains("\r\n") { "\r\n" } else { "\n" },
            trailing_newline: text.is_empty() || text.ends_with('\n'),
        })
    }

    fn tree(&self) -> Result<Value> {
        load(&self.render())
    }

    fn key_line(&self, key: &str) -> Option<usize> {
        self.lines.iter().position(|l| is_top_key(l, key))
    }

    /// Lines `start+1..end` that belong to the key at `start` (trailing blanks and column-0
    /// comments excluded: they belong to what follows).
    fn block_end(&self, start: usize) -> usize {
        let mut end = start + 1;
        while end < self.lines.len() && continues(&self.lines[end]) {
            end += 1;
        }
        while end > start + 1 {
            let l = &self.lines[end - 1];
            if l.trim().is_empty() || l.starts_with('#') {
                end -= 1;
            } else {
                break;
            }
        }
        end
    }

    /// The (start, end) line ranges of the items of the list under the key at `start`.
    fn items(&self, start: usize) -> Vec<(usize, usize)> {
        let end = self.block_end(start);
        let is_item = |l: &str| {
            let t = l.trim_start();
            t.starts_with("- ") || t == "-"
        };
        let Some(indent) = (start + 1..end)
            .find(|&i| is_item(&self.lines[i]))
            .map(|i| self.lines[i].len() - self.lines[i].trim_start().len())
        else {
            return Vec::new();
        };
        let starts: Vec<usize> = (start + 1..end)
            .filter(|&i| {
                let l = &self.lines[i];
                is_item(l) && l.len() - l.trim_start().len() == indent
            })
            .collect();
        starts
            .iter()
            .enumerate()
            .map(|(n, &s)| (s, starts.get(n + 1).copied().unwrap_or(end)))
            .collect()
    }

    fn item_indent(&self, start: usize) -> String {
        self.items(start)
            .first()
            .map(|&(s, _)| {
                let l = &self.lines[s];
                l[..l.len() - l.trim_start().len()].to_string()
            })
            .unwrap_or_else(|| "  ".to_string())
    }

    fn set_scalar(&mut self, key: &str, value: &Value) -> Result<bool> {
        let text = scalar(value)?;
        match self.key_line(key) {
            Some(i) => {
                if self.block_end(i) != i + 1 {
                    bail!("{key}: its value spans several lines; edit it by hand");
                }
                let rest = &self.lines[i][key.len() + 1..];
                // Whatever follows the old value (spacing, a comment) stays.
                let tail = rest[rest[..comment_start(rest)].trim_end().len()..].to_string();
                self.lines[i] = format!("{key}: {text}{tail}");
                Ok(false)
            }
            None => {
                self.lines.push(format!("{key}: {text}"));
                self.trailing_newline = true;
                Ok(true)
            }
        }
    }

    fn set_item(&mut self, list: &str, sel: (&str, &str), value: &Value) -> Result<bool> {
        let fields = value
            .as_object()
            .ok_or_else(|| anyhow!("a list item must be a mapping"))?;
        let tree = self.tree()?;
        let (start, created) = match self.key_line(list) {
            Some(i) => {
                let rest = &self.lines[i][list.len() + 1..];
                let inline = rest[..comment_start(rest)].trim();
                match inline {
                    "" => {}
                    "[]" => self.lines[i] = format!("{list}:{}", &rest[comment_start(rest)..]),
                    _ => bail!("{list}: written inline; edit it by hand or use a block list"),
                }
                (i, false)
            }
            None => {
                self.lines.push(format!("{list}:"));
                self.trailing_newline = true;
                (self.lines.len() - 1, true)
            }
        };
        let indent = self.item_indent(start);
        let mut rendered = Vec::new();
        for (n, (k, v)) in fields.iter().enumerate() {
            let lead = if n == 0 { "- " } else { "  " };
            rendered.push(format!("{indent}{lead}{k}: {}", scalar(v)?));
        }
        let index = tree.get(list).and_then(Value::as_array).and_then(|a| {
            a.iter()
                .position(|it| it.get(sel.0).and_then(Value::as_str) == Some(sel.1))
        });
        match index.and_then(|n| self.items(start).get(n).copied()) {
            Some((s, e)) => {
                // Keep blank lines and comments that trail the item.
                let mut e2 = e;
                while e2 > s + 1 && {
                    let t = self.lines[e2 - 1].trim();
                    t.is_empty() || t.starts_with('#')
                } {
                    e2 -= 1;
                }
                self.lines.splice(s..e2, rendered);
            }
            None => {
                let at = self.block_end(start);
                self.lines.splice(at..at, rendered);
            }
        }
        Ok(created)
    }

    fn remove_lines(&mut self, start: usize, end: usize) {
        self.lines.drain(start..end);
    }
}

impl Doc for YamlDoc {
    fn get(&self, path: &[String]) -> Option<Value> {
        let tree = self.tree().ok()?;
        match path {
            [list, sel, rest @ ..] if selector(sel).is_some() => {
                let (f, v) = selector(sel)?;
                let item = tree
                    .get(list)?
                    .as_array()?
                    .iter()
                    .find(|it| it.get(f).and_then(Value::as_str) == Some(v))?;
                descend(item, rest).cloned()
            }
            _ => descend(&tree, path).cloned(),
        }
    }

    fn set(&mut self, path: &[String], value: &Value) -> Result<Vec<Vec<String>>> {
        let before = self.lines.clone();
        let created = match path {
            [key] => {
                self.set_scalar(key, value)?;
                Vec::new()
            }
            [list, sel] if selector(sel).is_some() => {
                let sel = selector(sel).unwrap_or_default();
                if self.set_item(list, sel, value)? {
                    vec![vec![list.clone()]]
                } else {
                    Vec::new()
                }
            }
            _ => bail!("cannot write {} in YAML", path.join(".")),
        };
        if self.get(path).as_ref() != Some(value) {
            self.lines = before;
            bail!(
                "cannot set {} safely in this file; edit it by hand",
                path.join(".")
            );
        }
        Ok(created)
    }

    fn remove(&mut self, path: &[String]) -> Result<()> {
        match path {
            [key] => {
                if let Some(i) = self.key_line(key) {
                    let end = self.block_end(i);
                    self.remove_lines(i, end);
                }
            }
            [list, sel] if selector(sel).is_some() => {
                let (f, v) = selector(sel).unwrap_or_default();
                let tree = self.tree()?;
                let index = tree.get(list).and_then(Value::as_array).and_then(|a| {
                    a.iter()
                        .position(|it| it.get(f).and_then(Value::as_str) == Some(v))
                });
                if let (Some(n), Some(start)) = (index, self.key_line(list)) {
                    if let Some((s, e)) = self.items(start).get(n).copied() {
                        self.remove_lines(s, e);
                    }
                }
            }
            _ => bail!("cannot remove {} in YAML", path.join(".")),
        }
        if self.get(path).is_some() {
            bail!("cannot remove {} safely; edit it by hand", path.join("."));
        }
        Ok(())
    }

    fn render(&self) -> String {
        let mut out = self.lines.join(self.nl);
        if self.trailing_newline && !self.lines.is_empty() {
            out.push_str(self.nl);
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.tree().is_ok_and(|t| super::doc::is_hollow(&t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn s(v: &str) -> Vec<String> {
        v.split('.').map(str::to_string).collect()
    }

    #[test]
    fn scalar_keeps_its_comment_and_neighbours() {
        let text = "# aider\nmodel: gpt-4o  # mine\ndark-mode: true\n";
        let mut d = YamlDoc::parse(Some(text)).unwrap();
        d.set(&s("model"), &json!("openai/x")).unwrap();
        d.set(&s("openai-api-base"), &json!("http://127.0.0.1:8402/v1"))
            .unwrap();
        assert_eq!(
            d.render(),
            "# aider\nmodel: openai/x  # mine\ndark-mode: true\nopenai-api-base: http://127.0.0.1:8402/v1\n"
        );
    }

    #[test]
    fn list_item_is_appended_replaced_and_removed() {
        let text = "name: mine\nmodels:\n  - name: Local\n    provider: ollama\n    model: llama3\n\n# tools\ncontext:\n  - provider: code\n";
        let mut d = YamlDoc::parse(Some(text)).unwrap();
        let path = vec!["models".to_string(), "[name=ARouter]".to_string()];
        let item = json!({"name": "ARouter", "provider": "openai", "model": "a/b"});
        assert!(d.set(&path, &item).unwrap().is_empty());
        assert_eq!(d.get(&path), Some(item));
        let item2 = json!({"name": "ARouter", "provider": "openai", "model": "c/d"});
        d.set(&path, &item2).unwrap();
        assert_eq!(d.get(&path), Some(item2));
        d.remove(&path).unwrap();
        assert_eq!(d.render(), text);
    }

    #[test]
    fn refuses_broken_yaml_and_inline_lists() {
        assert!(YamlDoc::parse(Some("a: [1, 2\n")).is_err());
        let mut d = YamlDoc::parse(Some("models: [{name: x}]\n")).unwrap();
        let path = vec!["models".to_string(), "[name=ARouter]".to_string()];
        assert!(d.set(&path, &json!({"name": "ARouter"})).is_err());
    }
}
