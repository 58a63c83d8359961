//! Simulation environments with a Gym-like API (`reset` / `step`), seeded and deterministic,
//! over the shared cost model and channels. They are what DRL agents train on.
//!
//! - [`SplitEnv`]: one device, one inference per episode, decided layer by layer under fading
//!   (seed 002's online splitting as an MDP: action 1 = offload now, 0 = compute one more layer).
//! - [`crate::MultiDeviceEnv`] (in `multi_device`): many devices share one edge (seed 001).

use rand::SeedableRng;

use crate::channel::Radio;
use crate::channel_more::ChannelProcess;
use crate::cost_model::{predict, Link, Prediction, Transport, Work};
use crate::environment::{Env, EnvError, Space};
use crate::layers::{Compute, CostWeights, LayerTable};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::FiniteStateChannel;
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
}
