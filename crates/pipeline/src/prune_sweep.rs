//! Pruning, measured: a model pruned at each ratio (up to a cut), optionally fine-tuned,
//! then its MACs, parameters, measured head latency and test accuracy — the inner loop of an
//! AutoML episode.

use std::path::PathBuf;
use std::time::Duration;

use coinfer_data::{DatasetName, Split};
use coinfer_engine::profile::{measure, random_inputs, MeasureOptions};
use coinfer_graph::Graph;
use coinfer_prune::{prune_rounded, Criterion, Ratios};
use coinfer_train::FitConfig;

use crate::error::Result;
use crate::finetune::{accuracy, finetune};
use crate::progress::{NoProgress, Progress};

/// Median latency (ms) of the head up to `cut` (the whole model if `None`) on the engine
/// named `engine` at `batch` samples per run (up to 2,000 runs in 1.5 s after 20 warm-ups).
pub fn head_latency_ms(
    graph: &Graph,
    cut: Option<&str>,
    engine: &str,
    batch: usize,
) -> Result<f64> {
    let engine = coinfer_engine::engine_for_name(engine)?;
    let model = match cut {
        Some(c) => graph.split(&graph.find_cut(c)?)?.head,
        None => graph.proto.clone(),
    };
    let runnable = engine.prepare(&model)?;
    let inputs = random_inputs(graph, batch.max(1), 3)?;
    let opts = MeasureOptions {
        warmup: 20,
        runs: 2000,
        budget: Duration::from_millis(1500),
        idle_gap: Duration::ZERO,
    };
    Ok(measure(runnable.as_ref(), &inputs, &opts)?.median_ms)
}

/// MACs of the head up to `cut` (the whole model if `None`).
pub fn head_macs(graph: &Graph, cut: Option<&str>) -> Result<u64> {
    Ok(match cut {
        Some(c) => graph.find_cut(c)?.head_macs,
        None => graph.total_macs(),
    })
}

/// Topological index of the node producing `cut`'s tensor (pruning stops there).
pub fn until_node(graph: &Graph, cut: Option<&str>) -> Result<Option<usize>> {
    Ok(match cut {
        Some(c) => {
            let cut = graph.find_cut(c)?;
            graph.tensor(&cut.tensor).and_then(|t| t.producer)
        }
        None => None,
    })
}

/// What to sweep.
#[derive(Debug, Clone)]
pub struct PruneSweepConfig<'a> {
    /// The model file (recorded in the report).
    pub model: &'a std::path::Path,
    /// The model, analysed.
    pub graph: &'a Graph,
    /// Uniform prune ratios to try.
    pub ratios: &'a [f64],
    /// Prune only up to this cut (the device's head); `None`: the whole model.
    pub until: Option<&'a str>,
    /// Channel ranking.
    pub criterion: Criterion,
    /// Kept channel counts rounded to a multiple of this.
    pub multiple_of: usize,
    /// Fine-tuning after each pruning (0 epochs: none).
    pub fit: FitConfig,
    /// Data set: fine-tuned on its train split, scored on its test split.
    pub data: DatasetName,
    /// Test images scored.
    pub images: usize,
    /// Engine that times the heads and scores the models.
    pub engine: &'a str,
    /// Samples per timed run.
    pub latency_batch: usize,
}

/// One ratio's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneSweepRow {
    /// Fraction of filters removed.
    pub ratio: f64,
    /// MACs of the whole model.
    pub macs: u64,
    /// MACs of the head.
    pub head_macs: u64,
    /// Parameter bytes.
    pub param_bytes: u64,
    /// Measured median head latency (ms).
    pub head_latency_ms: f64,
    /// Test accuracy in `[0, 1]`.
    pub accuracy: f64,
    /// Epochs of fine-tuning it had.
    pub fine_tuning_epochs: usize,
}

/// The sweep's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PruneSweepReport {
    /// The model file.
    pub model: PathBuf,
    /// The cut pruning stopped at.
    pub until: Option<String>,
    /// Channel ranking.
    pub criterion: String,
    /// Rounding of kept channels.
    pub multiple_of: usize,
    /// Engine used.
    pub engine: String,
    /// Samples per timed run.
    pub latency_batch: usize,
    /// Test images scored.
    pub images: usize,
    /// One row per ratio, in the order given.
    pub rows: Vec<PruneSweepRow>,
}

/// Runs the sweep; progress in ratios, fine-tuning epochs as notes.
pub fn prune_sweep(
    config: &PruneSweepConfig<'_>,
    progress: &mut dyn Progress,
) -> Result<PruneSweepReport> {
    let graph = config.graph;
    let test = coinfer_data::load(config.data, Split::Test)?.take(config.images);
    let cut = config.until;
    let until = until_node(graph, cut)?;
    let mut rows = Vec::new();
    progress.start("ratios", config.ratios.len() as u64);
    for (done, &ratio) in config.ratios.iter().enumerate() {
        let pruned = prune_rounded(
            graph,
            &Ratios::Uniform { ratio, until },
            config.criterion,
            config.multiple_of,
        )?;
        let tuned = config.fit.epochs > 0 && ratio > 0.0;
        let model = if tuned {
            let label = format!("ratio {ratio}");
            let (m, history) =
                finetune(&pruned.graph, config.data, &config.fit, &label, &mut NoProgress)?;
            history.iter().for_each(|e| progress.note(&crate::finetune::epoch_line(&label, e)));
            Graph::analyse(m)?
        } else {
            pruned.graph
        };
        rows.push(PruneSweepRow {
            ratio,
            macs: model.total_macs(),
            head_macs: head_macs(&model, cut)?,
            param_bytes: model.total_param_bytes(),
            head_latency_ms: head_latency_ms(&model, cut, config.engine, config.latency_batch)?,
            accuracy: accuracy(&model.proto, &test, config.engine)?,
            fine_tuning_epochs: if tuned { config.fit.epochs } else { 0 },
        });
        progress.set(done as u64 + 1);
    }
    progress.finish();
    Ok(PruneSweepReport {
        model: config.model.to_path_buf(),
        until: cut.map(str::to_string),
        criterion: config.criterion.to_string(),
        multiple_of: config.multiple_of,
        engine: config.engine.to_string(),
        latency_batch: config.latency_batch,
        images: test.len(),
        rows,
    })
}
