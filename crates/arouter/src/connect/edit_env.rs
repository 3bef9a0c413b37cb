//! dotenv editing line by line: a variable's line is replaced or appended; every other line,
//! comment and blank stays as it was.

use super::doc::Doc;
use anyhow::{bail, Result};
use serde_json::Value;

pub struct EnvDoc {
    lines: Vec<String>,
    /// Whether the text ended with a newline (kept as found).
    trailing_newline: bool,
}

/// `NAME` if `line` assigns it (`NAME=…` or `export NAME=…`).
fn var_name(line: &str) -> Option<&str> {
    let l = line.trim_start();
    let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
    let (name, _) = l.split_once('=')?;
    let name = name.trim_end();
    (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(name)
}

fn value_of(line: &str) -> String {
    let v = line.split_once('=').map_or("", |(_, v)| v).trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner.to_string();
        }
    }
    // An unquoted value ends at ` #` (an inline comment), as dotenv reads it.
    v.split(" #").next().unwrap_or("").trim_end().to_string()
}

impl EnvDoc {
    pub fn parse(text: Option<&str>) -> EnvDoc {
        let text = text.unwrap_or("");
        EnvDoc {
            lines: text.lines().map(str::to_string).collect(),
            trailing_newline: text.is_empty() || text.ends_with('\n'),
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        // dotenv keeps the last assignment of a name.
        self.lines.iter().rposition(|l| var_name(l) == Some(name))
    }
}

impl Doc for EnvDoc {
    fn get(&self, path: &[String]) -> Option<Value> {
        let [name] = path else { return None };
        self.find(name)
            .map(|i| Value::String(value_of(&self.lines[i])))
    }

    fn set(&mut self, path: &[String], value: &Value) -> Result<Vec<Vec<String>>> {
        let ([name], Some(v)) = (path, value.as_str()) else {
            bail!(".env holds only NAME=string lines");
        };
        if v.contains(['\n', '"', ' ', '#']) {
            bail!("{name}: value needs quoting, which this editor does not do");
        }
        let line = format!("{name}={v}");
        match self.find(name) {
            Some(i) => self.lines[i] = line,
            None => {
                self.lines.push(line);
                self.trailing_newline = true;
            }
        }
        Ok(Vec::new())
    }

    fn remove(&mut self, path: &[String]) -> Result<()> {
        if let [name] = path {
            if let Some(i) = self.find(name) {
                self.lines.remove(i);
            }
        }
        Ok(())
    }

    fn render(&self) -> String {
        let mut out = self.lines.join("\n");
        if self.trailing_newline && !self.lines.is_empty() {
            out.push('\n');
        }
        out
    }

    fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replaces_appends_and_removes_lines() {
        let text = "# proxy\nexport GEMINI_API_KEY=\"old\"\nOTHER=1";
        let mut d = EnvDoc::parse(Some(text));
        assert_eq!(d.get(&["GEMINI_API_KEY".into()]), Some(json!("old")));
        d.set(&["GEMINI_API_KEY".into()], &json!("new")).unwrap();
        d.set(&["GOOGLE_GEMINI_BASE_URL".into()], &json!("http://x"))
            .unwrap();
        assert_eq!(
            d.render(),
            "# proxy\nGEMINI_API_KEY=new\nOTHER=1\nGOOGLE_GEMINI_BASE_URL=http://x\n"
        );
        d.remove(&["GOOGLE_GEMINI_BASE_URL".into()]).unwrap();
        assert_eq!(d.get(&["GOOGLE_GEMINI_BASE_URL".into()]), None);
    }
}
