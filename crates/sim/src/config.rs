//! Simulation configuration shared by every study (TOML/JSON, unknown keys rejected): the
//! channel's gain distribution, the DNN as a layer table, and a compute resource.

use crate::channel::{ChannelError, ChannelModel, FiniteStateChannel, Radio, TruncatedRayleigh};
use crate::channel_more::{TraceChannel, TraceKind, TruncatedRician};
use crate::layers::{Compute, LayerTable};
use crate::profiles::profile_by_name;

/// Why a configuration cannot be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A numeric field is NaN, infinite or out of range.
    #[error("`{field}` = {value} is invalid: must be {why}")]
    Invalid {
        /// Field.
        field: String,
        /// Value given.
        value: f64,
        /// What it must be (`a finite number > 0`).
        why: &'static str,
    },
    /// No built-in profile has this name.
    #[error("unknown hardware profile `{0}` (see `coinfer profiles`)")]
    UnknownProfile(String),
    /// A channel trace cannot be read.
    #[error("{0}")]
    Trace(String),
    /// The channel's parameters are invalid.
    #[error(transparent)]
    Channel(#[from] ChannelError),
}

/// A channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum ChannelConfig {
    /// Explicit `[gain, probability]` states.
    FiniteState {
        /// `[[h, p], ...]`, probabilities summing to 1.
        states: Vec<[f64; 2]>,
    },
    /// `levels` equiprobable states at the quantiles of Rayleigh fading with mean `mean_gain`.
    RayleighQuantiles {
        /// Mean gain.
        mean_gain: f64,
        /// Number of states.
        levels: usize,
    },
    /// Rayleigh fading truncated below at `h_min` (> 0).
    TruncatedRayleigh {
        /// Mean of the exponential part.
        mean_gain: f64,
        /// Smallest gain.
        h_min: f64,
    },
    /// Rician fading (K-factor `k_factor`) truncated below at `h_min` (> 0).
    TruncatedRician {
        /// Line-of-sight to scattered power ratio (0 = Rayleigh).
        k_factor: f64,
        /// Mean gain.
        mean_gain: f64,
        /// Smallest gain.
        h_min: f64,
    },
    /// The empirical distribution of a recorded trace (CSV, values in the last column).
    Trace {
        /// CSV file.
        path: std::path::PathBuf,
        /// Whether the values are gains or rates (bit/s).
        values: TraceKind,
        /// Multiplies every gain (for SNR sweeps); 1 by default.
        #[serde(default = "one")]
        scale: f64,
    },
}

fn one() -> f64 {
    1.0
}

impl ChannelConfig {
    /// The channel, validated.
    pub fn build(&self, radio: &Radio) -> Result<Box<dyn ChannelModel>, ConfigError> {
        Ok(match self {
            ChannelConfig::FiniteState { states } => {
                Box::new(FiniteStateChannel::new(states.iter().map(|s| (s[0], s[1])).collect())?)
            }
            ChannelConfig::RayleighQuantiles { mean_gain, levels } => {
                Box::new(FiniteStateChannel::rayleigh_quantiles(*mean_gain, *levels)?)
            }
            ChannelConfig::TruncatedRayleigh { mean_gain, h_min } => {
                Box::new(TruncatedRayleigh::new(*mean_gain, *h_min)?)
            }
            ChannelConfig::TruncatedRician { k_factor, mean_gain, h_min } => {
                Box::new(TruncatedRician::new(*k_factor, *mean_gain, *h_min)?)
            }
            ChannelConfig::Trace { path, values, scale } => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError::Trace(format!("channel trace {}: {e}", path.display()))
                })?;
                let trace = TraceChannel::from_csv(&text, *values, radio)
                    .map_err(|e| ConfigError::Trace(format!("{}: {e}", path.display())))?;
                let gains: Vec<f64> = trace.gains().iter().map(|g| g * scale).collect();
                Box::new(TraceChannel::new(&gains, TraceKind::Gain, radio)?)
            }
        })
    }

    /// The same channel with every gain multiplied by `factor` (for SNR sweeps).
    pub fn scaled(&self, factor: f64) -> ChannelConfig {
        match self {
            ChannelConfig::FiniteState { states } => ChannelConfig::FiniteState {
                states: states.iter().map(|s| [s[0] * factor, s[1]]).collect(),
            },
            ChannelConfig::RayleighQuantiles { mean_gain, levels } => {
                ChannelConfig::RayleighQuantiles { mean_gain: mean_gain * factor, levels: *levels }
            }
            ChannelConfig::TruncatedRayleigh { mean_gain, h_min } => {
                ChannelConfig::TruncatedRayleigh {
                    mean_gain: mean_gain * factor,
                    h_min: h_min * factor,
                }
            }
            ChannelConfig::TruncatedRician { k_factor, mean_gain, h_min } => {
                ChannelConfig::TruncatedRician {
                    k_factor: *k_factor,
                    mean_gain: mean_gain * factor,
                    h_min: h_min * factor,
                }
            }
            ChannelConfig::Trace { path, values, scale } => {
                ChannelConfig::Trace { path: path.clone(), values: *values, scale: scale * factor }
            }
        }
    }
}

/// The DNN as a chain of layers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum NetworkConfig {
    /// Fully connected layers of equal width (float32).
    Mlp {
        /// Number of layers `N`.
        layers: usize,
        /// Input values.
        input: usize,
        /// Neurons per layer.
        width: usize,
    },
    /// An explicit layer table.
    Table(LayerTable),
}

impl NetworkConfig {
    /// The layer table.
    pub fn table(&self) -> LayerTable {
        match self {
            NetworkConfig::Mlp { layers, input, width } => {
                LayerTable::equal_width_mlp(*layers, *input, *width)
            }
            NetworkConfig::Table(t) => t.clone(),
        }
    }
}

/// A compute resource: a named profile or explicit figures. Exactly one form per table: a mix
/// (`profile` with `macs_per_s`, say) is refused, naming the keys, rather than one form
/// silently winning.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged, try_from = "RawCompute")]
pub enum ComputeConfig {
    /// A built-in profile by name (`coinfer profiles`).
    Profile {
        /// Profile name.
        profile: String,
    },
    /// Explicit throughput and power.
    Explicit(Compute),
    /// A DVFS processor (energy `κ·f²` per cycle).
    Dvfs {
        /// Effective switched capacitance κ.
        kappa: f64,
        /// Clock frequency f (Hz).
        freq_hz: f64,
        /// Cycles per multiply–accumulate.
        cycles_per_mac: f64,
    },
}

/// Every key any form of [`ComputeConfig`] has, to tell which form a table is.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCompute {
    profile: Option<String>,
    macs_per_s: Option<f64>,
    power_w: Option<f64>,
    mem_bytes_per_s: Option<f64>,
    op_overhead_s: Option<f64>,
    kappa: Option<f64>,
    freq_hz: Option<f64>,
    cycles_per_mac: Option<f64>,
}

impl TryFrom<RawCompute> for ComputeConfig {
    type Error = String;
    fn try_from(r: RawCompute) -> Result<Self, String> {
        let named = |pairs: &[(&str, bool)]| -> Vec<String> {
            pairs.iter().filter(|p| p.1).map(|p| format!("`{}`", p.0)).collect()
        };
        let profile = named(&[("profile", r.profile.is_some())]);
        let explicit = named(&[
            ("macs_per_s", r.macs_per_s.is_some()),
            ("power_w", r.power_w.is_some()),
            ("mem_bytes_per_s", r.mem_bytes_per_s.is_some()),
            ("op_overhead_s", r.op_overhead_s.is_some()),
        ]);
        let dvfs = named(&[
            ("kappa", r.kappa.is_some()),
            ("freq_hz", r.freq_hz.is_some()),
            ("cycles_per_mac", r.cycles_per_mac.is_some()),
        ]);
        let forms = [!profile.is_empty(), !explicit.is_empty(), !dvfs.is_empty()];
        if forms.iter().filter(|f| **f).count() > 1 {
            let mut keys = profile;
            keys.extend(explicit);
            keys.extend(dvfs);
            return Err(format!(
                "compute: give one form — `profile`, or `macs_per_s` + `power_w` (+ \
                 `mem_bytes_per_s`, `op_overhead_s`), or `kappa` + `freq_hz` + \
                 `cycles_per_mac` — not a mix of {}",
                keys.join(", ")
            ));
        }
        let missing = |what: &str| format!("compute: `{what}` is missing");
        if let Some(profile) = r.profile {
            return Ok(ComputeConfig::Profile { profile });
        }
        if forms[2] {
            return Ok(ComputeConfig::Dvfs {
                kappa: r.kappa.ok_or_else(|| missing("kappa"))?,
                freq_hz: r.freq_hz.ok_or_else(|| missing("freq_hz"))?,
                cycles_per_mac: r.cycles_per_mac.ok_or_else(|| missing("cycles_per_mac"))?,
            });
        }
        Ok(ComputeConfig::Explicit(Compute {
            macs_per_s: r.macs_per_s.ok_or_else(|| missing("macs_per_s"))?,
            power_w: r.power_w.ok_or_else(|| missing("power_w"))?,
            mem_bytes_per_s: r.mem_bytes_per_s.unwrap_or(0.0),
            op_overhead_s: r.op_overhead_s.unwrap_or(0.0),
        }))
    }
}

impl ComputeConfig {
    /// The compute figures.
    pub fn compute(&self) -> Result<Compute, ConfigError> {
        match self {
            ComputeConfig::Profile { profile } => profile_by_name(profile)
                .map(|p| Compute::from(&p))
                .ok_or_else(|| ConfigError::UnknownProfile(profile.clone())),
            ComputeConfig::Dvfs { kappa, freq_hz, cycles_per_mac } => {
                for (field, v) in
                    [("kappa", *kappa), ("freq_hz", *freq_hz), ("cycles_per_mac", *cycles_per_mac)]
                {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(ConfigError::Invalid {
                            field: field.into(),
                            value: v,
                            why: "a finite number > 0",
                        });
                    }
                }
                Ok(Compute::dvfs(*kappa, *freq_hz, *cycles_per_mac))
            }
            ComputeConfig::Explicit(c) => {
                for (field, v) in [("macs_per_s", c.macs_per_s), ("power_w", c.power_w)] {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(ConfigError::Invalid {
                            field: field.into(),
                            value: v,
                            why: "a finite number > 0",
                        });
                    }
                }
                for (field, v) in
                    [("mem_bytes_per_s", c.mem_bytes_per_s), ("op_overhead_s", c.op_overhead_s)]
                {
                    if !(v.is_finite() && v >= 0.0) {
                        return Err(ConfigError::Invalid {
                            field: field.into(),
                            value: v,
                            why: "a finite number ≥ 0",
                        });
                    }
                }
                Ok(*c)
            }
        }
    }
}
