//! A plan's predicted latency and energy, device by device, for the models it names: each
//! device's model (or version) loaded from the model directory at its plan's input shape, as
//! the simulator's layer table, its split checked against the model's cuts, the bytes it
//! sends from its codec, scored by the one cost model ([`coinfer_sim::score_plan`]).

use std::collections::BTreeMap;
use std::path::Path;

use coinfer_graph::{Graph, InputShapes};
use coinfer_sim::{
    score_plan, DeviceContext, Hardware, LayerTable, Link, Plan, Prediction, SplitChoice,
};

use crate::error::{PipelineError, Result};
use crate::layers::layer_table;

/// Where a plan runs: the model directory, the hardware and the links.
#[derive(Debug, Clone)]
pub struct PlanSetting<'a> {
    /// The model directory the plan's model names resolve in
    /// ([`coinfer_sim::DevicePlan::model_path`]).
    pub models: &'a Path,
    /// Hardware of every device not named in `devices`.
    pub device: Hardware,
    /// Hardware of particular devices, by device id.
    pub devices: BTreeMap<String, Hardware>,
    /// The edge's hardware.
    pub edge: Hardware,
    /// Every device's link (a bandwidth share caps its rate at the granted rate).
    pub link: Link,
}

/// One device's prediction.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DevicePrediction {
    /// The device.
    pub device_id: String,
    /// The model file it runs.
    pub model_file: String,
    /// Its split.
    pub split: SplitChoice,
    /// Bytes of one request's payload (the codec's frame; for entropy-coded codecs an upper
    /// bound: the values at the codec's bits before coding, plus the frame header); 0 when
    /// nothing is sent.
    pub payload_bytes: f64,
    /// The cost model's answer (latency parts in s, bytes, device energy in J).
    pub prediction: Prediction,
}

/// Predicts every device of `plan` in `setting`: the plan must validate, every model must
/// load at the plan's input shape, and every split must be one of its model's cuts (index
/// and, when given, tensor name).
pub fn predict_plan(plan: &Plan, setting: &PlanSetting<'_>) -> Result<Vec<DevicePrediction>> {
    predict_plan_sending(plan, setting, &[])
}

/// [`predict_plan`] with the bytes device `i` sends measured rather than bounded:
/// `sent[i] = Some(bytes)` replaces its codec's bound (e.g. an entropy coder's frames measured
/// on images); devices past `sent`'s end, or `None`, keep the bound.
pub fn predict_plan_sending(
    plan: &Plan,
    setting: &PlanSetting<'_>,
    sent: &[Option<f64>],
) -> Result<Vec<DevicePrediction>> {
    plan.validate().map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let invalid =
        |device: &str, why: String| PipelineError::Invalid(format!("device `{device}`: {why}"));
    // Models shared by several devices are analysed once.
    type Key = (std::path::PathBuf, BTreeMap<String, Vec<usize>>);
    let mut graphs: BTreeMap<Key, (Graph, LayerTable)> = BTreeMap::new();
    // Each device's key into `graphs` and payload bytes, in plan order.
    let mut keys = Vec::with_capacity(plan.devices.len());
    let mut payloads = Vec::with_capacity(plan.devices.len());
    for d in &plan.devices {
        let path = d.model_path(setting.models);
        let shapes = InputShapes(d.input_shape.clone());
        let key = (path.clone(), d.input_shape.clone());
        if !graphs.contains_key(&key) {
            let g = Graph::load_with(&path, &shapes)
                .map_err(|e| invalid(&d.device_id, format!("{}: {e}", path.display())))?;
            let table = layer_table(&g);
            graphs.insert(key.clone(), (g, table));
        }
        let (g, _) = &graphs[&key];
        keys.push(key);
        let shape: Vec<usize> = match &d.split {
            SplitChoice::DeviceOnly => {
                payloads.push(0.0);
                continue;
            }
            SplitChoice::EdgeOnly => g
                .inputs
                .first()
                .and_then(|i| g.input_shapes.get(i))
                .map(|s| s.to_vec())
                .unwrap_or_default(),
            SplitChoice::Cut { index, tensor } => {
                let cuts = g.cut_points();
                let cut = cuts.get(*index).ok_or_else(|| {
                    invalid(
                        &d.device_id,
                        format!("cut {index} of a model with {} cuts", cuts.len()),
                    )
                })?;
                if !tensor.is_empty() && cut.tensor != *tensor {
                    return Err(invalid(
                        &d.device_id,
                        format!(
                            "cut {index} of {} is `{}`, not `{tensor}`",
                            path.display(),
                            cut.tensor
                        ),
                    ));
                }
                cut.shape.clone()
            }
        };
        let i = payloads.len();
        payloads
            .push(sent.get(i).copied().flatten().unwrap_or_else(|| frame_bytes(&d.codec, &shape)));
    }
    let hardware = |id: &str| setting.devices.get(id).unwrap_or(&setting.device);
    let contexts: Vec<DeviceContext<'_>> = plan
        .devices
        .iter()
        .zip(keys.iter().zip(&payloads))
        .map(|(d, (key, bytes))| DeviceContext {
            table: &graphs[key].1,
            device: hardware(&d.device_id),
            link: setting.link.clone(),
            upload_bytes: Some(*bytes),
        })
        .collect();
    let predictions = score_plan(plan, &setting.edge, &contexts)
        .map_err(|e| PipelineError::Invalid(e.to_string()))?;
    Ok(plan
        .devices
        .iter()
        .zip(keys.iter().zip(payloads))
        .zip(predictions)
        .map(|((d, (key, payload_bytes)), prediction)| DevicePrediction {
            device_id: d.device_id.clone(),
            model_file: key.0.display().to_string(),
            split: d.split.clone(),
            payload_bytes,
            prediction,
        })
        .collect())
}

/// Bytes of one frame of `codec` for a tensor of `shape` (batch first): the values at the
/// codec's bits, packed, plus its frame overhead.
fn frame_bytes(codec: &coinfer_compress::Codec, shape: &[usize]) -> f64 {
    use coinfer_compress::Codec;
    let values: usize = shape.iter().product();
    let bits = match codec {
        Codec::RawF32 => 32.0,
        Codec::RawF16 => 16.0,
        Codec::Uniform { bits, .. }
        | Codec::UniformAns { bits, .. }
        | Codec::UniformAnsStatic { bits, .. } => f64::from(*bits),
    };
    (values as f64 * bits / 8.0).ceil() + codec.frame_overhead(shape) as f64
}
