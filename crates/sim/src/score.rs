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
                Work::split(device_s, c.device.power_w(), c.table.offload_bits(p) / 8.0, edge_s)
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
