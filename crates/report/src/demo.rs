//! `coinfer demo`'s result as tables, figures and a page.

use coinfer_engine::profile::{CutProfile, ModelProfile};
use coinfer_pipeline::demo::DemoReport;
use coinfer_pipeline::demo_seeds::SeedsReport;
use coinfer_pipeline::runtime_check::{RuntimeCheck, RuntimeChecks};

use crate::bytes;
use crate::error::Result;
use crate::html::{Figure, Page};
use crate::plot::{svg_string, Series};
use crate::table::Table;

/// The plan per link rate: single-side baselines, the best split and its parts.
pub fn plans_table(report: &DemoReport) -> Table {
    let DemoReport { device, edge, profile, plans, .. } = report;
    let rtt_ms = plans.first().map_or(0.0, |p| p.link.transport.rtt_s * 1e3);
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
    Table::new(
        format!(
            "coinfer demo: {} ({} cut points), device {}, edge {}, RTT {} ms, engine {}",
            report.model.display(),
            profile.cuts.len(),
            device.name(),
            edge.name(),
            rtt_ms,
            report.engine
        ),
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
            "best intermediate cut",
        ],
        rows,
    )
}

/// Each chosen split executed on test images.
pub fn executions_table(report: &DemoReport) -> Table {
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
    Table::new(
        "Executed on Fashion-MNIST test images (head → feature bytes → tail):",
        &["split", "images", "accuracy", "full model", "differing", "sent/image"],
        rows,
    )
}

/// Measured against predicted on the real runtime.
pub fn runtime_table(runtime: &RuntimeChecks, rtt_ms: f64) -> Table {
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
    Table::new(
        format!(
            "On the real runtime (device → gRPC → edge on loopback, link emulated at each rate, \
             RTT {rtt_ms} ms; both sides on this host, so the prediction uses this host's \
             times, profiled with an idle gap before each run as requests are spaced here; \
             protocol stack {:.3} ms per request, calibrated on the same relay with no rate \
             limit):",
            runtime.stack_s * 1e3
        ),
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
            "accuracy",
        ],
        rows,
    )
}

/// Head/tail latency and feature size per cut, measured on this host.
pub fn profile_figure(p: &ModelProfile) -> Result<Figure> {
    let pts = |f: &dyn Fn(&CutProfile) -> f64| -> Vec<(f64, f64)> {
        p.cuts.iter().map(|c| (c.cut.index as f64, f(c))).collect()
    };
    let svg = svg_string(&[
        (
            "Measured latency per cut (this host)",
            "cut index",
            "ms",
            vec![
                Series { label: "head".into(), points: pts(&|c| c.head.median_ms) },
                Series { label: "tail".into(), points: pts(&|c| c.tail.median_ms) },
            ],
            false,
        ),
        (
            "Feature size per cut",
            "cut index",
            "bytes per sample",
            vec![Series { label: "feature".into(), points: pts(&|c| c.cut.feature_bytes as f64) }],
            true,
        ),
    ])?;
    Ok(Figure {
        caption: "Head and tail latency (median of timed runs) and the float32 feature's size \
                  at each cut of the model, on this host."
            .into(),
        svg,
    })
}

/// Predicted end-to-end latency of every split option, one line per link rate.
pub fn latency_figure(report: &DemoReport) -> Result<Figure> {
    let series: Vec<Series> = report
        .plans
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
    let title = format!(
        "End-to-end latency per split ({} → {}); x: 0 = edge-only, last = device-only",
        report.device.name(),
        report.edge.name()
    );
    let svg = svg_string(&[(
        &title,
        "split option (0 = edge-only, 1.. = cut index + 1, last = device-only)",
        "ms",
        series,
        true,
    )])?;
    Ok(Figure {
        caption: "The cost model's end-to-end latency of every split option per link rate \
                  (log scale)."
            .into(),
        svg,
    })
}

/// Measured (p50, p95) against predicted latency on the real runtime, per link rate.
pub fn runtime_figure(runtime: &RuntimeChecks) -> Result<Figure> {
    // x = log10(Mbit/s), so 1, 10, 100 are evenly spaced.
    let pts = |f: &dyn Fn(&RuntimeCheck) -> f64| {
        runtime.checks.iter().map(|c| (c.mbps.log10(), f(c))).collect::<Vec<_>>()
    };
    let svg = svg_string(&[(
        "End-to-end latency on the real runtime: measured vs the cost model",
        "log10(link rate, Mbit/s)",
        "ms",
        vec![
            Series { label: "predicted".into(), points: pts(&|c| c.predicted.total_s * 1e3) },
            Series { label: "measured p50".into(), points: pts(&|c| c.measured.e2e_ms.p50) },
            Series { label: "measured p95".into(), points: pts(&|c| c.measured.e2e_ms.p95) },
        ],
        true,
    )])?;
    Ok(Figure {
        caption: "Each rate's best intermediate cut run on the real runtime (gRPC over \
                  loopback through the link emulator): measured median and 95th percentile \
                  against the cost model's prediction for this host."
            .into(),
        svg,
    })
}

/// The demo's page: settings, the headline, the baselines, the split per rate, executions,
/// the runtime check, the three papers, figures, and the command that reproduces it.
pub fn page(report: &DemoReport, seeds: Option<&SeedsReport>, command: &str) -> Result<Page> {
    use crate::seeds as s;
    let mut page = Page::new("coinfer demo — device–edge co-inference of the bundled model");
    page.setting("model", report.model.display().to_string())
        .setting("device", report.device.name())
        .setting("edge", report.edge.name())
        .setting("engine", report.engine.clone())
        .setting("command", command);
    if let Some(seeds) = seeds.filter(|s| !s.automl.is_empty()) {
        page.section("Headline: AutoML plan against the best baseline per link rate")
            .table(s::headline_table(report, seeds))
            .figure(s::baselines_figure(report, Some(seeds))?)
            .text(format!(
                "The AutoML plans are the shipped result of a full search (not re-run by the \
                 demo); this command made them: {}",
                seeds.automl_command
            ))
            .command(command);
    }
    page.section("Baselines at their best honest setting")
        .table(s::input_baselines_table(report))
        .command(command);
    page.section("Split per link rate (Neurosurgeon-style exhaustive search)")
        .table(plans_table(report))
        .figure(latency_figure(report)?)
        .command(command);
    page.section("Profile of the model on this host").figure(profile_figure(&report.profile)?);
    page.section("Executed on real test images").table(executions_table(report)).command(command);
    if let Some(runtime) = &report.runtime {
        let rtt_ms = report.plans.first().map_or(0.0, |p| p.link.transport.rtt_s * 1e3);
        page.section("Measured on the real runtime")
            .table(runtime_table(runtime, rtt_ms))
            .figure(runtime_figure(runtime)?)
            .command(command);
    }
    if let Some(seeds) = seeds {
        if !seeds.automl_runtime.is_empty() {
            page.section("Seed 000 on the real runtime").table(s::automl_runtime_table(seeds));
        }
        if let (Some(rules), Some(totals)) = (s::rules_table(seeds), s::placement_table(seeds)) {
            page.section("Seed 002: online splitting and placement on the real runtime")
                .table(rules)
                .table(totals)
                .text(seeds.placement.as_ref().map_or(String::new(), |p| p.note.clone()));
        }
        if let Some(eval) = s::mcia_eval_table(seeds) {
            let section = page.section("Seed 001: many devices, one edge (MCIA)");
            section.table(eval);
            if let Some(deploy) = s::mcia_deploy_table(seeds) {
                section.table(deploy);
            }
        }
    }
    page.section("Result (JSON)").json("demo.json", report)?;
    Ok(page)
}
