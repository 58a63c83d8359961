//! Episodic search over any [`Env`] with continuous actions: AMC's loop (act every step of an
//! episode, credit the episode's return to every transition, learn once per transition after
//! the warm-up) and random search, the baseline it must beat at equal evaluations.

use coinfer_sim::{Env, Space};
use rand::{Rng, SeedableRng};

use crate::ddpg::Ddpg;
use crate::error::{AgentError, Result};
use crate::replay::Transition;

/// One episode of a search.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct EpisodeLog {
    /// Episode number (0-based).
    pub episode: usize,
    /// Its return (sum of rewards).
    pub reward: f64,
    /// The best return so far.
    pub best: f64,
    /// Exploration σ (0 for random search).
    pub sigma: f64,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchResult {
    /// The best episode return.
    pub best_reward: f64,
    /// The actions of that episode, in the environment's units.
    pub best_actions: Vec<Vec<f32>>,
    /// Every episode.
    pub episodes: Vec<EpisodeLog>,
}

/// The affine map from the agent's `[0, 1]^A` to a bounded action box.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionScale {
    low: Vec<f64>,
    high: Vec<f64>,
}

impl ActionScale {
    /// For a `Space::Box` with finite bounds; anything else is an error.
    pub fn of(space: &Space) -> Result<ActionScale> {
        match space {
            Space::Box { low, high }
                if low.len() == high.len()
                    && !low.is_empty()
                    && low.iter().chain(high).all(|x| x.is_finite())
                    && low.iter().zip(high).all(|(l, h)| l <= h) =>
            {
                Ok(ActionScale { low: low.clone(), high: high.clone() })
            }
            other => Err(AgentError::Space(format!(
                "DDPG needs a bounded box of real actions, the environment has {other:?}"
            ))),
        }
    }

    /// Dimensions.
    pub fn dim(&self) -> usize {
        self.low.len()
    }

    /// `low + u·(high − low)`.
    pub fn apply(&self, unit: &[f32]) -> Vec<f32> {
        unit.iter()
            .zip(self.low.iter().zip(&self.high))
            .map(|(&u, (l, h))| (l + u as f64 * (h - l)) as f32)
            .collect()
    }
}

/// The observation length of a `Space::Box`.
pub fn observation_dim(space: &Space) -> Result<usize> {
    match space {
        Space::Box { low, .. } if !low.is_empty() => Ok(low.len()),
        other => Err(AgentError::Space(format!("observations must be a box, got {other:?}"))),
    }
}

/// Runs `episodes` episodes of `agent` on `env` (episode `e` reset with seed `seed + e`).
/// `on_episode` sees each episode's log (for progress bars and checkpoints).
pub fn ddpg_search<E>(
    env: &mut E,
    agent: &mut Ddpg,
    episodes: usize,
    seed: u64,
    mut on_episode: impl FnMut(&EpisodeLog),
) -> Result<SearchResult>
where
    E: Env<Action = [f32]> + ?Sized,
{
    let scale = ActionScale::of(&env.action_space())?;
    if scale.dim() != agent.action_dim() {
        return Err(AgentError::Space(format!(
            "the agent acts in {} dimensions, the environment in {}",
            agent.action_dim(),
            scale.dim()
        )));
    }
    let mut result =
        SearchResult { best_reward: f64::NEG_INFINITY, best_actions: vec![], episodes: vec![] };
    for episode in 0..episodes {
        let mut state = env.reset(Some(seed.wrapping_add(episode as u64)));
        // Rewards are credited once the episode's return is known.
        let mut steps: Vec<Transition> = vec![];
        let mut ret = 0.0;
        loop {
            let unit = agent.act(&state, episode)?;
            let action = scale.apply(&unit);
            let step = env.step(&action)?;
            ret += step.reward;
            steps.push(Transition {
                state,
                action: unit,
                reward: 0.0,
                next_state: step.observation.clone(),
                done: step.done,
            });
            state = step.observation;
            if step.done {
                break;
            }
        }
        if !ret.is_finite() {
            return Err(AgentError::Space(format!("episode {episode} returned {ret}")));
        }
        let n = steps.len();
        let actions: Vec<Vec<f32>> = steps.iter().map(|t| scale.apply(&t.action)).collect();
        for t in steps {
            agent.remember(Transition { reward: ret as f32, ..t })?;
        }
        if episode >= agent.config().warmup_episodes {
            for _ in 0..n {
                agent.update()?;
            }
        }
        let sigma =
            if episode < agent.config().warmup_episodes { 0.0 } else { agent.sigma(episode) };
        record(&mut result, episode, ret, actions, sigma, &mut on_episode);
    }
    Ok(result)
}

/// Uniform random actions for `episodes` episodes: the baseline at equal evaluations.
pub fn random_search<E>(
    env: &mut E,
    episodes: usize,
    seed: u64,
    mut on_episode: impl FnMut(&EpisodeLog),
) -> Result<SearchResult>
where
    E: Env<Action = [f32]> + ?Sized,
{
    let scale = ActionScale::of(&env.action_space())?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x7a4d_0b5e);
    let mut result =
        SearchResult { best_reward: f64::NEG_INFINITY, best_actions: vec![], episodes: vec![] };
    for episode in 0..episodes {
        env.reset(Some(seed.wrapping_add(episode as u64)));
        let (mut ret, mut actions) = (0.0, vec![]);
        loop {
            let unit: Vec<f32> = (0..scale.dim()).map(|_| rng.random::<f32>()).collect();
            let action = scale.apply(&unit);
            let step = env.step(&action)?;
            ret += step.reward;
            actions.push(action);
            if step.done {
                break;
            }
        }
        record(&mut result, episode, ret, actions, 0.0, &mut on_episode);
    }
    Ok(result)
}

fn record(
    result: &mut SearchResult,
    episode: usize,
    reward: f64,
    actions: Vec<Vec<f32>>,
    sigma: f64,
    on_episode: &mut impl FnMut(&EpisodeLog),
) {
    if reward > result.best_reward {
        result.best_reward = reward;
        result.best_actions = actions;
    }
    let log = EpisodeLog { episode, reward, best: result.best_reward, sigma };
    on_episode(&log);
    result.episodes.push(log);
}
