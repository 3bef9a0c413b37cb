//! `arouter tools`: each known tool, whether it is installed and connected (with which key),
//! its last request and today's spend, and what could hide ARouter's settings from it.

use super::tools::{Env, Tool, TOOLS};
use super::{doc, files, key_in, state};
use crate::admin::time::window_starts;
use arouter_core::record::now_ms;
use arouter_core::store::hash_key;
use arouter_store::{ManageStore, RequestFilter};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct ToolStatus {
    pub id: &'static str,
    pub name: &'static str,
    pub installed: bool,
    /// `claude on PATH`, `~/.claude exists`.
    pub installed_because: Option<String>,
    pub connected: bool,
    /// The key in the tool's file, when ARouter knows it (active or revoked).
    pub key_name: Option<String>,
    pub key_active: bool,
    pub model: Option<String>,
    pub slots: &'static [&'static str],
    pub slot_models: BTreeMap<String, String>,
    pub files: Vec<PathBuf>,
    /// Unix ms of the key's last request, and its model.
    pub last_request_ms: Option<i64>,
    pub last_model: Option<String>,
    /// Today's (UTC) spend of the key, USD.
    pub today_usd: f64,
    /// Problems worth telling the user (a file that does not parse, a shadowing `.env`...).
    pub notes: Vec<String>,
}

fn on_path(env: &Env, bin: &str) -> bool {
    env.path.as_ref().is_some_and(|p| {
        std::env::split_paths(p).any(|d| {
            let f = d.join(bin);
            f.is_file() && is_executable(&f)
        })
    })
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_p: &Path) -> bool {
    true
}

fn tilde(env: &Env, p: &Path) -> String {
    match p.strip_prefix(&env.home) {
        Ok(rest) => format!("~/{}", rest.display()),
        Err(_) => p.display().to_string(),
    }
}

/// Gemini CLI reads only the first `.env` it finds walking up from its working directory, and
/// exported variables win over any file.
fn gemini_notes(env: &Env, notes: &mut Vec<String>) {
    for var in ["GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"] {
        if env.exported.contains_key(var) {
            notes.push(format!(
                "{var} is exported in this environment: it wins over ~/.gemini/.env, so gemini \
                 started from here does not use ARouter's value (unset it)"
            ));
        }
    }
    if env.exported.contains_key("GOOGLE_API_KEY") {
        notes.push("GOOGLE_API_KEY is exported: gemini may prefer it; unset it".into());
    }
    let Some(cwd) = &env.cwd else { return };
    for dir in cwd.ancestors() {
        if dir == env.home {
            break;
        }
        for f in [dir.join(".gemini/.env"), dir.join(".env")] {
            if f.is_file() {
                notes.push(format!(
                    "{} is found first when gemini runs in {}: it hides ~/.gemini/.env there",
                    f.display(),
                    cwd.display()
                ));
                return;
            }
        }
    }
}

fn one(store: &dyn ManageStore, data_dir: &Path, env: &Env, t: &'static Tool) -> ToolStatus {
    let mut notes = Vec::new();
    let installed_because = t
        .binaries
        .iter()
        .find(|b| on_path(env, b))
        .map(|b| format!("{b} on PATH"))
        .or_else(|| {
            let dir = (t.config_dir)(env);
            (dir != env.home && dir.is_dir()).then(|| format!("{} exists", tilde(env, &dir)))
        });
    let plan = (t.plan)(
        env,
        &super::Settings {
            base: "",
            key: "",
            model: "",
            slots: &BTreeMap::new(),
        },
    );
    let key_plan = &plan[t.key_file];
    let raw = files::read(&files::resolve(&key_plan.path))
        .ok()
        .flatten()
        .and_then(|text| match doc::parse(key_plan.format, Some(&text)) {
            Ok(d) => key_in(d.as_ref(), t),
            Err(e) => {
                notes.push(format!("{}: {e:#}", tilde(env, &key_plan.path)));
                None
            }
        });
    let key = raw.and_then(|r| {
        let h = hash_key(&r);
        store.list_keys().ok()?.into_iter().find(|k| k.hash == h)
    });
    let st = state::load(data_dir, t.id).ok().flatten();
    let (mut last_request_ms, mut last_model, mut today_usd) = (None, None, 0.0);
    if let Some(k) = &key {
        if let Ok((rows, _)) = store.list_requests(&RequestFilter {
            app: Some(k.name.clone()),
            limit: 1,
            ..RequestFilter::default()
        }) {
            if let Some(r) = rows.first() {
                last_request_ms = Some(r.record.created_ms);
                last_model = Some(r.record.served_model.clone());
            }
        }
        if let Ok(u) = store.key_usage(&k.hash, &window_starts(now_ms())) {
            today_usd = arouter_core::catalog::pusd_to_usd(u.daily_pusd);
        }
    }
    if t.id == "gemini-cli" {
        gemini_notes(env, &mut notes);
        if key.as_ref().is_some_and(|k| !k.disabled) {
            notes.push(
                "gemini reads ~/.gemini/.env only in folders it trusts (headless runs need                  GEMINI_CLI_TRUST_WORKSPACE=true)"
                    .into(),
            );
        }
    }
    ToolStatus {
        id: t.id,
        name: t.name,
        installed: installed_because.is_some(),
        installed_because,
        connected: key.as_ref().is_some_and(|k| !k.disabled),
        key_active: key.as_ref().is_some_and(|k| !k.disabled),
        key_name: key.map(|k| k.name),
        model: st.as_ref().and_then(|s| s.model.clone()),
        slots: t.slots,
        slot_models: st.map(|s| s.slots).unwrap_or_default(),
        files: plan.iter().map(|f| f.path.clone()).collect(),
        last_request_ms,
        last_model,
        today_usd,
        notes,
    }
}

/// Every known tool, in a fixed order.
pub fn status(store: &dyn ManageStore, data_dir: &Path, env: &Env) -> Vec<ToolStatus> {
    store.flush();
    TOOLS.iter().map(|t| one(store, data_dir, env, t)).collect()
}
