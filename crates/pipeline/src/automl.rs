//! Seed 000's AutoML co-inference search: for each candidate cut, AMC's DDPG agent walks the
//! head's channel groups, the width of the feature sent and its bits
//! ([`coinfer_sim::AutomlEnv`]), scored by the adaptive-BN accuracy proxy
//! ([`crate::automl_proxy`]) and the one cost model; the best configuration over all cuts
//! wins and is written as a deployment ([`crate::automl_deploy`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

pub use coinfer_agents::DdpgConfig;
use coinfer_agents::{ddpg_search, observation_dim, Ddpg, EpisodeLog, SearchResult};
use coinfer_data::{Dataset, DatasetName, Split};
use coinfer_engine::Engine;
use coinfer_graph::{CutPoint, Graph};
use coinfer_sim::{
    AutomlEnv, AutomlSetup, Budget, Compute, Env, EpisodeOutcome, Framing, Hardware, Link,
    PruneConfig, PruneSpace, Reward, Transport,
};

use crate::automl_cache::{cache_path, Cached};
use crate::automl_proxy::{frame_overhead_bytes, AccuracyProxy};
use crate::automl_space::{prune_space, SpaceOptions};
use crate::error::{PipelineError, Result};
use crate::progress::Progress;

/// Where the search may split.
#[derive(Debug, Clone, PartialEq)]
pub enum Candidates {
    /// These cuts (index or tensor name); `None` in the list = device-only.
    Cuts(Vec<Option<String>>),
    /// The `n` cuts the uncompressed exhaustive search ranks fastest (among cuts with a
    /// prunable head), plus device-only.
    Best(usize),
}

/// What to search.
#[derive(Clone)]
pub struct AutomlJob<'a> {
    /// The trained model (or a model with a learned bottleneck composed in).
    pub graph: &'a Graph,
    /// Candidate cuts.
    pub candidates: Candidates,
    /// Device compute.
    pub device: Compute,
    /// Edge compute.
    pub edge: Compute,
    /// The link (rate, round trip, framing).
    pub link: Link,
    /// The budget the action wall keeps; `None`: unconstrained (the full model's cost).
    pub budget: Option<Budget>,
    /// The reward.
    pub reward: Reward,
    /// Episodes per cut.
    pub episodes: usize,
    /// The agent's settings (its warm-up is capped at half the episodes).
    pub ddpg: DdpgConfig,
    /// Kept counts rounded to multiples of this.
    pub multiple_of: usize,
    /// Smallest fraction of a group kept.
    pub min_keep: f64,
    /// Feature bits the search chooses among (ascending).
    pub bits: Vec<u8>,
    /// Data set (training images re-estimate BatchNorm, validation images score).
    pub data: DatasetName,
    /// Validation images per evaluation.
    pub val_images: usize,
    /// Training images that re-estimate BatchNorm statistics.
    pub recalibration_images: usize,
    /// Engine that scores.
    pub engine: &'a str,
    /// Where evaluations are cached (a rerun, a sweep or a comparison pays for each
    /// configuration once; an interrupted search resumes at cache speed).
    pub cache_dir: &'a std::path::Path,
}

/// One cut's search.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CutSearch {
    /// The cut (`None`: device-only).
    pub cut: Option<CutPoint>,
    /// The space searched.
    pub space: PruneSpace,
    /// Configurations in it.
    pub space_size: f64,
    /// The agent's episodes.
    pub search: SearchResult,
    /// The best configuration and what it scored.
    pub best: EpisodeOutcome,
    /// Distinct configurations evaluated.
    pub evaluations: usize,
    /// Wall time (s).
    pub seconds: f64,
}

/// Every cut's search; `best` indexes the winner.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AutomlReport {
    /// The searches, in candidate order.
    pub searches: Vec<CutSearch>,
    /// Index of the search with the highest reward.
    pub best: usize,
}

impl AutomlReport {
    /// The winning search.
    pub fn winner(&self) -> &CutSearch {
        &self.searches[self.best]
    }
}

/// The data an evaluation uses, loaded once.
pub struct ProxyData {
    /// Training images for BatchNorm re-estimation and codec calibration.
    pub recalibration: Dataset,
    /// Validation images scored.
    pub val: Dataset,
}

impl ProxyData {
    /// Loads `job`'s images; errors if the model's input does not fit them.
    pub fn load(job: &AutomlJob<'_>) -> Result<ProxyData> {
        let recalibration =
            coinfer_data::load(job.data, Split::Train)?.take(job.recalibration_images);
        let val = coinfer_data::load(job.data, Split::Val)?.take(job.val_images);
        let input = job.graph.inputs.first().and_then(|i| job.graph.tensor(i)?.shape.clone());
        let sample = val.image_shape.to_vec();
        if input.as_ref().and_then(|s| s.get(1..)) != Some(sample.as_slice()) {
            return Err(PipelineError::Invalid(format!(
                "the model takes inputs of shape {input:?}, the data set's images are {sample:?} \
                 (after the batch)"
            )));
        }
        Ok(ProxyData { recalibration, val })
    }
}

/// A learned bottleneck folder (`coinfer codec bottleneck`: `device.onnx` = head + encoder,
/// `edge.onnx` = decoder + tail, `bottleneck.json`) as one model, and its code tensor (the
/// cut the search splits at; its channel group is the code width). Errors: a folder without
/// a trained bottleneck.
pub fn bottleneck_model(dir: &std::path::Path) -> Result<(Graph, String)> {
    if !dir.join("bottleneck.json").is_file() {
        return Err(PipelineError::Invalid(format!(
            "{} holds no trained bottleneck (no bottleneck.json): train one with `coinfer codec \
             bottleneck --out {}`",
            dir.display(),
            dir.display()
        )));
    }
    let device = coinfer_graph::load_model(&dir.join("device.onnx"))?;
    let edge = coinfer_graph::load_model(&dir.join("edge.onnx"))?;
    let code = device
        .graph
        .as_ref()
        .and_then(|g| g.output.first())
        .map(|o| o.name.clone())
        .ok_or_else(|| PipelineError::Invalid("device.onnx has no output".into()))?;
    let graph = Graph::analyse(coinfer_graph::compose(&device, &edge, "edge.")?)?;
    graph.find_cut(&code)?;
    Ok((graph, code))
}

/// The space of `job` at `cut`.
pub fn space_at(job: &AutomlJob<'_>, cut: Option<&CutPoint>) -> Result<PruneSpace> {
    let header_bytes = match cut {
        Some(_) => frame_overhead_bytes(),
        None => 0.0,
    };
    let options = SpaceOptions {
        multiple_of: job.multiple_of,
        min_keep: job.min_keep,
        bits: job.bits.clone(),
        header_bytes,
    };
    prune_space(job.graph, cut, &options)
}

/// The environment of `job` over `space`, scored by `proxy`.
pub fn environment<E: coinfer_sim::Evaluator>(
    job: &AutomlJob<'_>,
    space: PruneSpace,
    proxy: E,
) -> Result<AutomlEnv<E>> {
    let budget = match job.budget {
        Some(b) => b,
        None => Budget::LatencyS(
            space.cost(&space.full(), &job.device, &job.edge, &job.link, None).prediction.total_s,
        ),
    };
    let setup = AutomlSetup {
        space,
        device: job.device,
        edge: job.edge,
        link: job.link.clone(),
        budget,
        reward: job.reward,
    };
    AutomlEnv::new(setup, proxy).map_err(|e| PipelineError::Invalid(e.to_string()))
}

/// The link an AutoML search prices: `rate_mbps` up (and down), `rtt_ms` round trip, gRPC
/// framing (what the runtime sends), no radio power.
pub fn search_link(rate_mbps: f64, rtt_ms: f64) -> Link {
    Link {
        up_bps: rate_mbps * 1e6,
        tx_power_w: 0.0,
        transport: Transport {
            rtt_s: rtt_ms / 1e3,
            framing: Framing::grpc(),
            ..Transport::ideal()
        },
    }
}

/// The roofline of a hardware profile (a name or a file, [`Hardware::from_spec`]); a measured
/// per-layer table is refused: the search scales each layer's cost with the channels kept,
/// which only a roofline can say.
pub fn profile_compute(spec: &str) -> Result<Compute> {
    match Hardware::from_spec(spec).map_err(|e| PipelineError::Invalid(e.to_string()))? {
        Hardware::Profile(p) => Ok(Compute::from(&p)),
        Hardware::Measured(_) => Err(PipelineError::Invalid(format!(
            "`{spec}`: the AutoML search scales each layer's cost with the channels kept, which \
             needs a hardware profile (a roofline), not a measured table"
        ))),
    }
}

/// The candidate cuts of `job`, resolved.
pub fn candidate_cuts(job: &AutomlJob<'_>) -> Result<Vec<Option<CutPoint>>> {
    match &job.candidates {
        Candidates::Cuts(list) => list
            .iter()
            .map(|c| c.as_ref().map(|c| job.graph.find_cut(c)).transpose().map_err(Into::into))
            .collect(),
        Candidates::Best(n) => {
            let mut ranked = uncompressed_split_latencies(job);
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut cuts: Vec<Option<CutPoint>> =
                ranked.into_iter().take(*n).map(|(_, c)| Some(c)).collect();
            cuts.sort_by_key(|c| c.as_ref().map(|c| c.index));
            cuts.push(None);
            Ok(cuts)
        }
    }
}

/// Every cut of `job`'s model with a prunable head, and its predicted end-to-end latency (s)
/// unpruned with the feature sent as it is (its tensor's bytes): Neurosurgeon's options.
pub fn uncompressed_split_latencies(job: &AutomlJob<'_>) -> Vec<(f64, CutPoint)> {
    let mut out = vec![];
    for cut in job.graph.cut_points() {
        let Ok(space) = space_at(job, Some(&cut)) else { continue };
        let bytes = Some(cut.feature_bytes as f64);
        let p = space.cost(&space.full(), &job.device, &job.edge, &job.link, bytes);
        out.push((p.prediction.total_s, cut));
    }
    out
}

/// An AutoML environment that shares its best finished episode (for checkpoints written
/// while the search runs).
struct Tracked<E: coinfer_sim::Evaluator> {
    env: AutomlEnv<E>,
    best: Rc<RefCell<Option<EpisodeOutcome>>>,
}

impl<E: coinfer_sim::Evaluator> Env for Tracked<E> {
    type Action = [f32];
    fn observation_space(&self) -> coinfer_sim::Space {
        self.env.observation_space()
    }
    fn action_space(&self) -> coinfer_sim::Space {
        self.env.action_space()
    }
    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        self.env.reset(seed)
    }
    fn step(
        &mut self,
        action: &[f32],
    ) -> std::result::Result<coinfer_sim::Step, coinfer_sim::EnvError> {
        let step = self.env.step(action)?;
        if let (true, Some(o)) = (step.done, self.env.last_outcome()) {
            let mut best = self.best.borrow_mut();
            if best.as_ref().is_none_or(|b| o.reward > b.reward) {
                *best = Some(o.clone());
            }
        }
        Ok(step)
    }
}

/// Runs the search at every candidate cut. `on_episode(cut, log, best)` sees every episode
/// and the best configuration of this cut so far (a checkpoint to write).
pub fn automl_search(
    job: &AutomlJob<'_>,
    progress: &mut dyn Progress,
    mut on_episode: impl FnMut(Option<&CutPoint>, &EpisodeLog, Option<&EpisodeOutcome>),
) -> Result<AutomlReport> {
    check(job)?;
    let data = ProxyData::load(job)?;
    let engine = coinfer_engine::engine_for_name(job.engine)?;
    // Every environment is built (and every budget checked) before the first search starts.
    let mut envs = vec![];
    for cut in candidate_cuts(job)? {
        let space = space_at(job, cut.as_ref())?;
        let proxy = proxy(job, &cut, &space, &engine, &data)?;
        envs.push((cut, environment(job, space, proxy)?));
    }
    let mut searches = vec![];
    for (cut, env) in envs {
        let space = env.setup().space.clone();
        let name = cut.as_ref().map_or("device-only".to_string(), |c| format!("cut {}", c.index));
        progress.start(&format!("AutoML {name}"), job.episodes as u64);
        let t = Instant::now();
        let best = Rc::new(RefCell::new(None));
        let mut tracked = Tracked { env, best: best.clone() };
        let mut agent = agent(job, &tracked.env, job.ddpg.seed)?;
        let search = ddpg_search(&mut tracked, &mut agent, job.episodes, job.ddpg.seed, |log| {
            progress.set(log.episode as u64 + 1);
            progress.status(&format!("AutoML {name} · best {:.4}", log.best));
            on_episode(cut.as_ref(), log, best.borrow().as_ref());
        })?;
        progress.finish();
        let mut env = tracked.env;
        let best = best_outcome(&mut env, &search)?;
        progress.note(&format!(
            "{name}: best reward {:.4} (accuracy {:.2} %, {:.2} ms predicted), {} evaluations",
            best.reward,
            100.0 * best.evaluated.accuracy,
            1e3 * best.cost.prediction.total_s,
            env.evaluations()
        ));
        searches.push(CutSearch {
            cut,
            space_size: space.size(),
            space,
            search,
            best,
            evaluations: env.evaluations(),
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    let best = (0..searches.len())
        .max_by(|&a, &b| searches[a].best.reward.total_cmp(&searches[b].best.reward))
        .ok_or_else(|| PipelineError::Invalid("no candidate cut".into()))?;
    Ok(AutomlReport { searches, best })
}

/// `job`'s DDPG agent for `env`, seeded with `seed`; its warm-up is at most half the
/// episodes.
pub fn agent<E: coinfer_sim::Evaluator>(
    job: &AutomlJob<'_>,
    env: &AutomlEnv<E>,
    seed: u64,
) -> Result<Ddpg> {
    let config = DdpgConfig {
        warmup_episodes: job.ddpg.warmup_episodes.min(job.episodes / 2),
        seed,
        ..job.ddpg.clone()
    };
    let obs = observation_dim(&env.observation_space())?;
    Ok(Ddpg::new(config, obs, 1, env.setup().space.steps())?)
}

/// Checks `job`'s settings before anything is loaded: at least one episode and image of each
/// kind, and a budget for the budget-constrained accuracy reward.
pub fn check(job: &AutomlJob<'_>) -> Result<()> {
    let invalid = |m: String| Err(PipelineError::Invalid(m));
    let rate_mbps = job.link.up_bps / 1e6;
    if !(rate_mbps.is_finite() && rate_mbps > 0.0) {
        return invalid(format!(
            "the link rate must be a finite number of Mbit/s > 0, got {rate_mbps}"
        ));
    }
    let rtt_ms = job.link.transport.rtt_s * 1e3;
    if !(rtt_ms.is_finite() && rtt_ms >= 0.0) {
        return invalid(format!(
            "the link's round-trip time must be a finite number of ms ≥ 0, got {rtt_ms}"
        ));
    }
    match job.budget {
        Some(Budget::LatencyS(v)) | Some(Budget::DeviceMacs(v)) if !(v.is_finite() && v > 0.0) => {
            return invalid(format!("a budget must be a finite number > 0, got {v}"));
        }
        _ => {}
    }
    if job.episodes == 0 || job.val_images == 0 || job.recalibration_images == 0 {
        return Err(PipelineError::Invalid(
            "episodes, validation images and recalibration images must be ≥ 1".into(),
        ));
    }
    if matches!(job.reward, Reward::AccuracyConstrained) && job.budget.is_none() {
        return Err(PipelineError::Invalid(
            "the accuracy reward needs a budget (latency or MACs): without one the search keeps \
             every channel"
                .into(),
        ));
    }
    Ok(())
}

/// The cached proxy of `job` at `cut`.
pub fn proxy<'a>(
    job: &AutomlJob<'a>,
    cut: &Option<CutPoint>,
    space: &PruneSpace,
    engine: &Arc<dyn Engine>,
    data: &ProxyData,
) -> Result<Cached<AccuracyProxy<'a>>> {
    let proxy = AccuracyProxy::new(
        job.graph,
        cut.clone(),
        space,
        engine.clone(),
        data.recalibration.clone(),
        data.val.clone(),
    )?;
    let path = cache_path(
        job.cache_dir,
        &job.graph.proto,
        cut.as_ref().map(|c| c.tensor.as_str()),
        job.val_images,
        job.recalibration_images,
        job.engine,
    );
    Cached::open(&path, proxy)
}

/// The configuration of the best episode of `search`, re-scored (memoised) on `env`.
pub fn best_outcome<E: coinfer_sim::Evaluator>(
    env: &mut AutomlEnv<E>,
    search: &SearchResult,
) -> Result<EpisodeOutcome> {
    let config = replay(env, &search.best_actions)?;
    Ok(env.score(&config)?)
}

/// The configuration a sequence of actions leads to (through the wall).
pub fn replay<E: coinfer_sim::Evaluator>(
    env: &mut AutomlEnv<E>,
    actions: &[Vec<f32>],
) -> Result<PruneConfig> {
    env.reset(None);
    for a in actions {
        if env.step(a)?.done {
            break;
        }
    }
    env.last_outcome()
        .map(|o| o.config.clone())
        .ok_or_else(|| PipelineError::Invalid("the actions do not finish an episode".into()))
}

/// What `coinfer automl` deployed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Deployed {
    /// The searched configuration at its cut (fine-tuned).
    Searched,
    /// The unpruned baseline model on the device: it scored a better reward than any
    /// searched configuration (and meets the budget).
    DeviceOnly,
    /// The unpruned baseline model on the edge, the image sent losslessly by the input
    /// session codec ([`crate::image_codec::input_session_codec`]).
    EdgeOnly,
}

impl std::fmt::Display for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Deployed::Searched => "the searched split",
            Deployed::DeviceOnly => "device-only",
            Deployed::EdgeOnly => crate::automl_compare::DEPLOYABLE_EDGE_ONLY,
        })
    }
}

/// The deployed plan: the search's winner, fine-tuned — or device-only / edge-only when one
/// of those scores the better reward — scored on test images and deployed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AutomlFinal {
    /// What was deployed.
    pub deployed: Deployed,
    /// The search winner's reward (validation proxy).
    pub searched_reward: f64,
    /// The deployed plan's reward (validation; for the searched split, its search reward).
    pub deployed_reward: f64,
    /// The search winner's configuration.
    pub config: PruneConfig,
    /// The deployed plan's cut (`None`: unsplit).
    pub cut: Option<CutPoint>,
    /// Test images scored.
    pub test_images: usize,
    /// The unsplit, unpruned baseline model's test accuracy (without a bottleneck).
    pub baseline_accuracy: f64,
    /// The searched winner's test accuracy before fine-tuning (adaptive BN only; `None` when
    /// a baseline was deployed and the winner not fine-tuned).
    pub accuracy_before_finetune: Option<f64>,
    /// The deployed plan's test accuracy (the searched winner after fine-tuning).
    pub accuracy: f64,
    /// Fine-tuning epochs (0 when a baseline was deployed).
    pub finetune_epochs: usize,
    /// Measured bytes per sample on the link on the test images (whole frames; 0: none).
    pub bytes_per_sample: f64,
    /// The cost model's prediction for the deployed plan with those bytes.
    pub prediction: coinfer_sim::Prediction,
    /// What was written.
    pub deployment: crate::automl_deploy::Deployment,
    /// Device-only, Neurosurgeon (fp32) and edge-only with the best input codec on the
    /// baseline model, same link and reward (validation images).
    pub baselines: Vec<crate::automl_compare::MethodResult>,
    /// The deployed plan's predicted speedup over each baseline (its latency / the plan's).
    pub speedups: Vec<(String, f64)>,
}

/// Whether an unsplit plan with `latency_s` and `device_macs` on the device meets `budget`.
fn meets(budget: Option<Budget>, latency_s: f64, device_macs: f64) -> bool {
    match budget {
        None => true,
        Some(Budget::LatencyS(t)) => latency_s <= t,
        Some(Budget::DeviceMacs(m)) => device_macs <= m,
    }
}

/// Chooses what to deploy (`force_split`: the searched winner whatever the baselines
/// score), realises it — the winner fine-tuned (`fit.epochs` = 0: not at all), or the
/// unpruned `baseline_graph` (the model without a bottleneck) device-only or edge-only —
/// scores it on `test_images` test images, writes the deployment to `out` as model `name`,
/// and sets it against the uncompressed baselines.
#[allow(clippy::too_many_arguments)] // one workflow's settings, each used once
pub fn finish(
    job: &AutomlJob<'_>,
    baseline_graph: &Graph,
    report: &AutomlReport,
    fit: &coinfer_train::FitConfig,
    test_images: usize,
    force_split: bool,
    out: &std::path::Path,
    name: &str,
    progress: &mut dyn Progress,
) -> Result<AutomlFinal> {
    use crate::automl_compare::{baselines, UnsplitCosts};
    let winner = report.winner();
    let data = ProxyData::load(job)?;
    let engine = coinfer_engine::engine_for_name(job.engine)?;
    let mut cached = proxy(job, &winner.cut, &winner.space, &engine, &data)?;
    let reference = environment(job, winner.space.clone(), &mut cached)?.reward_reference()?;
    let proxy = cached.into_inner();
    let test = coinfer_data::load(job.data, Split::Test)?.take(test_images);
    let baseline = crate::finetune::accuracy(&baseline_graph.proto, &test, job.engine)?;
    let found = baselines(job, baseline_graph, &data, engine.clone(), reference)?;
    let costs = UnsplitCosts::new(job, baseline_graph)?;

    // The best deployable alternative within the budget, if it beats the search.
    let device_only = &found.methods[0];
    let edge_only = &found.deployable_edge_only;
    let macs = baseline_graph.total_macs() as f64;
    let alternatives = [
        (Deployed::DeviceOnly, device_only, meets(job.budget, device_only.latency_s, macs)),
        (Deployed::EdgeOnly, edge_only, meets(job.budget, edge_only.latency_s, 0.0)),
    ];
    let alternative = alternatives
        .into_iter()
        .filter(|(_, m, ok)| *ok && m.reward > winner.best.reward && !force_split)
        .max_by(|a, b| a.1.reward.total_cmp(&b.1.reward));

    let config = winner.best.config.clone();
    let (deployed, deployed_reward, accuracy, before, bytes, prediction, deployment, epochs, cut) =
        match alternative {
            Some((kind, m, _)) => {
                progress.note(&format!(
                    "{kind} scores {:.4} > the search's best {:.4}: deploying {kind}",
                    m.reward, winner.best.reward
                ));
                let (split, codec) = match kind {
                    Deployed::EdgeOnly => {
                        (coinfer_sim::SplitChoice::EdgeOnly, Some(&found.deployable_codec))
                    }
                    _ => (coinfer_sim::SplitChoice::DeviceOnly, None),
                };
                let (accuracy, bytes, prediction) = match codec {
                    Some(codec) => {
                        let model = engine.prepare(&baseline_graph.proto)?;
                        let stages = crate::evaluate::Stages::EdgeOnly(model.as_ref());
                        let e = crate::evaluate::evaluate(
                            stages,
                            codec,
                            &test,
                            500,
                            None,
                            &mut crate::NoProgress,
                        )?;
                        (e.accuracy, e.bytes_per_sample, costs.edge_only(job, e.bytes_per_sample))
                    }
                    None => (baseline, 0.0, costs.device_only),
                };
                let (_, deployment) =
                    crate::automl_deploy::deploy_unsplit(baseline_graph, split, codec, out, name)?;
                (kind, m.reward, accuracy, None, bytes, prediction, deployment, 0, None)
            }
            None => {
                let realised = proxy.realise(&config)?;
                let before = proxy.score_on(&realised, &test)?.accuracy;
                let realised = if fit.epochs > 0 {
                    let (tuned, _) = crate::finetune::finetune(
                        &realised.graph,
                        job.data,
                        fit,
                        "fine-tune",
                        progress,
                    )?;
                    proxy.with_codec(Graph::analyse(tuned)?, config.bits)?
                } else {
                    realised
                };
                let scored = proxy.score_on(&realised, &test)?;
                let bytes = realised.split.as_ref().map(|_| scored.bytes_per_sample);
                let cost = winner.space.cost(&config, &job.device, &job.edge, &job.link, bytes);
                let pruning = format!(
                    "coinfer automl: kept {:?} of {:?} channels ({}), feature {} bits",
                    config.kept,
                    winner.space.decisions.iter().map(|d| d.channels).collect::<Vec<_>>(),
                    winner
                        .space
                        .decisions
                        .iter()
                        .map(|d| d.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    config.bits
                );
                let (_, deployment) = crate::automl_deploy::deploy(&realised, out, name, pruning)?;
                let reward = winner.best.reward;
                let bytes = bytes.unwrap_or(0.0);
                let (acc, epochs, cut) = (scored.accuracy, fit.epochs, realised.cut().cloned());
                let prediction = cost.prediction;
                (
                    Deployed::Searched,
                    reward,
                    acc,
                    Some(before),
                    bytes,
                    prediction,
                    deployment,
                    epochs,
                    cut,
                )
            }
        };
    let speedups = found
        .methods
        .iter()
        .map(|b| (b.method.clone(), b.latency_s / prediction.total_s))
        .collect();
    Ok(AutomlFinal {
        deployed,
        searched_reward: winner.best.reward,
        deployed_reward,
        baselines: found.methods,
        speedups,
        config,
        cut,
        test_images: test.len(),
        baseline_accuracy: baseline,
        accuracy_before_finetune: before,
        accuracy,
        finetune_epochs: epochs,
        bytes_per_sample: bytes,
        prediction,
        deployment,
    })
}

/// The deployed plan (`dir/plan.json`, model `dir/<model>.onnx`) on the real runtime at each
/// rate of `rates_mbps`: an edge server and a device over gRPC through the link emulator,
/// measured against the cost model fed with this host's profile of the deployed model.
pub fn check_deployment(
    dir: &std::path::Path,
    rates_mbps: &[f64],
    rtt_s: f64,
    images: usize,
    job: &AutomlJob<'_>,
    progress: &mut dyn Progress,
) -> Result<crate::runtime_check::RuntimeChecks> {
    check_plan_dir(dir, rates_mbps, rtt_s, images, job.engine, job.data, progress)
}

/// A plan folder (`dir/plan.json`, its first device's model `dir/<model>.onnx`) on the real
/// runtime at each rate of `rates_mbps` with `images` test images of `data`, measured against
/// the cost model fed with this host's profile of the model.
pub fn check_plan_dir(
    dir: &std::path::Path,
    rates_mbps: &[f64],
    rtt_s: f64,
    images: usize,
    engine: &str,
    data: DatasetName,
    progress: &mut dyn Progress,
) -> Result<crate::runtime_check::RuntimeChecks> {
    use crate::profile::{measure_model, measured, ProfileConfig};
    let path = dir.join("plan.json");
    let text = std::fs::read_to_string(&path).map_err(|source| PipelineError::Io {
        what: format!("reading {}", path.display()),
        source,
    })?;
    let plan =
        coinfer_sim::Plan::from_json(&text).map_err(|e| PipelineError::Invalid(e.to_string()))?;
    let device = plan
        .devices
        .first()
        .ok_or_else(|| PipelineError::Invalid(format!("{}: no device", path.display())))?;
    let model = dir.join(format!("{}.onnx", device.model));
    let graph = Graph::load(&model)?;
    let periodic =
        ProfileConfig { engine, batch: 1, runs: 20, idle_gap: ProfileConfig::PERIODIC_GAP };
    let host = measured(&measure_model(&graph, &periodic, progress)?).layer_times("this host", 0.0);
    let choices: Vec<(f64, coinfer_sim::SplitChoice)> =
        rates_mbps.iter().map(|&r| (r, device.split.clone())).collect();
    let config = crate::runtime_check::RuntimeCheckConfig {
        model: &model,
        engine,
        choices: &choices,
        rtt_s,
        images,
        data,
        plan: Some(device),
    };
    crate::runtime_check::check_on_runtime(
        &config,
        &host,
        &crate::layers::layer_table(&graph),
        progress,
    )
}
