//! Errors of data loading.

use std::path::PathBuf;

/// Everything that can go wrong while loading a data set.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The data set's files are not on this machine.
    #[error("data set `{dataset}` not found (looked in {looked:?}); install it with: {install}")]
    Missing {
        /// Data set name.
        dataset: String,
        /// Places searched.
        looked: Vec<PathBuf>,
        /// The command that installs it.
        install: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// File involved.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file's content is not what its format requires.
    #[error("{path}: malformed data: {reason}")]
    Format {
        /// File involved.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An unknown data set or split name.
    #[error("unknown {what} `{name}`; expected one of {expected}")]
    UnknownName {
        /// `data set` or `split`.
        what: &'static str,
        /// Name given.
        name: String,
        /// Accepted names.
        expected: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
