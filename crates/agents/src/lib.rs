//! # coinfer-agents
//!
//! Learning agents over the simulator's [`coinfer_sim::Env`] trait, on candle, seeded and
//! bit-reproducible on one thread. So far: AMC's DDPG ([`Ddpg`], He et al., ECCV 2018, the
//! agent of seed 000's AutoML co-inference) with its replay memory ([`Replay`]) and episodic
//! search loop ([`ddpg_search`]), and random search at equal evaluations
//! ([`random_search`]), the baseline every search must beat; seed 001's [`MciaPpo`]; and a
//! learned online-splitting rule for channels known only by a trace ([`FittedStopping`]).
//!
//! ```no_run
//! use coinfer_agents::{ddpg_search, observation_dim, Ddpg, DdpgConfig};
//! use coinfer_sim::Env;
//!
//! fn search(env: &mut impl Env<Action = [f32]>, steps: usize) -> coinfer_agents::Result<f64> {
//!     let obs = observation_dim(&env.observation_space())?;
//!     let mut agent = Ddpg::new(DdpgConfig::default(), obs, 1, steps)?;
//!     let found = ddpg_search(env, &mut agent, 300, 1, |_| {})?;
//!     agent.save(std::path::Path::new("agent.safetensors"))?;
//!     Ok(found.best_reward)
//! }
//! ```

pub use ddpg::{Ddpg, DdpgConfig};
pub use error::{AgentError, Result};
pub use fitted_stopping::{replay_cost, FittedStopping, SplittingCosts};
pub use mcia_features::{ChoiceTable, SlotFeatures, CHOICE_FEATURES, DEVICE_FEATURES};
pub use mcia_ppo::{DecisionSettings, MciaPpo, MciaPpoConfig, ShareMode, TrainLog, VersionShape};
pub use replay::{Batch, Replay, Transition};
pub use search::{
    ddpg_search, observation_dim, random_search, ActionScale, EpisodeLog, SearchResult,
};

mod ddpg;
mod error;
mod fitted_stopping;
mod mcia_features;
mod mcia_ppo;
mod nets;
mod replay;
mod search;
