//! # coinfer-runtime
//!
//! The real co-inference runtime: an edge server and a device client that talk gRPC
//! (`proto/coinfer.proto`, package `coinfer.v1`) over real sockets, optionally through a
//! user-space link emulator.
//!
//! - [`server`]: the edge — loads tails on demand ([`models`]), enforces per-device
//!   bandwidth shares ([`shaping`]), token auth and limits, and runs tails in batches under
//!   weighted fair scheduling ([`scheduler`]); Prometheus metrics ([`metrics`]).
//! - [`device`]: the device — runs the head, encodes the feature, asks the edge
//!   ([`client`]), falls back to the local model when the edge fails, and records every
//!   stage's time; online splitting from the observed link rate.
//! - [`link`]: rate, delay, jitter, loss (Bernoulli, Gilbert–Elliott) and time-varying rate
//!   for TCP connections, as an in-process relay or `coinfer link`.
//!
//! The runtime executes plans ([`coinfer_sim::Plan`]); it never decides.

pub mod accept;
pub mod client;
pub mod cpus;
pub mod credentials;
pub mod device;
pub mod distribution;
pub mod error;
pub mod fetch;
pub mod https;
pub mod keep_awake;
pub mod limits;
pub mod link;
pub mod metrics;
pub mod models;
pub mod outcomes;
pub mod pace;
pub mod relay;
pub mod scheduler;
pub mod server;
pub mod shaping;
pub mod tls;

pub use error::{Result, RuntimeError};

/// Generated gRPC types and stubs of `proto/coinfer.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    tonic::include_proto!("coinfer.v1");
}

/// Protocol name and major version, as reported by `Health`.
pub const PROTOCOL: &str = "coinfer.v1";
