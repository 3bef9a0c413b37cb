//! Which request parameters a provider does not accept: they are dropped from what goes
//! upstream, on the translated path and on the same-dialect relay alike, instead of earning
//! the caller a 400. Per provider: `drop_params = [...]` in its config table; without it, the
//! default for its vendor (known by host). A per-model refinement from the catalog's
//! `supported_parameters` plugs in at [`Dropped::for_model`] once the catalog carries it.

use crate::catalog::ModelInfo;
use crate::config::ProviderConfig;

/// Sampling parameters OpenRouter and most OpenAI-compatible servers (vLLM, llama.cpp,
/// Ollama, OpenRouter) take but strict OpenAI-compatible APIs reject as unknown.
pub const NON_OPENAI_SAMPLING: &[&str] = &["top_k", "min_p", "top_a", "repetition_penalty"];

/// Hosts of vendors that answer 400/422 to parameters they do not know: OpenAI, Azure
/// OpenAI, Mistral.
const STRICT_HOSTS: &[&str] = &[
    "api.openai.com",
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    "api.mistral.ai",
];

/// The parameters dropped for one provider (and model).
#[derive(Debug, Clone, Copy)]
pub enum Dropped<'a> {
    Configured(&'a [String]),
    Default(&'static [&'static str]),
}

impl<'a> Dropped<'a> {
    pub fn of(provider: &'a ProviderConfig) -> Self {
        match &provider.drop_params {
            Some(list) => Dropped::Configured(list),
            None => Dropped::Default(vendor_default(&provider.base_url)),
        }
    }

    /// The seam for per-model facts: a model's catalog entry will narrow this to what it
    /// lists as supported. (The catalog has only coarse `caps` today, so this is
    /// [`Dropped::of`].)
    pub fn for_model(provider: &'a ProviderConfig, _info: Option<&ModelInfo>) -> Self {
        Self::of(provider)
    }

    pub fn contains(&self, param: &str) -> bool {
        match self {
            Dropped::Configured(list) => list.iter().any(|p| p == param),
            Dropped::Default(list) => list.contains(&param),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Dropped::Configured(list) => list.is_empty(),
            Dropped::Default(list) => list.is_empty(),
        }
    }
}

/// The default drop list for a base URL's vendor.
pub fn vendor_default(base_url: &str) -> &'static [&'static str] {
    let (_, host) = crate::config::url_host(base_url);
    if STRICT_HOSTS.iter().any(|h| {
        if h.starts_with('.') {
            host.ends_with(h)
        } else {
            host == *h
        }
    }) {
        NON_OPENAI_SAMPLING
    } else {
        &[]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendors_by_host_and_config_overrides() {
        assert_eq!(
            vendor_default("https://api.openai.com/v1"),
            NON_OPENAI_SAMPLING
        );
        assert_eq!(
            vendor_default("https://my.openai.azure.com/openai/deployments/x"),
            NON_OPENAI_SAMPLING
        );
        assert_eq!(
            vendor_default("https://api.mistral.ai/v1"),
            NON_OPENAI_SAMPLING
        );
        assert!(vendor_default("http://localhost:11434/v1").is_empty());
        assert!(vendor_default("https://openrouter.ai/api/v1").is_empty());
        // A gateway path that merely mentions the host is not that host.
        assert!(vendor_default("https://gw.example.com/api.openai.com/v1").is_empty());

        let cfg = crate::config::Config::parse(
            "[providers.gw]\nkind=\"openai\"\nbase_url=\"https://gw.example.com/v1\"\ndrop_params=[\"top_k\",\"seed\"]\n\
             [providers.oa]\nkind=\"openai\"\nbase_url=\"https://api.openai.com/v1\"\ndrop_params=[]\n",
        )
        .unwrap();
        let gw = Dropped::of(&cfg.providers["gw"]);
        assert!(gw.contains("top_k") && gw.contains("seed") && !gw.contains("min_p"));
        assert!(Dropped::of(&cfg.providers["oa"]).is_empty());
    }
}
