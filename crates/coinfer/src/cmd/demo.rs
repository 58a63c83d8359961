//! `coinfer demo`: profile the default model, choose the best split per bandwidth
//! (exhaustive, Neurosurgeon-style), execute it on real test images, write report/.

use anyhow::{bail, Context, Result};
use coinfer_compress::Codec;
use coinfer_data::{DatasetName, Split};
use coinfer_engine::eval::{first_output, predict};
use coinfer_engine::profile::PreparedSplit;
use coinfer_pipeline::runtime_check::{check_on_runtime, RuntimeCheckConfig};
use coinfer_pipeline::{evaluate, Evaluation, Stages};
use coinfer_sim::{Link, SplitChoice, SplitLatency};

use super::profile::{hardware, measure_model, measured, plot_profile};
use crate::args::DemoArgs;
use crate::output::{bytes, print_json, table, write_json};
use crate::plot::{write_svg, Series};

/// The decision for one link rate.
struct Plan {
    mbps: f64,
    link: Link,
    /// Every option on this link, edge-only first, device-only last.
    all: Vec<SplitLatency>,
    /// The fastest option.
    best: SplitLatency,
    /// The fastest intermediate cut (executed too, so a real split always runs).
    best_cut: Option<SplitLatency>,
}

/// Result of executing one chosen split on real images.
#[derive(Debug, serde::Serialize)]
struct Execution {
    choice: SplitChoice,
    accuracy: f64,
    full_model_accuracy: f64,
    predictions_differing_from_full_model: usize,
    bytes_sent_per_image: f64,
    images: usize,
}

pub fn run(args: &DemoArgs, json: bool) -> Result<()> {
    if !args.model.is_file() {
        bail!(
            "{} not found: run coinfer from the project root, or train it with `coinfer train`",
            args.model.display()
        );
    }
    let device = hardware(&args.device)?;
    let edge = hardware(&args.edge)?;
    if args.mbps.iter().any(|&r| !(r > 0.0 && r.is_finite())) {
        bail!("--mbps rates must be positive numbers, got {:?}", args.mbps);
    }
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let profile = measure_model(&graph, &args.engine.engine, 1, 20, json)?;
    let m = measured(&profile);
    let options = m.split_options(&device, &edge);
    let cut_options: Vec<_> =
        options.iter().filter(|o| matches!(o.choice, SplitChoice::Cut { .. })).cloned().collect();

    // Plan per bandwidth: the best option overall and the best intermediate cut.
    let mut plans = Vec::new();
    for &mbps in &args.mbps {
        let link = Link { rate_bps: mbps * 1e6, rtt_ms: args.rtt_ms };
        let all: Vec<SplitLatency> = options.iter().map(|o| o.latency(&link)).collect();
        let best = coinfer_policy::best_split(&options, &link).context("no split options")?;
        let best_cut = coinfer_policy::best_split(&cut_options, &link);
        plans.push(Plan { mbps, link, all, best, best_cut });
    }

    // Execute each distinct chosen split on real test images.
    let engine = coinfer_engine::engine_for_name(&args.engine.engine)?;
    let data = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?.take(args.images);
    let full = engine.prepare(&graph.proto)?;
    let bar = super::progress_bar(data.len() as u64, "full model", json);
    let reference =
        predict(&data, 100, |x| first_output(full.run(&[x])?), |d| bar.set_position(d as u64))?;
    bar.finish_and_clear();
    let mut executions: Vec<Execution> = Vec::new();
    let chosen = plans.iter().flat_map(|p| std::iter::once(&p.best).chain(p.best_cut.as_ref()));
    for best in chosen {
        let choice = &best.option.choice;
        if executions.iter().any(|e| &e.choice == choice) {
            continue;
        }
        let e = execute(&graph, choice, engine.as_ref(), &data, &reference.predicted, json)?;
        executions.push(Execution {
            choice: choice.clone(),
            accuracy: e.accuracy,
            full_model_accuracy: reference.accuracy(),
            predictions_differing_from_full_model: e.differing_from_reference.unwrap_or(0),
            bytes_sent_per_image: e.bytes_per_sample,
            images: e.images,
        });
    }

    // The chosen intermediate cut per rate, on the real runtime over the emulated link.
    let choices: Vec<(f64, SplitChoice)> = plans
        .iter()
        .filter_map(|p| p.best_cut.as_ref().map(|c| (p.mbps, c.option.choice.clone())))
        .collect();
    let runtime = if args.runtime_images > 0 {
        let config = RuntimeCheckConfig {
            model: &args.model,
            engine: &args.engine.engine,
            choices: &choices,
            rtt_ms: args.rtt_ms,
            images: args.runtime_images,
            data: DatasetName::FashionMnist,
        };
        check_on_runtime(&config, &profile, &mut super::Bar::new(json))?
    } else {
        vec![]
    };

    // Report.
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    plot_profile(&args.out.join("profile.svg"), &profile)?;
    let series: Vec<Series> = plans
        .iter()
        .map(|p| Series {
            label: format!("{} Mbit/s", p.mbps),
            points: p.all.iter().enumerate().map(|(i, l)| (i as f64, l.total_ms)).collect(),
        })
        .collect();
    write_svg(
        &args.out.join("latency.svg"),
        &[(
            &format!(
                "End-to-end latency per split ({} → {}); x: 0 = edge-only, last = device-only",
                device.name, edge.name
            ),
            "split option (0 = edge-only, 1.. = cut index + 1, last = device-only)",
            "ms",
            series,
            true,
        )],
    )?;
    if !runtime.is_empty() {
        // x = log10(Mbit/s), so 1, 10, 100 are evenly spaced.
        let pts = |f: &dyn Fn(&coinfer_pipeline::runtime_check::RuntimeCheck) -> f64| {
            runtime.iter().map(|c| (c.mbps.log10(), f(c))).collect::<Vec<_>>()
        };
        write_svg(
            &args.out.join("runtime.svg"),
            &[(
                "End-to-end latency on the real runtime: measured vs the cost model",
                "log10(link rate, Mbit/s)",
                "ms",
                vec![
                    Series { label: "predicted".into(), points: pts(&|c| c.predicted_ms) },
                    Series {
                        label: "measured p50".into(),
                        points: pts(&|c| c.measured.e2e_ms.p50),
                    },
                    Series {
                        label: "measured p95".into(),
                        points: pts(&|c| c.measured.e2e_ms.p95),
                    },
                ],
                true,
            )],
        )?;
    }
    let plan_json: Vec<serde_json::Value> = plans
        .iter()
        .map(|p| {
            serde_json::json!({
                "mbps": p.mbps,
                "link": p.link,
                "best": p.best,
                "best_cut": p.best_cut,
                "device_only_ms": p.all.last().map(|l| l.total_ms),
                "edge_only_ms": p.all.first().map(|l| l.total_ms),
                "options": p.all,
            })
        })
        .collect();
    let report = serde_json::json!({
        "model": args.model,
        "engine": engine.name(),
        "device": device,
        "edge": edge,
        "host_gmacs": m.host_gmacs(),
        "profile": profile,
        "plans": plan_json,
        "executions": executions,
        "runtime": runtime,
    });
    write_json(&args.out.join("demo.json"), &report)?;
    if json {
        return print_json(&report);
    }

    println!(
        "coinfer demo: {} ({} cut points), device `{}`, edge `{}`, RTT {} ms, engine {}",
        args.model.display(),
        m.cuts.len(),
        device.name,
        edge.name,
        args.rtt_ms,
        engine.name()
    );
    let rows = plans
        .iter()
        .map(|p| {
            let best = &p.best;
            let first = p.all.first().map_or(f64::NAN, |l| l.total_ms);
            let last = p.all.last().map_or(f64::NAN, |l| l.total_ms);
            vec![
                format!("{}", p.mbps),
                format!("{last:.2}"),
                format!("{first:.2}"),
                best.option.choice.to_string(),
                bytes(best.option.uplink_bytes),
                format!("{:.2}", best.option.device_ms),
                format!("{:.2}", best.transfer_ms),
                format!("{:.3}", best.option.edge_ms),
                format!("{:.2}", best.total_ms),
                format!("{:.2}×", last.min(first) / best.total_ms),
                p.best_cut
                    .as_ref()
                    .map_or("-".into(), |c| format!("{} {:.2} ms", c.option.choice, c.total_ms)),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "Mbit/s",
                "device-only ms",
                "edge-only ms",
                "best split",
                "sent",
                "device ms",
                "link ms",
                "edge ms",
                "total ms",
                "vs best single side",
                "best intermediate cut"
            ],
            rows
        )
    );
    let rows = executions
        .iter()
        .map(|e| {
            vec![
                e.choice.to_string(),
                e.images.to_string(),
                format!("{:.2} %", 100.0 * e.accuracy),
                format!("{:.2} %", 100.0 * e.full_model_accuracy),
                e.predictions_differing_from_full_model.to_string(),
                bytes(e.bytes_sent_per_image as u64),
            ]
        })
        .collect();
    println!("Executed on Fashion-MNIST test images (head → feature bytes → tail):");
    println!(
        "{}",
        table(&["split", "images", "accuracy", "full model", "differing", "sent/image"], rows)
    );
    if !runtime.is_empty() {
        println!(
            "On the real runtime (device → gRPC → edge on loopback, link emulated at each rate, \
             RTT {} ms; both sides on this host, so the prediction uses this host's times):",
            args.rtt_ms
        );
        let rows = runtime
            .iter()
            .map(|c| {
                let m = &c.measured;
                vec![
                    format!("{}", c.mbps),
                    c.choice.to_string(),
                    format!("{}/{}", m.edge, m.requests),
                    format!(
                        "{:.0} ({:.0}↑ {:.0}↓)",
                        m.mean_frame_bytes, c.wire_bytes[0], c.wire_bytes[1]
                    ),
                    format!(
                        "{:.2} + {:.2} + {:.2}",
                        c.predicted_parts_ms[0], c.predicted_parts_ms[1], c.predicted_parts_ms[2]
                    ),
                    format!("{:.2}", c.predicted_ms),
                    format!("{:.2}", m.e2e_ms.p50),
                    format!("{:+.1} %", 100.0 * c.relative_error),
                    format!("{:.2}", c.predicted_payload_only_ms),
                    format!("{:.2} %", 100.0 * m.accuracy),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &[
                    "Mbit/s",
                    "split",
                    "by edge",
                    "frame B (wire ↑↓)",
                    "predicted dev+link+edge ms",
                    "predicted ms",
                    "measured p50 ms",
                    "error",
                    "frame-only model ms",
                    "accuracy"
                ],
                rows
            )
        );
    }
    println!(
        "wrote {0}/demo.json, {0}/latency.svg, {0}/profile.svg{1}",
        args.out.display(),
        if runtime.is_empty() {
            String::new()
        } else {
            format!(", {}/runtime.svg", args.out.display())
        }
    );
    Ok(())
}

/// Runs `data` through the chosen split, the feature (or the input) crossing the link as a
/// raw float32 frame; compared with the full model's classes.
fn execute(
    graph: &coinfer_graph::Graph,
    choice: &SplitChoice,
    engine: &dyn coinfer_engine::Engine,
    data: &coinfer_data::Dataset,
    reference: &[usize],
    json: bool,
) -> Result<Evaluation> {
    let mut bar = super::Bar::new(json);
    Ok(match choice {
        SplitChoice::Cut { index, .. } => {
            let cut = graph.find_cut(&index.to_string())?;
            let split = PreparedSplit::new(graph, &cut, engine)?;
            let stages = Stages::Split { head: split.head.as_ref(), tail: split.tail.as_ref() };
            evaluate(stages, &Codec::RawF32, data, 100, Some(reference), &mut bar)?
        }
        SplitChoice::EdgeOnly | SplitChoice::DeviceOnly => {
            let full = engine.prepare(&graph.proto)?;
            let stages = match choice {
                SplitChoice::EdgeOnly => Stages::EdgeOnly(full.as_ref()),
                _ => Stages::DeviceOnly(full.as_ref()),
            };
            evaluate(stages, &Codec::RawF32, data, 100, Some(reference), &mut bar)?
        }
    })
}
