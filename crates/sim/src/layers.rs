//! Layer tables: a DNN as a chain of layers (or of segments between valid cut points), with
//! the per-layer device and edge costs of the shared cost model.

use crate::profiles::HardwareProfile;

/// One layer (or segment) of a chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Multiply–accumulates per inference.
    pub macs: f64,
    /// Values in its output (the feature sent if the split is after it).
    pub output_values: f64,
    /// Parameters (downloaded when the layer is placed on the device).
    pub params: f64,
    /// Operators (kernel launches) in it: each pays the hardware's per-op overhead.
    #[serde(default = "one")]
    pub ops: f64,
    /// Bytes it moves through memory (weights, inputs and outputs of its operators); 0 =
    /// unknown (compute-bound).
    #[serde(default)]
    pub mem_bytes: f64,
}

fn one() -> f64 {
    1.0
}

impl Layer {
    /// A layer of `macs` multiply–accumulates with `output_values` outputs and `params`
    /// parameters: one operator, memory traffic unknown.
    pub fn new(macs: f64, output_values: f64, params: f64) -> Layer {
        Layer { macs, output_values, params, ops: 1.0, mem_bytes: 0.0 }
    }
}

/// A chain of layers behind an input.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LayerTable {
    /// Values in the raw input (sent when offloading before the first layer).
    pub input_values: f64,
    /// Bits per transmitted value and per parameter (32 for float32).
    pub bits_per_value: f64,
    /// The layers, input side first.
    pub layers: Vec<Layer>,
}

/// Weights of the energy-and-time cost `w_T·T + w_E·E`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostWeights {
    /// `w_T`, per second.
    pub time: f64,
    /// `w_E`, per joule.
    pub energy: f64,
}

impl CostWeights {
    /// `w_T·time_s + w_E·energy_j`.
    pub fn cost(&self, time_s: f64, energy_j: f64) -> f64 {
        self.time * time_s + self.energy * energy_j
    }
}

/// A compute resource for the cost model, as a roofline with a per-operator overhead: a
/// layer takes `ops·op_overhead_s + max(macs / macs_per_s, mem_bytes / mem_bytes_per_s)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compute {
    /// Effective throughput (MAC/s).
    pub macs_per_s: f64,
    /// Power while computing (W).
    pub power_w: f64,
    /// Effective memory bandwidth (B/s); 0 = no memory term.
    #[serde(default)]
    pub mem_bytes_per_s: f64,
    /// Fixed time per operator launch (s).
    #[serde(default)]
    pub op_overhead_s: f64,
}

impl Compute {
    /// Pure throughput: no memory term, no per-operator overhead.
    pub fn throughput(macs_per_s: f64, power_w: f64) -> Compute {
        Compute { macs_per_s, power_w, mem_bytes_per_s: 0.0, op_overhead_s: 0.0 }
    }

    /// A fraction `share` of this processor, time-shared: throughput and bandwidth scale by
    /// `share`, each operator's fixed time by `1 / share`.
    pub fn share(&self, share: f64) -> Compute {
        Compute {
            macs_per_s: self.macs_per_s * share,
            power_w: self.power_w,
            mem_bytes_per_s: self.mem_bytes_per_s * share,
            op_overhead_s: if self.op_overhead_s > 0.0 { self.op_overhead_s / share } else { 0.0 },
        }
    }

    /// Time (s) of `layer`: 0 for no work at all, `inf` for work on a zero share.
    pub fn layer_s(&self, layer: &Layer) -> f64 {
        let per = |work: f64, rate: f64| if work > 0.0 { work / rate } else { 0.0 };
        let memory = if self.mem_bytes_per_s > 0.0 {
            per(layer.mem_bytes, self.mem_bytes_per_s)
        } else {
            0.0
        };
        let launches = if layer.ops > 0.0 { layer.ops * self.op_overhead_s } else { 0.0 };
        per(layer.macs, self.macs_per_s).max(memory) + launches
    }

    /// A DVFS processor at clock `freq_hz` with effective switched capacitance `kappa` taking
    /// `cycles_per_mac` cycles per MAC: energy `κ·f²` per cycle, so time per MAC
    /// `cycles/f` and power `κ·f³` (energy of `n` MACs = `κ·f²·cycles·n`).
    pub fn dvfs(kappa: f64, freq_hz: f64, cycles_per_mac: f64) -> Compute {
        Compute::throughput(freq_hz / cycles_per_mac, kappa * freq_hz.powi(3))
    }
}

impl From<&HardwareProfile> for Compute {
    fn from(p: &HardwareProfile) -> Self {
        Compute {
            macs_per_s: p.gmacs() * 1e9,
            power_w: p.power_w,
            mem_bytes_per_s: p.mem_gbps() * 1e9,
            op_overhead_s: p.op_overhead_us * 1e-6,
        }
    }
}

impl LayerTable {
    /// A multilayer perceptron with `layers` fully connected layers of `width` neurons each
    /// (input of `input` values), float32.
    pub fn equal_width_mlp(layers: usize, input: usize, width: usize) -> LayerTable {
        let mut prev = input as f64;
        let w = width as f64;
        let layers = (0..layers)
            .map(|_| {
                let params = prev * w + w;
                let l = Layer {
                    mem_bytes: 4.0 * (prev + w + params),
                    ..Layer::new(prev * w, w, params)
                };
                prev = w;
                l
            })
            .collect();
        LayerTable { input_values: input as f64, bits_per_value: 32.0, layers }
    }

    /// Bits sent when offloading after `n` layers (`n = 0` = the input).
    pub fn offload_bits(&self, n: usize) -> f64 {
        let values = if n == 0 { self.input_values } else { self.layers[n - 1].output_values };
        values * self.bits_per_value
    }

    /// Device time (s) and energy (J) of layer `n` (1-based): [`Compute::layer_s`],
    /// `power × time`.
    pub fn device_cost(&self, n: usize, device: &Compute) -> (f64, f64) {
        let t = device.layer_s(&self.layers[n - 1]);
        (t, t * device.power_w)
    }

    /// Time (s) of layers `n + 1..=N` on `compute` (the edge's tail after a split at `n`).
    pub fn edge_time_after(&self, n: usize, edge: &Compute) -> f64 {
        self.layers[n..].iter().map(|l| edge.layer_s(l)).sum()
    }

    /// Bits to download to place layer `n` (1-based) on the device.
    pub fn param_bits(&self, n: usize) -> f64 {
        self.layers[n - 1].params * self.bits_per_value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mlp_table_and_costs() {
        let t = LayerTable::equal_width_mlp(3, 784, 100);
        assert_eq!(t.layers[0].macs, 78_400.0);
        assert_eq!(t.layers[1].macs, 10_000.0);
        assert_eq!(t.offload_bits(0), 784.0 * 32.0);
        assert_eq!(t.offload_bits(2), 3200.0);
        let dev = Compute::throughput(1e6, 2.0);
        let (time, energy) = t.device_cost(2, &dev);
        assert!((time - 0.01).abs() < 1e-12 && (energy - 0.02).abs() < 1e-12);
        assert!((t.edge_time_after(1, &dev) - 0.02).abs() < 1e-12);
        assert_eq!(t.param_bits(2), (10_000.0 + 100.0) * 32.0);
        // DVFS: 1e6 MACs at 1 GHz, 2 cycles per MAC, κ = 1e-28: E = κ·f²·cycles = 0.2 mJ.
        let dvfs = Compute::dvfs(1e-28, 1e9, 2.0);
        let table = LayerTable {
            input_values: 1.0,
            bits_per_value: 32.0,
            layers: vec![Layer::new(1e6, 1.0, 0.0)],
        };
        let (time, energy) = table.device_cost(1, &dvfs);
        assert!((time - 2e-3).abs() < 1e-15);
        assert!((energy - 1e-28 * 1e18 * 2e6).abs() < 1e-15);
    }
}
