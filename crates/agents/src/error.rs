//! Errors of the agents.

/// Why an agent could not act, learn, save or load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A tensor operation failed (shapes, a missing variable in a loaded file).
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The environment refused a step.
    #[error("environment: {0}")]
    Env(#[from] coinfer_sim::EnvError),
    /// The environment's spaces are not what this agent handles.
    #[error("{0}")]
    Space(String),
    /// A configuration value is out of range.
    #[error("agent configuration: {0}")]
    Config(String),
}

/// Result with [`AgentError`].
pub type Result<T> = std::result::Result<T, AgentError>;
