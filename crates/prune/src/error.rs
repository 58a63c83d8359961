//! Errors of channel analysis and pruning.

/// Everything that can go wrong while pruning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// The model could not be read, analysed or written.
    #[error(transparent)]
    Graph(#[from] coinfer_graph::GraphError),
    /// A prune ratio outside `[0, 1)`.
    #[error("prune ratio {ratio} for `{group}` is outside [0, 1): 0 keeps every channel, 1 would remove them all")]
    BadRatio {
        /// Group (or `uniform`).
        group: String,
        /// The ratio given.
        ratio: f64,
    },
    /// A ratio names no channel group.
    #[error(
        "`{name}` names no channel group; groups are named after their producing layers: {known}"
    )]
    UnknownGroup {
        /// The name given.
        name: String,
        /// The known group names, comma-separated.
        known: String,
    },
    /// A ratio was asked for a group that cannot be pruned.
    #[error("channel group `{group}` cannot be pruned: {reason}")]
    Unprunable {
        /// Group name.
        group: String,
        /// Why.
        reason: String,
    },
    /// The graph has a structure the channel analysis does not accept.
    #[error("channel analysis failed: {0}")]
    Analysis(String),
    /// The importance criterion needs something the group lacks.
    #[error("criterion `{criterion}` cannot rank group `{group}`: {reason}")]
    Criterion {
        /// Criterion name.
        criterion: String,
        /// Group name.
        group: String,
        /// Why.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = PruneError> = std::result::Result<T, E>;
