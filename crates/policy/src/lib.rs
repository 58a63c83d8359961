//! # coinfer-policy
//!
//! Decisions over the system models of `coinfer-sim`: the exhaustive (Neurosurgeon-style)
//! choice of the latency-minimal split for a link ([`best_split`]), and online splitting under
//! fading as optimal stopping ([`stopping`]: backward induction, one-stage look-ahead, baselines,
//! exact and Monte Carlo evaluation).

pub use exhaustive::best_split;

pub mod placement;
pub mod stopping;
pub mod stopping_config;

mod exhaustive;
