//! The deployment plan: what every device runs and how the edge is shared among devices.
//!
//! One type for the simulator, the policies and the runtime: a policy writes a plan, the
//! simulator scores it, `coinfer device run --plan` executes it and the edge applies its
//! shares, so predicted and measured numbers refer to the same decisions.

use coinfer_compress::Codec;

use crate::split_options::SplitChoice;

/// A plan for one edge server and the devices it serves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Who made it and why (free text).
    #[serde(default)]
    pub note: String,
    /// Uplink capacity of the edge (bit/s) that bandwidth shares divide; 0 = unlimited.
    #[serde(default)]
    pub uplink_capacity_bps: f64,
    /// One entry per device.
    pub devices: Vec<DevicePlan>,
}

/// What one device runs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePlan {
    /// Device identity, unique in the plan.
    pub device_id: String,
    /// Model name: `<model>.onnx` in the model directory of device and edge (a pruned model
    /// is a model of its own).
    pub model: String,
    /// Model version (`<model>/<version>.onnx`); empty for the model itself.
    #[serde(default)]
    pub version: String,
    /// Concrete input shapes (input name → dims, batch first) for a model whose inputs have
    /// symbolic dims besides the batch; device and edge analyse and split it at this shape.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub input_shape: std::collections::BTreeMap<String, Vec<usize>>,
    /// Where the model is split.
    pub split: SplitChoice,
    /// How the head was pruned, for the record (the model file is already pruned).
    #[serde(default)]
    pub pruning: Option<String>,
    /// How the feature is encoded on the wire.
    #[serde(default = "raw_f32")]
    pub codec: Codec,
    /// For codecs agreed out of band (`UniformAnsStatic`): the codec's name in the edge's
    /// model directory (`<name>.json`), sent with every request.
    #[serde(default)]
    pub codec_name: Option<String>,
    /// Weight of this device in the edge's fair scheduling of tail compute (> 0).
    #[serde(default = "one")]
    pub compute_share: f64,
    /// Fraction of the edge's uplink capacity granted to this device (0..=1; 0 = unlimited).
    #[serde(default)]
    pub bandwidth_share: f64,
    /// Time budget per request (ms) after which the device stops waiting for the edge and
    /// finishes locally; 0 = no deadline.
    #[serde(default)]
    pub deadline_ms: u32,
    /// Online splitting: decide the cut per request from the observed link rate.
    #[serde(default)]
    pub online: Option<OnlineSplit>,
}

/// An online splitting rule in runtime form: after stage `n` (0 = the input, then each
/// candidate cut in order), offload iff the observed uplink rate is at least
/// `min_rate_bps[n]`; after the last stage the device finishes locally.
///
/// Thresholds on the rate rather than the channel gain: the rate is what a device observes,
/// and the two are one monotone map apart (`Radio::rate_bps`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OnlineSplit {
    /// Candidate cut indices, increasing (stage `n ≥ 1` is `cuts[n − 1]`).
    pub cuts: Vec<usize>,
    /// One threshold per stage (`cuts.len() + 1` entries); `inf` = never offload there.
    pub min_rate_bps: Vec<f64>,
}

impl DevicePlan {
    /// A device running `model` split at `split`, with the defaults: raw float32 features,
    /// compute share 1, no bandwidth share, no deadline, no online rule.
    pub fn new(device_id: impl Into<String>, model: impl Into<String>, split: SplitChoice) -> Self {
        DevicePlan {
            device_id: device_id.into(),
            model: model.into(),
            version: String::new(),
            input_shape: Default::default(),
            split,
            pruning: None,
            codec: raw_f32(),
            codec_name: None,
            compute_share: 1.0,
            bandwidth_share: 0.0,
            deadline_ms: 0,
            online: None,
        }
    }
}

impl DevicePlan {
    /// The model file this device runs, in model directory `dir`: `<model>.onnx`, or
    /// `<model>/<version>.onnx` for a version (the layout `edge serve --models` reads).
    pub fn model_path(&self, dir: &std::path::Path) -> std::path::PathBuf {
        if self.version.is_empty() {
            dir.join(format!("{}.onnx", self.model))
        } else {
            dir.join(&self.model).join(format!("{}.onnx", self.version))
        }
    }

    /// A warning when this device's deadline cannot survive one lost packet: an offloading
    /// plan whose `deadline_ms` is not above the link's retransmission timeout `rto_ms` plus
    /// the request's expected time `expected_ms` sends every request that loses a packet to
    /// local fallback (with Linux's minimum RTO of 200 ms, a 200 ms deadline and 1 % loss
    /// sent 36 % of requests there). `None` when it can, or there is no deadline.
    pub fn deadline_warning(&self, rto_ms: f64, expected_ms: f64) -> Option<String> {
        let offloads = !matches!(self.split, SplitChoice::DeviceOnly);
        let needed = rto_ms + expected_ms;
        (offloads && self.deadline_ms > 0 && f64::from(self.deadline_ms) <= needed).then(|| {
            format!(
                "device `{}`: deadline {} ms is not above the link's retransmission timeout \
                 ({rto_ms:.0} ms) plus the request's expected {expected_ms:.1} ms: a request \
                 that loses one packet misses it and finishes locally; give deadline_ms > \
                 {:.0}",
                self.device_id,
                self.deadline_ms,
                needed.ceil()
            )
        })
    }
}

fn raw_f32() -> Codec {
    Codec::RawF32
}

fn one() -> f64 {
    1.0
}

/// Why a plan is unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The JSON does not parse as a plan.
    #[error("plan JSON: {0}")]
    Json(String),
    /// A field has a value outside its range.
    #[error("device `{device}`: {why}")]
    Invalid {
        /// The device entry.
        device: String,
        /// What is wrong.
        why: String,
    },
}

impl Plan {
    /// Parses and validates a plan.
    pub fn from_json(text: &str) -> Result<Plan, PlanError> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| PlanError::Json(e.to_string()))?;
        plan.validate()?;
        Ok(plan)
    }

    /// Checks shares, names and online rules; device ids must be unique.
    pub fn validate(&self) -> Result<(), PlanError> {
        let mut seen = std::collections::HashSet::new();
        for d in &self.devices {
            let bad = |why: String| PlanError::Invalid { device: d.device_id.clone(), why };
            if d.device_id.is_empty() || !seen.insert(d.device_id.as_str()) {
                return Err(bad("device ids must be non-empty and unique".into()));
            }
            if d.model.is_empty() {
                return Err(bad("`model` is empty".into()));
            }
            if !(d.compute_share.is_finite() && d.compute_share > 0.0) {
                return Err(bad(format!("compute_share {} must be > 0", d.compute_share)));
            }
            if !(0.0..=1.0).contains(&d.bandwidth_share) {
                return Err(bad(format!("bandwidth_share {} must be in 0..=1", d.bandwidth_share)));
            }
            if let Some(o) = &d.online {
                if o.min_rate_bps.len() != o.cuts.len() + 1 {
                    return Err(bad(format!(
                        "online: {} cuts need {} thresholds, got {}",
                        o.cuts.len(),
                        o.cuts.len() + 1,
                        o.min_rate_bps.len()
                    )));
                }
                if o.cuts.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(bad("online: cuts must be strictly increasing".into()));
                }
                if o.min_rate_bps.iter().any(|r| r.is_nan() || *r < 0.0) {
                    return Err(bad("online: thresholds must be ≥ 0 (inf = never)".into()));
                }
            }
        }
        let total: f64 = self.devices.iter().map(|d| d.bandwidth_share).sum();
        if total > 1.0 + 1e-9 {
            return Err(PlanError::Invalid {
                device: "*".into(),
                why: format!("bandwidth shares sum to {total:.3} > 1"),
            });
        }
        Ok(())
    }

    /// Uplink rate granted to `device` (bit/s); 0 = unlimited.
    pub fn granted_bps(&self, device: &DevicePlan) -> f64 {
        if self.uplink_capacity_bps > 0.0 && device.bandwidth_share > 0.0 {
            self.uplink_capacity_bps * device.bandwidth_share
        } else {
            0.0
        }
    }

    /// The plan entry of `device_id`.
    pub fn device(&self, device_id: &str) -> Option<&DevicePlan> {
        self.devices.iter().find(|d| d.device_id == device_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> &'static str {
        r#"{"uplink_capacity_bps": 1e7, "devices": [
            {"device_id": "cam-1", "model": "fmnist-resnet", "split": {"kind": "cut", "index": 4, "tensor": "x"},
             "codec": {"Uniform": {"bits": 8, "range": {"PerTensor": {"lo": 0.0, "hi": 4.0}}}},
             "compute_share": 2.0, "bandwidth_share": 0.5},
            {"device_id": "cam-2", "model": "fmnist-resnet", "split": {"kind": "edge-only"},
             "online": {"cuts": [2, 9], "min_rate_bps": [5e7, 1e7, 0.0]}}
        ]}"#
    }

    #[test]
    fn a_deadline_within_one_retransmission_timeout_is_flagged() {
        let mut d = DevicePlan::new("cam", "m", SplitChoice::EdgeOnly);
        assert_eq!(d.deadline_warning(200.0, 3.0), None, "no deadline, nothing to miss");
        d.deadline_ms = 200;
        let w = d.deadline_warning(200.0, 3.0).expect("200 ≤ 200 + 3");
        assert!(w.contains("deadline_ms > 203"), "{w}");
        d.deadline_ms = 250;
        assert_eq!(d.deadline_warning(200.0, 3.0), None);
        assert!(d.deadline_warning(200.0, 60.0).is_some(), "the expected time counts too");
        d.split = SplitChoice::DeviceOnly;
        assert_eq!(d.deadline_warning(200.0, 60.0), None, "nothing crosses the link");
    }

    #[test]
    fn parses_with_defaults_and_round_trips() {
        let plan = Plan::from_json(sample()).expect("valid plan");
        assert_eq!(plan.devices[1].codec, Codec::RawF32);
        assert_eq!(plan.devices[1].compute_share, 1.0);
        assert_eq!(plan.granted_bps(&plan.devices[0]), 5e6);
        assert_eq!(plan.granted_bps(&plan.devices[1]), 0.0);
        let back =
            Plan::from_json(&serde_json::to_string(&plan).expect("serialise")).expect("again");
        assert_eq!(back, plan);
    }

    #[test]
    fn rejects_bad_shares_and_rules() {
        let dup = sample().replace("cam-2", "cam-1");
        assert!(Plan::from_json(&dup).unwrap_err().to_string().contains("unique"));
        let shares = sample().replace("\"bandwidth_share\": 0.5", "\"bandwidth_share\": 1.5");
        assert!(Plan::from_json(&shares).unwrap_err().to_string().contains("bandwidth_share"));
        let rule = sample().replace("[5e7, 1e7, 0.0]", "[5e7, 0.0]");
        assert!(Plan::from_json(&rule).unwrap_err().to_string().contains("thresholds"));
        assert!(matches!(Plan::from_json("{"), Err(PlanError::Json(_))));
    }
}
