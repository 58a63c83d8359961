//! # coinfer-sim
//!
//! System models shared by policies, the simulator and the runtime: named hardware
//! profiles ([`HardwareProfile`], rooflines) and measured per-layer tables ([`LayerTimes`]),
//! the one cost model ([`predict`]: latency parts and device energy of any [`Work`] on a
//! [`Link`]), the split options of a model ([`split_options`]) and
//! wireless channel models ([`ChannelModel`]: finite-state, truncated Rayleigh and Rician,
//! Gauss–Markov, trace-driven; Shannon rate) and their time-step view ([`ChannelProcess`]),
//! the deployment [`Plan`] shared with the policies and the runtime, and the environments
//! agents train on behind one [`Env`] trait ([`SplitEnv`], [`MultiDeviceEnv`], [`AutomlEnv`]).

pub use allocation::{
    bandwidth_allocation, compute_price, lagrangian_bound, optimal_bandwidth_shares,
    optimal_compute_shares, OffloadTerms, SharePrices,
};
pub use automl_env::{
    AutomlEnv, AutomlSetup, Budget, ConfigCost, Decision, DecisionKind, EpisodeOutcome, Evaluated,
    Evaluator, FeatureSpec, PruneConfig, PruneSpace, Reward, ScaledLayer, Side, SpaceError,
    AUTOML_OBSERVATION,
};
pub use channel::{ChannelError, ChannelModel, FiniteStateChannel, Radio, TruncatedRayleigh};
pub use channel_more::{
    ChannelProcess, GaussMarkov, Iid, TraceChannel, TraceError, TraceKind, TruncatedRician,
};
pub use config::{ChannelConfig, ComputeConfig, ConfigError, NetworkConfig};
pub use cost_model::{predict, Chunking, Framing, Link, Prediction, Transport, Work};
pub use env::{SplitEnv, SplitSetup, Step};
pub use environment::{Env, EnvError, Space};
pub use layer_cost::{Hardware, LayerCost, LayerTimes, LayerTimesError};
pub use layers::{Compute, CostWeights, Layer, LayerTable};
pub use markov_channel::{MarkovChannel, MarkovError};
pub use mcia_scenario::{ChannelSpec, DeviceGroup, EdgeConfig, Scenario, ScenarioError, TaskKind};
pub use mcia_search::{
    coordinate_descent, coordinate_descent_from_greedy, exhaustive, priced_utility, random_slot,
    score, slot_baseline, slot_prices, SlotBaseline, SlotSolution, EXHAUSTIVE_LIMIT,
};
pub use measured::{isotonic, MeasuredCut, MeasuredModel, TIMER_FLOOR_S};
pub use multi_device::{
    Candidate, DeviceAction, DeviceOutcome, DeviceSpec, ModelVersion, MultiDeviceEnv,
    DEVICE_OBSERVATION_LEN,
};
pub use plan::{DevicePlan, OnlineSplit, Plan, PlanError};
pub use profiles::{builtin_profiles, profile_by_name, HardwareProfile, Role};
pub use score::{score_plan, DeviceContext};
pub use split_options::{split_options, SplitChoice, SplitLatency, SplitOption};
pub use split_point::{SplitPoint, SplitPointError};

mod allocation;
mod automl_env;
mod channel;
mod channel_more;
mod config;
mod cost_model;
mod env;
mod environment;
mod layer_cost;
mod layers;
mod markov_channel;
mod mcia_scenario;
mod mcia_search;
mod measured;
mod multi_device;
mod panel_quadrature;
mod plan;
mod profiles;
mod score;
mod split_options;
mod split_point;
