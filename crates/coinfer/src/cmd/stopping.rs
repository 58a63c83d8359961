//! `coinfer stopping --config FILE.toml`: optimal stopping and placement (seed 002).

use anyhow::{Context, Result};
use coinfer_pipeline::stopping_study::{stopping_study, MarkovSource, StoppingStudy, StudyConfig};
use coinfer_sim::{Compute, Hardware};

use crate::args::{StoppingArgs, TraceValues};
use crate::output::{print_json, write_json};
use coinfer_report::{write_svg, Series};

pub fn run(args: &StoppingArgs, json: bool) -> Result<()> {
    let config = super::placement::read_stopping_config(&args.config)?;
    let model_table = match &args.model {
        Some(path) => Some(super::layer_table(&super::load_graph_at(path, &args.shape)?)),
        None => None,
    };
    let compute = |name: &Option<String>| -> Result<Option<Compute>> {
        Ok(match name {
            Some(n) => match Hardware::from_spec(n)? {
                coinfer_sim::Hardware::Profile(p) => Some(Compute::from(&p)),
                coinfer_sim::Hardware::Measured(t) => {
                    anyhow::bail!("`{}`: the stopping study takes a profile name", t.name)
                }
            },
            None => None,
        })
    };
    let samples = config.monte_carlo.samples;
    let mut markov: Vec<MarkovSource> = args
        .correlation
        .iter()
        .map(|&rho| MarkovSource::GaussMarkov { rho, states: args.states })
        .collect();
    if let Some(path) = &args.markov_trace {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let kind = match args.trace_values {
            TraceValues::RateBps => coinfer_sim::TraceKind::RateBps,
            TraceValues::Gain => coinfer_sim::TraceKind::Gain,
        };
        let trace = coinfer_sim::TraceChannel::from_csv(&text, kind, &config.radio)
            .with_context(|| format!("reading the trace {}", path.display()))?;
        markov.push(MarkovSource::Trace {
            name: format!("trace {} (lag {})", path.display(), args.lag),
            gains: trace.gains().to_vec(),
            states: args.states,
            lag: args.lag,
        });
    }
    let study = StudyConfig {
        config,
        table: model_table,
        device: compute(&args.device)?,
        edge: compute(&args.edge)?,
        horizon: args.horizon,
        markov,
    };
    let report = stopping_study(&study)?;
    if let Some(path) = &args.online_rule {
        write_json(path, &report.online_rule)?;
    }
    if let Some(path) = &args.markov_online_rule {
        let [row] = report.markov.as_slice() else {
            anyhow::bail!(
                "--markov-online-rule needs exactly one correlated channel (got {})",
                report.markov.len()
            );
        };
        let rule = row.online_rule.as_ref().with_context(|| {
            format!(
                "{}: the Markov rule is not a rate threshold at every stage (its stop sets are \
                 not upper sets), so it has no online-split form",
                row.channel
            )
        })?;
        write_json(path, rule)?;
    }
    let (lines, tables) = report_tables(&report, samples);
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json(&dir.join("stopping.json"), &report)?;
        write_plots(dir, &report)?;
        let mut page_tables = vec![coinfer_report::Table::new(
            "placement",
            &["result"],
            lines.iter().map(|l| vec![l.clone()]).collect(),
        )];
        page_tables.extend(tables.iter().cloned());
        super::write_page(
            dir,
            "coinfer stopping — online splitting as optimal stopping, and placement",
            &page_tables,
            &[(
                "stopping.svg",
                "Expected cost of each rule against the mean SNR; the period cost against the \
                 layers placed; the offloading thresholds per stage.",
            )],
        )?;
    }
    if json {
        return print_json(&report);
    }
    for l in &lines {
        println!("{l}");
    }
    for t in &tables {
        println!("{}", t.to_text());
    }
    if let Some(dir) = &args.out {
        println!(
            "wrote {0}/index.html (the report), {0}/stopping.json, {0}/stopping.svg",
            dir.display()
        );
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

/// The placement as lines, the rules' costs and the thresholds as tables.
fn report_tables(
    report: &StoppingStudy,
    samples: usize,
) -> (Vec<String>, Vec<coinfer_report::Table>) {
    use coinfer_report::Table;
    let mut tables = vec![];
    let (n, k) = (report.layers, report.horizon);
    let (best, closed) = (&report.placement.best, &report.placement.closed_form);
    let (optimal, osla) = (&report.thresholds.optimal, &report.thresholds.one_stage_look_ahead);
    let mut lines = vec![format!(
        "{n} layers; best placement K* = {} (period cost {:.4e}; enumeration over K = 0..{n})",
        best.k, best.total
    )];
    if let Some(c) = &closed {
        lines.push(format!(
            "closed form (equal-width MLP, OSLA, edge time folded into ψ): K* = {:.2} → K = {} (period cost {:.4e})",
            c.k_star, c.k, c.total
        ));
    }
    let rules_title = format!("rules at horizon K = {k} ({samples} Monte Carlo samples each):");
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
    tables.push(Table::new(
        rules_title,
        &["rule", "expected cost", "Monte Carlo (95 % CI)", "vs optimal"],
        rows,
    ));
    let rows = (0..=k)
        .map(|i| {
            let f = |v: &[f64]| v.get(i).map_or("-".into(), |x| format!("{x:.4e}"));
            vec![i.to_string(), f(optimal), f(osla)]
        })
        .collect();
    tables.push(Table::new(
        "offloading thresholds per stage (gain; stop when h ≥ η):",
        &["stage", "optimal η", "OSLA η"],
        rows,
    ));
    if report.markov.is_empty() {
        return (lines, tables);
    }
    let markov_title = format!(
        "correlated channels (a Markov chain across stages): the Markov rule vs the i.i.d. rules \
         played on the chain, exact expected costs at K = {k}"
    );
    let rows = report
        .markov
        .iter()
        .map(|m| {
            let mc = &m.markov_monte_carlo;
            vec![
                m.channel.clone(),
                m.states.to_string(),
                format!("{:.5e}", m.markov_optimal),
                format!("{:.5e}", m.iid_optimal),
                format!("{:+.3} %", 100.0 * m.gap),
                format!("{:.5e}", m.markov_osla),
                format!("{:.5e}", m.iid_osla),
                format!("{:.5e}", m.best_fixed_split),
                format!("{:.5e} ± {:.1e}", mc.mean, mc.ci95),
                if m.threshold_form { "yes".into() } else { "no".into() },
                format!("{:.0}", m.induction_us),
            ]
        })
        .collect();
    tables.push(Table::new(
        markov_title,
        &[
            "channel",
            "states",
            "Markov optimal",
            "i.i.d. optimal",
            "i.i.d. loses",
            "Markov OSLA",
            "i.i.d. OSLA",
            "best fixed split",
            "Markov rule, Monte Carlo",
            "rate thresholds",
            "induction µs",
        ],
        rows,
    ));
    for m in &report.markov {
        let Some(h) = &m.held_out else { continue };
        let title = format!(
            "{}: every rule fitted on the first {} samples, replayed on the other {} (mean cost \
             per inference over every start)",
            m.channel, h.samples[0], h.samples[1]
        );
        let best = h.replayed.first().map_or(f64::NAN, |r| r.1);
        let rows = h
            .replayed
            .iter()
            .map(|(rule, c)| {
                vec![
                    rule.clone(),
                    format!("{c:.5e}"),
                    format!("{:+.2} %", 100.0 * (c / best - 1.0)),
                ]
            })
            .collect();
        tables.push(Table::new(title, &["rule", "replayed cost", "vs best"], rows));
    }
    (lines, tables)
}
