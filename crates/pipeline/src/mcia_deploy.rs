//! Seed 001 on the real runtime: the agent's plan for a slot served by one edge server, each
//! device a concurrent client behind its own emulated link, measured against the simulator.
//!
//! What is real: the ONNX versions and their heads and tails run by the engine, the 8-bit
//! feature codec, gRPC over loopback sockets, the edge's scheduler and shaping, one link
//! relay per device, test images and their labels. What is emulated, because this host is
//! neither a microcontroller nor the scenario's edge box: the *speeds*. A device holds its
//! real head (or whole model) until the scenario's device would have finished it
//! ([`DeviceOptions::emulated_compute`]); the edge holds each answer until the scenario's edge
//! would have finished the tail on that device's compute share
//! ([`ShareConfig::emulated_tail_ms`] — a reserved slice, as MCIA models the share); each
//! relay runs at the rate the device's bandwidth share gives at its channel gain in that
//! slot. So the comparison checks everything but the compute model (which
//! [`crate::runtime_check`] checks against this host): framing and codec bytes, the stack's
//! time, the relay, the scheduler and every device contending for two cores at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coinfer_agents::{ChoiceTable, MciaPpo};
use coinfer_compress::{Codec, QuantRange};
use coinfer_data::{DatasetName, Split};
use coinfer_engine::Tensor;
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{DeviceOptions, DeviceRunner, Percentiles, Record, Summary};
use coinfer_runtime::link::LinkConfig;
use coinfer_runtime::models::{ModelId, ModelStore, Part};
use coinfer_runtime::relay::LinkRelay;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState, ShareConfig};
use coinfer_sim::{DevicePlan, Framing, MultiDeviceEnv, SplitChoice, Transport};

use crate::error::{PipelineError, Result};
use crate::progress::Progress;
use crate::versions::VersionTable;

/// Name the versions are served under (`<dir>/mcia/<version>.onnx`).
const MODEL: &str = "mcia";
/// Overruns of the emulated device time below this (ms) are timer noise, not counted.
pub const OVERRUN_MS: f64 = 0.1;
/// Training images the codec's clipping range is taken from.
const RANGE_IMAGES: usize = 64;

/// What to deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployConfig {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Agent file (safetensors, with its `.json` header).
    pub agent: PathBuf,
    /// Devices (the scenario rescaled); `None`: the scenario's own count.
    pub devices: Option<usize>,
    /// Slots run one after the other, each with the agent's decision for its channel gains.
    pub slots: usize,
    /// Requests each device sends per slot (after one uncounted warm-up request).
    pub requests: usize,
    /// Seed of the channel draws.
    pub seed: u64,
    /// Engine name (`tract`, `ort`).
    pub engine: String,
    /// Overrides of the agent's decision-time search.
    pub decision: coinfer_agents::DecisionSettings,
}

/// One device in one slot: the plan, the simulator's prediction and what the runtime measured.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeviceRun {
    /// Slot index.
    pub slot: usize,
    /// Device id.
    pub device_id: String,
    /// Its task kind.
    pub task: String,
    /// Version run.
    pub version: String,
    /// Layers on the device (0 = everything offloaded, the version's layer count = local).
    pub partition: usize,
    /// Whether the plan sends anything to the edge.
    pub offloads: bool,
    /// Normalised edge compute share.
    pub compute_share: f64,
    /// Normalised bandwidth share.
    pub bandwidth_share: f64,
    /// Uplink (and downlink) rate of its relay (bit/s); 0 for a device that keeps everything.
    pub link_bps: f64,
    /// The simulator's device compute, uplink, edge compute and end-to-end time (ms).
    pub simulated_ms: StageTimes,
    /// The runtime's, means over the requests (ms); `transfer` holds everything between the
    /// head and the tail: encoding, stack, both directions of the link, decoding, queueing.
    pub measured_ms: StageTimes,
    /// Measured end-to-end percentiles (ms).
    pub measured_e2e_ms: Percentiles,
    /// Measured mean time of each stage over the requests the edge answered (ms).
    pub measured_stages_ms: coinfer_runtime::device::StageMeans,
    /// The simulator's request bytes on the wire, and the frame bytes the device sent (mean).
    pub request_bytes: [f64; 2],
    /// (measured mean − simulated) / simulated end-to-end latency.
    pub relative_error: f64,
    /// Utility with the simulated latency, and with the measured mean latency (both with the
    /// version table's accuracy).
    pub utility: [f64; 2],
    /// Top-1 accuracy over this run's requests (few: see the version table for the real one).
    pub run_accuracy: f64,
    /// Requests answered by the edge, kept local by plan, finished locally after a failure.
    pub served: [usize; 3],
    /// Requests whose real device compute took longer than the emulated time by more than
    /// [`OVERRUN_MS`] (this host too busy to emulate the device), and their mean overrun (ms).
    pub overruns: (usize, f64),
}

/// Device compute, transfer, edge compute and end-to-end times (ms).
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct StageTimes {
    /// On the device.
    pub device: f64,
    /// Between head and tail (see [`DeviceRun::measured_ms`]).
    pub transfer: f64,
    /// The tail on the edge.
    pub edge: f64,
    /// End to end.
    pub total: f64,
}

/// `coinfer mcia deploy`'s result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeployReport {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Devices.
    pub devices: usize,
    /// Requests per device and slot.
    pub requests: usize,
    /// Protocol stack time per request (s) fed to the simulator: the median round trip of one
    /// device through a fast relay with the scenario's delay, less what the link model
    /// predicts for it.
    pub stack_s: f64,
    /// Every device in every slot.
    pub runs: Vec<DeviceRun>,
    /// Per slot: summed utility simulated, measured.
    pub slot_utility: Vec<[f64; 2]>,
    /// Median and largest |relative error| over the devices that offload, and over the
    /// devices that keep everything.
    pub abs_error: ErrorSpread,
    /// What is real and what is emulated.
    pub note: String,
}

/// Spread of |relative error|.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct ErrorSpread {
    /// Median over offloading devices.
    pub offloading_median: f64,
    /// Largest over offloading devices.
    pub offloading_max: f64,
    /// Median over local devices.
    pub local_median: f64,
    /// Largest over local devices.
    pub local_max: f64,
}

/// The note every report carries.
pub const EMULATION_NOTE: &str = "real: models, heads and tails, 8-bit codec, gRPC sockets, \
edge scheduler, one link relay per device, test images; emulated: the device's and the edge's \
speeds (each answer held until the scenario's hardware would have finished, the edge's per \
compute share) and each link's rate (its bandwidth share at its channel gain)";

fn invalid(m: impl Into<String>) -> PipelineError {
    PipelineError::Invalid(m.into())
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::Io { what: what.into(), source }
}

/// Deploys `config.slots` slots of the agent's plans on the runtime; progress: one stage for
/// the calibration and one per slot, in devices done.
pub fn deploy(config: &DeployConfig, progress: &mut dyn Progress) -> Result<DeployReport> {
    if config.slots == 0 || config.requests == 0 {
        return Err(invalid("deploy: slots and requests must be ≥ 1"));
    }
    let (scenario, mut env) =
        crate::mcia::environment(&config.scenario, config.devices, config.seed)?;
    let mut agent = MciaPpo::load(&config.agent)?;
    agent.check(&env)?;
    agent.set_decision(&config.decision);
    let models = serve_dir(&config.scenario, &scenario, &env)?;
    let engine = coinfer_engine::engine_for_name(&config.engine)?;
    let store = Arc::new(ModelStore::new(models.path(), engine.clone()));
    let train = coinfer_data::load(DatasetName::FashionMnist, Split::Train)?;
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?;
    let rtt_s = env.device(0).map_or(0.0, |d| d.transport.rtt_s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("starting the async runtime"))?;

    let framing = runtime_framing(&calibration_codec());
    progress.start("stack calibration", 1);
    // The served version with the lowest name (any would do: the input is what is sent).
    let version = env
        .versions()
        .iter()
        .map(|v| v.name.as_str())
        .min()
        .ok_or_else(|| invalid("no version to calibrate with"))?
        .to_string();
    let stack_s = rt.block_on(calibrate_stack(
        MODEL,
        &version,
        models.path(),
        &store,
        engine.clone(),
        &test,
        rtt_s,
        &framing,
        Spacing::default(),
    ))?;
    progress.finish();
    env.map_transports(|t| Transport { stack_s, framing: framing.clone(), ..t.clone() });

    let table = ChoiceTable::new(&env)?;
    let tasks = scenario.task_names();
    let ids: Vec<String> = (0..env.num_devices())
        .map(|i| {
            let task = env.device(i).and_then(|d| tasks.get(d.task_kind)).map_or("", |t| t);
            format!("dev-{i:02}-{task}")
        })
        .collect();
    env.reset(Some(config.seed));
    let mut runs = vec![];
    let mut slot_utility = vec![];
    for slot in 0..config.slots {
        let decision = agent.decide(&env, &table)?;
        let outcomes = env.outcomes(&decision.actions)?;
        let plan = env.plan(&decision.actions, MODEL, &ids)?;
        let shares = env.normalised_shares(&decision.actions);
        let mut setups = vec![];
        for (i, (a, device)) in decision.actions.iter().zip(&plan.devices).enumerate() {
            let (cshare, bshare) = shares[i];
            let p = env.prediction(i, a, env.gains()[i], cshare, bshare);
            let offloads = env.offloads(a);
            let mut device = device.clone();
            if offloads {
                let range = clip_range(&store, &device, &train)?;
                device.codec = Codec::Uniform { bits: scenario.feature_bits.round() as u8, range };
            }
            let link_bps =
                if offloads && p.uplink_s > 0.0 { 8.0 * p.wire_up_bytes / p.uplink_s } else { 0.0 };
            setups.push(DeviceSetup { plan: device, prediction: p, link_bps, offloads });
        }
        progress.start(&format!("slot {slot}"), setups.len() as u64);
        let records = rt.block_on(run_slot(
            models.path(),
            &store,
            engine.clone(),
            &setups,
            &test,
            SlotRun { slot, requests: config.requests, rtt_s, gap: Duration::ZERO },
            progress,
        ))?;
        progress.finish();
        let mut utility = [0.0, 0.0];
        for (i, (setup, records)) in setups.iter().zip(records).enumerate() {
            let d = env.device(i).ok_or_else(|| invalid("device vanished"))?;
            let a = &decision.actions[i];
            let v = &env.versions()[a.version];
            let run = device_run(slot, &ids[i], &tasks, d, v, a, shares[i], setup, &records);
            utility[0] += outcomes[i].utility;
            utility[1] += run.utility[1];
            runs.push(run);
        }
        slot_utility.push(utility);
        env.step(&decision.actions)?;
    }
    let spread = |offloads: bool| {
        let mut e: Vec<f64> = runs
            .iter()
            .filter(|r| r.offloads == offloads)
            .map(|r| r.relative_error.abs())
            .collect();
        e.sort_by(f64::total_cmp);
        (e.get(e.len() / 2).copied().unwrap_or(0.0), e.last().copied().unwrap_or(0.0))
    };
    let ((om, ox), (lm, lx)) = (spread(true), spread(false));
    Ok(DeployReport {
        scenario: config.scenario.clone(),
        devices: env.num_devices(),
        requests: config.requests,
        stack_s,
        runs,
        slot_utility,
        abs_error: ErrorSpread {
            offloading_median: om,
            offloading_max: ox,
            local_median: lm,
            local_max: lx,
        },
        note: EMULATION_NOTE.into(),
    })
}

/// A folder serving every version of the scenario's table as `mcia/<version name>.onnx`.
fn serve_dir(
    scenario_path: &Path,
    scenario: &coinfer_sim::Scenario,
    env: &MultiDeviceEnv,
) -> Result<tempfile::TempDir> {
    let table_path = scenario_path.parent().unwrap_or(Path::new(".")).join(&scenario.versions);
    let text = std::fs::read_to_string(&table_path).map_err(io("reading the version table"))?;
    let table: VersionTable = serde_json::from_str(&text)
        .map_err(|e| invalid(format!("{}: {e}", table_path.display())))?;
    let dir = tempfile::tempdir().map_err(io("creating the model folder"))?;
    let into = dir.path().join(MODEL);
    std::fs::create_dir_all(&into).map_err(io("creating the model folder"))?;
    for v in env.versions() {
        let entry = table.versions.iter().find(|e| e.name == v.name).ok_or_else(|| {
            invalid(format!("version `{}` is not in {}", v.name, table_path.display()))
        })?;
        let from = table_path.parent().unwrap_or(Path::new(".")).join(&entry.file);
        std::fs::copy(&from, into.join(format!("{}.onnx", v.name)))
            .map_err(io("copying a version's model"))?;
    }
    Ok(dir)
}

/// The clipping range of the feature a device sends: min and max over training images.
fn clip_range(
    store: &ModelStore,
    plan: &DevicePlan,
    train: &coinfer_data::Dataset,
) -> Result<QuantRange> {
    let (x, _) = train.slice(0, RANGE_IMAGES.min(train.len()));
    let feature = match plan.split {
        SplitChoice::Cut { index, .. } => {
            let id = ModelId { model: plan.model.clone(), version: plan.version.clone() };
            let head = store.part(&id, Part::Head(index))?;
            head.runnable
                .run(&[x])?
                .into_iter()
                .next()
                .ok_or_else(|| invalid("a head with no output"))?
        }
        _ => x,
    };
    let (lo, hi) = feature
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(invalid(format!("{}: the feature has no finite range", plan.device_id)));
    }
    Ok(QuantRange::PerTensor { lo, hi: hi.max(lo + f32::EPSILON) })
}

/// One device of a slot, ready to run.
struct DeviceSetup {
    plan: DevicePlan,
    prediction: coinfer_sim::Prediction,
    link_bps: f64,
    offloads: bool,
}

/// A slot's settings shared by its devices.
#[derive(Clone, Copy)]
struct SlotRun {
    slot: usize,
    requests: usize,
    rtt_s: f64,
    /// Idle time before each request (zero: back to back).
    gap: Duration,
}

/// The edge for one slot: every device's compute share and emulated tail time, no batching
/// across devices (each has its own slice).
fn slot_edge(setups: &[DeviceSetup]) -> EdgeConfig {
    EdgeConfig {
        max_batch: 1,
        shares: setups
            .iter()
            .filter(|s| s.offloads)
            .map(|s| ShareConfig {
                device_id: s.plan.device_id.clone(),
                compute_share: s.plan.compute_share,
                bandwidth_bps: 0.0,
                emulated_tail_ms: s.prediction.edge_s * 1e3,
            })
            .collect(),
        ..EdgeConfig::default()
    }
}

/// Runs every device of a slot at once; each device's records, in order.
async fn run_slot(
    dir: &Path,
    store: &Arc<ModelStore>,
    engine: Arc<dyn coinfer_engine::Engine>,
    setups: &[DeviceSetup],
    test: &coinfer_data::Dataset,
    run: SlotRun,
    progress: &mut dyn Progress,
) -> Result<Vec<Vec<Record>>> {
    let state = EdgeState::new(dir, engine, slot_edge(setups))?;
    let edge =
        EdgeHandle::start(state, std::net::SocketAddr::from(([127, 0, 0, 1], 0)), None).await?;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in setups.iter().enumerate() {
        let start = (run.slot * setups.len() + i) * (run.requests + 1);
        let inputs: Vec<(Tensor, u32)> = (start..start + run.requests + 1)
            .map(|k| {
                let k = k % test.len();
                let (x, y) = test.slice(k, k + 1);
                (x, u32::from(y[0]))
            })
            .collect();
        let link = s.offloads.then(|| LinkConfig::fixed(s.link_bps, run.rtt_s * 1e3 / 2.0));
        let options = DeviceOptions {
            emulated_compute: Some(Duration::from_secs_f64(s.prediction.device_s)),
            ..DeviceOptions::default()
        };
        let (plan, store, edge_addr) = (s.plan.clone(), store.clone(), edge.addr);
        tasks.spawn(async move {
            let relay = match link {
                Some(l) => Some(LinkRelay::start(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    edge_addr,
                    l.clone(),
                    l,
                )?),
                None => None,
            };
            let client = relay
                .as_ref()
                .map(|r| EdgeClient::new(&format!("http://{}", r.local_addr()), None))
                .transpose()?;
            let mut device = DeviceRunner::new(plan, store, client, options, None);
            device.warm_up().await?;
            let mut records = Vec::with_capacity(inputs.len());
            for (x, y) in inputs {
                if !run.gap.is_zero() {
                    tokio::time::sleep(run.gap).await;
                }
                records.push(device.infer(x, Some(y)).await?);
            }
            records.remove(0);
            Ok::<_, PipelineError>((i, records))
        });
    }
    let mut out = vec![vec![]; setups.len()];
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, records) = joined.map_err(|e| invalid(format!("a device task failed: {e}")))??;
        out[i] = records;
        done += 1;
        progress.set(done);
    }
    edge.stop().await?;
    Ok(out)
}

/// Rate of the calibration relay (bit/s): shaped, so the relay's pacing costs are in the
/// calibration, but fast enough that the transfer itself is a small part of it.
const CALIBRATION_BPS: f64 = 50e6;

/// The runtime's framing for frames of `codec`: gRPC's, plus the frame header the codec adds
/// to the payload — the intercept of the frame size over two 4-D features of 784 and 1,568
/// values (the shape of every cut but the last), so any fixed-rate codec is measured right.
pub(crate) fn runtime_framing(codec: &Codec) -> Framing {
    let len = |channels: usize| {
        let values = channels * 784;
        coinfer_compress::Feature::new(vec![1, channels, 28, 28], vec![0.5; values])
            .map_or(0, |f| codec.encode(&f).len())
    };
    let header = (2 * len(1)).saturating_sub(len(2));
    let mut framing = Framing::grpc();
    framing.request_bytes += header as f64;
    framing
}

/// The stack's own time per request (s): one device, edge-only, through a relay at
/// [`CALIBRATION_BPS`] with the scenario's delay; the median round trip less what the link
/// model predicts for it (RTT, both directions' bytes with `framing`); `model`/`version` is
/// served in `dir`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn calibrate_stack(
    model: &str,
    version: &str,
    dir: &Path,
    store: &Arc<ModelStore>,
    engine: Arc<dyn coinfer_engine::Engine>,
    test: &coinfer_data::Dataset,
    rtt_s: f64,
    framing: &Framing,
    spacing: Spacing,
) -> Result<f64> {
    let mut plan = DevicePlan::new("calibration", model, SplitChoice::EdgeOnly);
    plan.version = version.to_string();
    plan.codec = calibration_codec();
    let setup = DeviceSetup {
        plan,
        prediction: coinfer_sim::Prediction::default(),
        link_bps: CALIBRATION_BPS,
        offloads: true,
    };
    let records = run_slot(
        dir,
        store,
        engine,
        std::slice::from_ref(&setup),
        test,
        SlotRun { slot: 0, requests: 40, rtt_s, gap: spacing.gap },
        &mut crate::progress::NoProgress,
    )
    .await?;
    let records: Vec<&Record> = records.iter().flatten().collect();
    let payload =
        records.iter().map(|r| r.frame_bytes as f64).sum::<f64>() / records.len().max(1) as f64;
    let transport = Transport { rtt_s, framing: framing.clone(), ..Transport::ideal() };
    let link = coinfer_sim::Link { up_bps: CALIBRATION_BPS, tx_power_w: 0.0, transport };
    // The frame already holds the codec's header, which `framing` counts too.
    let header = framing.request_bytes - Framing::grpc().request_bytes;
    let model =
        coinfer_sim::predict(&coinfer_sim::Work::split(0.0, 0.0, payload - header, 0.0), &link);
    let measured = Percentiles::of(records.iter().map(|r| r.transmit_ms / 1e3)).p50;
    Ok((measured - model.total_s - spacing.tail_s).max(0.0))
}

/// How [`calibrate_stack`]'s requests are spaced, and the edge time already known.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Spacing {
    /// Idle time before each request (zero: back to back, the stack hot).
    pub(crate) gap: Duration,
    /// The calibration model's edge time timed the same way, s (zero: counted as stack).
    pub(crate) tail_s: f64,
}

/// The codec of the calibration requests: images in [0, 1] at 8 bits.
fn calibration_codec() -> Codec {
    Codec::Uniform { bits: 8, range: QuantRange::PerTensor { lo: 0.0, hi: 1.0 } }
}

/// One device's row from its plan, the simulator's prediction and its records.
#[allow(clippy::too_many_arguments)]
fn device_run(
    slot: usize,
    id: &str,
    tasks: &[String],
    d: &coinfer_sim::DeviceSpec,
    v: &coinfer_sim::ModelVersion,
    a: &coinfer_sim::DeviceAction,
    (cshare, bshare): (f64, f64),
    setup: &DeviceSetup,
    records: &[Record],
) -> DeviceRun {
    let p = &setup.prediction;
    let summary = Summary::of(records);
    let n = records.len().max(1) as f64;
    let mean = |f: &dyn Fn(&Record) -> f64| records.iter().map(f).sum::<f64>() / n;
    let device = mean(&|r| r.head_ms + if r.cut.is_none() { r.local_ms } else { 0.0 });
    let edge = mean(&|r| r.edge_tail_ms);
    let total = summary.e2e_ms.mean;
    let simulated = p.total_s * 1e3;
    DeviceRun {
        slot,
        device_id: id.into(),
        task: tasks.get(d.task_kind).cloned().unwrap_or_default(),
        version: v.name.clone(),
        partition: a.partition,
        offloads: setup.offloads,
        compute_share: cshare,
        bandwidth_share: bshare,
        link_bps: setup.link_bps,
        simulated_ms: StageTimes {
            device: p.device_s * 1e3,
            transfer: (p.total_s - p.device_s - p.edge_s) * 1e3,
            edge: p.edge_s * 1e3,
            total: simulated,
        },
        measured_ms: StageTimes { device, transfer: total - device - edge, edge, total },
        measured_e2e_ms: summary.e2e_ms,
        measured_stages_ms: summary.stage_means_ms.clone(),
        request_bytes: [p.wire_up_bytes, summary.mean_frame_bytes],
        relative_error: (total - simulated) / simulated,
        utility: [d.utility(v.accuracy, p.total_s), d.utility(v.accuracy, total / 1e3)],
        run_accuracy: summary.accuracy,
        served: [summary.edge, summary.local, summary.fallback],
        overruns: {
            let over: Vec<f64> =
                records.iter().map(|r| r.compute_overrun_ms).filter(|&o| o > OVERRUN_MS).collect();
            (over.len(), over.iter().sum::<f64>() / over.len().max(1) as f64)
        },
    }
}
