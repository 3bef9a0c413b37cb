//! Edits of `config.toml` that keep the user's comments and layout: each edit is applied to the
//! parsed document, the new text is validated as a whole, and only then written atomically.

use crate::app::App;
use crate::config::{Config, ConfigError, ModelOverride};
use crate::error::{ApiError, ErrorKind};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use toml_edit::{value, Array, DocumentMut, Item, Table, TableLike, Value};

/// Fields of a provider to set; `None` leaves a field alone (`api_key_env: Some(None)` removes
/// it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderPatch {
    pub kind: Option<String>,
    pub base_url: Option<String>,
    pub api_key_env: Option<Option<String>>,
    pub models: Option<Vec<String>>,
}

/// One change to the config file.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Sets (`Some`) or removes (`None`) `default_model`.
    DefaultModel(Option<String>),
    SetAlias {
        name: String,
        models: Vec<String>,
    },
    RemoveAlias(String),
    /// Adds a provider; fails with `Conflict` if the id exists.
    AddProvider {
        id: String,
        patch: ProviderPatch,
    },
    /// Changes an existing provider; fails with `NotFound` if there is none.
    UpdateProvider {
        id: String,
        patch: ProviderPatch,
    },
    RemoveProvider(String),
    StoreContent(bool),
    /// Sets the prices and context length of `[models."provider/model"]`.
    SetModelOverride {
        id: String,
        model: ModelOverride,
    },
    RemoveModelOverride(String),
}

/// Why an edit was not made. Nothing is written in any of these cases.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EditError {
    /// The edited config would be invalid; names the field.
    #[error("{0}")]
    Invalid(ConfigError),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// Reading or writing the file failed.
    #[error("{0}")]
    Io(String),
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> ApiError {
        match e {
            EditError::Invalid(c) => ApiError::bad_request(c.to_string()),
            EditError::NotFound(m) => ApiError::not_found(m),
            EditError::Conflict(m) => ApiError::new(ErrorKind::BadRequest, m).with_status(409),
            EditError::Io(m) => ApiError::internal(m),
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> EditError {
    EditError::Invalid(ConfigError {
        field: field.into(),
        message: message.into(),
    })
}

/// Applies `edit` to the running app's config file and swaps the new config in, keeping the
/// running server's host and port (those need a restart). Edits are serialized.
pub fn apply(app: &App, edit: &Edit) -> Result<Arc<Config>, EditError> {
    let _guard = app.config_edit.lock();
    let mut cfg = edit_file(&app.config_path, edit)?;
    let running = app.config();
    cfg.server.host = running.server.host.clone();
    cfg.server.port = running.server.port;
    app.replace_config(cfg);
    Ok(app.config())
}

/// Applies `edit` to the file at `path` (a missing file counts as empty), validates the result
/// and writes it atomically. Returns the new config.
pub fn edit_file(path: &Path, edit: &Edit) -> Result<Config, EditError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(EditError::Io(format!("reading {}: {e}", path.display()))),
    };
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid("config.toml", e.message().to_string()))?;
    apply_to_doc(&mut doc, edit)?;
    let new_text = doc.to_string();
    let cfg = Config::parse(&new_text).map_err(EditError::Invalid)?;
    check_references(&cfg, edit).map_err(EditError::Invalid)?;
    write_atomic(path, &new_text)
        .map_err(|e| EditError::Io(format!("writing {}: {e}", path.display())))?;
    Ok(cfg)
}

fn apply_to_doc(doc: &mut DocumentMut, edit: &Edit) -> Result<(), EditError> {
    match edit {
        Edit::DefaultModel(Some(m)) => set_value(doc.as_table_mut(), "default_model", m.into()),
        Edit::DefaultModel(None) => {
            doc.as_table_mut().remove("default_model");
        }
        Edit::SetAlias { name, models } => {
            if name.is_empty() {
                return Err(invalid("aliases", "an alias needs a name"));
            }
            let list: Array = models.iter().map(String::as_str).collect();
            set_value(section(doc, "aliases", false)?, name, Value::Array(list));
        }
        Edit::RemoveAlias(name) => {
            let removed = existing_section(doc, "aliases").and_then(|t| t.remove(name));
            if removed.is_none() {
                return Err(EditError::NotFound(format!("no alias \"{name}\"")));
            }
        }
        Edit::AddProvider { id, patch } => {
            let providers = section(doc, "providers", true)?;
            if providers.contains_key(id) {
                return Err(EditError::Conflict(format!(
                    "a provider \"{id}\" already exists"
                )));
            }
            providers.insert(id, Item::Table(Table::new()));
            patch_provider(providers, id, patch)?;
        }
        Edit::UpdateProvider { id, patch } => {
            let providers = existing_section(doc, "providers")
                .filter(|p| p.contains_key(id))
                .ok_or_else(|| EditError::NotFound(format!("no provider \"{id}\"")))?;
            patch_provider(providers, id, patch)?;
        }
        Edit::RemoveProvider(id) => {
            let removed = existing_section(doc, "providers").and_then(|t| t.remove(id));
            if removed.is_none() {
                return Err(EditError::NotFound(format!("no provider \"{id}\"")));
            }
        }
        Edit::StoreContent(on) => set_value(
            section(doc, "server", false)?,
            "store_content",
            (*on).into(),
        ),
        Edit::SetModelOverride { id, model } => {
            let models = section(doc, "models", true)?;
            let field = format!("models.\"{id}\"");
            let entry = models
                .entry(id)
                .or_insert_with(|| Item::Table(Table::new()))
                .as_table_like_mut()
                .ok_or_else(|| invalid(&field, "expected a table"))?;
            set_override(entry, model);
        }
        Edit::RemoveModelOverride(id) => {
            let removed = existing_section(doc, "models").and_then(|t| t.remove(id));
            if removed.is_none() {
                return Err(EditError::NotFound(format!("no override for \"{id}\"")));
            }
        }
    }
    Ok(())
}

/// A top-level table, created if missing (`implicit`: no `[key]` header of its own, only
/// `[key.sub]` ones).
fn section<'a>(
    doc: &'a mut DocumentMut,
    key: &str,
    implicit: bool,
) -> Result<&'a mut dyn TableLike, EditError> {
    doc.as_table_mut()
        .entry(key)
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(implicit);
            Item::Table(t)
        })
        .as_table_like_mut()
        .ok_or_else(|| invalid(key, "expected a table"))
}

fn existing_section<'a>(doc: &'a mut DocumentMut, key: &str) -> Option<&'a mut dyn TableLike> {
    doc.as_table_mut()
        .get_mut(key)
        .and_then(Item::as_table_like_mut)
}

/// Sets `key` to `new`, keeping the comments around an existing value.
fn set_value(table: &mut dyn TableLike, key: &str, mut new: Value) {
    if let Some(old) = table.get_mut(key).and_then(Item::as_value_mut) {
        *new.decor_mut() = old.decor().clone();
        *old = new;
    } else {
        table.insert(key, Item::Value(new));
    }
}

fn patch_provider(
    providers: &mut dyn TableLike,
    id: &str,
    patch: &ProviderPatch,
) -> Result<(), EditError> {
    let t = providers
        .get_mut(id)
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| invalid(format!("providers.{id}"), "expected a table"))?;
    if let Some(kind) = &patch.kind {
        set_value(t, "kind", kind.into());
    }
    if let Some(url) = &patch.base_url {
        set_value(t, "base_url", url.into());
    }
    match &patch.api_key_env {
        Some(Some(var)) => set_value(t, "api_key_env", var.into()),
        Some(None) => {
            t.remove("api_key_env");
        }
        None => {}
    }
    if let Some(models) = &patch.models {
        if models.is_empty() {
            t.remove("models");
        } else {
            let list: Array = models.iter().map(String::as_str).collect();
            set_value(t, "models", Value::Array(list));
        }
    }
    Ok(())
}

/// Writes the priced fields of an override; optional fields not given are removed (the
/// override is replaced), other keys (`name`, `max_output_tokens`) stay.
fn set_override(t: &mut dyn TableLike, m: &ModelOverride) {
    let floats = [
        ("input_per_mtok", m.input_per_mtok),
        ("output_per_mtok", m.output_per_mtok),
        ("cache_read_per_mtok", m.cache_read_per_mtok),
        ("cache_write_per_mtok", m.cache_write_per_mtok),
    ];
    for (key, v) in floats {
        match v {
            Some(v) => set_value(t, key, v.into()),
            None => {
                t.remove(key);
            }
        }
    }
    match m.context_length.and_then(|c| i64::try_from(c).ok()) {
        Some(c) => set_value(t, "context_length", c.into()),
        None => {
            t.remove("context_length");
        }
    }
    if t.get("max_output_tokens").is_none() {
        if let Some(v) = m.max_output_tokens {
            set_value(t, "max_output_tokens", i64::from(v).into());
        }
    }
    if let (Some(name), None) = (&m.name, t.get("name")) {
        t.insert("name", value(name.as_str()));
    }
}

/// Model ids an edit introduces must name a configured provider (the parser only checks
/// their shape).
fn check_references(cfg: &Config, edit: &Edit) -> Result<(), ConfigError> {
    let known = |field: String, id: &str| match id.split_once('/') {
        Some((p, m)) if !cfg.providers.contains_key(p) || m.is_empty() => Err(ConfigError {
            field,
            message: if m.is_empty() {
                format!("\"{id}\" names no model")
            } else {
                format!("\"{id}\": no provider \"{p}\" is configured")
            },
        }),
        _ => Ok(()),
    };
    match edit {
        Edit::DefaultModel(Some(m)) => known("default_model".into(), m),
        Edit::SetAlias { name, models } => models
            .iter()
            .enumerate()
            .try_for_each(|(i, m)| known(format!("aliases.{name}[{i}]"), m)),
        Edit::SetModelOverride { id, .. } => {
            if id.contains('/') {
                known(format!("models.\"{id}\""), id)
            } else {
                Err(ConfigError {
                    field: format!("models.\"{id}\""),
                    message: "expected a provider/model id".into(),
                })
            }
        }
        _ => Ok(()),
    }
}

/// Writes `text` to a temporary file beside `path`, syncs it, and renames it over `path`, so
/// readers see the old or the new file, never half of one.
fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "config.toml".into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        if let Ok(meta) = std::fs::metadata(path) {
            f.set_permissions(meta.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir);
    Ok(())
}

/// Makes the rename itself durable (best effort; not possible on every platform).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ProviderKind, STARTER_CONFIG};

    fn starter() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, STARTER_CONFIG).unwrap();
        (dir, path)
    }

    #[test]
    fn edits_keep_comments_and_round_trip() {
        let (_d, path) = starter();
        edit_file(
            &path,
            &Edit::SetAlias {
                name: "fast".into(),
                models: vec!["ollama/llama3.2".into(), "openai/gpt-4o-mini".into()],
            },
        )
        .unwrap();
        edit_file(&path, &Edit::DefaultModel(Some("fast".into()))).unwrap();
        edit_file(&path, &Edit::StoreContent(false)).unwrap();
        let cfg = edit_file(
            &path,
            &Edit::UpdateProvider {
                id: "openai".into(),
                patch: ProviderPatch {
                    base_url: Some("https://example.com/v1".into()),
                    ..Default::default()
                },
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# ARouter configuration."), "{text}");
        assert!(text.contains("# openai | anthropic | gemini"), "{text}");
        assert!(text.contains("# A local Ollama (no key needed)."), "{text}");
        assert!(text.contains("default_model = \"fast\""), "{text}");
        assert_eq!(cfg, Config::parse(&text).unwrap());
        assert_eq!(cfg.aliases["fast"].len(), 2);
        assert!(!cfg.server.store_content);
        assert_eq!(cfg.providers["openai"].base_url, "https://example.com/v1");
    }

    #[test]
    fn invalid_edits_are_refused_and_leave_the_file_alone() {
        let (_d, path) = starter();
        let before = std::fs::read_to_string(&path).unwrap();
        let e = edit_file(
            &path,
            &Edit::AddProvider {
                id: "x".into(),
                patch: ProviderPatch {
                    kind: Some("opneai".into()),
                    base_url: Some("http://x".into()),
                    ..Default::default()
                },
            },
        )
        .unwrap_err();
        match e {
            EditError::Invalid(c) => assert_eq!(c.field, "providers.x.kind"),
            other => panic!("unexpected {other:?}"),
        }
        let e = edit_file(&path, &Edit::DefaultModel(Some("nope/m".into()))).unwrap_err();
        assert!(
            matches!(e, EditError::Invalid(ref c) if c.field == "default_model"),
            "{e:?}"
        );
        let e = edit_file(&path, &Edit::RemoveAlias("none".into())).unwrap_err();
        assert!(matches!(e, EditError::NotFound(_)));
        let e = edit_file(
            &path,
            &Edit::AddProvider {
                id: "openai".into(),
                patch: ProviderPatch::default(),
            },
        )
        .unwrap_err();
        assert!(matches!(e, EditError::Conflict(_)));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temp files remain");
    }

    #[test]
    fn providers_and_overrides_are_added_and_removed() {
        let (_d, path) = starter();
        let cfg = edit_file(
            &path,
            &Edit::AddProvider {
                id: "groq".into(),
                patch: ProviderPatch {
                    kind: Some("openai".into()),
                    base_url: Some("https://api.groq.com/openai/v1/".into()),
                    api_key_env: Some(Some("GROQ_API_KEY".into())),
                    models: Some(vec!["llama-3.3-70b-versatile".into()]),
                },
            },
        )
        .unwrap();
        let g = &cfg.providers["groq"];
        assert_eq!(g.kind, ProviderKind::OpenAi);
        assert_eq!(g.base_url, "https://api.groq.com/openai/v1");
        assert_eq!(g.models, vec!["llama-3.3-70b-versatile".to_string()]);
        let cfg = edit_file(
            &path,
            &Edit::SetModelOverride {
                id: "groq/llama-3.3-70b-versatile".into(),
                model: ModelOverride {
                    input_per_mtok: Some(0.59),
                    output_per_mtok: Some(0.79),
                    context_length: Some(131_072),
                    ..Default::default()
                },
            },
        )
        .unwrap();
        let o = &cfg.models["groq/llama-3.3-70b-versatile"];
        assert_eq!(o.input_per_mtok, Some(0.59));
        assert_eq!(o.context_length, Some(131_072));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("[models.\"groq/llama-3.3-70b-versatile\"]"),
            "{text}"
        );
        let cfg = edit_file(
            &path,
            &Edit::RemoveModelOverride("groq/llama-3.3-70b-versatile".into()),
        )
        .unwrap();
        assert!(cfg.models.is_empty());
        let cfg = edit_file(&path, &Edit::RemoveProvider("groq".into())).unwrap();
        assert!(!cfg.providers.contains_key("groq"));
        let e = edit_file(
            &path,
            &Edit::SetModelOverride {
                id: "nobody/m".into(),
                model: ModelOverride::default(),
            },
        )
        .unwrap_err();
        assert!(matches!(e, EditError::Invalid(ref c) if c.field == "models.\"nobody/m\""));
    }
}
