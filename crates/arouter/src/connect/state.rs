//! What `connect` changed in each file, kept in the data dir (`connect/<tool>.json`, 0600), so
//! that `disconnect` can put back exactly what was there.

use super::files;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// One value connect wrote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub path: Vec<String>,
    /// What was there before the first connect (`None` = absent).
    pub before: Option<Value>,
    /// What connect wrote.
    pub ours: Value,
}

/// One file connect wrote.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileState {
    pub path: PathBuf,
    /// The text before the first connect (`None` = the file did not exist).
    pub original: Option<String>,
    pub original_mode: Option<u32>,
    /// The text connect last wrote: if the file still reads so, disconnect restores
    /// `original` byte for byte.
    pub written: String,
    pub entries: Vec<Entry>,
    /// Parent keys connect created (removed again on disconnect when left empty).
    pub created: Vec<Vec<String>>,
}

/// A tool's connection.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolState {
    pub tool: String,
    pub key_name: String,
    pub key_hash: String,
    /// The main model and slot models connect wrote (a later connect keeps them).
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub slots: std::collections::BTreeMap<String, String>,
    pub files: Vec<FileState>,
}

pub fn path(data_dir: &Path, tool: &str) -> PathBuf {
    data_dir.join("connect").join(format!("{tool}.json"))
}

pub fn load(data_dir: &Path, tool: &str) -> Result<Option<ToolState>> {
    let p = path(data_dir, tool);
    match files::read(&p)? {
        None => Ok(None),
        Some(text) => serde_json::from_str(&text)
            .map(Some)
            .with_context(|| format!("reading {}", p.display())),
    }
}

pub fn save(data_dir: &Path, state: &ToolState) -> Result<()> {
    let text = serde_json::to_string_pretty(state)?;
    files::write_atomic(&path(data_dir, &state.tool), &text, 0o600)
}

pub fn delete(data_dir: &Path, tool: &str) -> Result<()> {
    match std::fs::remove_file(path(data_dir, tool)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
