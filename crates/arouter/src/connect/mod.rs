//! `arouter connect`: points agent CLIs (Claude Code, Codex, Gemini CLI, opencode, aider,
//! Continue) at ARouter by merging values into each tool's own config file, each tool with its
//! own app key; `disconnect` puts back exactly what was there; `tools` reports on them. Used
//! by the CLI, the management API, the web UI and the tray alike.

mod doc;
mod edit_env;
mod edit_json;
mod edit_toml;
mod edit_yaml;
mod files;
mod keys;
mod state;
mod status;
pub mod tools;

pub use status::{status, ToolStatus};
pub use tools::{Env, Tool, TOOLS};

use anyhow::{anyhow, bail, Context, Result};
use arouter_core::config::Config;
use arouter_store::ManageStore;
use doc::Doc;
use serde::Serialize;
use serde_json::Value;
use state::{Entry, FileState, ToolState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tools::{FilePlan, Settings};

/// Everything an operation needs: where ARouter keeps its data, its key store, the URL tools
/// should call, and the environment the tools live in.
pub struct Ctx<'a> {
    pub store: &'a dyn ManageStore,
    pub data_dir: &'a Path,
    pub cfg: &'a Config,
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base: String,
    pub env: &'a Env,
}

/// What to connect with.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub model: Option<String>,
    pub slots: BTreeMap<String, String>,
    pub key_name: Option<String>,
}

/// What a connect or disconnect did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub tool: String,
    pub key_name: String,
    /// The key already in the tool's file was kept (connect) / the key was revoked
    /// (disconnect).
    pub key_reused: bool,
    pub model: Option<String>,
    pub files: Vec<FileOutcome>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub path: PathBuf,
    pub changed: bool,
    /// Where the original was copied, the first time.
    pub backup: Option<PathBuf>,
    /// `restored` (byte for byte), `merged` (the user edited it meanwhile), `removed`, `written`.
    pub how: &'static str,
}

fn tool(id: &str) -> Result<&'static Tool> {
    tools::find(id).ok_or_else(|| anyhow!("unknown tool \"{id}\" (known: {})", tools::ids()))
}

/// A model id or alias ARouter can route: an alias, or `provider/model` of a configured
/// provider.
fn check_model(cfg: &Config, model: &str) -> Result<()> {
    if cfg.aliases.contains_key(model) {
        return Ok(());
    }
    match model.split_once('/') {
        Some((p, m)) if !m.is_empty() && cfg.providers.contains_key(p) => Ok(()),
        _ => bail!(
            "\"{model}\" is neither an alias nor provider/model of a configured provider \
             (see `arouter models`)"
        ),
    }
}

struct Loaded {
    plan_path: PathBuf,
    /// The real file (through symlinks).
    path: PathBuf,
    text: Option<String>,
    doc: Box<dyn Doc>,
}

fn load(plan: &FilePlan) -> Result<Loaded> {
    let path = files::resolve(&plan.path);
    let text = files::read(&path)?;
    let doc = doc::parse(plan.format, text.as_deref()).map_err(|e| {
        anyhow!(
            "{} is {e:#}. Nothing was changed: fix the file (or move it away) and try again",
            plan.path.display()
        )
    })?;
    Ok(Loaded {
        plan_path: plan.path.clone(),
        path,
        text,
        doc,
    })
}

fn key_in(doc: &dyn Doc, t: &Tool) -> Option<String> {
    let path: Vec<String> = t.key_path.iter().map(|s| s.to_string()).collect();
    doc.get(&path)?.as_str().map(str::to_string)
}

fn backup_path(data_dir: &Path, tool: &str, file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map_or("file".into(), |n| n.to_string_lossy().into_owned());
    data_dir
        .join("connect")
        .join("backups")
        .join(tool)
        .join(name)
}

/// Puts `entry` back as it was before connect, if the user did not change it since.
fn undo(doc: &mut dyn Doc, entry: &Entry) -> Result<()> {
    if doc.get(&entry.path).as_ref() != Some(&entry.ours) {
        return Ok(());
    }
    match &entry.before {
        Some(v) => {
            doc.set(&entry.path, v)?;
        }
        None => doc.remove(&entry.path)?,
    }
    Ok(())
}

/// Removes parents connect created once they hold nothing.
fn prune(doc: &mut dyn Doc, created: &[Vec<String>]) -> Result<()> {
    let mut created = created.to_vec();
    created.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in &created {
        let empty = match doc.get(p) {
            None => false,
            Some(Value::Null) => true,
            Some(Value::Array(a)) => a.is_empty(),
            Some(v) => doc::is_hollow(&v),
        };
        if empty {
            doc.remove(p)?;
        }
    }
    Ok(())
}

/// Points `tool_id` at ARouter. Idempotent: connecting again with the same choices writes
/// nothing.
pub fn connect(ctx: &Ctx, tool_id: &str, req: &Request) -> Result<Outcome> {
    let t = tool(tool_id)?;
    for slot in req.slots.keys() {
        if !t.slots.contains(&slot.as_str()) {
            bail!(
                "{} has no model slot \"{slot}\"{}",
                t.name,
                if t.slots.is_empty() {
                    String::new()
                } else {
                    format!(" (slots: {})", t.slots.join(", "))
                }
            );
        }
    }
    let prior = state::load(ctx.data_dir, t.id)?;
    let model = req
        .model
        .clone()
        .or_else(|| prior.as_ref().and_then(|p| p.model.clone()))
        .or_else(|| ctx.cfg.default_model.clone())
        .ok_or_else(|| anyhow!("no model: pass --model (see `arouter models`)"))?;
    let mut slots = prior.as_ref().map(|p| p.slots.clone()).unwrap_or_default();
    slots.extend(req.slots.clone());
    for m in std::iter::once(&model).chain(slots.values()) {
        check_model(ctx.cfg, m)?;
    }
    let key_name = req
        .key_name
        .clone()
        .or_else(|| prior.as_ref().map(|p| p.key_name.clone()))
        .unwrap_or_else(|| t.id.to_string());

    // Read and parse every file before changing anything (or making a key).
    let probe = (t.plan)(
        ctx.env,
        &Settings {
            base: &ctx.base,
            key: "",
            model: &model,
            slots: &slots,
        },
    );
    let mut loaded = probe.iter().map(load).collect::<Result<Vec<_>>>()?;
    let existing = key_in(loaded[t.key_file].doc.as_ref(), t);
    let (raw, info, reused) =
        keys::ensure(ctx.store, existing.as_deref(), &key_name, prior.as_ref())?;

    let plan = (t.plan)(
        ctx.env,
        &Settings {
            base: &ctx.base,
            key: &raw,
            model: &model,
            slots: &slots,
        },
    );
    let mut out_files = Vec::new();
    let mut new_state = ToolState {
        tool: t.id.to_string(),
        key_name: info.name.clone(),
        key_hash: info.hash.clone(),
        model: Some(model.clone()),
        slots: slots.clone(),
        files: Vec::new(),
    };
    for (fp, l) in plan.iter().zip(loaded.iter_mut()) {
        let before_fs = prior
            .as_ref()
            .and_then(|p| p.files.iter().find(|f| f.path == l.path))
            .cloned();
        let old_entries = before_fs
            .as_ref()
            .map(|f| f.entries.clone())
            .unwrap_or_default();
        let mut created = before_fs
            .as_ref()
            .map(|f| f.created.clone())
            .unwrap_or_default();
        // Values an earlier connect wrote that this one no longer does (another model).
        for e in &old_entries {
            if !fp.sets.iter().any(|(p, _)| *p == e.path) {
                undo(l.doc.as_mut(), e)?;
            }
        }
        let mut entries = Vec::new();
        for (path, value) in &fp.sets {
            let current = l.doc.get(path);
            let earlier = old_entries.iter().find(|e| e.path == *path);
            if earlier.is_none() && current.is_some() && tools::only_if_absent(t.id, path) {
                continue;
            }
            if current.as_ref() != Some(value) {
                created.extend(l.doc.set(path, value).with_context(|| {
                    format!("{}: setting {}", l.plan_path.display(), path.join("."))
                })?);
            }
            entries.push(Entry {
                path: path.clone(),
                before: earlier.map_or(current, |e| e.before.clone()),
                ours: value.clone(),
            });
        }
        let text = l.doc.render();
        let changed = l.text.as_deref() != Some(text.as_str());
        let mut backup = None;
        if changed {
            if let Some(orig) = &l.text {
                let b = backup_path(ctx.data_dir, t.id, &l.path);
                if files::backup_once(&b, orig)? {
                    backup = Some(b);
                }
            }
            files::write_atomic(&l.path, &text, 0o600)?;
        } else if files::mode(&l.path).is_some_and(|m| m != 0o600) {
            files::write_atomic(&l.path, &text, 0o600)?;
        }
        out_files.push(FileOutcome {
            path: l.plan_path.clone(),
            changed,
            backup,
            how: "written",
        });
        new_state.files.push(FileState {
            path: l.path.clone(),
            original: before_fs
                .as_ref()
                .map_or(l.text.clone(), |f| f.original.clone()),
            original_mode: before_fs
                .as_ref()
                .map_or(files::mode(&l.path), |f| f.original_mode),
            written: text,
            entries,
            created,
        });
    }
    // Keep the first connect's record of the originals: an earlier mode could have been
    // lost to the 0600 above.
    if let Some(p) = &prior {
        for (fs, old) in new_state.files.iter_mut().zip(&p.files) {
            if fs.path == old.path && old.original_mode.is_some() {
                fs.original_mode = old.original_mode;
            }
        }
    }
    state::save(ctx.data_dir, &new_state)?;
    Ok(Outcome {
        tool: t.id.to_string(),
        key_name: info.name,
        key_reused: reused,
        model: Some(model),
        files: out_files,
    })
}

/// Undoes [`connect`]: files connect wrote and nobody touched since come back byte for byte;
/// files the user edited meanwhile lose only the values connect set. The tool's key is revoked.
pub fn disconnect(ctx: &Ctx, tool_id: &str) -> Result<Outcome> {
    let t = tool(tool_id)?;
    let st = state::load(ctx.data_dir, t.id)?
        .ok_or_else(|| anyhow!("{} is not connected (ARouter has no record of it)", t.name))?;
    let plan = (t.plan)(
        ctx.env,
        &Settings {
            base: &ctx.base,
            key: "",
            model: "",
            slots: &BTreeMap::new(),
        },
    );
    let format_of = |p: &Path| {
        plan.iter()
            .find(|f| files::resolve(&f.path) == p || f.path == p)
            .map(|f| f.format)
    };
    // Parse first: a file broken meanwhile stops everything before any change.
    let mut work = Vec::new();
    for fs in &st.files {
        let current = files::read(&fs.path)?;
        let parsed = match &current {
            Some(text) if *text != fs.written => {
                let format = format_of(&fs.path)
                    .ok_or_else(|| anyhow!("{}: unknown file", fs.path.display()))?;
                Some(doc::parse(format, Some(text)).map_err(|e| {
                    anyhow!(
                        "{} is {e:#}. Nothing was changed: fix it and run disconnect again",
                        fs.path.display()
                    )
                })?)
            }
            _ => None,
        };
        work.push((fs, current, parsed));
    }
    let mut out_files = Vec::new();
    for (fs, current, parsed) in work {
        let how = match (current, parsed) {
            (None, _) => "absent",
            (Some(_), None) => {
                match &fs.original {
                    Some(orig) => {
                        files::write_atomic(&fs.path, orig, fs.original_mode.unwrap_or(0o600))?
                    }
                    None => std::fs::remove_file(&fs.path)
                        .with_context(|| format!("removing {}", fs.path.display()))?,
                }
                if fs.original.is_some() {
                    "restored"
                } else {
                    "removed"
                }
            }
            (Some(text), Some(mut d)) => {
                for e in fs.entries.iter().rev() {
                    undo(d.as_mut(), e)?;
                }
                prune(d.as_mut(), &fs.created)?;
                if fs.original.is_none() && d.is_empty() {
                    std::fs::remove_file(&fs.path)
                        .with_context(|| format!("removing {}", fs.path.display()))?;
                    "removed"
                } else {
                    let new = d.render();
                    if new != text {
                        let mode = files::mode(&fs.path).unwrap_or(0o600);
                        files::write_atomic(&fs.path, &new, mode)?;
                    }
                    "merged"
                }
            }
        };
        out_files.push(FileOutcome {
            path: fs.path.clone(),
            changed: how != "absent",
            backup: None,
            how,
        });
    }
    let revoked = keys::retire(ctx.store, &st.key_hash)?;
    state::delete(ctx.data_dir, t.id)?;
    Ok(Outcome {
        tool: t.id.to_string(),
        key_name: st.key_name,
        key_reused: revoked,
        model: st.model,
        files: out_files,
    })
}

/// The model ids and aliases that can answer a chat, aliases first: what a tool's model
/// pickers (and the tray's default-model menu) offer. Embedding models are left out.
pub fn chat_models(cfg: &Config) -> Vec<String> {
    let routable = arouter_core::http::models::routable(cfg);
    let chat = |id: &str| {
        routable.get(id).is_some_and(|(p, _)| {
            !p.info.is_some_and(|i| i.has("embeddings")) && !id.contains("embedding")
        })
    };
    let mut out: Vec<String> = cfg
        .aliases
        .iter()
        .filter(|(_, targets)| targets.first().is_some_and(|t| chat(t)))
        .map(|(a, _)| a.clone())
        .collect();
    out.extend(
        routable
            .keys()
            .filter(|id| !cfg.aliases.contains_key(*id) && chat(id))
            .cloned(),
    );
    out
}

#[cfg(test)]
mod tests;
