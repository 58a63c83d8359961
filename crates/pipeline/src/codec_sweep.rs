//! Accuracy against bytes per sample of every feature codec at one cut: raw, uniform
//! quantization (per tensor and per channel, 1–8 bits), the same with ANS, the input-image
//! baseline (PNG/JPEG of the image, the whole model at the edge) and learned bottlenecks.

use std::path::PathBuf;

use coinfer_compress::{Codec, Feature, FeatureCodec, QuantRange};
use coinfer_data::{DatasetName, Split};
use coinfer_engine::eval::first_output;
use coinfer_engine::profile::PreparedSplit;
use coinfer_engine::Tensor;
use coinfer_graph::{CutPoint, Graph};

use crate::error::Result;
use crate::evaluate::{evaluate, Stages};
use crate::features::sample_features;
use crate::image_codec::ImageCodec;
use crate::progress::{NoProgress, Progress};

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepConfig<'a> {
    /// The model file (recorded in the report).
    pub model: &'a std::path::Path,
    /// The model, analysed.
    pub graph: &'a Graph,
    /// The cut (`index` or tensor name, as `Graph::find_cut` takes).
    pub cut: &'a str,
    /// Engine name.
    pub engine: &'a str,
    /// Data set: test images are scored, validation images calibrate the quantizers.
    pub data: DatasetName,
    /// Test images scored.
    pub images: usize,
    /// Validation images the ranges and entropy models are fitted on.
    pub calibration: usize,
    /// Also the input-image baseline.
    pub input_baseline: bool,
    /// Deployed bottleneck folders to include.
    pub bottlenecks: Vec<PathBuf>,
}

/// One codec's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepRow {
    /// Codec name.
    pub codec: String,
    /// raw, uniform, uniform-ans, input-image or bottleneck.
    pub family: &'static str,
    /// Bits per value before entropy coding (quantizers only).
    pub bits: Option<u8>,
    /// Per-channel ranges.
    pub per_channel: bool,
    /// Entropy coded.
    pub entropy_coded: bool,
    /// Mean frame bytes per sample, header included.
    pub bytes_per_sample: f64,
    /// Float32 feature bytes over `bytes_per_sample`.
    pub compression_vs_fp32: f64,
    /// Top-1 accuracy in `[0, 1]`.
    pub accuracy: f64,
    /// Accuracy below raw float32's (points of 1).
    pub accuracy_drop: f64,
}

/// The sweep's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepReport {
    /// The model file.
    pub model: PathBuf,
    /// The cut swept.
    pub cut: CutPoint,
    /// Test images scored.
    pub images: usize,
    /// Validation images calibrated on.
    pub calibration_images: usize,
    /// Float32 bytes per sample of the cut feature.
    pub fp32_feature_bytes: u64,
    /// One row per codec, raw float32 first.
    pub rows: Vec<SweepRow>,
}

/// The sweep's codec settings, with quantizer ranges calibrated on `calibration`.
pub fn settings(calibration: &[Feature]) -> Vec<(String, Codec)> {
    let mut out = vec![("raw-f32".to_string(), Codec::RawF32), ("raw-f16".into(), Codec::RawF16)];
    for per_channel in [false, true] {
        for bits in [1u8, 2, 3, 4, 6, 8] {
            let Some(Codec::Uniform { range, .. }) =
                Codec::calibrate_uniform(bits, per_channel, calibration)
            else {
                continue;
            };
            let mode = if per_channel { "per-channel" } else { "per-tensor" };
            out.push((
                format!("uniform-{bits}b-{mode}"),
                Codec::Uniform { bits, range: range.clone() },
            ));
            out.push((format!("uniform-ans-{bits}b-{mode}"), Codec::UniformAns { bits, range }));
        }
    }
    out
}

/// Runs the sweep; progress in codecs.
pub fn sweep(config: &SweepConfig<'_>, progress: &mut dyn Progress) -> Result<SweepReport> {
    let graph = config.graph;
    let cut = graph.find_cut(config.cut)?;
    let engine = coinfer_engine::engine_for_name(config.engine)?;
    let split = PreparedSplit::new(graph, &cut, engine.as_ref())?;
    let test = coinfer_data::load(config.data, Split::Test)?.take(config.images);
    let val = coinfer_data::load(config.data, Split::Val)?.take(config.calibration);

    // Calibration: per-sample features of validation images.
    let mut calib = Vec::new();
    for (x, _) in val.batches(100) {
        calib.extend(sample_features(&first_output(split.head.run(&[x])?)?));
    }
    // Head features of the test images, computed once for every codec.
    let mut features: Vec<Tensor> = Vec::new();
    for (x, _) in test.batches(100) {
        features.push(first_output(split.head.run(&[x])?)?);
    }
    let fp32 = cut.feature_bytes as f64;
    let settings = settings(&calib);
    progress.start("codecs", settings.len() as u64);
    let mut rows: Vec<SweepRow> = Vec::new();
    let stages = Stages::HeadOutputs { features: &features, tail: split.tail.as_ref() };
    for (done, (name, codec)) in settings.iter().enumerate() {
        let e = evaluate(stages, codec, &test, 100, None, &mut NoProgress)?;
        let (bits, range, entropy_coded) = match codec {
            Codec::Uniform { bits, range } => (Some(*bits), Some(range), false),
            Codec::UniformAns { bits, range } => (Some(*bits), Some(range), true),
            _ => (None, None, false),
        };
        rows.push(SweepRow {
            codec: name.clone(),
            family: match (bits, entropy_coded) {
                (None, _) => "raw",
                (Some(_), false) => "uniform",
                (Some(_), true) => "uniform-ans",
            },
            bits,
            per_channel: matches!(range, Some(QuantRange::PerChannel { .. })),
            entropy_coded,
            bytes_per_sample: e.bytes_per_sample,
            compression_vs_fp32: fp32 / e.bytes_per_sample,
            accuracy: e.accuracy,
            accuracy_drop: 0.0,
        });
        progress.set(done as u64 + 1);
    }
    progress.finish();
    let other = |codec: String, family, accuracy: f64, per_sample: f64, fp32: f64| SweepRow {
        codec,
        family,
        bits: None,
        per_channel: false,
        entropy_coded: family == "bottleneck",
        bytes_per_sample: per_sample,
        compression_vs_fp32: fp32 / per_sample,
        accuracy,
        accuracy_drop: 0.0,
    };
    if config.input_baseline {
        let full = engine.prepare(&graph.proto)?;
        for c in ImageCodec::sweep() {
            let e =
                evaluate(Stages::EdgeOnly(full.as_ref()), &c, &test, 500, None, &mut NoProgress)?;
            rows.push(other(c.name(), "input-image", e.accuracy, e.bytes_per_sample, fp32));
        }
    }
    for dir in &config.bottlenecks {
        let e = crate::bottleneck::evaluate_deployed(dir, &test, engine.as_ref(), &mut NoProgress)?;
        let own_fp32 = crate::bottleneck::summary(dir)?.fp32_feature_bytes as f64;
        let name = dir.file_name().map_or("bottleneck".into(), |n| n.to_string_lossy().to_string());
        rows.push(other(
            format!("bottleneck-{name}"),
            "bottleneck",
            e.accuracy,
            e.bytes_per_sample,
            own_fp32,
        ));
    }
    let base = rows.first().map_or(0.0, |r| r.accuracy);
    rows.iter_mut().for_each(|r| r.accuracy_drop = base - r.accuracy);
    Ok(SweepReport {
        model: config.model.to_path_buf(),
        images: test.len(),
        calibration_images: calib.len(),
        fp32_feature_bytes: cut.feature_bytes,
        cut,
        rows,
    })
}
