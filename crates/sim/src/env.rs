//! Simulation environments with a Gym-like API (`reset` / `step`), seeded and deterministic,
//! over the shared cost model and channels. They are what DRL agents train on.
//!
//! - [`SplitEnv`]: one device, one inference per episode, decided layer by layer under fading
//!   (seed 002's online splitting as an MDP: action 1 = offload now, 0 = compute one more layer).
//! - [`MultiDeviceEnv`]: many heterogeneous devices share one edge server; every slot each device
//!   picks a model version, a partition point, an edge-compute share and a bandwidth share
//!   (seed 001, MCIA). Reward: Σ_i ω_i·accuracy_i − (1 − ω_i)·latency_i / latency_ref_i.

use rand::SeedableRng;

use crate::channel::Radio;
use crate::channel_more::ChannelProcess;
use crate::cost_model::{predict, Link, Prediction, Transport, Work};
use crate::environment::{Env, EnvError, Space};
use crate::layers::{Compute, CostWeights, LayerTable};
use crate::split_point::SplitPoint;

/// The result of one step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Observation after the step.
    pub observation: Vec<f32>,
    /// Reward of the step.
    pub reward: f64,
    /// Whether the episode ended.
    pub done: bool,
}

/// What a [`SplitEnv`] simulates.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitSetup {
    /// The DNN.
    pub table: LayerTable,
    /// Device compute.
    pub device: Compute,
    /// Edge compute.
    pub edge: Compute,
    /// Uplink radio.
    pub radio: Radio,
    /// Cost weights.
    pub weights: CostWeights,
    /// Mean channel gain (normalises observations).
    pub mean_gain: f64,
    /// RTT, stack time, framing and downlink around the fading uplink (the papers' model,
    /// payload only, by default).
    #[serde(default)]
    pub transport: Transport,
}

/// Seed 002 as an MDP. Observation: `[n / N, ln(h / mean_h), ln(Φ_n(h) / ψ_mean)]`.
pub struct SplitEnv {
    table: LayerTable,
    device: Compute,
    edge: Compute,
    radio: Radio,
    weights: CostWeights,
    transport: Transport,
    channel: Box<dyn ChannelProcess>,
    mean_gain: f64,
    rng: rand_chacha::ChaCha8Rng,
    stage: usize,
    gain: f64,
    psi_mean: f64,
    /// `None` before the first reset; `Some(true)` once the episode ended.
    finished: Option<bool>,
}

impl SplitEnv {
    /// An environment for `setup`, with gains from `channel`.
    pub fn new(setup: SplitSetup, channel: Box<dyn ChannelProcess>, seed: u64) -> SplitEnv {
        let SplitSetup { table, device, edge, radio, weights, mean_gain, transport } = setup;
        let n = table.layers.len().max(1) as f64;
        let psi_mean = (1..=table.layers.len())
            .map(|i| {
                let (t, e) = table.device_cost(i, &device);
                weights.cost(t, e)
            })
            .sum::<f64>()
            / n;
        SplitEnv {
            table,
            device,
            edge,
            radio,
            weights,
            transport,
            channel,
            mean_gain,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            stage: 0,
            gain: mean_gain,
            psi_mean: psi_mean.max(1e-30),
            finished: None,
        }
    }

    /// Length of the observation vector.
    pub const OBSERVATION_LEN: usize = 3;

    /// The cost model's prediction for what remains when offloading after `n` layers at
    /// gain `h`: the link and the edge (the device's layers are already paid).
    pub fn offload_prediction(&self, n: usize, h: f64) -> Prediction {
        let link = Link {
            up_bps: self.radio.rate_bps(h),
            tx_power_w: self.radio.tx_power_w,
            transport: self.transport.clone(),
        };
        let bytes = self.table.offload_bits(n) / 8.0;
        let edge_s = self.table.edge_time_after(n, &self.edge);
        predict(&Work::split(0.0, self.device.power_w, bytes, edge_s), &link)
    }

    /// `Φ_n(h)`: the weighted cost of [`SplitEnv::offload_prediction`].
    pub fn offload_cost(&self, n: usize, h: f64) -> f64 {
        self.offload_prediction(n, h).weighted(&self.weights)
    }

    fn observe(&self) -> Vec<f32> {
        let n = self.table.layers.len().max(1) as f64;
        let phi = if self.stage < self.table.layers.len() {
            self.offload_cost(self.stage, self.gain)
        } else {
            0.0
        };
        vec![
            (self.stage as f64 / n) as f32,
            (self.gain / self.mean_gain).ln() as f32,
            (phi.max(1e-30) / self.psi_mean).ln() as f32,
        ]
    }

    /// The channel gain the device observes now.
    pub fn gain(&self) -> f64 {
        self.gain
    }

    /// Layers computed so far.
    pub fn stage(&self) -> usize {
        self.stage
    }

    /// Starts an inference (optionally reseeding the environment's generator).
    pub fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(s) = seed {
            self.rng = rand_chacha::ChaCha8Rng::seed_from_u64(s);
        }
        self.stage = 0;
        self.finished = Some(false);
        self.gain = self.channel.next_gain(&mut self.rng);
        self.observe()
    }

    /// `offload = true`: send now (episode ends, reward −Φ_n(h)); `false`: compute the next
    /// layer (reward −ψ_{n+1}; the episode ends when the last layer completes locally).
    /// Errors before a reset and after the episode ended.
    pub fn step(&mut self, offload: bool) -> Result<Step, EnvError> {
        match self.finished {
            None => return Err(EnvError::NotReset),
            Some(true) => return Err(EnvError::Finished),
            Some(false) => {}
        }
        let n_layers = self.table.layers.len();
        if offload {
            let cost = self.offload_cost(self.stage, self.gain);
            self.finished = Some(true);
            return Ok(Step { observation: self.observe(), reward: -cost, done: true });
        }
        let (t, e) = self.table.device_cost(self.stage + 1, &self.device);
        let cost = self.weights.cost(t, e);
        self.stage += 1;
        self.gain = self.channel.next_gain(&mut self.rng);
        let done = self.stage == n_layers;
        self.finished = Some(done);
        Ok(Step { observation: self.observe(), reward: -cost, done })
    }
}

/// Action 1 = offload now, 0 = compute one more layer.
impl Env for SplitEnv {
    type Action = usize;

    fn observation_space(&self) -> Space {
        let mut low = vec![0.0];
        let mut high = vec![1.0];
        low.extend([f64::NEG_INFINITY; 2]);
        high.extend([f64::INFINITY; 2]);
        Space::Box { low, high }
    }

    fn action_space(&self) -> Space {
        Space::Discrete(2)
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        SplitEnv::reset(self, seed)
    }

    fn step(&mut self, action: &usize) -> Result<Step, EnvError> {
        match action {
            0 | 1 => SplitEnv::step(self, *action == 1),
            a => Err(EnvError::InvalidAction(format!("action {a}: 0 = compute, 1 = offload"))),
        }
    }
}

/// One version of a model (seed 001: the cloud trains versions at several compression scales).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelVersion {
    /// Name (e.g. `width-0.5`).
    pub name: String,
    /// Top-1 accuracy in `[0, 1]`.
    pub accuracy: f64,
    /// Its layers (partition point `p` = after `p` layers; 0 = full offload, `N` = local).
    pub table: LayerTable,
}

/// One device of a multi-device environment.
pub struct DeviceSpec {
    /// Compute of the device.
    pub compute: Compute,
    /// Its uplink radio (the bandwidth is the *total* shared `W`; the device gets a share).
    pub radio: Radio,
    /// Its channel.
    pub channel: Box<dyn ChannelProcess>,
    /// `ω` ∈ [0, 1]: weight of accuracy (1 = accuracy-sensitive task, 0 = latency-sensitive).
    pub accuracy_weight: f64,
    /// Latency (s) that normalises this device's latency term.
    pub latency_ref_s: f64,
    /// RTT, stack time, framing and downlink of its link.
    pub transport: Transport,
}

/// One device's decision for a slot.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceAction {
    /// Index of the model version.
    pub version: usize,
    /// Partition point: layers run on the device.
    pub partition: usize,
    /// Share of the edge compute in `[0, 1]` (shares are renormalised if they sum above 1).
    pub compute_share: f64,
    /// Share of the bandwidth in `[0, 1]` (renormalised likewise).
    pub bandwidth_share: f64,
}

/// What happened to one device in a slot.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DeviceOutcome {
    /// End-to-end latency (s); infinite if it offloads with a zero share.
    pub latency_s: f64,
    /// Device energy (J).
    pub energy_j: f64,
    /// Accuracy of the chosen version.
    pub accuracy: f64,
    /// Utility `ω·A − (1 − ω)·T/T_ref`.
    pub utility: f64,
}

/// Seed 001 (MCIA) as a multi-device environment. Observation per device:
/// `[ω, ln(h/h_mean), ln(device MAC/s / 1e9)]`, concatenated over devices.
pub struct MultiDeviceEnv {
    versions: Vec<ModelVersion>,
    devices: Vec<DeviceSpec>,
    edge: Compute,
    gain_means: Vec<f64>,
    gains: Vec<f64>,
    rng: rand_chacha::ChaCha8Rng,
    /// Per-device outcomes of the last step.
    pub outcomes: Vec<DeviceOutcome>,
    slot: usize,
    /// Slots per episode.
    pub horizon: usize,
    started: bool,
}

impl MultiDeviceEnv {
    /// An environment; `gain_means[i]` normalises device `i`'s gain in observations.
    pub fn new(
        versions: Vec<ModelVersion>,
        devices: Vec<DeviceSpec>,
        edge: Compute,
        gain_means: Vec<f64>,
        horizon: usize,
        seed: u64,
    ) -> MultiDeviceEnv {
        let n = devices.len();
        MultiDeviceEnv {
            versions,
            devices,
            edge,
            gains: gain_means.clone(),
            gain_means,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            outcomes: Vec::with_capacity(n),
            slot: 0,
            horizon: horizon.max(1),
            started: false,
        }
    }

    /// Observation length: 3 per device.
    pub fn observation_len(&self) -> usize {
        3 * self.devices.len()
    }

    fn observe(&self) -> Vec<f32> {
        let mut obs = Vec::with_capacity(self.observation_len());
        for (i, d) in self.devices.iter().enumerate() {
            obs.push(d.accuracy_weight as f32);
            obs.push((self.gains[i] / self.gain_means[i]).ln() as f32);
            obs.push((d.compute.macs_per_s / 1e9).ln() as f32);
        }
        obs
    }

    fn draw_gains(&mut self) {
        for (g, d) in self.gains.iter_mut().zip(self.devices.iter_mut()) {
            *g = d.channel.next_gain(&mut self.rng);
        }
    }

    /// Starts an episode.
    pub fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(s) = seed {
            self.rng = rand_chacha::ChaCha8Rng::seed_from_u64(s);
        }
        self.slot = 0;
        self.started = true;
        self.draw_gains();
        self.observe()
    }

    /// Checks one action per device: a version that exists, a partition within its layers
    /// (`0..=N`), finite shares in `[0, 1]`.
    fn check(&self, actions: &[DeviceAction]) -> Result<(), EnvError> {
        let bad = |m: String| Err(EnvError::InvalidAction(m));
        if actions.len() != self.devices.len() {
            return bad(format!("{} actions for {} devices", actions.len(), self.devices.len()));
        }
        for (i, a) in actions.iter().enumerate() {
            let Some(v) = self.versions.get(a.version) else {
                return bad(format!(
                    "device {i}: version {} of {}",
                    a.version,
                    self.versions.len()
                ));
            };
            if a.partition > v.table.layers.len() {
                return bad(format!(
                    "device {i}: partition {} beyond the {} layers of `{}`",
                    a.partition,
                    v.table.layers.len(),
                    v.name
                ));
            }
            for (what, x) in [("compute", a.compute_share), ("bandwidth", a.bandwidth_share)] {
                if !(0.0..=1.0).contains(&x) {
                    return bad(format!("device {i}: {what} share {x} outside [0, 1]"));
                }
            }
        }
        Ok(())
    }

    /// The cost model's prediction for one device's action at gain `h` with normalised
    /// shares: its layers on the device, the feature over its share of the bandwidth, the rest
    /// on its share of the edge. Infinite latency if it offloads with a zero share.
    pub fn prediction(
        &self,
        device: usize,
        a: &DeviceAction,
        h: f64,
        cshare: f64,
        bshare: f64,
    ) -> Prediction {
        let infeasible = Prediction { total_s: f64::INFINITY, ..Prediction::default() };
        let (Some(d), Some(v)) = (self.devices.get(device), self.versions.get(a.version)) else {
            return infeasible;
        };
        let n = v.table.layers.len();
        let p = a.partition.min(n);
        let local: f64 = v.table.layers[..p].iter().map(|l| d.compute.layer_s(l)).sum();
        let work = if p == n {
            Work::local(local, d.compute.power_w)
        } else {
            let edge_s = v.table.edge_time_after(p, &self.edge.share(cshare));
            Work::split(local, d.compute.power_w, v.table.offload_bits(p) / 8.0, edge_s)
        };
        let up_bps = if bshare > 0.0 {
            Radio { bandwidth_hz: bshare * d.radio.bandwidth_hz, ..d.radio }.rate_bps(h)
        } else {
            0.0
        };
        let link = Link { up_bps, tx_power_w: d.radio.tx_power_w, transport: d.transport.clone() };
        predict(&work, &link)
    }

    /// What `actions` would give each device in the current slot (channel gains), without
    /// stepping: latency, energy, accuracy and utility. Errors for an action outside the space.
    pub fn outcomes(&self, actions: &[DeviceAction]) -> Result<Vec<DeviceOutcome>, EnvError> {
        self.check(actions)?;
        let shares = normalised_shares(actions);
        Ok(self
            .devices
            .iter()
            .zip(actions)
            .zip(shares)
            .enumerate()
            .map(|(i, ((d, a), (cshare, bshare)))| {
                let predicted = self.prediction(i, a, self.gains[i], cshare, bshare);
                let t = predicted.total_s;
                let acc = self.versions.get(a.version).map_or(0.0, |v| v.accuracy);
                DeviceOutcome {
                    latency_s: t,
                    energy_j: predicted.device_j,
                    accuracy: acc,
                    utility: utility(d, acc, t),
                }
            })
            .collect())
    }

    /// Every (version, partition) a device may choose: for each version, partitions 0 (edge
    /// only) to its layer count (device only).
    pub fn choices(&self) -> Vec<(usize, usize)> {
        self.versions
            .iter()
            .enumerate()
            .flat_map(|(v, m)| (0..=m.table.layers.len()).map(move |p| (v, p)))
            .collect()
    }

    /// Each version's device-only partition (its layer count).
    pub fn local_partitions(&self) -> Vec<usize> {
        self.versions.iter().map(|v| v.table.layers.len()).collect()
    }

    /// Index of the most accurate version (the first of equals; 0 without versions).
    pub fn most_accurate_version(&self) -> usize {
        (0..self.versions.len())
            .max_by(|&a, &b| {
                self.versions[a].accuracy.total_cmp(&self.versions[b].accuracy).then(b.cmp(&a))
            })
            .unwrap_or(0)
    }

    /// One device's utility for action `a` with normalised shares `cshare`, `bshare` at its
    /// current gain. Errors for a device or version outside the space.
    pub fn device_utility(
        &self,
        device: usize,
        a: &DeviceAction,
        cshare: f64,
        bshare: f64,
    ) -> Result<f64, EnvError> {
        let (Some(d), Some(v)) = (self.devices.get(device), self.versions.get(a.version)) else {
            return Err(EnvError::InvalidAction(format!(
                "device {device} / version {} outside the space",
                a.version
            )));
        };
        let t = self.prediction(device, a, self.gains[device], cshare, bshare).total_s;
        Ok(utility(d, v.accuracy, t))
    }

    /// Devices sharing the edge.
    pub fn num_devices(&self) -> usize {
        self.devices.len()
    }

    /// The exact compute and bandwidth shares for fixed `(version, partition)` choices, one
    /// per device, at the current channel gains: the shares that maximise the slot's summed
    /// utility (uncapped latency term) — see [`crate::optimal_compute_shares`] and
    /// [`crate::optimal_bandwidth_shares`]. Errors for a choice outside the space.
    pub fn exact_shares(&self, choices: &[(usize, usize)]) -> Result<Vec<DeviceAction>, EnvError> {
        let actions: Vec<DeviceAction> = choices
            .iter()
            .map(|&(version, partition)| DeviceAction {
                version,
                partition,
                compute_share: 1.0,
                bandwidth_share: 1.0,
            })
            .collect();
        self.check(&actions)?;
        let terms: Vec<crate::OffloadTerms> = actions
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let d = &self.devices[i];
                let p = self.prediction(i, a, self.gains[i], 1.0, 1.0);
                let shared_down = if d.transport.down_bps > 0.0 { 0.0 } else { p.wire_down_bytes };
                let offloads = p.wire_up_bytes > 0.0;
                crate::OffloadTerms {
                    weight: (1.0 - d.accuracy_weight) / d.latency_ref_s,
                    edge_s: if offloads { p.edge_s } else { 0.0 },
                    bits: if offloads { 8.0 * (p.wire_up_bytes + shared_down) } else { 0.0 },
                    bandwidth_hz: d.radio.bandwidth_hz,
                    snr: d.radio.tx_power_w * self.gains[i]
                        / (d.radio.noise_w_per_hz * d.radio.bandwidth_hz),
                }
            })
            .collect();
        let compute = crate::optimal_compute_shares(&terms);
        let bandwidth = crate::optimal_bandwidth_shares(&terms);
        Ok(actions
            .into_iter()
            .zip(compute.into_iter().zip(bandwidth))
            .map(|(a, (c, b))| DeviceAction { compute_share: c, bandwidth_share: b, ..a })
            .collect())
    }

    /// End-to-end latency (s) of [`MultiDeviceEnv::prediction`].
    pub fn latency_s(
        &self,
        device: usize,
        a: &DeviceAction,
        h: f64,
        cshare: f64,
        bshare: f64,
    ) -> f64 {
        self.prediction(device, a, h, cshare, bshare).total_s
    }

    /// One action per device as a deployment [`Plan`](crate::Plan): device `i` is `device_ids[i]` running
    /// version `name` of `model`, split at its partition, with its normalised compute share
    /// as its scheduling weight and its normalised bandwidth share. The plan's uplink
    /// capacity in bit/s is left to the operator (0 = unlimited): this environment shares a
    /// band in Hz, whose rate depends on each device's channel.
    pub fn plan(
        &self,
        actions: &[DeviceAction],
        model: &str,
        device_ids: &[String],
    ) -> Result<crate::plan::Plan, EnvError> {
        self.check(actions)?;
        if device_ids.len() != actions.len() {
            return Err(EnvError::InvalidAction(format!(
                "{} device ids for {} actions",
                device_ids.len(),
                actions.len()
            )));
        }
        let devices = actions
            .iter()
            .zip(normalised_shares(actions))
            .zip(device_ids)
            .map(|((a, (cshare, bshare)), id)| {
                let v = &self.versions[a.version];
                let n_cuts = v.table.layers.len().saturating_sub(1);
                let split = SplitPoint::from_partition(a.partition, n_cuts)
                    .map_err(|e| EnvError::InvalidAction(e.to_string()))?
                    .to_choice("");
                let mut d = crate::plan::DevicePlan::new(id.clone(), model, split);
                d.version = v.name.clone();
                // A scheduling weight must be > 0: a device with no share gets the least.
                d.compute_share = cshare.max(1e-9);
                d.bandwidth_share = bshare;
                Ok(d)
            })
            .collect::<Result<Vec<_>, EnvError>>()?;
        let plan = crate::plan::Plan {
            note: format!("MultiDeviceEnv slot {}", self.slot),
            uplink_capacity_bps: 0.0,
            devices,
        };
        plan.validate().map_err(|e| EnvError::InvalidAction(e.to_string()))?;
        Ok(plan)
    }

    /// Applies one action per device; the reward is the sum of utilities. Errors before a
    /// reset, after the horizon, and for an action outside the space (see [`Env`]).
    pub fn step(&mut self, actions: &[DeviceAction]) -> Result<Step, EnvError> {
        if !self.started {
            return Err(EnvError::NotReset);
        }
        if self.slot >= self.horizon {
            return Err(EnvError::Finished);
        }
        self.outcomes = self.outcomes(actions)?;
        let reward = self.outcomes.iter().map(|o| o.utility).sum();
        self.slot += 1;
        self.draw_gains();
        Ok(Step { observation: self.observe(), reward, done: self.slot >= self.horizon })
    }
}

/// A device's utility `ω·A − (1 − ω)·T/T_ref` for accuracy `accuracy` and latency
/// `latency_s`; an infeasible action (zero share while offloading) costs the latency term's
/// cap of 10.
fn utility(d: &DeviceSpec, accuracy: f64, latency_s: f64) -> f64 {
    let w = d.accuracy_weight;
    w * accuracy - (1.0 - w) * (latency_s / d.latency_ref_s).min(10.0)
}

/// Each action's compute and bandwidth shares, divided by their sums where a sum exceeds 1
/// (the shares of checked actions: finite, in `[0, 1]`).
fn normalised_shares(actions: &[DeviceAction]) -> Vec<(f64, f64)> {
    let csum: f64 = actions.iter().map(|a| a.compute_share).sum::<f64>().max(1.0);
    let bsum: f64 = actions.iter().map(|a| a.bandwidth_share).sum::<f64>().max(1.0);
    actions.iter().map(|a| (a.compute_share / csum, a.bandwidth_share / bsum)).collect()
}

/// One [`DeviceAction`] per device.
impl Env for MultiDeviceEnv {
    type Action = [DeviceAction];

    fn observation_space(&self) -> Space {
        Space::reals(self.observation_len())
    }

    /// Per device: version, partition (up to the largest version's layer count) and the two
    /// shares.
    fn action_space(&self) -> Space {
        let layers = self.versions.iter().map(|v| v.table.layers.len()).max().unwrap_or(0);
        let one = Space::Tuple(vec![
            Space::Discrete(self.versions.len()),
            Space::Discrete(layers + 1),
            Space::Box { low: vec![0.0; 2], high: vec![1.0; 2] },
        ]);
        Space::Tuple(vec![one; self.devices.len()])
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        MultiDeviceEnv::reset(self, seed)
    }

    fn step(&mut self, actions: &[DeviceAction]) -> Result<Step, EnvError> {
        MultiDeviceEnv::step(self, actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{FiniteStateChannel, TruncatedRayleigh};
    use crate::channel_more::Iid;

    fn radio() -> Radio {
        Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 }
    }

    #[test]
    fn split_env_rewards_are_the_cost_model() {
        let table = LayerTable::equal_width_mlp(4, 64, 64);
        let dev = Compute::throughput(1e7, 1.0);
        let edge = Compute::throughput(1e11, 100.0);
        let ch = FiniteStateChannel::new(vec![(0.01, 1.0)]).unwrap();
        let setup = SplitSetup {
            table: table.clone(),
            device: dev,
            edge,
            radio: radio(),
            weights: CostWeights { time: 1.0, energy: 0.5 },
            mean_gain: 0.01,
            transport: Transport::ideal(),
        };
        let mut env = SplitEnv::new(setup, Box::new(Iid(ch)), 3);
        let obs = env.reset(Some(1));
        assert_eq!(obs.len(), SplitEnv::OBSERVATION_LEN);
        // Compute two layers, then offload.
        let s1 = env.step(false).expect("steps");
        let s2 = env.step(false).expect("steps");
        let s3 = env.step(true).expect("steps");
        let (t, e) = table.device_cost(1, &dev);
        assert!((s1.reward + (t + 0.5 * e)).abs() < 1e-15);
        assert!(!s1.done && !s2.done && s3.done);
        assert!((s3.reward + env.offload_cost(2, 0.01)).abs() < 1e-15);
        // Computing everything ends the episode at the last layer.
        env.reset(None);
        let dones: Vec<bool> = (0..4).map(|_| env.step(false).expect("steps").done).collect();
        assert_eq!(dones, vec![false, false, false, true]);
    }

    #[test]
    fn multi_device_env_is_deterministic_and_shares_resources() {
        let make = |seed| {
            let versions = vec![
                ModelVersion {
                    name: "small".into(),
                    accuracy: 0.85,
                    table: LayerTable::equal_width_mlp(4, 256, 64),
                },
                ModelVersion {
                    name: "large".into(),
                    accuracy: 0.92,
                    table: LayerTable::equal_width_mlp(4, 256, 512),
                },
            ];
            let devices = (0..8)
                .map(|i| DeviceSpec {
                    compute: Compute::throughput(1e8 * (1 + i) as f64, 2.0),
                    radio: radio(),
                    channel: Box::new(Iid(TruncatedRayleigh::new(0.01, 1e-4).unwrap())),
                    accuracy_weight: if i % 2 == 0 { 0.8 } else { 0.2 },
                    latency_ref_s: 0.05,
                    transport: Transport::ideal(),
                })
                .collect();
            MultiDeviceEnv::new(
                versions,
                devices,
                Compute::throughput(1e11, 70.0),
                vec![0.01; 8],
                5,
                seed,
            )
        };
        let actions: Vec<DeviceAction> = (0..8)
            .map(|i| DeviceAction {
                version: i % 2,
                partition: 1,
                compute_share: 0.125,
                bandwidth_share: 0.125,
            })
            .collect();
        let (mut a, mut b) = (make(7), make(7));
        assert_eq!(a.reset(None), b.reset(None));
        let mut steps = 0;
        loop {
            let (sa, sb) = (a.step(&actions).expect("a"), b.step(&actions).expect("b"));
            assert_eq!(sa, sb);
            steps += 1;
            if sa.done {
                break;
            }
        }
        assert_eq!(steps, 5);
        // More bandwidth for device 0 lowers its latency; shares over 1 are renormalised.
        a.reset(Some(3));
        let h = a.gains[0];
        let act = actions[0];
        assert!(a.latency_s(0, &act, h, 0.5, 0.5) < a.latency_s(0, &act, h, 0.5, 0.1));
        let mut greedy = actions.clone();
        greedy.iter_mut().for_each(|x| x.bandwidth_share = 1.0);
        a.step(&greedy).expect("steps");
        let even = a.outcomes.clone();
        assert!(even.iter().all(|o| o.latency_s.is_finite() && o.latency_s > 0.0));
        // The action as a plan: one device entry each, shares normalised, splits converted.
        let ids: Vec<String> = (0..8).map(|i| format!("cam-{i}")).collect();
        let plan = a.plan(&greedy, "mlp", &ids).expect("plan");
        assert_eq!(plan.devices.len(), 8);
        assert!((plan.devices[0].bandwidth_share - 0.125).abs() < 1e-12);
        assert_eq!(plan.devices[1].version, "large");
        assert!(matches!(plan.devices[0].split, crate::SplitChoice::Cut { index: 0, .. }));
        assert!(a.plan(&greedy, "mlp", &ids[..2]).is_err());
        // Fully local needs no share at all.
        let local =
            DeviceAction { version: 0, partition: 4, compute_share: 0.0, bandwidth_share: 0.0 };
        assert!(a.latency_s(0, &local, h, 0.0, 0.0).is_finite());
    }

    #[test]
    fn exact_shares_beat_a_grid_of_shares_in_the_environment() {
        let versions = vec![ModelVersion {
            name: "v".into(),
            accuracy: 0.9,
            table: LayerTable::equal_width_mlp(4, 256, 256),
        }];
        // Three offloading devices with different weights and channels on a contended edge
        // CPU and band, and one that stays local.
        let devices: Vec<DeviceSpec> = (0..4)
            .map(|i| DeviceSpec {
                compute: Compute::throughput(1e8, 2.0),
                radio: radio(),
                channel: Box::new(Iid(TruncatedRayleigh::new(0.01, 1e-4).unwrap())),
                accuracy_weight: [0.2, 0.5, 0.8, 0.5][i],
                latency_ref_s: 0.05,
                transport: Transport::ideal(),
            })
            .collect();
        let gains = vec![0.02, 0.002, 0.01, 0.01];
        let mut env =
            MultiDeviceEnv::new(versions, devices, Compute::throughput(2e8, 10.0), gains, 1, 1);
        env.reset(Some(1));
        let choices = [(0, 1), (0, 2), (0, 0), (0, 4)];
        let exact = env.exact_shares(&choices).unwrap();
        assert_eq!((exact[3].compute_share, exact[3].bandwidth_share), (0.0, 0.0), "local");
        // Summed latency term (what the shares change) for given shares.
        let cost = |c: &[f64], b: &[f64]| -> f64 {
            (0..3)
                .map(|i| {
                    let a = DeviceAction { compute_share: c[i], bandwidth_share: b[i], ..exact[i] };
                    let d = &env.devices[i];
                    let t = env.prediction(i, &a, env.gains[i], c[i], b[i]).total_s;
                    (1.0 - d.accuracy_weight) * t / d.latency_ref_s
                })
                .sum()
        };
        let ec: Vec<f64> = exact.iter().map(|a| a.compute_share).collect();
        let eb: Vec<f64> = exact.iter().map(|a| a.bandwidth_share).collect();
        let best = cost(&ec, &eb);
        let n = 100;
        for i in 1..n {
            for j in 1..n - i {
                let g = [i as f64 / n as f64, j as f64 / n as f64, (n - i - j) as f64 / n as f64];
                assert!(cost(&g, &eb) >= best - 1e-12, "compute grid {g:?}");
                assert!(cost(&ec, &g) >= best - 1e-12, "bandwidth grid {g:?}");
            }
        }
        // A choice outside the space is an error, not a panic.
        assert!(env.exact_shares(&[(5, 1), (0, 1), (0, 1), (0, 1)]).is_err());
    }
}
