//! Profiling a model on this host, and the measurements in the form the cost model takes.

use coinfer_engine::profile::{profile_model, MeasureOptions, ModelProfile};
use coinfer_graph::Graph;
use coinfer_sim::{MeasuredCut, MeasuredModel};

use crate::error::Result;
use crate::progress::Progress;

/// Profiles `graph` on the engine named `engine` at `batch` samples per run, `runs` timed
/// runs of the full model and of each head and tail; progress in cuts.
pub fn measure_model(
    graph: &Graph,
    engine: &str,
    batch: usize,
    runs: usize,
    progress: &mut dyn Progress,
) -> Result<ModelProfile> {
    let engine = coinfer_engine::engine_for_name(engine)?;
    progress.start("profile", graph.cut_points().len() as u64);
    let opts = MeasureOptions { runs, ..Default::default() };
    let p = profile_model(graph, engine.as_ref(), batch.max(1), &opts, |done, _| {
        progress.set(done as u64)
    })?;
    progress.finish();
    Ok(p)
}

/// The host measurements per sample (medians over the runs, divided by the batch), as the
/// cost model's [`MeasuredModel`].
pub fn measured(p: &ModelProfile) -> MeasuredModel {
    MeasuredModel {
        total_macs: p.total_macs,
        full_ms: p.full.median_ms / p.batch as f64,
        input_bytes: p.input_bytes,
        cuts: p
            .cuts
            .iter()
            .map(|c| MeasuredCut {
                index: c.cut.index,
                tensor: c.cut.tensor.clone(),
                head_ms: c.head.median_ms / p.batch as f64,
                tail_ms: c.tail.median_ms / p.batch as f64,
                feature_bytes: c.cut.feature_bytes,
            })
            .collect(),
    }
}
