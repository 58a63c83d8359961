//! The `coinfer stopping` configuration (TOML/JSON) and its translation into a
//! [`StoppingProblem`], a channel and placement costs.

pub use coinfer_sim::{ChannelConfig, ComputeConfig, NetworkConfig};
use coinfer_sim::{
    ChannelModel, ChannelProcess, Compute, LayerTable, Radio, SplitEnv, SplitSetup, Transport,
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

/// i.i.d. gains from a boxed channel model.
struct BoxedIid(Box<dyn ChannelModel>);

impl ChannelProcess for BoxedIid {
    fn next_gain(&mut self, rng: &mut dyn rand::RngCore) -> f64 {
        self.0.sample(rng)
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

    /// Seed 002 as an environment: a [`SplitEnv`] over this configuration's network, device,
    /// edge, radio, weights and transport, drawing i.i.d. gains from its channel (the
    /// environment's costs are [`StoppingConfig::problem`]'s, stage by stage).
    pub fn split_env(&self, seed: u64) -> Result<SplitEnv, StoppingError> {
        let channel = self.channel.build(&self.radio)?;
        let setup = SplitSetup {
            table: self.network.table(),
            device: self.device.compute()?,
            edge: self.edge.compute()?,
            radio: self.radio,
            weights: self.weights,
            mean_gain: channel.expect(&|h| h),
            transport: self.transport.clone(),
        };
        Ok(SplitEnv::new(setup, Box::new(BoxedIid(channel)), seed))
    }

    /// Download cost of each layer: `(w_T + w_E·P_rx) · bits / rate`.
    pub fn layer_download_costs(&self) -> Result<Vec<f64>, StoppingError> {
        let p = &self.placement;
        for (field, v) in [
            ("placement.inferences_per_period", p.inferences_per_period),
            ("placement.download_rate_bps", p.download_rate_bps),
            ("placement.rx_power_w", p.rx_power_w),
        ] {
            let rate = field.ends_with("rate_bps");
            if !(v.is_finite() && v >= 0.0) || (rate && v == 0.0) {
                let why = if rate { "a finite number > 0" } else { crate::stopping::NON_NEGATIVE };
                return Err(StoppingError::Invalid { field: field.into(), value: v, why });
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
                    why: crate::stopping::NON_NEGATIVE,
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
