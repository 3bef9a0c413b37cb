//! Each dialect's request parse (OpenAI, Anthropic, Gemini) on arbitrary JSON: an error or a
//! hub request, never a panic; a parsed request converts back to every dialect's wire form.
#![no_main]
use arouter_core::config::{Config, ProviderKind};
use arouter_core::providers::{build_chat, Target};
use arouter_core::dialects::{anthropic, gemini, openai_chat};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        Config::parse(
            "[providers.o]\nkind=\"openai\"\nbase_url=\"http://127.0.0.1:1/v1\"\n\
             [providers.a]\nkind=\"anthropic\"\nbase_url=\"http://127.0.0.1:1\"\n\
             [providers.g]\nkind=\"gemini\"\nbase_url=\"http://127.0.0.1:1\"\n",
        )
        .expect("fuzz config")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return;
    };
    let parsed = match which % 4 {
        0 => openai_chat::inbound::to_internal(&v),
        1 => anthropic::inbound::to_internal(&v),
        2 => anthropic::inbound::count_request_to_internal(&v),
        _ => gemini::inbound::to_internal(&v, "m"),
    };
    let Ok(req) = parsed else {
        return;
    };
    for (id, kind) in [
        ("o", ProviderKind::OpenAi),
        ("a", ProviderKind::Anthropic),
        ("g", ProviderKind::Gemini),
    ] {
        let provider = &config().providers[id];
        assert_eq!(provider.kind, kind);
        let target = Target {
            provider,
            model: "m",
            api_key: Some("k"),
            default_max_tokens: 64,
        };
        let _ = build_chat(&req, &target);
    }
});
