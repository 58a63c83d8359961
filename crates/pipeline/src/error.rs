//! Errors of the workflows: the libraries' own, passed through with their messages.

/// Why a workflow failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// Loading, analysing or cutting the model.
    #[error(transparent)]
    Graph(#[from] coinfer_graph::GraphError),
    /// Preparing or running a model.
    #[error(transparent)]
    Engine(#[from] coinfer_engine::EngineError),
    /// Loading a data set.
    #[error(transparent)]
    Data(#[from] coinfer_data::DataError),
    /// Encoding or decoding a feature.
    #[error(transparent)]
    Codec(#[from] coinfer_compress::CodecError),
    /// Training or fine-tuning failed.
    #[error(transparent)]
    Train(#[from] coinfer_train::TrainError),
    /// Pruning failed.
    #[error(transparent)]
    Prune(#[from] coinfer_prune::PruneError),
    /// The runtime (edge server, device, link emulator) failed.
    #[error(transparent)]
    Runtime(#[from] coinfer_runtime::error::RuntimeError),
    /// An agent failed (bad settings, a non-finite reward).
    #[error(transparent)]
    Agent(#[from] coinfer_agents::AgentError),
    /// An environment refused a step (or its evaluation failed).
    #[error(transparent)]
    Env(#[from] coinfer_sim::EnvError),
    /// An I/O error outside the libraries (starting an async runtime, writing a result).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The inputs of a workflow do not fit together (a data set for another input shape...).
    #[error("{0}")]
    Invalid(String),
}

/// Result of the workflows.
pub type Result<T> = std::result::Result<T, PipelineError>;

/// Writes `value` as JSON to `path` with a final newline: pretty, or compact (for files of
/// thousands of numbers, such as per-element entropy models).
pub(crate) fn write_json<T: serde::Serialize>(
    path: &std::path::Path,
    value: &T,
    pretty: bool,
) -> Result<()> {
    let json =
        if pretty { serde_json::to_string_pretty(value) } else { serde_json::to_string(value) }
            .map_err(|e| PipelineError::Invalid(format!("{}: {e}", path.display())))?;
    std::fs::write(path, json + "\n")
        .map_err(|source| PipelineError::Io { what: format!("writing {}", path.display()), source })
}
