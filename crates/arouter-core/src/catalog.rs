//! The bundled catalog of well-known models (context, limits, prices, capabilities), config
//! overrides on top, and exact integer cost computation in pico-USD.

use crate::config::{Config, ProviderConfig};
use crate::model::Usage;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::OnceLock;

/// Prices in pico-USD (1e-12 USD) per token; `USD per million tokens × 1e6`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prices {
    pub input: i64,
    pub output: i64,
    pub cache_read: i64,
    pub cache_write: i64,
}

impl Prices {
    /// Exact cost of a usage: non-cached prompt, cache reads, cache writes and output, each at
    /// its own price.
    pub fn cost_pusd(&self, u: &Usage) -> i64 {
        let fresh = u
            .input_tokens
            .saturating_sub(u.cache_read_tokens)
            .saturating_sub(u.cache_write_tokens);
        let t = |n: u64| i64::try_from(n).unwrap_or(i64::MAX / 4);
        t(fresh) * self.input
            + t(u.cache_read_tokens) * self.cache_read
            + t(u.cache_write_tokens) * self.cache_write
            + t(u.output_tokens) * self.output
    }
}

/// USD per million tokens → pico-USD per token (exact to 6 decimals of a USD/Mtok price).
pub fn per_mtok_to_pusd(usd_per_mtok: f64) -> i64 {
    (usd_per_mtok * 1e6).round() as i64
}

/// USD → pico-USD.
pub fn usd_to_pusd(usd: f64) -> i64 {
    (usd * 1e12).round() as i64
}

/// pico-USD → USD for display and JSON (never summed as floats).
pub fn pusd_to_usd(pusd: i64) -> f64 {
    pusd as f64 / 1e12
}

/// pico-USD → a fixed-point decimal string with 12 digits (OpenRouter's pricing strings).
pub fn pusd_to_decimal(pusd: i64) -> String {
    let sign = if pusd < 0 { "-" } else { "" };
    let a = pusd.unsigned_abs();
    let s = format!(
        "{sign}{}.{:012}",
        a / 1_000_000_000_000,
        a % 1_000_000_000_000
    );
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_string()
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Canonical id, `vendor/model` (OpenRouter's naming).
    pub id: String,
    pub name: String,
    pub context_length: u64,
    pub max_output: u32,
    pub prices: Prices,
    /// Capabilities: tools, json_schema, json_object, reasoning, vision, embeddings.
    pub caps: Vec<String>,
    pub aka: Vec<String>,
    /// The vendor's own API name when it differs from the id's model part
    /// (`claude-sonnet-4-5` for `anthropic/claude-sonnet-4.5`).
    pub api_name: String,
}

impl ModelInfo {
    pub fn has(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c == cap)
    }
}

#[derive(Deserialize)]
struct RawEntry {
    id: String,
    name: String,
    ctx: u64,
    out: u32,
    #[serde(rename = "in")]
    input: f64,
    o: f64,
    cr: Option<f64>,
    cw: Option<f64>,
    #[serde(default)]
    caps: Vec<String>,
    #[serde(default)]
    aka: Vec<String>,
    api: Option<String>,
}

pub struct Catalog {
    entries: Vec<ModelInfo>,
    index: HashMap<String, usize>,
}

/// A lookup key: lowercase, no `models/` prefix, no date suffix, `.` read as `-`.
fn normalize(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("models/").unwrap_or(&n).to_string();
    let n = strip_date_suffix(&n);
    n.replace('.', "-")
}

/// Strips `-20250929` or `-2024-07-18`. Checked on bytes: the suffix is ASCII, so a match
/// always cuts on a character boundary (a name ending in a multi-byte character must not be
/// sliced inside it).
fn strip_date_suffix(n: &str) -> String {
    let b = n.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    if b.len() > 9 && b[b.len() - 9] == b'-' && digits(&b[b.len() - 8..]) {
        return n[..n.len() - 9].to_string();
    }
    if b.len() > 11 {
        let t = &b[b.len() - 11..];
        if t[0] == b'-'
            && t[5] == b'-'
            && t[8] == b'-'
            && digits(&t[1..5])
            && digits(&t[6..8])
            && digits(&t[9..])
        {
            return n[..n.len() - 11].to_string();
        }
    }
    n.to_string()
}

impl Catalog {
    /// The catalog compiled into the binary.
    pub fn bundled() -> &'static Catalog {
        static CATALOG: OnceLock<Catalog> = OnceLock::new();
        CATALOG.get_or_init(|| {
            let raw: Vec<RawEntry> = serde_json::from_str(include_str!("catalog.json"))
                .expect("bundled catalog.json is valid (checked by a unit test)");
            Catalog::from_entries(raw)
        })
    }

    fn from_entries(raw: Vec<RawEntry>) -> Catalog {
        let mut entries = Vec::with_capacity(raw.len());
        let mut index = HashMap::new();
        for r in raw {
            let short = r.id.split_once('/').map_or(r.id.as_str(), |(_, m)| m);
            let api_name = r.api.clone().unwrap_or_else(|| short.to_string());
            let info = ModelInfo {
                api_name,
                prices: Prices {
                    input: per_mtok_to_pusd(r.input),
                    output: per_mtok_to_pusd(r.o),
                    cache_read: per_mtok_to_pusd(r.cr.unwrap_or(r.input)),
                    cache_write: per_mtok_to_pusd(r.cw.unwrap_or(r.input)),
                },
                id: r.id,
                name: r.name,
                context_length: r.ctx,
                max_output: r.out,
                caps: r.caps,
                aka: r.aka,
            };
            let i = entries.len();
            let short = info.id.split_once('/').map_or(info.id.as_str(), |(_, m)| m);
            index.insert(normalize(&info.id), i);
            index.entry(normalize(short)).or_insert(i);
            index.entry(normalize(&info.api_name)).or_insert(i);
            for a in &info.aka {
                index.entry(normalize(a)).or_insert(i);
            }
            entries.push(info);
        }
        Catalog { entries, index }
    }

    pub fn entries(&self) -> &[ModelInfo] {
        &self.entries
    }

    /// Finds a model by canonical id (`anthropic/claude-sonnet-4.5`), by bare name
    /// (`claude-sonnet-4-5-20250929`, `gpt-4o-mini`), or by a known alternative name.
    pub fn lookup(&self, name: &str) -> Option<&ModelInfo> {
        let key = normalize(name);
        if let Some(&i) = self.index.get(&key) {
            return Some(&self.entries[i]);
        }
        // `openrouter/<vendor>/<model>` style names: try without the first segment.
        let (_, rest) = key.split_once('/')?;
        self.index.get(rest).map(|&i| &self.entries[i])
    }
}

/// What routing and billing need to know about one `provider/model`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub prices: Prices,
    /// False when neither catalog nor config knows the price (billed 0, flagged in views).
    pub priced: bool,
    pub context_length: Option<u64>,
    pub max_output: Option<u32>,
    pub info: Option<&'static ModelInfo>,
}

/// Is this provider a server on the user's own machine (Ollama, LM Studio…)? Those are free.
pub fn is_local(provider: &ProviderConfig) -> bool {
    let rest = provider.base_url.split_once("://").map_or("", |(_, r)| r);
    let host = rest.split(['/', ':']).next().unwrap_or("");
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "0.0.0.0") || rest.starts_with("[::1]")
}

/// Price and limits of `provider/model`: config override, then catalog, then free if local.
pub fn pricing(cfg: &Config, provider: &ProviderConfig, model: &str) -> Pricing {
    let id = format!("{}/{}", provider.id, model);
    let info = Catalog::bundled()
        .lookup(&id)
        .or_else(|| Catalog::bundled().lookup(model));
    let local = is_local(provider);
    let mut p = Pricing {
        prices: match (&info, local) {
            (_, true) | (None, _) => Prices::default(),
            (Some(i), false) => i.prices,
        },
        priced: local || info.is_some(),
        context_length: info.as_ref().map(|i| i.context_length),
        max_output: info.as_ref().map(|i| i.max_output),
        info,
    };
    if let Some(o) = cfg.models.get(&id) {
        let set = |v: Option<f64>, slot: &mut i64| {
            if let Some(v) = v {
                *slot = per_mtok_to_pusd(v);
            }
        };
        set(o.input_per_mtok, &mut p.prices.input);
        set(o.output_per_mtok, &mut p.prices.output);
        set(
            o.cache_read_per_mtok.or(o.input_per_mtok),
            &mut p.prices.cache_read,
        );
        set(
            o.cache_write_per_mtok.or(o.input_per_mtok),
            &mut p.prices.cache_write,
        );
        if o.input_per_mtok.is_some() && o.output_per_mtok.is_some() {
            p.priced = true;
        }
        p.context_length = o.context_length.or(p.context_length);
        p.max_output = o.max_output_tokens.or(p.max_output);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_catalog_parses_and_resolves_vendor_names() {
        let c = Catalog::bundled();
        assert!(c.entries().len() > 30);
        let m = c.lookup("claude-sonnet-4-5-20250929").unwrap();
        assert_eq!(m.id, "anthropic/claude-sonnet-4.5");
        assert_eq!(
            c.lookup("gpt-4o-mini-2024-07-18").unwrap().id,
            "openai/gpt-4o-mini"
        );
        assert_eq!(
            c.lookup("models/gemini-2.5-flash").unwrap().id,
            "google/gemini-2.5-flash"
        );
        assert_eq!(
            c.lookup("openrouter/anthropic/claude-sonnet-4.5")
                .unwrap()
                .id,
            "anthropic/claude-sonnet-4.5"
        );
        assert_eq!(
            c.lookup("llama-3.3-70b-versatile").unwrap().id,
            "meta-llama/llama-3.3-70b-instruct"
        );
        assert!(c.lookup("no-such-model").is_none());
    }

    #[test]
    fn multibyte_names_never_split() {
        for name in [
            "x\u{e9}0123456789",
            "\u{e9}-2024-07-18",
            "\u{1F600}abcdefghij",
            "\u{e9}aaaaaaaaaa",
        ] {
            let _ = normalize(name);
            let _ = Catalog::bundled().lookup(name);
        }
        assert_eq!(strip_date_suffix("m\u{e9}-2024-07-18"), "m\u{e9}");
        assert_eq!(strip_date_suffix("gpt-4o-2024-07-18"), "gpt-4o");
        assert_eq!(strip_date_suffix("claude-x-20250929"), "claude-x");
        assert_eq!(strip_date_suffix("a-2024-0a-18"), "a-2024-0a-18");
    }

    #[test]
    fn cost_is_exact_per_token_class() {
        let p = Prices {
            input: per_mtok_to_pusd(3.0),
            output: per_mtok_to_pusd(15.0),
            cache_read: per_mtok_to_pusd(0.3),
            cache_write: per_mtok_to_pusd(3.75),
        };
        let u = Usage {
            input_tokens: 1000,
            output_tokens: 100,
            reasoning_tokens: 0,
            cache_read_tokens: 400,
            cache_write_tokens: 100,
        };
        // 500*3 + 400*0.3 + 100*3.75 + 100*15 = 1500+120+375+1500 = 3495 µUSD
        assert_eq!(p.cost_pusd(&u), 3_495_000_000);
        assert_eq!(pusd_to_decimal(3_495_000_000), "0.003495");
        assert_eq!(pusd_to_decimal(150_000), "0.00000015");
        assert_eq!(pusd_to_decimal(0), "0");
    }

    #[test]
    fn local_providers_are_free_and_overrides_win() {
        let cfg = Config::parse(
            "[providers.ollama]\nkind=\"openai\"\nbase_url=\"http://127.0.0.1:11434/v1\"\n\
             [providers.openai]\nkind=\"openai\"\nbase_url=\"https://api.openai.com/v1\"\n\
             [models.\"openai/gpt-4o\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n",
        )
        .unwrap();
        let local = pricing(&cfg, &cfg.providers["ollama"], "llama3.3:70b");
        assert!(local.priced);
        assert_eq!(local.prices, Prices::default());
        let o = pricing(&cfg, &cfg.providers["openai"], "gpt-4o");
        assert_eq!(o.prices.input, 1_000_000);
        let mini = pricing(&cfg, &cfg.providers["openai"], "gpt-4o-mini");
        assert_eq!(mini.prices.input, 150_000);
        let unknown = pricing(&cfg, &cfg.providers["openai"], "mystery");
        assert!(!unknown.priced);
    }
}
