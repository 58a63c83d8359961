//! Fuzz targets shared by two drivers: `cargo fuzz` (libFuzzer, coverage-guided, for long runs
//! on nightly; see `fuzz/`) and a stable, seeded smoke run in the test suite
//! (`tests/smoke.rs`), which replays the committed corpus and a fixed number of mutations of
//! it. A target returns normally for any input; a panic is a bug the driver reports.
//!
//! - [`decode_frame`]: feature frames, also with the CRC repaired so the parsers behind the
//!   checksum are reached.
//! - [`onnx_import`]: ONNX decoding, analysis (shape inference, costs), cut points, and the
//!   head/tail split at each cut, whose head must analyse again.

pub mod corpus;
pub mod mutate;
mod targets;

pub use targets::{decode_frame, onnx_import, Reached, FRAME_LIMITS};
