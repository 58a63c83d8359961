//! The workflows of coinfer, callable by any front-end (the CLI, the Python package, the
//! agents' training loops): each is a function with a typed config in, a typed, serde-able
//! result out, and progress reported through [`Progress`]. Front-ends parse, call and print;
//! they hold no domain logic.
//!
//! - [`automl`](mod@automl): seed 000's search (DDPG over the head's channel groups, the
//!   feature's width and bits, per candidate cut), over [`automl_space`] (a model's search
//!   space) scored by [`automl_proxy`] (the adaptive-BN accuracy signal).
//! - [`automl_proxies`]: which cheap accuracy signal tracks the fine-tuned accuracy.
//! - [`bench`](mod@bench): the benchmark harnesses (speeds and same-run ratios).
//! - [`bottleneck`]: a deployed learned bottleneck, evaluated.
//! - [`codec_sweep`]: accuracy against bytes of every codec at a cut.
//! - [`demo`]: the demo's plan per link rate, its honest baselines (device-only, edge-only
//!   with real image codecs, Neurosurgeon), its executions and its runtime check.
//! - [`demo_seeds`]: the demo's three papers: shipped AutoML plans predicted, compared and run;
//!   placement and online splitting on the runtime; the MCIA agent simulated and deployed.
//! - [`features`]: engine tensors ⇄ codec features, one frame per sample.
//! - [`evaluate()`]: the one codec seam: data → head → codec → tail (or the whole model, with
//!   or without the input crossing the link), scored against the labels and the unsplit model.
//! - [`finetune`]: fine-tuning any ONNX model, and its accuracy.
//! - [`image_codec`]: PNG/JPEG of the input image, the baseline's codec.
//! - [`layers`]: a real model as the simulator's layer table.
//! - [`plan_model`]: `coinfer plan` — the fastest split and codec of a user's model whose
//!   answers agree with the unsplit model's, and its deployable folder.
//! - [`plan_predict`]: a plan's predicted latency and energy for the models it names.
//! - [`prune_sweep`]: prune → fine-tune → measure at several ratios (an AutoML episode's
//!   inner loop).
//! - [`profile`]: this host's timings of the model, its heads and tails, for the cost model.
//! - [`runtime_check`]: chosen splits deployed on the real runtime (edge server, device,
//!   emulated link) and measured against the cost model's prediction.
//! - [`train_default`]: the default model trained, exported and measured for its card.
//! - [`versions`]: model versions at several widths and the version table.
//! - [`stopping_study`]: seed 002's placement and stopping rules compared, and the online rule.

//!
//! A split executed with a 4-bit codec on real test images (the README's example):
//!
//! ```no_run
//! use coinfer_compress::{Codec, QuantRange};
//! use coinfer_engine::profile::PreparedSplit;
//! use coinfer_pipeline::{evaluate, NoProgress, Stages};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let graph = coinfer_graph::Graph::load("models/fmnist-resnet.onnx".as_ref())?;
//! let engine = coinfer_engine::engine_for_name("tract")?;
//! let split = PreparedSplit::new(&graph, &graph.find_cut("9")?, engine.as_ref())?;
//! let data = coinfer_data::load(coinfer_data::DatasetName::FashionMnist, coinfer_data::Split::Test)?;
//! let codec = Codec::Uniform { bits: 4, range: QuantRange::PerTensor { lo: 0.0, hi: 4.0 } };
//! let stages = Stages::Split { head: split.head.as_ref(), tail: split.tail.as_ref() };
//! let e = evaluate(stages, &codec, &data, 100, None, &mut NoProgress)?;
//! println!("{:.2} % at {:.0} bytes per image", 100.0 * e.accuracy, e.bytes_per_sample);
//! # Ok(())
//! # }
//! ```

pub mod automl;
pub mod automl_cache;
pub mod automl_compare;
pub mod automl_deploy;
pub mod automl_proxies;
pub mod automl_proxy;
pub mod automl_space;
pub mod bench;
pub mod bottleneck;
pub mod codec_sweep;
pub mod demo;
pub mod demo_seeds;
pub mod edge_bench;
mod error;
pub mod evaluate;
pub mod features;
pub mod finetune;
pub mod image_codec;
pub mod layers;
pub mod mcia;
pub mod mcia_deploy;
pub mod placement_decision;
pub mod placement_run;
mod placement_testbed;
pub mod plan_model;
pub mod plan_predict;
pub mod profile;
mod progress;
pub mod prune_sweep;
pub mod runtime_check;
pub mod stopping_study;
pub mod tls_bench;
pub mod train_default;
pub mod versions;

pub use error::{PipelineError, Result};
pub use evaluate::{evaluate, Evaluation, Stages};
pub use image_codec::ImageCodec;
pub use progress::{NoProgress, Progress};
