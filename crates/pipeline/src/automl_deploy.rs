//! An AutoML result as a deployment: the pruned model as `<name>.onnx` (device and edge both
//! split it at the plan's cut), its halves as `device.onnx` (pruned head, encoder) and
//! `edge.onnx` (decoder, tail) for inspection, the out-of-band feature codec as
//! `<name>-codec.json`, and `plan.json`, runnable as is by `coinfer edge serve --models DIR`
//! and `coinfer device run --plan DIR/plan.json`.

use std::path::{Path, PathBuf};

use coinfer_compress::Codec;
use coinfer_graph::{save_model, Graph};
use coinfer_sim::{DevicePlan, Plan, SplitChoice};

use crate::automl_proxy::Realised;
use crate::error::{write_json, PipelineError, Result};

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
    /// The codec file, if anything crosses the link.
    pub codec: Option<PathBuf>,
}

/// Writes `realised` under `out` as model `name`; `pruning` describes it in the plan.
pub fn deploy(
    realised: &Realised,
    out: &Path,
    name: &str,
    pruning: String,
) -> Result<(Plan, Deployment)> {
    create(out)?;
    let model = out.join(format!("{name}.onnx"));
    save_model(&realised.graph.proto, &model)?;
    let mut plan = DevicePlan::new("device-0", name, SplitChoice::DeviceOnly);
    plan.pruning = Some(pruning);
    let mut deployment =
        Deployment { plan: PathBuf::new(), model, device: None, edge: None, codec: None };
    if let Some(split) = &realised.split {
        let cut = &split.prepared.partition.cut;
        plan.split = SplitChoice::Cut { index: cut.index, tensor: cut.tensor.clone() };
        let (d, e) = (out.join("device.onnx"), out.join("edge.onnx"));
        save_model(&split.prepared.partition.head, &d)?;
        save_model(&split.prepared.partition.tail, &e)?;
        deployment.codec = Some(write_codec(&mut plan, &split.codec, out, name)?);
        (deployment.device, deployment.edge) = (Some(d), Some(e));
    }
    Ok((write_plan(plan, out, name, &mut deployment)?, deployment))
}

/// Writes the unsplit `graph` under `out` as model `name`, run device-only or edge-only
/// (`split`) with the input sent by `codec` (edge-only).
pub fn deploy_unsplit(
    graph: &Graph,
    split: SplitChoice,
    codec: Option<&Codec>,
    out: &Path,
    name: &str,
) -> Result<(Plan, Deployment)> {
    create(out)?;
    let model = out.join(format!("{name}.onnx"));
    save_model(&graph.proto, &model)?;
    let mut plan = DevicePlan::new("device-0", name, split);
    plan.pruning = Some("coinfer automl: unpruned (no searched split beat it)".into());
    let mut deployment =
        Deployment { plan: PathBuf::new(), model, device: None, edge: None, codec: None };
    if let Some(codec) = codec {
        deployment.codec = Some(write_codec(&mut plan, codec, out, name)?);
    }
    Ok((write_plan(plan, out, name, &mut deployment)?, deployment))
}

fn create(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out)
        .map_err(|source| PipelineError::Io { what: format!("creating {}", out.display()), source })
}

/// Writes `codec` as `<name>-codec.json` (the edge finds it by that name) and sets it in
/// `plan`.
fn write_codec(plan: &mut DevicePlan, codec: &Codec, out: &Path, name: &str) -> Result<PathBuf> {
    let codec_name = format!("{name}-codec");
    let path = out.join(format!("{codec_name}.json"));
    // Compact: a per-element entropy model is thousands of counts, one per line when pretty.
    write_json(&path, codec, false)?;
    plan.codec = codec.clone();
    plan.codec_name = Some(codec_name);
    Ok(path)
}

fn write_plan(
    plan: DevicePlan,
    out: &Path,
    name: &str,
    deployment: &mut Deployment,
) -> Result<Plan> {
    let plan = Plan {
        note: format!("coinfer automl: {name}"),
        uplink_capacity_bps: 0.0,
        devices: vec![plan],
    };
    plan.validate().map_err(|e| PipelineError::Invalid(e.to_string()))?;
    deployment.plan = out.join("plan.json");
    write_json(&deployment.plan, &plan, true)?;
    Ok(plan)
}
