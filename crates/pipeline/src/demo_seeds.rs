//! The demo's three papers, after its baselines ([`crate::demo`]):
//!
//! - seed 000 (AutoML): the shipped plans of a full search (one folder per link rate, made by
//!   `experiments/automl/search.sh`) predicted by the cost model on the demo's hardware,
//!   compared with the demo's best baseline at the same rate, and run on the real runtime;
//! - seed 002 (placement and online splitting): versions published by an edge, placed by the
//!   device and split online over a trace-driven fading link on the real runtime, measured
//!   against the exact expected costs ([`crate::placement_run`]);
//! - seed 001 (MCIA): the shipped agent against the optimum and every baseline in the
//!   simulator, and its plans played by concurrent real devices on one edge
//!   ([`crate::mcia`], [`crate::mcia_deploy`]).

use std::path::PathBuf;

use coinfer_data::DatasetName;
use coinfer_sim::Hardware;

use crate::demo::DemoReport;
use crate::error::{PipelineError, Result};
use crate::mcia::{EvalConfig, EvalReport};
use crate::mcia_deploy::{DeployConfig, DeployReport};
use crate::placement_run::{PlacementRunConfig, PlacementRunReport};
use crate::plan_predict::PlanSetting;
use crate::progress::Progress;
use crate::runtime_check::RuntimeChecks;

/// What the demo runs for the seeds.
#[derive(Debug, Clone)]
pub struct SeedsConfig {
    /// Engine name.
    pub engine: String,
    /// Device hardware (the demo's).
    pub device: Hardware,
    /// Edge hardware (the demo's).
    pub edge: Hardware,
    /// Round-trip time of the link (s).
    pub rtt_s: f64,
    /// Test images of this data set the runtime runs draw from.
    pub data: DatasetName,
    /// Seed 000: shipped AutoML plan folders (`plan.json`, its model, `automl.json`) with the
    /// link rate (Mbit/s) each was searched for.
    pub automl_plans: Vec<(f64, PathBuf)>,
    /// The command that made them.
    pub automl_command: String,
    /// Requests per AutoML plan on the real runtime (0: not run).
    pub automl_runtime_images: usize,
    /// Seed 002 on the real runtime (`None`: skipped).
    pub placement: Option<PlacementRunConfig>,
    /// Seed 001 in the simulator, with the shipped agent's file (`None`: skipped).
    pub mcia_eval: Option<(EvalConfig, PathBuf)>,
    /// Seed 001 on the real runtime (`None`: skipped).
    pub mcia_deploy: Option<DeployConfig>,
}

/// What the search's `automl.json` says about the deployed plan (the fields the demo shows).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ShippedFinal {
    /// Top-1 accuracy of the deployed (fine-tuned) plan on the test images.
    pub accuracy: f64,
    /// The unsplit model's on the same images.
    pub baseline_accuracy: f64,
    /// Before fine-tuning (`None`: nothing was fine-tuned, device- or edge-only).
    pub accuracy_before_finetune: Option<f64>,
    /// Test images scored.
    pub test_images: usize,
    /// What was deployed: the searched split, or device-only / edge-only where they scored
    /// better.
    pub deployed: crate::automl::Deployed,
}

#[derive(serde::Deserialize)]
struct ShippedAutoml {
    #[serde(rename = "final")]
    deployed: ShippedFinal,
}

/// One shipped AutoML plan at its rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AutomlRow {
    /// Link rate (Mbit/s) it was searched for.
    pub mbps: f64,
    /// Its folder.
    pub dir: PathBuf,
    /// The search's record of it (fine-tuned test accuracy).
    pub shipped: ShippedFinal,
    /// What it runs: the split of its plan.
    pub split: String,
    /// Its top-1 accuracy on the demo's test images, executed here (head → its codec → tail).
    pub accuracy: f64,
    /// Test images it ran on (the demo's).
    pub images: usize,
    /// Mean frame bytes per image its codec sent on them (0: nothing sent).
    pub bytes_per_image: f64,
    /// Predicted end-to-end latency on the demo's device, edge and link with those bytes (s).
    pub predicted_s: f64,
    /// The demo's best baseline at this rate (`None` if the demo did not plan this rate).
    pub best_baseline: Option<crate::demo::BestBaseline>,
    /// `best_baseline.total_s / predicted_s`.
    pub speedup: Option<f64>,
}

/// The seeds' results.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SeedsReport {
    /// Seed 000: the shipped plans, predicted and compared.
    pub automl: Vec<AutomlRow>,
    /// The command that made them.
    pub automl_command: String,
    /// Seed 000: the plans on the real runtime (this host's prediction against measurement).
    pub automl_runtime: Vec<RuntimeChecks>,
    /// Seed 002 on the real runtime.
    pub placement: Option<PlacementRunReport>,
    /// Seed 001 in the simulator.
    pub mcia_eval: Option<EvalReport>,
    /// Seed 001 on the real runtime.
    pub mcia_deploy: Option<DeployReport>,
}

/// Runs the seeds; `demo` gives the baselines the AutoML plans are compared with.
pub fn run_seeds(
    config: &SeedsConfig,
    demo: &DemoReport,
    progress: &mut dyn Progress,
) -> Result<SeedsReport> {
    let mut automl = Vec::new();
    let mut automl_runtime = Vec::new();
    // The demo's test images: the plans run on the images the baselines ran on.
    let images = demo.executions.first().map_or(0, |e| e.images).max(1);
    let data = coinfer_data::load(config.data, coinfer_data::Split::Test)?.take(images);
    for (mbps, dir) in &config.automl_plans {
        progress.note(&format!("seed 000: the AutoML plan for {mbps} Mbit/s on the test images"));
        let row = automl_row(config, demo, &data, *mbps, dir)?;
        if config.automl_runtime_images > 0 {
            progress.note(&format!("seed 000: the AutoML plan for {mbps} Mbit/s on the runtime"));
            automl_runtime.push(crate::automl::check_plan_dir(
                dir,
                &[*mbps],
                config.rtt_s,
                config.automl_runtime_images,
                &config.engine,
                config.data,
                progress,
            )?);
        }
        automl.push(row);
    }
    let placement = match &config.placement {
        Some(run) => {
            progress.note("seed 002: placement and online splitting on the runtime");
            Some(crate::placement_run::placement_run(run, progress)?)
        }
        None => None,
    };
    let mcia_eval = match &config.mcia_eval {
        Some((eval, agent)) => {
            progress.note("seed 001: the agent against the optimum and the baselines");
            let mut agent = coinfer_agents::MciaPpo::load(agent).map_err(|e| {
                PipelineError::Invalid(format!("loading the agent {}: {e}", agent.display()))
            })?;
            Some(crate::mcia::evaluate(eval, std::slice::from_mut(&mut agent), progress)?)
        }
        None => None,
    };
    let mcia_deploy = match &config.mcia_deploy {
        Some(deploy) => {
            progress.note("seed 001: the agent's plans on the runtime, devices concurrent");
            Some(crate::mcia_deploy::deploy(deploy, progress)?)
        }
        None => None,
    };
    Ok(SeedsReport {
        automl,
        automl_command: config.automl_command.clone(),
        automl_runtime,
        placement,
        mcia_eval,
        mcia_deploy,
    })
}

/// A shipped AutoML plan folder: read, executed on the demo's test images with its own codec,
/// predicted with the bytes that sent, and compared with the demo's baseline at its rate.
fn automl_row(
    config: &SeedsConfig,
    demo: &DemoReport,
    data: &coinfer_data::Dataset,
    mbps: f64,
    dir: &std::path::Path,
) -> Result<AutomlRow> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|source| PipelineError::Io {
            what: format!("reading {}", path.display()),
            source,
        })
    };
    let plan = coinfer_sim::Plan::from_json(&read("plan.json")?)
        .map_err(|e| PipelineError::Invalid(format!("{}: {e}", dir.display())))?;
    let shipped: ShippedAutoml = serde_json::from_str(&read("automl.json")?)
        .map_err(|e| PipelineError::Invalid(format!("{}/automl.json: {e}", dir.display())))?;
    let device = plan.devices.first().ok_or_else(|| {
        PipelineError::Invalid(format!("{}: the plan has no device", dir.display()))
    })?;
    let executed = execute_plan(dir, device, &config.engine, data)?;
    let link = demo
        .plans
        .iter()
        .find(|p| p.mbps == mbps)
        .map(|p| p.link.clone())
        .unwrap_or_else(|| crate::automl::search_link(mbps, config.rtt_s * 1e3));
    let setting = PlanSetting {
        models: dir,
        device: config.device.clone(),
        devices: Default::default(),
        edge: config.edge.clone(),
        link,
    };
    let sent = [Some(executed.bytes_per_sample)];
    let predicted = crate::plan_predict::predict_plan_sending(&plan, &setting, &sent)?;
    let predicted_s = predicted.first().map_or(f64::NAN, |p| p.prediction.total_s);
    let best_baseline = demo.best_baselines.iter().find(|b| b.mbps == mbps).cloned();
    Ok(AutomlRow {
        mbps,
        dir: dir.to_path_buf(),
        shipped: shipped.deployed,
        split: device.split.to_string(),
        accuracy: executed.accuracy,
        images: executed.images,
        bytes_per_image: executed.bytes_per_sample,
        predicted_s,
        speedup: best_baseline.as_ref().map(|b| b.total_s / predicted_s),
        best_baseline,
    })
}

/// A plan's device entry executed on `data` from its folder: its model split as planned, its
/// codec between head and tail (or on the input for edge-only).
fn execute_plan(
    dir: &std::path::Path,
    device: &coinfer_sim::DevicePlan,
    engine: &str,
    data: &coinfer_data::Dataset,
) -> Result<crate::evaluate::Evaluation> {
    use crate::evaluate::{evaluate, Stages};
    use coinfer_sim::SplitChoice;
    let graph = coinfer_graph::Graph::load(&device.model_path(dir))?;
    let engine = coinfer_engine::engine_for_name(engine)?;
    let mut quiet = crate::progress::NoProgress;
    match &device.split {
        SplitChoice::Cut { index, .. } => {
            let cut = graph.find_cut(&index.to_string())?;
            let split = coinfer_engine::profile::PreparedSplit::new(&graph, &cut, engine.as_ref())?;
            let stages = Stages::Split { head: split.head.as_ref(), tail: split.tail.as_ref() };
            evaluate(stages, &device.codec, data, 100, None, &mut quiet)
        }
        SplitChoice::EdgeOnly => {
            let full = engine.prepare(&graph.proto)?;
            evaluate(Stages::EdgeOnly(full.as_ref()), &device.codec, data, 100, None, &mut quiet)
        }
        SplitChoice::DeviceOnly => {
            let full = engine.prepare(&graph.proto)?;
            evaluate(Stages::DeviceOnly(full.as_ref()), &device.codec, data, 100, None, &mut quiet)
        }
    }
}
