//! Seed 001's oracles for one slot of a [`MultiDeviceEnv`]: every device's (version,
//! partition) searched with the exact compute and bandwidth allocation
//! ([`MultiDeviceEnv::exact_shares`]) — exhaustively (the true optimum of the slot, for a few
//! devices) or by coordinate descent (one device at a time, any number of devices).

use rand::Rng;

use crate::environment::EnvError;
use crate::multi_device::{DeviceAction, MultiDeviceEnv};

/// A slot's decision and what it scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlotSolution {
    /// One action per device, shares exact for the choices.
    pub actions: Vec<DeviceAction>,
    /// Summed utility of the slot.
    pub utility: f64,
    /// Joint (or partial) choices whose allocation was solved and scored.
    pub evaluated: usize,
}

impl SlotSolution {
    /// Each device's (version, partition).
    pub fn choices(&self) -> Vec<(usize, usize)> {
        self.actions.iter().map(|a| (a.version, a.partition)).collect()
    }
}

/// Most allocations [`exhaustive`] solves before it gives up (a branch-and-bound search is
/// usually far below this up to 4–6 devices).
pub const EXHAUSTIVE_LIMIT: usize = 2_000_000;

/// The summed utility of `choices` with the exact allocation.
pub fn score(env: &MultiDeviceEnv, choices: &[(usize, usize)]) -> Result<SlotSolution, EnvError> {
    let actions = env.exact_shares(choices)?;
    let utility = env.outcomes(&actions)?.iter().map(|o| o.utility).sum();
    Ok(SlotSolution { actions, utility, evaluated: 1 })
}

/// A device's (version, partition) with an upper bound on its utility.
type Bounded = ((usize, usize), f64);

/// Device `d`'s choices worth searching, best first by their upper bound (its utility with
/// the whole edge and band): its best local choice, and every offloading choice whose bound
/// beats it (any other is dominated: it cannot beat staying local and takes shares from the
/// others). Falls back to every fitting choice if no local one fits.
fn search_options(env: &MultiDeviceEnv, d: usize) -> Result<Vec<Bounded>, EnvError> {
    let mut local: Option<Bounded> = None;
    let mut offload = Vec::new();
    for (v, p) in env.device_choices(d) {
        let a = DeviceAction::choice(v, p);
        if env.offloads(&a) {
            offload.push(((v, p), env.device_utility(d, &a, 1.0, 1.0)?));
        } else {
            let u = env.device_utility(d, &a, 0.0, 0.0)?;
            if local.is_none_or(|(_, best)| u > best) {
                local = Some(((v, p), u));
            }
        }
    }
    let mut options: Vec<Bounded> = match local {
        Some(l) => offload.into_iter().filter(|o| o.1 > l.1).chain([l]).collect(),
        None => offload,
    };
    options.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(options)
}

/// The slot's optimum: every device's (version, partition) searched with the exact
/// allocation, by branch and bound from coordinate descent's solution. The bound is
/// Lagrangian: with the edge's compute and the band priced at the incumbent's multipliers,
/// each device's best priced utility is separable, and their sum plus the prices bounds any
/// joint choice from above, so only joint choices that could beat the incumbent are solved.
/// Errors for no device, and when the search would solve more than [`EXHAUSTIVE_LIMIT`]
/// allocations.
pub fn exhaustive(env: &MultiDeviceEnv) -> Result<SlotSolution, EnvError> {
    let n = env.num_devices();
    if n == 0 {
        return Err(EnvError::InvalidAction("no device to search".into()));
    }
    let incumbent = coordinate_descent_from_greedy(env, 10)?;
    let prices = slot_prices(env, &incumbent.actions);
    let mut options: Vec<Vec<Bounded>> = Vec::with_capacity(n);
    for d in 0..n {
        let mut o = Vec::new();
        for (choice, _) in search_options(env, d)? {
            o.push((choice, priced_utility(env, d, choice, prices)?));
        }
        o.sort_by(|a, b| b.1.total_cmp(&a.1));
        if o.is_empty() {
            return Err(EnvError::InvalidAction(format!("device {d} has no choice that fits")));
        }
        options.push(o);
    }
    // Bounds of the devices from position k on, with the prices added once.
    let mut rest = vec![prices.compute + prices.band; n + 1];
    for k in (0..n).rev() {
        rest[k] = rest[k + 1] + options[k][0].1;
    }
    let mut search = BranchAndBound {
        env,
        options: &options,
        rest: &rest,
        best: incumbent.utility,
        best_choices: None,
        evaluated: incumbent.evaluated,
        chosen: Vec::with_capacity(n),
    };
    search.descend(0.0)?;
    let evaluated = search.evaluated;
    match search.best_choices {
        Some(choices) => Ok(SlotSolution { evaluated, ..score(env, &choices)? }),
        None => Ok(SlotSolution { evaluated, ..incumbent }),
    }
}

/// The prices of the edge's compute and the band at `actions`' exact allocation.
pub fn slot_prices(env: &MultiDeviceEnv, actions: &[DeviceAction]) -> crate::SharePrices {
    let terms: Vec<crate::OffloadTerms> =
        actions.iter().enumerate().map(|(i, a)| env.offload_terms(i, a)).collect();
    crate::SharePrices {
        compute: crate::compute_price(&terms),
        band: crate::bandwidth_allocation(&terms).1,
    }
}

/// Device `d`'s utility for `choice` when it may buy any compute and band share at `prices`,
/// less what it pays: an upper bound on its part of the Lagrangian, and each device's best
/// response when the resources are priced.
pub fn priced_utility(
    env: &MultiDeviceEnv,
    d: usize,
    choice: (usize, usize),
    prices: crate::SharePrices,
) -> Result<f64, EnvError> {
    let a = DeviceAction::choice(choice.0, choice.1);
    if !env.offloads(&a) {
        return env.device_utility(d, &a, 0.0, 0.0);
    }
    let terms = env.offload_terms(d, &a);
    // Utility = (what does not depend on the shares) − w·(E/c + transfer(β)).
    let fixed = env.device_utility(d, &a, 1.0, 1.0)? + terms.weighted_s(1.0, 1.0);
    Ok(fixed - crate::lagrangian_bound(&terms, prices))
}

/// The depth-first state of [`exhaustive`].
struct BranchAndBound<'a> {
    env: &'a MultiDeviceEnv,
    options: &'a [Vec<Bounded>],
    rest: &'a [f64],
    best: f64,
    best_choices: Option<Vec<(usize, usize)>>,
    evaluated: usize,
    chosen: Vec<(usize, usize)>,
}

impl BranchAndBound<'_> {
    /// Extends `chosen` (whose bounds sum to `bound`) by every option of the next device
    /// that could still beat the best so far; solves complete joint choices exactly.
    fn descend(&mut self, bound: f64) -> Result<(), EnvError> {
        let k = self.chosen.len();
        if k == self.options.len() {
            self.evaluated += 1;
            if self.evaluated > EXHAUSTIVE_LIMIT {
                return Err(EnvError::InvalidAction(format!(
                    "exhaustive search over {} devices needs more than {EXHAUSTIVE_LIMIT} \
                     allocations: use coordinate descent",
                    self.options.len()
                )));
            }
            let s = score(self.env, &self.chosen)?;
            if s.utility > self.best + 1e-12 {
                self.best = s.utility;
                self.best_choices = Some(self.chosen.clone());
            }
            return Ok(());
        }
        for &(choice, value) in &self.options[k] {
            // Options are sorted by bound: once one cannot win, none after it can.
            if bound + value + self.rest[k + 1] <= self.best + 1e-9 {
                break;
            }
            self.chosen.push(choice);
            self.descend(bound + value)?;
            self.chosen.pop();
        }
        Ok(())
    }
}

/// Coordinate descent from `start` (one (version, partition) per device): each device in
/// turn takes its best fitting choice with the others fixed (exact allocation every time),
/// until a full round improves nothing or after `max_rounds` rounds.
pub fn coordinate_descent(
    env: &MultiDeviceEnv,
    start: &[(usize, usize)],
    max_rounds: usize,
) -> Result<SlotSolution, EnvError> {
    let mut choices = start.to_vec();
    let mut best = score(env, &choices)?;
    let mut evaluated = 1;
    let options: Vec<Vec<Bounded>> =
        (0..choices.len()).map(|d| search_options(env, d)).collect::<Result<_, _>>()?;
    for _ in 0..max_rounds {
        let mut improved = false;
        for d in 0..choices.len() {
            for &(option, _) in &options[d] {
                if option == choices[d] {
                    continue;
                }
                let mut trial = choices.clone();
                trial[d] = option;
                let s = score(env, &trial)?;
                evaluated += 1;
                if s.utility > best.utility + 1e-12 {
                    (best, choices, improved) = (s, trial, true);
                }
            }
        }
        if !improved {
            break;
        }
    }
    best.evaluated = evaluated;
    Ok(best)
}

/// [`coordinate_descent`] started from the greedy baseline's choices.
pub fn coordinate_descent_from_greedy(
    env: &MultiDeviceEnv,
    max_rounds: usize,
) -> Result<SlotSolution, EnvError> {
    coordinate_descent(env, &slot_baseline(env, SlotBaseline::Greedy)?.choices(), max_rounds)
}

/// The baselines of seed 001 for one slot, each scored with the environment's utility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotBaseline {
    /// Every device runs locally the fitting version that scores it best (no edge at all; a
    /// device that can hold no whole version sends its input to the edge).
    DeviceOnly,
    /// Every device sends its input to the edge, most accurate version, equal shares.
    EdgeOnlyEqualShares,
    /// Every device sends its input to the edge, most accurate version, exact shares.
    EdgeOnlyExactShares,
    /// Neurosurgeon per device: the most accurate version, each device's best fitting
    /// partition for an equal share of compute and band, then equal shares among those that
    /// offload.
    NeurosurgeonEqualShares,
    /// Each device's best (version, partition) for an equal share, run with equal shares
    /// among those that offload.
    BestSplitEqualShares,
    /// Each device's best (version, partition) for an equal share, then the exact allocation.
    Greedy,
}

impl SlotBaseline {
    /// Every baseline.
    pub const ALL: [SlotBaseline; 6] = [
        SlotBaseline::DeviceOnly,
        SlotBaseline::EdgeOnlyEqualShares,
        SlotBaseline::EdgeOnlyExactShares,
        SlotBaseline::NeurosurgeonEqualShares,
        SlotBaseline::BestSplitEqualShares,
        SlotBaseline::Greedy,
    ];

    /// The trivial baselines the gap to the optimum is measured from: all local, all
    /// offloading with exact shares, each device's best split with equal shares.
    pub const TRIVIAL: [SlotBaseline; 3] = [
        SlotBaseline::DeviceOnly,
        SlotBaseline::EdgeOnlyExactShares,
        SlotBaseline::BestSplitEqualShares,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            SlotBaseline::DeviceOnly => "device-only",
            SlotBaseline::EdgeOnlyEqualShares => "edge-only equal shares",
            SlotBaseline::EdgeOnlyExactShares => "edge-only exact shares",
            SlotBaseline::NeurosurgeonEqualShares => "neurosurgeon equal shares",
            SlotBaseline::BestSplitEqualShares => "best split equal shares",
            SlotBaseline::Greedy => "greedy",
        }
    }
}

/// Equal shares among the devices that offload.
fn equal_shares(choices: &[(usize, usize)]) -> Vec<DeviceAction> {
    choices
        .iter()
        .map(|&(version, partition)| DeviceAction {
            version,
            partition,
            compute_share: 1.0,
            bandwidth_share: 1.0,
        })
        .collect()
}

/// One device's best choice among `options` for shares `share`, by its own utility.
fn best_alone(
    env: &MultiDeviceEnv,
    device: usize,
    options: impl IntoIterator<Item = (usize, usize)>,
    share: f64,
) -> Result<Option<(usize, usize)>, EnvError> {
    let mut best: Option<(f64, (usize, usize))> = None;
    for (version, partition) in options {
        if !env.fits(device, version, partition) {
            continue;
        }
        let a = DeviceAction::choice(version, partition);
        let s = if env.offloads(&a) { share } else { 0.0 };
        let u = env.device_utility(device, &a, s, s)?;
        if best.is_none_or(|b| u > b.0) {
            best = Some((u, (version, partition)));
        }
    }
    Ok(best.map(|b| b.1))
}

/// `baseline`'s decision for the slot and its summed utility.
pub fn slot_baseline(
    env: &MultiDeviceEnv,
    baseline: SlotBaseline,
) -> Result<SlotSolution, EnvError> {
    let n = env.num_devices();
    if n == 0 {
        return Err(EnvError::InvalidAction("no device".into()));
    }
    let local = env.local_partitions();
    let accurate = env.most_accurate_version();
    let equal = 1.0 / n as f64;
    let mut choices = Vec::with_capacity(n);
    for d in 0..n {
        let choice = match baseline {
            SlotBaseline::DeviceOnly => best_alone(env, d, local.iter().copied().enumerate(), 0.0)?,
            SlotBaseline::EdgeOnlyEqualShares | SlotBaseline::EdgeOnlyExactShares => {
                Some((accurate, 0))
            }
            SlotBaseline::NeurosurgeonEqualShares => {
                best_alone(env, d, env.choices().into_iter().filter(|c| c.0 == accurate), equal)?
            }
            SlotBaseline::Greedy | SlotBaseline::BestSplitEqualShares => {
                best_alone(env, d, env.choices(), equal)?
            }
        };
        choices.push(choice.unwrap_or((accurate, 0)));
    }
    let actions = match baseline {
        SlotBaseline::Greedy | SlotBaseline::EdgeOnlyExactShares => env.exact_shares(&choices)?,
        _ => equal_shares(&choices),
    };
    let utility = env.outcomes(&actions)?.iter().map(|o| o.utility).sum();
    Ok(SlotSolution { actions, utility, evaluated: 1 })
}

/// Uniformly random fitting (version, partition) per device with the exact allocation: the
/// floor any learned policy must clear.
pub fn random_slot(env: &MultiDeviceEnv, rng: &mut impl Rng) -> Result<SlotSolution, EnvError> {
    let choices: Vec<(usize, usize)> = (0..env.num_devices())
        .map(|d| {
            let options = env.device_choices(d);
            options.get(rng.random_range(0..options.len().max(1))).copied().unwrap_or((0, 0))
        })
        .collect();
    score(env, &choices)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Radio, TruncatedRayleigh};
    use crate::channel_more::Iid;
    use crate::cost_model::Transport;
    use crate::layers::{Compute, LayerTable};
    use crate::multi_device::{DeviceSpec, ModelVersion};

    fn env(n: usize) -> MultiDeviceEnv {
        let mut env = env_with_edge(n, 2e7, Compute::throughput(5e8, 10.0));
        env.reset(Some(3));
        env
    }

    fn env_with_edge(n: usize, device_macs: f64, edge: Compute) -> MultiDeviceEnv {
        let versions = vec![
            ModelVersion {
                name: "small".into(),
                accuracy: 0.85,
                table: LayerTable::equal_width_mlp(3, 256, 64),
            },
            ModelVersion {
                name: "large".into(),
                accuracy: 0.92,
                table: LayerTable::equal_width_mlp(3, 256, 512),
            },
        ];
        let radio = Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 };
        let devices = (0..n)
            .map(|i| DeviceSpec {
                transport: Transport::ideal(),
                ..DeviceSpec::new(
                    Compute::throughput(device_macs * (1 + i) as f64, 2.0),
                    radio,
                    Box::new(Iid(TruncatedRayleigh::new(0.01, 1e-4).unwrap())),
                    if i % 2 == 0 { 0.7 } else { 0.3 },
                    0.05,
                )
            })
            .collect();
        MultiDeviceEnv::new(versions, devices, edge, vec![0.01; n], 1, 3)
    }

    #[test]
    fn exhaustive_is_the_optimum_and_coordinate_descent_reaches_or_nears_it() {
        let env = env(3);
        let opt = exhaustive(&env).unwrap();
        // Branch and bound finds what brute force over every joint choice finds.
        let all = env.choices();
        let mut brute = f64::NEG_INFINITY;
        for &a in &all {
            for &b in &all {
                for &c in &all {
                    brute = brute.max(score(&env, &[a, b, c]).unwrap().utility);
                }
            }
        }
        assert!((brute - opt.utility).abs() < 1e-9, "{brute} vs {}", opt.utility);
        assert!(opt.evaluated < all.len().pow(3), "{} allocations", opt.evaluated);
        // The scenario is not trivial: the optimum offloads some devices and keeps others.
        let offloading = opt.actions.iter().filter(|a| a.partition < 3).count();
        assert!((1..3).contains(&offloading), "{:?}", opt.actions);
        // No joint choice with equal shares, nor any single-device change, beats it.
        for &c in &env.choices() {
            let equal: Vec<DeviceAction> = (0..3)
                .map(|_| DeviceAction {
                    version: c.0,
                    partition: c.1,
                    compute_share: 1.0 / 3.0,
                    bandwidth_share: 1.0 / 3.0,
                })
                .collect();
            let u: f64 = env.outcomes(&equal).unwrap().iter().map(|o| o.utility).sum();
            assert!(u <= opt.utility + 1e-9, "{c:?}: {u} > {}", opt.utility);
        }
        let local: Vec<(usize, usize)> = vec![(1, 3); 3];
        let cd = coordinate_descent(&env, &local, 20).unwrap();
        assert!(cd.utility <= opt.utility + 1e-12);
        assert!(
            cd.utility >= opt.utility - 0.05 * opt.utility.abs(),
            "{} vs {}",
            cd.utility,
            opt.utility
        );
        assert!(cd.evaluated < all.len().pow(3));
    }

    #[test]
    fn baselines_never_beat_the_optimum_and_device_only_is_it_when_the_edge_is_useless() {
        let env = env(3);
        let opt = exhaustive(&env).unwrap();
        for b in [
            SlotBaseline::DeviceOnly,
            SlotBaseline::EdgeOnlyEqualShares,
            SlotBaseline::NeurosurgeonEqualShares,
            SlotBaseline::Greedy,
        ] {
            let s = slot_baseline(&env, b).unwrap();
            assert!(s.utility <= opt.utility + 1e-12, "{b:?}: {} > {}", s.utility, opt.utility);
            assert_eq!(s.actions.len(), 3);
        }
        let edge_only = slot_baseline(&env, SlotBaseline::EdgeOnlyEqualShares).unwrap();
        assert!(edge_only.actions.iter().all(|a| a.partition == 0 && a.compute_share == 1.0));
        // An edge far slower than the devices: staying local is optimal. (Devices fast enough
        // that no local latency nears the utility's cap of 10 reference latencies, which
        // would make offloading to a useless edge cost no more than staying.)
        let mut slow = env_with_edge(3, 1e9, Compute::throughput(1e2, 10.0));
        slow.reset(Some(3));
        let local = slot_baseline(&slow, SlotBaseline::DeviceOnly).unwrap();
        let opt = exhaustive(&slow).unwrap();
        assert!(
            (local.utility - opt.utility).abs() < 1e-12,
            "{} vs {}: {:?} vs {:?}",
            local.utility,
            opt.utility,
            local.actions,
            opt.actions
        );
    }

    #[test]
    fn exhaustive_scales_past_brute_force_and_refuses_what_it_cannot_do() {
        // 12 devices × 10 choices = 1e12 joint choices: branch and bound still proves the
        // optimum, which coordinate descent cannot beat.
        let big = env(12);
        let opt = exhaustive(&big).unwrap();
        let cd = coordinate_descent(&big, &[(0, 3); 12], 10).unwrap();
        assert!(cd.utility <= opt.utility + 1e-9, "{} > {}", cd.utility, opt.utility);
        assert!(opt.evaluated < EXHAUSTIVE_LIMIT);
        let none = env(0);
        assert!(exhaustive(&none).unwrap_err().to_string().contains("no device"));
        assert!(coordinate_descent(&env(2), &[(9, 9), (0, 0)], 3).is_err());
    }
}
