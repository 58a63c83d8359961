//! The demo's workflow: profile a model, choose the best split per link rate (exhaustive,
//! Neurosurgeon-style), execute each chosen split on real test images through the codec
//! seam, and run the chosen intermediate cuts on the real runtime against the prediction.

use coinfer_compress::Codec;
use coinfer_data::{DatasetName, Split};
use coinfer_engine::profile::{ModelProfile, PreparedSplit};
use coinfer_graph::Graph;
use coinfer_sim::{Framing, Hardware, LayerTable, Link, SplitChoice, SplitLatency, Transport};

use crate::error::{PipelineError, Result};
use crate::evaluate::{evaluate, Evaluation, Stages};
use crate::layers::layer_table;
use crate::profile::{measure_model, measured, ProfileConfig};
use crate::progress::Progress;
use crate::runtime_check::{check_on_runtime, RuntimeCheckConfig, RuntimeChecks};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig<'a> {
    /// The model file (the runtime serves the folder it is in).
    pub model: &'a std::path::Path,
    /// The model, analysed.
    pub graph: &'a Graph,
    /// Engine name.
    pub engine: &'a str,
    /// Device hardware (a roofline profile or a measured per-layer table).
    pub device: Hardware,
    /// Edge hardware.
    pub edge: Hardware,
    /// Uplink rates to plan for (Mbit/s, > 0).
    pub mbps: Vec<f64>,
    /// Round-trip time of the link (s).
    pub rtt_s: f64,
    /// Test images each chosen split runs on.
    pub images: usize,
    /// Requests per rate on the real runtime (0: no runtime run).
    pub runtime_images: usize,
    /// The data set whose test split is used.
    pub data: DatasetName,
}

/// The decision for one link rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RatePlan {
    /// Uplink rate (Mbit/s).
    pub mbps: f64,
    /// The link it was planned for.
    pub link: Link,
    /// The fastest option.
    pub best: SplitLatency,
    /// The fastest intermediate cut (executed too, so a real split always runs).
    pub best_cut: Option<SplitLatency>,
    /// Device-only latency (s).
    pub device_only_s: Option<f64>,
    /// Edge-only latency (s).
    pub edge_only_s: Option<f64>,
    /// Every option on this link, edge-only first, device-only last.
    pub options: Vec<SplitLatency>,
}

/// Edge-only as a camera would do it: the 8-bit image in a real image codec, executed on the
/// test images (accuracy, bytes) and predicted at every rate with the bytes it sent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InputBaseline {
    /// Codec name (`raw uint8`, `png`, `uint8 + per-pixel ANS`, `jpeg-q90`, …).
    pub codec: String,
    /// The pixels arrive unchanged (the model sees exactly the 8-bit image).
    pub lossless: bool,
    /// Mean frame bytes per image.
    pub bytes_per_image: f64,
    /// Top-1 accuracy on the test images.
    pub accuracy: f64,
    /// Images whose class differs from the unsplit model's.
    pub differing_from_full_model: usize,
    /// Predicted end-to-end latency at each of the demo's rates (s), in rate order.
    pub total_s: Vec<f64>,
}

/// The best baseline at one rate: the fastest of device-only, Neurosurgeon's split (float32
/// features) and edge-only with a lossless input codec.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BestBaseline {
    /// Link rate (Mbit/s).
    pub mbps: f64,
    /// Which baseline.
    pub name: String,
    /// Its predicted end-to-end latency (s).
    pub total_s: f64,
}

/// One chosen split executed on real images.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Execution {
    /// The split.
    pub choice: SplitChoice,
    /// Its top-1 accuracy.
    pub accuracy: f64,
    /// The unsplit model's on the same images.
    pub full_model_accuracy: f64,
    /// Images whose class differs from the unsplit model's.
    pub predictions_differing_from_full_model: usize,
    /// Mean frame bytes per image that crossed the link.
    pub bytes_sent_per_image: f64,
    /// Images run.
    pub images: usize,
}

/// Everything the demo measured and decided.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DemoReport {
    /// The model file.
    pub model: std::path::PathBuf,
    /// Engine used.
    pub engine: String,
    /// Device hardware.
    pub device: Hardware,
    /// Edge hardware.
    pub edge: Hardware,
    /// This host's effective speed (GMAC/s) in the profile.
    pub host_gmacs: f64,
    /// The model's layers (segments between cuts) as the cost model sees them.
    pub layers: LayerTable,
    /// The host profile, timed in the periodic-request regime (an idle gap before each run).
    pub profile: ModelProfile,
    /// One plan per rate.
    pub plans: Vec<RatePlan>,
    /// Each distinct chosen split, executed.
    pub executions: Vec<Execution>,
    /// Edge-only with real input codecs (the honest edge-only baseline).
    pub input_baselines: Vec<InputBaseline>,
    /// Per rate, the fastest baseline.
    pub best_baselines: Vec<BestBaseline>,
    /// The chosen intermediate cuts on the real runtime (none when not asked for).
    pub runtime: Option<RuntimeChecks>,
}

/// Runs the demo.
pub fn run_demo(config: &DemoConfig<'_>, progress: &mut dyn Progress) -> Result<DemoReport> {
    if let Some(r) = config.mbps.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
        return Err(PipelineError::Invalid(format!("link rates must be positive, got {r}")));
    }
    let graph = config.graph;
    let periodic = ProfileConfig {
        engine: config.engine,
        batch: 1,
        runs: 20,
        idle_gap: ProfileConfig::PERIODIC_GAP,
    };
    let profile = measure_model(graph, &periodic, progress)?;
    let m = measured(&profile);
    // Plans come from the hardware models alone: no host timing noise can flip them.
    let layers = layer_table(graph);
    let names: Vec<String> = graph.cut_points().into_iter().map(|c| c.tensor).collect();
    let options = coinfer_sim::split_options(&layers, &names, &config.device, &config.edge)
        .map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let cut_options: Vec<_> =
        options.iter().filter(|o| matches!(o.choice, SplitChoice::Cut { .. })).cloned().collect();

    // Plan per rate: the best option overall and the best intermediate cut.
    let mut plans = Vec::new();
    for &mbps in &config.mbps {
        // The runtime's own framing: the bytes a plan really puts on the link.
        let transport =
            Transport { rtt_s: config.rtt_s, framing: Framing::grpc(), ..Transport::ideal() };
        let link = Link { up_bps: mbps * 1e6, tx_power_w: 0.0, transport };
        let all: Vec<SplitLatency> = options.iter().map(|o| o.latency(&link)).collect();
        let best = coinfer_policy::best_split(&options, &link)
            .ok_or_else(|| PipelineError::Invalid("the model has no split options".into()))?;
        let best_cut = coinfer_policy::best_split(&cut_options, &link);
        plans.push(RatePlan {
            mbps,
            link,
            best,
            best_cut,
            device_only_s: all.last().map(|l| l.prediction.total_s),
            edge_only_s: all.first().map(|l| l.prediction.total_s),
            options: all,
        });
    }

    // Each distinct chosen split on real test images, against the unsplit model.
    let engine = coinfer_engine::engine_for_name(config.engine)?;
    let data = coinfer_data::load(config.data, Split::Test)?.take(config.images);
    let full = engine.prepare(&graph.proto)?;
    let reference =
        evaluate(Stages::DeviceOnly(full.as_ref()), &Codec::RawF32, &data, 100, None, progress)?;
    let mut executions: Vec<Execution> = Vec::new();
    let chosen = plans.iter().flat_map(|p| std::iter::once(&p.best).chain(p.best_cut.as_ref()));
    for best in chosen {
        let choice = &best.option.choice;
        if executions.iter().any(|e| &e.choice == choice) {
            continue;
        }
        let e = execute(graph, choice, engine.as_ref(), &data, &reference.predicted, progress)?;
        executions.push(Execution {
            choice: choice.clone(),
            accuracy: e.accuracy,
            full_model_accuracy: reference.accuracy,
            predictions_differing_from_full_model: e.differing_from_reference.unwrap_or(0),
            bytes_sent_per_image: e.bytes_per_sample,
            images: e.images,
        });
    }

    let input_baselines =
        input_baselines(config, &options, &plans, full.as_ref(), &data, &reference, progress)?;
    let best_baselines = plans
        .iter()
        .enumerate()
        .map(|(r, p)| {
            let mut best = BestBaseline {
                mbps: p.mbps,
                name: format!("neurosurgeon (fp32): {}", p.best.option.choice),
                total_s: p.best.prediction.total_s,
            };
            if let Some(d) = p.device_only_s.filter(|&d| d <= best.total_s) {
                best = BestBaseline { mbps: p.mbps, name: "device-only".into(), total_s: d };
            }
            for b in input_baselines.iter().filter(|b| b.lossless) {
                if b.total_s[r] < best.total_s {
                    let name = format!("edge-only ({})", b.codec);
                    best = BestBaseline { mbps: p.mbps, name, total_s: b.total_s[r] };
                }
            }
            best
        })
        .collect();

    // The chosen intermediate cut per rate, on the real runtime over the emulated link.
    let choices: Vec<(f64, SplitChoice)> = plans
        .iter()
        .filter_map(|p| p.best_cut.as_ref().map(|c| (p.mbps, c.option.choice.clone())))
        .collect();
    let runtime = if config.runtime_images > 0 {
        let check = RuntimeCheckConfig {
            model: config.model,
            engine: config.engine,
            choices: &choices,
            rtt_s: config.rtt_s,
            images: config.runtime_images,
            data: config.data,
            plan: None,
        };
        Some(check_on_runtime(&check, &m.layer_times("this host", 0.0), &layers, progress)?)
    } else {
        None
    };
    Ok(DemoReport {
        model: config.model.to_path_buf(),
        engine: engine.name().to_string(),
        device: config.device.clone(),
        edge: config.edge.clone(),
        host_gmacs: m.host_gmacs(),
        layers,
        profile,
        plans,
        executions,
        input_baselines,
        best_baselines,
        runtime,
    })
}

/// Edge-only with the input in each real image codec: executed on `data`, predicted at each
/// plan's rate with the bytes it sent.
fn input_baselines(
    config: &DemoConfig<'_>,
    options: &[coinfer_sim::SplitOption],
    plans: &[RatePlan],
    full: &dyn coinfer_engine::Runnable,
    data: &coinfer_data::Dataset,
    reference: &Evaluation,
    progress: &mut dyn Progress,
) -> Result<Vec<InputBaseline>> {
    use crate::image_codec::{input_session_codec, ImageCodec};
    use coinfer_compress::{FeatureCodec, QuantRange};
    let edge_only = options
        .iter()
        .find(|o| o.choice == SplitChoice::EdgeOnly)
        .ok_or_else(|| PipelineError::Invalid("the model has no edge-only option".into()))?;
    // The 8-bit image as it is: 8-bit uniform quantization of [0, 1] is exactly the pixels.
    let raw_u8 = Codec::Uniform { bits: 8, range: QuantRange::PerTensor { lo: 0.0, hi: 1.0 } };
    let session = input_session_codec(config.data, 2000)?;
    let codecs: Vec<(String, bool, Box<dyn FeatureCodec>)> = vec![
        ("raw uint8".into(), true, Box::new(raw_u8)),
        ("png".into(), true, Box::new(ImageCodec::Png)),
        ("uint8 + per-pixel ANS".into(), true, Box::new(session)),
        ("jpeg-q90".into(), false, Box::new(ImageCodec::Jpeg(90))),
        ("jpeg-q50".into(), false, Box::new(ImageCodec::Jpeg(50))),
    ];
    let mut out = Vec::with_capacity(codecs.len());
    for (name, lossless, codec) in codecs {
        let e = evaluate(
            Stages::EdgeOnly(full),
            codec.as_ref(),
            data,
            100,
            Some(&reference.predicted),
            progress,
        )?;
        let mut option = edge_only.clone();
        option.work.upload_bytes = Some(e.bytes_per_sample);
        out.push(InputBaseline {
            codec: name,
            lossless,
            bytes_per_image: e.bytes_per_sample,
            accuracy: e.accuracy,
            differing_from_full_model: e.differing_from_reference.unwrap_or(0),
            total_s: plans.iter().map(|p| option.latency(&p.link).prediction.total_s).collect(),
        });
    }
    Ok(out)
}

/// Runs `data` through `choice`, the feature (or the input) crossing the link as a raw
/// float32 frame, compared with the unsplit model's classes.
fn execute(
    graph: &Graph,
    choice: &SplitChoice,
    engine: &dyn coinfer_engine::Engine,
    data: &coinfer_data::Dataset,
    reference: &[usize],
    progress: &mut dyn Progress,
) -> Result<Evaluation> {
    match choice {
        SplitChoice::Cut { index, .. } => {
            let cut = graph.find_cut(&index.to_string())?;
            let split = PreparedSplit::new(graph, &cut, engine)?;
            let stages = Stages::Split { head: split.head.as_ref(), tail: split.tail.as_ref() };
            evaluate(stages, &Codec::RawF32, data, 100, Some(reference), progress)
        }
        SplitChoice::EdgeOnly | SplitChoice::DeviceOnly => {
            let full = engine.prepare(&graph.proto)?;
            let stages = match choice {
                SplitChoice::EdgeOnly => Stages::EdgeOnly(full.as_ref()),
                _ => Stages::DeviceOnly(full.as_ref()),
            };
            evaluate(stages, &Codec::RawF32, data, 100, Some(reference), progress)
        }
    }
}
