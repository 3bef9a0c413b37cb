//! Each dialect's upstream stream decoder, fed the SSE events of arbitrary bytes: events or
//! an error, never a panic.
#![no_main]
use arouter_core::config::ProviderKind;
use arouter_core::providers::stream_decoder;
use arouter_core::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    let kind = match which % 3 {
        0 => ProviderKind::OpenAi,
        1 => ProviderKind::Anthropic,
        _ => ProviderKind::Gemini,
    };
    let mut sse = SseDecoder::new();
    let mut events = Vec::new();
    sse.push(body, &mut events);
    sse.finish(&mut events);
    let mut dec = stream_decoder(kind, "p");
    let mut out = Vec::new();
    for ev in &events {
        if dec.event(ev, &mut out).is_err() {
            return;
        }
    }
    let _ = dec.finish(&mut out);
});
