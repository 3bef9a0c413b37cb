//! The raw JSON member edit equals the tree edit: the same JSON from the raw body as from its
//! parsed `Value`, for any body and any skip/set choice. Floats compare within 1e-15 relative:
//! the tree path re-serialises a float parsed by serde_json (last digit may move), the raw path
//! copies the client's digits exactly (found by this target).
#![no_main]
use arouter_core::raw_json::edited_object;
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
    assert!(same(&raw_v, &tree_v), "raw {raw_v}\ntree {tree_v}");
});

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (x.as_f64().unwrap_or(f64::NAN), y.as_f64().unwrap_or(f64::NAN));
            x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter().zip(y).all(|((kx, vx), (ky, vy))| kx == ky && same(vx, vy))
        }
        _ => a == b,
    }
}
