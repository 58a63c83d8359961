//! `coinfer bench engine | stopping | sim | codec`: the pipeline's benchmark harnesses,
//! printed (speeds with same-run ratios; nothing is asserted).

use std::path::PathBuf;

use anyhow::Result;
use coinfer_pipeline::bench::{codec_bench, engine_bench, sim_bench, stopping_bench};

use crate::output::{print_json, table};

/// `coinfer bench engine`: full model vs head + tail per engine and batch.
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
    let graphs = models
        .into_iter()
        .map(|p| Ok((p.clone(), super::load_graph(&p)?)))
        .collect::<Result<Vec<_>>>()?;
    let rows = engine_bench(&graphs, &engines, batches, seconds)?;
    if json {
        return print_json(&rows);
    }
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.model.display().to_string(),
                r.engine.clone(),
                r.batch.to_string(),
                r.cut.clone(),
                format!("{:.0}", r.full_img_s),
                format!("{:.0}", r.split_img_s),
                format!("{:.3}", r.split_over_full),
                r.full_over_tract.map_or("-".into(), |v| format!("{v:.2}")),
            ]
        })
        .collect();
    let head = [
        "model",
        "engine",
        "batch",
        "cut",
        "full img/s",
        "head+tail img/s",
        "split/full",
        "engine/tract",
    ];
    println!("{}", table(&head, cells));
    println!("one thread per model; split/full ≥ 0.97 is the target (head+tail within 3 % of the full model)");
    Ok(())
}

/// `coinfer bench stopping`.
pub fn stopping(json: bool) -> Result<()> {
    let b = stopping_bench()?;
    if json {
        return print_json(&b);
    }
    let rows = vec![
        vec![
            "backward induction, 50 stages × 1,000 states".into(),
            format!("{:.3} ms", b.backward_induction_50x1000_ms),
            "≤ 1 ms".into(),
        ],
        vec![
            "one OSLA decision".into(),
            format!("{:.1} ns", b.osla_decision_ns),
            "≤ 100 ns".into(),
        ],
        vec![
            "Monte Carlo (OSLA rule, 50 stages)".into(),
            format!("{:.2e} inferences/s", b.monte_carlo_inferences_per_s),
            "-".into(),
        ],
        vec![
            "Markov backward induction, 50 stages × 64 states".into(),
            format!("{:.3} ms", b.markov_induction_50x64_ms),
            "≤ 1 ms".into(),
        ],
        vec![
            "one Markov-rule decision (gain → state → table)".into(),
            format!("{:.1} ns", b.markov_decision_ns),
            "≤ 100 ns".into(),
        ],
        vec![
            "placement, every K of a 1,000-layer table (truncated Rayleigh)".into(),
            format!("{:.0} ms", b.placement_1000_layers_ms),
            "≤ 1,000 ms".into(),
        ],
    ];
    println!("{}", table(&["measurement", "value", "target"], rows));
    Ok(())
}

/// `coinfer bench sim`: device-steps per second of the multi-device environment.
pub fn sim(devices: usize, json: bool) -> Result<()> {
    let b = sim_bench(devices)?;
    if json {
        return print_json(&b);
    }
    println!(
        "multi-device environment, {devices} devices: {:.3e} device-steps/s (target ≥ 1e6)",
        b.device_steps_per_s
    );
    Ok(())
}

/// `coinfer bench codec`: encode + decode throughput of each feature codec on real features
/// of the default model (one core), with the ratio to raw fp32 framing in the same run.
pub fn codec(json: bool) -> Result<()> {
    let graph = super::load_graph(std::path::Path::new(crate::args::DEFAULT_MODEL))?;
    let test =
        coinfer_data::load(coinfer_data::DatasetName::FashionMnist, coinfer_data::Split::Test)?
            .take(64);
    let rows = codec_bench(&graph, &test)?;
    if json {
        #[derive(serde::Serialize)]
        struct Report<'a> {
            rows: &'a [coinfer_pipeline::bench::CodecBenchRow],
            target_mb_per_s: f64,
        }
        return print_json(&Report { rows: &rows, target_mb_per_s: 200.0 });
    }
    let cells = rows
        .iter()
        .map(|r| {
            vec![
                r.feature.to_string(),
                r.codec.clone(),
                r.frame_bytes.to_string(),
                format!("{:.0}", r.mb_per_s),
                format!("{:.3}", r.vs_raw_f32),
                format!("{:.2}", r.vs_target_200),
            ]
        })
        .collect();
    let head = ["feature", "codec", "frame B", "MB/s (fp32 in)", "vs raw f32", "vs 200 MB/s"];
    println!("{}", table(&head, cells));
    println!(
        "encode + decode round trip per frame, one core; features of the default model at cut 4"
    );
    Ok(())
}
