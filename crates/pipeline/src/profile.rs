//! Profiling a model on this host, and the measurements in the form the cost model takes.

use std::time::Duration;

use coinfer_engine::profile::{profile_model, MeasureOptions, ModelProfile};
use coinfer_graph::Graph;
use coinfer_sim::{MeasuredCut, MeasuredModel};

use crate::error::Result;
use crate::progress::Progress;

/// How to time a model.
#[derive(Debug, Clone)]
pub struct ProfileConfig<'a> {
    /// Engine name (`tract`, `ort`).
    pub engine: &'a str,
    /// Samples per run.
    pub batch: usize,
    /// Timed runs of the full model and of each head and tail.
    pub runs: usize,
    /// Idle time before each timed run: zero for back-to-back (hot) timings, a few ms for
    /// the periodic-request regime a deployed device is in (see [`MeasureOptions`]).
    pub idle_gap: Duration,
}

impl ProfileConfig<'_> {
    /// The idle gap that times the periodic-request regime (caches cold between requests).
    pub const PERIODIC_GAP: Duration = Duration::from_millis(4);
}

/// Profiles `graph` per `config`; progress in cuts.
pub fn measure_model(
    graph: &Graph,
    config: &ProfileConfig<'_>,
    progress: &mut dyn Progress,
) -> Result<ModelProfile> {
    let engine = coinfer_engine::engine_for_name(config.engine)?;
    progress.start("profile", graph.cut_points().len() as u64);
    let opts =
        MeasureOptions { runs: config.runs, idle_gap: config.idle_gap, ..Default::default() };
    let p = profile_model(graph, engine.as_ref(), config.batch.max(1), &opts, |done, _| {
        progress.set(done as u64)
    })?;
    progress.finish();
    Ok(p)
}

/// The host measurements per sample (medians over the runs, divided by the batch, in
/// seconds), as the cost model's [`MeasuredModel`].
pub fn measured(p: &ModelProfile) -> MeasuredModel {
    let per_sample = |ms: f64| ms / 1e3 / p.batch as f64;
    MeasuredModel {
        total_macs: p.total_macs,
        full_s: per_sample(p.full.median_ms),
        input_bytes: p.input_bytes,
        cuts: p
            .cuts
            .iter()
            .map(|c| MeasuredCut {
                index: c.cut.index,
                tensor: c.cut.tensor.clone(),
                head_s: per_sample(c.head.median_ms),
                tail_s: per_sample(c.tail.median_ms),
                head_macs: c.cut.head_macs,
                feature_bytes: c.cut.feature_bytes,
            })
            .collect(),
    }
}

/// One cut: its costs on this host (with spread) and as the cost model predicts them on the
/// chosen device and edge.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CutRow {
    /// Cut index.
    pub index: usize,
    /// Cut tensor.
    pub tensor: String,
    /// Feature shape at batch 1.
    pub shape: Vec<usize>,
    /// Feature bytes per sample.
    pub feature_bytes: u64,
    /// Head MACs per sample.
    pub head_macs: u64,
    /// Tail MACs per sample.
    pub tail_macs: u64,
    /// Host head timing (ms per run: median, p10, p90).
    pub host_head: coinfer_engine::profile::LatencyStats,
    /// Host tail timing.
    pub host_tail: coinfer_engine::profile::LatencyStats,
    /// Head on this host per the robust per-layer fit (s per sample).
    pub host_head_fit_s: f64,
    /// Head on the device per the cost model (s).
    pub device_head_s: f64,
    /// Tail on the edge per the cost model (s).
    pub edge_tail_s: f64,
}

/// `coinfer profile`'s result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProfileReport {
    /// The host profile.
    pub profile: ModelProfile,
    /// This host's effective throughput on the model (GMAC/s).
    pub host_gmacs: f64,
    /// The host's per-layer times fitted to the profile (heads nest; head + tail = full + one
    /// call).
    pub host_layers: coinfer_sim::LayerTimes,
    /// The model's layer table.
    pub layers: coinfer_sim::LayerTable,
    /// Device hardware.
    pub device: coinfer_sim::Hardware,
    /// Edge hardware.
    pub edge: coinfer_sim::Hardware,
    /// The whole model on the device (s).
    pub device_full_s: f64,
    /// The whole model on the edge (s).
    pub edge_full_s: f64,
    /// Every cut.
    pub cuts: Vec<CutRow>,
}

/// Profiles `graph` on this host and predicts every head on `device` and tail on `edge`.
pub fn profile_report(
    graph: &Graph,
    config: &ProfileConfig<'_>,
    device: coinfer_sim::Hardware,
    edge: coinfer_sim::Hardware,
    progress: &mut dyn Progress,
) -> Result<ProfileReport> {
    use coinfer_sim::LayerCost;
    let profile = measure_model(graph, config, progress)?;
    let m = measured(&profile);
    let layers = crate::layers::layer_table(graph);
    for side in [&device, &edge] {
        if let coinfer_sim::Hardware::Measured(t) = side {
            t.check_covers(&layers)
                .map_err(|e| crate::error::PipelineError::Invalid(e.to_string()))?;
        }
    }
    let host_layers = m.layer_times("this host", 0.0);
    let n = layers.layers.len();
    let cuts = profile
        .cuts
        .iter()
        .map(|c| {
            let p = c.cut.index + 1;
            CutRow {
                index: c.cut.index,
                tensor: c.cut.tensor.clone(),
                shape: c.cut.shape.clone(),
                feature_bytes: c.cut.feature_bytes,
                head_macs: c.cut.head_macs,
                tail_macs: c.cut.tail_macs,
                host_head: c.head,
                host_tail: c.tail,
                host_head_fit_s: host_layers.run_s(&layers, 0..p),
                device_head_s: device.run_s(&layers, 0..p),
                edge_tail_s: edge.run_s(&layers, p..n),
            }
        })
        .collect();
    Ok(ProfileReport {
        host_gmacs: m.host_gmacs(),
        device_full_s: device.run_s(&layers, 0..n),
        edge_full_s: edge.run_s(&layers, 0..n),
        host_layers,
        layers,
        device,
        edge,
        cuts,
        profile,
    })
}
