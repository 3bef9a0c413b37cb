//! The CLI commands: each opens the data dir itself, so they work beside a running server.

use anyhow::{bail, Context};
use arouter::paths;
use arouter::server::{self, ServeOptions};
use arouter_core::catalog::{pusd_to_decimal, usd_to_pusd};
use arouter_core::config::Config;
use arouter_core::store::{KeyInfo, Secrets};
use arouter_store::{GroupBy, KeyringSecrets, ManageStore, PgStore, SqliteStore};
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

mod connect;
pub use connect::ConnectArgs;

pub fn serve(
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
    host: Option<String>,
    port: Option<u16>,
    public: bool,
) -> anyhow::Result<()> {
    let data_dir = paths::data_dir(data_dir)?;
    let config_path = paths::config_path(config, &data_dir);
    let mut cfg = paths::load_or_init(&data_dir, &config_path)?;
    if let Some(h) = host {
        cfg.server.host = h;
    }
    if let Some(p) = port {
        cfg.server.port = p;
    }
    if public {
        cfg.server.public = true;
    }
    let scheme = if cfg.server.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let bound = server::bind_any(ServeOptions {
            data_dir: data_dir.clone(),
            config_path,
            config: cfg,
        })
        .await?;
        let base = format!("{scheme}://{}", bound.addr());
        println!("arouter listening on {base}");
        println!("  OpenAI base URL:    {base}/v1");
        println!("  Anthropic base URL: {base}");
        println!("  Gemini base URL:    {base}");
        println!("  data dir:           {}", data_dir.display());
        if let server::Serving::Team(_) = &bound {
            println!("  storage:            PostgreSQL (team mode)");
        }
        tracing::info!("ready on {base}");
        server::run_any(bound, server::shutdown_signal()).await
    })
}

/// `keys create`'s settings, the same as `POST /api/v1/keys`.
pub struct NewKey<'a> {
    pub name: &'a str,
    pub admin: bool,
    pub rpm: Option<u32>,
    pub limit_usd: Option<f64>,
    pub limit_reset: Option<&'a str>,
    /// `None`: the default (allowed without a budget).
    pub proxy: Option<bool>,
}

/// `arouter migrate --to URL`: copies the data dir's SQLite history into PostgreSQL.
pub fn migrate(data_dir: Option<PathBuf>, config: Option<PathBuf>, to: &str) -> anyhow::Result<()> {
    let data_dir = paths::data_dir(data_dir)?;
    let config_path = paths::config_path(config, &data_dir);
    paths::load_or_init(&data_dir, &config_path)?;
    let db = arouter_store::db_path(&data_dir);
    if !db.exists() {
        bail!("no SQLite history at {}", db.display());
    }
    // Opening migrates the SQLite file to this build's schema (rollups, columns) first.
    drop(SqliteStore::open(&db)?);
    let target = PgStore::open(to)?;
    let (before, after) = target.import_sqlite(&db)?;
    target.shutdown();
    println!("{:<16} {:>16} {:>16}", "", "SQLite", "PostgreSQL");
    for (name, a, b) in [
        ("keys", before.keys, after.keys),
        ("requests", before.requests, after.requests),
        ("cost (USD)", before.cost_pusd, after.cost_pusd),
        ("input tokens", before.input_tokens, after.input_tokens),
        ("output tokens", before.output_tokens, after.output_tokens),
        ("stored bodies", before.bodies, after.bodies),
        ("credits", before.credits, after.credits),
        ("credits (USD)", before.credits_pusd, after.credits_pusd),
        ("batches", before.batches, after.batches),
        (
            "batch requests",
            before.batch_requests,
            after.batch_requests,
        ),
        ("days", before.days.len() as i64, after.days.len() as i64),
    ] {
        let (a, b) = if name.ends_with("(USD)") {
            (
                format!("${}", pusd_to_decimal(a)),
                format!("${}", pusd_to_decimal(b)),
            )
        } else {
            (a.to_string(), b.to_string())
        };
        println!("{name:<16} {a:>16} {b:>16}");
    }
    println!(
        "copied; figures equal. Point every instance at it: [storage] url = \"{}\"",
        arouter_store::pg::redact_url(to)
    );
    Ok(())
}

/// What the non-serve commands share: paths, config, ledger.
pub struct Ctx {
    data_dir: PathBuf,
    cfg: Config,
    store: Arc<SqliteStore>,
    /// Team mode's shared store: keys live there, not in the SQLite file.
    team: Option<Arc<PgStore>>,
}

/// The message for commands that read history team mode does not keep in SQLite.
const NOT_IN_TEAM_MODE: &str = "not available in team mode (PostgreSQL storage) yet: this \
     command works on the local SQLite file (keys: arouter keys …)";

impl Ctx {
    /// Fails in team mode for commands that still work on the local SQLite file only.
    pub(crate) fn refuse_in_team_mode(&self) -> anyhow::Result<()> {
        if self.team.is_some() {
            bail!(NOT_IN_TEAM_MODE);
        }
        Ok(())
    }

    pub fn open(data_dir: Option<PathBuf>, config: Option<PathBuf>) -> anyhow::Result<Ctx> {
        let data_dir = paths::data_dir(data_dir)?;
        let config_path = paths::config_path(config, &data_dir);
        let cfg = paths::load_or_init(&data_dir, &config_path)?;
        let store = SqliteStore::open(&arouter_store::db_path(&data_dir))?;
        let team = match cfg.storage.effective_url() {
            Some(url) => Some(PgStore::open_with(&url, cfg.storage.listen)?),
            None => None,
        };
        Ok(Ctx {
            data_dir,
            cfg,
            store,
            team,
        })
    }

    pub fn keys_create(&self, k: NewKey<'_>) -> anyhow::Result<()> {
        if let Some(b) = k.limit_usd {
            if !(b.is_finite() && b >= 0.0) {
                bail!("--limit-usd must be a non-negative number of USD");
            }
        }
        let existing = match &self.team {
            Some(team) => team.list_keys()?,
            None => self.store.list_keys()?,
        };
        if existing.iter().any(|x| x.name == k.name) {
            bail!("a key named \"{}\" already exists", k.name);
        }
        let limit = k.limit_usd.map(usd_to_pusd);
        let (raw, info) = match &self.team {
            Some(team) => {
                if k.limit_reset.is_some() || k.proxy.is_some() {
                    bail!(
                        "--limit-reset and --proxy/--no-proxy are not available in team mode yet \
                         (keys in PostgreSQL take a name, admin, --rpm and --limit-usd)"
                    );
                }
                team.create_key(k.name, k.admin, k.rpm, limit)?
            }
            None => {
                let (raw, info) = self.store.create_key(k.name, k.admin, k.rpm, limit)?;
                if k.limit_reset.is_some() {
                    self.store.set_key_limit_reset(&info.hash, k.limit_reset)?;
                }
                if k.proxy.is_some() {
                    self.store.set_key_proxy(&info.hash, k.proxy)?;
                }
                (raw, info)
            }
        };
        let info = KeyInfo {
            proxy: k.proxy,
            ..info
        };
        let mut traits = vec![if info.admin { "admin" } else { "app" }.to_string()];
        if let Some(l) = info.limit_pusd {
            let reset = k.limit_reset.map_or(String::new(), |r| format!(" {r}"));
            traits.push(format!("budget ${}{reset}", pusd_to_decimal(l)));
        }
        if let Some(r) = info.rpm {
            traits.push(format!("{r} rpm"));
        }
        traits.push(
            if info.may_proxy() {
                "proxy allowed"
            } else {
                "no proxy"
            }
            .into(),
        );
        eprintln!(
            "created key \"{}\" ({}; {}). It is shown only once:",
            info.name,
            &info.hash[..12],
            traits.join(", ")
        );
        println!("{raw}");
        Ok(())
    }

    pub fn keys_list(&self) -> anyhow::Result<()> {
        let keys = match &self.team {
            Some(team) => team.list_keys()?,
            None => self.store.list_keys()?,
        };
        if keys.is_empty() {
            println!("no keys yet: arouter keys create --name myapp");
            return Ok(());
        }
        println!(
            "{:<24} {:<16} {:<6} {:<9} {:>6} {:>10} {:<8} {:<5}",
            "NAME", "LABEL", "ADMIN", "STATUS", "RPM", "BUDGET", "RESETS", "PROXY"
        );
        for k in keys {
            println!(
                "{:<24} {:<16} {:<6} {:<9} {:>6} {:>10} {:<8} {:<5}",
                k.name,
                match &self.team {
                    Some(team) => team.key_label(&k.hash),
                    None => self.store.key_label(&k.hash),
                }
                .unwrap_or_default(),
                if k.admin { "yes" } else { "no" },
                if k.disabled { "revoked" } else { "active" },
                k.rpm.map_or("-".into(), |r| r.to_string()),
                k.limit_pusd
                    .map_or("-".into(), |l| format!("${}", pusd_to_decimal(l))),
                k.limit_reset.map_or("-", |r| r.as_str()),
                if k.may_proxy() { "yes" } else { "no" },
            );
        }
        Ok(())
    }

    pub fn keys_revoke(&self, name: &str) -> anyhow::Result<()> {
        let revoked = match &self.team {
            Some(team) => team.revoke_key(name)?,
            None => self.store.revoke_key(name)?,
        };
        if revoked {
            println!("revoked {name}");
            Ok(())
        } else {
            bail!("no key named {name}")
        }
    }

    pub fn providers_list(&self) -> anyhow::Result<()> {
        let secrets = KeyringSecrets::new();
        let keychain = KeyringSecrets::probe();
        if let Err(msg) = &keychain {
            eprintln!("note: {msg}");
        }
        println!("{:<16} {:<10} {:<44} CREDENTIAL", "ID", "KIND", "BASE URL");
        for p in self.cfg.providers.values() {
            let env = p
                .api_key_env
                .as_ref()
                .filter(|v| std::env::var(v).is_ok_and(|s| !s.is_empty()));
            let cred = if let Some(var) = env {
                format!("yes (env {var})")
            } else if keychain.is_ok() && secrets.get(&p.id).ok().flatten().is_some() {
                "yes (keychain)".to_string()
            } else if arouter_core::catalog::is_local(p) {
                "not needed (local)".to_string()
            } else {
                match &p.api_key_env {
                    Some(var) => {
                        format!("no (set {var} or run: arouter providers set-key {})", p.id)
                    }
                    None => format!("no (run: arouter providers set-key {})", p.id),
                }
            };
            println!(
                "{:<16} {:<10} {:<44} {cred}",
                p.id,
                p.kind.as_str(),
                p.base_url
            );
        }
        Ok(())
    }

    pub fn providers_set_key(&self, id: &str) -> anyhow::Result<()> {
        if !self.cfg.providers.contains_key(id) {
            bail!("no provider \"{id}\" in the config");
        }
        KeyringSecrets::probe().map_err(|m| anyhow::anyhow!(m))?;
        let mut key = String::new();
        std::io::stdin()
            .read_to_string(&mut key)
            .context("reading the key from stdin")?;
        let key = key.trim();
        if key.is_empty() {
            bail!("no key on stdin (usage: echo \"$KEY\" | arouter providers set-key {id})");
        }
        KeyringSecrets::new()
            .set(id, key)
            .map_err(|m| anyhow::anyhow!(m))?;
        paths::signal_credentials_changed(&self.data_dir);
        println!("stored the key for {id} in the OS keychain");
        Ok(())
    }

    pub fn credits_add(&self, usd: f64, note: Option<&str>) -> anyhow::Result<()> {
        self.refuse_in_team_mode()?;
        if !(usd.is_finite() && usd > 0.0) {
            bail!("the amount must be a positive number of USD");
        }
        let credit = self
            .store
            .add_credit(usd_to_pusd(usd), note.unwrap_or(""))?;
        let total = self.store.credits_total()?;
        let remaining = total - self.store.usage_total()?;
        println!(
            "added ${} (credit-{}); credits ${}, remaining ${}",
            pusd_to_decimal(credit.amount_pusd),
            credit.id,
            pusd_to_decimal(total),
            pusd_to_decimal(remaining)
        );
        Ok(())
    }

    pub fn models(&self) -> anyhow::Result<()> {
        use arouter_core::catalog::live;
        match live::load_cache(&self.data_dir) {
            Ok(cache) => live::install(&self.cfg.providers, &cache),
            Err(e) => eprintln!("note: {e}; using the bundled catalog"),
        }
        let models = arouter_core::http::models::routable(&self.cfg);
        for (id, (pricing, _)) in &models {
            let price = if pricing.priced {
                format!(
                    "${}/M in, ${}/M out",
                    pusd_to_decimal(pricing.prices.input * 1_000_000),
                    pusd_to_decimal(pricing.prices.output * 1_000_000)
                )
            } else {
                "unpriced".to_string()
            };
            println!("{id:<48} {price}");
        }
        Ok(())
    }

    /// Refreshes the model lists here (the running server picks the cache file up).
    pub fn models_refresh(&self) -> anyhow::Result<()> {
        use arouter_core::catalog::refresh;
        let app = arouter_core::app::App::new(
            self.cfg.clone(),
            self.data_dir.join("config.toml"),
            self.data_dir.clone(),
            self.store.clone(),
            Arc::new(KeyringSecrets::new()),
        )?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let report = rt.block_on(refresh::refresh_all(&app));
        for p in &report.providers {
            match &p.error {
                None => println!(
                    "{:<16} {} models, {} with prices",
                    p.provider, p.models, p.priced
                ),
                Some(e) => println!("{:<16} not refreshed: {e}", p.provider),
            }
        }
        if report.all_failed() || report.providers.is_empty() {
            bail!("model refresh failed; nothing changed (the cached lists and the bundled catalog stay in use)");
        }
        println!("cache: {}", report.cache);
        Ok(())
    }

    pub fn usage(&self, since: &str, by: &str) -> anyhow::Result<()> {
        self.refuse_in_team_mode()?;
        let since_ms = parse_since(since)?;
        let by: GroupBy = by.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        let rows = self.store.usage_summary(since_ms, by)?;
        let _ = &self.data_dir;
        if rows.is_empty() {
            println!("no requests since {since}");
            return Ok(());
        }
        println!(
            "{:<32} {:>8} {:>7} {:>12} {:>12} {:>14}",
            format!("{by:?}").to_uppercase(),
            "REQUESTS",
            "ERRORS",
            "PROMPT",
            "COMPLETION",
            "COST (USD)"
        );
        let mut total = (0i64, 0i64, 0i64, 0i64, 0i64);
        for r in &rows {
            let flag = if r.unpriced > 0 { " *" } else { "" };
            println!(
                "{:<32} {:>8} {:>7} {:>12} {:>12} {:>14}{flag}",
                truncate(&r.group, 32),
                r.requests,
                r.errors,
                r.input_tokens,
                r.output_tokens,
                pusd_to_decimal(r.cost_pusd)
            );
            total.0 += r.requests;
            total.1 += r.errors;
            total.2 += r.input_tokens;
            total.3 += r.output_tokens;
            total.4 += r.cost_pusd;
        }
        println!(
            "{:<32} {:>8} {:>7} {:>12} {:>12} {:>14}",
            "TOTAL",
            total.0,
            total.1,
            total.2,
            total.3,
            pusd_to_decimal(total.4)
        );
        let unpriced: i64 = rows.iter().map(|r| r.unpriced).sum();
        if unpriced > 0 {
            println!(
                "* {unpriced} unpriced request{} (models without a known price): not in COST, \
                 which covers priced requests only",
                if unpriced == 1 { "" } else { "s" }
            );
        }
        Ok(())
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}

/// `30m`, `24h`, `7d`, `4w` → unix ms of that long ago.
fn parse_since(s: &str) -> anyhow::Result<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("--since {s}: expected like 30m, 24h, 7d"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => bail!("--since {s}: unit must be s, m, h, d or w"),
    };
    Ok(arouter_core::record::now_ms() - n * secs * 1000)
}
