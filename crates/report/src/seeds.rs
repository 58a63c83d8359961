//! The demo's baselines and three papers as tables and figures.

use coinfer_pipeline::demo::DemoReport;
use coinfer_pipeline::demo_seeds::SeedsReport;

use crate::error::Result;
use crate::html::Figure;
use crate::plot::{svg_string, Series};
use crate::table::Table;

fn pct(v: f64) -> String {
    format!("{:.2} %", 100.0 * v)
}

fn ms(s: f64) -> String {
    format!("{:.2}", 1e3 * s)
}

/// Edge-only as a camera sends its image: each codec's bytes and accuracy on the test images
/// and its predicted latency at each rate.
pub fn input_baselines_table(demo: &DemoReport) -> Table {
    let mut header: Vec<String> =
        ["input codec", "lossless", "bytes/image", "accuracy", "differing"]
            .map(String::from)
            .to_vec();
    header.extend(demo.plans.iter().map(|p| format!("ms @ {} Mbit/s", p.mbps)));
    let rows = demo
        .input_baselines
        .iter()
        .map(|b| {
            let mut row = vec![
                b.codec.clone(),
                if b.lossless { "yes" } else { "no" }.into(),
                format!("{:.0}", b.bytes_per_image),
                pct(b.accuracy),
                b.differing_from_full_model.to_string(),
            ];
            row.extend(b.total_s.iter().map(|&s| ms(s)));
            row
        })
        .collect();
    let images = demo.executions.first().map_or(0, |e| e.images);
    Table {
        title: format!(
            "Edge-only baselines with real image codecs ({images} test images; predicted \
             end-to-end latency with the bytes each sent):"
        ),
        header,
        rows,
    }
}

/// The headline: per link rate, the best baseline, the AutoML plan, the speedup and the
/// accuracy (executed here on the demo's images, and the search's record on 10,000).
pub fn headline_table(demo: &DemoReport, seeds: &SeedsReport) -> Table {
    let unsplit = demo.executions.first().map_or(f64::NAN, |e| e.full_model_accuracy);
    let rows = seeds
        .automl
        .iter()
        .map(|r| {
            let (name, base) = r
                .best_baseline
                .as_ref()
                .map_or(("—".into(), "—".into()), |b| (b.name.clone(), ms(b.total_s)));
            let plan = match r.shipped.deployed {
                coinfer_pipeline::automl::Deployed::Searched => format!("searched: {}", r.split),
                other => other.to_string(),
            };
            vec![
                format!("{}", r.mbps),
                name,
                base,
                plan,
                format!("{:.0}", r.bytes_per_image),
                ms(r.predicted_s),
                r.speedup.map_or("—".into(), |s| format!("{s:.2}×")),
                format!("{} ({})", pct(r.accuracy), pct(unsplit)),
                format!("{} ({})", pct(r.shipped.accuracy), pct(r.shipped.baseline_accuracy)),
            ]
        })
        .collect();
    let images = seeds.automl.first().map_or(0, |r| r.images);
    Table::new(
        format!(
            "Seed 000 — the AutoML plan per link rate against the best baseline, both predicted by \
             the same cost model on the demo's hardware with the bytes each sent; accuracy \
             executed here on {images} test images and, from the search's record, after \
             fine-tuning on all 10,000 (the unsplit model's in brackets):"
        ),
        &[
            "Mbit/s",
            "best baseline",
            "baseline ms",
            "AutoML plan",
            "plan B/image",
            "plan ms",
            "speedup",
            "accuracy here",
            "accuracy (10,000)",
        ],
        rows,
    )
}

/// The AutoML plans on the real runtime: measured against this host's prediction.
pub fn automl_runtime_table(seeds: &SeedsReport) -> Table {
    let rows = seeds
        .automl_runtime
        .iter()
        .flat_map(|r| &r.checks)
        .map(|c| {
            vec![
                format!("{}", c.mbps),
                c.choice.to_string(),
                format!("{}/{}", c.measured.edge + c.measured.local, c.measured.requests),
                format!("{:.0}", c.measured.mean_frame_bytes.abs()),
                ms(c.predicted.total_s),
                format!("{:.2} (p95 {:.2})", c.measured.e2e_ms.p50, c.measured.e2e_ms.p95),
                format!("{:+.1} %", 100.0 * c.relative_error),
                pct(c.measured.accuracy),
            ]
        })
        .collect();
    Table::new(
        "Seed 000 — the AutoML plans on the real runtime (edge server and device over gRPC \
         through the link emulator at the plan's rate; both on this host, so predicted with \
         this host's times):",
        &[
            "Mbit/s",
            "split",
            "answered",
            "frame B",
            "predicted ms",
            "measured p50 ms",
            "error",
            "accuracy (these requests)",
        ],
        rows,
    )
}

/// Seed 002: the stopping rules played on the runtime, measured against their exact cost.
pub fn rules_table(seeds: &SeedsReport) -> Option<Table> {
    let p = seeds.placement.as_ref()?;
    let rows = p
        .rules
        .iter()
        .map(|r| {
            vec![
                r.rule.clone(),
                format!("{:.3}", 1e3 * r.expected_cost),
                format!("{:.3} ± {:.3}", 1e3 * r.measured_cost.mean, 1e3 * r.measured_cost.ci95),
                format!("{:+.1} %", 100.0 * r.relative_error),
                format!("{}/{}/{}", r.served[0], r.served[1], r.served[2]),
            ]
        })
        .collect();
    Some(Table::new(
        format!(
            "Seed 002 — online splitting over a trace-driven fading link on the real runtime, K = \
             {} layers placed: cost per inference (w_T·T + w_E·E, in milli-units: ms + mJ at \
             unit weights), exact expectation against measured (95 % CI):",
            p.rules_horizon.map_or("?".into(), |k| k.to_string())
        ),
        &["rule", "exact expected", "measured", "error", "edge/local/failed"],
        rows,
    ))
}

/// Seed 002: each placement strategy's total cost over the published versions.
pub fn placement_table(seeds: &SeedsReport) -> Option<Table> {
    let p = seeds.placement.as_ref()?;
    let rows = p
        .totals
        .iter()
        .map(|t| {
            vec![
                t.strategy.clone(),
                format!("{:.3}", t.total[0]),
                format!("{:.3} ± {:.3}", t.total[1], t.total_ci95),
            ]
        })
        .collect();
    Some(Table::new(
        format!(
            "Seed 002 — placement after each model update: total cost over the versions \
             (download + {} inferences per period; w_T·T + w_E·E: s + J at unit weights), \
             predicted against measured:",
            p.inferences_per_period
        ),
        &["strategy", "predicted", "measured (95 % CI)"],
        rows,
    ))
}

/// Seed 001: the agent against the optimum and every baseline in the simulator.
pub fn mcia_eval_table(seeds: &SeedsReport) -> Option<Table> {
    let e = seeds.mcia_eval.as_ref()?;
    let rows = e
        .methods
        .iter()
        .map(|m| {
            vec![
                m.method.clone(),
                format!("{:.4}", m.mean_utility),
                format!("{:.1} %", 100.0 * m.gap_closed),
                format!("{:.1}", m.mean_latency_ms),
                format!("{:.4}", m.accuracy),
                format!("{:.2}", m.offload_fraction),
                format!("{:.0}", m.decision_us),
            ]
        })
        .collect();
    Some(Table::new(
        format!(
            "Seed 001 — {} devices sharing one edge, {} held-out slots (reference: {}; gap closed \
             = share of reference − best trivial baseline):",
            e.devices, e.config.slots, e.reference
        ),
        &["method", "utility", "gap closed", "latency ms", "accuracy", "offload", "decide µs"],
        rows,
    ))
}

/// Seed 001: the agent's plans played by concurrent real devices, simulated against measured.
pub fn mcia_deploy_table(seeds: &SeedsReport) -> Option<Table> {
    let d = seeds.mcia_deploy.as_ref()?;
    let rows = d
        .runs
        .iter()
        .map(|r| {
            vec![
                r.slot.to_string(),
                r.device_id.clone(),
                r.version.clone(),
                r.partition.to_string(),
                format!("{:.1}", r.simulated_ms.total),
                format!("{:.1}", r.measured_ms.total),
                format!("{:+.1} %", 100.0 * r.relative_error),
                format!("{}/{}/{}", r.served[0], r.served[1], r.served[2]),
            ]
        })
        .collect();
    Some(Table::new(
        format!(
            "Seed 001 — the agent's plans on the real runtime: {} devices as concurrent clients \
             of one edge, {} requests each per slot; |error| median {:.1} % (offloading) and \
             {:.1} % (local):",
            d.devices,
            d.requests,
            100.0 * d.abs_error.offloading_median,
            100.0 * d.abs_error.local_median
        ),
        &[
            "slot",
            "device",
            "version",
            "layers on device",
            "simulated ms",
            "measured ms",
            "error",
            "edge/local/fallback",
        ],
        rows,
    ))
}

/// Predicted latency against link rate: each baseline and the AutoML plans.
pub fn baselines_figure(demo: &DemoReport, seeds: Option<&SeedsReport>) -> Result<Figure> {
    let x = |mbps: f64| mbps.log10();
    let mut series = vec![
        Series {
            label: "device-only".into(),
            points: demo
                .plans
                .iter()
                .filter_map(|p| Some((x(p.mbps), 1e3 * p.device_only_s?)))
                .collect(),
        },
        Series {
            label: "Neurosurgeon (fp32 features)".into(),
            points: demo
                .plans
                .iter()
                .map(|p| (x(p.mbps), 1e3 * p.best.prediction.total_s))
                .collect(),
        },
    ];
    for b in demo.input_baselines.iter().filter(|b| b.codec == "png" || b.codec.contains("ANS")) {
        series.push(Series {
            label: format!("edge-only ({})", b.codec),
            points: demo.plans.iter().zip(&b.total_s).map(|(p, s)| (x(p.mbps), 1e3 * s)).collect(),
        });
    }
    if let Some(s) = seeds.filter(|s| !s.automl.is_empty()) {
        series.push(Series {
            label: "AutoML plan (seed 000)".into(),
            points: s.automl.iter().map(|r| (x(r.mbps), 1e3 * r.predicted_s)).collect(),
        });
    }
    let title = format!(
        "Predicted end-to-end latency ({} → {}, RTT {} ms)",
        demo.device.name(),
        demo.edge.name(),
        demo.plans.first().map_or(0.0, |p| p.link.transport.rtt_s * 1e3)
    );
    let svg = svg_string(&[(&title, "log10(uplink rate, Mbit/s)", "ms", series, true)])?;
    Ok(Figure {
        caption: "Each baseline at its best honest setting and the shipped AutoML plans, \
                  predicted by the one cost model with the bytes each really sends."
            .into(),
        svg,
    })
}
