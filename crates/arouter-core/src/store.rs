//! What the router needs from persistence, as traits: the key store, the usage ledger and
//! the secrets store. `arouter-store` implements them over SQLite and the OS keychain; the
//! in-memory versions here serve unit tests.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::limits::RateDecision;

/// An authenticated API key as the router sees it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    /// sha256 hex of the raw key: the key's public id.
    pub hash: String,
    pub name: String,
    pub admin: bool,
    pub disabled: bool,
    /// Requests per minute; `None` = unlimited.
    pub rpm: Option<u32>,
    /// USD budget in pico-USD; `None` = unlimited.
    pub limit_pusd: Option<i64>,
    /// How often the budget starts over; `None` = never (a lifetime limit).
    #[serde(default)]
    pub limit_reset: Option<LimitReset>,
    pub created_at: i64,
    /// May this key use the provider proxy (`/{provider}/…`)? `None` = the default: yes for a
    /// key without a budget, no for a budgeted one (its spend there can be unpriced).
    #[serde(default)]
    pub proxy: Option<bool>,
}

impl KeyInfo {
    /// Whether the provider proxy is open to this key.
    pub fn may_proxy(&self) -> bool {
        self.proxy.unwrap_or(self.limit_pusd.is_none())
    }
}

/// A budget's reset period (OpenRouter's key `limit_reset`), in UTC calendar units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimitReset {
    Daily,
    Weekly,
    Monthly,
}

impl LimitReset {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "daily" => LimitReset::Daily,
            "weekly" => LimitReset::Weekly,
            "monthly" => LimitReset::Monthly,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LimitReset::Daily => "daily",
            LimitReset::Weekly => "weekly",
            LimitReset::Monthly => "monthly",
        }
    }
}

/// One request's ledger row. Money is integer pico-USD (1e-12 USD): exact sums, no floats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    /// `gen-…` id returned to the client.
    pub id: String,
    /// Unix milliseconds when the request arrived.
    pub created_ms: i64,
    pub app: String,
    pub key_hash: String,
    /// The inbound surface: "openai", "anthropic", "gemini", "proxy".
    pub surface: String,
    /// The endpoint kind: "chat", "completions", "embeddings", "messages", …
    pub endpoint: String,
    pub requested_model: String,
    /// The ARouter id that served it (`provider/model`), empty if none did.
    pub served_model: String,
    pub provider: String,
    pub usage: crate::model::Usage,
    pub cost_pusd: i64,
    /// Whether the model had a known price.
    pub priced: bool,
    pub latency_ms: i64,
    /// Time to first token/byte for streams, whole generation time otherwise.
    pub ttft_ms: Option<i64>,
    pub streamed: bool,
    pub finish_reason: Option<String>,
    pub native_finish_reason: Option<String>,
    /// HTTP status returned to the client (200 for a stream that began).
    pub status: u16,
    pub error: Option<String>,
    /// Attempt number when a request was tried on several providers (0 = first).
    pub attempt: u32,
    /// The tokens (and cost) are ARouter's estimate: the client left mid-stream before the
    /// upstream reported usage, so what was streamed so far was counted from its text.
    #[serde(default)]
    pub estimated: bool,
    /// Stored content (None when content logging is off).
    pub request_body: Option<StoredJson>,
    pub response_body: Option<StoredJson>,
}

/// Stored request or response content: JSON text kept as the bytes that were sent or received,
/// so the request path never clones or re-serializes a body just to log it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredJson(pub bytes::Bytes);

impl StoredJson {
    /// What is stored instead of a body too large to keep: still JSON, saying so.
    pub fn truncated(original_bytes: usize) -> StoredJson {
        let marker = format!("{{\"arouter_truncated\":true,\"original_bytes\":{original_bytes}}}");
        StoredJson(marker.into_bytes().into())
    }

    /// The content as a JSON value (text that is not JSON becomes a JSON string).
    pub fn to_value(&self) -> Value {
        serde_json::from_slice(&self.0)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&self.0).into_owned()))
    }

    /// The content as text, for the ledger's TEXT column.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl From<&Value> for StoredJson {
    fn from(v: &Value) -> Self {
        StoredJson(serde_json::to_vec(v).unwrap_or_default().into())
    }
}

impl From<Value> for StoredJson {
    fn from(v: Value) -> Self {
        StoredJson::from(&v)
    }
}

impl Serialize for StoredJson {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StoredJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(StoredJson::from)
    }
}

/// A rate decision the store takes itself, in its database (team mode).
pub type RateFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<RateDecision, String>> + Send>>;

/// The answer to a budget reservation taken in the store's database (team mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedReservation {
    /// Granted: the id of the hold, to settle with [`Store::budget_settle`].
    Granted(i64),
    /// Refused: what the key has left in its window (pico-USD, may be 0).
    Refused { remaining: i64 },
}

/// A budget reservation the store takes in its database.
pub type ReserveFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<SharedReservation, String>> + Send>>;

/// The persistence the router uses at run time. Implementations must make `record` non-blocking
/// and `find_key` an in-memory lookup; the `load_*` reads may block (call off the async threads).
pub trait Store: Send + Sync + 'static {
    /// An in-memory lookup by key hash; `None` if unknown.
    fn find_key(&self, hash: &str) -> Option<KeyInfo>;
    /// Re-reads keys from disk now (after a miss, so a key created a moment ago works). Blocking.
    fn reload_keys(&self);
    /// After a miss: re-reads keys unless this key already missed since the keys last changed
    /// (or a reload just happened), then looks again. Blocking.
    fn find_key_or_reload(&self, hash: &str) -> Option<KeyInfo> {
        self.reload_keys();
        self.find_key(hash)
    }
    /// Hands a record to the ledger writer without blocking.
    fn record(&self, rec: UsageRecord);
    /// Reads a ledger row by generation id. Blocking.
    fn load_generation(&self, id: &str) -> Option<UsageRecord>;
    /// Blocks until every record handed in before the call is readable.
    fn flush(&self);
    /// Drops the stored request/response bodies of a generation (`DELETE /v1/responses/{id}`);
    /// the ledger row stays. Returns whether there were any. Blocking.
    fn delete_content(&self, _id: &str) -> bool {
        false
    }
    /// What a key's requests created at or after `since_ms` (unix ms) cost, in pico-USD,
    /// counting every record handed in before the call. Blocking.
    fn key_spend_pusd(&self, hash: &str, since_ms: i64) -> Result<i64, String>;
    /// Counts one request against a key's `rpm` where every instance sharing this store sees
    /// it (one atomic database call). `None` (the default, and the embedded SQLite store's
    /// answer) = the router's in-memory limiter decides: one process owns the keys, and the
    /// request path makes no database round-trip for it.
    fn rate_admit(&self, _hash: &str, _rpm: u32) -> Option<RateFuture> {
        None
    }
    /// Reserves `amount` pico-USD against a key's `limit` in the window starting at
    /// `window_start` (unix ms), atomically where every instance sharing this store sees it.
    /// `None` (the default, and SQLite's answer) = the router's in-memory budgets decide.
    fn budget_reserve(
        &self,
        _hash: &str,
        _window_start: i64,
        _limit: i64,
        _amount: i64,
    ) -> Option<ReserveFuture> {
        None
    }
    /// Replaces a hold from [`Store::budget_reserve`] by the request's real cost (0 releases
    /// it). Must not block.
    fn budget_settle(&self, _hash: &str, _hold: i64, _cost_pusd: i64) {}
    /// Ledger rows lost for good since start (shown in `/healthz`, the UI and the log).
    fn lost_records(&self) -> u64 {
        0
    }
    /// Ledger rows kept without their stored bodies (body budget exceeded) since start.
    fn rows_without_bodies(&self) -> u64 {
        0
    }
    /// Ledger rows handed to the writer and not yet written or lost (for `/metrics`).
    fn ledger_queue_depth(&self) -> u64 {
        0
    }
    /// Ledger rows written since start (for `/metrics`).
    fn rows_written(&self) -> u64 {
        0
    }
}

/// Provider credentials (the OS keychain). Blocking calls: use off the async threads.
pub trait Secrets: Send + Sync + 'static {
    fn get(&self, provider: &str) -> Result<Option<String>, String>;
    fn set(&self, provider: &str, secret: &str) -> Result<(), String>;
    fn delete(&self, provider: &str) -> Result<(), String>;
    /// Drops whatever the store remembers of `provider`'s secret, so the next `get` reads the
    /// platform store again (another process changed it).
    fn forget(&self, _provider: &str) {}
}

/// A process-local secrets store for tests.
#[derive(Default)]
pub struct MemorySecrets(parking_lot::Mutex<std::collections::HashMap<String, String>>);

impl Secrets for MemorySecrets {
    fn get(&self, provider: &str) -> Result<Option<String>, String> {
        Ok(self.0.lock().get(provider).cloned())
    }
    fn set(&self, provider: &str, secret: &str) -> Result<(), String> {
        self.0.lock().insert(provider.into(), secret.into());
        Ok(())
    }
    fn delete(&self, provider: &str) -> Result<(), String> {
        self.0.lock().remove(provider);
        Ok(())
    }
}

/// sha256 hex of a raw key.
pub fn hash_key(raw: &str) -> String {
    use sha2::Digest;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = sha2::Sha256::digest(raw.as_bytes());
    // Every request hashes its key: written by hand, `hex::encode` collects chars one by one.
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

/// A new random key: `sk-ar-` + 48 hex chars.
pub fn generate_key() -> String {
    use rand::RngCore;
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    format!("sk-ar-{}", hex::encode(b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn key_hash_is_lowercase_hex_sha256() {
        assert_eq!(
            super::hash_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
