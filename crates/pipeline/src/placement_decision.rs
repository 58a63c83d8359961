//! Seed 002's slow time scale on a device: from what the edge advertises about a published
//! version (its heads' sizes, MACs and features) and the device's configuration, the layers
//! `K` to place, the download cost `Ω(K)`, and the plan that splits online over them.

use coinfer_compress::Codec;
use coinfer_policy::placement::{enumerate_placement, PlacementCost};
use coinfer_policy::stopping::{backward_induction, StoppingProblem};
use coinfer_policy::stopping_config::{problem_from_table, StoppingConfig};
use coinfer_runtime::proto::VersionInfo;
use coinfer_sim::{DevicePlan, Layer, LayerTable, SplitChoice, Transport};

use crate::error::{PipelineError, Result};
use crate::stopping_study::online_rule;

fn invalid(m: impl Into<String>) -> PipelineError {
    PipelineError::Invalid(m.into())
}

/// A version's layer table from its advertised heads (layer `k`: the MACs and bytes head `k`
/// adds, the feature at its end; 32-bit values, so a layer's parameter bits are its bytes × 8).
pub fn version_table(v: &VersionInfo) -> LayerTable {
    let values = |s: &[u32]| s.iter().map(|&d| f64::from(d)).product::<f64>();
    let mut layers = Vec::with_capacity(v.heads.len());
    let (mut macs, mut bytes) = (0u64, 0u64);
    for h in &v.heads {
        layers.push(Layer::new(
            h.macs.saturating_sub(macs) as f64,
            values(&h.output_shape),
            h.bytes.saturating_sub(bytes) as f64 / 4.0,
        ));
        (macs, bytes) = (h.macs, h.bytes);
    }
    LayerTable { input_values: values(&v.input_shape), bits_per_value: 32.0, layers }
}

/// Download cost `Ω(K)` for `K = 0..=N`: `(w_T + w_E·P_rx)` × the head's transfer time.
pub fn omega(cfg: &StoppingConfig, v: &VersionInfo) -> Vec<f64> {
    let w = cfg.weights.time + cfg.weights.energy * cfg.placement.rx_power_w;
    std::iter::once(0.0).chain(v.heads.iter().map(|h| w * download_s(cfg, h.bytes))).collect()
}

/// The placement model's download time of `bytes` (s): the bytes at the download rate.
pub fn download_s(cfg: &StoppingConfig, bytes: u64) -> f64 {
    bytes as f64 * 8.0 / cfg.placement.download_rate_bps
}

/// `base`'s device and model, placing `K` layers of `version` and splitting online with gain
/// thresholds `eta` per stage (raw float32 features, as the cost model counts them); `K = 0`
/// sends the input.
pub fn online_plan(
    base: &DevicePlan,
    version: &str,
    k: usize,
    eta: &[f64],
    p: &StoppingProblem,
) -> DevicePlan {
    let n = p.layers();
    let mut plan = DevicePlan::new(&base.device_id, &base.model, SplitChoice::EdgeOnly);
    plan.version = version.into();
    plan.deadline_ms = base.deadline_ms;
    if k == 0 {
        return plan;
    }
    plan.codec = Codec::RawF32;
    let mut thresholds = eta.to_vec();
    thresholds.truncate(k + 1);
    plan.online = Some(online_rule(&thresholds, n, &p.radio));
    plan
}

/// The problem of a version on the configured device and edge, over `transport`.
pub fn version_problem(
    cfg: &StoppingConfig,
    info: &VersionInfo,
    transport: &Transport,
) -> Result<StoppingProblem> {
    let table = version_table(info);
    let device = cfg.device.compute().map_err(|e| invalid(format!("[device] {e}")))?;
    let edge = cfg.edge.compute().map_err(|e| invalid(format!("[edge] {e}")))?;
    problem_from_table(&table, &device, &edge, (cfg.radio, transport.clone()), cfg.weights)
        .map_err(|e| invalid(e.to_string()))
}

/// The configured device's time for each layer of a version (layer `k` at index `k − 1`):
/// what a testbed emulates ([`coinfer_runtime::device::DeviceOptions::emulated_layers`]).
pub fn layer_times(cfg: &StoppingConfig, info: &VersionInfo) -> Result<Vec<std::time::Duration>> {
    let table = version_table(info);
    let device = cfg.device.compute().map_err(|e| invalid(format!("[device] {e}")))?;
    Ok((1..=table.layers.len())
        .map(|k| std::time::Duration::from_secs_f64(table.device_cost(k, &device).0))
        .collect())
}

/// A request's cost from what the runtime measured: `w_T·e2e + w_E·(P_dev·device compute
/// time + P_tx·upload time)`, the upload time being the request's wire bytes (`framing`) at
/// `rate_bps`, the uplink rate it saw (no upload energy when the rate is unknown).
pub fn measured_cost(
    r: &coinfer_runtime::device::Record,
    weights: &coinfer_policy::stopping::CostWeights,
    (device_power_w, tx_power_w): (f64, f64),
    framing: &coinfer_sim::Framing,
    rate_bps: Option<f64>,
) -> f64 {
    let up_s = match rate_bps {
        Some(rate) if r.frame_bytes > 0 && rate > 0.0 => {
            framing.request_wire_bytes(r.frame_bytes as f64) * 8.0 / rate
        }
        _ => 0.0,
    };
    let device_s = (r.head_ms + r.local_ms) / 1e3;
    weights.cost(r.e2e_ms / 1e3, device_power_w * device_s + tx_power_w * up_s)
}

/// A placement decided by seed 002's rules for an i.i.d. channel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decision {
    /// Layers placed `K*`.
    pub k: usize,
    /// `Ω(K) + Q·J(K)` for every `K`.
    pub costs: Vec<PlacementCost>,
    /// The optimal stopping rule's gain thresholds at horizon `K*`.
    pub thresholds: Vec<f64>,
}

/// `K*` by enumeration (the configured channel, i.i.d. across layers; `Q` the configured
/// inferences per period; `Ω` from the advertised head sizes) and the optimal rule there.
pub fn decide(cfg: &StoppingConfig, info: &VersionInfo, p: &StoppingProblem) -> Result<Decision> {
    let channel = cfg.channel.build(&cfg.radio).map_err(|e| invalid(e.to_string()))?;
    let omega = omega(cfg, info);
    let per_layer: Vec<f64> = omega.windows(2).map(|w| w[1] - w[0]).collect();
    let (costs, best) =
        enumerate_placement(p, channel.as_ref(), &per_layer, cfg.placement.inferences_per_period);
    let thresholds = backward_induction(p, channel.as_ref(), best.k).rule.thresholds;
    Ok(Decision { k: best.k, costs, thresholds })
}
