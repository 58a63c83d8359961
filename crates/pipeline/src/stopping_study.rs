//! Seed 002's study: the best number of layers to place on the device (enumeration, and the
//! closed form for equal-width MLPs), every stopping rule's expected cost (exact and Monte
//! Carlo) at that horizon, the cost against mean SNR, and the optimal rule in the runtime's
//! online-splitting form.

use coinfer_policy::placement::{
    enumerate_placement, ClosedFormPlacement, EqualWidthMlp, PlacementCost,
};
use coinfer_policy::stopping::{
    always_local, always_offload, backward_induction, expected_cost, fixed_split, monte_carlo,
    one_stage_look_ahead, Myopic, StoppingProblem, StoppingRule,
};
use coinfer_policy::stopping_config::{problem_from_table, NetworkConfig, StoppingConfig};
use coinfer_sim::{ChannelModel, Compute, LayerTable, OnlineSplit, Radio};
use rand::SeedableRng;

use crate::error::{PipelineError, Result};

/// What to study.
#[derive(Debug, Clone)]
pub struct StudyConfig {
    /// The `coinfer stopping` configuration.
    pub config: StoppingConfig,
    /// A real model's layer table in place of the configuration's network.
    pub table: Option<LayerTable>,
    /// Device compute in place of the configuration's.
    pub device: Option<Compute>,
    /// Edge compute in place of the configuration's.
    pub edge: Option<Compute>,
    /// Horizon `K` in place of the best placement's.
    pub horizon: Option<usize>,
    /// Correlated channels to compare the Markov rule with the i.i.d. rule on.
    pub markov: Vec<MarkovSource>,
}

/// A finite-state Markov channel across stages (one stage = one layer's compute time).
#[derive(Debug, Clone, PartialEq)]
pub enum MarkovSource {
    /// Gauss–Markov Rayleigh fading with correlation `rho` per stage and the configured
    /// channel's mean gain, quantised into `states` equiprobable states.
    GaussMarkov {
        /// Correlation of the complex amplitude from one stage to the next, in [0, 1).
        rho: f64,
        /// States.
        states: usize,
    },
    /// Fitted to a trace of gains: `states` quantile states, transitions `lag` samples apart.
    Trace {
        /// Where the trace came from (for the report).
        name: String,
        /// Gains in time order.
        gains: Vec<f64>,
        /// States.
        states: usize,
        /// Trace samples per stage.
        lag: usize,
    },
}

/// The Markov rule against the i.i.d. rule on one correlated channel (exact costs on the
/// chain; the i.i.d. rules are computed for the chain's stage-0 law, as if stages were
/// independent, and played on the chain).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MarkovRow {
    /// The channel: `gauss-markov ρ=0.9` or the trace's name.
    pub channel: String,
    /// Correlation per stage (Gauss–Markov only).
    pub rho: Option<f64>,
    /// States of the chain.
    pub states: usize,
    /// Optimal rule by backward induction over (stage, state).
    pub markov_optimal: f64,
    /// The i.i.d. optimal rule, played on the chain.
    pub iid_optimal: f64,
    /// `iid_optimal / markov_optimal − 1`: what ignoring correlation costs.
    pub gap: f64,
    /// One-stage look-ahead with the chain's conditional expectation.
    pub markov_osla: f64,
    /// The i.i.d. one-stage look-ahead, played on the chain.
    pub iid_osla: f64,
    /// The best fixed split in expectation.
    pub best_fixed_split: f64,
    /// Monte Carlo of the Markov rule on the chain.
    pub markov_monte_carlo: MonteCarlo,
    /// Whether the Markov rule is a rate threshold per stage (every stop set an upper set),
    /// so it runs as an online split plan.
    pub threshold_form: bool,
    /// Backward induction's time (µs, median of 21 runs).
    pub induction_us: f64,
    /// For a trace: every rule fitted on its first half and replayed on the second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out: Option<HeldOut>,
    /// The Markov rule in the runtime's form (a minimum rate per stage, `threshold_form`
    /// only): what the device runs on this correlated channel.
    #[serde(skip)]
    pub online_rule: Option<OnlineSplit>,
}

/// Rules fitted on the first half of a trace, replayed on the second half (mean cost over
/// every start position with room for the horizon): no model is trusted, only the data.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeldOut {
    /// Samples fitted on / replayed on.
    pub samples: [usize; 2],
    /// (rule, mean replayed cost), best first.
    pub replayed: Vec<(String, f64)>,
}

/// A Monte Carlo estimate.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct MonteCarlo {
    /// Sample mean.
    pub mean: f64,
    /// Half-width of the 95 % confidence interval.
    pub ci95: f64,
    /// Samples drawn.
    pub samples: usize,
}

/// One rule's cost.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct RuleCost {
    /// The rule.
    pub rule: &'static str,
    /// Its exact expected cost.
    pub expected_cost: f64,
    /// Its Monte Carlo estimate (absent in the SNR sweep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monte_carlo: Option<MonteCarlo>,
    /// `expected_cost / optimal − 1` (absent in the SNR sweep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap_to_optimal: Option<f64>,
}

/// Every rule's cost at one mean SNR (channel gains scaled).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SnrPoint {
    /// Mean SNR (dB).
    pub mean_snr_db: f64,
    /// Exact costs, in the order of [`StoppingStudy::rules`].
    pub costs: Vec<RuleCost>,
}

/// How many layers to place on the device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Placement {
    /// The best `K` by enumeration.
    pub best: PlacementCost,
    /// Every `K`.
    pub all: Vec<PlacementCost>,
    /// The closed form, for an equal-width MLP configuration.
    pub closed_form: Option<ClosedFormPlacement>,
}

/// Offloading thresholds per stage (gain; offload when `h ≥ η_n`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Thresholds {
    /// Backward induction's.
    pub optimal: Vec<f64>,
    /// One-stage look-ahead's.
    pub one_stage_look_ahead: Vec<f64>,
}

/// The study's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoppingStudy {
    /// Layers of the network.
    pub layers: usize,
    /// The horizon the rules were compared at.
    pub horizon: usize,
    /// Placement.
    pub placement: Placement,
    /// Thresholds.
    pub thresholds: Thresholds,
    /// Every rule at the horizon, optimal first.
    pub rules: Vec<RuleCost>,
    /// Costs against mean SNR (gains scaled 0.1× … 10×).
    pub cost_vs_snr: Vec<SnrPoint>,
    /// The optimal rule in the runtime's form (cut `n − 1` of the model is stage `n`).
    #[serde(skip)]
    pub online_rule: OnlineSplit,
    /// The Markov rule against the i.i.d. rule on each correlated channel asked for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub markov: Vec<MarkovRow>,
}

fn stopping(e: coinfer_policy::stopping::StoppingError) -> PipelineError {
    PipelineError::Invalid(e.to_string())
}

/// Every rule's exact cost, and (with `samples > 0`) its Monte Carlo estimate.
fn evaluate_rules(
    p: &StoppingProblem,
    ch: &dyn ChannelModel,
    k: usize,
    samples: usize,
    seed: u64,
) -> Vec<RuleCost> {
    let opt = backward_induction(p, ch, k);
    let osla = one_stage_look_ahead(p, ch, k);
    let (_, fixed) = fixed_split(p, ch, k);
    let myopic = Myopic { problem: p, horizon: k };
    let offload = always_offload();
    let local = always_local(k);
    let rules: [(&'static str, &dyn StoppingRule); 6] = [
        ("optimal (backward induction)", &opt.rule),
        ("one-stage look-ahead", &osla),
        ("best fixed split (in expectation)", &fixed),
        ("myopic", &myopic),
        ("always offload input", &offload),
        ("always local (to horizon)", &local),
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out: Vec<RuleCost> = rules
        .iter()
        .map(|(name, rule)| RuleCost {
            rule: name,
            expected_cost: expected_cost(p, ch, k, *rule),
            monte_carlo: (samples > 0).then(|| {
                let mc = monte_carlo(p, ch, k, *rule, samples, &mut rng);
                MonteCarlo { mean: mc.mean, ci95: mc.ci95, samples }
            }),
            gap_to_optimal: None,
        })
        .collect();
    let optimal = out.first().map_or(f64::NAN, |r| r.expected_cost);
    if samples > 0 {
        out.iter_mut().for_each(|r| r.gap_to_optimal = Some(r.expected_cost / optimal - 1.0));
    }
    out
}

/// The stopping rule in the runtime's form: stage `n` (after cut `n − 1` of the model)
/// offloads iff the observed rate is at least the Shannon rate at the gain threshold `η_n`.
/// Stages run to the horizon; with every layer placed (`K = N`) the last stage is completion
/// on the device, which the runtime does when no threshold is met. "Never" is written as
/// `f64::MAX` (JSON has no infinity).
pub fn online_rule(thresholds: &[f64], layers: usize, radio: &Radio) -> OnlineSplit {
    let k = thresholds.len().saturating_sub(1);
    let stages = if k == layers { k } else { k + 1 };
    let rate = |eta: f64| if eta.is_finite() { radio.rate_bps(eta) } else { f64::MAX };
    OnlineSplit {
        cuts: (0..stages.saturating_sub(1)).collect(),
        min_rate_bps: thresholds.iter().take(stages).map(|&e| rate(e)).collect(),
    }
}

/// Runs the study.
pub fn stopping_study(study: &StudyConfig) -> Result<StoppingStudy> {
    let mut cfg = study.config.clone();
    let from_model = study.table.is_some();
    if let Some(t) = &study.table {
        cfg.network = NetworkConfig::Table(t.clone());
    }
    let device = match study.device {
        Some(c) => c,
        None => {
            cfg.device.compute().map_err(|e| PipelineError::Invalid(format!("[device] {e}")))?
        }
    };
    let edge = match study.edge {
        Some(c) => c,
        None => cfg.edge.compute().map_err(|e| PipelineError::Invalid(format!("[edge] {e}")))?,
    };
    let table = cfg.network.table();
    let p =
        problem_from_table(&table, &device, &edge, (cfg.radio, cfg.transport.clone()), cfg.weights)
            .map_err(stopping)?;
    let ch = cfg.channel.build(&cfg.radio).map_err(|e| stopping(e.into()))?;
    let n = p.layers();
    let downloads = cfg.layer_download_costs().map_err(stopping)?;
    let (all, best) =
        enumerate_placement(&p, ch.as_ref(), &downloads, cfg.placement.inferences_per_period);
    let closed_form = match &cfg.network {
        NetworkConfig::Mlp { layers, input, width } if input == width && !from_model => {
            let mlp = EqualWidthMlp {
                layers: *layers,
                local_cost: p.local_cost[0],
                download_cost: downloads[0],
                inferences: cfg.placement.inferences_per_period,
            };
            Some(mlp.closed_form(ch.as_ref(), &p))
        }
        _ => None,
    };
    if let Some(h) = study.horizon.filter(|&h| h > n) {
        return Err(PipelineError::Invalid(format!(
            "horizon {h}: the network has {n} layers (K counts layers placed on the device, 0..={n})"
        )));
    }
    if cfg.monte_carlo.samples == 0 {
        return Err(PipelineError::Invalid(
            "`monte_carlo.samples` = 0: must be ≥ 1 (inferences simulated per rule)".into(),
        ));
    }
    let k = study.horizon.unwrap_or(best.k);
    let seed = cfg.monte_carlo.seed;
    let rules = evaluate_rules(&p, ch.as_ref(), k, cfg.monte_carlo.samples, seed);
    let opt = backward_induction(&p, ch.as_ref(), k);
    let osla = one_stage_look_ahead(&p, ch.as_ref(), k);

    let mut cost_vs_snr = Vec::new();
    for i in 0..=8 {
        let factor = 10f64.powf(-1.0 + 0.25 * i as f64);
        let ch_f = cfg.channel.scaled(factor).build(&cfg.radio).map_err(|e| stopping(e.into()))?;
        let snr = ch_f.expect(&|h| h) * cfg.radio.tx_power_w
            / (cfg.radio.noise_w_per_hz * cfg.radio.bandwidth_hz);
        let costs = evaluate_rules(&p, ch_f.as_ref(), k, 0, seed);
        cost_vs_snr.push(SnrPoint { mean_snr_db: 10.0 * snr.log10(), costs });
    }
    Ok(StoppingStudy {
        layers: n,
        horizon: k,
        placement: Placement { best, all, closed_form },
        online_rule: online_rule(&opt.rule.thresholds, n, &cfg.radio),
        thresholds: Thresholds {
            optimal: opt.rule.thresholds,
            one_stage_look_ahead: osla.thresholds,
        },
        rules,
        cost_vs_snr,
        markov: study
            .markov
            .iter()
            .map(|m| {
                markov_row(&p, ch.expect(&|h| h), k, m, (cfg.monte_carlo.samples, seed), &cfg.radio)
            })
            .collect::<Result<_>>()?,
    })
}

/// The Markov and i.i.d. rules on one correlated channel with mean gain `mean_gain`.
fn markov_row(
    p: &StoppingProblem,
    mean_gain: f64,
    k: usize,
    source: &MarkovSource,
    (samples, seed): (usize, u64),
    radio: &Radio,
) -> Result<MarkovRow> {
    use coinfer_policy::stopping_markov::{
        markov_backward_induction, markov_expected_cost, markov_monte_carlo,
        markov_one_stage_look_ahead, OnStates,
    };
    let bad = |e: coinfer_sim::MarkovError| PipelineError::Invalid(e.to_string());
    let (name, rho, chain) = match source {
        MarkovSource::GaussMarkov { rho, states } => (
            format!("gauss-markov ρ={rho}"),
            Some(*rho),
            coinfer_sim::MarkovChannel::gauss_markov(*rho, mean_gain, *states).map_err(bad)?,
        ),
        MarkovSource::Trace { name, gains, states, lag } => (
            name.clone(),
            None,
            coinfer_sim::MarkovChannel::from_trace(gains, *states, *lag).map_err(bad)?,
        ),
    };
    let iid = chain.marginal().map_err(|e| bad(e.into()))?;
    let mut times = Vec::with_capacity(21);
    let mut opt = markov_backward_induction(p, &chain, k);
    for _ in 0..21 {
        let t = std::time::Instant::now();
        opt = markov_backward_induction(p, &chain, k);
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let on_chain = |thresholds: &[f64]| {
        markov_expected_cost(p, &chain, k, &OnStates { thresholds, channel: &chain })
    };
    let iid_opt = backward_induction(p, &iid, k);
    let iid_osla = one_stage_look_ahead(p, &iid, k);
    let (_, fixed) = fixed_split(p, &iid, k);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mc = markov_monte_carlo(p, &chain, k, &opt.rule, samples.max(1), &mut rng);
    let iid_optimal = on_chain(&iid_opt.rule.thresholds);
    Ok(MarkovRow {
        channel: name,
        rho,
        states: chain.states(),
        markov_optimal: opt.expected_cost,
        iid_optimal,
        gap: iid_optimal / opt.expected_cost - 1.0,
        markov_osla: markov_expected_cost(p, &chain, k, &markov_one_stage_look_ahead(p, &chain, k)),
        iid_osla: on_chain(&iid_osla.thresholds),
        best_fixed_split: on_chain(&fixed.thresholds),
        markov_monte_carlo: MonteCarlo { mean: mc.mean, ci95: mc.ci95, samples: mc.samples },
        threshold_form: opt.rule.lowest_stopping_states().is_some(),
        online_rule: opt
            .rule
            .gain_thresholds(&chain)
            .map(|eta| online_rule(&eta, p.layers(), radio)),
        induction_us: times[times.len() / 2],
        held_out: match source {
            MarkovSource::Trace { gains, states, lag, .. } => {
                Some(held_out(p, k, gains, *states, *lag).map_err(PipelineError::Invalid)?)
            }
            MarkovSource::GaussMarkov { .. } => None,
        },
    })
}

/// Fits every rule on the first half of `gains` and replays it on the second half.
fn held_out(
    p: &StoppingProblem,
    k: usize,
    gains: &[f64],
    states: usize,
    lag: usize,
) -> std::result::Result<HeldOut, String> {
    use coinfer_agents::{replay_cost, FittedStopping, SplittingCosts};
    use coinfer_policy::stopping_markov::{markov_backward_induction, StateRule};
    let (train, test) = gains.split_at(gains.len() / 2);
    let chain =
        coinfer_sim::MarkovChannel::from_trace(train, states, lag).map_err(|e| e.to_string())?;
    let iid = chain.marginal().map_err(|e| e.to_string())?;
    let offload = |n: usize, h: f64| p.offload_cost(n, h);
    let costs = SplittingCosts { local_cost: &p.local_cost, offload_cost: &offload };
    let learned = FittedStopping::fit(train, lag, k, &costs).map_err(|e| e.to_string())?;
    let markov = markov_backward_induction(p, &chain, k).rule;
    let iid_opt = backward_induction(p, &iid, k).rule;
    let iid_osla = one_stage_look_ahead(p, &iid, k);
    let (_, fixed) = fixed_split(p, &iid, k);
    type Rule<'a> = Box<dyn Fn(usize, f64) -> bool + 'a>;
    let rules: Vec<(&str, Rule<'_>)> = vec![
        ("learned (fitted continuation values)", Box::new(|n, h| learned.stop(n, h, &costs))),
        ("Markov optimal (chain fitted)", Box::new(|n, h| markov.stop(n, chain.state_of(h)))),
        ("i.i.d. optimal", Box::new(|n, h| iid_opt.stop(n, h))),
        ("i.i.d. one-stage look-ahead", Box::new(|n, h| iid_osla.stop(n, h))),
        ("best fixed split (in expectation)", Box::new(|n, h| fixed.stop(n, h))),
        ("always offload input", Box::new(|_, _| true)),
    ];
    let mut replayed = rules
        .iter()
        .map(|(name, rule)| {
            replay_cost(test, lag, k, &costs, rule.as_ref())
                .map(|c| (name.to_string(), c))
                .ok_or_else(|| format!("the held-out half is shorter than the horizon {k}"))
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    replayed.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(HeldOut { samples: [train.len(), test.len()], replayed })
}
