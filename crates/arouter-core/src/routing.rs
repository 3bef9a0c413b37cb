//! Model resolution: a requested id, alias, `models[]` list or the default becomes an ordered
//! list of candidates (`provider`, upstream model name).

use crate::catalog::{self, Catalog};
use crate::config::Config;
use crate::error::{ApiError, ErrorKind};
use crate::health::ProviderHealth;
use crate::model::{ChatRequest, Part, ResponseFormat};
use serde_json::Value;

/// One place a request may be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub provider: String,
    /// The model name sent upstream.
    pub model: String,
}

impl Candidate {
    /// The ARouter id of this candidate (`provider/model`).
    pub fn id(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// The models a request asks for, in order: OpenRouter's `models` list (with `model` first
/// when both are given), else `model`, else the configured default.
pub fn requested<'a>(
    cfg: &'a Config,
    model: Option<&'a str>,
    models: &'a [String],
) -> Result<Vec<&'a str>, ApiError> {
    let mut out: Vec<&str> = Vec::new();
    if let Some(m) = model.filter(|m| !m.is_empty()) {
        out.push(m);
    }
    for m in models {
        if !out.contains(&m.as_str()) {
            out.push(m);
        }
    }
    if out.is_empty() {
        match cfg.default_model.as_deref() {
            Some(d) => out.push(d),
            None => {
                return Err(ApiError::bad_request(
                    "No model in the request and no default_model configured",
                ))
            }
        }
    }
    Ok(out)
}

/// Expands names (aliases, ids, catalog ids) into distinct candidates, in order.
pub fn resolve(cfg: &Config, names: &[&str]) -> Result<Vec<Candidate>, ApiError> {
    let mut out = Vec::new();
    for name in names {
        expand(cfg, name, 0, &mut out)?;
    }
    Ok(out)
}

fn push(out: &mut Vec<Candidate>, c: Candidate) {
    if !out.contains(&c) {
        out.push(c);
    }
}

fn expand(
    cfg: &Config,
    name: &str,
    depth: usize,
    out: &mut Vec<Candidate>,
) -> Result<(), ApiError> {
    if depth > 8 {
        return Err(ApiError::bad_request(format!(
            "alias \"{name}\" nests too deeply (a cycle?)"
        )));
    }
    if let Some(list) = cfg.aliases.get(name) {
        for m in list {
            expand(cfg, m, depth + 1, out)?;
        }
        return Ok(());
    }
    if let Some((prefix, rest)) = name.split_once('/') {
        if cfg.providers.contains_key(prefix) && !rest.is_empty() {
            push(
                out,
                Candidate {
                    provider: prefix.to_string(),
                    model: rest.to_string(),
                },
            );
            return Ok(());
        }
    }
    let found = catalog_candidates(cfg, name);
    if found.is_empty() {
        return Err(ApiError::bad_request(format!(
            "\"{name}\" is not a valid model ID: no configured provider, alias or catalog model serves it"
        )));
    }
    for c in found {
        push(out, c);
    }
    Ok(())
}

/// Every configured provider that serves a catalog model: providers listing it in `models`,
/// and aggregators (OpenRouter) that take the canonical id itself.
fn catalog_candidates(cfg: &Config, name: &str) -> Vec<Candidate> {
    let catalog = Catalog::bundled();
    let Some(info) = catalog.lookup(name) else {
        // A model only a provider's live model list knows (released after the bundle).
        return catalog::live::providers_serving(name)
            .into_iter()
            .filter(|p| cfg.providers.contains_key(p))
            .map(|provider| Candidate {
                provider,
                model: name.to_string(),
            })
            .collect();
    };
    let mut out = Vec::new();
    for p in cfg.providers.values() {
        if let Some(m) = p
            .models
            .iter()
            .find(|m| catalog.lookup(m).is_some_and(|i| i.id == info.id))
        {
            out.push(Candidate {
                provider: p.id.clone(),
                model: m.clone(),
            });
        } else if p.base_url.contains("openrouter.ai") {
            out.push(Candidate {
                provider: p.id.clone(),
                model: info.id.clone(),
            });
        }
    }
    out
}

/// OpenRouter's `provider` preferences object.
#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    pub order: Vec<String>,
    pub only: Option<Vec<String>>,
    pub ignore: Vec<String>,
    pub allow_fallbacks: bool,
    pub require_parameters: bool,
    pub sort: Option<Sort>,
    /// USD per million tokens.
    pub max_prompt_price: Option<f64>,
    pub max_completion_price: Option<f64>,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            order: Vec::new(),
            only: None,
            ignore: Vec::new(),
            allow_fallbacks: true,
            require_parameters: false,
            sort: None,
            max_prompt_price: None,
            max_completion_price: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Price,
    Latency,
    Throughput,
}

fn names(v: &Value, field: &str) -> Result<Vec<String>, ApiError> {
    let bad =
        || ApiError::bad_request(format!("provider.{field}: expected a list of provider ids"));
    v.as_array()
        .ok_or_else(bad)?
        .iter()
        .map(|s| s.as_str().map(str::to_string).ok_or_else(bad))
        .collect()
}

impl Preferences {
    /// Parses the request's `provider` object (absent or null → `None`).
    pub fn parse(v: Option<&Value>) -> Result<Option<Preferences>, ApiError> {
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return Ok(None);
        };
        let o = v
            .as_object()
            .ok_or_else(|| ApiError::bad_request("provider: expected an object"))?;
        let mut p = Preferences::default();
        for (k, v) in o {
            let flag = |v: &Value| {
                v.as_bool().ok_or_else(|| {
                    ApiError::bad_request(format!("provider.{k}: expected true or false"))
                })
            };
            match k.as_str() {
                "order" => p.order = names(v, k)?,
                "only" => p.only = Some(names(v, k)?),
                "ignore" => p.ignore = names(v, k)?,
                "allow_fallbacks" => p.allow_fallbacks = flag(v)?,
                "require_parameters" => p.require_parameters = flag(v)?,
                "sort" => {
                    p.sort =
                        Some(match v.as_str() {
                            Some("price") => Sort::Price,
                            Some("latency") => Sort::Latency,
                            Some("throughput") => Sort::Throughput,
                            _ => return Err(ApiError::bad_request(
                                "provider.sort: expected \"price\", \"latency\" or \"throughput\"",
                            )),
                        })
                }
                "max_price" => {
                    let m = v.as_object().ok_or_else(|| {
                        ApiError::bad_request("provider.max_price: expected an object")
                    })?;
                    let num = |f: &str| -> Result<Option<f64>, ApiError> {
                        match m.get(f) {
                            None | Some(Value::Null) => Ok(None),
                            Some(x) => x.as_f64().map(Some).ok_or_else(|| {
                                ApiError::bad_request(format!(
                                    "provider.max_price.{f}: expected a number"
                                ))
                            }),
                        }
                    };
                    p.max_prompt_price = num("prompt")?;
                    p.max_completion_price = num("completion")?;
                }
                // Hosted-router knobs with no local meaning (data_collection, quantizations…).
                _ => {}
            }
        }
        Ok(Some(p))
    }
}

/// The capabilities a request needs from a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    pub tools: bool,
    pub json_schema: bool,
    pub reasoning: bool,
    pub vision: bool,
}

impl Needs {
    pub fn of(req: &ChatRequest) -> Needs {
        Needs {
            tools: !req.tools.is_empty(),
            json_schema: matches!(req.response_format, Some(ResponseFormat::JsonSchema { .. })),
            reasoning: req.reasoning.as_ref().is_some_and(|r| r.is_on()),
            vision: req
                .messages
                .iter()
                .any(|m| m.content.iter().any(|p| matches!(p, Part::Image { .. }))),
        }
    }

    fn missing(&self, info: &catalog::ModelInfo) -> Option<&'static str> {
        let checks = [
            (self.tools, "tools", "tools"),
            (
                self.json_schema,
                "json_schema",
                "response_format json_schema",
            ),
            (self.reasoning, "reasoning", "reasoning"),
            (self.vision, "vision", "image input"),
        ];
        checks
            .into_iter()
            .find(|(needed, cap, _)| *needed && !info.has(cap))
            .map(|(_, _, what)| what)
    }
}

/// Applies provider preferences and health to the candidates: filters (`only`, `ignore`,
/// `max_price`, `require_parameters`), orders (`order`, `sort`; providers cooling down after
/// repeated failures go last), and cuts fallbacks when `allow_fallbacks` is false. Nothing
/// left → 503 saying why each candidate was dropped.
pub fn arrange(
    cfg: &Config,
    candidates: Vec<Candidate>,
    prefs: Option<&Preferences>,
    needs: Needs,
    health: &ProviderHealth,
) -> Result<Vec<Candidate>, ApiError> {
    let default = Preferences::default();
    let p = prefs.unwrap_or(&default);
    let mut dropped: Vec<String> = Vec::new();
    let mut kept: Vec<Candidate> = Vec::new();
    // Prices are looked up only for the preferences that filter on them.
    let wants_pricing =
        p.max_prompt_price.is_some() || p.max_completion_price.is_some() || p.require_parameters;
    for c in candidates {
        let why = if p.only.as_ref().is_some_and(|o| !o.contains(&c.provider)) {
            Some("not in provider.only".to_string())
        } else if p.ignore.contains(&c.provider) {
            Some("in provider.ignore".to_string())
        } else if !wants_pricing {
            None
        } else {
            let pricing = cfg
                .providers
                .get(&c.provider)
                .map(|prov| catalog::pricing(cfg, prov, &c.model));
            let per_mtok = |pusd: i64| pusd as f64 / 1e6;
            match &pricing {
                Some(pr)
                    if p.max_prompt_price
                        .is_some_and(|m| per_mtok(pr.prices.input) > m) =>
                {
                    Some("prompt price above provider.max_price".into())
                }
                Some(pr)
                    if p.max_completion_price
                        .is_some_and(|m| per_mtok(pr.prices.output) > m) =>
                {
                    Some("completion price above provider.max_price".into())
                }
                Some(pr) if p.require_parameters => pr
                    .info
                    .as_ref()
                    .and_then(|i| needs.missing(i))
                    .map(|what| format!("does not support {what}")),
                _ => None,
            }
        };
        match why {
            Some(w) => dropped.push(format!("{}: {w}", c.id())),
            None => kept.push(c),
        }
    }
    if !p.order.is_empty() {
        let rank = |c: &Candidate| {
            p.order
                .iter()
                .position(|o| *o == c.provider)
                .unwrap_or(usize::MAX)
        };
        kept.sort_by_key(rank);
    }
    if let Some(sort) = p.sort {
        let key = |c: &Candidate| -> f64 {
            let h = health.snapshot(&c.provider);
            match sort {
                Sort::Price => cfg
                    .providers
                    .get(&c.provider)
                    .map(|prov| {
                        let pr = catalog::pricing(cfg, prov, &c.model).prices;
                        (pr.input + pr.output) as f64
                    })
                    .unwrap_or(f64::MAX),
                Sort::Latency => h.ttft_ms.unwrap_or(f64::MAX),
                Sort::Throughput => h.tokens_per_sec.map_or(f64::MAX, |t| -t),
            }
        };
        kept.sort_by(|a, b| key(a).total_cmp(&key(b)));
    }
    let now = crate::record::now_ms();
    let (healthy, cooling): (Vec<_>, Vec<_>) = kept
        .into_iter()
        .partition(|c| !health.snapshot(&c.provider).cooling_down(now));
    let mut out = healthy;
    out.extend(cooling);
    if !p.allow_fallbacks {
        if p.order.is_empty() {
            out.truncate(1);
        } else {
            out.retain(|c| p.order.contains(&c.provider));
        }
    }
    if out.is_empty() {
        return Err(ApiError::new(
            ErrorKind::Unavailable,
            format!(
                "No provider can serve this request: {}",
                if dropped.is_empty() {
                    "no candidates".to_string()
                } else {
                    dropped.join("; ")
                }
            ),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::parse(
            r#"default_model = "fast"
[providers.oa]
kind = "openai"
base_url = "http://127.0.0.1:1/v1"
[providers.groq]
kind = "openai"
base_url = "https://api.groq.com/openai/v1"
models = ["llama-3.3-70b-versatile"]
[providers.or]
kind = "openai"
base_url = "https://openrouter.ai/api/v1"
[aliases]
fast = ["groq/llama-3.3-70b-versatile", "oa/gpt-4o-mini"]
"#,
        )
        .unwrap()
    }

    #[test]
    fn default_alias_expands_in_order() {
        let c = cfg();
        let names = requested(&c, None, &[]).unwrap();
        let r = resolve(&c, &names).unwrap();
        assert_eq!(
            r.iter().map(Candidate::id).collect::<Vec<_>>(),
            ["groq/llama-3.3-70b-versatile", "oa/gpt-4o-mini"]
        );
    }

    #[test]
    fn catalog_ids_reach_every_provider_serving_them() {
        let c = cfg();
        let r = resolve(&c, &["meta-llama/llama-3.3-70b-instruct"]).unwrap();
        assert_eq!(
            r.iter().map(Candidate::id).collect::<Vec<_>>(),
            [
                "groq/llama-3.3-70b-versatile",
                "or/meta-llama/llama-3.3-70b-instruct"
            ]
        );
        assert!(resolve(&c, &["nope/nothing"]).is_err());
    }

    fn c(id: &str) -> Candidate {
        let (p, m) = id.split_once('/').unwrap();
        Candidate {
            provider: p.into(),
            model: m.into(),
        }
    }

    fn ids(v: &[Candidate]) -> Vec<String> {
        v.iter().map(Candidate::id).collect()
    }

    #[test]
    fn preferences_filter_order_and_explain() {
        let cfg = cfg();
        let health = ProviderHealth::default();
        let all = vec![
            c("oa/gpt-4o-mini"),
            c("groq/llama-3.3-70b-versatile"),
            c("or/openai/gpt-4o"),
        ];
        let prefs = Preferences::parse(Some(&serde_json::json!({"order": ["or", "groq"]})))
            .unwrap()
            .unwrap();
        let r = arrange(&cfg, all.clone(), Some(&prefs), Needs::default(), &health).unwrap();
        assert_eq!(
            ids(&r),
            [
                "or/openai/gpt-4o",
                "groq/llama-3.3-70b-versatile",
                "oa/gpt-4o-mini"
            ]
        );

        let prefs = Preferences::parse(Some(
            &serde_json::json!({"order": ["groq"], "allow_fallbacks": false}),
        ))
        .unwrap()
        .unwrap();
        let r = arrange(&cfg, all.clone(), Some(&prefs), Needs::default(), &health).unwrap();
        assert_eq!(ids(&r), ["groq/llama-3.3-70b-versatile"]);

        let prefs =
            Preferences::parse(Some(&serde_json::json!({"only": ["oa"], "ignore": ["oa"]})))
                .unwrap()
                .unwrap();
        let e = arrange(&cfg, all.clone(), Some(&prefs), Needs::default(), &health).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(
            e.message.contains("oa/gpt-4o-mini: in provider.ignore"),
            "{}",
            e.message
        );

        // gpt-4o ($2.5/$10) is over a $1 completion cap; llama on groq is unpriced here? no:
        // the catalog knows it ($0.59/$0.79).
        let prefs =
            Preferences::parse(Some(&serde_json::json!({"max_price": {"completion": 1.0}})))
                .unwrap()
                .unwrap();
        let r = arrange(&cfg, all.clone(), Some(&prefs), Needs::default(), &health).unwrap();
        assert_eq!(ids(&r), ["oa/gpt-4o-mini", "groq/llama-3.3-70b-versatile"]);

        let prefs = Preferences::parse(Some(&serde_json::json!({"sort": "price"})))
            .unwrap()
            .unwrap();
        let r = arrange(&cfg, all.clone(), Some(&prefs), Needs::default(), &health).unwrap();
        assert_eq!(r[0].id(), "oa/gpt-4o-mini");
        assert_eq!(r[2].id(), "or/openai/gpt-4o");

        let needs = Needs {
            json_schema: true,
            ..Needs::default()
        };
        let prefs = Preferences::parse(Some(&serde_json::json!({"require_parameters": true})))
            .unwrap()
            .unwrap();
        let r = arrange(&cfg, all.clone(), Some(&prefs), needs, &health).unwrap();
        assert_eq!(ids(&r), ["oa/gpt-4o-mini", "or/openai/gpt-4o"]);

        assert!(Preferences::parse(Some(&serde_json::json!({"sort": "speed"}))).is_err());
    }

    #[test]
    fn cooling_providers_go_last_and_latency_sort_uses_history() {
        let cfg = cfg();
        let health = ProviderHealth::default();
        for _ in 0..crate::health::COOLDOWN_AFTER {
            health.record_failure("oa", "boom");
        }
        let all = vec![c("oa/gpt-4o-mini"), c("groq/llama-3.3-70b-versatile")];
        let r = arrange(&cfg, all.clone(), None, Needs::default(), &health).unwrap();
        assert_eq!(r[0].provider, "groq");
        health.record_success("oa");
        health.record_timing("oa", Some(50), 10, 100);
        health.record_timing("groq", Some(500), 10, 100);
        let prefs = Preferences::parse(Some(&serde_json::json!({"sort": "latency"})))
            .unwrap()
            .unwrap();
        let r = arrange(&cfg, all, Some(&prefs), Needs::default(), &health).unwrap();
        assert_eq!(r[0].provider, "oa");
    }

    #[test]
    fn models_list_follows_model_without_duplicates() {
        let c = cfg();
        let models = vec!["oa/a".to_string(), "oa/b".to_string()];
        let names = requested(&c, Some("oa/a"), &models).unwrap();
        assert_eq!(names, ["oa/a", "oa/b"]);
    }
}
