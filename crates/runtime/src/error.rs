//! Runtime errors.

/// Result with a [`RuntimeError`].
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// What went wrong in the runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A model, version or cut that the model directory does not hold.
    #[error("not found: {0}")]
    NotFound(String),
    /// A request or configuration that is malformed.
    #[error("invalid: {0}")]
    Invalid(String),
    /// A model could not be loaded, split or run.
    #[error(transparent)]
    Engine(#[from] coinfer_engine::EngineError),
    /// ONNX graph problems.
    #[error(transparent)]
    Graph(#[from] coinfer_graph::GraphError),
    /// A feature frame that does not decode.
    #[error("bad frame: {0}")]
    Frame(#[from] coinfer_compress::FrameError),
    /// The edge answered with an error or could not be reached.
    #[error("edge: {0}")]
    Edge(String),
    /// Socket or file I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl RuntimeError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> RuntimeError {
        RuntimeError::Io { context: context.into(), source }
    }
}
