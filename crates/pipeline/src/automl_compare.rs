//! Seed 000's agent against every baseline on one search space, all scored by the same
//! proxy, cost model and reward: the exhaustive oracle (where the space is enumerable), DDPG
//! and random search at equal episodes over several seeds (with the distinct evaluations
//! each needed to reach the oracle's optimum), uniform pruning with an 8-bit codec, the
//! three-step framework's greedy order (split → prune → encode), Neurosurgeon's best
//! uncompressed split, device-only, and edge-only with the best input image codec.

use std::sync::Arc;

use coinfer_agents::{ddpg_search, random_search};
use coinfer_compress::FeatureCodec;
use coinfer_engine::Engine;
use coinfer_graph::{CutPoint, Graph};
use coinfer_sim::{AutomlEnv, Evaluator, Prediction, PruneConfig, PruneSpace, Work};

use crate::automl::{candidate_cuts, environment, space_at, AutomlJob, ProxyData};
use crate::automl_cache::{Cached, Recorder};
use crate::automl_proxy::AccuracyProxy;
use crate::error::{PipelineError, Result};
use crate::evaluate::{evaluate, Stages};
use crate::image_codec::{input_session_codec, ImageCodec, INPUT_CALIBRATION_IMAGES};
use crate::progress::{NoProgress, Progress};

/// What to compare.
#[derive(Clone)]
pub struct CompareConfig<'a> {
    /// The search (its candidates must name exactly one cut).
    pub job: AutomlJob<'a>,
    /// The model the uncompressed baselines run (the job's model without a bottleneck).
    pub baseline_graph: &'a Graph,
    /// Seeds of the agent and of random search.
    pub seeds: Vec<u64>,
    /// Largest space the exhaustive oracle enumerates.
    pub exhaustive_limit: usize,
}

/// One method's answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct MethodResult {
    /// Method name.
    pub method: String,
    /// Seed, for searches.
    pub seed: Option<u64>,
    /// The configuration at the compared cut, if the method chose one there.
    pub config: Option<PruneConfig>,
    /// Proxy accuracy (validation images), in `[0, 1]`.
    pub accuracy: f64,
    /// Bytes per inference on the link (whole frames; `None`: nothing sent).
    pub bytes: Option<f64>,
    /// Predicted end-to-end latency (s).
    pub latency_s: f64,
    /// The reward.
    pub reward: f64,
    /// Distinct configurations (or codecs) the method evaluated.
    pub evaluations: usize,
    /// Distinct evaluations until the method first held the oracle's optimum (or a
    /// configuration within 0.1 point of its accuracy and 1 % of its latency).
    pub evaluations_to_optimum: Option<usize>,
    /// Best reward after each distinct evaluation (searches only).
    pub curve: Vec<f64>,
    /// What the method chose, where its name does not say (the AutoML plan: `split`,
    /// `device-only` or an edge-only codec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Every method on one space.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// The compared cut.
    pub cut: Option<CutPoint>,
    /// Configurations in the space.
    pub space_size: f64,
    /// The unpruned configuration's predicted latency (s), the linear reward's reference.
    pub reference_s: f64,
    /// The oracle, if the space was enumerated.
    pub oracle: Option<MethodResult>,
    /// Every method (searches once per seed).
    pub methods: Vec<MethodResult>,
}

type Proxy<'a> = Cached<AccuracyProxy<'a>>;

/// Runs the comparison; progress in episodes and evaluations.
pub fn compare(config: &CompareConfig<'_>, progress: &mut dyn Progress) -> Result<Comparison> {
    let job = &config.job;
    let cuts = candidate_cuts(job)?;
    let [cut] = cuts.as_slice() else {
        return Err(PipelineError::Invalid(format!(
            "a comparison is on one cut; {} candidates given",
            cuts.len()
        )));
    };
    let data = ProxyData::load(job)?;
    let engine = coinfer_engine::engine_for_name(job.engine)?;
    let space = space_at(job, cut.as_ref())?;
    let mut cached = crate::automl::proxy(job, cut, &space, &engine, &data)?;
    progress.note(&format!("{} evaluations cached", cached.len()));
    let reference = environment(job, space.clone(), &mut cached)?.reward_reference()?;

    let oracle = if space.size() <= config.exhaustive_limit as f64 {
        Some(exhaustive(job, &space, &mut cached, progress)?)
    } else {
        None
    };
    let mut methods = vec![];
    for &seed in &config.seeds {
        for agent in [true, false] {
            let mut env = environment(job, space.clone(), Recorder::new(&mut cached))?;
            let label = if agent { "ddpg" } else { "random" };
            progress.start(&format!("{label} seed {seed}"), job.episodes as u64);
            let result = if agent {
                let mut agent = crate::automl::agent(job, &env, seed)?;
                ddpg_search(&mut env, &mut agent, job.episodes, seed, |l| {
                    progress.set(l.episode as u64 + 1)
                })?
            } else {
                random_search(&mut env, job.episodes, seed, |l| progress.set(l.episode as u64 + 1))?
            };
            progress.finish();
            let best = crate::automl::best_outcome(&mut env, &result)?;
            let log = env.evaluator().log.clone();
            let (curve, evaluations_to_optimum) = curve(&mut env, &log, oracle.as_ref())?;
            methods.push(MethodResult {
                method: label.into(),
                seed: Some(seed),
                config: Some(best.config.clone()),
                accuracy: best.evaluated.accuracy,
                bytes: best.cost.feature_bytes,
                latency_s: best.cost.prediction.total_s,
                reward: best.reward,
                evaluations: log.len(),
                evaluations_to_optimum,
                curve,
                note: None,
            });
        }
    }
    methods.push(uniform(job, &space, &mut cached)?);
    methods.push(three_step(job, &space, &mut cached)?);
    let found = baselines(job, config.baseline_graph, &data, engine, reference)?;
    // What `coinfer automl` deploys per seed: the agent's split, unless device-only or
    // edge-only with the deployable input codec scores a better reward.
    let unsplit = [&found.methods[0], &found.deployable_edge_only];
    let plans: Vec<MethodResult> = methods
        .iter()
        .filter(|m| m.method == "ddpg")
        .map(|m| {
            let best = unsplit
                .iter()
                .copied()
                .filter(|u| u.reward > m.reward)
                .max_by(|a, b| a.reward.total_cmp(&b.reward));
            let mut plan = best.cloned().unwrap_or_else(|| m.clone());
            plan.method = AUTOML_PLAN.into();
            plan.note = Some(best.map_or("split".into(), |u| u.method.clone()));
            (plan.seed, plan.evaluations, plan.curve) = (m.seed, m.evaluations, vec![]);
            plan
        })
        .collect();
    methods.extend(found.methods);
    methods.extend(plans);
    progress
        .note(&format!("{} evaluations computed, {} from the cache", cached.misses, cached.hits));
    let reference_s = reference.0;
    Ok(Comparison { cut: cut.clone(), space_size: space.size(), reference_s, oracle, methods })
}

/// Whether `m` holds the oracle's optimum (or is within 0.1 point and 1 % of it).
fn reaches(accuracy: f64, latency_s: f64, reward: f64, oracle: &MethodResult) -> bool {
    reward >= oracle.reward - 1e-12
        || (accuracy >= oracle.accuracy - 0.001 && latency_s <= oracle.latency_s * 1.01)
}

/// A search's best reward after each of its distinct evaluations (`log`, in order), and
/// the number of evaluations until it first held the oracle's optimum.
fn curve<E: Evaluator>(
    env: &mut AutomlEnv<E>,
    log: &[(PruneConfig, coinfer_sim::Evaluated)],
    oracle: Option<&MethodResult>,
) -> Result<(Vec<f64>, Option<usize>)> {
    let (mut curve, mut best, mut hit) = (vec![], f64::NEG_INFINITY, None);
    for (i, (config, _)) in log.iter().enumerate() {
        let o = env.score(config)?;
        best = best.max(o.reward);
        curve.push(best);
        let at = oracle.is_some_and(|or| {
            reaches(o.evaluated.accuracy, o.cost.prediction.total_s, o.reward, or)
        });
        if hit.is_none() && at {
            hit = Some(i + 1);
        }
    }
    Ok((curve, hit))
}

/// The best of `configs` (those within the budget) by reward.
fn best_of(
    job: &AutomlJob<'_>,
    space: &PruneSpace,
    cached: &mut Proxy<'_>,
    method: &str,
    configs: Vec<PruneConfig>,
    progress: &mut dyn Progress,
) -> Result<MethodResult> {
    let mut env = environment(job, space.clone(), cached)?;
    let feasible: Vec<PruneConfig> = configs.into_iter().filter(|c| env.within_budget(c)).collect();
    progress.start(method, feasible.len() as u64);
    let mut best: Option<coinfer_sim::EpisodeOutcome> = None;
    for (i, c) in feasible.iter().enumerate() {
        let o = env.score(c)?;
        if best.as_ref().is_none_or(|b| o.reward > b.reward) {
            best = Some(o);
        }
        progress.set(i as u64 + 1);
    }
    progress.finish();
    let best =
        best.ok_or_else(|| PipelineError::Invalid(format!("{method}: nothing within the budget")))?;
    Ok(MethodResult {
        method: method.into(),
        seed: None,
        config: Some(best.config.clone()),
        accuracy: best.evaluated.accuracy,
        bytes: best.cost.feature_bytes,
        latency_s: best.cost.prediction.total_s,
        reward: best.reward,
        evaluations: env.evaluations(),
        evaluations_to_optimum: None,
        curve: vec![],
        note: None,
    })
}

fn exhaustive(
    job: &AutomlJob<'_>,
    space: &PruneSpace,
    cached: &mut Proxy<'_>,
    progress: &mut dyn Progress,
) -> Result<MethodResult> {
    best_of(job, space, cached, "exhaustive", space.enumerate(), progress)
}

/// Keep ratios a uniform baseline tries: every eighth from the smallest kept fraction.
fn ratios(space: &PruneSpace) -> Vec<f64> {
    let mut r: Vec<f64> =
        (0..=8).map(|k| k as f64 / 8.0).filter(|&r| r >= space.min_keep).collect();
    if r.first().is_none_or(|&f| f > space.min_keep) {
        r.insert(0, space.min_keep);
    }
    r
}

fn uniform_config(space: &PruneSpace, ratio: f64, bits: u8) -> PruneConfig {
    PruneConfig {
        kept: (0..space.decisions.len()).map(|i| space.nearest(i, ratio)).collect(),
        bits,
    }
}

/// The bit width nearest 8 among the space's options (8-bit codec baselines).
fn eight_bits(space: &PruneSpace) -> u8 {
    space
        .feature
        .as_ref()
        .map_or(0, |f| *f.bits.iter().min_by_key(|&&b| (b as i32 - 8).abs()).unwrap_or(&8))
}

/// Uniform pruning at every ratio, 8-bit codec.
fn uniform(
    job: &AutomlJob<'_>,
    space: &PruneSpace,
    cached: &mut Proxy<'_>,
) -> Result<MethodResult> {
    let bits = eight_bits(space);
    let configs = ratios(space).into_iter().map(|r| uniform_config(space, r, bits)).collect();
    best_of(job, space, cached, "uniform + 8-bit", configs, &mut NoProgress)
}

/// The three-step framework's order: (the split is the compared cut) prune uniformly at the
/// most bits, then choose the bits for that pruning.
fn three_step(
    job: &AutomlJob<'_>,
    space: &PruneSpace,
    cached: &mut Proxy<'_>,
) -> Result<MethodResult> {
    let most = space.full().bits;
    let configs = ratios(space).into_iter().map(|r| uniform_config(space, r, most)).collect();
    let pruned = best_of(job, space, cached, "three-step", configs, &mut NoProgress)?;
    let kept = pruned.config.map(|c| c.kept).unwrap_or_default();
    let bits = space.feature.as_ref().map_or(vec![0], |f| f.bits.clone());
    let configs = bits.into_iter().map(|b| PruneConfig { kept: kept.clone(), bits: b }).collect();
    let mut m = best_of(job, space, cached, "three-step", configs, &mut NoProgress)?;
    m.evaluations += ratios(space).len();
    Ok(m)
}

/// The cost model's predictions for the unpruned, unsplit model: on the device, or on the
/// edge with the input sent.
pub struct UnsplitCosts {
    /// Device-only.
    pub device_only: Prediction,
    /// Seconds of the whole model on the edge.
    edge_s: f64,
}

impl UnsplitCosts {
    /// `graph`'s costs on `job`'s hardware and link.
    pub fn new(job: &AutomlJob<'_>, graph: &Graph) -> Result<UnsplitCosts> {
        let options = crate::automl_space::SpaceOptions {
            multiple_of: 1,
            min_keep: 1.0,
            bits: vec![8],
            header_bytes: 0.0,
        };
        let whole = crate::automl_space::prune_space(graph, None, &options)?;
        let device_only =
            whole.cost(&whole.full(), &job.device, &job.edge, &job.link, None).prediction;
        let edge_s = whole.layers.iter().map(|l| job.edge.layer_s(&l.layer)).sum();
        Ok(UnsplitCosts { device_only, edge_s })
    }

    /// Edge-only with `bytes` of input on the link.
    pub fn edge_only(&self, job: &AutomlJob<'_>, bytes: f64) -> Prediction {
        coinfer_sim::predict(&Work::split(0.0, job.device.power_w, bytes, self.edge_s), &job.link)
    }
}

/// The baselines of a search, scored like its configurations.
pub struct Baselines {
    /// Device-only, Neurosurgeon (fp32) and edge-only with the best input codec.
    pub methods: Vec<MethodResult>,
    /// Edge-only with the input codec a plan can deploy ([`input_session_codec`]).
    pub deployable_edge_only: MethodResult,
    /// That codec.
    pub deployable_codec: coinfer_compress::Codec,
}

/// Device-only, Neurosurgeon's best uncompressed split and edge-only with the best input
/// codec (raw bytes, PNG, JPEG, or the pixels ANS coded with a per-pixel model), all on the
/// unpruned `graph`, scored on `data`'s validation images with `job`'s hardware, link and
/// reward (`reference`: the reward's reference latency and accuracy, those of the searched
/// space's unpruned configuration).
pub fn baselines(
    job: &AutomlJob<'_>,
    graph: &Graph,
    data: &ProxyData,
    engine: Arc<dyn Engine>,
    reference: (f64, f64),
) -> Result<Baselines> {
    let (reference_s, reference_accuracy) = reference;
    let model = engine.prepare(&graph.proto)?;
    let raw = coinfer_compress::Codec::RawF32;
    let accuracy =
        evaluate(Stages::DeviceOnly(model.as_ref()), &raw, &data.val, 500, None, &mut NoProgress)?
            .accuracy;
    let fixed =
        |method: &str, accuracy: f64, bytes: Option<f64>, latency_s: f64, evaluations: usize| {
            MethodResult {
                method: method.into(),
                seed: None,
                config: None,
                accuracy,
                bytes,
                latency_s,
                reward: job.reward.value(accuracy, latency_s, reference_s, reference_accuracy),
                evaluations,
                evaluations_to_optimum: None,
                curve: vec![],
                note: None,
            }
        };
    let costs = UnsplitCosts::new(job, graph)?;
    let device = costs.device_only.total_s;
    let mut out = vec![fixed("device-only", accuracy, None, device, 1)];

    // Edge-only: the input crosses the link and the edge runs the whole model.
    let edge_only = |bytes: f64| costs.edge_only(job, bytes).total_s;

    // Neurosurgeon: every cut with the feature as float32, device-only and edge-only with
    // the input as float32; the model unpruned.
    let input_bytes = graph.input_bytes() as f64;
    let mut best = (device, None);
    if edge_only(input_bytes) < best.0 {
        best = (edge_only(input_bytes), Some(input_bytes));
    }
    let on_graph = AutomlJob { graph, ..job.clone() };
    for (t, cut) in crate::automl::uncompressed_split_latencies(&on_graph) {
        if t < best.0 {
            best = (t, Some(cut.feature_bytes as f64));
        }
    }
    out.push(fixed("neurosurgeon (fp32)", accuracy, best.1, best.0, graph.cut_points().len() + 2));

    // Edge-only: the camera's image, as raw bytes, through an image codec, or ANS coded
    // with a per-pixel model (the one a plan deploys).
    let pixels = data.val.image_len() as f64;
    let mut candidates =
        vec![fixed("edge-only (uint8)", accuracy, Some(pixels), edge_only(pixels), 1)];
    let scored = |name: String, codec: &dyn FeatureCodec| -> Result<MethodResult> {
        let e = evaluate(
            Stages::EdgeOnly(model.as_ref()),
            codec,
            &data.val,
            500,
            None,
            &mut NoProgress,
        )?;
        let latency = edge_only(e.bytes_per_sample);
        Ok(fixed(&name, e.accuracy, Some(e.bytes_per_sample), latency, 1))
    };
    for codec in ImageCodec::sweep() {
        candidates.push(scored(format!("edge-only ({})", codec.name()), &codec)?);
    }
    let session = input_session_codec(job.data, INPUT_CALIBRATION_IMAGES)?;
    let deployable = scored(DEPLOYABLE_EDGE_ONLY.into(), &session)?;
    candidates.push(deployable.clone());
    let n = candidates.len();
    let mut best = candidates
        .into_iter()
        .max_by(|a, b| a.reward.total_cmp(&b.reward))
        .ok_or_else(|| PipelineError::Invalid("no input codec".into()))?;
    best.evaluations = n;
    out.push(best);
    Ok(Baselines { methods: out, deployable_edge_only: deployable, deployable_codec: session })
}

/// The method name of what `coinfer automl` deploys (its note says which plan).
pub const AUTOML_PLAN: &str = "automl plan";

/// The name of edge-only with the deployable input codec.
pub const DEPLOYABLE_EDGE_ONLY: &str = "edge-only (uint8, per-pixel ANS)";

/// One point of a sweep: a device profile and a link rate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepPoint {
    /// Device profile name.
    pub device: String,
    /// Uplink rate (Mbit/s).
    pub rate_mbps: f64,
    /// Every method there.
    pub comparison: Comparison,
}

/// [`compare`] at every device in `devices` (name, compute) and every rate in `rates_mbps`;
/// evaluations are shared through the cache, so only the first point pays for them.
pub fn sweep(
    config: &CompareConfig<'_>,
    devices: &[(String, coinfer_sim::Compute)],
    rates_mbps: &[f64],
    progress: &mut dyn Progress,
) -> Result<Vec<SweepPoint>> {
    if rates_mbps.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(PipelineError::Invalid(format!("link rates must be positive: {rates_mbps:?}")));
    }
    let mut points = vec![];
    for (name, device) in devices {
        for &rate in rates_mbps {
            progress.note(&format!("{name} at {rate} Mbit/s"));
            let mut job = config.job.clone();
            job.device = *device;
            job.link.up_bps = rate * 1e6;
            let c = CompareConfig { job, ..config.clone() };
            points.push(SweepPoint {
                device: name.clone(),
                rate_mbps: rate,
                comparison: compare(&c, progress)?,
            });
        }
    }
    Ok(points)
}
