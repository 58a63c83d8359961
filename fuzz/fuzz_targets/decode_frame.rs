//! Feature-frame decoding (see `coinfer_fuzz_targets::decode_frame`).
//! Run: `cargo +nightly fuzz run decode_frame fuzz/corpus/decode_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coinfer_fuzz_targets::decode_frame(data));
