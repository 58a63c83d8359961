//! A deployed learned bottleneck: the folder `coinfer codec bottleneck` writes
//! (`device.onnx` = head + encoder, `edge.onnx` = decoder + tail, `codec.json` = the code's
//! calibrated entropy codec, `bottleneck.json` = what training measured).

use std::path::Path;

use coinfer_compress::Codec;
use coinfer_data::Dataset;
use coinfer_engine::Engine;

use crate::error::{PipelineError, Result};
use crate::evaluate::{evaluate, Evaluation, Stages};
use crate::progress::Progress;

/// The part of `bottleneck.json` the sweeps read.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BottleneckSummary {
    /// Float32 bytes per sample of the original cut feature the bottleneck replaces.
    pub fp32_feature_bytes: u64,
}

fn read(dir: &Path, file: &str) -> Result<String> {
    let path = dir.join(file);
    std::fs::read_to_string(&path)
        .map_err(|source| PipelineError::Io { what: format!("reading {}", path.display()), source })
}

fn parse<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<T> {
    serde_json::from_str(&read(dir, file)?)
        .map_err(|e| PipelineError::Invalid(format!("{}: {e}", dir.join(file).display())))
}

/// Reads the deployed bottleneck's summary.
pub fn summary(dir: &Path) -> Result<BottleneckSummary> {
    parse(dir, "bottleneck.json")
}

/// Accuracy and frame bytes of the deployed bottleneck in `dir` on `data` (device model →
/// its codec → edge model), on `engine`.
pub fn evaluate_deployed(
    dir: &Path,
    data: &Dataset,
    engine: &dyn Engine,
    progress: &mut dyn Progress,
) -> Result<Evaluation> {
    let device = engine.prepare(&coinfer_graph::load_model(&dir.join("device.onnx"))?)?;
    let edge = engine.prepare(&coinfer_graph::load_model(&dir.join("edge.onnx"))?)?;
    let codec: Codec = parse(dir, "codec.json")?;
    let stages = Stages::Split { head: device.as_ref(), tail: edge.as_ref() };
    evaluate(stages, &codec, data, 250, None, progress)
}
