//! The raw JSON member edit equals the tree edit: same bytes from the raw body as from its
//! parsed `Value`, for any body and any skip/set choice.
#![no_main]
use arouter_core::http::raw_json::edited_object;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fuzz_target!(|data: &[u8]| {
    let Some((choice, body)) = data.split_first() else {
        return;
    };
    let Ok(base) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if !base.is_object() {
        return;
    }
    let skipped = ["model", "stream", "provider", "a"];
    let skip_mask = choice & 0x0f;
    let skip = move |k: &str| {
        skipped
            .iter()
            .enumerate()
            .any(|(i, s)| skip_mask & (1 << i) != 0 && *s == k)
    };
    let set_all = [
        ("model", json!("x/y")),
        ("stream", json!(true)),
        ("usage", json!({"include": true})),
    ];
    let n = (choice >> 4) as usize % (set_all.len() + 1);
    let set = &set_all[..n];
    let raw = edited_object(Some(body), &base, &skip, set);
    let tree = edited_object(None, &base, &skip, set);
    let raw_v: Value = serde_json::from_slice(&raw).expect("raw edit is JSON");
    let tree_v: Value = serde_json::from_slice(&tree).expect("tree edit is JSON");
    assert_eq!(raw_v, tree_v);
});
