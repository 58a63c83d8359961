//! Seed 001's oracles for one slot of a [`MultiDeviceEnv`]: every device's (version,
//! partition) searched with the exact compute and bandwidth allocation
//! ([`MultiDeviceEnv::exact_shares`]) — exhaustively (the true optimum of the slot, for a few
//! devices) or by coordinate descent (one device at a time, any number of devices).

use crate::env::{DeviceAction, MultiDeviceEnv};
use crate::environment::EnvError;

/// A slot's decision and what it scores.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SlotSolution {
    /// One action per device, shares exact for the choices.
    pub actions: Vec<DeviceAction>,
    /// Summed utility of the slot.
    pub utility: f64,
    /// Joint choices whose allocation was solved and scored.
    pub evaluated: usize,
}

/// Largest joint choice count [`exhaustive`] enumerates.
pub const EXHAUSTIVE_LIMIT: f64 = 2e6;

/// The summed utility of `choices` with the exact allocation.
fn score(env: &MultiDeviceEnv, choices: &[(usize, usize)]) -> Result<SlotSolution, EnvError> {
    let actions = env.exact_shares(choices)?;
    let utility = env.outcomes(&actions)?.iter().map(|o| o.utility).sum();
    Ok(SlotSolution { actions, utility, evaluated: 1 })
}

/// The slot's optimum: every joint (version, partition) choice with its exact allocation.
/// Refused above [`EXHAUSTIVE_LIMIT`] joint choices (options^devices) and for no device.
pub fn exhaustive(env: &MultiDeviceEnv) -> Result<SlotSolution, EnvError> {
    let options = env.choices();
    let n = env.num_devices();
    let joint = (options.len() as f64).powi(n as i32);
    if n == 0 || options.is_empty() {
        return Err(EnvError::InvalidAction("no device or no choice to search".into()));
    }
    if joint > EXHAUSTIVE_LIMIT {
        return Err(EnvError::InvalidAction(format!(
            "{} choices for {n} devices = {joint:.0} joint choices, above the exhaustive \
             limit {EXHAUSTIVE_LIMIT:.0}: use coordinate descent",
            options.len()
        )));
    }
    let mut index = vec![0usize; n];
    let mut best: Option<SlotSolution> = None;
    let mut evaluated = 0;
    loop {
        let choices: Vec<(usize, usize)> = index.iter().map(|&k| options[k]).collect();
        let s = score(env, &choices)?;
        evaluated += 1;
        if best.as_ref().is_none_or(|b| s.utility > b.utility) {
            best = Some(s);
        }
        // Next joint choice (an odometer over the devices).
        let mut d = 0;
        while d < n {
            index[d] += 1;
            if index[d] < options.len() {
                break;
            }
            index[d] = 0;
            d += 1;
        }
        if d == n {
            break;
        }
    }
    let mut best = best.ok_or_else(|| EnvError::InvalidAction("nothing to search".into()))?;
    best.evaluated = evaluated;
    Ok(best)
}

/// Coordinate descent from `start` (one (version, partition) per device): each device in
/// turn takes its best choice with the others fixed (exact allocation every time), until a
/// full round improves nothing or after `max_rounds` rounds.
pub fn coordinate_descent(
    env: &MultiDeviceEnv,
    start: &[(usize, usize)],
    max_rounds: usize,
) -> Result<SlotSolution, EnvError> {
    let options = env.choices();
    let mut choices = start.to_vec();
    let mut best = score(env, &choices)?;
    let mut evaluated = 1;
    for _ in 0..max_rounds {
        let mut improved = false;
        for d in 0..choices.len() {
            for &option in &options {
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

/// The baselines of seed 001 for one slot, each scored with the environment's utility.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SlotBaseline {
    /// Every device runs locally the version that scores it best (no edge at all).
    DeviceOnly,
    /// Every device sends its input to the edge, most accurate version, equal shares.
    EdgeOnlyEqualShares,
    /// Neurosurgeon per device: the most accurate version, each device's best partition for an
    /// equal share of compute and band, then equal shares among those that offload.
    NeurosurgeonEqualShares,
    /// Each device's best (version, partition) for an equal share, then the exact allocation.
    Greedy,
}

/// Equal shares among the devices that offload (those whose partition is below their
/// version's layer count); 0 for the rest.
fn equal_shares(env: &MultiDeviceEnv, choices: &[(usize, usize)]) -> Vec<DeviceAction> {
    let local = env.local_partitions();
    choices
        .iter()
        .map(|&(version, partition)| {
            let offloads = local.get(version).is_some_and(|&n| partition < n);
            let share = if offloads { 1.0 } else { 0.0 };
            DeviceAction { version, partition, compute_share: share, bandwidth_share: share }
        })
        .collect()
}

/// One device's best choice among `options` for shares `c`, `b`, by its own utility.
fn best_alone(
    env: &MultiDeviceEnv,
    device: usize,
    options: &[(usize, usize)],
    share: f64,
) -> Result<(usize, usize), EnvError> {
    let mut best = (f64::NEG_INFINITY, options.first().copied().unwrap_or((0, 0)));
    for &(version, partition) in options {
        let a = DeviceAction { version, partition, compute_share: share, bandwidth_share: share };
        let u = env.device_utility(device, &a, share, share)?;
        if u > best.0 {
            best = (u, (version, partition));
        }
    }
    Ok(best.1)
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
    let choices: Vec<(usize, usize)> = match baseline {
        SlotBaseline::DeviceOnly => {
            let options: Vec<(usize, usize)> = local.iter().copied().enumerate().collect();
            (0..n).map(|d| best_alone(env, d, &options, 0.0)).collect::<Result<_, _>>()?
        }
        SlotBaseline::EdgeOnlyEqualShares => vec![(accurate, 0); n],
        SlotBaseline::NeurosurgeonEqualShares => {
            let options: Vec<(usize, usize)> =
                env.choices().into_iter().filter(|c| c.0 == accurate).collect();
            (0..n).map(|d| best_alone(env, d, &options, equal)).collect::<Result<_, _>>()?
        }
        SlotBaseline::Greedy => {
            let options = env.choices();
            (0..n).map(|d| best_alone(env, d, &options, equal)).collect::<Result<_, _>>()?
        }
    };
    let actions = match baseline {
        SlotBaseline::Greedy => env.exact_shares(&choices)?,
        _ => equal_shares(env, &choices),
    };
    let utility = env.outcomes(&actions)?.iter().map(|o| o.utility).sum();
    Ok(SlotSolution { actions, utility, evaluated: 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{Radio, TruncatedRayleigh};
    use crate::channel_more::Iid;
    use crate::cost_model::Transport;
    use crate::env::{DeviceSpec, ModelVersion};
    use crate::layers::{Compute, LayerTable};

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
                compute: Compute::throughput(device_macs * (1 + i) as f64, 2.0),
                radio,
                channel: Box::new(Iid(TruncatedRayleigh::new(0.01, 1e-4).unwrap())),
                accuracy_weight: if i % 2 == 0 { 0.7 } else { 0.3 },
                latency_ref_s: 0.05,
                transport: Transport::ideal(),
            })
            .collect();
        MultiDeviceEnv::new(versions, devices, edge, vec![0.01; n], 1, 3)
    }

    #[test]
    fn exhaustive_is_the_optimum_and_coordinate_descent_reaches_or_nears_it() {
        let env = env(3);
        let opt = exhaustive(&env).unwrap();
        assert_eq!(opt.evaluated, env.choices().len().pow(3));
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
        assert!(cd.evaluated < opt.evaluated);
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
    fn too_many_devices_for_exhaustive_search_is_a_clear_error() {
        let e = exhaustive(&env(12)).unwrap_err().to_string();
        assert!(e.contains("coordinate descent"), "{e}");
        assert!(coordinate_descent(&env(12), &[(0, 3); 12], 3).is_ok());
        assert!(coordinate_descent(&env(2), &[(9, 9), (0, 0)], 3).is_err());
    }
}
