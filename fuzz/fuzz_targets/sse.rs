//! The SSE decoder: any split of the same bytes gives the same events, and nothing panics.
#![no_main]
use arouter_core::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (split, body) = match data.split_first() {
        Some((s, b)) => (*s as usize, b),
        None => return,
    };
    let mut whole = Vec::new();
    let mut d = SseDecoder::new();
    d.push(body, &mut whole);
    d.finish(&mut whole);
    let mut parts = Vec::new();
    let mut d = SseDecoder::new();
    let step = split.max(1);
    for chunk in body.chunks(step) {
        d.push(chunk, &mut parts);
    }
    d.finish(&mut parts);
    assert_eq!(whole, parts);
});
