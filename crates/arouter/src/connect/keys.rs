//! A connected tool's app key: reused while the tool's file still holds a live one, else a new
//! key named after the tool, with the tool's old key revoked (only hashes are stored, so an
//! old key's secret cannot be written again).

use super::state::ToolState;
use anyhow::{bail, Result};
use arouter_core::store::{hash_key, KeyInfo};
use arouter_store::{KeyPatch, ManageStore};

/// The key to write: `(raw, info, reused)`.
pub fn ensure(
    store: &dyn ManageStore,
    in_file: Option<&str>,
    name: &str,
    prior: Option<&ToolState>,
) -> Result<(String, KeyInfo, bool)> {
    let keys = store.list_keys()?;
    if let Some(raw) = in_file {
        let hash = hash_key(raw);
        if let Some(k) = keys
            .iter()
            .find(|k| k.hash == hash && !k.disabled && !k.admin && k.name == name)
        {
            return Ok((raw.to_string(), k.clone(), true));
        }
    }
    if let Some(k) = keys.iter().find(|k| k.name == name) {
        if k.admin {
            bail!("\"{name}\" is the name of an admin key; pick another with --key-name");
        }
        retire(store, &k.hash)?;
    }
    if let Some(p) = prior {
        retire(store, &p.key_hash)?;
    }
    let (raw, info) = store.create_key(name, false, None, None)?;
    Ok((raw, info, false))
}

/// Revokes a key and frees its name for the next one (`NAME~1a2b3c4d`). `false` if it was
/// already revoked or is gone.
pub fn retire(store: &dyn ManageStore, hash: &str) -> Result<bool> {
    let Some(k) = store.list_keys()?.into_iter().find(|k| k.hash == hash) else {
        return Ok(false);
    };
    if k.disabled {
        return Ok(false);
    }
    let patch = KeyPatch {
        name: Some(format!("{}~{}", k.name, &k.hash[..8.min(k.hash.len())])),
        disabled: Some(true),
        ..KeyPatch::default()
    };
    store.update_key(hash, &patch)?;
    Ok(true)
}
