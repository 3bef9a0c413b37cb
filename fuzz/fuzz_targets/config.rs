//! Config parsing: any text is a config or a field-named error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = arouter_core::config::Config::parse(text);
    }
});
