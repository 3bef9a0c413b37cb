//! Allocation-free lookups into JSON values by a fixed path (`serde_json`'s `pointer` builds
//! two strings per segment, which showed up on the per-request and per-chunk paths).

use serde_json::{Map, Value};

/// Objects up to this many members are searched by comparing keys: cheaper than hashing the
/// key (SipHash, with `preserve_order`'s index map) for the few-member objects of requests.
const SCAN_MEMBERS: usize = 12;

/// `map.get(key)`, by a scan for small objects.
pub fn member<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    if map.len() <= SCAN_MEMBERS {
        map.iter().find(|(k, _)| k.as_str() == key).map(|(_, v)| v)
    } else {
        map.get(key)
    }
}

/// The value at `path`: object keys, or array indexes written as decimal strings.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, seg| match cur {
        Value::Object(m) => member(m, seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// `Value::pointer` for pointers without `~` escapes (all of ours), without allocating.
pub fn pointer<'a>(v: &'a Value, pointer: &str) -> Option<&'a Value> {
    let rest = pointer.strip_prefix('/')?;
    rest.split('/').try_fold(v, |cur, seg| match cur {
        Value::Object(m) => member(m, seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn walks_objects_and_arrays_like_a_pointer() {
        let v = json!({"choices": [{"finish_reason": "stop"}], "a/b": 1});
        assert_eq!(
            at(&v, &["choices", "0", "finish_reason"]),
            Some(&json!("stop"))
        );
        assert_eq!(at(&v, &["a/b"]), Some(&json!(1)));
        assert_eq!(at(&v, &["choices", "1"]), None);
        assert_eq!(at(&v, &["choices", "x"]), None);
        assert_eq!(at(&v, &[]), Some(&v));
        assert_eq!(
            pointer(&v, "/choices/0/finish_reason"),
            v.pointer("/choices/0/finish_reason")
        );
        assert_eq!(pointer(&v, "choices"), None);
        let big: Map<String, Value> = (0..40).map(|i| (format!("k{i}"), json!(i))).collect();
        for i in [0, 11, 12, 39] {
            assert_eq!(member(&big, &format!("k{i}")), Some(&json!(i)));
        }
        assert_eq!(member(&big, "k40"), None);
        assert_eq!(member(v.as_object().unwrap(), "a/b"), Some(&json!(1)));
    }
}
