//! `coinfer stopping --config FILE.toml`: optimal stopping and placement (seed 002).

use anyhow::{Context, Result};
use coinfer_policy::placement::{enumerate_placement, EqualWidthMlp};
use coinfer_policy::stopping::{
    always_local, always_offload, backward_induction, expected_cost, fixed_split, monte_carlo,
    one_stage_look_ahead, Myopic, StoppingProblem, StoppingRule,
};
use coinfer_policy::stopping_config::{problem_from_table, NetworkConfig, StoppingConfig};
use coinfer_sim::{ChannelModel, Compute, LayerTable};
use rand::SeedableRng;

use super::profile::hardware;
use crate::args::StoppingArgs;
use crate::output::{print_json, table, write_json};
use crate::plot::{write_svg, Series};

/// The layer table of a real model file.
fn model_table(path: &std::path::Path, shape: &crate::args::ShapeArg) -> Result<LayerTable> {
    Ok(super::layer_table(&super::load_graph_at(path, shape)?))
}

struct RuleResult {
    name: &'static str,
    exact: f64,
    mc_mean: f64,
    mc_ci95: f64,
}

fn evaluate_rules(
    cfg: &StoppingConfig,
    p: &StoppingProblem,
    ch: &dyn ChannelModel,
    k: usize,
    samples: usize,
) -> Vec<RuleResult> {
    let opt = backward_induction(p, ch, k);
    let osla = one_stage_look_ahead(p, ch, k);
    let (_, fixed) = fixed_split(p, ch, k);
    let myopic = Myopic { problem: p, horizon: k };
    let offload = always_offload();
    let local = always_local(k);
    let rules: [(&'static str, &dyn StoppingRule); 6] = [
        ("optimal (backward induction)", &opt.rule),
        ("one-stage look-ahead", &osla),
        ("fixed split (mean channel)", &fixed),
        ("myopic", &myopic),
        ("always offload input", &offload),
        ("always local (to horizon)", &local),
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.monte_carlo.seed);
    rules
        .iter()
        .map(|(name, rule)| {
            let mc = monte_carlo(p, ch, k, *rule, samples, &mut rng);
            RuleResult {
                name,
                exact: expected_cost(p, ch, k, *rule),
                mc_mean: mc.mean,
                mc_ci95: mc.ci95,
            }
        })
        .collect()
}

/// The stopping rule in the runtime's form: stage `n` (after cut `n − 1` of the model) offloads
/// iff the observed rate is at least the Shannon rate at the gain threshold `η_n`. Stages run to
/// the horizon; with every layer placed (`K = N`) the last stage is completion on the device,
/// which the runtime does when no threshold is met. "Never" is written as `f64::MAX` (JSON has
/// no infinity).
fn online_rule(
    thresholds: &[f64],
    layers: usize,
    radio: &coinfer_sim::Radio,
) -> coinfer_sim::OnlineSplit {
    let k = thresholds.len().saturating_sub(1);
    let stages = if k == layers { k } else { k + 1 };
    let rate = |eta: f64| if eta.is_finite() { radio.rate_bps(eta) } else { f64::MAX };
    coinfer_sim::OnlineSplit {
        cuts: (0..stages.saturating_sub(1)).collect(),
        min_rate_bps: thresholds.iter().take(stages).map(|&e| rate(e)).collect(),
    }
}

pub fn run(args: &StoppingArgs, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let mut cfg: StoppingConfig =
        toml::from_str(&text).with_context(|| format!("parsing {}", args.config.display()))?;
    if let Some(path) = &args.model {
        cfg.network = NetworkConfig::Table(model_table(path, &args.shape)?);
    }
    let device = match &args.device {
        Some(name) => Compute::from(&hardware(name)?),
        None => cfg.device.compute()?,
    };
    let edge = match &args.edge {
        Some(name) => Compute::from(&hardware(name)?),
        None => cfg.edge.compute()?,
    };
    let layer_table = cfg.network.table();
    let p = problem_from_table(&layer_table, &device, &edge, cfg.radio, cfg.weights)?;
    let ch = cfg.channel.build(&cfg.radio)?;
    let n = p.layers();
    let downloads = cfg.layer_download_costs()?;
    let (placements, best) =
        enumerate_placement(&p, ch.as_ref(), &downloads, cfg.placement.inferences_per_period);
    let closed = match &cfg.network {
        NetworkConfig::Mlp { layers, input, width } if input == width && args.model.is_none() => {
            let mlp = EqualWidthMlp {
                layers: *layers,
                local_cost: p.local_cost[0],
                download_cost: downloads[0],
                inferences: cfg.placement.inferences_per_period,
            };
            // The closed form neglects the edge-time term, as in its derivation.
            let mut no_edge = p.clone();
            no_edge.edge_time_s.iter_mut().for_each(|t| *t = 0.0);
            Some(mlp.closed_form(ch.as_ref(), &|h| no_edge.offload_cost(0, h)))
        }
        _ => None,
    };
    let k = args.horizon.unwrap_or(best.k).min(n);
    let results = evaluate_rules(&cfg, &p, ch.as_ref(), k, cfg.monte_carlo.samples);
    let opt = backward_induction(&p, ch.as_ref(), k);
    let osla = one_stage_look_ahead(&p, ch.as_ref(), k);
    let optimal_cost = results[0].exact;
    if let Some(path) = &args.online_rule {
        let rule = online_rule(&opt.rule.thresholds, n, &cfg.radio);
        write_json(path, &rule)?;
    }

    // Cost vs mean SNR (channel gains scaled by 0.1× … 10×).
    let factors: Vec<f64> = (0..=8).map(|i| 10f64.powf(-1.0 + 0.25 * i as f64)).collect();
    let mut sweep: Vec<Series> =
        results.iter().map(|r| Series { label: r.name.into(), points: vec![] }).collect();
    let mut sweep_json = Vec::new();
    for f in &factors {
        let ch_f = cfg.channel.scaled(*f).build(&cfg.radio)?;
        let mean_snr_db = 10.0
            * (ch_f.expect(&|h| h) * cfg.radio.tx_power_w
                / (cfg.radio.noise_w_per_hz * cfg.radio.bandwidth_hz))
                .log10();
        let r = evaluate_rules(&cfg, &p, ch_f.as_ref(), k, 0);
        for (s, r) in sweep.iter_mut().zip(&r) {
            s.points.push((mean_snr_db, r.exact));
        }
        sweep_json.push(serde_json::json!({
            "mean_snr_db": mean_snr_db,
            "costs": r.iter().map(|r| serde_json::json!({"rule": r.name, "expected_cost": r.exact})).collect::<Vec<_>>(),
        }));
    }

    let report = serde_json::json!({
        "layers": n,
        "horizon": k,
        "placement": { "best": best, "all": placements, "closed_form": closed },
        "thresholds": { "optimal": opt.rule.thresholds, "one_stage_look_ahead": osla.thresholds },
        "rules": results.iter().map(|r| serde_json::json!({
            "rule": r.name, "expected_cost": r.exact,
            "monte_carlo": { "mean": r.mc_mean, "ci95": r.mc_ci95, "samples": cfg.monte_carlo.samples },
            "gap_to_optimal": r.exact / optimal_cost - 1.0,
        })).collect::<Vec<_>>(),
        "cost_vs_snr": sweep_json,
    });
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        write_json(&dir.join("stopping.json"), &report)?;
        let finite = |v: &[f64]| -> Vec<(f64, f64)> {
            v.iter()
                .enumerate()
                .filter(|(_, x)| x.is_finite())
                .map(|(i, &x)| (i as f64, x))
                .collect()
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
                        Series { label: "optimal".into(), points: finite(&opt.rule.thresholds) },
                        Series {
                            label: "one-stage look-ahead".into(),
                            points: finite(&osla.thresholds),
                        },
                    ],
                    true,
                ),
            ],
        )?;
    }
    if json {
        return print_json(&report);
    }
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
    println!("rules at horizon K = {k} ({} Monte Carlo samples each):", cfg.monte_carlo.samples);
    let rows = results
        .iter()
        .map(|r| {
            vec![
                r.name.to_string(),
                format!("{:.5e}", r.exact),
                format!("{:.5e} ± {:.1e}", r.mc_mean, r.mc_ci95),
                format!("{:+.2} %", 100.0 * (r.exact / optimal_cost - 1.0)),
            ]
        })
        .collect();
    println!("{}", table(&["rule", "expected cost", "Monte Carlo (95 % CI)", "vs optimal"], rows));
    let rows = (0..=k)
        .map(|i| {
            let f = |v: &[f64]| v.get(i).map_or("-".into(), |x| format!("{x:.4e}"));
            vec![i.to_string(), f(&opt.rule.thresholds), f(&osla.thresholds)]
        })
        .collect();
    println!("{}", table(&["stage", "optimal η", "OSLA η"], rows));
    if let Some(dir) = &args.out {
        println!("wrote {0}/stopping.json and {0}/stopping.svg", dir.display());
    }
    Ok(())
}
