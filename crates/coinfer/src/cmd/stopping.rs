//! `coinfer stopping --config FILE.toml`: optimal stopping and placement (seed 002).

use anyhow::{Context, Result};
use coinfer_pipeline::stopping_study::{stopping_study, StoppingStudy, StudyConfig};
use coinfer_policy::stopping_config::StoppingConfig;
use coinfer_sim::Compute;

use super::profile::hardware;
use crate::args::StoppingArgs;
use crate::output::{print_json, table, write_json};
use crate::plot::{write_svg, Series};

pub fn run(args: &StoppingArgs, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config: StoppingConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", args.config.display()))?;
    let model_table = match &args.model {
        Some(path) => Some(super::layer_table(&super::load_graph_at(path, &args.shape)?)),
        None => None,
    };
    let compute = |name: &Option<String>| -> Result<Option<Compute>> {
        Ok(match name {
            Some(n) => match hardware(n)? {
                coinfer_sim::Hardware::Profile(p) => Some(Compute::from(&p)),
                coinfer_sim::Hardware::Measured(t) => {
                    anyhow::bail!("`{}`: the stopping study takes a profile name", t.name)
                }
            },
            None => None,
        })
    };
    let samples = config.monte_carlo.samples;
    let study = StudyConfig {
        config,
        table: model_table,
        device: compute(&args.device)?,
        edge: compute(&args.edge)?,
        horizon: args.horizon,
    };
    let report = stopping_study(&study)?;
    if let Some(path) = &args.online_rule {
        write_json(path, &report.online_rule)?;
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json(&dir.join("stopping.json"), &report)?;
        write_plots(dir, &report)?;
    }
    if json {
        return print_json(&report);
    }
    print_report(&report, samples);
    if let Some(dir) = &args.out {
        println!("wrote {0}/stopping.json and {0}/stopping.svg", dir.display());
    }
    Ok(())
}

/// `stopping.svg`: cost vs SNR, period cost vs K, thresholds per stage.
fn write_plots(dir: &std::path::Path, report: &StoppingStudy) -> Result<()> {
    let placements = &report.placement.all;
    let (optimal, osla) = (&report.thresholds.optimal, &report.thresholds.one_stage_look_ahead);
    let mut sweep: Vec<Series> =
        report.rules.iter().map(|r| Series { label: r.rule.into(), points: vec![] }).collect();
    for point in &report.cost_vs_snr {
        for (s, c) in sweep.iter_mut().zip(&point.costs) {
            s.points.push((point.mean_snr_db, c.expected_cost));
        }
    }
    let finite = |v: &[f64]| -> Vec<(f64, f64)> {
        v.iter().enumerate().filter(|(_, x)| x.is_finite()).map(|(i, &x)| (i as f64, x)).collect()
    };
    write_svg(
        &dir.join("stopping.svg"),
        &[
            ("Expected cost vs mean SNR", "mean SNR (dB)", "expected cost", sweep, true),
            (
                "Period cost vs layers placed K",
                "K",
                "download + Q × expected inference cost",
                vec![Series {
                    label: "optimal splitting".into(),
                    points: placements.iter().map(|c| (c.k as f64, c.total)).collect(),
                }],
                true,
            ),
            (
                "Offloading thresholds per stage (gain; stop when h ≥ η)",
                "stage n (layers computed)",
                "η_n",
                vec![
                    Series { label: "optimal".into(), points: finite(optimal) },
                    Series { label: "one-stage look-ahead".into(), points: finite(osla) },
                ],
                true,
            ),
        ],
    )?;
    Ok(())
}

/// The placement, the rules' costs and the thresholds as tables.
fn print_report(report: &StoppingStudy, samples: usize) {
    let (n, k) = (report.layers, report.horizon);
    let (best, closed) = (&report.placement.best, &report.placement.closed_form);
    let (optimal, osla) = (&report.thresholds.optimal, &report.thresholds.one_stage_look_ahead);
    println!(
        "{n} layers; best placement K* = {} (period cost {:.4e}; enumeration over K = 0..{n})",
        best.k, best.total
    );
    if let Some(c) = &closed {
        println!(
            "closed form (equal-width MLP, OSLA, edge time neglected): K* = {:.2} → K = {} (period cost {:.4e})",
            c.k_star, c.k, c.total
        );
    }
    println!("rules at horizon K = {k} ({samples} Monte Carlo samples each):");
    let rows = report
        .rules
        .iter()
        .map(|r| {
            let (mean, ci95) = r.monte_carlo.map_or((f64::NAN, f64::NAN), |m| (m.mean, m.ci95));
            vec![
                r.rule.to_string(),
                format!("{:.5e}", r.expected_cost),
                format!("{mean:.5e} ± {ci95:.1e}"),
                format!("{:+.2} %", 100.0 * r.gap_to_optimal.unwrap_or(f64::NAN)),
            ]
        })
        .collect();
    println!("{}", table(&["rule", "expected cost", "Monte Carlo (95 % CI)", "vs optimal"], rows));
    let rows = (0..=k)
        .map(|i| {
            let f = |v: &[f64]| v.get(i).map_or("-".into(), |x| format!("{x:.4e}"));
            vec![i.to_string(), f(optimal), f(osla)]
        })
        .collect();
    println!("{}", table(&["stage", "optimal η", "OSLA η"], rows));
}
