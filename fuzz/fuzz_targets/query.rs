//! Query and percent decoding: never panics; an encode-then-decode is the identity.
#![no_main]
use arouter_core::query;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = query::decode_bytes(data, true);
    let text = String::from_utf8_lossy(data);
    let _ = query::decode_component(&text);
    let _ = query::decode_path(&text);
    let _ = query::without(&text, "key");
    let _: Vec<_> = query::pairs(&text).collect();
    let _ = query::param(Some(&text), "key");
    let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!(query::decode_path(&encoded).unwrap(), text);
    let _ = arouter_core::auth::extract_key(&Default::default(), Some(&text));
    let _ = arouter_core::catalog::Catalog::bundled().lookup(&text);
    let _ = arouter_core::dialects::gemini::inbound::paths::parse_model_path(&text);
});
