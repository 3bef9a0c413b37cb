//! Model resolution: a requested id, alias, `models[]` list or the default becomes an ordered
//! list of candidates (`provider`, upstream model name).

use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::ApiError;

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
        return Vec::new();
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

    #[test]
    fn models_list_follows_model_without_duplicates() {
        let c = cfg();
        let models = vec!["oa/a".to_string(), "oa/b".to_string()];
        let names = requested(&c, Some("oa/a"), &models).unwrap();
        assert_eq!(names, ["oa/a", "oa/b"]);
    }
}
