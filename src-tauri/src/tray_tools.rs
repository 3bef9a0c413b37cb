//! The tray's Tools submenu: one check item per agent CLI (checked = connected); choosing it
//! connects the tool to this router with the default model, or disconnects it.

use crate::router::Running;
use arouter::connect::{self, Env, Request};

/// (tool id, menu label, connected) for every known tool.
pub fn items(r: &Running) -> Vec<(String, String, bool)> {
    let Ok(env) = Env::current() else {
        return Vec::new();
    };
    connect::status(&*r.store, &r.app.data_dir, &env)
        .into_iter()
        .map(|s| {
            let label = match (&s.model, s.connected, s.installed) {
                (Some(m), true, _) => format!("{} — {m}", s.name),
                (_, true, _) => s.name.to_string(),
                (_, false, true) => format!("{} (installed)", s.name),
                (_, false, false) => s.name.to_string(),
            };
            (s.id.to_string(), label, s.connected)
        })
        .collect()
}

/// Connects or disconnects `id`; the message says what happened.
pub fn toggle(r: &Running, id: &str) -> Result<String, String> {
    let env = Env::current().map_err(|e| format!("{e:#}"))?;
    let cfg = r.app.config();
    let ctx = connect::Ctx {
        store: &*r.store,
        data_dir: &r.app.data_dir,
        cfg: &cfg,
        base: r.base_url.clone(),
        env: &env,
    };
    let connected = connect::status(&*r.store, &r.app.data_dir, &env)
        .iter()
        .any(|s| s.id == id && s.connected);
    if connected {
        let out = connect::disconnect(&ctx, id).map_err(|e| format!("{e:#}"))?;
        Ok(format!("{} disconnected; its files are restored", out.tool))
    } else {
        let out = connect::connect(&ctx, id, &Request::default()).map_err(|e| format!("{e:#}"))?;
        Ok(format!(
            "{} now uses ARouter ({}) with key \"{}\"",
            out.tool,
            out.model.unwrap_or_default(),
            out.key_name
        ))
    }
}
