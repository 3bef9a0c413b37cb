//! The tools ARouter connects, and what connecting writes into each one's own config file.

use super::doc::Format;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a tool looks for its files: the user's home and the variables tools honour.
#[derive(Debug, Clone)]
pub struct Env {
    pub home: PathBuf,
    /// `$CODEX_HOME`, default `~/.codex`.
    pub codex_home: PathBuf,
    /// `$XDG_CONFIG_HOME`, default `~/.config` (opencode).
    pub xdg_config: PathBuf,
    /// `$PATH`, to tell whether a tool is installed.
    pub path: Option<std::ffi::OsString>,
    /// The working directory (Gemini CLI's `.env` lookup starts there).
    pub cwd: Option<PathBuf>,
    /// Variables exported in this environment that a tool would prefer over its files.
    pub exported: BTreeMap<String, String>,
}

impl Env {
    /// The current process's view.
    pub fn current() -> anyhow::Result<Env> {
        let home = dirs::home_dir().ok_or_else(|| anyhow::anyhow!("cannot find the home dir"))?;
        let var = |n: &str| {
            std::env::var_os(n)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let exported = ["GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "GOOGLE_API_KEY"]
            .iter()
            .filter_map(|n| Some((n.to_string(), std::env::var(n).ok()?)))
            .collect();
        Ok(Env {
            codex_home: var("CODEX_HOME").unwrap_or_else(|| home.join(".codex")),
            xdg_config: var("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config")),
            path: std::env::var_os("PATH"),
            cwd: std::env::current_dir().ok(),
            exported,
            home,
        })
    }
}

/// What connecting writes: ARouter's base URL (no `/v1`), the tool's key and models.
pub struct Settings<'a> {
    pub base: &'a str,
    pub key: &'a str,
    pub model: &'a str,
    pub slots: &'a BTreeMap<String, String>,
}

impl Settings<'_> {
    fn slot(&self, name: &str) -> &str {
        self.slots.get(name).map_or(self.model, String::as_str)
    }
}

/// The values to write into one file.
pub struct FilePlan {
    pub path: PathBuf,
    pub format: Format,
    pub sets: Vec<(Vec<String>, Value)>,
}

fn path(segs: &[&str]) -> Vec<String> {
    segs.iter().map(|s| s.to_string()).collect()
}

fn sets(pairs: Vec<(&[&str], Value)>) -> Vec<(Vec<String>, Value)> {
    pairs.into_iter().map(|(p, v)| (path(p), v)).collect()
}

/// A tool ARouter can connect.
pub struct Tool {
    pub id: &'static str,
    pub name: &'static str,
    /// Executables whose presence on `$PATH` means the tool is installed.
    pub binaries: &'static [&'static str],
    /// Model slots beside the main model (`--slot NAME=MODEL`).
    pub slots: &'static [&'static str],
    /// Which planned file, and where in it, holds the key.
    pub key_file: usize,
    pub key_path: &'static [&'static str],
    pub config_dir: fn(&Env) -> PathBuf,
    pub plan: fn(&Env, &Settings) -> Vec<FilePlan>,
}

pub const TOOLS: &[Tool] = &[
    Tool {
        id: "claude-code",
        name: "Claude Code",
        binaries: &["claude"],
        slots: &["opus", "sonnet", "haiku", "subagent"],
        key_file: 0,
        key_path: &["env", "ANTHROPIC_AUTH_TOKEN"],
        config_dir: |e| e.home.join(".claude"),
        plan: |e, s| {
            vec![FilePlan {
                path: e.home.join(".claude/settings.json"),
                format: Format::Json,
                sets: sets(vec![
                    (&["env", "ANTHROPIC_BASE_URL"], json!(s.base)),
                    (&["env", "ANTHROPIC_AUTH_TOKEN"], json!(s.key)),
                    (&["env", "ANTHROPIC_MODEL"], json!(s.model)),
                    (
                        &["env", "ANTHROPIC_DEFAULT_OPUS_MODEL"],
                        json!(s.slot("opus")),
                    ),
                    (
                        &["env", "ANTHROPIC_DEFAULT_SONNET_MODEL"],
                        json!(s.slot("sonnet")),
                    ),
                    (
                        &["env", "ANTHROPIC_DEFAULT_HAIKU_MODEL"],
                        json!(s.slot("haiku")),
                    ),
                    (
                        &["env", "CLAUDE_CODE_SUBAGENT_MODEL"],
                        json!(s.slot("subagent")),
                    ),
                ]),
            }]
        },
    },
    Tool {
        id: "codex",
        name: "Codex CLI",
        binaries: &["codex"],
        slots: &[],
        key_file: 0,
        // The field Codex reads a literal bearer token from (codex-rs `ModelProviderInfo`).
        key_path: &["model_providers", "arouter", "experimental_bearer_token"],
        config_dir: |e| e.codex_home.clone(),
        plan: |e, s| {
            vec![FilePlan {
                path: e.codex_home.join("config.toml"),
                format: Format::Toml,
                sets: sets(vec![
                    (&["model_provider"], json!("arouter")),
                    (&["model"], json!(s.model)),
                    // Hosted web search runs only on OpenAI's own API: any other model would
                    // answer every request with a 400 naming the tool.
                    (&["web_search"], json!("disabled")),
                    (&["model_providers", "arouter", "name"], json!("ARouter")),
                    (
                        &["model_providers", "arouter", "base_url"],
                        json!(format!("{}/v1", s.base)),
                    ),
                    (
                        &["model_providers", "arouter", "wire_api"],
                        json!("responses"),
                    ),
                    (
                        &["model_providers", "arouter", "experimental_bearer_token"],
                        json!(s.key),
                    ),
                ]),
            }]
        },
    },
    Tool {
        id: "gemini-cli",
        name: "Gemini CLI",
        binaries: &["gemini"],
        slots: &[],
        key_file: 0,
        key_path: &["GEMINI_API_KEY"],
        config_dir: |e| e.home.join(".gemini"),
        plan: |e, s| {
            vec![
                FilePlan {
                    path: e.home.join(".gemini/.env"),
                    format: Format::Env,
                    sets: sets(vec![
                        (&["GOOGLE_GEMINI_BASE_URL"], json!(s.base)),
                        (&["GEMINI_API_KEY"], json!(s.key)),
                    ]),
                },
                FilePlan {
                    path: e.home.join(".gemini/settings.json"),
                    format: Format::Json,
                    sets: sets(vec![
                        // gemini-cli's AuthType.USE_GEMINI
                        (
                            &["security", "auth", "selectedType"],
                            json!("gemini-api-key"),
                        ),
                        (&["model", "name"], json!(s.model)),
                    ]),
                },
            ]
        },
    },
    Tool {
        id: "opencode",
        name: "opencode",
        binaries: &["opencode"],
        slots: &[],
        key_file: 0,
        key_path: &["provider", "arouter", "options", "apiKey"],
        config_dir: |e| e.xdg_config.join("opencode"),
        plan: |e, s| {
            vec![FilePlan {
                path: opencode_file(e),
                format: Format::Json,
                sets: vec![
                    (
                        path(&["provider", "arouter", "npm"]),
                        json!("@ai-sdk/openai-compatible"),
                    ),
                    (path(&["provider", "arouter", "name"]), json!("ARouter")),
                    (
                        path(&["provider", "arouter", "options", "baseURL"]),
                        json!(format!("{}/v1", s.base)),
                    ),
                    (
                        path(&["provider", "arouter", "options", "apiKey"]),
                        json!(s.key),
                    ),
                    (
                        vec![
                            "provider".into(),
                            "arouter".into(),
                            "models".into(),
                            s.model.into(),
                        ],
                        json!({"name": s.model}),
                    ),
                    (path(&["model"]), json!(format!("arouter/{}", s.model))),
                ],
            }]
        },
    },
    Tool {
        id: "aider",
        name: "aider",
        binaries: &["aider"],
        slots: &[],
        key_file: 0,
        key_path: &["openai-api-key"],
        config_dir: |e| e.home.clone(),
        plan: |e, s| {
            vec![FilePlan {
                path: e.home.join(".aider.conf.yml"),
                format: Format::Yaml,
                sets: sets(vec![
                    (&["openai-api-base"], json!(format!("{}/v1", s.base))),
                    (&["openai-api-key"], json!(s.key)),
                    (&["model"], json!(format!("openai/{}", s.model))),
                ]),
            }]
        },
    },
    Tool {
        id: "continue",
        name: "Continue",
        binaries: &["cn"],
        slots: &[],
        key_file: 0,
        key_path: &["models", "[name=ARouter]", "apiKey"],
        config_dir: |e| e.home.join(".continue"),
        plan: |e, s| {
            vec![FilePlan {
                path: e.home.join(".continue/config.yaml"),
                format: Format::Yaml,
                sets: vec![
                    // A config.yaml needs these three; connect adds them only where missing.
                    (path(&["name"]), json!("Local Assistant")),
                    (path(&["version"]), json!("1.0.0")),
                    (path(&["schema"]), json!("v1")),
                    (
                        path(&["models", "[name=ARouter]"]),
                        json!({
                            "name": "ARouter",
                            "provider": "openai",
                            "model": s.model,
                            "apiBase": format!("{}/v1", s.base),
                            "apiKey": s.key,
                        }),
                    ),
                ],
            }]
        },
    },
];

/// opencode reads `opencode.json` or `opencode.jsonc`: the one the user has, else `.json`.
fn opencode_file(e: &Env) -> PathBuf {
    let dir = e.xdg_config.join("opencode");
    let jsonc = dir.join("opencode.jsonc");
    let json = dir.join("opencode.json");
    if jsonc.exists() && !json.exists() {
        jsonc
    } else {
        json
    }
}

/// Values connect writes only where the file has none (the user's own win).
pub fn only_if_absent(tool: &str, path: &[String]) -> bool {
    tool == "continue"
        && path.len() == 1
        && ["name", "version", "schema"].contains(&path[0].as_str())
}

pub fn find(id: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.id == id)
}

pub fn ids() -> String {
    TOOLS.iter().map(|t| t.id).collect::<Vec<_>>().join(", ")
}
