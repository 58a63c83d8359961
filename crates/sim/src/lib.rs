//! # coinfer-sim
//!
//! System models shared by policies, the simulator and the runtime: named hardware
//! profiles ([`HardwareProfile`]), the split latency model ([`SplitOption::latency`]) and
//! wireless channel models ([`ChannelModel`]: finite-state, truncated Rayleigh and Rician,
//! Gauss–Markov, trace-driven; Shannon rate) and their time-step view ([`ChannelProcess`]),
//! the deployment [`Plan`] shared with the policies and the runtime, and the environments
//! agents train on behind one [`Env`] trait ([`SplitEnv`], [`MultiDeviceEnv`]).

pub use channel::{ChannelError, ChannelModel, FiniteStateChannel, Radio, TruncatedRayleigh};
pub use channel_more::{
    ChannelProcess, GaussMarkov, Iid, TraceChannel, TraceError, TraceKind, TruncatedRician,
};
pub use cost::{Link, SplitChoice, SplitLatency, SplitOption};
pub use env::{
    DeviceAction, DeviceOutcome, DeviceSpec, ModelVersion, MultiDeviceEnv, SplitEnv, SplitSetup,
    Step,
};
pub use environment::{Env, EnvError, Space};
pub use layers::{Compute, CostWeights, Layer, LayerTable};
pub use measured::{MeasuredCut, MeasuredModel};
pub use plan::{DevicePlan, OnlineSplit, Plan, PlanError};
pub use profiles::{builtin_profiles, profile_by_name, HardwareProfile, Role};
pub use split_point::{SplitPoint, SplitPointError};

mod channel;
mod channel_more;
mod cost;
mod env;
mod environment;
mod layers;
mod measured;
mod plan;
mod profiles;
mod split_point;
