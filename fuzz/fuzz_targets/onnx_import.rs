//! ONNX import, analysis, cut points and head/tail surgery (see
//! `coinfer_fuzz_targets::onnx_import`). Run with the model seeds too:
//! `cargo +nightly fuzz run onnx_import fuzz/corpus/onnx_import models/corpus models/versions -- -max_len=1000000`.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // libfuzzer-sys's panic hook aborts on every panic, also on the ones coinfer-graph
        // catches around tract's shape inference (tract panics on some malformed models and
        // that becomes an error). A panic that escapes the target still aborts: libfuzzer-sys
        // checks the target's result itself.
        std::panic::set_hook(Box::new(|_| {}));
    },
    |data: &[u8]| {
        let _ = coinfer_fuzz_targets::onnx_import(data);
    }
);
