//! # coinfer-engine
//!
//! Runs ONNX models and their head/tail halves. [`Engine`] prepares a model once
//! ([`Engine::prepare`]) into a [`Runnable`] that is run many times on float32 tensors of any
//! batch size. Backends: [`TractEngine`] (pure Rust, default) and ONNX Runtime (cargo feature
//! `ort`, library loaded at run time); pick one by name with [`engine_for_name`].
//! [`profile`] measures per-cut latency on this host.

pub use engine::{
    available_engines, engine_for_name, resolve_engine_name, Engine, Runnable, Tensor,
};
pub use error::{EngineError, Result};
pub use learned_codec::LearnedCodec;
pub use npy::{read_npy, write_npy};
pub use ort_engine::find_ort_library;
pub use tract_engine::{BatchMode, TractEngine};

pub mod eval;
pub mod profile;

mod engine;
mod error;
mod learned_codec;
mod npy;
mod ort_engine;
mod tract_engine;
