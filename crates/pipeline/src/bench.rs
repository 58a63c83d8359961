//! Benchmark harnesses: each measures a speed and the ratio to a baseline measured in the
//! same run (never asserted; `coinfer bench …` prints them, docs/results.md records them).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use coinfer_compress::{Codec, DecodeLimits, Feature, QuantRange, SessionEntropy};
use coinfer_engine::profile::{random_inputs, PreparedSplit};
use coinfer_engine::Tensor;
use coinfer_graph::Graph;

use crate::error::{PipelineError, Result};
use crate::features::to_feature;

/// Samples per second of `run` (one batch of `batch` per call) over about `seconds`, after a
/// warm-up call; at least 3 timed calls.
fn images_per_second(
    mut run: impl FnMut() -> coinfer_engine::Result<Vec<Tensor>>,
    batch: usize,
    seconds: f64,
) -> Result<f64> {
    run()?; // warm-up (and plan building)
    let budget = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut n = 0usize;
    while n < 3 || start.elapsed() < budget {
        run()?;
        n += 1;
    }
    Ok((n * batch) as f64 / start.elapsed().as_secs_f64())
}

/// Mean wall time (ns) of `f` over repeated calls for about `seconds` (at least 3).
fn time_ns<T>(seconds: f64, mut f: impl FnMut() -> T) -> f64 {
    std::hint::black_box(f());
    let start = Instant::now();
    let mut n = 0u64;
    while n < 3 || start.elapsed().as_secs_f64() < seconds {
        std::hint::black_box(f());
        n += 1;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

/// One (model, engine, batch) of the engine benchmark.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EngineBenchRow {
    /// Model file.
    pub model: PathBuf,
    /// Engine.
    pub engine: String,
    /// Samples per run.
    pub batch: usize,
    /// The cut the split runs at (the middle of the cut list).
    pub cut: String,
    /// Full model, samples/s.
    pub full_img_s: f64,
    /// Head then tail, samples/s.
    pub split_img_s: f64,
    /// `split_img_s / full_img_s` (target ≥ 0.97).
    pub split_over_full: f64,
    /// This engine's full-model speed over tract's, same model and batch.
    pub full_over_tract: Option<f64>,
}

/// Full model vs head + tail throughput per model, engine and batch, about `seconds` each.
pub fn engine_bench(
    models: &[(PathBuf, Graph)],
    engines: &[String],
    batches: &[usize],
    seconds: f64,
) -> Result<Vec<EngineBenchRow>> {
    let mut rows: Vec<EngineBenchRow> = Vec::new();
    for (path, graph) in models {
        let cuts = graph.cut_points();
        let Some(cut) = cuts.get(cuts.len() / 2) else { continue };
        for name in engines {
            let engine = coinfer_engine::engine_for_name(name)?;
            let full = engine.prepare(&graph.proto)?;
            let split = PreparedSplit::new(graph, cut, engine.as_ref())?;
            for &batch in batches {
                let inputs = random_inputs(graph, batch, 1)?;
                let full_ips = images_per_second(|| full.run(&inputs), batch, seconds)?;
                let split_ips = images_per_second(|| split.run(&inputs), batch, seconds)?;
                rows.push(EngineBenchRow {
                    model: path.clone(),
                    engine: name.clone(),
                    batch,
                    cut: cut.tensor.clone(),
                    full_img_s: full_ips,
                    split_img_s: split_ips,
                    split_over_full: split_ips / full_ips,
                    full_over_tract: None,
                });
            }
        }
    }
    for r in 0..rows.len() {
        let base = rows
            .iter()
            .find(|b| b.engine == "tract" && b.model == rows[r].model && b.batch == rows[r].batch);
        rows[r].full_over_tract = base.map(|b| rows[r].full_img_s / b.full_img_s);
    }
    Ok(rows)
}

/// The optimal-stopping numerics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoppingBench {
    /// Backward induction, 50 stages × 1,000 channel states (ms; target ≤ 1).
    pub backward_induction_50x1000_ms: f64,
    /// One one-stage look-ahead decision (ns; target ≤ 100).
    pub osla_decision_ns: f64,
    /// Monte Carlo evaluation of the OSLA rule (inferences/s).
    pub monte_carlo_inferences_per_s: f64,
    /// Markov backward induction, 50 stages × 64 channel states (ms; target ≤ 1).
    pub markov_induction_50x64_ms: f64,
    /// One Markov-rule decision: the observed gain to its state, then the table (ns; target
    /// ≤ 100).
    pub markov_decision_ns: f64,
    /// Placement: the period cost of every K for a 1,000-layer table on a truncated Rayleigh
    /// channel, horizons spread over the cores (ms; target ≤ 1,000).
    pub placement_1000_layers_ms: f64,
}

/// Times backward induction, an OSLA decision and Monte Carlo evaluation, ~1 s each.
pub fn stopping_bench() -> Result<StoppingBench> {
    use coinfer_policy::stopping::{
        backward_induction, monte_carlo, one_stage_look_ahead, CostWeights, StoppingProblem,
        StoppingRule,
    };
    use coinfer_sim::{FiniteStateChannel, Radio};
    use rand::SeedableRng;

    let stages = 50;
    let p = StoppingProblem {
        offload_bits: (0..=stages).map(|n| 1e5 / (1.0 + n as f64)).collect(),
        edge_time_s: (0..=stages).map(|n| (stages - n) as f64 * 1e-5).collect(),
        local_cost: vec![1e-3; stages],
        radio: Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 },
        weights: CostWeights { time: 1.0, energy: 0.5 },
        transport: Default::default(),
    };
    let ch = FiniteStateChannel::rayleigh_quantiles(0.02, 1000)
        .map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let bi_ns = time_ns(1.0, || backward_induction(&p, &ch, stages).expected_cost);
    let rule = one_stage_look_ahead(&p, &ch, stages);
    let gains: Vec<f64> = (0..1024).map(|i| 0.001 + i as f64 * 1e-4).collect();
    let mut i = 0usize;
    let osla_ns = time_ns(1.0, || {
        i = (i + 1) & 1023;
        rule.stop(i % stages, gains[i])
    });
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let samples = 200_000;
    let mc_ns = time_ns(1.0, || monte_carlo(&p, &ch, stages, &rule, samples, &mut rng).mean)
        / samples as f64;
    let markov = coinfer_sim::MarkovChannel::gauss_markov(0.9, 0.02, 64)
        .map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let markov_ns = time_ns(1.0, || {
        coinfer_policy::stopping_markov::markov_backward_induction(&p, &markov, stages)
            .expected_cost
    });
    let table =
        coinfer_policy::stopping_markov::markov_backward_induction(&p, &markov, stages).rule;
    let decision_ns = time_ns(1.0, || {
        use coinfer_policy::stopping_markov::StateRule;
        i = (i + 1) & 1023;
        table.stop(i % stages, markov.state_of(gains[i]))
    });
    let layers = 1000;
    let big = StoppingProblem {
        offload_bits: (0..=layers).map(|n| 1e5 / (1.0 + n as f64)).collect(),
        edge_time_s: (0..=layers).map(|n| (layers - n) as f64 * 1e-6).collect(),
        local_cost: vec![1e-4; layers],
        ..p.clone()
    };
    // The harder case: a continuous channel (an integral per stage and horizon).
    let continuous = coinfer_sim::TruncatedRayleigh::new(0.02, 0.002)
        .map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let downloads = vec![1e-5; layers];
    let t = std::time::Instant::now();
    let (_, best) =
        coinfer_policy::placement::enumerate_placement(&big, &continuous, &downloads, 1000.0);
    let placement_ms = t.elapsed().as_secs_f64() * 1e3;
    std::hint::black_box(best);
    Ok(StoppingBench {
        backward_induction_50x1000_ms: bi_ns / 1e6,
        osla_decision_ns: osla_ns,
        monte_carlo_inferences_per_s: 1e9 / mc_ns,
        markov_induction_50x64_ms: markov_ns / 1e6,
        markov_decision_ns: decision_ns,
        placement_1000_layers_ms: placement_ms,
    })
}

/// The multi-device environment's speed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimBench {
    /// Devices per step.
    pub devices: usize,
    /// Device-steps per second (target ≥ 1e6).
    pub device_steps_per_s: f64,
}

/// Steps a `devices`-device environment (4 versions of an 8-layer MLP) for about a second.
pub fn sim_bench(devices: usize) -> Result<SimBench> {
    use coinfer_sim::{
        Compute, DeviceAction, DeviceSpec, Iid, LayerTable, ModelVersion, MultiDeviceEnv, Radio,
        TruncatedRayleigh,
    };
    let invalid = |e: coinfer_sim::ChannelError| PipelineError::Invalid(e.to_string());
    let versions: Vec<ModelVersion> = [(0.86, 64), (0.89, 128), (0.91, 256), (0.92, 512)]
        .iter()
        .map(|&(accuracy, width)| ModelVersion {
            name: format!("width-{width}"),
            accuracy,
            table: LayerTable::equal_width_mlp(8, 784, width),
        })
        .collect();
    let radio = Radio { bandwidth_hz: 20e6, tx_power_w: 0.2, noise_w_per_hz: 4e-21 };
    let specs = (0..devices)
        .map(|i| {
            Ok(DeviceSpec {
                transport: Default::default(),
                ..DeviceSpec::new(
                    Compute::throughput(1e9 * (1 + i % 8) as f64, 3.0),
                    radio,
                    Box::new(Iid(TruncatedRayleigh::new(1e-13, 1e-15).map_err(invalid)?)),
                    if i % 2 == 0 { 0.8 } else { 0.2 },
                    0.05,
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut env = MultiDeviceEnv::new(
        versions,
        specs,
        Compute::throughput(4e12, 70.0),
        vec![1e-13; devices],
        1000,
        1,
    );
    let share = 1.0 / devices.max(1) as f64;
    let actions: Vec<DeviceAction> = (0..devices)
        .map(|i| DeviceAction {
            version: i % 4,
            partition: i % 9,
            compute_share: share,
            bandwidth_share: share,
        })
        .collect();
    env.reset(Some(1));
    let mut steps = 0u64;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < 1.0 {
        let step = env.step(&actions).map_err(|e| PipelineError::Invalid(e.to_string()))?;
        if std::hint::black_box(step).done {
            env.reset(None);
        }
        steps += 1;
    }
    let rate = (steps * devices as u64) as f64 / start.elapsed().as_secs_f64();
    Ok(SimBench { devices, device_steps_per_s: rate })
}

/// One codec on one feature.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CodecBenchRow {
    /// Which feature (`64 images`, `1 image`).
    pub feature: &'static str,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Codec.
    pub codec: String,
    /// Frame size (bytes).
    pub frame_bytes: usize,
    /// Encode + decode throughput, MB/s of float32 input.
    pub mb_per_s: f64,
    /// Over raw float32 framing's, same feature.
    pub vs_raw_f32: f64,
    /// Over the 200 MB/s target.
    pub vs_target_200: f64,
}

/// Encode + decode throughput of each codec on real features of `graph` at cut 4 (64 test
/// images of `data`, and one), one core, about 0.5 s each.
pub fn codec_bench(graph: &Graph, data: &coinfer_data::Dataset) -> Result<Vec<CodecBenchRow>> {
    let cut = graph.find_cut("4")?;
    let engine = coinfer_engine::engine_for_name("tract")?;
    let split = PreparedSplit::new(graph, &cut, engine.as_ref())?;
    let (x, _) =
        data.batches(64).next().ok_or_else(|| PipelineError::Invalid("no test images".into()))?;
    let f = coinfer_engine::eval::first_output(split.head.run(&[x])?)?;
    let n = f.shape().first().copied().unwrap_or(1).max(1);
    let batch = to_feature(&f);
    let one = Feature::new(
        [1].into_iter().chain(batch.shape[1..].iter().copied()).collect(),
        batch.values[..batch.values.len() / n].to_vec(),
    )
    .ok_or_else(|| PipelineError::Invalid("feature shape".into()))?;
    let calib = std::slice::from_ref(&batch);
    let uniform = |bits| Codec::calibrate_uniform(bits, false, calib);
    let range = match uniform(4) {
        Some(Codec::Uniform { range, .. }) => range,
        _ => QuantRange::PerTensor { lo: 0.0, hi: 1.0 },
    };
    let mut codecs: Vec<(String, Codec)> =
        vec![("raw-f32".into(), Codec::RawF32), ("raw-f16".into(), Codec::RawF16)];
    if let Some(c) = uniform(8) {
        codecs.push(("uniform-8b".into(), c));
    }
    codecs.push(("uniform-ans-4b".into(), Codec::UniformAns { bits: 4, range: range.clone() }));
    if let Some(c) = Codec::calibrate_entropy(4, range.clone(), calib) {
        codecs.push(("uniform-ans-static-4b".into(), c));
    }
    for (name, entropy) in [
        ("session-per-element-4b", SessionEntropy::PerElement),
        ("session-context-4b", SessionEntropy::ChannelContext),
    ] {
        if let Some(c) = Codec::calibrate_session(4, range.clone(), calib, entropy) {
            codecs.push((name.into(), c));
        }
    }
    let limits = DecodeLimits::default();
    let mut rows = Vec::new();
    for (label, feature) in [("64 images", &batch), ("1 image", &one)] {
        let mut base = None;
        for (name, codec) in &codecs {
            let mut size = 0;
            let ns = time_ns(0.5, || {
                let frame = codec.encode(feature);
                size = frame.len();
                codec.decode(&frame, &limits).map(|f| f.values.len()).unwrap_or(0)
            });
            let mbps = feature.raw_bytes() as f64 / ns * 1e3;
            let base = *base.get_or_insert(mbps);
            rows.push(CodecBenchRow {
                feature: label,
                shape: feature.shape.clone(),
                codec: name.clone(),
                frame_bytes: size,
                mb_per_s: mbps,
                vs_raw_f32: mbps / base,
                vs_target_200: mbps / 200.0,
            });
        }
    }
    Ok(rows)
}
