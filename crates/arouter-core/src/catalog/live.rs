//! Live model facts: what each configured provider's model-list endpoint says it serves
//! (OpenRouter-style `/models` with prices and `supported_parameters`, OpenAI-style
//! `/v1/models` with names, Anthropic's and Gemini's lists), the cache file in the data dir that
//! keeps them across restarts, and the process-wide copy [`super::pricing`] reads.

use super::{Catalog, ModelInfo, Prices};
use crate::config::ProviderConfig;
use arc_swap::ArcSwap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The cache file's name in the data dir.
pub const CACHE_FILE: &str = "model-cache.json";

/// One model as a provider lists it. Prices are pico-USD per token (per request / image for
/// those two); `None` when the list does not say.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LiveModel {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_request: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_image: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_parameters: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_modalities: Vec<String>,
}

impl LiveModel {
    /// Both token prices are known.
    pub fn is_priced(&self) -> bool {
        self.input.is_some() && self.output.is_some()
    }
}

/// One provider's list as last fetched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderList {
    /// Unix ms of the fetch.
    pub fetched_ms: i64,
    pub models: Vec<LiveModel>,
}

/// The cache file: the last successful list of each provider.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveCache {
    pub providers: BTreeMap<String, ProviderList>,
}

pub fn cache_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CACHE_FILE)
}

/// Reads the cache; a missing file is an empty cache.
pub fn load_cache(data_dir: &Path) -> Result<LiveCache, String> {
    let path = cache_path(data_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not a model cache ({e})", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LiveCache::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the cache atomically (temp file, then rename).
pub fn save_cache(data_dir: &Path, cache: &LiveCache) -> Result<(), String> {
    let path = cache_path(data_dir);
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(cache).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// USD per token as a decimal string (`"0.000003"`) → pico-USD; negative or unparsable
/// (OpenRouter's `"-1"` for variable-priced routers) → unknown.
fn usd_string(v: Option<&Value>) -> Option<i64> {
    let f = match v? {
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    (f.is_finite() && f >= 0.0).then(|| (f * 1e12).round() as i64)
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Parses a model-list body: OpenAI / OpenRouter (`data[]`, with `pricing` and
/// `supported_parameters` where given), Anthropic (`data[]` with `display_name`) or Gemini
/// (`models[]` with token limits).
pub fn parse_model_list(body: &[u8]) -> Result<Vec<LiveModel>, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let items = v
        .get("data")
        .or_else(|| v.get("models"))
        .and_then(Value::as_array)
        .ok_or("no `data` or `models` list in the answer")?;
    let mut out = Vec::with_capacity(items.len());
    for m in items {
        let Some(id) = m
            .get("id")
            .or_else(|| m.get("name"))
            .and_then(Value::as_str)
        else {
            continue;
        };
        let id = id.strip_prefix("models/").unwrap_or(id).to_string();
        let pricing = m.get("pricing");
        let price = |k: &str| usd_string(pricing.and_then(|p| p.get(k)));
        let top = m.get("top_provider");
        let u64_of = |v: Option<&Value>| v.and_then(Value::as_u64).filter(|&n| n > 0);
        let nonzero = |p: Option<i64>| p.filter(|&n| n > 0);
        out.push(LiveModel {
            name: ["name", "display_name", "displayName"]
                .iter()
                .find_map(|k| m.get(*k).and_then(Value::as_str))
                .filter(|n| *n != id && !n.starts_with("models/"))
                .map(str::to_string),
            context_length: u64_of(m.get("context_length"))
                .or_else(|| u64_of(top.and_then(|t| t.get("context_length"))))
                .or_else(|| u64_of(m.get("inputTokenLimit"))),
            max_output: u64_of(top.and_then(|t| t.get("max_completion_tokens")))
                .or_else(|| u64_of(m.get("outputTokenLimit")))
                .map(|n| n.min(u64::from(u32::MAX)) as u32),
            input: price("prompt"),
            output: price("completion"),
            cache_read: price("input_cache_read"),
            cache_write: price("input_cache_write"),
            reasoning: nonzero(price("internal_reasoning")),
            per_request: nonzero(price("request")),
            per_image: nonzero(price("image")),
            supported_parameters: strings(m.get("supported_parameters")),
            input_modalities: strings(
                m.get("architecture")
                    .and_then(|a| a.get("input_modalities")),
            ),
            id,
        });
    }
    Ok(out)
}

/// Model facts from a priced live entry, on top of the bundle's facts for the same model.
fn info_of(provider: &ProviderConfig, m: &LiveModel) -> ModelInfo {
    let base = Catalog::bundled().lookup_at(provider, &m.id);
    let input = m.input.unwrap_or(0);
    let prices = Prices {
        input,
        output: m.output.unwrap_or(0),
        cache_read: m.cache_read.unwrap_or(input),
        cache_write: m.cache_write.unwrap_or(input),
        reasoning: m.reasoning.filter(|&r| Some(r) != m.output),
        per_request: m.per_request.unwrap_or(0),
        per_image: m.per_image.unwrap_or(0),
        tier: None,
    };
    let params = if m.supported_parameters.is_empty() {
        base.map(|b| b.params.clone()).unwrap_or_default()
    } else {
        m.supported_parameters.clone()
    };
    let caps = if m.supported_parameters.is_empty() {
        base.map(|b| b.caps.clone()).unwrap_or_default()
    } else {
        let has = |p: &str| params.iter().any(|x| x == p);
        let mut c = Vec::new();
        for (cap, on) in [
            ("tools", has("tools")),
            ("json_schema", has("structured_outputs")),
            ("json_object", has("response_format")),
            ("reasoning", has("reasoning") || has("include_reasoning")),
            ("vision", m.input_modalities.iter().any(|x| x == "image")),
            ("pdf", m.input_modalities.iter().any(|x| x == "file")),
        ] {
            if on {
                c.push(cap.to_string());
            }
        }
        c
    };
    ModelInfo {
        id: base.map_or_else(|| m.id.clone(), |b| b.id.clone()),
        name: m
            .name
            .clone()
            .or_else(|| base.map(|b| b.name.clone()))
            .unwrap_or_else(|| m.id.clone()),
        host: provider.id.clone(),
        context_length: m
            .context_length
            .or(base.map(|b| b.context_length))
            .unwrap_or(0),
        max_output: m.max_output.or(base.map(|b| b.max_output)).unwrap_or(0),
        prices,
        caps,
        params,
        aka: Vec::new(),
        api_name: m.id.clone(),
    }
}

/// Live facts of one provider, ready for lookups.
#[derive(Default)]
struct LiveProvider {
    names: Vec<String>,
    priced: HashMap<String, &'static ModelInfo>,
}

#[derive(Default)]
struct Live {
    providers: HashMap<String, LiveProvider>,
}

fn live() -> &'static ArcSwap<Live> {
    static LIVE: OnceLock<ArcSwap<Live>> = OnceLock::new();
    LIVE.get_or_init(|| ArcSwap::from_pointee(Live::default()))
}

/// Pricing hands out `&'static ModelInfo`; live entries are interned so an unchanged list
/// costs nothing on the next refresh, and memory grows only when a provider's facts change.
fn intern(provider: &ProviderConfig, m: &LiveModel) -> &'static ModelInfo {
    static INTERNED: OnceLock<Mutex<HashMap<(String, LiveModel), &'static ModelInfo>>> =
        OnceLock::new();
    let map = INTERNED.get_or_init(Default::default);
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    let key = (provider.id.clone(), m.clone());
    if let Some(&info) = map.get(&key) {
        return info;
    }
    let info: &'static ModelInfo = Box::leak(Box::new(info_of(provider, m)));
    map.insert(key, info);
    info
}

/// Makes `cache` the live facts for the configured providers (others in the cache are kept
/// on disk but not used).
pub fn install(providers: &BTreeMap<String, ProviderConfig>, cache: &LiveCache) {
    let mut next = Live::default();
    for (id, list) in &cache.providers {
        let Some(p) = providers.get(id) else { continue };
        let mut lp = LiveProvider::default();
        for m in &list.models {
            lp.names.push(m.id.clone());
            if m.is_priced() {
                lp.priced.insert(super::normalize(&m.id), intern(p, m));
            }
        }
        next.providers.insert(id.clone(), lp);
    }
    live().store(Arc::new(next));
    super::memo::live_changed();
}

/// A provider's live, priced facts for `model`.
pub fn lookup(provider: &str, model: &str) -> Option<&'static ModelInfo> {
    let l = live().load();
    l.providers
        .get(provider)?
        .priced
        .get(&super::normalize(model))
        .copied()
}

/// The providers whose last model list names exactly `model`, in id order.
pub fn providers_serving(model: &str) -> Vec<String> {
    let l = live().load();
    let mut v: Vec<String> = l
        .providers
        .iter()
        .filter(|(_, p)| p.names.iter().any(|n| n == model))
        .map(|(id, _)| id.clone())
        .collect();
    v.sort();
    v
}

/// The model names a provider listed at its last refresh, if it was ever refreshed.
pub fn models_of(provider: &str) -> Option<Vec<String>> {
    let l = live().load();
    l.providers.get(provider).map(|p| p.names.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openrouter_openai_anthropic_and_gemini_lists() {
        let or = br#"{"data":[{"id":"x-ai/grok-9","name":"xAI: Grok 9","context_length":256000,
            "pricing":{"prompt":"0.000003","completion":"0.000015","request":"0","image":"0",
            "input_cache_read":"0.00000075"},"top_provider":{"max_completion_tokens":64000},
            "supported_parameters":["tools","reasoning","temperature"],
            "architecture":{"input_modalities":["text","image"]}},
            {"id":"openrouter/auto","pricing":{"prompt":"-1","completion":"-1"}}]}"#;
        let m = parse_model_list(or).unwrap();
        assert_eq!(m[0].input, Some(3_000_000));
        assert_eq!(m[0].output, Some(15_000_000));
        assert_eq!(m[0].cache_read, Some(750_000));
        assert_eq!(m[0].per_request, None);
        assert_eq!(m[0].max_output, Some(64000));
        assert!(m[0].is_priced());
        assert!(!m[1].is_priced(), "variable prices are not prices");
        let oa =
            br#"{"object":"list","data":[{"id":"gpt-9","object":"model","owned_by":"system"}]}"#;
        let m = parse_model_list(oa).unwrap();
        assert_eq!(m[0].id, "gpt-9");
        assert!(!m[0].is_priced());
        let gm = br#"{"models":[{"name":"models/gemini-9-pro","displayName":"Gemini 9 Pro",
            "inputTokenLimit":1048576,"outputTokenLimit":65536}]}"#;
        let m = parse_model_list(gm).unwrap();
        assert_eq!(m[0].id, "gemini-9-pro");
        assert_eq!(m[0].context_length, Some(1048576));
        assert!(parse_model_list(b"{\"error\":\"no\"}").is_err());
    }
}
