//! `coinfer placement`: seed 002 on the real runtime (placement over the link, online
//! splitting over a trace-driven fading link).

use anyhow::{Context, Result};
use coinfer_pipeline::placement_run::{placement_run, PlacementRunConfig, PlacementRunReport};
use coinfer_policy::stopping_config::StoppingConfig;

use super::Bar;
use crate::args::PlacementArgs;
use crate::output::{print_json, table, write_json};
use coinfer_report::{write_svg, Series};

/// Reads a `coinfer stopping` TOML configuration.
pub(crate) fn read_stopping_config(path: &std::path::Path) -> Result<StoppingConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

pub fn run(args: &PlacementArgs, json: bool) -> Result<()> {
    let config = read_stopping_config(&args.config)?;
    for v in &args.versions {
        anyhow::ensure!(v.is_file(), "version file {} does not exist", v.display());
    }
    let run = PlacementRunConfig {
        config,
        versions: args.versions.clone(),
        strategies: args.strategies.clone(),
        requests: args.requests,
        states: args.states,
        slot_ms: args.slot_ms,
        compare_rules: !args.no_rules,
        seed: args.seed,
        engine: args.engine.name().to_string(),
    };
    let report = placement_run(&run, &mut Bar::new(json))?;
    if let Some(dir) = &args.out {
        write_outputs(dir, &report)?;
    }
    if json {
        return print_json(&report);
    }
    print_report(&report);
    Ok(())
}

fn print_report(r: &PlacementRunReport) {
    let c = &r.channel;
    println!(
        "link: {} channel states, uplink {:.2}–{:.2} Mbit/s (one state per {:.0} ms slot), \
         download {:.2} Mbit/s; stack {:.2} ms; Q = {} inferences per period",
        c.gains.len(),
        c.rates_bps.first().copied().unwrap_or(0.0) / 1e6,
        c.rates_bps.last().copied().unwrap_or(0.0) / 1e6,
        c.slot_ms,
        c.download_bps / 1e6,
        r.stack_s * 1e3,
        r.inferences_per_period
    );
    if let Some(k) = r.rules_horizon {
        println!(
            "\nstopping rules on the first version, K = {k} layers placed (cost per inference):"
        );
        let rows = r
            .rules
            .iter()
            .map(|x| {
                vec![
                    x.rule.clone(),
                    format!("{:.4e}", x.expected_cost),
                    format!("{:.4e} ± {:.1e}", x.measured_cost.mean, x.measured_cost.ci95),
                    format!("{:+.1} %", 100.0 * x.relative_error),
                    format!("{}/{}/{}", x.served[0], x.served[1], x.served[2]),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &["rule", "exact expected", "measured (95 % CI)", "error", "edge/local/failed"],
                rows
            )
        );
    }
    println!("\nplacement per update period (predicted / measured):");
    let f = |v: f64| format!("{v:.3}");
    let rows = r
        .periods
        .iter()
        .map(|p| {
            vec![
                p.strategy.clone(),
                p.version.clone(),
                format!("{}/{}", p.k, p.layers),
                format!("{:.1}", p.bytes as f64 / 1e3),
                format!("{} / {}", f(p.download_s[0]), f(p.download_s[1])),
                p.download_error.map_or("-".into(), |e| format!("{:+.1} %", 100.0 * e)),
                format!("{:.4e} / {:.4e}", p.per_inference[0], p.per_inference[1]),
                format!(
                    "{} / {} ± {}",
                    f(p.period_cost[0]),
                    f(p.period_cost[1]),
                    f(p.period_cost_ci95)
                ),
                p.during_download.to_string(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &[
                "strategy",
                "version",
                "K/N",
                "kB",
                "download s",
                "error",
                "J(K) per inference",
                "period cost Ω+Q·J",
                "old model meanwhile",
            ],
            rows
        )
    );
    let rows = r
        .totals
        .iter()
        .map(|t| {
            let measured = format!("{} ± {}", f(t.total[1]), f(t.total_ci95));
            vec![t.strategy.clone(), f(t.total[0]), measured]
        })
        .collect();
    println!("{}", table(&["strategy", "total predicted", "total measured (95 % CI)"], rows));
    println!("{}", r.note);
}

fn write_outputs(dir: &std::path::Path, r: &PlacementRunReport) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    write_json(&dir.join("placement.json"), r)?;
    let mut w = csv::Writer::from_path(dir.join("periods.csv")).context("periods.csv")?;
    w.write_record([
        "strategy",
        "version",
        "k",
        "layers",
        "bytes",
        "download_s_predicted",
        "download_s_measured",
        "omega_predicted",
        "omega_measured",
        "per_inference_expected",
        "per_inference_measured",
        "per_inference_ci95",
        "period_cost_predicted",
        "period_cost_measured",
        "period_cost_ci95",
        "during_download",
        "resumes",
    ])?;
    for p in &r.periods {
        w.write_record([
            p.strategy.clone(),
            p.version.clone(),
            p.k.to_string(),
            p.layers.to_string(),
            p.bytes.to_string(),
            p.download_s[0].to_string(),
            p.download_s[1].to_string(),
            p.omega[0].to_string(),
            p.omega[1].to_string(),
            p.per_inference[0].to_string(),
            p.per_inference[1].to_string(),
            p.measured_cost.ci95.to_string(),
            p.period_cost[0].to_string(),
            p.period_cost[1].to_string(),
            p.period_cost_ci95.to_string(),
            p.during_download.to_string(),
            p.resumes.to_string(),
        ])?;
    }
    w.flush()?;
    let mut w = csv::Writer::from_path(dir.join("requests.csv")).context("requests.csv")?;
    for q in &r.requests {
        w.serialize(q)?;
    }
    w.flush()?;
    let mut w = csv::Writer::from_path(dir.join("rules.csv")).context("rules.csv")?;
    w.write_record(["rule", "expected_cost", "measured_mean", "measured_ci95", "relative_error"])?;
    for x in &r.rules {
        w.write_record([
            x.rule.clone(),
            x.expected_cost.to_string(),
            x.measured_cost.mean.to_string(),
            x.measured_cost.ci95.to_string(),
            x.relative_error.to_string(),
        ])?;
    }
    w.flush()?;
    let mut per_strategy = vec![];
    for t in &r.totals {
        let rows: Vec<_> = r.periods.iter().filter(|p| p.strategy == t.strategy).collect();
        for (which, i) in [("predicted", 0), ("measured", 1)] {
            per_strategy.push(Series {
                label: format!("{} ({which})", t.strategy),
                points: rows
                    .iter()
                    .enumerate()
                    .map(|(n, p)| (n as f64 + 1.0, p.period_cost[i]))
                    .collect(),
            });
        }
    }
    let downloads: Vec<(f64, f64)> =
        r.periods.iter().filter(|p| p.k > 0).map(|p| (p.download_s[0], p.download_s[1])).collect();
    let top = downloads.iter().fold(0.0f64, |m, &(a, b)| m.max(a).max(b));
    write_svg(
        &dir.join("placement.svg"),
        &[
            (
                "Period cost per update (download + Q × cost per inference)",
                "update period",
                "period cost",
                per_strategy,
                false,
            ),
            (
                "Head download time: measured vs the placement model",
                "predicted (s)",
                "measured (s)",
                vec![
                    Series { label: "downloads".into(), points: downloads },
                    Series {
                        label: "measured = predicted".into(),
                        points: vec![(0.0, 0.0), (top, top)],
                    },
                ],
                false,
            ),
        ],
    )?;
    Ok(())
}
