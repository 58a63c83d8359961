//! Seed 001 (MCIA) as an environment: many heterogeneous devices share one edge server; every
//! slot each device picks a model version, a partition point and its weights for the edge's
//! compute and the uplink band.
//!
//! - **Shares.** A policy gives each device non-negative share *weights*; the environment
//!   normalises them over the devices that offload (a local device takes no share, so nothing
//!   a policy leaves unused is wasted). All-zero weights among offloaders mean equal shares.
//! - **Utility** of a device: `ω·A − (1 − ω)·T/T_ref`, `A` the version's measured accuracy,
//!   `T` its end-to-end latency from the one cost model ([`crate::predict`]), `ω ∈ [0, 1)` the
//!   weight of its task kind (near 1: accuracy-sensitive; near 0: latency-sensitive). The
//!   reward of a slot is the sum over devices.
//! - **Masking.** A (version, partition) whose head's parameters (fp32) exceed the device's
//!   memory is invalid ([`MultiDeviceEnv::fits`]); actions with one are refused.
//! - **Dynamics.** Channel gains follow each device's [`ChannelProcess`] (i.i.d. or
//!   Gauss–Markov). Without task arrivals (the default) each slot is one inference per device
//!   and actions do not change the next state: a *contextual bandit*, which the slot oracles
//!   ([`crate::exhaustive`]) solve exactly. With arrivals (Poisson, `arrivals_per_slot > 0`)
//!   each device keeps a backlog of work: a slot's task waits for it, and the backlog grows by
//!   the slot's arrivals times the chosen latency and drains by the slot length — actions
//!   change the next state, the problem is *sequential*, and the slot oracles are myopic.

use rand::SeedableRng;
use rand_distr::Distribution;

use crate::channel::Radio;
use crate::channel_more::ChannelProcess;
use crate::cost_model::{predict, Link, Prediction, Transport, Work};
use crate::env::Step;
use crate::environment::{Env, EnvError, Space};
use crate::layers::{Compute, LayerTable};
use crate::split_point::SplitPoint;

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
    /// `ω` ∈ [0, 1): weight of accuracy (near 1: accuracy-sensitive; 0: latency-sensitive).
    pub accuracy_weight: f64,
    /// Latency (s) that normalises this device's latency term.
    pub latency_ref_s: f64,
    /// RTT, stack time, framing and downlink of its link.
    pub transport: Transport,
    /// Memory for model parameters (bytes, fp32 weights); `f64::INFINITY` = unlimited.
    pub memory_bytes: f64,
    /// Deadline of its tasks (s): a latency above it counts as a miss; `INFINITY` = none.
    pub deadline_s: f64,
    /// Index of its task kind (groups devices in reports).
    pub task_kind: usize,
    /// Mean task arrivals per slot (Poisson); 0 = one inference per slot, no queue.
    pub arrivals_per_slot: f64,
}

impl DeviceSpec {
    /// Its utility `ω·A − (1 − ω)·T/T_ref` for accuracy `accuracy` and latency `latency_s`
    /// (a task with `ω = 1` ignores latency, even an infinite one).
    pub fn utility(&self, accuracy: f64, latency_s: f64) -> f64 {
        let w = self.accuracy_weight;
        let latency_term = if w >= 1.0 { 0.0 } else { (1.0 - w) * latency_s / self.latency_ref_s };
        w * accuracy - latency_term
    }

    /// Time (s) of the first `partition` layers of `table` on this device.
    fn head_s(&self, table: &LayerTable, partition: usize) -> f64 {
        table.layers[..partition].iter().map(|l| self.compute.layer_s(l)).sum()
    }

    /// A device with unlimited memory, no deadline, task kind 0, no queue and ideal transport.
    pub fn new(
        compute: Compute,
        radio: Radio,
        channel: Box<dyn ChannelProcess>,
        accuracy_weight: f64,
        latency_ref_s: f64,
    ) -> DeviceSpec {
        DeviceSpec {
            compute,
            radio,
            channel,
            accuracy_weight,
            latency_ref_s,
            transport: Transport::ideal(),
            memory_bytes: f64::INFINITY,
            deadline_s: f64::INFINITY,
            task_kind: 0,
            arrivals_per_slot: 0.0,
        }
    }
}

/// One device's decision for a slot.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceAction {
    /// Index of the model version.
    pub version: usize,
    /// Partition point: layers run on the device.
    pub partition: usize,
    /// Weight (≥ 0) of its edge-compute share, normalised over the offloading devices.
    pub compute_share: f64,
    /// Weight (≥ 0) of its bandwidth share, normalised likewise.
    pub bandwidth_share: f64,
}

impl DeviceAction {
    /// `(version, partition)` with no share weights (the exact allocation fills them in).
    pub fn choice(version: usize, partition: usize) -> DeviceAction {
        DeviceAction { version, partition, compute_share: 0.0, bandwidth_share: 0.0 }
    }
}

/// What happened to one device in a slot.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DeviceOutcome {
    /// End-to-end latency (s), waiting for the backlog included.
    pub latency_s: f64,
    /// Part of the latency spent waiting for earlier tasks (s; 0 without arrivals).
    pub wait_s: f64,
    /// Device energy (J).
    pub energy_j: f64,
    /// Accuracy of the chosen version.
    pub accuracy: f64,
    /// Utility `ω·A − (1 − ω)·T/T_ref`.
    pub utility: f64,
    /// Whether it sent anything to the edge.
    pub offloads: bool,
    /// Whether its latency exceeded its deadline.
    pub missed_deadline: bool,
    /// Its normalised edge-compute share.
    pub compute_share: f64,
    /// Its normalised bandwidth share.
    pub bandwidth_share: f64,
}

/// What one (version, partition) costs one device at its current gain, before shares: the
/// features a policy scores a choice by.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Candidate {
    /// Accuracy of the version.
    pub accuracy: f64,
    /// Device compute of the head (s).
    pub local_s: f64,
    /// Tail on the whole edge (s; 0 when local).
    pub edge_s: f64,
    /// Bits sent (0 when local).
    pub up_bits: f64,
    /// Uplink rate over the whole band at the current gain (bit/s).
    pub full_rate_bps: f64,
    /// Whether the head's parameters fit the device's memory.
    pub fits: bool,
}

/// Seed 001 (MCIA) as a multi-device environment. Observation per device:
/// `[ω, ln(h/h_mean), ln(device MAC/s / 1e9), backlog / slot]`, concatenated over devices.
pub struct MultiDeviceEnv {
    versions: Vec<ModelVersion>,
    devices: Vec<DeviceSpec>,
    edge: Compute,
    gain_means: Vec<f64>,
    gains: Vec<f64>,
    backlog_s: Vec<f64>,
    slot_s: f64,
    rng: rand_chacha::ChaCha8Rng,
    /// Per-device outcomes of the last step.
    pub outcomes: Vec<DeviceOutcome>,
    slot: usize,
    /// Slots per episode.
    pub horizon: usize,
    started: bool,
}

/// Values per device in an observation.
pub const DEVICE_OBSERVATION_LEN: usize = 4;

impl MultiDeviceEnv {
    /// An environment; `gain_means[i]` normalises device `i`'s gain in observations. Slots
    /// last 1 s (only queues use it: see [`MultiDeviceEnv::with_slot_s`]).
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
            backlog_s: vec![0.0; n],
            slot_s: 1.0,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
            outcomes: Vec::with_capacity(n),
            slot: 0,
            horizon: horizon.max(1),
            started: false,
        }
    }

    /// The same environment with slots of `slot_s` seconds (the time a backlog drains by).
    pub fn with_slot_s(mut self, slot_s: f64) -> MultiDeviceEnv {
        self.slot_s = slot_s;
        self
    }

    /// Observation length: [`DEVICE_OBSERVATION_LEN`] per device.
    pub fn observation_len(&self) -> usize {
        DEVICE_OBSERVATION_LEN * self.devices.len()
    }

    /// Device `i`'s part of the observation.
    pub fn device_observation(&self, i: usize) -> [f32; DEVICE_OBSERVATION_LEN] {
        let d = &self.devices[i];
        [
            d.accuracy_weight as f32,
            (self.gains[i] / self.gain_means[i]).ln() as f32,
            (d.compute.macs_per_s / 1e9).ln() as f32,
            (self.backlog_s[i] / self.slot_s) as f32,
        ]
    }

    fn observe(&self) -> Vec<f32> {
        (0..self.devices.len()).flat_map(|i| self.device_observation(i)).collect()
    }

    fn draw_gains(&mut self) {
        for (g, d) in self.gains.iter_mut().zip(self.devices.iter_mut()) {
            *g = d.channel.next_gain(&mut self.rng);
        }
    }

    /// Starts an episode: fresh gains, empty backlogs.
    pub fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(s) = seed {
            self.rng = rand_chacha::ChaCha8Rng::seed_from_u64(s);
        }
        self.slot = 0;
        self.started = true;
        self.backlog_s.iter_mut().for_each(|b| *b = 0.0);
        self.draw_gains();
        self.observe()
    }

    /// Whether version `version` split at `partition` fits device `device`'s memory (its
    /// head's fp32 parameters). False outside the space.
    pub fn fits(&self, device: usize, version: usize, partition: usize) -> bool {
        let (Some(d), Some(v)) = (self.devices.get(device), self.versions.get(version)) else {
            return false;
        };
        let Some(head) = v.table.layers.get(..partition) else { return false };
        4.0 * head.iter().map(|l| l.params).sum::<f64>() <= d.memory_bytes
    }

    /// Whether an action sends anything (its partition is below its version's layer count).
    pub fn offloads(&self, a: &DeviceAction) -> bool {
        self.versions.get(a.version).is_some_and(|v| a.partition < v.table.layers.len())
    }

    /// Checks one action per device: a version that exists, a partition within its layers
    /// (`0..=N`) whose head fits the device, finite share weights ≥ 0.
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
            if !self.fits(i, a.version, a.partition) {
                return bad(format!(
                    "device {i}: the head of `{}` up to partition {} does not fit its memory \
                     ({} bytes)",
                    v.name, a.partition, self.devices[i].memory_bytes
                ));
            }
            for (what, x) in [("compute", a.compute_share), ("bandwidth", a.bandwidth_share)] {
                if !(x.is_finite() && x >= 0.0) {
                    return bad(format!("device {i}: {what} share {x} is not a finite weight ≥ 0"));
                }
            }
        }
        Ok(())
    }

    /// Each action's normalised (compute, bandwidth) shares: its weights divided by the sums
    /// over the devices that offload (equal shares among them where every weight is 0); 0 for
    /// devices that stay local.
    pub fn normalised_shares(&self, actions: &[DeviceAction]) -> Vec<(f64, f64)> {
        let offloads: Vec<bool> = actions.iter().map(|a| self.offloads(a)).collect();
        let n_off = offloads.iter().filter(|&&o| o).count().max(1) as f64;
        let sum = |f: fn(&DeviceAction) -> f64| -> f64 {
            actions.iter().zip(&offloads).filter(|(_, &o)| o).map(|(a, _)| f(a)).sum()
        };
        let (csum, bsum) = (sum(|a| a.compute_share), sum(|a| a.bandwidth_share));
        let norm = |x: f64, total: f64| if total > 0.0 { x / total } else { 1.0 / n_off };
        actions
            .iter()
            .zip(&offloads)
            .map(|(a, &o)| {
                if o {
                    (norm(a.compute_share, csum), norm(a.bandwidth_share, bsum))
                } else {
                    (0.0, 0.0)
                }
            })
            .collect()
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
        let local = d.head_s(&v.table, p);
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

    /// What one device's choice costs at its current gain before shares (see [`Candidate`]).
    /// Errors for a device or choice outside the space.
    pub fn candidate(
        &self,
        device: usize,
        version: usize,
        partition: usize,
    ) -> Result<Candidate, EnvError> {
        let (Some(d), Some(v)) = (self.devices.get(device), self.versions.get(version)) else {
            return Err(EnvError::InvalidAction(format!(
                "device {device} / version {version} outside the space"
            )));
        };
        let n = v.table.layers.len();
        if partition > n {
            return Err(EnvError::InvalidAction(format!(
                "partition {partition} beyond the {n} layers of `{}`",
                v.name
            )));
        }
        let local_s = d.head_s(&v.table, partition);
        let offloads = partition < n;
        Ok(Candidate {
            accuracy: v.accuracy,
            local_s,
            edge_s: if offloads { v.table.edge_time_after(partition, &self.edge) } else { 0.0 },
            up_bits: if offloads { v.table.offload_bits(partition) } else { 0.0 },
            full_rate_bps: d.radio.rate_bps(self.gains[device]),
            fits: self.fits(device, version, partition),
        })
    }

    /// What `actions` would give each device in the current slot (channel gains, backlogs),
    /// without stepping. Errors for an action outside the space.
    pub fn outcomes(&self, actions: &[DeviceAction]) -> Result<Vec<DeviceOutcome>, EnvError> {
        self.check(actions)?;
        let shares = self.normalised_shares(actions);
        Ok(self
            .devices
            .iter()
            .zip(actions)
            .zip(shares)
            .enumerate()
            .map(|(i, ((d, a), (cshare, bshare)))| {
                let predicted = self.prediction(i, a, self.gains[i], cshare, bshare);
                let wait_s = self.backlog_s[i];
                let t = predicted.total_s + wait_s;
                let acc = self.versions.get(a.version).map_or(0.0, |v| v.accuracy);
                DeviceOutcome {
                    latency_s: t,
                    wait_s,
                    energy_j: predicted.device_j,
                    accuracy: acc,
                    utility: d.utility(acc, t),
                    offloads: self.offloads(a),
                    missed_deadline: t > d.deadline_s,
                    compute_share: cshare,
                    bandwidth_share: bshare,
                }
            })
            .collect())
    }

    /// Every (version, partition) of the version table: for each version, partitions 0 (edge
    /// only) to its layer count (device only).
    pub fn choices(&self) -> Vec<(usize, usize)> {
        self.versions
            .iter()
            .enumerate()
            .flat_map(|(v, m)| (0..=m.table.layers.len()).map(move |p| (v, p)))
            .collect()
    }

    /// The choices of [`MultiDeviceEnv::choices`] that fit device `device`'s memory.
    pub fn device_choices(&self, device: usize) -> Vec<(usize, usize)> {
        self.choices().into_iter().filter(|&(v, p)| self.fits(device, v, p)).collect()
    }

    /// Each version's device-only partition (its layer count).
    pub fn local_partitions(&self) -> Vec<usize> {
        self.versions.iter().map(|v| v.table.layers.len()).collect()
    }

    /// The model versions.
    pub fn versions(&self) -> &[ModelVersion] {
        &self.versions
    }

    /// Device `i`'s specification.
    pub fn device(&self, i: usize) -> Option<&DeviceSpec> {
        self.devices.get(i)
    }

    /// The edge server's compute.
    pub fn edge(&self) -> &Compute {
        &self.edge
    }

    /// Each device's channel gain in the current slot.
    pub fn gains(&self) -> &[f64] {
        &self.gains
    }

    /// Each device's backlog (s of work) at the start of the current slot.
    pub fn backlogs(&self) -> &[f64] {
        &self.backlog_s
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
    /// current gain and backlog. Errors for a device or version outside the space.
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
        let t = self.prediction(device, a, self.gains[device], cshare, bshare).total_s
            + self.backlog_s[device];
        Ok(d.utility(v.accuracy, t))
    }

    /// Devices sharing the edge.
    pub fn num_devices(&self) -> usize {
        self.devices.len()
    }

    /// The exact compute and bandwidth shares for fixed `(version, partition)` choices, one
    /// per device, at the current channel gains: the shares that maximise the slot's summed
    /// utility — see [`crate::optimal_compute_shares`] and [`crate::optimal_bandwidth_shares`].
    /// Errors for a choice outside the space.
    pub fn exact_shares(&self, choices: &[(usize, usize)]) -> Result<Vec<DeviceAction>, EnvError> {
        let actions: Vec<DeviceAction> =
            choices.iter().map(|&(v, p)| DeviceAction::choice(v, p)).collect();
        self.check(&actions)?;
        let terms: Vec<crate::OffloadTerms> =
            actions.iter().enumerate().map(|(i, a)| self.offload_terms(i, a)).collect();
        let compute = crate::optimal_compute_shares(&terms);
        let bandwidth = crate::optimal_bandwidth_shares(&terms);
        Ok(actions
            .into_iter()
            .zip(compute.into_iter().zip(bandwidth))
            .map(|(a, (c, b))| DeviceAction { compute_share: c, bandwidth_share: b, ..a })
            .collect())
    }

    /// What device `i`'s share-dependent latency is made of for action `a` at its current
    /// gain (zero edge time and bits when it stays local). `i` and `a` must be in the space.
    pub fn offload_terms(&self, i: usize, a: &DeviceAction) -> crate::OffloadTerms {
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
    }

    /// Gives every device the transport `f` makes of its own (e.g. a runtime's framing and
    /// measured stack time in place of the scenario's).
    pub fn map_transports(&mut self, f: impl Fn(&Transport) -> Transport) {
        for d in &mut self.devices {
            d.transport = f(&d.transport);
        }
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

    /// One action per device as a deployment [`Plan`](crate::Plan): device `i` is
    /// `device_ids[i]` running version `name` of `model`, split at its partition, with its
    /// normalised compute share as its scheduling weight and its normalised bandwidth share.
    /// The plan's uplink capacity in bit/s is left to the operator (0 = unlimited): this
    /// environment shares a band in Hz, whose rate depends on each device's channel.
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
            .zip(self.normalised_shares(actions))
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

    /// Applies one action per device; the reward is the sum of utilities. With arrivals, each
    /// backlog then grows by the slot's arrivals times the device's latency and drains by the
    /// slot length. Errors before a reset, after the horizon, and for an action outside the
    /// space (see [`Env`]).
    pub fn step(&mut self, actions: &[DeviceAction]) -> Result<Step, EnvError> {
        if !self.started {
            return Err(EnvError::NotReset);
        }
        if self.slot >= self.horizon {
            return Err(EnvError::Finished);
        }
        self.outcomes = self.outcomes(actions)?;
        let reward = self.outcomes.iter().map(|o| o.utility).sum();
        for (i, d) in self.devices.iter().enumerate() {
            if d.arrivals_per_slot > 0.0 {
                let arrivals = rand_distr::Poisson::new(d.arrivals_per_slot)
                    .map_or(0.0, |p| p.sample(&mut self.rng));
                let service = self.outcomes[i].latency_s - self.outcomes[i].wait_s;
                self.backlog_s[i] = (self.backlog_s[i] + arrivals * service - self.slot_s).max(0.0);
            }
        }
        self.slot += 1;
        self.draw_gains();
        Ok(Step { observation: self.observe(), reward, done: self.slot >= self.horizon })
    }
}

/// One [`DeviceAction`] per device.
impl Env for MultiDeviceEnv {
    type Action = [DeviceAction];

    fn observation_space(&self) -> Space {
        Space::reals(self.observation_len())
    }

    /// Per device: version, partition (up to the largest version's layer count) and the two
    /// share weights (normalised over the offloading devices).
    fn action_space(&self) -> Space {
        let layers = self.versions.iter().map(|v| v.table.layers.len()).max().unwrap_or(0);
        let one = Space::Tuple(vec![
            Space::Discrete(self.versions.len()),
            Space::Discrete(layers + 1),
            Space::Box { low: vec![0.0; 2], high: vec![f64::INFINITY; 2] },
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
    use crate::channel::TruncatedRayleigh;
    use crate::channel_more::Iid;

    fn radio() -> Radio {
        Radio { bandwidth_hz: 1e6, tx_power_w: 0.2, noise_w_per_hz: 1e-9 }
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
                    transport: Transport::ideal(),
                    ..DeviceSpec::new(
                        Compute::throughput(1e8 * (1 + i) as f64, 2.0),
                        radio(),
                        Box::new(Iid(TruncatedRayleigh::new(0.01, 1e-4).unwrap())),
                        if i % 2 == 0 { 0.8 } else { 0.2 },
                        0.05,
                    )
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
                transport: Transport::ideal(),
                ..DeviceSpec::new(
                    Compute::throughput(1e8, 2.0),
                    radio(),
                    Box::new(Iid(TruncatedRayleigh::new(0.01, 1e-4).unwrap())),
                    [0.2, 0.5, 0.8, 0.5][i],
                    0.05,
                )
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

    fn two_device_env(arrivals: f64) -> MultiDeviceEnv {
        let versions = vec![ModelVersion {
            name: "v".into(),
            accuracy: 0.9,
            table: LayerTable::equal_width_mlp(4, 256, 256),
        }];
        let devices = (0..2)
            .map(|_| DeviceSpec {
                arrivals_per_slot: arrivals,
                ..DeviceSpec::new(
                    Compute::throughput(1e8, 2.0),
                    radio(),
                    Box::new(Iid(TruncatedRayleigh::new(0.01, 1e-4).unwrap())),
                    0.5,
                    0.05,
                )
            })
            .collect();
        MultiDeviceEnv::new(versions, devices, Compute::throughput(1e9, 10.0), vec![0.01; 2], 50, 1)
            .with_slot_s(0.001)
    }

    #[test]
    fn share_weights_are_normalised_over_the_devices_that_offload() {
        let mut env = two_device_env(0.0);
        env.reset(Some(2));
        let local =
            DeviceAction { version: 0, partition: 4, compute_share: 5.0, bandwidth_share: 5.0 };
        let off =
            DeviceAction { version: 0, partition: 1, compute_share: 0.1, bandwidth_share: 0.0 };
        // The local device's weights do not dilute the offloading one: it gets everything.
        assert_eq!(env.normalised_shares(&[local, off]), vec![(0.0, 0.0), (1.0, 1.0)]);
        let o = env.outcomes(&[local, off]).unwrap();
        assert!(!o[0].offloads && o[1].offloads && o[1].latency_s.is_finite());
        // Two offloaders: weights 3:1 and 0:0 (equal).
        let a = DeviceAction { compute_share: 3.0, ..off };
        let b = DeviceAction { compute_share: 1.0, ..off };
        assert_eq!(env.normalised_shares(&[a, b]), vec![(0.75, 0.5), (0.25, 0.5)]);
    }

    #[test]
    fn arrivals_make_the_problem_sequential_and_none_keep_it_a_bandit() {
        // Local inference takes 2.6 ms on a 1 ms slot: with 1 arrival per slot the backlog
        // builds up and later slots wait; without arrivals nothing carries over.
        let local = DeviceAction::choice(0, 4);
        for (arrivals, grows) in [(0.0, false), (1.0, true)] {
            let mut env = two_device_env(arrivals);
            env.reset(Some(4));
            let first = env.step(&[local, local]).unwrap().reward;
            let mut last = first;
            for _ in 0..20 {
                last = env.step(&[local, local]).unwrap().reward;
            }
            assert_eq!(env.backlogs().iter().any(|&b| b > 0.0), grows, "arrivals {arrivals}");
            assert_eq!(last < first - 1e-9, grows, "{last} vs {first}");
            assert_eq!(env.device_observation(0)[3] > 0.0, grows);
            assert_eq!(env.outcomes[0].wait_s > 0.0, grows);
        }
    }
}
