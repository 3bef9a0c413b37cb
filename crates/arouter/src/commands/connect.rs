//! `arouter connect`, `disconnect` and `tools`: the CLI face of [`arouter::connect`].

use super::Ctx;
use anyhow::{anyhow, Result};
use arouter::connect::{self, Env, Request};
use clap::Args;
use std::collections::BTreeMap;

#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The tool's main model: an ARouter model id or alias (default: the last one used for
    /// this tool, else default_model)
    #[arg(long)]
    model: Option<String>,
    /// A model slot, NAME=MODEL, repeatable (Claude Code: opus, sonnet, haiku, subagent)
    #[arg(long = "slot", value_name = "NAME=MODEL")]
    slots: Vec<String>,
    /// Name of the tool's app key (default: the tool's id)
    #[arg(long)]
    key_name: Option<String>,
    /// The port tools should call (default: the configured one)
    #[arg(long, env = "AROUTER_PORT")]
    port: Option<u16>,
}

impl Ctx {
    fn base_url(&self, port: Option<u16>) -> String {
        let port = port.unwrap_or(self.cfg.server.port);
        let host = match self.cfg.server.host.as_str() {
            "0.0.0.0" | "::" | "" => "127.0.0.1",
            h => h,
        };
        if host.contains(':') {
            format!("http://[{host}]:{port}")
        } else {
            format!("http://{host}:{port}")
        }
    }

    fn connect_ctx<'a>(&'a self, env: &'a Env, port: Option<u16>) -> connect::Ctx<'a> {
        connect::Ctx {
            store: &*self.store,
            data_dir: &self.data_dir,
            cfg: &self.cfg,
            base: self.base_url(port),
            env,
        }
    }

    pub fn connect(&self, tool: &str, args: ConnectArgs) -> Result<()> {
        let mut slots = BTreeMap::new();
        for s in &args.slots {
            let (k, v) = s
                .split_once('=')
                .ok_or_else(|| anyhow!("--slot {s}: expected NAME=MODEL"))?;
            slots.insert(k.trim().to_string(), v.trim().to_string());
        }
        let env = Env::current()?;
        let req = Request {
            model: args.model,
            slots,
            key_name: args.key_name,
        };
        let out = connect::connect(&self.connect_ctx(&env, args.port), tool, &req)?;
        for f in &out.files {
            let what = if f.changed { "updated" } else { "unchanged" };
            println!("{what:<9} {}", f.path.display());
            if let Some(b) = &f.backup {
                println!("          (original kept in {})", b.display());
            }
        }
        println!(
            "{tool} → {} with key \"{}\" ({})",
            self.base_url(args.port),
            out.key_name,
            if out.key_reused { "kept" } else { "new" }
        );
        if let Some(m) = &out.model {
            println!("model: {m}");
        }
        Ok(())
    }

    pub fn disconnect(&self, tool: &str) -> Result<()> {
        let env = Env::current()?;
        let out = connect::disconnect(&self.connect_ctx(&env, None), tool)?;
        for f in &out.files {
            println!("{:<9} {}", f.how, f.path.display());
        }
        if out.key_reused {
            println!("revoked key \"{}\"", out.key_name);
        }
        Ok(())
    }

    pub fn tools(&self) -> Result<()> {
        let env = Env::current()?;
        let list = connect::status(&*self.store, &self.data_dir, &env);
        println!(
            "{:<12} {:<10} {:<24} {:<28} {:<20} {:>10}",
            "TOOL", "INSTALLED", "CONNECTED (KEY)", "MODEL", "LAST REQUEST", "TODAY USD"
        );
        for t in &list {
            let connected = match (&t.key_name, t.connected) {
                (Some(k), true) => format!("yes ({k})"),
                (Some(k), false) => format!("no (revoked {k})"),
                (None, _) => "no".into(),
            };
            let last = t.last_request_ms.map_or("-".into(), |ms| {
                crate::commands::connect::ago(arouter_core::record::now_ms() - ms)
            });
            println!(
                "{:<12} {:<10} {:<24} {:<28} {:<20} {:>10.4}",
                t.id,
                if t.installed { "yes" } else { "no" },
                connected,
                t.model.as_deref().unwrap_or("-"),
                last,
                t.today_usd
            );
            for n in &t.notes {
                println!("  note: {n}");
            }
        }
        println!(
            "\nGUI editors (Cursor and the like): OpenAI base URL {}/v1, a key from \
             `arouter keys create --name cursor`, a model id from `arouter models`.",
            self.base_url(None)
        );
        Ok(())
    }
}

/// `42s ago`, `5m ago`, `3h ago`, `2d ago`.
pub fn ago(ms: i64) -> String {
    let s = (ms / 1000).max(0);
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}
