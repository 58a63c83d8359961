//! Errors of training.

/// Everything that can go wrong while training or exporting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrainError {
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// Data loading failed.
    #[error(transparent)]
    Data(#[from] coinfer_data::DataError),
    /// A configuration value is unusable.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The ONNX model could not be read or analysed.
    #[error(transparent)]
    Graph(#[from] coinfer_graph::GraphError),
    /// The ONNX model uses an op or attribute the trainable interpreter does not implement.
    #[error("cannot train node `{node}`: {reason}")]
    Unsupported {
        /// Node name.
        node: String,
        /// What is missing.
        reason: String,
    },
    /// Shapes disagree.
    #[error("shape error: {0}")]
    Shape(String),
}

/// Result alias of this crate.
pub type Result<T, E = TrainError> = std::result::Result<T, E>;
