//! Measured latency: whole models, and the head and tail of every cut point, on this host.

use std::time::{Duration, Instant};

use coinfer_graph::{CutPoint, Graph, Partition};
use rand::{Rng, SeedableRng};

use crate::engine::{Engine, Runnable, Tensor};
use crate::error::{EngineError, Result};

/// How long to measure.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MeasureOptions {
    /// Untimed runs first.
    pub warmup: usize,
    /// Timed runs (at most).
    pub runs: usize,
    /// Stop timing after this long even if fewer runs were made (at least 3 runs are made).
    pub budget: Duration,
    /// Idle time before each timed run (not counted in the budget). Zero times back-to-back
    /// runs (hot caches); a few milliseconds times what a device serving periodic requests
    /// sees, whose caches, branch predictors and clocks go cold between requests — up to
    /// several times slower for sub-millisecond stages on this host.
    pub idle_gap: Duration,
}

impl Default for MeasureOptions {
    fn default() -> Self {
        MeasureOptions {
            warmup: 3,
            runs: 30,
            budget: Duration::from_millis(400),
            idle_gap: Duration::ZERO,
        }
    }
}

/// Latency statistics of repeated runs, in milliseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LatencyStats {
    /// Median run time (ms).
    pub median_ms: f64,
    /// 10th percentile (ms).
    pub p10_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// Number of timed runs.
    pub runs: usize,
}

impl LatencyStats {
    /// Statistics of a set of durations (at least one).
    pub fn from_samples(samples: &mut [f64]) -> LatencyStats {
        samples.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let i = ((samples.len() - 1) as f64 * p).round() as usize;
            samples[i]
        };
        LatencyStats { median_ms: q(0.5), p10_ms: q(0.1), p90_ms: q(0.9), runs: samples.len() }
    }
}

/// Times `runnable` on `inputs`.
pub fn measure(
    runnable: &dyn Runnable,
    inputs: &[Tensor],
    opts: &MeasureOptions,
) -> Result<LatencyStats> {
    for _ in 0..opts.warmup {
        runnable.run(inputs)?;
    }
    let mut busy = Duration::ZERO;
    let mut samples = Vec::with_capacity(opts.runs);
    while samples.len() < opts.runs.max(3) {
        if !opts.idle_gap.is_zero() {
            std::thread::sleep(opts.idle_gap);
        }
        let t = Instant::now();
        runnable.run(inputs)?;
        let took = t.elapsed();
        busy += took;
        samples.push(took.as_secs_f64() * 1e3);
        if samples.len() >= 3 && busy > opts.budget {
            break;
        }
    }
    Ok(LatencyStats::from_samples(&mut samples))
}

/// A uniform random input in [0, 1) for every model input, with batch size `batch` (or the
/// input's fixed batch dim, if it declares one).
pub fn random_inputs(graph: &Graph, batch: usize, seed: u64) -> Result<Vec<Tensor>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    graph
        .inputs
        .iter()
        .map(|name| {
            let mut shape =
                graph.tensors[name].shape.clone().ok_or_else(|| EngineError::Prepare {
                    engine: "profile",
                    reason: format!("the shape of input `{name}` is unknown"),
                })?;
            // A fixed batch dim (e.g. `[1, 1, 28, 28]`) is kept: the model runs at no other.
            if let (Some(b), None) = (shape.first_mut(), graph.fixed_batch(name)) {
                *b = batch;
            }
            let n = shape.iter().product();
            let data: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
            Tensor::from_shape_vec(shape, data)
                .map_err(|e| EngineError::Prepare { engine: "profile", reason: e.to_string() })
        })
        .collect()
}

/// A prepared split: head and tail ready to run.
pub struct PreparedSplit {
    /// The partition it was made from.
    pub partition: Partition,
    /// Runnable head (device side).
    pub head: std::sync::Arc<dyn Runnable>,
    /// Runnable tail (edge side).
    pub tail: std::sync::Arc<dyn Runnable>,
}

impl PreparedSplit {
    /// Splits `graph` at `cut` and prepares both halves on `engine`.
    pub fn new(graph: &Graph, cut: &CutPoint, engine: &dyn Engine) -> Result<PreparedSplit> {
        let partition = graph.split(cut)?;
        let head = engine.prepare(&partition.head)?;
        let tail = engine.prepare(&partition.tail)?;
        Ok(PreparedSplit { partition, head, tail })
    }

    /// `tail(head(inputs))`.
    pub fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        let feature = self.head.run(inputs)?;
        self.tail.run(&feature)
    }
}

/// Measured latency of one cut's head and tail.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CutProfile {
    /// The cut (static costs included).
    pub cut: CutPoint,
    /// Head latency on this host.
    pub head: LatencyStats,
    /// Tail latency on this host.
    pub tail: LatencyStats,
}

/// Measured profile of a model on this host.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelProfile {
    /// Engine used.
    pub engine: String,
    /// Threads per model run (coinfer's backends use one).
    pub threads: usize,
    /// Batch size timed.
    pub batch: usize,
    /// Total MACs per sample.
    pub total_macs: u64,
    /// Input bytes per sample.
    pub input_bytes: u64,
    /// Output bytes per sample.
    pub output_bytes: u64,
    /// Parameter bytes.
    pub param_bytes: u64,
    /// Full-model latency.
    pub full: LatencyStats,
    /// Every valid cut.
    pub cuts: Vec<CutProfile>,
}

/// Profiles `graph` on `engine`: the full model and the head and tail of every valid cut,
/// on random inputs of batch size `batch`. `progress` is called after each cut.
pub fn profile_model(
    graph: &Graph,
    engine: &dyn Engine,
    batch: usize,
    opts: &MeasureOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<ModelProfile> {
    let inputs = random_inputs(graph, batch, 0)?;
    let full_model = engine.prepare(&graph.proto)?;
    let full = measure(full_model.as_ref(), &inputs, opts)?;
    let cuts = graph.cut_points();
    let mut out = Vec::with_capacity(cuts.len());
    for (i, cut) in cuts.iter().enumerate() {
        let split = PreparedSplit::new(graph, cut, engine)?;
        let feature = split.head.run(&inputs)?;
        let head = measure(split.head.as_ref(), &inputs, opts)?;
        let tail = measure(split.tail.as_ref(), &feature, opts)?;
        out.push(CutProfile { cut: cut.clone(), head, tail });
        progress(i + 1, cuts.len());
    }
    Ok(ModelProfile {
        engine: engine.name().to_string(),
        threads: 1,
        batch,
        total_macs: graph.total_macs(),
        input_bytes: graph.input_bytes(),
        output_bytes: graph.output_bytes(),
        param_bytes: graph.total_param_bytes(),
        full,
        cuts: out,
    })
}
