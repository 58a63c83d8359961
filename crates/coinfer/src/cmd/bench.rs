//! `coinfer bench engine`: throughput of the full model vs head+tail, per engine and batch,
//! as ratios measured in the same run.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use coinfer_engine::profile::{random_inputs, PreparedSplit};
use coinfer_engine::Tensor;

use crate::output::{print_json, table};

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

pub fn engine(
    models: Vec<PathBuf>,
    engines: Vec<String>,
    batches: &[usize],
    seconds: f64,
    json: bool,
) -> Result<()> {
    let models = if models.is_empty() {
        vec![
            PathBuf::from(crate::args::DEFAULT_MODEL),
            PathBuf::from("models/test/resnet18-cifar.onnx"),
        ]
    } else {
        models
    };
    let engines: Vec<String> = if engines.is_empty() {
        coinfer_engine::available_engines().into_iter().map(String::from).collect()
    } else {
        engines
    };
    let mut results = Vec::new();
    for path in &models {
        let graph = super::load_graph(path)?;
        let cuts = graph.cut_points();
        let Some(cut) = cuts.get(cuts.len() / 2) else { continue };
        for name in &engines {
            let engine = coinfer_engine::engine_for_name(name)?;
            let full = engine.prepare(&graph.proto)?;
            let split = PreparedSplit::new(&graph, cut, engine.as_ref())?;
            for &batch in batches {
                let inputs = random_inputs(&graph, batch, 1)?;
                let full_ips = images_per_second(|| full.run(&inputs), batch, seconds)?;
                let split_ips = images_per_second(|| split.run(&inputs), batch, seconds)?;
                results.push(serde_json::json!({
                    "model": path, "engine": name, "batch": batch, "cut": cut.tensor,
                    "full_img_s": full_ips, "split_img_s": split_ips,
                    "split_over_full": split_ips / full_ips,
                }));
            }
        }
    }
    // Engine ratios against tract, same model and batch.
    for r in 0..results.len() {
        let base = results.iter().find(|b| {
            b["engine"] == "tract"
                && b["model"] == results[r]["model"]
                && b["batch"] == results[r]["batch"]
        });
        let ratio =
            base.and_then(|b| Some(results[r]["full_img_s"].as_f64()? / b["full_img_s"].as_f64()?));
        results[r]["full_over_tract"] = serde_json::json!(ratio);
    }
    if json {
        return print_json(&results);
    }
    let rows = results
        .iter()
        .map(|r| {
            vec![
                r["model"].as_str().unwrap_or("").to_string(),
                r["engine"].as_str().unwrap_or("").to_string(),
                r["batch"].to_string(),
                r["cut"].as_str().unwrap_or("").to_string(),
                format!("{:.0}", r["full_img_s"].as_f64().unwrap_or(0.0)),
                format!("{:.0}", r["split_img_s"].as_f64().unwrap_or(0.0)),
                format!("{:.3}", r["split_over_full"].as_f64().unwrap_or(0.0)),
                r["full_over_tract"].as_f64().map_or("-".into(), |v| format!("{v:.2}")),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "model",
                "engine",
                "batch",
                "cut",
                "full img/s",
                "head+tail img/s",
                "split/full",
                "engine/tract"
            ],
            rows
        )
    );
    println!("one thread per model; split/full ≥ 0.97 is the target (head+tail within 3 % of the full model)");
    Ok(())
}

/// Mean wall time (ns) of `f` over repeated calls for about `seconds`.
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

/// `coinfer bench stopping`.
pub fn stopping(json: bool) -> Result<()> {
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
    };
    let ch = FiniteStateChannel::rayleigh_quantiles(0.02, 1000)?;
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
    let report = serde_json::json!({
        "backward_induction_50x1000_ms": bi_ns / 1e6,
        "osla_decision_ns": osla_ns,
        "monte_carlo_inferences_per_s": 1e9 / mc_ns,
        "targets": { "backward_induction_ms": 1.0, "osla_decision_ns": 100.0 },
    });
    if json {
        return print_json(&report);
    }
    println!(
        "{}",
        table(
            &["measurement", "value", "target"],
            vec![
                vec![
                    "backward induction, 50 stages × 1,000 states".into(),
                    format!("{:.3} ms", bi_ns / 1e6),
                    "≤ 1 ms".into()
                ],
                vec!["one OSLA decision".into(), format!("{osla_ns:.1} ns"), "≤ 100 ns".into()],
                vec![
                    "Monte Carlo (OSLA rule, 50 stages)".into(),
                    format!("{:.2e} inferences/s", 1e9 / mc_ns),
                    "-".into()
                ],
            ]
        )
    );
    Ok(())
}

/// `coinfer bench sim`: device-steps per second of the multi-device environment.
pub fn sim(devices: usize, json: bool) -> Result<()> {
    use coinfer_sim::{
        Compute, DeviceAction, DeviceSpec, Iid, LayerTable, ModelVersion, MultiDeviceEnv, Radio,
        TruncatedRayleigh,
    };
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
                compute: Compute { macs_per_s: 1e9 * (1 + i % 8) as f64, power_w: 3.0 },
                radio,
                channel: Box::new(Iid(TruncatedRayleigh::new(1e-13, 1e-15)?)),
                accuracy_weight: if i % 2 == 0 { 0.8 } else { 0.2 },
                latency_ref_s: 0.05,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut env = MultiDeviceEnv::new(
        versions,
        specs,
        Compute { macs_per_s: 4e12, power_w: 70.0 },
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
        if std::hint::black_box(env.step(&actions)?).done {
            env.reset(None);
        }
        steps += 1;
    }
    let rate = (steps * devices as u64) as f64 / start.elapsed().as_secs_f64();
    if json {
        return print_json(&serde_json::json!({ "devices": devices, "device_steps_per_s": rate }));
    }
    println!(
        "multi-device environment, {devices} devices: {rate:.3e} device-steps/s (target ≥ 1e6)"
    );
    Ok(())
}

/// `coinfer bench codec`: encode + decode throughput of each feature codec on real features of
/// the default model (one core), in MB/s of fp32 input, with the ratio to raw fp32 framing
/// measured in the same run.
pub fn codec(json: bool) -> Result<()> {
    use coinfer_compress::{Codec, DecodeLimits, Feature, QuantRange};

    let graph = super::load_graph(std::path::Path::new(crate::args::DEFAULT_MODEL))?;
    let cut = graph.find_cut("4")?;
    let engine = coinfer_engine::engine_for_name("tract")?;
    let split = PreparedSplit::new(&graph, &cut, engine.as_ref())?;
    let test =
        coinfer_data::load(coinfer_data::DatasetName::FashionMnist, coinfer_data::Split::Test)?
            .take(64);
    let (x, _) = test.batches(64).next().ok_or_else(|| anyhow::anyhow!("no test images"))?;
    let f = coinfer_engine::eval::first_output(split.head.run(&[x])?)?;
    let batch = super::to_feature(&f);
    let one = Feature::new(
        [1].into_iter().chain(batch.shape[1..].iter().copied()).collect(),
        batch.values[..batch.values.len() / 64].to_vec(),
    )
    .ok_or_else(|| anyhow::anyhow!("feature shape"))?;
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
    if let Some(c) = Codec::calibrate_entropy(4, range, calib) {
        codecs.push(("uniform-ans-static-4b".into(), c));
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
            rows.push(serde_json::json!({
                "feature": label, "shape": feature.shape, "codec": name, "frame_bytes": size,
                "mb_per_s": mbps, "vs_raw_f32": mbps / base, "vs_target_200": mbps / 200.0,
            }));
        }
    }
    if json {
        return print_json(&serde_json::json!({ "rows": rows, "target_mb_per_s": 200.0 }));
    }
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r["feature"].as_str().unwrap_or_default().to_string(),
                r["codec"].as_str().unwrap_or_default().to_string(),
                r["frame_bytes"].to_string(),
                format!("{:.0}", r["mb_per_s"].as_f64().unwrap_or_default()),
                format!("{:.3}", r["vs_raw_f32"].as_f64().unwrap_or_default()),
                format!("{:.2}", r["vs_target_200"].as_f64().unwrap_or_default()),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["feature", "codec", "frame B", "MB/s (fp32 in)", "vs raw f32", "vs 200 MB/s"],
            cells
        )
    );
    println!(
        "encode + decode round trip per frame, one core; features of the default model at cut 4"
    );
    Ok(())
}
