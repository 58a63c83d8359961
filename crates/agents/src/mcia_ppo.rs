//! Seed 001's learned decision: PPO with one parameter-shared per-device actor that scores
//! each (version, partition) from its [features](crate::ChoiceTable), invalid and dominated
//! choices masked, the compute and band shares solved exactly for the sampled choices
//! ([`MultiDeviceEnv::exact_shares`]), and a centralised critic (each device's summary with
//! the slot's pooled offload pressure) as the baseline. The same weights serve 1 to 64+
//! devices.
//!
//! Credit: a device's reward is its *difference reward*, the slot's utility less what it
//! would be had that device run its best local choice instead (the others' choices fixed) —
//! aligned with the slot's utility (the subtracted term does not depend on the device's
//! choice) and far less noisy than the slot's sum when many devices share it. Slots are
//! treated as a contextual bandit (γ = 0): exact without arrivals, myopic with them.
//!
//! At decision time the policy's most likely joint choice, `top_k − 1` samples and every
//! device's best local choice are each solved exactly and the best is kept; then each device
//! in turn tries its `refine` next most likely choices with the others fixed.

use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{linear, AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use coinfer_sim::{score, DeviceAction, MultiDeviceEnv, SlotSolution};
use rand::{Rng, SeedableRng};

use crate::error::{AgentError, Result};
use crate::mcia_features::{ChoiceTable, SlotFeatures, CHOICE_FEATURES, DEVICE_FEATURES, MASKED};
use crate::nets::seeded_init;

/// The agent's settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MciaPpoConfig {
    /// Units in each of the two hidden layers of actor and critic.
    pub hidden: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// PPO's clip ε.
    pub clip: f64,
    /// Passes over each batch.
    pub epochs: usize,
    /// Slots collected per update.
    pub slots_per_update: usize,
    /// Weight of the policy's entropy in the loss.
    pub entropy: f64,
    /// Joint choices solved exactly at decision time (the most likely one and samples).
    pub top_k: usize,
    /// At decision time, after the top-K: for each device in turn, its this-many next most
    /// likely choices are tried with the others fixed (exact shares each), keeping gains.
    #[serde(default = "default_refine")]
    pub refine: usize,
    /// At decision time, after the top-K: rounds of price-guided refinement — each device
    /// moves to its best choice (among those the actor scored) at the current allocation's
    /// compute and band prices, and the joint move is kept if its exact allocation gains.
    /// One exact allocation per round, where `refine` costs one per device.
    #[serde(default)]
    pub price_rounds: usize,
    /// How the edge's compute and band are shared: solved exactly for the chosen
    /// (version, partition)s, or learned (hybrid action: Gaussian share logits per device).
    #[serde(default)]
    pub shares: ShareMode,
    /// Seed of weights and sampling.
    pub seed: u64,
}

/// Overrides of an agent's decision-time search ([`MciaPpo::set_decision`]); `None` keeps the
/// agent's own setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecisionSettings {
    /// Joint choices solved exactly ([`MciaPpoConfig::top_k`], ≥ 1).
    pub top_k: Option<usize>,
    /// Alternatives tried per device after them ([`MciaPpoConfig::refine`]).
    pub refine: Option<usize>,
    /// Rounds of price-guided refinement ([`MciaPpoConfig::price_rounds`]).
    pub price_rounds: Option<usize>,
}

/// Who decides the compute and band shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShareMode {
    /// The exact allocation for the chosen (version, partition)s.
    #[default]
    Exact,
    /// A hybrid action as MCIA and MAHPPO learn it: each device's actor also outputs two
    /// Gaussian share logits (compute, band), `exp` of which are its share weights.
    Learned,
}

/// Inputs of the share head: the chosen choice's features and the device's.
const SHARE_INPUT: usize = CHOICE_FEATURES + DEVICE_FEATURES;

fn default_refine() -> usize {
    1
}

impl Default for MciaPpoConfig {
    fn default() -> Self {
        MciaPpoConfig {
            hidden: 64,
            lr: 1e-3,
            clip: 0.2,
            epochs: 4,
            slots_per_update: 64,
            entropy: 0.01,
            top_k: 8,
            refine: default_refine(),
            price_rounds: 0,
            shares: ShareMode::Exact,
            seed: 1,
        }
    }
}

impl MciaPpoConfig {
    /// Checks every field is in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(AgentError::Config(m.into()));
        if self.hidden == 0 || self.epochs == 0 || self.slots_per_update == 0 || self.top_k == 0 {
            return bad("hidden, epochs, slots_per_update and top_k must be ≥ 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr must be a finite number > 0");
        }
        if !(self.clip.is_finite() && self.clip > 0.0 && self.clip < 1.0) {
            return bad("clip must lie in (0, 1)");
        }
        if !(self.entropy.is_finite() && self.entropy >= 0.0) {
            return bad("entropy must be a finite number ≥ 0");
        }
        Ok(())
    }
}

/// Which version table an agent was trained for: each version's name and layer count (its
/// choices are the rows the actor scores).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionShape(pub Vec<(String, usize)>);

impl VersionShape {
    /// The shape of `env`'s version table.
    pub fn of(env: &MultiDeviceEnv) -> VersionShape {
        VersionShape(
            env.versions().iter().map(|v| (v.name.clone(), v.table.layers.len())).collect(),
        )
    }
}

/// A two-hidden-layer ReLU network.
struct Mlp {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Mlp {
    fn new(vb: VarBuilder, input: usize, hidden: usize, output: usize) -> Result<Mlp> {
        Ok(Mlp {
            l1: linear(input, hidden, vb.pp("l1"))?,
            l2: linear(hidden, hidden, vb.pp("l2"))?,
            l3: linear(hidden, output, vb.pp("l3"))?,
        })
    }

    /// `[rows, input]` → `[rows, output]`.
    fn forward_all(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.l2.forward(&self.l1.forward(x)?.relu()?)?.relu()?;
        Ok(self.l3.forward(&h)?)
    }

    /// `[rows, input]` → `[rows]` (a scalar head).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_all(x)?.squeeze(1)?)
    }
}

/// One training update's numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainLog {
    /// Slots seen so far.
    pub slots: usize,
    /// Mean slot utility of the sampled (exploring) choices in this update's batch.
    pub mean_utility: f64,
    /// Mean entropy of the device policies (nats).
    pub entropy: f64,
    /// Devices (of the batch) that offloaded, as a fraction.
    pub offload_fraction: f64,
    /// Seconds since this training run started.
    pub seconds: f64,
}

/// The data of one device in one slot.
struct Sample {
    rows: Vec<f32>,
    mask: Vec<f32>,
    device: Vec<f32>,
    chosen: u32,
    logp: f32,
    reward: f32,
    /// Learned shares only: the share head's input, the sampled logits, whether it offloads.
    share_input: Vec<f32>,
    share_logits: [f32; 2],
    offloads: f32,
}

/// The agent: actor, critic, optimiser and the version table it was trained for.
pub struct MciaPpo {
    config: MciaPpoConfig,
    shape: VersionShape,
    vars: VarMap,
    actor: Mlp,
    critic: Mlp,
    share_head: Mlp,
    share_log_std: Tensor,
    opt: AdamW,
    rng: rand_chacha::ChaCha8Rng,
    slots: usize,
}

/// A standard normal sample (Box–Muller) from the agent's seeded generator.
fn gaussian(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(f32::MIN_POSITIVE);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// File names of a saved agent: weights and a JSON header.
fn header_path(path: &std::path::Path) -> std::path::PathBuf {
    path.with_extension("json")
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    kind: String,
    config: MciaPpoConfig,
    shape: VersionShape,
    slots: usize,
}

const KIND: &str = "coinfer mcia-ppo v1";

impl MciaPpo {
    /// A fresh agent for environments with version table `shape`.
    pub fn new(config: MciaPpoConfig, shape: VersionShape) -> Result<MciaPpo> {
        config.validate()?;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu);
        let actor = Mlp::new(vb.pp("actor"), CHOICE_FEATURES, config.hidden, 1)?;
        let critic = Mlp::new(vb.pp("critic"), DEVICE_FEATURES, config.hidden, 1)?;
        let share_head = Mlp::new(vb.pp("shares"), SHARE_INPUT, config.hidden, 2)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        seeded_init(&vars, &mut rng)?;
        // The share logits' log σ (a vector, so seeded_init left it at 0: σ = 1).
        let share_log_std =
            vars.get(2, "shares.log_std", candle_nn::Init::Const(0.0), DType::F32, &Device::Cpu)?;
        let params = ParamsAdamW { lr: config.lr, weight_decay: 0.0, ..ParamsAdamW::default() };
        let opt = AdamW::new(vars.all_vars(), params)?;
        Ok(MciaPpo {
            config,
            shape,
            vars,
            actor,
            critic,
            share_head,
            share_log_std,
            opt,
            rng,
            slots: 0,
        })
    }

    /// Its settings.
    pub fn config(&self) -> &MciaPpoConfig {
        &self.config
    }

    /// Overrides how [`MciaPpo::decide`] searches; `None` keeps the agent's own setting.
    pub fn set_decision(&mut self, d: &DecisionSettings) {
        if let Some(k) = d.top_k {
            self.config.top_k = k.max(1);
        }
        if let Some(r) = d.refine {
            self.config.refine = r;
        }
        if let Some(r) = d.price_rounds {
            self.config.price_rounds = r;
        }
    }

    /// Slots it has trained on.
    pub fn slots_trained(&self) -> usize {
        self.slots
    }

    /// Refuses an environment whose version table differs from the agent's.
    pub fn check(&self, env: &MultiDeviceEnv) -> Result<()> {
        let got = VersionShape::of(env);
        if got != self.shape {
            return Err(AgentError::Space(format!(
                "the agent was trained for versions {:?} but the scenario has {:?}",
                self.shape.0, got.0
            )));
        }
        Ok(())
    }

    /// Log-probabilities `[devices, choices]` of the slot `f` (masked choices ≈ −1e9).
    fn log_probs(&self, f: &SlotFeatures, devices: usize, choices: usize) -> Result<Vec<f32>> {
        // Only the valid rows go through the actor (most are masked at many devices).
        let valid: Vec<usize> = (0..devices * choices).filter(|&i| f.mask[i] == 0.0).collect();
        let mut rows = Vec::with_capacity(valid.len() * CHOICE_FEATURES);
        for &i in &valid {
            rows.extend_from_slice(&f.rows[i * CHOICE_FEATURES..(i + 1) * CHOICE_FEATURES]);
        }
        let mut logits = vec![MASKED; devices * choices];
        if !valid.is_empty() {
            let x = Tensor::from_vec(rows, (valid.len(), CHOICE_FEATURES), &Device::Cpu)?;
            let scores: Vec<f32> = self.actor.forward(&x)?.to_vec1()?;
            for (&i, s) in valid.iter().zip(scores) {
                logits[i] = s;
            }
        }
        // Log-softmax per device.
        for row in logits.chunks_mut(choices) {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f32 = row.iter().map(|&l| (l - max).exp()).sum();
            let log_sum = max + sum.ln();
            row.iter_mut().for_each(|l| *l -= log_sum);
        }
        Ok(logits)
    }

    /// One choice per device drawn from `logp` (`greedy`: the most likely).
    fn draw(&mut self, logp: &[f32], choices: usize, greedy: bool) -> Vec<usize> {
        logp.chunks(choices)
            .map(|row| {
                if greedy {
                    return (0..row.len())
                        .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
                        .unwrap_or(0);
                }
                let u: f32 = self.rng.random();
                let mut acc = 0.0;
                for (j, &lp) in row.iter().enumerate() {
                    acc += lp.exp();
                    if u < acc {
                        return j;
                    }
                }
                (0..row.len()).rev().find(|&j| row[j] > -1e8).unwrap_or(0)
            })
            .collect()
    }

    /// The share head's inputs `[devices, SHARE_INPUT]` for choices `pick` and its means
    /// `[devices, 2]`.
    fn share_means(
        &self,
        f: &SlotFeatures,
        pick: &[usize],
        k: usize,
    ) -> Result<(Vec<f32>, Vec<f32>)> {
        let n = pick.len();
        let mut input = Vec::with_capacity(n * SHARE_INPUT);
        for (d, &j) in pick.iter().enumerate() {
            let at = (d * k + j) * CHOICE_FEATURES;
            input.extend_from_slice(&f.rows[at..at + CHOICE_FEATURES]);
            input.extend_from_slice(&f.devices[d * DEVICE_FEATURES..(d + 1) * DEVICE_FEATURES]);
        }
        let x = Tensor::from_slice(&input, (n, SHARE_INPUT), &Device::Cpu)?;
        let means = self.share_head.forward_all(&x)?.flatten_all()?.to_vec1()?;
        Ok((input, means))
    }

    /// Actions for `choices` with share logits `logits` (`[devices, 2]`): weights `exp`.
    fn learned_actions(choices: &[(usize, usize)], logits: &[f32]) -> Vec<DeviceAction> {
        choices
            .iter()
            .zip(logits.chunks(2))
            .map(|(&(version, partition), z)| DeviceAction {
                version,
                partition,
                compute_share: (z[0].clamp(-20.0, 20.0) as f64).exp(),
                bandwidth_share: (z[1].clamp(-20.0, 20.0) as f64).exp(),
            })
            .collect()
    }

    /// `choices` as a joint decision: with the exact shares, or (learned shares) with share
    /// weights `exp(logits)` (`[devices, 2]`).
    fn joint(
        &self,
        env: &MultiDeviceEnv,
        choices: &[(usize, usize)],
        logits: &[f32],
    ) -> Result<SlotSolution> {
        match self.config.shares {
            ShareMode::Exact => Ok(score(env, choices)?),
            ShareMode::Learned => {
                let actions = Self::learned_actions(choices, logits);
                let utility = env.outcomes(&actions)?.iter().map(|o| o.utility).sum();
                Ok(SlotSolution { actions, utility, evaluated: 1 })
            }
        }
    }

    /// `pick`'s joint decision: exact shares, or the share head's mean logits.
    fn solve(
        &self,
        env: &MultiDeviceEnv,
        table: &ChoiceTable,
        f: &SlotFeatures,
        pick: &[usize],
    ) -> Result<SlotSolution> {
        let choices: Vec<(usize, usize)> = pick.iter().map(|&j| table.choices[j]).collect();
        let means = match self.config.shares {
            ShareMode::Exact => Vec::new(),
            ShareMode::Learned => self.share_means(f, pick, table.choices.len())?.1,
        };
        self.joint(env, &choices, &means)
    }

    /// The policy alone on `env`'s current slot: every (device, choice)'s log-probability,
    /// device-major (`−∞`-like for masked choices) — the features and one forward pass, what
    /// a decision costs before any exact allocation.
    pub fn log_probabilities(&self, env: &MultiDeviceEnv, table: &ChoiceTable) -> Result<Vec<f32>> {
        let f = table.features(env);
        self.log_probs(&f, env.num_devices(), table.choices.len())
    }

    /// The agent's decision for `env`'s current slot: the best, after exact allocation, of the
    /// most likely joint choice, `top_k − 1` samples and all-best-local.
    pub fn decide(&mut self, env: &MultiDeviceEnv, table: &ChoiceTable) -> Result<SlotSolution> {
        let n = env.num_devices();
        if table.num_devices() != n {
            return Err(AgentError::Space(format!(
                "a choice table of {} devices for {n}",
                table.num_devices()
            )));
        }
        let k = table.choices.len();
        let f = table.features(env);
        let logp = self.log_probs(&f, n, k)?;
        let mut tried: Vec<Vec<usize>> = vec![f.fallback.clone()];
        for i in 0..self.config.top_k {
            let pick = self.draw(&logp, k, i == 0);
            if !tried.contains(&pick) {
                tried.push(pick);
            }
        }
        let mut best: Option<SlotSolution> = None;
        let mut evaluated = 0;
        let mut best_pick = f.fallback.clone();
        for pick in tried {
            let s = self.solve(env, table, &f, &pick)?;
            evaluated += 1;
            if best.as_ref().is_none_or(|b| s.utility > b.utility) {
                best = Some(s);
                best_pick = pick;
            }
        }
        let mut best = best.ok_or_else(|| AgentError::Space("nothing to decide".into()))?;
        for _ in 0..self.config.price_rounds {
            let prices = coinfer_sim::slot_prices(env, &best.actions);
            let mut trial = best_pick.clone();
            for (d, slot) in trial.iter_mut().enumerate() {
                let row = &logp[d * k..(d + 1) * k];
                let mut top = (*slot, f64::NEG_INFINITY);
                for j in (0..k).filter(|&j| row[j] > -1e8) {
                    let u = coinfer_sim::priced_utility(env, d, table.choices[j], prices)?;
                    if u > top.1 {
                        top = (j, u);
                    }
                }
                *slot = top.0;
            }
            if trial == best_pick {
                break;
            }
            let s = self.solve(env, table, &f, &trial)?;
            evaluated += 1;
            if s.utility <= best.utility {
                break;
            }
            (best, best_pick) = (s, trial);
        }
        if self.config.refine > 0 {
            let mut current = best_pick;
            for d in 0..n {
                let row = &logp[d * k..(d + 1) * k];
                let mut order: Vec<usize> = (0..k).filter(|&j| row[j] > -1e8).collect();
                order.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                let here = current[d];
                for j in order.into_iter().filter(|&j| j != here).take(self.config.refine) {
                    let mut trial = current.clone();
                    trial[d] = j;
                    let s = self.solve(env, table, &f, &trial)?;
                    evaluated += 1;
                    if s.utility > best.utility {
                        (best, current) = (s, trial);
                    }
                }
            }
        }
        Ok(SlotSolution { evaluated, ..best })
    }

    /// Trains on `envs` in turn (each reset once, stepped slot by slot, reset at the end of
    /// its episodes) for `slots` slots in all; `progress` gets each update's log.
    pub fn train(
        &mut self,
        envs: &mut [MultiDeviceEnv],
        slots: usize,
        mut progress: impl FnMut(&TrainLog),
    ) -> Result<Vec<TrainLog>> {
        if envs.is_empty() {
            return Err(AgentError::Space("no environment to train on".into()));
        }
        let mut tables = Vec::with_capacity(envs.len());
        for env in envs.iter_mut() {
            self.check(env)?;
            env.reset(Some(self.rng.random()));
            tables.push(ChoiceTable::new(env)?);
        }
        let mut logs = Vec::new();
        let start = std::time::Instant::now();
        let mut done = 0;
        let mut which = 0;
        while done < slots {
            let env = &mut envs[which % envs.len()];
            let table = &tables[which % tables.len()];
            which += 1;
            let batch = self.config.slots_per_update.min(slots - done);
            let (samples, mean_utility, offload_fraction) = self.collect(env, table, batch)?;
            done += batch;
            self.slots += batch;
            let entropy = self.update(&samples, table.choices.len())?;
            let seconds = start.elapsed().as_secs_f64();
            let log =
                TrainLog { slots: self.slots, mean_utility, entropy, offload_fraction, seconds };
            progress(&log);
            logs.push(log);
        }
        Ok(logs)
    }

    /// Plays `slots` slots of `env` with sampled choices and exact shares.
    fn collect(
        &mut self,
        env: &mut MultiDeviceEnv,
        table: &ChoiceTable,
        slots: usize,
    ) -> Result<(Vec<Sample>, f64, f64)> {
        let n = env.num_devices();
        let k = table.choices.len();
        let mut samples = Vec::with_capacity(slots * n);
        let (mut utility, mut offloading) = (0.0, 0usize);
        for _ in 0..slots {
            let f = table.features(env);
            let logp = self.log_probs(&f, n, k)?;
            let pick = self.draw(&logp, k, false);
            let choices: Vec<(usize, usize)> = pick.iter().map(|&j| table.choices[j]).collect();
            // Learned shares: logits sampled around the share head's means.
            let (share_input, logits, share_logp) = match self.config.shares {
                ShareMode::Exact => (vec![0.0; n * SHARE_INPUT], vec![0.0; 2 * n], vec![0.0; n]),
                ShareMode::Learned => {
                    let (input, means) = self.share_means(&f, &pick, k)?;
                    let std: Vec<f32> =
                        self.share_log_std.to_vec1::<f32>()?.iter().map(|l| l.exp()).collect();
                    let mut z = Vec::with_capacity(2 * n);
                    let mut lp = vec![0.0f32; n];
                    for (i, &m) in means.iter().enumerate() {
                        let e = gaussian(&mut self.rng);
                        z.push(m + std[i % 2] * e);
                        lp[i / 2] +=
                            -0.5 * e * e - std[i % 2].ln() - 0.5 * (std::f32::consts::TAU).ln();
                    }
                    (input, z, lp)
                }
            };
            let joint = self.joint(env, &choices, &logits)?;
            let joint_utility = joint.utility;
            utility += joint_utility;
            for d in 0..n {
                let reward = if pick[d] == f.fallback[d] {
                    0.0
                } else {
                    let mut alt = choices.clone();
                    alt[d] = table.choices[f.fallback[d]];
                    joint_utility - self.joint(env, &alt, &logits)?.utility
                };
                let offloads = env.offloads(&joint.actions[d]);
                offloading += usize::from(offloads);
                let learned = self.config.shares == ShareMode::Learned && offloads;
                samples.push(Sample {
                    rows: f.rows[d * k * CHOICE_FEATURES..(d + 1) * k * CHOICE_FEATURES].to_vec(),
                    mask: f.mask[d * k..(d + 1) * k].to_vec(),
                    device: f.devices[d * DEVICE_FEATURES..(d + 1) * DEVICE_FEATURES].to_vec(),
                    chosen: pick[d] as u32,
                    logp: logp[d * k + pick[d]] + if learned { share_logp[d] } else { 0.0 },
                    reward: reward as f32,
                    share_input: share_input[d * SHARE_INPUT..(d + 1) * SHARE_INPUT].to_vec(),
                    share_logits: [logits[2 * d], logits[2 * d + 1]],
                    offloads: if learned { 1.0 } else { 0.0 },
                });
            }
            let step = env.step(&joint.actions)?;
            if step.done {
                env.reset(None);
            }
        }
        let per = slots.max(1) as f64;
        Ok((samples, utility / per, offloading as f64 / (per * n.max(1) as f64)))
    }

    /// PPO's clipped update on one batch; returns the mean entropy before it.
    fn update(&mut self, samples: &[Sample], choices: usize) -> Result<f64> {
        let m = samples.len();
        if m == 0 {
            return Ok(0.0);
        }
        let dev = Device::Cpu;
        let cat = |f: fn(&Sample) -> &Vec<f32>| -> Vec<f32> {
            samples.iter().flat_map(|s| f(s).iter().copied()).collect()
        };
        let x = Tensor::from_vec(cat(|s| &s.rows), (m * choices, CHOICE_FEATURES), &dev)?;
        let mask = Tensor::from_vec(cat(|s| &s.mask), (m, choices), &dev)?;
        let dfeat = Tensor::from_vec(cat(|s| &s.device), (m, DEVICE_FEATURES), &dev)?;
        let chosen =
            Tensor::from_vec(samples.iter().map(|s| s.chosen).collect::<Vec<u32>>(), (m, 1), &dev)?;
        let old = Tensor::from_vec(samples.iter().map(|s| s.logp).collect::<Vec<f32>>(), m, &dev)?;
        let rewards: Vec<f32> = samples.iter().map(|s| s.reward).collect();
        let returns = Tensor::from_slice(&rewards, m, &dev)?;
        // Advantages against the critic, normalised over the batch.
        let values: Vec<f32> = self.critic.forward(&dfeat)?.to_vec1()?;
        let adv: Vec<f32> = rewards.iter().zip(&values).map(|(r, v)| r - v).collect();
        let mean = adv.iter().sum::<f32>() / m as f32;
        let std = (adv.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / m as f32).sqrt();
        let adv: Vec<f32> = adv.iter().map(|a| (a - mean) / (std + 1e-6)).collect();
        let adv = Tensor::from_vec(adv, m, &dev)?;
        let shares = if self.config.shares == ShareMode::Learned {
            let input = Tensor::from_vec(cat(|s| &s.share_input), (m, SHARE_INPUT), &dev)?;
            let z: Vec<f32> = samples.iter().flat_map(|s| s.share_logits).collect();
            let z = Tensor::from_vec(z, (m, 2), &dev)?;
            let off = samples.iter().map(|s| s.offloads).collect::<Vec<f32>>();
            Some((input, z, Tensor::from_vec(off, m, &dev)?))
        } else {
            None
        };
        let mut first_entropy = 0.0;
        for epoch in 0..self.config.epochs {
            let logits = (self.actor.forward(&x)?.reshape((m, choices))? + &mask)?;
            let logp_all = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let mut logp = logp_all.gather(&chosen, 1)?.squeeze(1)?;
            if let Some((input, z, offloads)) = &shares {
                let mean = self.share_head.forward_all(input)?;
                let log_std = self.share_log_std.unsqueeze(0)?.broadcast_as((m, 2))?;
                let e = ((z - &mean)? / log_std.exp()?)?;
                let lp = ((e.sqr()?.affine(-0.5, -0.5 * std::f64::consts::TAU.ln())? - &log_std)?)
                    .sum(1)?;
                logp = (logp + (lp * offloads)?)?;
            }
            let ratio = (logp - &old)?.exp()?;
            let clipped = ratio.clamp(1.0 - self.config.clip, 1.0 + self.config.clip)?;
            let surrogate = (&ratio * &adv)?.minimum(&(&clipped * &adv)?)?;
            let entropy = (logp_all.exp()? * &logp_all)?.sum(1)?.neg()?.mean_all()?;
            let value = self.critic.forward(&dfeat)?;
            let value_loss = candle_nn::loss::mse(&value, &returns)?;
            let loss = ((surrogate.mean_all()?.neg()?
                - entropy.affine(self.config.entropy, 0.0)?)?
                + value_loss.affine(0.5, 0.0)?)?;
            if epoch == 0 {
                first_entropy = entropy.to_scalar::<f32>()? as f64;
            }
            self.opt.backward_step(&loss)?;
        }
        Ok(first_entropy)
    }

    /// Saves the weights (safetensors) at `path` and a JSON header (settings, version table,
    /// slots trained) next to it (`path` with extension `json`).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let header = Header {
            kind: KIND.into(),
            config: self.config.clone(),
            shape: self.shape.clone(),
            slots: self.slots,
        };
        let text =
            serde_json::to_string_pretty(&header).map_err(|e| AgentError::Config(e.to_string()))?;
        std::fs::write(header_path(path), text)
            .map_err(|e| AgentError::Config(format!("{}: {e}", header_path(path).display())))?;
        Ok(self.vars.save(path)?)
    }

    /// Loads an agent saved by [`MciaPpo::save`].
    pub fn load(path: &std::path::Path) -> Result<MciaPpo> {
        let hp = header_path(path);
        let text = std::fs::read_to_string(&hp)
            .map_err(|e| AgentError::Config(format!("{}: {e}", hp.display())))?;
        let header: Header = serde_json::from_str(&text)
            .map_err(|e| AgentError::Config(format!("{}: {e}", hp.display())))?;
        if header.kind != KIND {
            return Err(AgentError::Config(format!(
                "{}: a `{}` file, not `{KIND}`",
                hp.display(),
                header.kind
            )));
        }
        let mut agent = MciaPpo::new(header.config, header.shape)?;
        agent.vars.load(path)?;
        agent.slots = header.slots;
        Ok(agent)
    }
}
