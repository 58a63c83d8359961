//! # coinfer-sim
//!
//! System models shared by policies, the simulator and the runtime: named hardware
//! profiles ([`HardwareProfile`]) and the split latency model ([`SplitOption::latency`]).

pub use cost::{Link, SplitChoice, SplitLatency, SplitOption};
pub use measured::{MeasuredCut, MeasuredModel};
pub use profiles::{builtin_profiles, profile_by_name, HardwareProfile, Role};

mod cost;
mod measured;
mod profiles;
