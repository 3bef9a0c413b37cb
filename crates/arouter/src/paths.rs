//! Where ARouter keeps its files: the data dir (flag, env, or the OS per-user data dir) and
//! `config.toml` in it, written with comments on first start.

use anyhow::Context;
use arouter_core::config::{Config, STARTER_CONFIG};
use std::path::{Path, PathBuf};

/// `--data-dir` / `AROUTER_DATA_DIR`, else `~/.local/share/arouter` (or the OS equivalent).
pub fn data_dir(flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(d) = flag {
        return Ok(d);
    }
    let base = dirs::data_dir().context("cannot find the user data directory; pass --data-dir")?;
    Ok(base.join("arouter"))
}

/// `--config` / `AROUTER_CONFIG`, else `config.toml` in the data dir.
pub fn config_path(flag: Option<PathBuf>, data_dir: &Path) -> PathBuf {
    flag.unwrap_or_else(|| data_dir.join("config.toml"))
}

/// Creates the data dir and a commented config on first start, then loads and validates it.
pub fn load_or_init(data_dir: &Path, config_path: &Path) -> anyhow::Result<Config> {
    arouter_store::private::create_private_dir(data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    if !config_path.exists() {
        if let Some(parent) = config_path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(config_path, STARTER_CONFIG)
            .with_context(|| format!("writing {}", config_path.display()))?;
        tracing::info!("wrote a starter config to {}", config_path.display());
    }
    Config::load(config_path)
}

/// A file in the data dir the CLI rewrites after changing a provider credential; a running
/// router watches it and forgets its cached credentials.
pub const CREDENTIALS_CHANGED: &str = "credentials.changed";

/// Tells a running router (if any) that keychain credentials changed.
pub fn signal_credentials_changed(data_dir: &Path) {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    if let Err(e) = std::fs::write(data_dir.join(CREDENTIALS_CHANGED), stamp.to_string()) {
        tracing::warn!("cannot tell a running router about the new key: {e}");
    }
}
