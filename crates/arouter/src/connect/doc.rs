//! One config file held in memory, edited through the format-preserving editor of its format:
//! values are read and written by key path, everything else is kept as the user wrote it.

use super::{edit_env, edit_json, edit_toml, edit_yaml};
use anyhow::Result;
use serde_json::Value;

/// The syntaxes of the files tools read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON or JSON with comments (Claude Code, Gemini CLI, opencode).
    Json,
    /// TOML (Codex).
    Toml,
    /// YAML (aider, Continue).
    Yaml,
    /// A dotenv file (Gemini CLI's `.env`).
    Env,
}

/// A parsed file. Paths are key segments from the root; a YAML list item is addressed by a
/// `[field=value]` segment (see `edit_yaml`).
pub trait Doc {
    /// The value at `path`, if any.
    fn get(&self, path: &[String]) -> Option<Value>;
    /// Sets the value at `path`; returns the parent paths it had to create.
    fn set(&mut self, path: &[String], value: &Value) -> Result<Vec<Vec<String>>>;
    /// Removes the value at `path` (nothing if absent).
    fn remove(&mut self, path: &[String]) -> Result<()>;
    /// The file text.
    fn render(&self) -> String;
    /// True when the document holds nothing (an empty object, table or mapping).
    fn is_empty(&self) -> bool;
}

/// Parses `text` (`None` = the file does not exist yet); a syntax error is returned as is.
pub fn parse(format: Format, text: Option<&str>) -> Result<Box<dyn Doc>> {
    Ok(match format {
        Format::Json => Box::new(edit_json::JsonDoc::parse(text)?),
        Format::Toml => Box::new(edit_toml::TomlDoc::parse(text)?),
        Format::Yaml => Box::new(edit_yaml::YamlDoc::parse(text)?),
        Format::Env => Box::new(edit_env::EnvDoc::parse(text)),
    })
}

/// The value at `path` of a whole-document value (used by editors that parse to a tree).
pub fn descend<'a>(mut v: &'a Value, path: &[String]) -> Option<&'a Value> {
    for seg in path {
        v = v.as_object()?.get(seg)?;
    }
    Some(v)
}

/// `true` if `v` is an object whose values are all empty objects, recursively.
pub fn is_hollow(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().all(is_hollow),
        _ => false,
    }
}
