//! The split options of a model — edge-only, each cut, device-only — as work for the cost
//! model, from a layer table and the hardware on each side.

use crate::cost_model::{predict, Link, Prediction, Work};
use crate::layer_cost::{LayerCost, LayerTimesError};
use crate::layers::LayerTable;
/// Where a model is split.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SplitChoice {
    /// Everything on the device; only the result stays local.
    DeviceOnly,
    /// Send the raw input; everything on the edge.
    EdgeOnly,
    /// Head on the device, tail on the edge, at cut `index` (tensor `tensor`).
    Cut {
        /// Index in the model's cut list.
        index: usize,
        /// Tensor name.
        tensor: String,
    },
}

impl std::fmt::Display for SplitChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitChoice::DeviceOnly => f.write_str("device-only"),
            SplitChoice::EdgeOnly => f.write_str("edge-only"),
            SplitChoice::Cut { index, tensor } => write!(f, "cut {index} ({tensor})"),
        }
    }
}

/// One split option and the work it puts on each side (independent of the link).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitOption {
    /// Which split.
    pub choice: SplitChoice,
    /// Device compute, payload sent and edge compute.
    pub work: Work,
}

/// A split option on a link: the cost model's prediction.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SplitLatency {
    /// The option evaluated.
    pub option: SplitOption,
    /// Its latency parts and device energy.
    pub prediction: Prediction,
}

impl SplitLatency {
    /// This option as the plan of device `device_id` running `model` (defaults otherwise:
    /// raw float32 features, no shares).
    pub fn device_plan(
        &self,
        device_id: impl Into<String>,
        model: impl Into<String>,
    ) -> crate::plan::DevicePlan {
        crate::plan::DevicePlan::new(device_id, model, self.option.choice.clone())
    }
}

impl SplitOption {
    /// The cost model's prediction on `link`.
    pub fn latency(&self, link: &Link) -> SplitLatency {
        SplitLatency { option: self.clone(), prediction: predict(&self.work, link) }
    }
}

/// Every split option of `table` (edge-only, a cut after each layer but the last, named by
/// `cut_tensors`, device-only) with the head on `device` and the tail on `edge`. Payloads are
/// the raw values at the split (`bits_per_value` each). Errors if a measured table does not
/// cover the model's layers or the cut names do not match them.
pub fn split_options(
    table: &LayerTable,
    cut_tensors: &[String],
    device: &dyn LayerCost,
    edge: &dyn LayerCost,
) -> Result<Vec<SplitOption>, LayerTimesError> {
    let n = table.layers.len();
    for (cost, side) in [(device, "device"), (edge, "edge")] {
        if let Some(got) = cost.layers().filter(|&got| got != n) {
            return Err(LayerTimesError::Length { name: side.into(), got, want: n });
        }
    }
    if cut_tensors.len() + 1 != n {
        return Err(LayerTimesError::Parse(format!(
            "{} cut names for {n} layers (one cut between each pair)",
            cut_tensors.len()
        )));
    }
    let power = device.power_w();
    let bytes = |p: usize| table.offload_bits(p) / 8.0;
    let mut options = vec![SplitOption {
        choice: SplitChoice::EdgeOnly,
        work: Work::split(0.0, power, bytes(0), edge.run_s(table, 0..n)),
    }];
    options.extend(cut_tensors.iter().enumerate().map(|(index, tensor)| {
        let p = index + 1;
        SplitOption {
            choice: SplitChoice::Cut { index, tensor: tensor.clone() },
            work: Work::split(device.run_s(table, 0..p), power, bytes(p), edge.run_s(table, p..n)),
        }
    }));
    options.push(SplitOption {
        choice: SplitChoice::DeviceOnly,
        work: Work::local(device.run_s(table, 0..n), power),
    });
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Compute, Layer};

    #[test]
    fn options_cover_both_ends_and_heads_plus_tails_cover_the_model() {
        let table = LayerTable {
            input_values: 784.0,
            bits_per_value: 32.0,
            layers: vec![Layer::new(1e6, 100.0, 10.0), Layer::new(2e6, 10.0, 10.0)],
        };
        let dev = Compute { op_overhead_s: 1e-4, ..Compute::throughput(1e8, 2.0) };
        let edge = Compute::throughput(1e10, 70.0);
        let opts = split_options(&table, &["a".into()], &dev, &edge).expect("options");
        assert_eq!(opts.len(), 3);
        assert_eq!(opts[0].choice, SplitChoice::EdgeOnly);
        assert_eq!(opts[0].work.upload_bytes, Some(784.0 * 4.0));
        assert_eq!(opts[1].work.upload_bytes, Some(400.0));
        assert!((opts[1].work.device_s - (0.01 + 1e-4)).abs() < 1e-15);
        assert_eq!(opts[2].choice, SplitChoice::DeviceOnly);
        assert!(opts[2].work.device_s >= opts[1].work.device_s);
        let link = Link::simple(1e6, 0.005);
        assert_eq!(opts[2].latency(&link).prediction.total_s, opts[2].work.device_s);
        assert!(split_options(&table, &[], &dev, &edge).is_err());
    }
}
