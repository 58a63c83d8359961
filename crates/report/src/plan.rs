//! `coinfer plan`'s result as a table, a figure and a page.

use std::collections::BTreeMap;

use coinfer_pipeline::plan_model::PlanModelReport;
use coinfer_sim::SplitChoice;

use crate::error::Result;
use crate::html::{Figure, Page};
use crate::plot::{svg_string, Series};
use crate::table::Table;

/// Milliseconds with two decimals from seconds (never `-0.00`).
fn ms(s: f64) -> String {
    format!("{:.2}", (1e3 * s).max(0.0))
}

/// Index of the fastest option of each split that meets the floor, fastest first.
fn best_per_split(report: &PlanModelReport) -> Vec<usize> {
    let mut best_of: BTreeMap<String, usize> = BTreeMap::new();
    for (i, c) in report.candidates.iter().enumerate().filter(|(_, c)| c.meets_floor) {
        let e = best_of.entry(c.split.to_string()).or_insert(i);
        if c.prediction.total_s < report.candidates[*e].prediction.total_s {
            *e = i;
        }
    }
    let mut rows: Vec<usize> = best_of.into_values().collect();
    let total = |i: usize| report.candidates[i].prediction.total_s;
    rows.sort_by(|&a, &b| total(a).total_cmp(&total(b)));
    rows
}

/// The best option of each split meeting the floor — the `limit` fastest, then device- and
/// edge-only if they are slower — with the predicted latency's parts.
pub fn options_table(report: &PlanModelReport, limit: usize) -> Table {
    let rows = best_per_split(report);
    let baseline = |i: &&usize| {
        matches!(report.candidates[**i].split, SplitChoice::DeviceOnly | SplitChoice::EdgeOnly)
    };
    let shown = rows.iter().take(limit).chain(rows.iter().skip(limit).filter(baseline));
    let body = shown
        .map(|&i| {
            let c = &report.candidates[i];
            let p = &c.prediction;
            let link = p.rtt_s + p.uplink_s + p.downlink_s;
            vec![
                if i == report.chosen { "→".into() } else { String::new() },
                c.split.to_string(),
                c.codec.clone(),
                format!("{:.0}", c.bytes_per_sample),
                format!("{:.1} %", 100.0 * c.agreement),
                ms(p.device_s),
                ms(link),
                ms(p.edge_s),
                ms(p.total_s - p.device_s - link - p.edge_s),
                ms(p.total_s),
            ]
        })
        .collect();
    Table::new(
        format!(
            "{}: {} options (every cut × 6 codecs, device-only, edge-only) at {} Mbit/s; the \
             fastest of each split with top-1 agreement ≥ {:.1} %",
            report.model.display(),
            report.candidates.len(),
            report.up_bps / 1e6,
            100.0 * report.min_agreement
        ),
        &[
            "",
            "split",
            "codec",
            "bytes",
            "agreement",
            "device ms",
            "link ms",
            "edge ms",
            "other ms",
            "= predicted ms",
        ],
        body,
    )
}

/// Predicted latency (top) and agreement (bottom) per cut, one line per codec.
pub fn options_figure(report: &PlanModelReport) -> Result<Figure> {
    // Per codec: (cut, ms) and (cut, agreement %) points.
    type Lines = (Vec<(f64, f64)>, Vec<(f64, f64)>);
    let mut by_codec: BTreeMap<&str, Lines> = BTreeMap::new();
    for c in &report.candidates {
        if let SplitChoice::Cut { index, .. } = c.split {
            let e = by_codec.entry(c.codec.as_str()).or_default();
            e.0.push((index as f64, c.prediction.total_s * 1e3));
            e.1.push((index as f64, 100.0 * c.agreement));
        }
    }
    let latency = by_codec
        .iter()
        .map(|(name, (l, _))| Series { label: name.to_string(), points: l.clone() })
        .collect();
    let agreement = by_codec
        .iter()
        .map(|(name, (_, a))| Series { label: name.to_string(), points: a.clone() })
        .collect();
    let svg = svg_string(&[
        ("Predicted end-to-end latency per cut and codec", "cut index", "ms", latency, true),
        ("Top-1 agreement with the unsplit model", "cut index", "%", agreement, false),
    ])?;
    Ok(Figure {
        caption: format!(
            "Every cut with each codec at {} Mbit/s: the cost model's latency with the bytes \
             the codec produced (log scale), and the share of the unsplit model's answers kept \
             on {} {} samples.",
            report.up_bps / 1e6,
            report.check_samples,
            if report.samples_given { "given" } else { "random" }
        ),
        svg,
    })
}

/// The plan's page: settings, the options, the figure, the plan and how to run it.
pub fn page(report: &PlanModelReport, command: &str, dir: &str) -> Result<Page> {
    let best = report.best();
    let mut page = Page::new(format!("coinfer plan — {}", report.model.display()));
    page.setting("model", report.model.display().to_string())
        .setting("uplink", format!("{} Mbit/s", report.up_bps / 1e6))
        .setting(
            "samples",
            format!(
                "{} calibrate, {} check ({})",
                report.calibration_samples,
                report.check_samples,
                if report.samples_given { "given" } else { "random inputs: agreement on noise" }
            ),
        )
        .setting("agreement floor", format!("{:.1} %", 100.0 * report.min_agreement))
        .setting("command", command);
    page.section("The plan")
        .text(format!(
            "{} with {}: {:.2} ms predicted, top-1 agreement {:.1} % on {} samples.",
            best.split,
            best.codec,
            1e3 * best.prediction.total_s,
            100.0 * best.agreement,
            report.check_samples
        ))
        .table(options_table(report, 8))
        .command(command)
        .command(format!("coinfer edge serve --models {dir} --plan {dir}/plan.json"))
        .command(format!("coinfer device run --plan {dir}/plan.json --models {dir} --inputs X.npy"))
        .json("plan.json", &report.plan)?;
    page.section("Every option").figure(options_figure(report)?);
    Ok(page)
}
