//! Layer tables: a DNN as a chain of layers (or of segments between valid cut points), with
//! the per-layer device and edge costs of the shared cost model.

use crate::profiles::HardwareProfile;

/// One layer (or segment) of a chain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Layer {
    /// Multiply–accumulates per inference.
    pub macs: f64,
    /// Values in its output (the feature sent if the split is after it).
    pub output_values: f64,
    /// Parameters (downloaded when the layer is placed on the device).
    pub params: f64,
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

    /// Cost of offloading `bits` at `rate_bps` with transmit power `tx_power_w`, then
    /// `edge_time_s` of edge compute: `(w_E·P + w_T)·bits/rate + w_T·τ` (the device waits for
    /// the edge; only its radio spends energy).
    pub fn offload_cost(&self, bits: f64, rate_bps: f64, tx_power_w: f64, edge_time_s: f64) -> f64 {
        let tx = if bits > 0.0 { bits / rate_bps } else { 0.0 };
        self.cost(tx + edge_time_s, tx_power_w * tx)
    }
}

/// A compute resource for the cost model: throughput and power.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Compute {
    /// Effective throughput (MAC/s).
    pub macs_per_s: f64,
    /// Power while computing (W).
    pub power_w: f64,
}

impl Compute {
    /// A DVFS processor at clock `freq_hz` with effective switched capacitance `kappa` taking
    /// `cycles_per_mac` cycles per MAC: energy `κ·f²` per cycle, so time per MAC
    /// `cycles/f` and power `κ·f³` (energy of `n` MACs = `κ·f²·cycles·n`).
    pub fn dvfs(kappa: f64, freq_hz: f64, cycles_per_mac: f64) -> Compute {
        Compute { macs_per_s: freq_hz / cycles_per_mac, power_w: kappa * freq_hz.powi(3) }
    }
}

impl From<&HardwareProfile> for Compute {
    fn from(p: &HardwareProfile) -> Self {
        Compute { macs_per_s: p.gmacs() * 1e9, power_w: p.power_w }
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
                let l = Layer { macs: prev * w, output_values: w, params: prev * w + w };
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

    /// Device time (s) and energy (J) of layer `n` (1-based): `macs / throughput`, `power × time`.
    pub fn device_cost(&self, n: usize, device: &Compute) -> (f64, f64) {
        let t = self.layers[n - 1].macs / device.macs_per_s;
        (t, t * device.power_w)
    }

    /// Edge time (s) of layers `n + 1..=N`.
    pub fn edge_time_after(&self, n: usize, edge: &Compute) -> f64 {
        self.layers[n..].iter().map(|l| l.macs).sum::<f64>() / edge.macs_per_s
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
        let dev = Compute { macs_per_s: 1e6, power_w: 2.0 };
        let (time, energy) = t.device_cost(2, &dev);
        assert!((time - 0.01).abs() < 1e-12 && (energy - 0.02).abs() < 1e-12);
        assert!((t.edge_time_after(1, &dev) - 0.02).abs() < 1e-12);
        assert_eq!(t.param_bits(2), (10_000.0 + 100.0) * 32.0);
        // DVFS: 1e6 MACs at 1 GHz, 2 cycles per MAC, κ = 1e-28: E = κ·f²·cycles = 0.2 mJ.
        let dvfs = Compute::dvfs(1e-28, 1e9, 2.0);
        let table = LayerTable {
            input_values: 1.0,
            bits_per_value: 32.0,
            layers: vec![Layer { macs: 1e6, output_values: 1.0, params: 0.0 }],
        };
        let (time, energy) = table.device_cost(1, &dvfs);
        assert!((time - 2e-3).abs() < 1e-15);
        assert!((energy - 1e-28 * 1e18 * 2e6).abs() < 1e-15);
    }
}
