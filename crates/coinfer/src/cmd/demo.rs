//! `coinfer demo`: profile the default model, choose the best split per bandwidth
//! (exhaustive, Neurosurgeon-style), execute it on real test images, write report/.

use anyhow::{bail, Context, Result};
use coinfer_data::DatasetName;
use coinfer_pipeline::demo::{run_demo, DemoConfig, DemoReport};
use coinfer_pipeline::runtime_check::RuntimeChecks;

use coinfer_sim::Hardware;

use super::profile::plot_profile;
use crate::args::DemoArgs;
use crate::output::{bytes, print_json, table, write_json};
use crate::plot::{write_svg, Series};

pub fn run(args: &DemoArgs, json: bool) -> Result<()> {
    if !args.model.is_file() {
        bail!(
            "{} not found: run coinfer from the project root, or train it with `coinfer train`",
            args.model.display()
        );
    }
    let graph = super::load_graph_at(&args.model, &args.shape)?;
    let config = DemoConfig {
        model: &args.model,
        graph: &graph,
        engine: args.engine.name(),
        device: Hardware::from_spec(&args.device)?,
        edge: Hardware::from_spec(&args.edge)?,
        mbps: args.mbps.clone(),
        rtt_s: args.rtt_ms / 1e3,
        images: args.images,
        runtime_images: args.runtime_images,
        data: DatasetName::FashionMnist,
    };
    let report = run_demo(&config, &mut super::Bar::new(json))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write_plots(&args.out, &report)?;
    write_json(&args.out.join("demo.json"), &report)?;
    if json {
        return print_json(&report);
    }
    print_plans(args, &report);
    print_executions(&report);
    if let Some(runtime) = &report.runtime {
        print_runtime(args, runtime);
    }
    println!(
        "wrote {0}/demo.json, {0}/latency.svg, {0}/profile.svg{1}",
        args.out.display(),
        if report.runtime.is_none() {
            String::new()
        } else {
            format!(", {}/runtime.svg", args.out.display())
        }
    );
    Ok(())
}

/// `profile.svg`, `latency.svg` and (with a runtime run) `runtime.svg` in `out`.
fn write_plots(out: &std::path::Path, report: &DemoReport) -> Result<()> {
    let DemoReport { device, edge, profile, plans, runtime, .. } = report;
    plot_profile(&out.join("profile.svg"), profile)?;
    let series: Vec<Series> = plans
        .iter()
        .map(|p| Series {
            label: format!("{} Mbit/s", p.mbps),
            points: p
                .options
                .iter()
                .enumerate()
                .map(|(i, l)| (i as f64, l.prediction.total_s * 1e3))
                .collect(),
        })
        .collect();
    write_svg(
        &out.join("latency.svg"),
        &[(
            &format!(
                "End-to-end latency per split ({} → {}); x: 0 = edge-only, last = device-only",
                device.name(),
                edge.name()
            ),
            "split option (0 = edge-only, 1.. = cut index + 1, last = device-only)",
            "ms",
            series,
            true,
        )],
    )?;
    if let Some(runtime) = runtime {
        // x = log10(Mbit/s), so 1, 10, 100 are evenly spaced.
        let pts = |f: &dyn Fn(&coinfer_pipeline::runtime_check::RuntimeCheck) -> f64| {
            runtime.checks.iter().map(|c| (c.mbps.log10(), f(c))).collect::<Vec<_>>()
        };
        write_svg(
            &out.join("runtime.svg"),
            &[(
                "End-to-end latency on the real runtime: measured vs the cost model",
                "log10(link rate, Mbit/s)",
                "ms",
                vec![
                    Series {
                        label: "predicted".into(),
                        points: pts(&|c| c.predicted.total_s * 1e3),
                    },
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
    Ok(())
}

/// The plan per link rate.
fn print_plans(args: &DemoArgs, report: &DemoReport) {
    let DemoReport { device, edge, profile, plans, .. } = report;
    println!(
        "coinfer demo: {} ({} cut points), device `{}`, edge `{}`, RTT {} ms, engine {}",
        args.model.display(),
        profile.cuts.len(),
        device.name(),
        edge.name(),
        args.rtt_ms,
        report.engine
    );
    let rows = plans
        .iter()
        .map(|p| {
            let best = &p.best.prediction;
            let first = p.edge_only_s.unwrap_or(f64::NAN);
            let last = p.device_only_s.unwrap_or(f64::NAN);
            let link = best.stack_s + best.rtt_s + best.uplink_s + best.downlink_s;
            vec![
                format!("{}", p.mbps),
                format!("{:.3}", last * 1e3),
                format!("{:.3}", first * 1e3),
                p.best.option.choice.to_string(),
                bytes(best.wire_up_bytes as u64),
                format!("{:.3}", best.device_s * 1e3),
                format!("{:.3}", link * 1e3),
                format!("{:.3}", best.edge_s * 1e3),
                format!("{:.3}", best.total_s * 1e3),
                format!("{:.2}×", last.min(first) / best.total_s),
                p.best_cut.as_ref().map_or("-".into(), |c| {
                    format!("{} {:.3} ms", c.option.choice, c.prediction.total_s * 1e3)
                }),
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
                "sent (wire)",
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
}

/// Each chosen split executed on test images.
fn print_executions(report: &DemoReport) {
    let rows = report
        .executions
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
}

/// Measured against predicted on the real runtime.
fn print_runtime(args: &DemoArgs, runtime: &RuntimeChecks) {
    println!(
        "On the real runtime (device → gRPC → edge on loopback, link emulated at each rate, \
         RTT {} ms; both sides on this host, so the prediction uses this host's times, \
         profiled with an idle gap before each run as requests are spaced here; protocol \
         stack {:.3} ms per request, calibrated on the same relay with no rate limit):",
        args.rtt_ms,
        runtime.stack_s * 1e3
    );
    let rows = runtime
        .checks
        .iter()
        .map(|c| {
            let m = &c.measured;
            let p = &c.predicted;
            let link = p.stack_s + p.rtt_s + p.uplink_s + p.downlink_s;
            vec![
                format!("{}", c.mbps),
                c.choice.to_string(),
                format!("{}/{}", m.edge, m.requests),
                format!(
                    "{:.0} ({:.0}↑ {:.0}↓)",
                    m.mean_frame_bytes, c.wire_bytes[0], c.wire_bytes[1]
                ),
                format!("{:.2} + {:.2} + {:.2}", p.device_s * 1e3, link * 1e3, p.edge_s * 1e3),
                format!("{:.2}", p.total_s * 1e3),
                format!("{:.2} (p95 {:.2})", m.e2e_ms.p50, m.e2e_ms.p95),
                format!("{:+.1} %", 100.0 * c.relative_error),
                format!("{:.2}", c.predicted_payload_only.total_s * 1e3),
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
