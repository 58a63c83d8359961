//! Scoring a [`Plan`]: every device's predicted latency and energy under the one cost model.

use crate::cost_model::{predict, Link, Prediction, Work};
use crate::layer_cost::LayerCost;
use crate::layers::LayerTable;
use crate::plan::{Plan, PlanError};
use crate::split_options::SplitChoice;
use crate::split_point::SplitPoint;

/// What one device of a plan runs on: its model's layer table, its hardware, its link.
pub struct DeviceContext<'a> {
    /// The layer table of the device's model (version).
    pub table: &'a LayerTable,
    /// The device's hardware.
    pub device: &'a dyn LayerCost,
    /// Its link to the edge (a bandwidth share caps the uplink rate at the granted rate).
    pub link: Link,
    /// Bytes the device sends at its split (its codec's frame); `None`: the table's values
    /// at its bits per value.
    pub upload_bytes: Option<f64>,
}

/// Predicts every device of `plan` (`contexts[i]` for `plan.devices[i]`) with the tails on
/// `edge`. Devices that offload share the edge by their compute shares (processor sharing,
/// all busy: device `i` gets `compute_share_i / Σ compute_share` of it); a bandwidth share
/// caps the device's uplink at [`Plan::granted_bps`]. Online rules are scored at the plan's
/// fixed split.
pub fn score_plan(
    plan: &Plan,
    edge: &dyn LayerCost,
    contexts: &[DeviceContext<'_>],
) -> Result<Vec<Prediction>, PlanError> {
    plan.validate()?;
    if contexts.len() != plan.devices.len() {
        return Err(PlanError::Invalid {
            device: "*".into(),
            why: format!("{} contexts for {} devices", contexts.len(), plan.devices.len()),
        });
    }
    let offloads = |s: &SplitChoice| !matches!(s, SplitChoice::DeviceOnly);
    let weights: f64 =
        plan.devices.iter().filter(|d| offloads(&d.split)).map(|d| d.compute_share).sum();
    plan.devices
        .iter()
        .zip(contexts)
        .map(|(d, c)| {
            let n = c.table.layers.len();
            let n_cuts = n.saturating_sub(1);
            let p = SplitPoint::from(&d.split).partition(n_cuts);
            if p > n || (p == n && !matches!(d.split, SplitChoice::DeviceOnly)) {
                return Err(PlanError::Invalid {
                    device: d.device_id.clone(),
                    why: format!("{} of a model with {n_cuts} cuts", d.split),
                });
            }
            let device_s = c.device.run_s(c.table, 0..p);
            let work = if p == n {
                Work::local(device_s, c.device.power_w())
            } else {
                let fraction = d.compute_share / weights;
                let edge_s = edge.run_s(c.table, p..n) / fraction;
                let bytes = c.upload_bytes.unwrap_or_else(|| c.table.offload_bits(p) / 8.0);
                Work::split(device_s, c.device.power_w(), bytes, edge_s)
            };
            let granted = plan.granted_bps(d);
            let mut link = c.link.clone();
            if granted > 0.0 {
                link.up_bps = link.up_bps.min(granted);
            }
            Ok(predict(&work, &link))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::{Compute, Layer};
    use crate::plan::DevicePlan;

    #[test]
    fn shares_divide_the_edge_and_cap_the_uplink_and_bad_cuts_are_refused() {
        let table = LayerTable {
            input_values: 1000.0,
            bits_per_value: 32.0,
            layers: vec![Layer::new(1e6, 100.0, 0.0), Layer::new(1e6, 10.0, 0.0)],
        };
        let device = Compute::throughput(1e8, 1.0);
        let edge = Compute::throughput(1e9, 70.0);
        let link = Link::simple(1e6, 0.0);
        let mut a = DevicePlan::new("a", "m", SplitChoice::Cut { index: 0, tensor: "x".into() });
        a.compute_share = 3.0;
        a.bandwidth_share = 0.5;
        let b = DevicePlan::new("b", "m", SplitChoice::EdgeOnly);
        let plan = Plan { note: String::new(), uplink_capacity_bps: 1e6, devices: vec![a, b] };
        let ctx = || DeviceContext {
            table: &table,
            device: &device,
            link: link.clone(),
            upload_bytes: None,
        };
        let p = score_plan(&plan, &edge, &[ctx(), ctx()]).expect("valid");
        // a: 3/4 of the edge for its 1 M MAC tail; 400 B at the granted 0.5 Mbit/s.
        assert!((p[0].edge_s - 1e-3 / 0.75).abs() < 1e-15);
        assert!((p[0].uplink_s - 400.0 * 8.0 / 5e5).abs() < 1e-15);
        // b: 1/4 of the edge for both layers, its full link rate.
        assert!((p[1].edge_s - 2e-3 / 0.25).abs() < 1e-15);
        assert!((p[1].uplink_s - 4000.0 * 8.0 / 1e6).abs() < 1e-15);
        let mut bad = plan.clone();
        bad.devices[0].split = SplitChoice::Cut { index: 1, tensor: String::new() };
        let err = score_plan(&bad, &edge, &[ctx(), ctx()]).unwrap_err().to_string();
        assert!(err.contains("1 cuts"), "{err}");
        assert!(score_plan(&plan, &edge, &[ctx()]).is_err());
    }
}
