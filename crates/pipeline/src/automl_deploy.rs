//! An AutoML result as a deployment: the pruned model as `<name>.onnx` (device and edge both
//! split it at the plan's cut), its halves as `device.onnx` (pruned head, encoder) and
//! `edge.onnx` (decoder, tail) for inspection, the out-of-band feature codec as
//! `<name>-codec.json`, and `plan.json`, runnable as is by `coinfer edge serve --models DIR`
//! and `coinfer device run --plan DIR/plan.json`.

use std::path::{Path, PathBuf};

use coinfer_graph::save_model;
use coinfer_sim::{DevicePlan, Plan, SplitChoice};

use crate::automl_proxy::Realised;
use crate::error::{PipelineError, Result};

/// The files a deployment wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Deployment {
    /// `plan.json`.
    pub plan: PathBuf,
    /// The whole pruned model.
    pub model: PathBuf,
    /// The head (device side), if split.
    pub device: Option<PathBuf>,
    /// The tail (edge side), if split.
    pub edge: Option<PathBuf>,
    /// The codec, if split.
    pub codec: Option<PathBuf>,
}

fn write(path: &Path, text: String) -> Result<()> {
    std::fs::write(path, text + "\n")
        .map_err(|source| PipelineError::Io { what: format!("writing {}", path.display()), source })
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| PipelineError::Invalid(format!("JSON: {e}")))
}

/// Writes `realised` under `out` as model `name`; `pruning` describes it in the plan.
pub fn deploy(
    realised: &Realised,
    out: &Path,
    name: &str,
    pruning: String,
) -> Result<(Plan, Deployment)> {
    std::fs::create_dir_all(out).map_err(|source| PipelineError::Io {
        what: format!("creating {}", out.display()),
        source,
    })?;
    let model = out.join(format!("{name}.onnx"));
    save_model(&realised.graph.proto, &model)?;
    let (split, mut device, mut edge, mut codec_path) = (SplitChoice::DeviceOnly, None, None, None);
    let mut plan = DevicePlan::new("device-0", name, split);
    plan.pruning = Some(pruning);
    if let Some(split) = &realised.split {
        let (part, codec) = (&split.prepared.partition, &split.codec);
        let cut = &part.cut;
        plan.split = SplitChoice::Cut { index: cut.index, tensor: cut.tensor.clone() };
        let (d, e) = (out.join("device.onnx"), out.join("edge.onnx"));
        save_model(&part.head, &d)?;
        save_model(&part.tail, &e)?;
        let codec_name = format!("{name}-codec");
        let path = out.join(format!("{codec_name}.json"));
        write(&path, json(codec)?)?;
        plan.codec = codec.clone();
        plan.codec_name = Some(codec_name);
        (device, edge, codec_path) = (Some(d), Some(e), Some(path));
    }
    let plan = Plan {
        note: format!("coinfer automl: {name}"),
        uplink_capacity_bps: 0.0,
        devices: vec![plan],
    };
    plan.validate().map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let plan_path = out.join("plan.json");
    write(&plan_path, json(&plan)?)?;
    Ok((plan, Deployment { plan: plan_path, model, device, edge, codec: codec_path }))
}
