//! # coinfer-policy
//!
//! Decisions over the system models of `coinfer-sim`. For now: the exhaustive
//! (Neurosurgeon-style) choice of the latency-minimal split for a link.

pub use exhaustive::best_split;

mod exhaustive;
