//! Tree-free JSON objects: an object's members borrowed as raw text, and writers that copy
//! them back, for editing a few fields of a large body without parsing and re-serialising the
//! rest.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::Value;

/// An object's members in order, values unparsed. Keys containing escapes are not supported
/// (deserialising fails; callers fall back to a `Value`).
pub struct RawObject<'a>(pub Vec<(&'a str, &'a RawValue)>);

impl<'a> RawObject<'a> {
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(member) = map.next_entry::<&'de str, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(RawObject(members))
            }
        }
        d.deserialize_map(Members)
    }
}

/// Deserialises `body` as `T` only if it is a JSON object (serde would also accept an array
/// for a struct).
pub fn object<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, serde_json::Error> {
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(serde::de::Error::custom("expected a JSON object"));
    }
    serde_json::from_slice(body)
}

/// Writes `"key":`, preceded by a comma unless it is the object's first member.
pub fn key(out: &mut Vec<u8>, key: &str) {
    if out.last().is_some_and(|b| *b != b'{') {
        out.push(b',');
    }
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
}

/// Writes a member with a value (a `Value`, a `str`, a number…).
pub fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, k: &str, v: &T) {
    key(out, k);
    let _ = serde_json::to_writer(&mut *out, v);
}

/// Writes a member with a raw value, copied as is.
pub fn put_raw(out: &mut Vec<u8>, k: &str, v: &RawValue) {
    key(out, k);
    out.extend_from_slice(v.get().as_bytes());
}

/// A request body rewritten without the `skip`ped members and with the `set` members replaced
/// in place or appended. From `raw` (the bytes received) when given: every other member is
/// copied as its raw text, so a prompt is never re-serialized. Otherwise, or for an object the
/// raw edit does not handle (escaped or repeated keys), from the parsed `base`, serialized
/// without cloning it. Both ways write the same members in the same order.
pub fn edited_object(
    raw: Option<&[u8]>,
    base: &Value,
    skip: &dyn Fn(&str) -> bool,
    set: &[(&str, Value)],
) -> bytes::Bytes {
    if let Some(edited) = raw.and_then(|r| edit_object(r, skip, set)) {
        return edited.into();
    }
    let empty = serde_json::Map::new();
    let edited = Edited {
        base: base.as_object().unwrap_or(&empty),
        skip,
        set,
    };
    serde_json::to_vec(&edited).unwrap_or_default().into()
}

/// The raw half of [`edited_object`]; `None` when `raw` is not an object of plain, distinct
/// keys.
pub fn edit_object(
    raw: &[u8],
    skip: &dyn Fn(&str) -> bool,
    set: &[(&str, Value)],
) -> Option<Vec<u8>> {
    let top: RawObject = object(raw).ok()?;
    let members = &top.0;
    if members
        .iter()
        .enumerate()
        .any(|(i, (k, _))| members[..i].iter().any(|(p, _)| p == k))
    {
        return None;
    }
    let mut out = Vec::with_capacity(raw.len() + 64);
    out.push(b'{');
    for (k, v) in members {
        if skip(k) {
            continue;
        }
        match set.iter().find(|(name, _)| name == k) {
            Some((_, replaced)) => put(&mut out, k, replaced),
            None => put_raw(&mut out, k, v),
        }
    }
    for (name, v) in set {
        if skip(name) || !members.iter().any(|(k, _)| k == name) {
            put(&mut out, name, v);
        }
    }
    out.push(b'}');
    Some(out)
}

/// The tree half of [`edited_object`].
struct Edited<'a> {
    base: &'a serde_json::Map<String, Value>,
    skip: &'a dyn Fn(&str) -> bool,
    set: &'a [(&'a str, Value)],
}

impl serde::Serialize for Edited<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (k, v) in self.base {
            if (self.skip)(k) {
                continue;
            }
            match self.set.iter().find(|(name, _)| name == k) {
                Some((_, replaced)) => m.serialize_entry(k, replaced)?,
                None => m.serialize_entry(k, v)?,
            }
        }
        for (name, v) in self.set {
            if !self.base.contains_key(*name) || (self.skip)(name) {
                m.serialize_entry(name, v)?;
            }
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edit_object_keeps_raw_members_and_edits_in_place() {
        let raw = br#"{"model": "a", "n": 1.50, "drop": [1], "s": "\u00e9"}"#;
        let set = [("model", json!("b")), ("extra", json!(true))];
        let out = edit_object(raw, &|k| k == "drop", &set).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"model":"b","n":1.50,"s":"\u00e9","extra":true}"#
        );
        assert!(edit_object(br#"{"a": 1, "a": 2}"#, &|_| false, &set).is_none());
        assert!(edit_object(b"[1]", &|_| false, &set).is_none());
        // The tree half writes the same members in the same order.
        let base: Value = serde_json::from_slice(raw).unwrap();
        assert_eq!(
            edited_object(None, &base, &|k| k == "drop", &set),
            r#"{"model":"b","n":1.5,"s":"é","extra":true}"#.as_bytes()
        );
    }

    #[test]
    fn members_round_trip_as_raw_text() {
        let body = br#" {"a": 1, "b": {"c": [1, 2]}, "d": "x\"y"} "#;
        let o: RawObject = object(body).unwrap();
        assert_eq!(o.0.len(), 3);
        assert_eq!(o.get("b").unwrap().get(), r#"{"c": [1, 2]}"#);
        let mut out = vec![b'{'];
        for (k, v) in &o.0 {
            put_raw(&mut out, k, v);
        }
        put(&mut out, "e", &json!(true));
        out.push(b'}');
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            json!({"a": 1, "b": {"c": [1, 2]}, "d": "x\"y", "e": true})
        );
        assert!(object::<RawObject>(b"[1]").is_err());
        assert!(
            object::<RawObject>(b"{\"a\\u0062\": 1}").is_err(),
            "escaped keys fall back"
        );
    }
}
