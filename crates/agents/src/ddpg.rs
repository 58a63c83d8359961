//! DDPG as AMC uses it (He et al., ECCV 2018; `mit-han-lab/amc`, `lib/agent.py`): a
//! sigmoid actor and a critic that takes the action at its first layer, both 300-300;
//! Adam at 1e-4 / 1e-3; soft target updates τ = 0.01; minibatches of 64; the critic trained on
//! the reward less a moving-average baseline; truncated-normal exploration whose σ decays per
//! episode after the warm-up. Seeded and bit-reproducible: every weight is initialised from a
//! ChaCha8 generator (candle's CPU generator cannot be seeded) and all sampling uses it too.

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{linear, AdamW, Linear, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_distr::Distribution;

use crate::error::{AgentError, Result};
use crate::nets::{prefixed, seeded_init};
use crate::replay::{Replay, Transition};

/// DDPG's settings; the defaults are AMC's (`amc_search.py`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DdpgConfig {
    /// Units in each of the two hidden layers of actor and critic.
    pub hidden: usize,
    /// Actor learning rate.
    pub lr_actor: f64,
    /// Critic learning rate.
    pub lr_critic: f64,
    /// Soft target update rate τ.
    pub tau: f64,
    /// Discount γ (1: AMC's episodic setting).
    pub discount: f64,
    /// Minibatch size.
    pub batch: usize,
    /// Replay capacity per step of an episode (capacity = this × steps per episode).
    pub replay_per_step: usize,
    /// Episodes of uniform random actions before learning starts.
    pub warmup_episodes: usize,
    /// Exploration σ right after the warm-up.
    pub sigma: f64,
    /// σ multiplies by this after each episode past the warm-up.
    pub sigma_decay: f64,
    /// Rate of the moving-average reward baseline.
    pub baseline_rate: f64,
    /// Seed of weights, exploration and replay sampling.
    pub seed: u64,
}

impl Default for DdpgConfig {
    fn default() -> Self {
        DdpgConfig {
            hidden: 300,
            lr_actor: 1e-4,
            lr_critic: 1e-3,
            tau: 0.01,
            discount: 1.0,
            batch: 64,
            replay_per_step: 100,
            warmup_episodes: 100,
            sigma: 0.5,
            sigma_decay: 0.95,
            baseline_rate: 0.5,
            seed: 2018,
        }
    }
}

impl DdpgConfig {
    /// Checks every field is in range.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(AgentError::Config(m));
        if self.hidden == 0 || self.batch == 0 || self.replay_per_step == 0 {
            return bad("hidden, batch and replay_per_step must be ≥ 1".into());
        }
        for (name, v) in [
            ("lr_actor", self.lr_actor),
            ("lr_critic", self.lr_critic),
            ("tau", self.tau),
            ("discount", self.discount),
            ("sigma", self.sigma),
            ("sigma_decay", self.sigma_decay),
            ("baseline_rate", self.baseline_rate),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v} must be a finite number ≥ 0"));
            }
        }
        if self.tau > 1.0 || self.baseline_rate > 1.0 || self.discount > 1.0 {
            return bad("tau, baseline_rate and discount must be ≤ 1".into());
        }
        Ok(())
    }
}

/// `Linear(S,h)–ReLU–Linear(h,h)–ReLU–Linear(h,A)–Sigmoid`.
struct Actor {
    l1: Linear,
    l2: Linear,
    l3: Linear,
}

impl Actor {
    fn new(vb: VarBuilder, state: usize, action: usize, hidden: usize) -> Result<Actor> {
        Ok(Actor {
            l1: linear(state, hidden, vb.pp("l1"))?,
            l2: linear(hidden, hidden, vb.pp("l2"))?,
            l3: linear(hidden, action, vb.pp("l3"))?,
        })
    }

    fn forward(&self, s: &Tensor) -> Result<Tensor> {
        let h = self.l2.forward(&self.l1.forward(s)?.relu()?)?.relu()?;
        Ok(candle_nn::ops::sigmoid(&self.l3.forward(&h)?)?)
    }
}

/// `ReLU(Linear(S,h)(s) + Linear(A,h)(a))–Linear(h,h)–ReLU–Linear(h,1)`.
struct Critic {
    state: Linear,
    action: Linear,
    l2: Linear,
    l3: Linear,
}

impl Critic {
    fn new(vb: VarBuilder, state: usize, action: usize, hidden: usize) -> Result<Critic> {
        Ok(Critic {
            state: linear(state, hidden, vb.pp("state"))?,
            action: linear(action, hidden, vb.pp("action"))?,
            l2: linear(hidden, hidden, vb.pp("l2"))?,
            l3: linear(hidden, 1, vb.pp("l3"))?,
        })
    }

    fn forward(&self, s: &Tensor, a: &Tensor) -> Result<Tensor> {
        let h = (self.state.forward(s)? + self.action.forward(a)?)?.relu()?;
        Ok(self.l3.forward(&self.l2.forward(&h)?.relu()?)?)
    }
}

/// The four networks' variables live in one map under these prefixes (one safetensors file).
const ACTOR: &str = "actor";
const CRITIC: &str = "critic";
const TARGET_ACTOR: &str = "target_actor";
const TARGET_CRITIC: &str = "target_critic";

/// A DDPG agent for actions in `[0, 1]^A`.
pub struct Ddpg {
    config: DdpgConfig,
    state_dim: usize,
    action_dim: usize,
    vars: VarMap,
    actor: Actor,
    critic: Critic,
    target_actor: Actor,
    target_critic: Critic,
    actor_opt: AdamW,
    critic_opt: AdamW,
    replay: Replay,
    baseline: f64,
    rng: rand_chacha::ChaCha8Rng,
    updates: u64,
}

impl Ddpg {
    /// A fresh agent for `state_dim` observations and `action_dim` actions; the replay holds
    /// `replay_per_step × steps_per_episode` transitions.
    pub fn new(
        config: DdpgConfig,
        state_dim: usize,
        action_dim: usize,
        steps_per_episode: usize,
    ) -> Result<Ddpg> {
        config.validate()?;
        if state_dim == 0 || action_dim == 0 {
            return Err(AgentError::Space("observations and actions need ≥ 1 dimension".into()));
        }
        let vars = VarMap::new();
        let dev = Device::Cpu;
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let h = config.hidden;
        let actor = Actor::new(vb.pp(ACTOR), state_dim, action_dim, h)?;
        let critic = Critic::new(vb.pp(CRITIC), state_dim, action_dim, h)?;
        let target_actor = Actor::new(vb.pp(TARGET_ACTOR), state_dim, action_dim, h)?;
        let target_critic = Critic::new(vb.pp(TARGET_CRITIC), state_dim, action_dim, h)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        seeded_init(&vars, &mut rng)?;
        // Targets start as copies.
        soft_update(&vars, ACTOR, TARGET_ACTOR, 1.0)?;
        soft_update(&vars, CRITIC, TARGET_CRITIC, 1.0)?;
        let adam = |lr| ParamsAdamW { lr, weight_decay: 0.0, ..ParamsAdamW::default() };
        let actor_opt = AdamW::new(prefixed(&vars, ACTOR)?, adam(config.lr_actor))?;
        let critic_opt = AdamW::new(prefixed(&vars, CRITIC)?, adam(config.lr_critic))?;
        let replay = Replay::new(config.replay_per_step * steps_per_episode.max(1));
        Ok(Ddpg {
            config,
            state_dim,
            action_dim,
            vars,
            actor,
            critic,
            target_actor,
            target_critic,
            actor_opt,
            critic_opt,
            replay,
            baseline: 0.0,
            rng,
            updates: 0,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DdpgConfig {
        &self.config
    }

    /// Action dimensions.
    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Gradient updates made so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The exploration σ of `episode` (0-based; warm-up episodes act uniformly at random).
    pub fn sigma(&self, episode: usize) -> f64 {
        let past = episode.saturating_sub(self.config.warmup_episodes);
        self.config.sigma * self.config.sigma_decay.powi(past.min(i32::MAX as usize) as i32)
    }

    /// The deterministic policy `μ(s)`.
    pub fn greedy(&self, state: &[f32]) -> Result<Vec<f32>> {
        self.check_state(state)?;
        let s = Tensor::from_slice(state, (1, self.state_dim), &Device::Cpu)?;
        Ok(self.actor.forward(&s)?.flatten_all()?.to_vec1()?)
    }

    /// The action to take in `episode`: uniform during the warm-up, then `μ(s)` with
    /// truncated-normal noise of σ = [`Ddpg::sigma`] inside `[0, 1]`.
    pub fn act(&mut self, state: &[f32], episode: usize) -> Result<Vec<f32>> {
        if episode < self.config.warmup_episodes {
            self.check_state(state)?;
            return Ok((0..self.action_dim).map(|_| self.rng.random::<f32>()).collect());
        }
        let mean = self.greedy(state)?;
        let sigma = self.sigma(episode);
        Ok(mean.into_iter().map(|m| truncated_normal(m as f64, sigma, &mut self.rng)).collect())
    }

    /// Stores a transition.
    pub fn remember(&mut self, t: Transition) -> Result<()> {
        self.check_state(&t.state)?;
        self.check_state(&t.next_state)?;
        if t.action.len() != self.action_dim || !t.reward.is_finite() {
            return Err(AgentError::Space(format!(
                "a transition needs {} actions and a finite reward",
                self.action_dim
            )));
        }
        self.replay.push(t);
        Ok(())
    }

    /// One gradient step of critic and actor on a minibatch, then the soft target update;
    /// nothing while the replay holds fewer transitions than a batch. Returns the critic loss.
    pub fn update(&mut self) -> Result<Option<f32>> {
        let n = self.config.batch;
        if self.replay.len() < n {
            return Ok(None);
        }
        let b = self.replay.sample(n, &mut self.rng);
        let dev = Device::Cpu;
        let s = Tensor::from_vec(b.states, (n, self.state_dim), &dev)?;
        let a = Tensor::from_vec(b.actions, (n, self.action_dim), &dev)?;
        let s2 = Tensor::from_vec(b.next_states, (n, self.state_dim), &dev)?;
        let mean_r = b.rewards.iter().map(|&r| r as f64).sum::<f64>() / n as f64;
        self.baseline += self.config.baseline_rate * (mean_r - self.baseline);
        let r: Vec<f32> = b.rewards.iter().map(|&r| (r as f64 - self.baseline) as f32).collect();
        let r = Tensor::from_vec(r, (n, 1), &dev)?;
        let not_done: Vec<f32> = b.dones.iter().map(|d| 1.0 - d).collect();
        let not_done = Tensor::from_vec(not_done, (n, 1), &dev)?;

        let next_q = self.target_critic.forward(&s2, &self.target_actor.forward(&s2)?)?;
        let target = (r + (next_q * not_done)?.affine(self.config.discount, 0.0)?)?.detach();
        let q = self.critic.forward(&s, &a)?;
        let critic_loss = candle_nn::loss::mse(&q, &target)?;
        self.critic_opt.backward_step(&critic_loss)?;

        let actor_loss = self.critic.forward(&s, &self.actor.forward(&s)?)?.mean_all()?.neg()?;
        self.actor_opt.backward_step(&actor_loss)?;

        soft_update(&self.vars, ACTOR, TARGET_ACTOR, self.config.tau)?;
        soft_update(&self.vars, CRITIC, TARGET_CRITIC, self.config.tau)?;
        self.updates += 1;
        Ok(Some(critic_loss.to_scalar::<f32>()?))
    }

    /// Saves the four networks' weights (safetensors).
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        Ok(self.vars.save(path)?)
    }

    /// Loads weights saved by [`Ddpg::save`] from an agent of the same shape.
    pub fn load(&mut self, path: &std::path::Path) -> Result<()> {
        Ok(self.vars.load(path)?)
    }

    fn check_state(&self, state: &[f32]) -> Result<()> {
        if state.len() != self.state_dim || state.iter().any(|x| !x.is_finite()) {
            return Err(AgentError::Space(format!(
                "an observation of {} finite values, got {} values",
                self.state_dim,
                state.len()
            )));
        }
        Ok(())
    }
}

/// A draw of `N(mean, σ)` inside `[0, 1]` (rejection; clamped after 64 misses or σ = 0).
fn truncated_normal(mean: f64, sigma: f64, rng: &mut impl Rng) -> f32 {
    if let Ok(normal) = rand_distr::Normal::new(mean, sigma) {
        for _ in 0..64 {
            let x = normal.sample(rng);
            if (0.0..=1.0).contains(&x) {
                return x as f32;
            }
        }
    }
    mean.clamp(0.0, 1.0) as f32
}

/// `target ← τ·source + (1 − τ)·target` for every variable under `source.` / `target.`.
fn soft_update(vars: &VarMap, source: &str, target: &str, tau: f64) -> Result<()> {
    let data = vars.data().lock().map_err(|_| AgentError::Config("poisoned lock".into()))?;
    for (name, var) in data.iter().filter(|(k, _)| k.starts_with(&format!("{source}."))) {
        let twin = format!("{target}{}", &name[source.len()..]);
        let t = data.get(&twin).ok_or_else(|| AgentError::Config(format!("no `{twin}`")))?;
        let mixed = (var.as_tensor().affine(tau, 0.0)? + t.as_tensor().affine(1.0 - tau, 0.0)?)?;
        t.set(&mixed)?;
    }
    Ok(())
}
