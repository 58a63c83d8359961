//! `coinfer plan`: the fastest split and codec for a user's own model, without labels.
//!
//! Every option — device-only, edge-only (the input through each codec) and every valid cut
//! with each codec — is executed on samples (the user's, or random inputs) and kept only if
//! its top-1 answer agrees with the unsplit model's on at least `min_agreement` of them; the
//! survivors are predicted by the one cost model ([`coinfer_sim::score_plan`]) for the given
//! hardware and link with the bytes their frames measured, and the fastest becomes the plan.
//! Quantizer ranges are calibrated on the first half of the samples and agreement is checked
//! on the second half, so no option is scored on the data it was fitted to.

use std::path::{Path, PathBuf};

use coinfer_compress::{Codec, DecodeLimits, FeatureCodec};
use coinfer_data::argmax;
use coinfer_engine::eval::first_output;
use coinfer_engine::profile::{random_inputs, PreparedSplit};
use coinfer_engine::{Runnable, Tensor};
use coinfer_graph::{Graph, InputShapes};
use coinfer_sim::{
    score_plan, DeviceContext, DevicePlan, Hardware, LayerTable, Link, Plan, Prediction,
    SplitChoice,
};

use crate::error::{PipelineError, Result};
use crate::features::{sample_features, stack};
use crate::layers::layer_table;
use crate::progress::Progress;

/// Where the samples that check agreement come from.
#[derive(Debug, Clone)]
pub enum Samples {
    /// The user's inputs, `(N, ...)` at the model's input shape.
    Given(Tensor),
    /// `count` inputs uniform in `[0, 1)` from `seed` (no real data: agreement on noise).
    Random {
        /// How many.
        count: usize,
        /// RNG seed.
        seed: u64,
    },
}

/// What to plan.
#[derive(Debug, Clone)]
pub struct PlanModelConfig<'a> {
    /// The model file (copied into the plan's folder; its stem names the model in the plan).
    pub model: &'a Path,
    /// The model, analysed at `shapes`.
    pub graph: &'a Graph,
    /// Concrete input shapes given by the user (recorded in the plan for device and edge).
    pub shapes: &'a InputShapes,
    /// Engine name.
    pub engine: &'a str,
    /// The device's hardware.
    pub device: Hardware,
    /// The edge's hardware.
    pub edge: Hardware,
    /// The device's link to the edge.
    pub link: Link,
    /// Samples to check agreement on.
    pub samples: Samples,
    /// Lowest top-1 agreement with the unsplit model a plan may have, in `[0, 1]`.
    pub min_agreement: f64,
}

/// One option tried.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    /// Where the model is split.
    pub split: SplitChoice,
    /// Codec name (`none` for device-only).
    pub codec: String,
    /// The codec reproduces its input exactly (raw float32, or nothing sent).
    pub lossless: bool,
    /// Mean frame bytes per sample the codec produced on the check samples (0: nothing sent).
    pub bytes_per_sample: f64,
    /// Share of the unsplit model's top-1 answers on the check samples it gives too, in
    /// `[0, 1]` (one answer per sample; per sample and position for dense outputs).
    pub agreement: f64,
    /// The cost model's prediction (seconds, bytes, joules) with `bytes_per_sample` sent.
    pub prediction: Prediction,
    /// `agreement ≥ min_agreement`.
    pub meets_floor: bool,
}

/// The planning's result.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PlanModelReport {
    /// The model file.
    pub model: PathBuf,
    /// Samples came from the user (`false`: random inputs, agreement on noise).
    pub samples_given: bool,
    /// Samples the quantizers were calibrated on.
    pub calibration_samples: usize,
    /// Samples agreement was checked on.
    pub check_samples: usize,
    /// The agreement floor, in `[0, 1]`.
    pub min_agreement: f64,
    /// The link's uplink rate (bit/s).
    pub up_bps: f64,
    /// Every option tried, in the order tried (device-only, edge-only, then cut by cut).
    pub candidates: Vec<Candidate>,
    /// Index in `candidates` of the chosen option: the lowest predicted latency among those
    /// meeting the floor (device-only always does).
    pub chosen: usize,
    /// The plan: one device, the chosen split and codec.
    pub plan: Plan,
    /// Wall time of the planning (s).
    pub seconds: f64,
}

impl PlanModelReport {
    /// The chosen option.
    pub fn best(&self) -> &Candidate {
        &self.candidates[self.chosen]
    }
}

/// Codecs tried at every offloading option: lossless float32, half precision, and 8- and
/// 4-bit uniform quantization (per channel, calibrated), each also range-ANS coded.
fn codecs(calibration: &[coinfer_compress::Feature]) -> Vec<(String, Codec)> {
    let mut out = vec![("raw-f32".to_string(), Codec::RawF32), ("raw-f16".into(), Codec::RawF16)];
    for bits in [8u8, 4] {
        if let Some(Codec::Uniform { range, .. }) =
            Codec::calibrate_uniform(bits, true, calibration)
        {
            out.push((format!("uniform-{bits}b"), Codec::Uniform { bits, range: range.clone() }));
            out.push((format!("uniform-ans-{bits}b"), Codec::UniformAns { bits, range }));
        }
    }
    out
}

/// Runs `model` on `x` in chunks of `chunk` samples and stacks the first outputs.
fn run_chunked(model: &dyn Runnable, x: &Tensor, chunk: usize) -> Result<Tensor> {
    let n = x.shape().first().copied().unwrap_or(0);
    let mut parts = Vec::with_capacity(n.div_ceil(chunk));
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let part = x.slice_axis(ndarray::Axis(0), (start..end).into()).to_owned();
        parts.push(first_output(model.run(&[part])?)?);
        start = end;
    }
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views)
        .map_err(|e| PipelineError::Invalid(format!("stacking outputs: {e}")))
}

/// `x` through `codec`, one frame per sample: the decoded batch and the mean frame bytes.
fn through(codec: &Codec, x: &Tensor) -> Result<(Tensor, f64)> {
    let limits = DecodeLimits::default();
    let (mut decoded, mut sent) = (vec![], 0usize);
    for sample in sample_features(x) {
        let frame = FeatureCodec::encode(codec, &sample)?;
        sent += frame.len();
        decoded.push(FeatureCodec::decode(codec, &frame, &limits)?);
    }
    let n = decoded.len().max(1);
    Ok((stack(decoded)?, sent as f64 / n as f64))
}

/// The top-1 answers of a model's output: one per sample for `(N, classes)`, one per sample
/// and position (the argmax over axis 1) for dense outputs `(N, C, ...)` such as a
/// segmentation map, so a split must keep every pixel's class, not only the largest logit.
fn answers(logits: &Tensor) -> Vec<usize> {
    if logits.ndim() <= 2 {
        return argmax(logits);
    }
    let (n, c) = (logits.shape()[0], logits.shape()[1]);
    let positions = logits.len() / (n * c).max(1);
    let Ok(v) = logits.view().into_shape_with_order((n, c, positions)) else { return vec![] };
    let mut out = Vec::with_capacity(n * positions);
    for s in 0..n {
        for p in 0..positions {
            let best = (0..c).fold(0, |b, k| if v[[s, k, p]] > v[[s, b, p]] { k } else { b });
            out.push(best);
        }
    }
    out
}

/// Share of `reference`'s answers that `logits` gives too (0 if the counts differ).
fn agreement(logits: &Tensor, reference: &[usize]) -> f64 {
    let got = answers(logits);
    if got.len() != reference.len() {
        return 0.0;
    }
    let same = got.iter().zip(reference).filter(|(a, b)| a == b).count();
    same as f64 / reference.len().max(1) as f64
}

/// The samples as one tensor at the model's input shape.
fn samples(config: &PlanModelConfig<'_>) -> Result<Tensor> {
    let graph = config.graph;
    let input = graph.inputs.first().ok_or_else(|| PipelineError::Invalid("no input".into()))?;
    let shape = graph.tensors[input].shape.clone().unwrap_or_default();
    match &config.samples {
        Samples::Given(x) => {
            if x.ndim() != shape.len() || x.shape()[1..] != shape[1..] {
                return Err(PipelineError::Invalid(format!(
                    "the samples have shape {:?}; input `{input}` takes (N, {})",
                    x.shape(),
                    shape[1..].iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
                )));
            }
            Ok(x.clone())
        }
        Samples::Random { count, seed } => {
            let one: Vec<Tensor> = (0..*count as u64)
                .map(|i| random_inputs(graph, 1, seed.wrapping_add(i)).map(|mut v| v.remove(0)))
                .collect::<coinfer_engine::Result<_>>()?;
            let views: Vec<_> = one.iter().map(|t| t.view()).collect();
            ndarray::concatenate(ndarray::Axis(0), &views)
                .map_err(|e| PipelineError::Invalid(format!("random samples: {e}")))
        }
    }
}

/// Plans `config.model`: every option executed, checked and predicted; progress in cuts.
pub fn plan_model(
    config: &PlanModelConfig<'_>,
    progress: &mut dyn Progress,
) -> Result<PlanModelReport> {
    let start = std::time::Instant::now();
    let graph = config.graph;
    if graph.inputs.len() != 1 {
        return Err(PipelineError::Invalid(format!(
            "`coinfer plan` takes models with one input; this one has {} ({})",
            graph.inputs.len(),
            graph.inputs.join(", ")
        )));
    }
    if !(0.0..=1.0).contains(&config.min_agreement) {
        return Err(PipelineError::Invalid(format!(
            "the agreement floor must be in [0, 1], not {}",
            config.min_agreement
        )));
    }
    let x = samples(config)?;
    let n = x.shape()[0];
    if n < 2 {
        return Err(PipelineError::Invalid(format!(
            "{n} sample(s): at least 2 are needed (half calibrate the quantizers, half check)"
        )));
    }
    let n_calib = n.div_ceil(2);
    let calib = x.slice_axis(ndarray::Axis(0), (0..n_calib).into()).to_owned();
    let check = x.slice_axis(ndarray::Axis(0), (n_calib..n).into()).to_owned();
    // A model with a fixed batch runs one sample at a time.
    let chunk = if graph.fixed_batch(&graph.inputs[0]).is_some() { 1 } else { 64 };

    let engine = coinfer_engine::engine_for_name(config.engine)?;
    let full = engine.prepare(&graph.proto)?;
    let reference = answers(&run_chunked(full.as_ref(), &check, chunk)?);
    let table = layer_table(graph);
    let model_name = model_name(config.model);
    let scorer = Scorer { config, table: &table, model: &model_name };

    let cuts = graph.cut_points();
    progress.start("cuts", cuts.len() as u64 + 1);
    let mut candidates = vec![scorer.candidate(SplitChoice::DeviceOnly, "none", true, 0.0, 1.0)?];
    // Each candidate's codec, calibrated (the plan carries the chosen one's ranges).
    let mut codec_of = vec![Codec::RawF32];
    // Edge-only: the input crosses the link through each codec.
    for (name, codec) in codecs(&sample_features(&calib).collect::<Vec<_>>()) {
        let (decoded, bytes) = through(&codec, &check)?;
        let agree = agreement(&run_chunked(full.as_ref(), &decoded, chunk)?, &reference);
        let lossless = matches!(codec, Codec::RawF32);
        candidates.push(scorer.candidate(SplitChoice::EdgeOnly, &name, lossless, bytes, agree)?);
        codec_of.push(codec);
    }
    progress.set(1);
    for (done, cut) in cuts.iter().enumerate() {
        let split = PreparedSplit::new(graph, cut, engine.as_ref())?;
        let head_calib = run_chunked(split.head.as_ref(), &calib, chunk)?;
        let head_check = run_chunked(split.head.as_ref(), &check, chunk)?;
        let choice = SplitChoice::Cut { index: cut.index, tensor: cut.tensor.clone() };
        for (name, codec) in codecs(&sample_features(&head_calib).collect::<Vec<_>>()) {
            let (decoded, bytes) = through(&codec, &head_check)?;
            let agree = agreement(&run_chunked(split.tail.as_ref(), &decoded, chunk)?, &reference);
            let lossless = matches!(codec, Codec::RawF32);
            candidates.push(scorer.candidate(choice.clone(), &name, lossless, bytes, agree)?);
            codec_of.push(codec);
        }
        progress.set(done as u64 + 2);
    }
    progress.finish();

    let chosen = (0..candidates.len())
        .filter(|&i| candidates[i].meets_floor)
        .min_by(|&a, &b| {
            let (a, b) = (&candidates[a], &candidates[b]);
            a.prediction
                .total_s
                .total_cmp(&b.prediction.total_s)
                .then(a.bytes_per_sample.total_cmp(&b.bytes_per_sample))
        })
        .ok_or_else(|| PipelineError::Invalid("no option meets the agreement floor".into()))?;
    let best = &candidates[chosen];
    let mut plan = Plan {
        note: format!(
            "coinfer plan: fastest option with top-1 agreement ≥ {} on {} {} samples, {} at \
             {:.3} Mbit/s",
            config.min_agreement,
            check.shape()[0],
            if matches!(config.samples, Samples::Given(_)) { "given" } else { "random" },
            best.codec,
            config.link.up_bps / 1e6
        ),
        uplink_capacity_bps: 0.0,
        devices: vec![scorer.device_plan(best.split.clone())],
    };
    plan.devices[0].codec = codec_of.swap_remove(chosen);
    plan.validate().map_err(|e| PipelineError::Invalid(e.to_string()))?;
    Ok(PlanModelReport {
        model: config.model.to_path_buf(),
        samples_given: matches!(config.samples, Samples::Given(_)),
        calibration_samples: n_calib,
        check_samples: n - n_calib,
        min_agreement: config.min_agreement,
        up_bps: config.link.up_bps,
        candidates,
        chosen,
        plan,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The model's name in the plan: its file stem.
fn model_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned())
}

/// Predicts options with the one cost model.
struct Scorer<'a> {
    config: &'a PlanModelConfig<'a>,
    table: &'a LayerTable,
    model: &'a str,
}

impl Scorer<'_> {
    /// The one device's plan entry at `split` (the codec does not change the prediction: the
    /// bytes it sent are given).
    fn device_plan(&self, split: SplitChoice) -> DevicePlan {
        let mut d = DevicePlan::new("device-0", self.model, split);
        d.input_shape = self.config.shapes.0.clone();
        d
    }

    fn candidate(
        &self,
        split: SplitChoice,
        codec: &str,
        lossless: bool,
        bytes: f64,
        agreement: f64,
    ) -> Result<Candidate> {
        let plan = Plan {
            note: String::new(),
            uplink_capacity_bps: 0.0,
            devices: vec![self.device_plan(split.clone())],
        };
        let context = DeviceContext {
            table: self.table,
            device: &self.config.device,
            link: self.config.link.clone(),
            upload_bytes: Some(bytes),
        };
        let prediction = score_plan(&plan, &self.config.edge, &[context])
            .map_err(|e| PipelineError::Invalid(e.to_string()))?
            .remove(0);
        Ok(Candidate {
            split,
            codec: codec.to_string(),
            lossless,
            bytes_per_sample: bytes,
            agreement,
            prediction,
            meets_floor: agreement >= self.config.min_agreement,
        })
    }
}

/// Files [`write_plan_dir`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlanFiles {
    /// The model directory: the model (a copy), the plan, head, tail and the report.
    pub dir: PathBuf,
    /// `plan.json`, for `coinfer edge serve --plan` and `coinfer device run --plan`.
    pub plan: PathBuf,
    /// `<model>.onnx`, the unsplit model device and edge split at the plan's cut.
    pub model: PathBuf,
    /// `head.onnx` and `tail.onnx` of the chosen cut (none for device- or edge-only).
    pub halves: Option<(PathBuf, PathBuf)>,
    /// `report.json`: every option tried.
    pub report: PathBuf,
}

/// Writes the plan's model directory `dir`: the model (copied byte for byte), `plan.json`,
/// the chosen cut's `head.onnx`/`tail.onnx` and `report.json`.
pub fn write_plan_dir(report: &PlanModelReport, graph: &Graph, dir: &Path) -> Result<PlanFiles> {
    let io = |path: &Path, e: std::io::Error| {
        PipelineError::Invalid(format!("writing {}: {e}", path.display()))
    };
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let model = dir.join(format!("{}.onnx", report.plan.devices[0].model));
    if report.model.canonicalize().ok() != model.canonicalize().ok() {
        std::fs::copy(&report.model, &model).map_err(|e| io(&model, e))?;
    }
    let plan = dir.join("plan.json");
    let text = serde_json::to_string_pretty(&report.plan)
        .map_err(|e| PipelineError::Invalid(e.to_string()))?;
    std::fs::write(&plan, text).map_err(|e| io(&plan, e))?;
    let halves = match &report.best().split {
        SplitChoice::Cut { index, .. } => {
            let parts = graph.split(&graph.find_cut(&index.to_string())?)?;
            let (head, tail) = (dir.join("head.onnx"), dir.join("tail.onnx"));
            coinfer_graph::save_model(&parts.head, &head)?;
            coinfer_graph::save_model(&parts.tail, &tail)?;
            Some((head, tail))
        }
        _ => None,
    };
    let path = dir.join("report.json");
    let text =
        serde_json::to_string_pretty(report).map_err(|e| PipelineError::Invalid(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| io(&path, e))?;
    Ok(PlanFiles { dir: dir.to_path_buf(), plan, model, halves, report: path })
}
