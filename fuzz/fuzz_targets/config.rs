//! Fuzzes the config loader: any text is a config or a list of problems, never a panic, and
//! never more than the loader's bounds (size, values after alias expansion, depth) to hold.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = headroom::config::parse(text, &|_| None);
    }
});
