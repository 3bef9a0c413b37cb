//! The one query-string and percent decoder: byte-wise, so an escape or a multi-byte
//! character anywhere can never split a `str` on a non-boundary.

use std::borrow::Cow;

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Why a strict decode failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decodes `%XX` escapes byte for byte; `+` becomes a space when `plus_is_space` (form
/// encoding, as in query strings). Lenient: a `%` without two hex digits stays as it is.
pub fn decode_bytes(s: &[u8], plus_is_space: bool) -> Cow<'_, [u8]> {
    if !s.iter().any(|&b| b == b'%' || (plus_is_space && b == b'+')) {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b == b'+' { b' ' } else { b });
        i += 1;
    }
    Cow::Owned(out)
}

/// Lenient decode of a query component to text; bytes that are not UTF-8 become U+FFFD.
pub fn decode_component(s: &str) -> Cow<'_, str> {
    match decode_bytes(s.as_bytes(), true) {
        Cow::Borrowed(_) => Cow::Borrowed(s),
        Cow::Owned(v) => Cow::Owned(match String::from_utf8(v) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
    }
}

/// Strict decode of a path segment: every `%` must start a valid escape, `+` stays `+`, and the
/// result must be UTF-8.
pub fn decode_path(s: &str) -> Result<Cow<'_, str>, DecodeError> {
    let b = s.as_bytes();
    if !b.contains(&b'%') {
        return Ok(Cow::Borrowed(s));
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if b.get(i + 1).copied().and_then(hex).is_none()
                || b.get(i + 2).copied().and_then(hex).is_none()
            {
                return Err(DecodeError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    String::from_utf8(decode_bytes(b, false).into_owned())
        .map(Cow::Owned)
        .map_err(|_| DecodeError::NotUtf8)
}

/// The `name=value` pairs of a query string, names and values decoded. Pairs without `=` have an
/// empty value; empty pairs (`a=1&&b=2`) are skipped.
pub fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|kv| !kv.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (decode_component(k), decode_component(v))
    })
}

/// The first value of `name` in a query string, decoded.
pub fn param<'a>(query: Option<&'a str>, name: &str) -> Option<Cow<'a, str>> {
    pairs(query?).find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The query's raw pairs (still encoded) whose decoded name is not `name`, joined with `&`.
pub fn without(query: &str, name: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let k = kv.split_once('=').map_or(kv, |(k, _)| k);
        if decode_component(k) == name {
            continue;
        }
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(kv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_plus_and_bad_escapes() {
        assert_eq!(decode_component("a%2Bb+c"), "a+b c");
        assert_eq!(decode_component("100%"), "100%");
        assert_eq!(decode_component("%zz%4"), "%zz%4");
        // `from_str_radix` would accept a sign: "%+1" is not an escape.
        assert_eq!(decode_component("%+1"), "% 1");
        assert_eq!(decode_component("%C3%A9"), "é");
        assert_eq!(decode_component("%FF"), "\u{FFFD}");
        assert!(matches!(decode_component("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn multibyte_after_percent_never_panics() {
        for s in ["%é", "%aé", "é%", "%\u{10348}x", "a%€€", "%%%", "%e%"] {
            let _ = decode_component(s);
            let _ = decode_path(s);
        }
        assert_eq!(decode_component("%é"), "%é");
        assert_eq!(decode_path("%é"), Err(DecodeError::BadEscape));
    }

    #[test]
    fn strict_path_decoding() {
        assert_eq!(decode_path("oa%2Fgpt-4o").unwrap(), "oa/gpt-4o");
        assert_eq!(decode_path("a+b").unwrap(), "a+b");
        assert_eq!(decode_path("%2"), Err(DecodeError::BadEscape));
        assert_eq!(decode_path("%C3"), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn params_and_filtering() {
        let raw = "alt=sse&key=sk%2D1&&flag&k%65y=dup";
        let q = Some(raw);
        assert_eq!(param(q, "alt").as_deref(), Some("sse"));
        assert_eq!(param(q, "key").as_deref(), Some("sk-1"));
        assert_eq!(param(q, "flag").as_deref(), Some(""));
        assert_eq!(param(q, "nope"), None);
        assert_eq!(param(None, "key"), None);
        assert_eq!(without(raw, "key"), "alt=sse&flag");
        assert_eq!(without("", "key"), "");
    }

    /// Every byte string decodes without panicking, and a decode of an encode is the identity.
    #[test]
    fn round_trip_over_many_inputs() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 12) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (seed >> (i * 5)) as u8).collect();
            let _ = decode_bytes(&bytes, true);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let _ = decode_component(&text);
            let _ = decode_path(&text);
            let _ = without(&text, "key");
            let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            assert_eq!(decode_path(&encoded).unwrap(), text);
            assert_eq!(decode_component(&encoded), text);
        }
    }
}
