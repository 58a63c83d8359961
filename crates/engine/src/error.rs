//! Errors of the inference engines.

use std::path::PathBuf;

/// Everything that can go wrong while preparing or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The model could not be loaded or optimised by the backend.
    #[error("{engine}: cannot prepare model: {reason}")]
    Prepare {
        /// Backend name.
        engine: &'static str,
        /// Backend message.
        reason: String,
    },
    /// Wrong number of inputs.
    #[error("the model takes {expected} input(s), got {got}")]
    InputCount {
        /// Inputs the model declares.
        expected: usize,
        /// Inputs given.
        got: usize,
    },
    /// An input's shape does not fit the model's declared input.
    #[error("input `{input}` has shape {got:?}, the model expects {expected} (`?` = any size)")]
    ShapeMismatch {
        /// Input name.
        input: String,
        /// Declared shape, e.g. `[?, 1, 28, 28]`.
        expected: String,
        /// Shape given.
        got: Vec<usize>,
    },
    /// The backend failed at run time.
    #[error("{engine}: inference failed: {reason}")]
    Run {
        /// Backend name.
        engine: &'static str,
        /// Backend message.
        reason: String,
    },
    /// The model produced a non-float32 output.
    #[error("output {index} is not float32 (coinfer exchanges float32 tensors)")]
    OutputType {
        /// Output position.
        index: usize,
    },
    /// An unknown engine name, or one this build does not include.
    #[error("engine `{name}` is not available: {reason}")]
    Unavailable {
        /// Requested name.
        name: String,
        /// Why (unknown, or not compiled in, or library not found).
        reason: String,
    },
    /// A NumPy file could not be read or written.
    #[error("{path}: {reason}")]
    Npy {
        /// File involved.
        path: PathBuf,
        /// What went wrong (dtype, layout, I/O).
        reason: String,
    },
    /// A graph error while preparing sub-models.
    #[error(transparent)]
    Graph(#[from] coinfer_graph::GraphError),
}

/// Result alias of this crate.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
