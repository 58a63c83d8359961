//! The environment interface agents train on and the Python package wraps (Gymnasium's
//! `reset` / `step`, with the spaces described): every environment of the simulator
//! implements [`Env`]. Stepping before a reset or after the end, an action out of its space
//! or a non-finite number is an [`EnvError`], never a panic.

use crate::env::Step;

/// The shape of an observation or an action, as Gymnasium describes spaces.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Space {
    /// One of `n` choices, `0..n`.
    Discrete(usize),
    /// Real vectors with per-element bounds (`low.len() == high.len()`; ±∞ allowed).
    Box {
        /// Lower bounds.
        low: Vec<f64>,
        /// Upper bounds.
        high: Vec<f64>,
    },
    /// Several spaces side by side (one per device, or the parts of a hybrid action).
    Tuple(Vec<Space>),
}

impl Space {
    /// A box of `n` unbounded reals.
    pub fn reals(n: usize) -> Space {
        Space::Box { low: vec![f64::NEG_INFINITY; n], high: vec![f64::INFINITY; n] }
    }
}

/// Why a step was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// `step` before the first `reset`.
    #[error("step before reset: call reset first")]
    NotReset,
    /// `step` after the episode ended.
    #[error("the episode has ended: call reset")]
    Finished,
    /// An action outside the action space (wrong length, index out of range, NaN, ∞...).
    #[error("invalid action: {0}")]
    InvalidAction(String),
    /// The environment's evaluator failed (a model that would not prune or run).
    #[error("evaluation failed: {0}")]
    Evaluation(String),
}

/// A seeded, deterministic environment.
pub trait Env {
    /// One action of the agent (for a multi-device environment: one per device).
    type Action: ?Sized;
    /// What an observation holds.
    fn observation_space(&self) -> Space;
    /// What an action may be.
    fn action_space(&self) -> Space;
    /// Starts an episode (reseeding the generator if `seed` is given); the first observation.
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32>;
    /// Applies `action`.
    fn step(&mut self, action: &Self::Action) -> Result<Step, EnvError>;
}
