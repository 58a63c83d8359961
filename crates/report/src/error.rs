//! The report crate's error.

use std::path::PathBuf;

/// What can go wrong while making a report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A plot could not be drawn.
    #[error("plotting {0}")]
    Plot(String),
    /// A file could not be written.
    #[error("writing {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A result could not be serialised.
    #[error("serialising: {0}")]
    Json(#[from] serde_json::Error),
}

/// `Result` with [`ReportError`].
pub type Result<T, E = ReportError> = std::result::Result<T, E>;
