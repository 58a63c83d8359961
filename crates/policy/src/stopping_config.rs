//! The `coinfer stopping` configuration (TOML/JSON) and its translation into a
//! [`StoppingProblem`], a channel and placement costs.

use coinfer_sim::{
    profile_by_name, ChannelModel, Compute, FiniteStateChannel, LayerTable, Radio, TraceChannel,
    TraceKind, Transport, TruncatedRayleigh, TruncatedRician,
};

use crate::stopping::{CostWeights, StoppingError, StoppingProblem};

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoppingConfig {
    /// Uplink radio.
    pub radio: Radio,
    /// Cost weights.
    pub weights: CostWeights,
    /// Channel gain distribution.
    pub channel: ChannelConfig,
    /// The DNN.
    pub network: NetworkConfig,
    /// Device compute.
    pub device: ComputeConfig,
    /// Edge compute.
    pub edge: ComputeConfig,
    /// Placement (slow time scale).
    pub placement: PlacementConfig,
    /// Monte Carlo evaluation.
    #[serde(default)]
    pub monte_carlo: MonteCarloConfig,
    /// RTT, stack time, framing and downlink around the fading uplink (the paper's model,
    /// payload only, when absent).
    #[serde(default)]
    pub transport: Transport,
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
    pub fn build(&self, radio: &Radio) -> Result<Box<dyn ChannelModel>, StoppingError> {
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
                    StoppingError::Table(format!("channel trace {}: {e}", path.display()))
                })?;
                let trace = TraceChannel::from_csv(&text, *values, radio)
                    .map_err(|e| StoppingError::Table(format!("{}: {e}", path.display())))?;
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

/// A compute resource: a named profile or explicit figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
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

impl ComputeConfig {
    /// The compute figures.
    pub fn compute(&self) -> Result<Compute, StoppingError> {
        match self {
            ComputeConfig::Profile { profile } => {
                profile_by_name(profile).map(|p| Compute::from(&p)).ok_or_else(|| {
                    StoppingError::Table(format!("unknown hardware profile `{profile}`"))
                })
            }
            ComputeConfig::Dvfs { kappa, freq_hz, cycles_per_mac } => {
                for (field, v) in
                    [("kappa", *kappa), ("freq_hz", *freq_hz), ("cycles_per_mac", *cycles_per_mac)]
                {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(StoppingError::Invalid { field: field.into(), value: v });
                    }
                }
                Ok(Compute::dvfs(*kappa, *freq_hz, *cycles_per_mac))
            }
            ComputeConfig::Explicit(c) => {
                for (field, v) in [("macs_per_s", c.macs_per_s), ("power_w", c.power_w)] {
                    if !(v.is_finite() && v > 0.0) {
                        return Err(StoppingError::Invalid { field: field.into(), value: v });
                    }
                }
                Ok(*c)
            }
        }
    }
}

/// Placement parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementConfig {
    /// Inferences per model-update period `Q`.
    pub inferences_per_period: f64,
    /// Downlink rate for model download (bit/s).
    pub download_rate_bps: f64,
    /// Receive power while downloading (W).
    pub rx_power_w: f64,
}

/// Monte Carlo settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonteCarloConfig {
    /// Inferences simulated per rule.
    pub samples: usize,
    /// Seed.
    pub seed: u64,
}

impl Default for MonteCarloConfig {
    fn default() -> Self {
        MonteCarloConfig { samples: 200_000, seed: 1 }
    }
}

impl StoppingConfig {
    /// The stopping problem, checked field by field.
    pub fn problem(&self) -> Result<StoppingProblem, StoppingError> {
        let table = self.network.table();
        problem_from_table(
            &table,
            &self.device.compute()?,
            &self.edge.compute()?,
            (self.radio, self.transport.clone()),
            self.weights,
        )
    }

    /// Download cost of each layer: `(w_T + w_E·P_rx) · bits / rate`.
    pub fn layer_download_costs(&self) -> Result<Vec<f64>, StoppingError> {
        let p = &self.placement;
        for (field, v) in [
            ("placement.inferences_per_period", p.inferences_per_period),
            ("placement.download_rate_bps", p.download_rate_bps),
            ("placement.rx_power_w", p.rx_power_w),
        ] {
            if !(v.is_finite() && v >= 0.0) || (field.ends_with("rate_bps") && v == 0.0) {
                return Err(StoppingError::Invalid { field: field.into(), value: v });
            }
        }
        let table = self.network.table();
        let per_bit =
            (self.weights.time + self.weights.energy * p.rx_power_w) / p.download_rate_bps;
        Ok((1..=table.layers.len()).map(|n| per_bit * table.param_bits(n)).collect())
    }
}

/// The stopping problem of a layer table on a device/edge pair, over `radio` wrapped in
/// `transport`.
pub fn problem_from_table(
    table: &LayerTable,
    device: &Compute,
    edge: &Compute,
    (radio, transport): (Radio, Transport),
    weights: CostWeights,
) -> Result<StoppingProblem, StoppingError> {
    let n = table.layers.len();
    if n == 0 {
        return Err(StoppingError::Table("no layers".into()));
    }
    for (i, l) in table.layers.iter().enumerate() {
        for (name, v) in
            [("macs", l.macs), ("output_values", l.output_values), ("params", l.params)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(StoppingError::Invalid {
                    field: format!("layers[{i}].{name}"),
                    value: v,
                });
            }
        }
    }
    let p = StoppingProblem {
        offload_bits: (0..=n).map(|i| table.offload_bits(i)).collect(),
        edge_time_s: (0..=n).map(|i| table.edge_time_after(i, edge)).collect(),
        local_cost: (1..=n)
            .map(|i| {
                let (t, e) = table.device_cost(i, device);
                weights.cost(t, e)
            })
            .collect(),
        radio,
        weights,
        transport,
    };
    p.validate()?;
    Ok(p)
}
