//! Seed 001 (MCIA) workflows on a scenario file ([`coinfer_sim::Scenario`]): train the
//! PPO agent ([`coinfer_agents::MciaPpo`]), evaluate it against the slot's exact optimum (or
//! coordinate descent where exhaustive search is out of reach) and every baseline, and sweep
//! the number of devices sharing the edge.
//!
//! The gap a method closes is measured from the best *trivial* baseline (all local, all
//! offloading with exact shares, each device's best split with equal shares): utilities of
//! "everyone local" are already close to the optimum's, so a ratio to the optimum says little.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use coinfer_agents::{ChoiceTable, VersionShape};
pub use coinfer_agents::{DecisionSettings, MciaPpo, MciaPpoConfig, ShareMode, TrainLog};
use coinfer_sim::{
    coordinate_descent_from_greedy, exhaustive, random_slot, slot_baseline, DeviceAction,
    MultiDeviceEnv, Scenario, SlotBaseline, SlotSolution,
};
use rand::SeedableRng;

use crate::error::{PipelineError, Result};
use crate::progress::Progress;

/// Largest number of devices evaluated against the exhaustive optimum (coordinate descent
/// above).
pub const EXHAUSTIVE_MAX_DEVICES: usize = 8;

fn scenario_error(e: coinfer_sim::ScenarioError) -> PipelineError {
    PipelineError::Invalid(e.to_string())
}

/// A scenario file, its version table, and the environment for `devices` devices (the
/// file's own count if `None`), seeded by `seed`.
pub fn environment(
    path: &Path,
    devices: Option<usize>,
    seed: u64,
) -> Result<(Scenario, MultiDeviceEnv)> {
    environment_with(path, &[], devices, seed)
}

/// [`environment`] with scenario fields set first ([`Scenario::with_field`]).
pub fn environment_with(
    path: &Path,
    set: &[(String, String)],
    devices: Option<usize>,
    seed: u64,
) -> Result<(Scenario, MultiDeviceEnv)> {
    let (scenario, versions) = Scenario::load_with(path, set).map_err(scenario_error)?;
    let scenario = match devices {
        Some(0) => {
            return Err(PipelineError::Invalid(
                "scenario field `devices`: zero devices requested".into(),
            ))
        }
        Some(n) => scenario.with_devices(n),
        None => scenario,
    };
    let env = scenario.build(versions, seed).map_err(scenario_error)?;
    Ok((scenario, env))
}

/// What to train on.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrainConfig {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Slots to train for, in all.
    pub slots: usize,
    /// Device counts to train on in turn (the scenario rescaled); empty: the scenario's own.
    pub device_counts: Vec<usize>,
    /// The agent's settings.
    pub agent: MciaPpoConfig,
}

/// What training did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainReport {
    /// The settings.
    pub config: TrainConfig,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// One entry per update.
    pub curve: Vec<TrainLog>,
}

/// Trains a fresh agent and saves it at `out` (weights; header next to it as JSON).
pub fn train(config: &TrainConfig, out: &Path, progress: &mut dyn Progress) -> Result<TrainReport> {
    if config.slots == 0 {
        return Err(PipelineError::Invalid("train for at least one slot".into()));
    }
    let counts: Vec<Option<usize>> = if config.device_counts.is_empty() {
        vec![None]
    } else {
        config.device_counts.iter().map(|&n| Some(n)).collect()
    };
    let mut envs = Vec::with_capacity(counts.len());
    for (i, n) in counts.iter().enumerate() {
        envs.push(environment(&config.scenario, *n, config.agent.seed.wrapping_add(i as u64))?.1);
    }
    let mut agent = MciaPpo::new(config.agent.clone(), VersionShape::of(&envs[0]))?;
    let start = Instant::now();
    progress.start("training", config.slots as u64);
    let curve = agent.train(&mut envs, config.slots, |log| {
        progress.set(log.slots as u64);
        progress.status(&format!("utility {:.4}  entropy {:.3}", log.mean_utility, log.entropy));
    })?;
    progress.finish();
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| PipelineError::Io {
            what: format!("creating {}", dir.display()),
            source,
        })?;
    }
    agent.save(out)?;
    Ok(TrainReport { config: config.clone(), seconds: start.elapsed().as_secs_f64(), curve })
}

/// What to evaluate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalConfig {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Devices (the scenario rescaled); `None`: the scenario's own.
    pub devices: Option<usize>,
    /// Held-out slots.
    pub slots: usize,
    /// Seed of the held-out channel draws (and of the random baseline).
    pub seed: u64,
    /// Rounds of coordinate descent (as a baseline and as the reference above
    /// [`EXHAUSTIVE_MAX_DEVICES`]).
    pub cd_rounds: usize,
    /// Scenario fields set before building, in order (`mcia eval --set`, `mcia sweep
    /// --vary`; see [`Scenario::with_field`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub set: Vec<(String, String)>,
}

/// One method's numbers over the held-out slots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodStats {
    /// Method.
    pub method: String,
    /// Mean slot utility.
    pub mean_utility: f64,
    /// Fraction of the gap (reference − best trivial baseline, on means) closed.
    pub gap_closed: f64,
    /// 5th percentile of the per-slot gap closed (slots with a gap > 1e-6 only).
    pub gap_closed_p5: f64,
    /// Mean end-to-end latency over devices and slots (ms).
    pub mean_latency_ms: f64,
    /// 95th percentile of it (ms).
    pub p95_latency_ms: f64,
    /// Mean accuracy of the versions run.
    pub accuracy: f64,
    /// Fraction of devices that offload.
    pub offload_fraction: f64,
    /// Of the (slot, device) pairs where the reference offloads, the fraction where this
    /// method offloads too.
    pub offloads_where_reference_does: f64,
    /// Deadline misses per task kind (fraction of that kind's tasks).
    pub deadline_misses: BTreeMap<String, f64>,
    /// Mean decision time per slot (µs).
    pub decision_us: f64,
    /// 95th percentile of it (µs).
    pub decision_us_p95: f64,
}

/// An evaluation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    /// The settings.
    pub config: EvalConfig,
    /// Devices.
    pub devices: usize,
    /// The reference: `exhaustive` (the optimum) or `coordinate descent`.
    pub reference: String,
    /// The best trivial baseline (by mean utility).
    pub best_trivial: String,
    /// Reference − best trivial, in mean slot utility.
    pub gap: f64,
    /// Every method, the reference first.
    pub methods: Vec<MethodStats>,
}

/// A method under evaluation.
enum Method<'a> {
    Exhaustive,
    CoordinateDescent(usize),
    Baseline(SlotBaseline),
    Random(Box<rand_chacha::ChaCha8Rng>),
    /// An agent, its table, and its number among the agents of the same kind (0: the first).
    Agent(&'a mut MciaPpo, ChoiceTable, usize),
    /// The reference's choices with one resource split equally among its offloaders.
    EqualShare {
        compute: bool,
    },
}

impl Method<'_> {
    fn name(&self) -> String {
        match self {
            Method::Exhaustive => "exhaustive (optimum)".into(),
            Method::CoordinateDescent(_) => "coordinate descent".into(),
            Method::Baseline(b) => b.name().into(),
            Method::Random(_) => "random".into(),
            Method::Agent(agent, _, i) => {
                let name = match agent.config().shares {
                    ShareMode::Exact => "ppo agent",
                    ShareMode::Learned => "hybrid ppo (learned shares)",
                };
                if *i == 0 {
                    name.into()
                } else {
                    format!("{name} #{}", i + 1)
                }
            }
            Method::EqualShare { compute: true } => "reference, equal compute shares".into(),
            Method::EqualShare { compute: false } => "reference, equal band shares".into(),
        }
    }

    /// This method's actions for `env`'s slot; `reference` is the reference's, when known.
    fn decide(
        &mut self,
        env: &MultiDeviceEnv,
        reference: Option<&[DeviceAction]>,
    ) -> Result<Vec<DeviceAction>> {
        let solution: SlotSolution = match self {
            Method::Exhaustive => exhaustive(env)?,
            Method::CoordinateDescent(rounds) => coordinate_descent_from_greedy(env, *rounds)?,
            Method::Baseline(b) => slot_baseline(env, *b)?,
            Method::Random(rng) => random_slot(env, rng.as_mut())?,
            Method::Agent(agent, table, _) => agent.decide(env, table)?,
            Method::EqualShare { compute } => {
                let reference = reference.ok_or_else(|| {
                    PipelineError::Invalid("equal-share variants need the reference".into())
                })?;
                return Ok(reference
                    .iter()
                    .map(|a| {
                        if *compute {
                            DeviceAction { compute_share: 1.0, ..*a }
                        } else {
                            DeviceAction { bandwidth_share: 1.0, ..*a }
                        }
                    })
                    .collect());
            }
        };
        Ok(solution.actions)
    }
}

/// Per-slot records of one method.
#[derive(Default)]
struct Record {
    utility: Vec<f64>,
    latency_ms: Vec<f64>,
    accuracy: Vec<f64>,
    offloads: Vec<Vec<bool>>,
    misses: Vec<Vec<bool>>,
    decision_us: Vec<f64>,
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Evaluates the agents (if any) and every other method on `config.slots` held-out slots.
/// Each method plays its own copy of the environment (same seed: identical channels when
/// there are no arrivals).
pub fn evaluate(
    config: &EvalConfig,
    agents: &mut [MciaPpo],
    progress: &mut dyn Progress,
) -> Result<EvalReport> {
    if config.slots == 0 {
        return Err(PipelineError::Invalid("evaluate at least one slot".into()));
    }
    let (scenario, probe) =
        environment_with(&config.scenario, &config.set, config.devices, config.seed)?;
    let n = probe.num_devices();
    let exact = n <= EXHAUSTIVE_MAX_DEVICES;
    let mut methods: Vec<Method> =
        vec![if exact { Method::Exhaustive } else { Method::CoordinateDescent(config.cd_rounds) }];
    methods.push(Method::EqualShare { compute: true });
    methods.push(Method::EqualShare { compute: false });
    let mut seen: Vec<ShareMode> = Vec::new();
    for agent in agents.iter_mut() {
        agent.check(&probe)?;
        let mode = agent.config().shares;
        let index = seen.iter().filter(|&&m| m == mode).count();
        seen.push(mode);
        methods.push(Method::Agent(agent, ChoiceTable::new(&probe)?, index));
    }
    if exact {
        methods.push(Method::CoordinateDescent(config.cd_rounds));
    }
    methods.extend(SlotBaseline::ALL.iter().map(|&b| Method::Baseline(b)));
    methods.push(Method::Random(Box::new(rand_chacha::ChaCha8Rng::seed_from_u64(config.seed))));
    let mut envs = Vec::with_capacity(methods.len());
    for _ in &methods {
        let mut env =
            environment_with(&config.scenario, &config.set, config.devices, config.seed)?.1;
        env.reset(Some(config.seed));
        envs.push(env);
    }
    let mut records: Vec<Record> = methods.iter().map(|_| Record::default()).collect();
    progress.start(&format!("evaluating {n} devices"), config.slots as u64);
    for slot in 0..config.slots {
        let mut reference: Option<Vec<DeviceAction>> = None;
        for ((method, env), record) in methods.iter_mut().zip(&mut envs).zip(&mut records) {
            let start = Instant::now();
            let actions = method.decide(env, reference.as_deref())?;
            record.decision_us.push(start.elapsed().as_secs_f64() * 1e6);
            let outcomes = env.outcomes(&actions)?;
            record.utility.push(outcomes.iter().map(|o| o.utility).sum());
            record.latency_ms.extend(outcomes.iter().map(|o| o.latency_s * 1e3));
            record.accuracy.extend(outcomes.iter().map(|o| o.accuracy));
            record.offloads.push(outcomes.iter().map(|o| o.offloads).collect());
            record.misses.push(outcomes.iter().map(|o| o.missed_deadline).collect());
            if reference.is_none() {
                reference = Some(actions.clone());
            }
            if env.step(&actions)?.done {
                env.reset(None);
            }
        }
        progress.set(slot as u64 + 1);
    }
    progress.finish();
    // The gap: reference − the best trivial baseline.
    let names: Vec<String> = methods.iter().map(|m| m.name()).collect();
    let mean_of = |name: &str| -> Option<(usize, f64)> {
        names.iter().position(|m| m == name).map(|i| (i, mean(&records[i].utility)))
    };
    let (best_trivial, (trivial_index, trivial_mean)) = SlotBaseline::TRIVIAL
        .iter()
        .filter_map(|b| mean_of(b.name()).map(|m| (b.name().to_string(), m)))
        .max_by(|a, b| a.1 .1.total_cmp(&b.1 .1))
        .ok_or_else(|| PipelineError::Invalid("no trivial baseline evaluated".into()))?;
    let reference_mean = mean(&records[0].utility);
    let gap = reference_mean - trivial_mean;
    let kinds = scenario.task_names();
    let task_of: Vec<usize> = (0..n).map(|d| probe.device(d).map_or(0, |s| s.task_kind)).collect();
    let reference_offloads = records[0].offloads.clone();
    let trivial_utility = records[trivial_index].utility.clone();
    let reference_utility = records[0].utility.clone();
    let stats = names
        .into_iter()
        .zip(&records)
        .map(|(method, r)| {
            let per_slot: Vec<f64> = r
                .utility
                .iter()
                .zip(&trivial_utility)
                .zip(&reference_utility)
                .filter(|((_, t), o)| *o - *t > 1e-6)
                .map(|((u, t), o)| (u - t) / (o - t))
                .collect();
            let (mut both, mut reference_count) = (0usize, 0usize);
            for (mine, theirs) in r.offloads.iter().zip(&reference_offloads) {
                for (m, t) in mine.iter().zip(theirs) {
                    reference_count += usize::from(*t);
                    both += usize::from(*t && *m);
                }
            }
            let mut deadline_misses = BTreeMap::new();
            for (k, kind) in kinds.iter().enumerate() {
                let (mut miss, mut total) = (0usize, 0usize);
                for slot in &r.misses {
                    for (d, &m) in slot.iter().enumerate() {
                        if task_of[d] == k {
                            total += 1;
                            miss += usize::from(m);
                        }
                    }
                }
                if total > 0 {
                    deadline_misses.insert(kind.clone(), miss as f64 / total as f64);
                }
            }
            let offload_count: usize = r.offloads.iter().flatten().filter(|&&o| o).count();
            let mean_utility = mean(&r.utility);
            MethodStats {
                method,
                mean_utility,
                gap_closed: if gap.abs() > 1e-12 {
                    (mean_utility - trivial_mean) / gap
                } else {
                    f64::NAN
                },
                gap_closed_p5: percentile(&per_slot, 0.05),
                mean_latency_ms: mean(&r.latency_ms),
                p95_latency_ms: percentile(&r.latency_ms, 0.95),
                accuracy: mean(&r.accuracy),
                offload_fraction: offload_count as f64 / r.offloads.len().max(1) as f64 / n as f64,
                offloads_where_reference_does: if reference_count > 0 {
                    both as f64 / reference_count as f64
                } else {
                    f64::NAN
                },
                deadline_misses,
                decision_us: mean(&r.decision_us),
                decision_us_p95: percentile(&r.decision_us, 0.95),
            }
        })
        .collect();
    Ok(EvalReport {
        config: config.clone(),
        devices: n,
        reference: if exact { "exhaustive".into() } else { "coordinate descent".into() },
        best_trivial,
        gap,
        methods: stats,
    })
}

/// Evaluates the agents for each device count of `counts` (the scenario rescaled).
pub fn sweep(
    config: &EvalConfig,
    counts: &[usize],
    agents: &mut [MciaPpo],
    progress: &mut dyn Progress,
) -> Result<Vec<EvalReport>> {
    counts
        .iter()
        .map(|&n| {
            let c = EvalConfig { devices: Some(n), ..config.clone() };
            evaluate(&c, agents, progress)
        })
        .collect()
}

/// [`evaluate`] with scenario field `field` set to each of `values` in turn (channel
/// dynamics: `devices.*.channel.rho`; heterogeneity: one group's compute, …).
pub fn sweep_field(
    config: &EvalConfig,
    field: &str,
    values: &[String],
    agents: &mut [MciaPpo],
    progress: &mut dyn Progress,
) -> Result<Vec<EvalReport>> {
    values
        .iter()
        .map(|v| {
            let mut set = config.set.clone();
            set.push((field.to_string(), v.clone()));
            evaluate(&EvalConfig { set, ..config.clone() }, agents, progress)
        })
        .collect()
}

/// One method's decision time.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionTime {
    /// Method.
    pub method: String,
    /// Mean per slot (µs).
    pub mean_us: f64,
    /// 95th percentile (µs).
    pub p95_us: f64,
}

/// Decision times measured on the same slots.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DecisionBench {
    /// Devices.
    pub devices: usize,
    /// Slots timed.
    pub slots: usize,
    /// The agent's mean (µs), the ratios' denominator.
    pub agent_us: f64,
    /// Every method.
    pub rows: Vec<DecisionTime>,
}

/// Times, slot by slot on one scenario rescaled to `devices`, the agent's decision, the exact
/// allocation alone (for the agent's choices), greedy, and coordinate descent from greedy (its first 3
/// slots only: it takes seconds at 64 devices).
pub fn decision_bench(
    scenario: &Path,
    agent: &mut MciaPpo,
    devices: usize,
    slots: usize,
) -> Result<DecisionBench> {
    let (_, mut env) = environment(scenario, Some(devices), 4242)?;
    agent.check(&env)?;
    let table = ChoiceTable::new(&env)?;
    env.reset(Some(4242));
    let mut times: Vec<(String, Vec<f64>)> = [
        "ppo agent",
        "exact allocation alone",
        "greedy",
        "coordinate descent",
        "policy alone (features + forward)",
        "features alone",
    ]
    .iter()
    .map(|m| (m.to_string(), Vec::new()))
    .collect();
    let us = |start: Instant| start.elapsed().as_secs_f64() * 1e6;
    for slot in 0..slots.max(1) {
        let start = Instant::now();
        let decision = agent.decide(&env, &table)?;
        times[0].1.push(us(start));
        let start = Instant::now();
        std::hint::black_box(env.exact_shares(&decision.choices())?);
        times[1].1.push(us(start));
        let start = Instant::now();
        std::hint::black_box(slot_baseline(&env, SlotBaseline::Greedy)?);
        times[2].1.push(us(start));
        if slot < 3 {
            let start = Instant::now();
            std::hint::black_box(coordinate_descent_from_greedy(&env, 10)?);
            times[3].1.push(us(start));
        }
        let start = Instant::now();
        std::hint::black_box(agent.log_probabilities(&env, &table)?);
        times[4].1.push(us(start));
        let start = Instant::now();
        std::hint::black_box(table.features(&env));
        times[5].1.push(us(start));
        if env.step(&decision.actions)?.done {
            env.reset(None);
        }
    }
    let rows: Vec<DecisionTime> = times
        .into_iter()
        .map(|(method, t)| DecisionTime { method, mean_us: mean(&t), p95_us: percentile(&t, 0.95) })
        .collect();
    Ok(DecisionBench { devices, slots: slots.max(1), agent_us: rows[0].mean_us, rows })
}
