//! # coinfer-policy
//!
//! Decisions over the system models of `coinfer-sim`: the exhaustive (Neurosurgeon-style)
//! choice of the latency-minimal split for a link ([`best_split`]), and online splitting under
//! fading as optimal stopping ([`stopping`]: backward induction, one-stage look-ahead, baselines,
//! exact and Monte Carlo evaluation; [`stopping_markov`]: the same when the channel is a
//! Markov chain across stages).

pub use exhaustive::best_split;

pub mod placement;
pub mod stopping;
pub mod stopping_config;
pub mod stopping_markov;

mod exhaustive;
