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
