//! How long work reports progress: the front-end draws a bar, a notebook logs, a test ignores.

/// Receives the progress of a workflow. Every method has a do-nothing default.
pub trait Progress {
    /// A stage of `total` units (images, codecs, steps) begins.
    fn start(&mut self, _label: &str, _total: u64) {}
    /// `done` units of the current stage are finished (cumulative).
    fn set(&mut self, _done: u64) {}
    /// The current stage ended.
    fn finish(&mut self) {}
    /// Replaces the current stage's label (e.g. with the best result so far).
    fn status(&mut self, _label: &str) {}
    /// A line worth showing (an epoch's accuracy, a decision).
    fn note(&mut self, _line: &str) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}
