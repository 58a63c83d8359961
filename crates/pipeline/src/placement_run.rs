//! Seed 002 on the real runtime: model versions published one after another by an edge
//! server, the device choosing how many layers `K` of each to place (download) and splitting
//! online under fading with a stopping rule; every cost measured and set against its exact
//! expectation.
//!
//! The link is block fading per inference, trace-driven: the uplink rate follows a schedule of
//! the channel's `S` equiprobable states (Rayleigh around the configured mean gain, each
//! state's median), one state per slot, each state equally often; the device starts one
//! inference per slot, so an inference sees one state from its first layer to its answer.
//! Across stages the channel is then the Markov chain with identity transitions, and every
//! rule's exact expected cost is [`markov_expected_cost`] on it; the schedule's empirical law
//! is the chain's, so measured means converge to those costs without sampling bias.
//!
//! What is real: the edge and device processes' gRPC over loopback, the versions and their
//! heads and tails, downloads through the relay (chunked, verified), the test images. What
//! is emulated: the device's speed (each layer held to the configured device's time), the
//! link's rates (the relay). The edge runs at this host's speed, measured per cut and fed to
//! the cost model; the stack's own time is calibrated once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coinfer_compress::Codec;
use coinfer_data::{DatasetName, Split};
use coinfer_policy::placement::{placement_costs, PlacementCost};
use coinfer_policy::stopping::{
    always_local, always_offload, backward_induction, fixed_split, one_stage_look_ahead,
    StoppingProblem,
};
use coinfer_policy::stopping_config::StoppingConfig;
use coinfer_policy::stopping_markov::{markov_backward_induction, markov_expected_cost, OnStates};
use coinfer_runtime::client::EdgeClient;
use coinfer_runtime::device::{LocalModel, Record, ServedBy};
use coinfer_runtime::fetch::{fetch_head, FetchOptions};
use coinfer_runtime::models::{ModelId, ModelStore};
use coinfer_runtime::proto::VersionInfo;
use coinfer_runtime::server::{EdgeConfig, EdgeHandle, EdgeState};
use coinfer_sim::{DevicePlan, MarkovChannel, SplitChoice, Transport};

use crate::error::{PipelineError, Result};
use crate::placement_decision::{download_s, layer_times, omega, online_plan, version_problem};
use crate::progress::Progress;

use crate::placement_testbed::{
    edge_times, link_chain, local_any, runner, serve_dir, state_order, testbed, Pending, Served,
    MODEL,
};

/// How many layers a device places of each new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// `K*`: the placement rule (enumeration of `Ω(K) + Q·J(K)`).
    Optimal,
    /// Every layer (`K = N`).
    Full,
    /// None (`K = 0`): every inference sends its input.
    Nothing,
    /// `min(K, N)` layers.
    Fixed(usize),
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Strategy, String> {
        match s {
            "optimal" => Ok(Strategy::Optimal),
            "full" => Ok(Strategy::Full),
            "none" => Ok(Strategy::Nothing),
            _ => s
                .strip_prefix("fixed:")
                .and_then(|k| k.parse().ok())
                .map(Strategy::Fixed)
                .ok_or_else(|| format!("`{s}`: strategies are optimal, full, none, fixed:K")),
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Strategy::Optimal => f.write_str("optimal K*"),
            Strategy::Full => f.write_str("always full"),
            Strategy::Nothing => f.write_str("always none"),
            Strategy::Fixed(k) => write!(f, "fixed K={k}"),
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct PlacementRunConfig {
    /// Radio, weights, channel (its mean gain), device, placement (`Q`, download rate, receive
    /// power) and transport (its RTT); the edge is this host, measured.
    pub config: StoppingConfig,
    /// ONNX files published in this order, one per update period (version = file stem).
    pub versions: Vec<PathBuf>,
    /// Placement strategies compared, each over every period.
    pub strategies: Vec<Strategy>,
    /// Inferences measured per period (and per rule); a multiple of `states` visits every
    /// state equally often.
    pub requests: usize,
    /// Channel states `S`.
    pub states: usize,
    /// One inference per slot, ms: longer than the slowest inference.
    pub slot_ms: f64,
    /// Also compare the stopping rules on the first version (at its `K*`).
    pub compare_rules: bool,
    /// Seed of the state order.
    pub seed: u64,
    /// Engine name (`tract`, `ort`).
    pub engine: String,
}

/// The link's channel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LinkChannel {
    /// State gains.
    pub gains: Vec<f64>,
    /// Their uplink rates, bit/s.
    pub rates_bps: Vec<f64>,
    /// Downlink (model download) rate, bit/s.
    pub download_bps: f64,
    /// Slot, ms.
    pub slot_ms: f64,
}

/// A measured mean with the half-width of its 95 % confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize)]
pub struct Measured {
    /// Mean.
    pub mean: f64,
    /// 95 % half-width (normal approximation).
    pub ci95: f64,
    /// Samples.
    pub n: usize,
}

impl Measured {
    fn of(v: &[f64]) -> Measured {
        let n = v.len();
        if n == 0 {
            return Measured::default();
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n.max(2) - 1) as f64;
        Measured { mean, ci95: 1.96 * (var / n as f64).sqrt(), n }
    }
}

/// One stopping rule played on the runtime.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuleRun {
    /// The rule.
    pub rule: String,
    /// Its exact expected cost per inference on the link's channel.
    pub expected_cost: f64,
    /// Measured cost per inference.
    pub measured_cost: Measured,
    /// `measured / expected − 1`.
    pub relative_error: f64,
    /// Answered by the edge / kept on the device / not answered or fallen back.
    pub served: [usize; 3],
}

/// One update period of one strategy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PeriodRun {
    /// Strategy.
    pub strategy: String,
    /// Version published.
    pub version: String,
    /// Layers `N` of the version.
    pub layers: usize,
    /// Layers placed `K`.
    pub k: usize,
    /// Head bytes downloaded.
    pub bytes: u64,
    /// Download time predicted (bytes at the download rate, plus one RTT) and measured, s.
    pub download_s: [f64; 2],
    /// `measured / predicted − 1` of the download time (none for `K = 0`).
    pub download_error: Option<f64>,
    /// Receive energy of the download, predicted and from the measured time, J.
    pub download_j: [f64; 2],
    /// `Ω(K)`: predicted (the placement model's) and from the measured time.
    pub omega: [f64; 2],
    /// `J(K)`: the exact expected cost per inference, and the measured mean over the
    /// inferences run with the new placement.
    pub per_inference: [f64; 2],
    /// Measured cost per inference (with spread).
    pub measured_cost: Measured,
    /// `Ω(K) + Q·J(K)`: predicted, and measured (measured `Ω` + `Q` × measured mean).
    pub period_cost: [f64; 2],
    /// 95 % half-width of the measured period cost (`Q` × that of the mean).
    pub period_cost_ci95: f64,
    /// Inferences served with the previous placement while the download ran.
    pub during_download: usize,
    /// Reconnections during the download.
    pub resumes: usize,
}

/// One inference: where it stopped, what it cost, what the model says it costs at that state.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestRow {
    /// The rule, or `strategy / version` for a placement period.
    pub context: String,
    /// Slot index.
    pub slot: usize,
    /// Uplink rate of the slot's state, bit/s.
    pub rate_bps: f64,
    /// Stage it offloaded at (layers run on the device), or `None` when finished locally.
    pub stage: Option<usize>,
    /// Frame bytes sent.
    pub frame_bytes: usize,
    /// Measured end to end, ms.
    pub e2e_ms: f64,
    /// Of which on the device: the head (or the whole model when finished locally), ms.
    pub device_ms: f64,
    /// Of which from sending the frame to the answer (link, stack and edge), ms.
    pub transmit_ms: f64,
    /// Of which the edge's tail, ms.
    pub edge_tail_ms: f64,
    /// Measured cost.
    pub measured_cost: f64,
    /// The cost model's cost of the same decision at the slot's state (under the version
    /// being placed: not meaningful for rows served by the previous placement).
    pub model_cost: f64,
    /// Whether it ran on the new placement (a placement period).
    pub new_placement: bool,
}

/// A strategy's total over the periods.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StrategyTotal {
    /// Strategy.
    pub strategy: String,
    /// Summed period cost, predicted and measured.
    pub total: [f64; 2],
    /// 95 % half-width of the measured total (periods independent).
    pub total_ci95: f64,
}

/// The run's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlacementRunReport {
    /// The link.
    pub channel: LinkChannel,
    /// Inferences per period `Q` the placement is decided for.
    pub inferences_per_period: f64,
    /// Stack time fed to the cost model, s.
    pub stack_s: f64,
    /// The rules on the first version (empty unless asked for).
    pub rules: Vec<RuleRun>,
    /// The horizon the rules ran at.
    pub rules_horizon: Option<usize>,
    /// Every period of every strategy.
    pub periods: Vec<PeriodRun>,
    /// Every inference (also written as `requests.csv`).
    #[serde(skip)]
    pub requests: Vec<RequestRow>,
    /// Per strategy, the sum over periods.
    pub totals: Vec<StrategyTotal>,
    /// What is real and what is emulated.
    pub note: String,
}

/// The note every report carries.
pub const NOTE: &str = "real: edge and device over gRPC, versions, heads downloaded through the \
relay (chunked, SHA-256 verified) and tails, test images; emulated: the device's speed (each \
layer held to the configured device), the link (a relay replaying the channel's states, one per \
slot); the edge is this host, its tail times measured and fed to the cost model";

fn invalid(m: impl Into<String>) -> PipelineError {
    PipelineError::Invalid(m.into())
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> PipelineError + '_ {
    move |source| PipelineError::Io { what: what.into(), source }
}

/// Everything about one version the device needs to decide and play.
struct VersionModel {
    info: VersionInfo,
    problem: StoppingProblem,
    /// Emulated device time of each layer.
    layer_times: Vec<Duration>,
}

/// The cost model of a version: its table on the configured device, the measured edge times,
/// the link's framing and calibrated stack.
fn version_model(
    cfg: &StoppingConfig,
    info: VersionInfo,
    edge_s: Vec<f64>,
    transport: &Transport,
) -> Result<VersionModel> {
    let mut problem = version_problem(cfg, &info, transport)?;
    if edge_s.len() != problem.edge_time_s.len() {
        return Err(invalid("edge times do not match the version's layers"));
    }
    problem.edge_time_s = edge_s;
    let layer_times = layer_times(cfg, &info)?;
    Ok(VersionModel { info, problem, layer_times })
}

/// The optimal rule for the link at horizon `k`, as gain thresholds (its stop sets are
/// upper sets of states on a persistent channel: checked).
fn markov_thresholds(p: &StoppingProblem, chain: &MarkovChannel, k: usize) -> Result<Vec<f64>> {
    markov_backward_induction(p, chain, k)
        .rule
        .gain_thresholds(chain)
        .ok_or_else(|| invalid("the optimal rule is not a rate threshold per stage"))
}

/// Per-request cost from the measured times: `w_T·e2e + w_E·(P_dev·device time + P_tx·upload
/// time)`, the upload time being the request's wire bytes at the slot's rate.
fn measured_cost(r: &Record, p: &StoppingProblem, power_w: f64, rate_bps: f64) -> f64 {
    let powers = (power_w, p.radio.tx_power_w);
    crate::placement_decision::measured_cost(
        r,
        &p.weights,
        powers,
        &p.transport.framing,
        Some(rate_bps),
    )
}

/// The cost model's cost of what request `r` did at uplink rate `rate_bps`: the layers it ran
/// on the device plus offloading there (or the whole model on the device).
fn model_cost(r: &Record, p: &StoppingProblem, rate_bps: f64) -> (Option<usize>, f64) {
    let stage = r.cut.map(|c| (c + 1).max(0) as usize);
    let n = p.layers();
    let ran = stage.unwrap_or(n).min(n);
    let local: f64 = p.local_cost[..ran].iter().sum();
    let gain = p.radio.gain_for_rate(rate_bps);
    (stage, local + stage.map_or(0.0, |s| p.offload_cost(s, gain)))
}

/// Rows of `served` under `context`.
fn request_rows(
    context: &str,
    served: &[Served],
    p: &StoppingProblem,
    device_power: f64,
) -> Vec<RequestRow> {
    served
        .iter()
        .map(|s| {
            let (stage, model) = model_cost(&s.record, p, s.rate);
            RequestRow {
                context: context.into(),
                slot: s.slot,
                rate_bps: s.rate,
                stage,
                frame_bytes: s.record.frame_bytes,
                e2e_ms: s.record.e2e_ms,
                device_ms: s.record.head_ms + s.record.local_ms,
                transmit_ms: s.record.transmit_ms,
                edge_tail_ms: s.record.edge_tail_ms,
                measured_cost: measured_cost(&s.record, p, device_power, s.rate),
                model_cost: model,
                new_placement: s.new,
            }
        })
        .collect()
}

/// Runs every strategy over the versions (and the rule comparison); progress: one stage per
/// strategy, in periods.
pub fn placement_run(
    run: &PlacementRunConfig,
    progress: &mut dyn Progress,
) -> Result<PlacementRunReport> {
    let cfg = &run.config;
    if run.versions.is_empty() || run.strategies.is_empty() || run.requests == 0 {
        return Err(invalid("placement run: at least one version, one strategy and one request"));
    }
    if run.states < 2 || !(run.slot_ms.is_finite() && run.slot_ms > 5.0) {
        return Err(invalid("placement run: --states ≥ 2 and --slot-ms > 5"));
    }
    cfg.layer_download_costs().map_err(|e| invalid(e.to_string()))?;
    let radio_ch = cfg.channel.build(&cfg.radio).map_err(|e| invalid(e.to_string()))?;
    let chain = link_chain(radio_ch.expect(&|h| h), run.states)?;
    let rates: Vec<f64> = chain.gains().iter().map(|&h| cfg.radio.rate_bps(h)).collect();
    let served = serve_dir(&run.versions)?;
    let names: Vec<String> = run
        .versions
        .iter()
        .map(|p| p.file_stem().and_then(|s| s.to_str()).unwrap_or("v").to_string())
        .collect();
    let engine = coinfer_engine::engine_for_name(&run.engine)?;
    let host = ModelStore::new(served.path(), engine.clone());
    let test = coinfer_data::load(DatasetName::FashionMnist, Split::Test)?;
    let inputs: Vec<_> = (0..test.len().min(512))
        .map(|k| {
            let (x, y) = test.slice(k, k + 1);
            (x, u32::from(y[0]))
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("starting the async runtime"))?;

    // Edge tails and the stack are timed one request per slot (less the inference itself), as
    // the testbed will run them: after tens of milliseconds idle this host's caches are cold.
    let idle = Duration::from_secs_f64((run.slot_ms - 10.0).max(0.0) / 1e3);
    let edge_s = names
        .iter()
        .map(|name| {
            let id = ModelId { model: MODEL.into(), version: name.clone() };
            edge_times(&host, &id, &inputs[0].0, idle)
        })
        .collect::<Result<Vec<_>>>()?;

    // The cost model's transport: gRPC + the raw codec's header, the configured RTT, the
    // stack time calibrated on this host (edge-only requests of the first version, its
    // whole-model tail as timed above taken out).
    let framing = crate::mcia_deploy::runtime_framing(&Codec::RawF32);
    let rtt_s = cfg.transport.rtt_s;
    let stack_s = rt.block_on(crate::mcia_deploy::calibrate_stack(
        MODEL,
        &names[0],
        served.path(),
        &Arc::new(ModelStore::new(served.path(), engine.clone())),
        engine.clone(),
        &test,
        rtt_s,
        &framing,
        crate::mcia_deploy::Spacing { gap: idle, tail_s: edge_s[0][0] },
    ))?;
    let transport = Transport {
        rtt_s,
        stack_s,
        framing,
        down_bps: cfg.placement.download_rate_bps,
        rx_power_w: cfg.placement.rx_power_w,
    };
    let device_power = cfg.device.compute().map_err(|e| invalid(e.to_string()))?.power_w;
    let q = cfg.placement.inferences_per_period;

    // Per version: the advertised heads (from a first edge) with the edge times above.
    let models: Vec<VersionModel> = rt.block_on(async {
        let state = EdgeState::new(served.path(), engine.clone(), EdgeConfig::default())?;
        let edge = EdgeHandle::start(state, local_any(), None).await?;
        let mut client = EdgeClient::new(&edge.url(), None)?;
        let infos = client
            .versions(MODEL)
            .await
            .map_err(|s| invalid(format!("versions: {}", s.message())))?
            .versions;
        edge.stop().await?;
        let mut out = vec![];
        for (name, edge_s) in names.iter().zip(edge_s) {
            let info = infos
                .iter()
                .find(|v| &v.version == name)
                .cloned()
                .ok_or_else(|| invalid(format!("version `{name}` not served")))?;
            out.push(version_model(cfg, info, edge_s, &transport)?);
        }
        Ok::<_, PipelineError>(out)
    })?;
    let period_decisions = |m: &VersionModel| -> (Vec<PlacementCost>, PlacementCost) {
        let per: Vec<f64> = (0..=m.problem.layers())
            .map(|k| markov_backward_induction(&m.problem, &chain, k).expected_cost)
            .collect();
        placement_costs(&per, &omega(cfg, &m.info), q)
    };

    let slots_needed = run.requests * (run.versions.len() * run.strategies.len() + 8) + 64;
    let order = state_order(run.states, slots_needed, run.seed);
    let link = LinkChannel {
        gains: chain.gains().to_vec(),
        rates_bps: rates.clone(),
        download_bps: cfg.placement.download_rate_bps,
        slot_ms: run.slot_ms,
    };

    let mut rules = vec![];
    let mut requests = vec![];
    let mut rules_horizon = None;
    if run.compare_rules {
        progress.start("stopping rules on the runtime", 6);
        let m = &models[0];
        let k = period_decisions(m).1.k;
        rules_horizon = Some(k);
        let got = rt.block_on(compare_rules(
            run,
            (served.path(), engine.clone()),
            (&order, &rates, &inputs),
            (m, &chain, k, &names[0], device_power),
            progress,
        ))?;
        rules = got.0;
        requests.extend(got.1);
        progress.finish();
    }

    let mut periods = vec![];
    let mut totals = vec![];
    for strategy in &run.strategies {
        progress.start(&format!("{strategy}"), run.versions.len() as u64);
        let (rows, reqs) = rt.block_on(run_strategy(
            run,
            *strategy,
            (served.path(), engine.clone()),
            (&order, &rates, &inputs),
            (&models, &names, &chain, device_power),
            &period_decisions,
            progress,
        ))?;
        progress.finish();
        requests.extend(reqs);
        let total =
            rows.iter().fold([0.0, 0.0], |t, r| [t[0] + r.period_cost[0], t[1] + r.period_cost[1]]);
        let total_ci95 = rows.iter().map(|r| r.period_cost_ci95.powi(2)).sum::<f64>().sqrt();
        totals.push(StrategyTotal { strategy: strategy.to_string(), total, total_ci95 });
        periods.extend(rows);
    }
    Ok(PlacementRunReport {
        channel: link,
        inferences_per_period: q,
        stack_s,
        rules,
        rules_horizon,
        periods,
        requests,
        totals,
        note: NOTE.into(),
    })
}

/// The device of the testbed.
fn base_plan() -> DevicePlan {
    DevicePlan::new("device", MODEL, SplitChoice::EdgeOnly)
}

/// The stopping rules at horizon `k` of the first version, each over `requests` slots.
async fn compare_rules(
    run: &PlacementRunConfig,
    edge: (&Path, Arc<dyn coinfer_engine::Engine>),
    link: (&[usize], &[f64], &[(coinfer_engine::Tensor, u32)]),
    (m, chain, k, version, device_power): (&VersionModel, &MarkovChannel, usize, &str, f64),
    progress: &mut dyn Progress,
) -> Result<(Vec<RuleRun>, Vec<RequestRow>)> {
    let mut requests = vec![];
    let cfg = &run.config;
    let p = &m.problem;
    let n = p.layers();
    let marginal = chain.marginal().map_err(|e| invalid(e.to_string()))?;
    let engine = edge.1.clone();
    let mut bed =
        testbed(edge, link, run.slot_ms, (cfg.transport.rtt_s, cfg.placement.download_rate_bps))
            .await?;
    let state = bed.edge.state.clone();
    tokio::task::block_in_place(|| state.prepare_version(MODEL, version))?;
    let device_dir = tempfile::tempdir().map_err(io("creating the device folder"))?;
    let store = Arc::new(ModelStore::new(device_dir.path(), engine));
    // Place K layers once; every rule runs from them (always-local from the whole model).
    let mut client = bed.client.clone();
    let options = FetchOptions::default();
    let head = if k > 0 {
        Some(fetch_head(&mut client, MODEL, &m.info, k, device_dir.path(), &options).await?)
    } else {
        None
    };
    let whole = fetch_head(&mut client, MODEL, &m.info, n, device_dir.path(), &options).await?;
    let rules: Vec<(String, usize, Vec<f64>)> = vec![
        ("optimal for the link (Markov)".into(), k, markov_thresholds(p, chain, k)?),
        (
            "i.i.d. optimal (seed 002)".into(),
            k,
            backward_induction(p, &marginal, k).rule.thresholds,
        ),
        ("i.i.d. one-stage look-ahead".into(), k, one_stage_look_ahead(p, &marginal, k).thresholds),
        ("best fixed split (in expectation)".into(), k, fixed_split(p, &marginal, k).1.thresholds),
        ("always offload input".into(), k, always_offload().thresholds),
        ("always local (whole model)".into(), n, always_local(n).thresholds),
    ];
    let mut out = vec![];
    for (name, horizon, eta) in rules {
        let expected =
            markov_expected_cost(p, chain, horizon, &OnStates { thresholds: &eta, channel: chain });
        let local = if horizon == n {
            Some(LocalModel { id: whole.local.clone(), complete: true })
        } else {
            head.as_ref().map(|h| LocalModel { id: h.local.clone(), complete: false })
        };
        let plan = online_plan(&base_plan(), version, horizon, &eta, p);
        let mut dev = runner(&bed, store.clone(), plan.clone(), m.layer_times.clone());
        dev.switch(plan, local).await?;
        bed.warm_up(&mut dev).await?;
        let (records, _) = bed.serve(&mut dev, run.requests, None).await?;
        requests.extend(request_rows(&name, &records, p, device_power));
        let costs: Vec<f64> =
            records.iter().map(|s| measured_cost(&s.record, p, device_power, s.rate)).collect();
        let measured = Measured::of(&costs);
        let count =
            |f: &dyn Fn(ServedBy) -> bool| records.iter().filter(|s| f(s.record.served_by)).count();
        out.push(RuleRun {
            rule: name,
            expected_cost: expected,
            measured_cost: measured,
            relative_error: measured.mean / expected - 1.0,
            served: [
                count(&|s| s == ServedBy::Edge),
                count(&|s| s == ServedBy::Local),
                count(&|s| matches!(s, ServedBy::Fallback | ServedBy::Unanswered)),
            ],
        });
        progress.set(out.len() as u64);
    }
    bed.edge.stop().await?;
    Ok((out, requests))
}

/// One strategy over every version: publish, decide `K`, download while serving with the
/// previous placement, switch, serve the rest of the period.
async fn run_strategy(
    run: &PlacementRunConfig,
    strategy: Strategy,
    edge: (&Path, Arc<dyn coinfer_engine::Engine>),
    link: (&[usize], &[f64], &[(coinfer_engine::Tensor, u32)]),
    (models, names, chain, device_power): (&[VersionModel], &[String], &MarkovChannel, f64),
    decide: &dyn Fn(&VersionModel) -> (Vec<PlacementCost>, PlacementCost),
    progress: &mut dyn Progress,
) -> Result<(Vec<PeriodRun>, Vec<RequestRow>)> {
    let mut requests = vec![];
    let cfg = &run.config;
    let engine = edge.1.clone();
    let mut bed =
        testbed(edge, link, run.slot_ms, (cfg.transport.rtt_s, cfg.placement.download_rate_bps))
            .await?;
    let device_dir = tempfile::tempdir().map_err(io("creating the device folder"))?;
    let store = Arc::new(ModelStore::new(device_dir.path(), engine));
    // Before the first version lands the device holds nothing: it sends its input.
    let first = online_plan(&base_plan(), &names[0], 0, &[], &models[0].problem);
    let mut dev = runner(&bed, store.clone(), first.clone(), vec![]);
    dev.switch(first, None).await?;
    let mut rows = vec![];
    for (i, (m, name)) in models.iter().zip(names).enumerate() {
        // A real edge prepares a version's tails when it publishes it.
        let state = bed.edge.state.clone();
        tokio::task::block_in_place(|| state.prepare_version(MODEL, name))?;
        bed.edge.state.publish(MODEL, name)?;
        // The device learns of the version from the edge, and decides.
        let mut client = bed.client.clone();
        let listed = client
            .versions(MODEL)
            .await
            .map_err(|s| invalid(format!("versions: {}", s.message())))?;
        let info = listed.versions.last().cloned().ok_or_else(|| invalid("nothing published"))?;
        if info.version != *name {
            return Err(invalid(format!("published `{name}`, the edge lists `{}`", info.version)));
        }
        let n = m.problem.layers();
        let (all, best) = decide(m);
        let k = match strategy {
            Strategy::Optimal => best.k,
            Strategy::Full => n,
            Strategy::Nothing => 0,
            Strategy::Fixed(k) => k.min(n),
        };
        let chosen = all[k];
        let eta = markov_thresholds(&m.problem, chain, k)?;
        let plan = online_plan(&base_plan(), name, k, &eta, &m.problem);
        tracing::info!(%strategy, version = %name, k, n, "placement decided");
        let (records, fetched) = if k == 0 {
            dev.switch(plan, None).await?;
            dev.set_emulated_layers(vec![]);
            bed.serve(&mut dev, run.requests, None).await?
        } else {
            let (mut c, info, dir) =
                (client.clone(), info.clone(), device_dir.path().to_path_buf());
            let task = tokio::spawn(async move {
                fetch_head(&mut c, MODEL, &info, k, &dir, &FetchOptions::default()).await
            });
            let pending = Pending { task, plan, complete: k == n, layers: m.layer_times.clone() };
            bed.serve(&mut dev, run.requests, Some(pending)).await?
        };
        requests.extend(request_rows(
            &format!("{strategy} / {name}"),
            &records,
            &m.problem,
            device_power,
        ));
        let new: Vec<f64> = records
            .iter()
            .filter(|s| s.new)
            .map(|s| measured_cost(&s.record, &m.problem, device_power, s.rate))
            .collect();
        let measured = Measured::of(&new);
        let bytes = fetched.as_ref().map_or(0, |f| f.bytes);
        let predicted_s = if k > 0 { download_s(cfg, bytes) + cfg.transport.rtt_s } else { 0.0 };
        let measured_s = fetched.as_ref().map_or(0.0, |f| f.seconds);
        let w = cfg.weights.time + cfg.weights.energy * cfg.placement.rx_power_w;
        rows.push(PeriodRun {
            strategy: strategy.to_string(),
            version: name.clone(),
            layers: n,
            k,
            bytes,
            download_s: [predicted_s, measured_s],
            download_error: (k > 0).then(|| measured_s / predicted_s - 1.0),
            download_j: [
                cfg.placement.rx_power_w * predicted_s,
                cfg.placement.rx_power_w * measured_s,
            ],
            omega: [chosen.download, w * measured_s],
            per_inference: [chosen.per_inference, measured.mean],
            measured_cost: measured,
            period_cost: [
                chosen.total,
                w * measured_s + cfg.placement.inferences_per_period * measured.mean,
            ],
            period_cost_ci95: cfg.placement.inferences_per_period * measured.ci95,
            during_download: records.iter().filter(|s| !s.new).count(),
            resumes: fetched.as_ref().map_or(0, |f| f.resumes),
        });
        progress.set(i as u64 + 1);
    }
    bed.edge.stop().await?;
    Ok((rows, requests))
}
