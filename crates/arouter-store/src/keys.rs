//! The `keys` table (create, list, edit, revoke, delete) and the in-memory cache the router reads.

use anyhow::{bail, Result};
use arouter_core::store::{generate_key, hash_key, KeyInfo, LimitReset};
use parking_lot::RwLock;
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

const KEY_COLUMNS: &str =
    "hash, name, admin, disabled, rpm, limit_pusd, limit_reset, created_at, proxy";

/// The provider-proxy permission per key: NULL = the default (allowed for keys without a
/// budget), 0 = refused, 1 = granted.
pub(crate) const PROXY_MIGRATION: &str = "ALTER TABLE keys ADD COLUMN proxy INTEGER NULL;";

/// Changes to a key; `None` leaves a field as it is (`Some(None)` clears a limit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub disabled: Option<bool>,
    pub rpm: Option<Option<u32>>,
    pub limit_pusd: Option<Option<i64>>,
}

/// Keys by hash, as the router's auth sees them. Swapped whole on reload.
pub(crate) struct KeyCache {
    keys: RwLock<HashMap<String, KeyInfo>>,
    /// Bumped by every reload: a negative answer is good until the keys change.
    generation: std::sync::atomic::AtomicU64,
    /// Hashes looked up and not found, with the generation they were missed at.
    misses: parking_lot::Mutex<HashMap<String, u64>>,
    /// Token bucket for re-reads caused by misses: (tokens left, when last refilled).
    miss_reloads: parking_lot::Mutex<(f64, std::time::Instant)>,
}

/// Misses remembered at most (an attacker cycling keys just refills it).
const MAX_MISSES: usize = 4096;
/// Re-reads caused by misses: a bucket of this many, refilled at [`MISS_RELOADS_PER_SEC`].
/// Unknown keys from a web page (`<img src=…?key=x>`) cannot turn into a database read per
/// request, while a key made a moment ago (one miss, soon after another) still gets its re-read.
const MISS_RELOAD_BURST: f64 = 5.0;
const MISS_RELOADS_PER_SEC: f64 = 10.0;

impl Default for KeyCache {
    fn default() -> Self {
        KeyCache {
            keys: RwLock::new(HashMap::new()),
            generation: std::sync::atomic::AtomicU64::new(0),
            misses: parking_lot::Mutex::new(HashMap::new()),
            miss_reloads: parking_lot::Mutex::new((MISS_RELOAD_BURST, std::time::Instant::now())),
        }
    }
}

impl KeyCache {
    pub(crate) fn get(&self, hash: &str) -> Option<KeyInfo> {
        self.keys.read().get(hash).cloned()
    }

    /// Installs a fresh key list; forgets every remembered miss (a key created anywhere, by
    /// the API, the CLI or another instance, works at once).
    pub(crate) fn replace(&self, keys: Vec<KeyInfo>) {
        let map: HashMap<String, KeyInfo> = keys.into_iter().map(|k| (k.hash.clone(), k)).collect();
        *self.keys.write() = map;
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.misses.lock().clear();
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a miss for `hash` should re-read the table: not if it already missed since the
    /// last reload, nor when misses have used up their re-reads (at most 10 a second, bursts of 5).
    pub(crate) fn should_reload_for(&self, hash: &str) -> bool {
        let gen = self.generation();
        if self.misses.lock().get(hash) == Some(&gen) {
            return false;
        }
        let mut bucket = self.miss_reloads.lock();
        let now = std::time::Instant::now();
        let refill = now.duration_since(bucket.1).as_secs_f64() * MISS_RELOADS_PER_SEC;
        bucket.0 = (bucket.0 + refill).min(MISS_RELOAD_BURST);
        bucket.1 = now;
        if bucket.0 < 1.0 {
            return false;
        }
        bucket.0 -= 1.0;
        true
    }

    /// Remembers that `hash` is unknown as of the current keys.
    pub(crate) fn remember_miss(&self, hash: &str) {
        let gen = self.generation();
        let mut misses = self.misses.lock();
        if misses.len() >= MAX_MISSES {
            misses.clear();
        }
        misses.insert(hash.to_string(), gen);
    }
}

/// The displayable form of a raw key: first 8 chars, "...", last 3 chars.
pub fn mask_key(raw: &str) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= 11 {
        return "...".to_string();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 3..].iter().collect();
    format!("{head}...{tail}")
}

pub(crate) fn unix_now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn key_from_row(row: &Row) -> rusqlite::Result<KeyInfo> {
    let rpm: Option<i64> = row.get("rpm")?;
    let reset: Option<String> = row.get("limit_reset")?;
    Ok(KeyInfo {
        hash: row.get("hash")?,
        name: row.get("name")?,
        admin: row.get("admin")?,
        disabled: row.get("disabled")?,
        rpm: rpm.and_then(|v| u32::try_from(v).ok()),
        limit_pusd: row.get("limit_pusd")?,
        limit_reset: reset.as_deref().and_then(LimitReset::parse),
        created_at: row.get("created_at")?,
        proxy: row.get("proxy")?,
    })
}

/// Every key, oldest first.
pub(crate) fn load_all(conn: &Connection) -> rusqlite::Result<Vec<KeyInfo>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM keys ORDER BY created_at, name"
    ))?;
    let rows = stmt.query_map([], key_from_row)?;
    rows.collect()
}

fn load_one(conn: &Connection, hash: &str) -> rusqlite::Result<Option<KeyInfo>> {
    conn.query_row(
        &format!("SELECT {KEY_COLUMNS} FROM keys WHERE hash = ?1"),
        [hash],
        key_from_row,
    )
    .optional()
}

fn validate(name: &str, limit_pusd: Option<i64>) -> Result<()> {
    if name.trim().is_empty() {
        bail!("a key name must not be empty");
    }
    if limit_pusd.is_some_and(|l| l < 0) {
        bail!("a key budget must not be negative");
    }
    Ok(())
}

fn is_unique_violation(err: &rusqlite::Error) -> bool {
    matches!(err, rusqlite::Error::SqliteFailure(e, _)
        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

/// Creates a key; returns the raw key (shown once, never stored) and its info.
pub(crate) fn create(
    conn: &Connection,
    name: &str,
    admin: bool,
    rpm: Option<u32>,
    limit_pusd: Option<i64>,
) -> Result<(String, KeyInfo)> {
    validate(name, limit_pusd)?;
    let raw = generate_key();
    let info = KeyInfo {
        hash: hash_key(&raw),
        name: name.to_string(),
        admin,
        disabled: false,
        rpm,
        limit_pusd,
        limit_reset: None,
        created_at: unix_now_s(),
        proxy: None,
    };
    let inserted = conn.execute(
        "INSERT INTO keys (hash, name, label, admin, disabled, rpm, limit_pusd, created_at, \
         updated_at) VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7, ?7)",
        params![
            info.hash,
            info.name,
            mask_key(&raw),
            info.admin,
            info.rpm,
            info.limit_pusd,
            info.created_at
        ],
    );
    match inserted {
        Ok(_) => Ok((raw, info)),
        Err(e) if is_unique_violation(&e) => bail!("a key named {name} already exists"),
        Err(e) => Err(e.into()),
    }
}

/// Applies `patch` to the key with this hash; `None` if there is no such key.
pub(crate) fn update(conn: &Connection, hash: &str, patch: &KeyPatch) -> Result<Option<KeyInfo>> {
    let Some(mut key) = load_one(conn, hash)? else {
        return Ok(None);
    };
    if let Some(name) = &patch.name {
        key.name = name.clone();
    }
    if let Some(disabled) = patch.disabled {
        key.disabled = disabled;
    }
    if let Some(rpm) = patch.rpm {
        key.rpm = rpm;
    }
    if let Some(limit) = patch.limit_pusd {
        key.limit_pusd = limit;
    }
    validate(&key.name, key.limit_pusd)?;
    let updated = conn.execute(
        "UPDATE keys SET name = ?2, disabled = ?3, rpm = ?4, limit_pusd = ?5, updated_at = ?6 \
         WHERE hash = ?1",
        params![
            key.hash,
            key.name,
            key.disabled,
            key.rpm,
            key.limit_pusd,
            unix_now_s()
        ],
    );
    match updated {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(key)),
        Err(e) if is_unique_violation(&e) => bail!("a key named {} already exists", key.name),
        Err(e) => Err(e.into()),
    }
}

/// Disables the key with this name or hash; `false` if none matched.
pub(crate) fn revoke(conn: &Connection, name_or_hash: &str) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE keys SET disabled = 1, updated_at = ?2 WHERE name = ?1 OR hash = ?1",
        params![name_or_hash, unix_now_s()],
    )?;
    Ok(changed > 0)
}

/// Removes the key with this hash; its ledger rows stay. `false` if there was none.
pub(crate) fn delete(conn: &Connection, hash: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM keys WHERE hash = ?1", [hash])? > 0)
}

/// The masked key (`sk-ar-12...abc`) for display.
pub(crate) fn label(conn: &Connection, hash: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT label FROM keys WHERE hash = ?1", [hash], |row| {
        row.get(0)
    })
    .optional()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_keeps_head_and_tail_only() {
        let raw = "sk-ar-0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(mask_key(raw), "sk-ar-01...def");
        assert_eq!(mask_key("short"), "...");
    }

    #[test]
    fn validation_rejects_empty_names_and_negative_budgets() {
        assert!(validate("  ", None).is_err());
        assert!(validate("app", Some(-1)).is_err());
        assert!(validate("app", Some(0)).is_ok());
    }
}
