//! Per-key USD budgets: each request reserves its worst-case cost against the key's remaining
//! limit before it goes upstream and settles to its real cost when its ledger row is written,
//! all under one lock, so concurrent requests can never spend past the limit. In team mode the
//! store takes and settles the reservation in its database instead, so N instances together
//! never spend past it either.

use crate::catalog::{pusd_to_decimal, Pricing};
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorKind};
use crate::model::ChatRequest;
use crate::store::{KeyInfo, LimitReset, SharedReservation, Store};
use parking_lot::Mutex;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;
/// Output tokens assumed when neither the request nor the catalog caps them.
pub const DEFAULT_MAX_OUTPUT: u64 = 4096;
/// An idle account re-reads its spend from the ledger this often, which heals any drift
/// (requests made while the key had no limit, edits of the reset period).
const RESYNC_AFTER_MS: i64 = 30_000;

/// The start (unix ms) of the budget window containing `now_ms`: the UTC day, the week from
/// Monday, the month; 0 for a limit that never resets.
pub fn window_start_ms(reset: Option<LimitReset>, now_ms: i64) -> i64 {
    let today = now_ms.div_euclid(DAY_MS);
    match reset {
        None => 0,
        Some(LimitReset::Daily) => today * DAY_MS,
        // 1970-01-01 was a Thursday: the Monday-based weekday is (days + 3) mod 7.
        Some(LimitReset::Weekly) => (today - (today + 3).rem_euclid(7)) * DAY_MS,
        Some(LimitReset::Monthly) => {
            let (y, m, _) = civil_from_days(today);
            days_from_civil(y, m, 1) * DAY_MS
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The most a request can cost: its output cap at the output price plus a prompt estimate
/// (body bytes / 4 tokens) at the input price.
pub fn max_cost_pusd(pricing: &Pricing, max_tokens: Option<u64>, body_bytes: usize) -> i64 {
    let out = max_tokens
        .or(pricing.max_output.filter(|&m| m > 0).map(u64::from))
        .unwrap_or(DEFAULT_MAX_OUTPUT);
    let prompt = (body_bytes as u64).div_ceil(4);
    let t = |n: u64| i64::try_from(n).unwrap_or(i64::MAX / 4);
    let input = pricing.prices.input.max(pricing.prices.cache_write);
    t(out)
        .saturating_mul(pricing.prices.output)
        .saturating_add(t(prompt).saturating_mul(input))
}

/// Roughly how many bytes a hub request's prompt takes on the wire (for [`max_cost_pusd`]).
pub fn hub_prompt_bytes(req: &ChatRequest) -> usize {
    use crate::model::{MediaSource, Part};
    fn part(p: &Part) -> usize {
        match p {
            Part::Text { text, .. } | Part::Thinking { text, .. } => text.len(),
            Part::Image { source, .. } | Part::File { source, .. } => match source {
                MediaSource::Base64 { data, .. } => data.len(),
                MediaSource::Url { url, .. } => url.len(),
            },
            Part::Audio { data, .. } => data.len(),
            Part::ToolUse {
                name, arguments, ..
            } => name.len() + arguments.len(),
            Part::ToolResult { content, .. } => content.iter().map(part).sum(),
            Part::RedactedThinking { data } => data.value.len(),
            Part::Unknown { value, .. } => value.to_string().len(),
        }
    }
    let system: usize = req.system.iter().map(part).sum();
    let messages: usize = req
        .messages
        .iter()
        .flat_map(|m| m.content.iter())
        .map(part)
        .sum();
    let tools: usize = req
        .tools
        .iter()
        .map(|t| {
            t.name.len()
                + t.description.as_ref().map_or(0, String::len)
                + t.parameters.to_string().len()
        })
        .sum();
    system + messages + tools
}

/// A budgeted key refuses a model without a price (until one is configured): its spend could
/// not be counted. Models on the user's own machine are priced at zero and stay usable.
pub fn refuse_unpriced(
    key: &KeyInfo,
    pricing: &Pricing,
    provider: &str,
    model: &str,
) -> Result<(), ApiError> {
    if key.limit_pusd.is_none() || pricing.priced {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorKind::PaymentRequired,
        format!(
            "Model \"{provider}/{model}\" has no known price, so key \"{}\" (which has a budget) cannot use it: set input_per_mtok and output_per_mtok under [models.\"{provider}/{model}\"] in config.toml",
            key.name
        ),
    )
    .with_metadata(json!({"error_type": "unpriced_model"})))
}

/// Whether an error is a key's budget refusing a request (not an upstream's own 402).
pub fn is_refusal(e: &ApiError) -> bool {
    e.kind == ErrorKind::PaymentRequired
        && e.metadata.as_ref().is_some_and(|m| {
            m["error_type"] == "unpriced_model" || m["limit_source"] == "openrouter_key_limit"
        })
}

/// One key's spend in its current window.
struct Account {
    window_start: i64,
    /// Settled spend in the window (ledger at load time plus what settled since).
    spent: i64,
    /// Worst-case costs of requests in flight.
    reserved: i64,
    holds: usize,
    /// Bumped on every settlement, so a reload racing one is not installed.
    version: u64,
    loaded_ms: i64,
}

type Accounts = Arc<Mutex<HashMap<String, Account>>>;

/// The in-memory budget ledger of every key with a limit.
#[derive(Default)]
pub struct Budgets {
    accounts: Accounts,
}

/// A reservation against a key's budget. [`Hold::settle`] books the real cost; dropping an
/// unsettled hold releases it at no cost.
pub struct Hold {
    place: HoldPlace,
    key: String,
    amount: i64,
    settled: bool,
}

/// Where a hold was taken: this process's accounts, or the store's database (team mode).
enum HoldPlace {
    Memory {
        accounts: Accounts,
        window_start: i64,
    },
    Shared {
        store: Arc<dyn Store>,
        id: i64,
    },
}

impl Hold {
    /// Replaces the reservation by the request's real cost.
    pub fn settle(mut self, cost_pusd: i64) {
        self.finish(cost_pusd);
    }

    fn finish(&mut self, cost_pusd: i64) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        match &self.place {
            HoldPlace::Memory {
                accounts,
                window_start,
            } => {
                let mut map = accounts.lock();
                if let Some(a) = map.get_mut(&self.key) {
                    // A hold from a window that has since rolled over was billed to that window.
                    if a.window_start == *window_start {
                        a.reserved -= self.amount;
                        a.spent += cost_pusd;
                        a.holds = a.holds.saturating_sub(1);
                        a.version += 1;
                    }
                }
            }
            HoldPlace::Shared { store, id } => store.budget_settle(&self.key, *id, cost_pusd),
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.finish(0);
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("key", &self.key)
            .field("amount", &self.amount)
            .finish()
    }
}

/// Why a load is needed, and what to check before installing it.
enum Load {
    Fresh,
    Resync { version: u64 },
}

impl Budgets {
    /// Reserves `amount_pusd` against `key`'s limit. Keys without a limit get `Ok(None)` without
    /// touching the lock; a reservation that does not fit is a 402.
    pub async fn reserve(
        &self,
        store: &Arc<dyn Store>,
        key: &KeyInfo,
        amount_pusd: i64,
    ) -> Result<Option<Hold>, ApiError> {
        let Some(limit) = key.limit_pusd else {
            return Ok(None);
        };
        let start = window_start_ms(key.limit_reset, now_ms());
        if let Some(shared) = store.budget_reserve(&key.hash, start, limit, amount_pusd) {
            return match shared.await {
                Ok(SharedReservation::Granted(id)) => Ok(Some(Hold {
                    place: HoldPlace::Shared {
                        store: store.clone(),
                        id,
                    },
                    key: key.hash.clone(),
                    amount: amount_pusd,
                    settled: false,
                })),
                Ok(SharedReservation::Refused { remaining }) => {
                    Err(over_limit(key, limit, remaining.max(0), amount_pusd))
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reserve budget in the database");
                    Err(ApiError::new(
                        ErrorKind::Unavailable,
                        "The budget store is unavailable; try again",
                    ))
                }
            };
        }
        // A window rolling over between the load and the reservation needs one more load.
        for _ in 0..3 {
            let now = now_ms();
            let start = window_start_ms(key.limit_reset, now);
            if let Some(load) = self.needs_load(&key.hash, start, now) {
                let store = store.clone();
                let hash = key.hash.clone();
                let spent = tokio::task::spawn_blocking(move || store.key_spend_pusd(&hash, start))
                    .await
                    .map_err(|e| ApiError::internal(format!("budget lookup failed: {e}")))?
                    .map_err(ApiError::internal)?;
                self.install(&key.hash, start, spent, now, load);
            }
            if let Some(result) = self.try_reserve(key, limit, start, amount_pusd) {
                return result.map(Some);
            }
        }
        Err(ApiError::internal("the key's budget window kept changing"))
    }

    fn needs_load(&self, hash: &str, start: i64, now: i64) -> Option<Load> {
        let map = self.accounts.lock();
        match map.get(hash) {
            Some(a) if a.window_start == start => (a.holds == 0
                && now - a.loaded_ms > RESYNC_AFTER_MS)
                .then_some(Load::Resync { version: a.version }),
            _ => Some(Load::Fresh),
        }
    }

    fn install(&self, hash: &str, start: i64, spent: i64, now: i64, load: Load) {
        let mut map = self.accounts.lock();
        let fresh = Account {
            window_start: start,
            spent,
            reserved: 0,
            holds: 0,
            version: 0,
            loaded_ms: now,
        };
        match (map.get_mut(hash), load) {
            // Another request installed this window meanwhile: its account may hold
            // reservations already, keep it.
            (Some(a), Load::Fresh) if a.window_start == start => {}
            (Some(a), Load::Resync { version }) if a.window_start == start => {
                if a.holds == 0 && a.version == version {
                    a.spent = spent;
                    a.loaded_ms = now;
                }
            }
            _ => {
                map.insert(hash.to_string(), fresh);
            }
        }
    }

    /// `None` when the account is not (or no longer) for this window.
    fn try_reserve(
        &self,
        key: &KeyInfo,
        limit: i64,
        start: i64,
        amount: i64,
    ) -> Option<Result<Hold, ApiError>> {
        let mut map = self.accounts.lock();
        let a = map.get_mut(&key.hash).filter(|a| a.window_start == start)?;
        let remaining = limit - a.spent - a.reserved;
        if a.spent >= limit || amount > remaining {
            return Some(Err(over_limit(key, limit, remaining.max(0), amount)));
        }
        a.reserved += amount;
        a.holds += 1;
        Some(Ok(Hold {
            place: HoldPlace::Memory {
                accounts: self.accounts.clone(),
                window_start: start,
            },
            key: key.hash.clone(),
            amount,
            settled: false,
        }))
    }
}

/// OpenRouter's 402 for an exhausted per-key limit.
fn over_limit(key: &KeyInfo, limit: i64, remaining: i64, needed: i64) -> ApiError {
    let usd = |p: i64| format!("${}", pusd_to_decimal(p));
    let period = key.limit_reset.map_or("never resets".to_string(), |r| {
        format!("resets {}", r.as_str())
    });
    ApiError::new(
        ErrorKind::PaymentRequired,
        format!(
            "Key limit exceeded: this request may cost up to {} but key \"{}\" has {} left of its {} limit ({period}). Lower max_tokens or raise the key's limit.",
            usd(needed),
            key.name,
            usd(remaining),
            usd(limit)
        ),
    )
    .with_metadata(json!({
        "error_type": "insufficient_credits",
        "limit_source": "openrouter_key_limit",
        "limit": crate::catalog::pusd_to_usd(limit),
        "limit_remaining": crate::catalog::pusd_to_usd(remaining),
        "limit_reset": key.limit_reset.map(LimitReset::as_str),
        "requested_max_cost": crate::catalog::pusd_to_usd(needed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Prices;
    use crate::store::UsageRecord;

    struct SpendStore(i64);

    impl Store for SpendStore {
        fn find_key(&self, _: &str) -> Option<KeyInfo> {
            None
        }
        fn reload_keys(&self) {}
        fn record(&self, _: UsageRecord) {}
        fn load_generation(&self, _: &str) -> Option<UsageRecord> {
            None
        }
        fn flush(&self) {}
        fn key_spend_pusd(&self, _: &str, _: i64) -> Result<i64, String> {
            Ok(self.0)
        }
    }

    fn key(limit: Option<i64>) -> KeyInfo {
        KeyInfo {
            hash: "h".into(),
            name: "k".into(),
            admin: false,
            disabled: false,
            rpm: None,
            limit_pusd: limit,
            limit_reset: Some(LimitReset::Daily),
            created_at: 0,
            proxy: None,
        }
    }

    /// 2024-03-01T00:00:00Z, a Friday.
    const MARCH_1: i64 = 1_709_251_200_000;

    #[test]
    fn budgeted_keys_refuse_unpriced_models_only() {
        let priced = Pricing {
            prices: Default::default(),
            priced: true,
            context_length: None,
            max_output: None,
            info: None,
        };
        let unpriced = Pricing {
            priced: false,
            ..priced.clone()
        };
        assert!(refuse_unpriced(&key(None), &unpriced, "p", "m").is_ok());
        assert!(refuse_unpriced(&key(Some(5)), &priced, "p", "m").is_ok());
        let e = refuse_unpriced(&key(Some(5)), &unpriced, "p", "m").unwrap_err();
        assert_eq!(e.status, 402);
        assert!(e.message.contains("[models.\"p/m\"]"), "{}", e.message);
    }

    #[test]
    fn windows_start_at_utc_midnight_monday_and_the_first() {
        let t = MARCH_1 + 5 * DAY_MS + 1234;
        assert_eq!(window_start_ms(None, t), 0);
        assert_eq!(
            window_start_ms(Some(LimitReset::Daily), t),
            MARCH_1 + 5 * DAY_MS
        );
        assert_eq!(
            window_start_ms(Some(LimitReset::Weekly), t),
            MARCH_1 + 3 * DAY_MS
        );
        assert_eq!(window_start_ms(Some(LimitReset::Monthly), t), MARCH_1);
        assert_eq!(
            window_start_ms(Some(LimitReset::Weekly), MARCH_1),
            MARCH_1 - 4 * DAY_MS
        );
    }

    #[test]
    fn max_cost_uses_the_cap_then_the_catalog_then_a_default() {
        let mut p = Pricing {
            prices: Prices {
                input: 2,
                output: 10,
                cache_read: 1,
                cache_write: 3,
                ..Default::default()
            },
            priced: true,
            context_length: None,
            max_output: None,
            info: None,
        };
        assert_eq!(max_cost_pusd(&p, Some(100), 40), 100 * 10 + 10 * 3);
        assert_eq!(max_cost_pusd(&p, None, 0), 4096 * 10);
        p.max_output = Some(50);
        assert_eq!(max_cost_pusd(&p, None, 0), 500);
    }

    #[tokio::test]
    async fn reservations_never_overspend_and_settle_to_the_real_cost() {
        let store: Arc<dyn Store> = Arc::new(SpendStore(300));
        let b = Budgets::default();
        let k = key(Some(1000));
        let h1 = b.reserve(&store, &k, 400).await.unwrap().unwrap();
        let h2 = b.reserve(&store, &k, 300).await.unwrap().unwrap();
        let e = b.reserve(&store, &k, 1).await.unwrap_err();
        assert_eq!(e.status, 402);
        assert_eq!(
            e.metadata.as_ref().unwrap()["limit_source"],
            "openrouter_key_limit"
        );
        h1.settle(100); // 300 + 100 spent, 300 reserved
        drop(h2); // released at no cost
        let h3 = b.reserve(&store, &k, 600).await.unwrap().unwrap();
        assert!(b.reserve(&store, &k, 1).await.is_err());
        h3.settle(600);
        assert!(b.reserve(&store, &k, 0).await.is_err(), "limit reached");
        assert!(b
            .reserve(&store, &key(None), i64::MAX)
            .await
            .unwrap()
            .is_none());
    }

    #[test]
    fn hub_prompt_bytes_counts_text_tools_and_media() {
        use crate::model::{Message, Part, Role, Tool};
        let req = ChatRequest {
            system: vec![Part::text("abcd")],
            messages: vec![Message {
                role: Role::User,
                content: vec![Part::text("hello")],
            }],
            tools: vec![Tool {
                name: "f".into(),
                description: None,
                parameters: json!({}),
                strict: None,
                cache_control: None,
            }],
            ..Default::default()
        };
        assert_eq!(hub_prompt_bytes(&req), 4 + 5 + 1 + 2);
    }
}
