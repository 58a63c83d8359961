//! ONNX import, analysis, cut points and head/tail surgery (see
//! `coinfer_fuzz_targets::onnx_import`). Run with the model seeds too:
//! `cargo +nightly fuzz run onnx_import fuzz/corpus/onnx_import models/corpus models/versions -- -max_len=1000000`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = coinfer_fuzz_targets::onnx_import(data);
});
