//! connect / connect again / disconnect on real-looking user configs, byte for byte.

use super::*;
use arouter_core::store::hash_key;
use serde_json::json;
use std::fs;

const CONFIG: &str = r#"
default_model = "openai/gpt-4o-mini"
[providers.openai]
kind = "openai"
base_url = "https://api.openai.com/v1"
[providers.anthropic]
kind = "anthropic"
base_url = "https://api.anthropic.com"
[aliases]
fast = ["openai/gpt-4o-mini"]
"#;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../tests/fixtures/connect/", $name))
    };
}

struct World {
    _dir: tempfile::TempDir,
    home: PathBuf,
    data: PathBuf,
    store: std::sync::Arc<arouter_store::SqliteStore>,
    cfg: Config,
    env: Env,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let data = dir.path().join("data");
        fs::create_dir_all(&home).unwrap();
        let store = arouter_store::SqliteStore::open(&arouter_store::db_path(&data)).unwrap();
        let env = Env {
            codex_home: home.join(".codex"),
            xdg_config: home.join(".config"),
            path: None,
            cwd: Some(home.clone()),
            exported: BTreeMap::new(),
            home: home.clone(),
        };
        World {
            _dir: dir,
            home,
            data,
            store,
            cfg: Config::parse(CONFIG).unwrap(),
            env,
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            store: &*self.store,
            data_dir: &self.data,
            cfg: &self.cfg,
            base: "http://127.0.0.1:8402".into(),
            env: &self.env,
        }
    }

    fn put(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.home.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    fn active_keys(&self, name: &str) -> usize {
        let keys = self.store.list_keys().unwrap();
        keys.iter()
            .filter(|k| k.name == name && !k.disabled)
            .count()
    }
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn req(model: &str) -> Request {
    Request {
        model: Some(model.into()),
        ..Request::default()
    }
}

/// connect, connect again (no change, same key), disconnect (byte-identical), for one file.
fn round_trip(tool: &str, rel: &str, original: &str, check: impl Fn(&str, &str)) {
    let w = World::new();
    let p = w.put(rel, original);
    let out = connect(&w.ctx(), tool, &req("openai/gpt-4o-mini")).unwrap();
    assert!(!out.key_reused);
    let first = read(&p);
    assert_ne!(first, original);
    let st = state::load(&w.data, tool).unwrap().unwrap();
    let t = tools::find(tool).unwrap();
    let format = (t.plan)(
        &w.env,
        &Settings {
            base: "",
            key: "",
            model: "",
            slots: &BTreeMap::new(),
        },
    )[0]
    .format;
    let key = key_in(doc::parse(format, Some(&first)).unwrap().as_ref(), t).unwrap();
    check(&first, &key);
    assert_eq!(hash_key(&key), st.key_hash);
    #[cfg(unix)]
    assert_eq!(mode(&p), 0o600);
    assert!(out.files[0]
        .backup
        .as_ref()
        .is_some_and(|b| read(b) == original));

    let again = connect(&w.ctx(), tool, &Request::default()).unwrap();
    assert!(again.key_reused, "the key in the file is kept");
    assert!(!again.files[0].changed);
    assert_eq!(read(&p), first, "connecting twice changes nothing");
    assert_eq!(w.active_keys(tool), 1);

    let off = disconnect(&w.ctx(), tool).unwrap();
    assert_eq!(off.files[0].how, "restored");
    assert_eq!(
        read(&p),
        original,
        "disconnect restores the file byte for byte"
    );
    assert_eq!(w.active_keys(tool), 0, "the tool's key is revoked");
    assert!(state::load(&w.data, tool).unwrap().is_none());
}

#[test]
fn claude_code_round_trip_keeps_mcp_servers_and_permissions() {
    round_trip(
        "claude-code",
        ".claude/settings.json",
        fixture!("claude-settings.json"),
        |t, key| {
            let v: Value = serde_json::from_str(t).unwrap();
            assert_eq!(v["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:8402");
            assert_eq!(v["env"]["ANTHROPIC_AUTH_TOKEN"], key);
            assert_eq!(v["env"]["ANTHROPIC_MODEL"], "openai/gpt-4o-mini");
            assert_eq!(v["env"]["CLAUDE_CODE_SUBAGENT_MODEL"], "openai/gpt-4o-mini");
            assert_eq!(v["env"]["CLAUDE_CODE_ENABLE_TELEMETRY"], "0");
            assert_eq!(
                v["mcpServers"]["github"]["env"]["GITHUB_TOKEN"],
                "ghp_example"
            );
            assert!(t.starts_with("{\n  \"$schema\""), "key order kept:\n{t}");
        },
    );
}

#[test]
fn codex_round_trip_keeps_comments_profiles_and_other_providers() {
    round_trip(
        "codex",
        ".codex/config.toml",
        fixture!("codex-config.toml"),
        |t, key| {
            let v: toml::Value = toml::from_str(t).unwrap();
            assert_eq!(v["model_provider"].as_str(), Some("arouter"));
            assert_eq!(v["model"].as_str(), Some("openai/gpt-4o-mini"));
            let p = &v["model_providers"]["arouter"];
            assert_eq!(p["base_url"].as_str(), Some("http://127.0.0.1:8402/v1"));
            assert_eq!(p["wire_api"].as_str(), Some("responses"));
            assert_eq!(p["experimental_bearer_token"].as_str(), Some(key));
            assert!(t.contains("# think harder") && t.contains("[mcp_servers.docs]"));
            assert_eq!(v["profiles"]["fast"]["model"].as_str(), Some("gpt-5-mini"));
        },
    );
}

#[test]
fn gemini_cli_writes_env_and_settings_and_restores_both() {
    let w = World::new();
    let env_p = w.put(".gemini/.env", fixture!("gemini-env"));
    let set_p = w.put(".gemini/settings.json", fixture!("gemini-settings.json"));
    connect(&w.ctx(), "gemini-cli", &req("fast")).unwrap();
    let env_t = read(&env_p);
    assert!(env_t.contains("GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8402\n"));
    assert!(env_t.contains("GOOGLE_CLOUD_PROJECT=my-project"));
    assert!(!env_t.contains("old-personal-key"));
    let set_t = read(&set_p);
    assert!(set_t.contains("// yes, vim") && set_t.contains("// UI first"));
    assert!(
        set_t.contains("\"selectedType\": \"gemini-api-key\""),
        "{set_t}"
    );
    assert!(set_t.contains("\"name\": \"fast\""), "{set_t}");
    connect(&w.ctx(), "gemini-cli", &Request::default()).unwrap();
    assert_eq!((read(&env_p), read(&set_p)), (env_t, set_t));
    disconnect(&w.ctx(), "gemini-cli").unwrap();
    assert_eq!(read(&env_p), fixture!("gemini-env"));
    assert_eq!(read(&set_p), fixture!("gemini-settings.json"));
}

#[test]
fn opencode_round_trip_keeps_other_providers_and_comments() {
    round_trip(
        "opencode",
        ".config/opencode/opencode.json",
        fixture!("opencode.json"),
        |t, key| {
            assert!(t.contains("// providers I use"));
            let ast = doc::parse(doc::Format::Json, Some(t))
                .unwrap()
                .get(&[])
                .unwrap();
            let p = &ast["provider"]["arouter"];
            assert_eq!(p["npm"], "@ai-sdk/openai-compatible");
            assert_eq!(p["options"]["baseURL"], "http://127.0.0.1:8402/v1");
            assert_eq!(p["options"]["apiKey"], key);
            assert_eq!(
                p["models"]["openai/gpt-4o-mini"]["name"],
                "openai/gpt-4o-mini"
            );
            assert_eq!(ast["model"], "arouter/openai/gpt-4o-mini");
            assert_eq!(ast["provider"]["ollama"]["name"], "Ollama (local)");
        },
    );
}

#[test]
fn aider_round_trip_keeps_comments() {
    round_trip(
        "aider",
        ".aider.conf.yml",
        fixture!("aider.conf.yml"),
        |t, key| {
            assert!(
                t.contains("model: openai/openai/gpt-4o-mini   # my favourite"),
                "{t}"
            );
            assert!(t.contains("openai-api-base: http://127.0.0.1:8402/v1\n"));
            assert!(t.contains(&format!("openai-api-key: {key}\n")));
            assert!(t.contains("  - docs/style.md\n") && t.contains("# Sample .aider.conf.yml"));
        },
    );
}

#[test]
fn continue_round_trip_adds_one_model_entry() {
    round_trip(
        "continue",
        ".continue/config.yaml",
        fixture!("continue-config.yaml"),
        |t, key| {
            assert!(
                t.contains("name: My Assistant\n"),
                "the user's name stays: {t}"
            );
            assert!(
                t.contains(&format!(
                    "  - name: ARouter\n    provider: openai\n    model: openai/gpt-4o-mini\n    \
             apiBase: http://127.0.0.1:8402/v1\n    apiKey: {key}\n"
                )),
                "{t}"
            );
            let entry = t.find("name: ARouter").unwrap();
            assert!(entry < t.find("context:").unwrap() && entry > t.find("Autocomplete").unwrap());
            assert!(t.contains("# Models I use") && t.contains("mcp-sqlite"));
        },
    );
}

#[test]
fn fresh_home_files_are_created_then_removed() {
    let w = World::new();
    for t in TOOLS {
        connect(&w.ctx(), t.id, &req("openai/gpt-4o-mini")).unwrap();
    }
    let claude = w.home.join(".claude/settings.json");
    let v: Value = serde_json::from_str(&read(&claude)).unwrap();
    assert_eq!(
        v["env"]["ANTHROPIC_DEFAULT_HAIKU_MODEL"],
        "openai/gpt-4o-mini"
    );
    let cont = read(&w.home.join(".continue/config.yaml"));
    assert!(
        cont.starts_with(
            "name: Local Assistant\nversion: 1.0.0\nschema: v1\nmodels:\n  - name: ARouter\n"
        ),
        "{cont}"
    );
    let statuses = status(&*w.store, &w.data, &w.env);
    assert!(statuses.iter().all(|s| s.connected), "{statuses:?}");
    for t in TOOLS {
        disconnect(&w.ctx(), t.id).unwrap();
    }
    for f in [
        ".claude/settings.json",
        ".codex/config.toml",
        ".gemini/.env",
        ".gemini/settings.json",
        ".config/opencode/opencode.json",
        ".aider.conf.yml",
        ".continue/config.yaml",
    ] {
        assert!(
            !w.home.join(f).exists(),
            "{f} was created by connect and should be gone"
        );
    }
    assert!(status(&*w.store, &w.data, &w.env)
        .iter()
        .all(|s| !s.connected));
}

#[test]
fn disconnect_after_user_edits_removes_only_what_connect_set() {
    let w = World::new();
    let p = w.put(".claude/settings.json", fixture!("claude-settings.json"));
    connect(&w.ctx(), "claude-code", &req("openai/gpt-4o-mini")).unwrap();
    // The user adds a setting and picks another haiku model by hand.
    let edited = read(&p)
        .replace(
            "\"includeCoAuthoredBy\": false",
            "\"includeCoAuthoredBy\": true",
        )
        .replace(
            "\"ANTHROPIC_DEFAULT_HAIKU_MODEL\": \"openai/gpt-4o-mini\"",
            "\"ANTHROPIC_DEFAULT_HAIKU_MODEL\": \"anthropic/claude-haiku-4-5\"",
        );
    fs::write(&p, &edited).unwrap();
    let out = disconnect(&w.ctx(), "claude-code").unwrap();
    assert_eq!(out.files[0].how, "merged");
    let v: Value = serde_json::from_str(&read(&p)).unwrap();
    assert_eq!(v["includeCoAuthoredBy"], true);
    assert_eq!(
        v["env"]["ANTHROPIC_MODEL"], "claude-sonnet-4-5",
        "the user's old value is back"
    );
    assert_eq!(
        v["env"]["ANTHROPIC_DEFAULT_HAIKU_MODEL"],
        "anthropic/claude-haiku-4-5"
    );
    assert!(v["env"].get("ANTHROPIC_AUTH_TOKEN").is_none());
    assert!(v["env"].get("ANTHROPIC_BASE_URL").is_none());
    let expected = fixture!("claude-settings.json").replace(
        "\"includeCoAuthoredBy\": false",
        "\"includeCoAuthoredBy\": true",
    );
    let expected: Value = serde_json::from_str(&expected).unwrap();
    let mut got = v.clone();
    got["env"]
        .as_object_mut()
        .unwrap()
        .remove("ANTHROPIC_DEFAULT_HAIKU_MODEL");
    assert_eq!(got, expected);
}

#[test]
fn unparseable_file_is_refused_and_untouched() {
    let w = World::new();
    let broken = "{\n  \"env\": {\n    \"A\": 1,\n";
    let p = w.put(".claude/settings.json", broken);
    let err = connect(&w.ctx(), "claude-code", &req("openai/gpt-4o-mini")).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("settings.json is not valid JSON") && msg.contains("Nothing was changed"),
        "{msg}"
    );
    assert_eq!(read(&p), broken);
    assert!(
        w.store.list_keys().unwrap().is_empty(),
        "no key made for a refused connect"
    );
    let y = w.put(".aider.conf.yml", "model: [unclosed\n");
    assert!(connect(&w.ctx(), "aider", &req("openai/gpt-4o-mini")).is_err());
    assert_eq!(read(&y), "model: [unclosed\n");
}

#[test]
fn a_lost_key_is_replaced_and_the_old_one_revoked() {
    let w = World::new();
    let p = w.put(".aider.conf.yml", fixture!("aider.conf.yml"));
    connect(&w.ctx(), "aider", &req("openai/gpt-4o-mini")).unwrap();
    let old = state::load(&w.data, "aider").unwrap().unwrap().key_hash;
    let text = read(&p);
    let without_key: String = text
        .lines()
        .filter(|l| !l.starts_with("openai-api-key"))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&p, without_key).unwrap();
    let out = connect(&w.ctx(), "aider", &Request::default()).unwrap();
    assert!(!out.key_reused);
    let keys = w.store.list_keys().unwrap();
    assert!(keys.iter().find(|k| k.hash == old).unwrap().disabled);
    assert_eq!(w.active_keys("aider"), 1);
    disconnect(&w.ctx(), "aider").unwrap();
    assert_eq!(
        read(&p),
        fixture!("aider.conf.yml"),
        "still restored: only our values were in play"
    );
}

#[test]
fn slots_models_and_key_names() {
    let w = World::new();
    let mut r = req("openai/gpt-4o-mini");
    r.slots.insert("haiku".into(), "fast".into());
    r.key_name = Some("cc-laptop".into());
    let out = connect(&w.ctx(), "claude-code", &r).unwrap();
    assert_eq!(out.key_name, "cc-laptop");
    let v: Value = serde_json::from_str(&read(&w.home.join(".claude/settings.json"))).unwrap();
    assert_eq!(v["env"]["ANTHROPIC_DEFAULT_HAIKU_MODEL"], "fast");
    assert_eq!(
        v["env"]["ANTHROPIC_DEFAULT_OPUS_MODEL"],
        "openai/gpt-4o-mini"
    );
    let mut bad = req("openai/gpt-4o-mini");
    bad.slots.insert("turbo".into(), "fast".into());
    assert!(
        format!("{:#}", connect(&w.ctx(), "claude-code", &bad).unwrap_err())
            .contains("no model slot")
    );
    assert!(connect(&w.ctx(), "codex", &req("nowhere/model")).is_err());
    // Another model later: the old model entry of opencode goes, the new one comes.
    connect(&w.ctx(), "opencode", &req("openai/gpt-4o-mini")).unwrap();
    connect(&w.ctx(), "opencode", &req("anthropic/claude-haiku-4-5")).unwrap();
    let t = read(&w.home.join(".config/opencode/opencode.json"));
    let v: Value = serde_json::from_str(&t).unwrap();
    assert_eq!(
        v["provider"]["arouter"]["models"],
        json!({"anthropic/claude-haiku-4-5": {"name": "anthropic/claude-haiku-4-5"}})
    );
}

#[test]
fn gemini_shadowing_is_explained() {
    let mut w = World::new();
    let project = w.home.join("src/app");
    fs::create_dir_all(&project).unwrap();
    fs::write(project.join(".env"), "FOO=1\n").unwrap();
    w.env.cwd = Some(project.clone());
    w.env.exported.insert("GEMINI_API_KEY".into(), "x".into());
    let s = status(&*w.store, &w.data, &w.env);
    let g = s.iter().find(|s| s.id == "gemini-cli").unwrap();
    assert_eq!(g.notes.len(), 2, "{:?}", g.notes);
    assert!(g.notes[0].contains("exported") && g.notes[1].contains("hides ~/.gemini/.env"));
}

#[cfg(unix)]
#[test]
fn symlinked_config_stays_a_symlink() {
    let w = World::new();
    let real = w.put("dotfiles/aider.yml", fixture!("aider.conf.yml"));
    std::os::unix::fs::symlink(&real, w.home.join(".aider.conf.yml")).unwrap();
    connect(&w.ctx(), "aider", &req("openai/gpt-4o-mini")).unwrap();
    assert!(fs::symlink_metadata(w.home.join(".aider.conf.yml"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(read(&real).contains("openai-api-key"));
    disconnect(&w.ctx(), "aider").unwrap();
    assert_eq!(read(&real), fixture!("aider.conf.yml"));
}

#[test]
fn chat_models_leave_out_embeddings() {
    let cfg = Config::parse(CONFIG).unwrap();
    let m = chat_models(&cfg);
    assert_eq!(m.first().map(String::as_str), Some("fast"), "aliases first");
    assert!(m.iter().any(|m| m == "openai/gpt-4o-mini"));
    let all = arouter_core::http::models::routable(&cfg);
    assert!(
        all.keys().any(|k| k.contains("text-embedding")),
        "the catalog has embeddings"
    );
    assert!(!m.iter().any(|m| m.contains("embedding")), "{m:?}");
}

#[test]
fn opencode_jsonc_is_edited_in_place() {
    let w = World::new();
    let p = w.put(".config/opencode/opencode.jsonc", fixture!("opencode.json"));
    connect(&w.ctx(), "opencode", &req("openai/gpt-4o-mini")).unwrap();
    assert!(!w.home.join(".config/opencode/opencode.json").exists());
    assert!(read(&p).contains("\"baseURL\": \"http://127.0.0.1:8402/v1\""));
    disconnect(&w.ctx(), "opencode").unwrap();
    assert_eq!(read(&p), fixture!("opencode.json"));
}
