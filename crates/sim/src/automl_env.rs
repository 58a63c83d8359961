//! Seed 000's search as an environment (AMC, He et al., ECCV 2018, over a split model): one
//! episode walks the device head's channel groups in topological order, then the width of the
//! feature sent at the cut (the encoder's code, or the cut tensor's own channel group), then
//! optionally the feature's quantization bits. Each step's action is a keep ratio in `[0, 1]`
//! (for the bits step: a position in the bit options), rounded to a multiple of
//! `multiple_of` channels. An **action wall** keeps the budget reachable at every step: a
//! choice is lowered until the configuration, with every later decision at its minimum,
//! meets the budget — so every episode ends inside it. Latency comes from the one cost
//! model ([`predict`]); accuracy from an [`Evaluator`] (the pipeline prunes, re-estimates
//! BatchNorm statistics and scores), memoised by the configuration.

use std::collections::HashMap;

use crate::cost_model::{predict, Link, Prediction, Work};
use crate::env::Step;
use crate::environment::{Env, EnvError, Space};
use crate::layers::{Compute, Layer};

/// What one decision prunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionKind {
    /// Output filters of a convolution group of the head.
    Conv,
    /// Output units of a fully connected group of the head.
    Linear,
    /// The channels of the feature sent at the cut (an encoder's code or the cut tensor).
    Code,
}

/// One channel group the search decides, with AMC's layer embedding.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    /// The group's name (what the pruner calls it).
    pub name: String,
    /// What it is.
    pub kind: DecisionKind,
    /// Its channels, unpruned.
    pub channels: usize,
    /// Input channels of its first producer.
    pub in_channels: usize,
    /// Stride of its first producer (1 for fully connected layers).
    pub stride: usize,
    /// Kernel side of its first producer (1 for fully connected layers).
    pub kernel: usize,
    /// Parameters of its producers.
    pub params: f64,
}

/// Which side of the link a layer runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// On the device (head and encoder).
    Device,
    /// On the edge (decoder and tail).
    Edge,
}

/// A layer whose cost scales with the channels kept: MACs and parameters by the fraction of
/// its output group and of its input group kept, outputs by the output fraction.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScaledLayer {
    /// Its cost unpruned.
    pub layer: Layer,
    /// Where it runs.
    pub side: Side,
    /// The decision (index) its output channels belong to, if pruned.
    pub out_group: Option<usize>,
    /// The decision (index) its input channels belong to, if pruned.
    pub in_group: Option<usize>,
}

/// The feature sent at the cut.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FeatureSpec {
    /// Channels unpruned.
    pub channels: usize,
    /// Values per channel (`H·W`).
    pub values_per_channel: f64,
    /// The decision (index) that sets its width, if any.
    pub group: Option<usize>,
    /// Quantization bits the search may choose (ascending, each 1–16); one entry = fixed.
    pub bits: Vec<u8>,
    /// Bytes per frame beyond the packed values (codec header and checksum).
    pub header_bytes: f64,
}

/// A configuration: channels kept per decision, and the feature's bits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PruneConfig {
    /// Channels kept, one per decision.
    pub kept: Vec<usize>,
    /// Feature bits (0 when nothing is sent).
    pub bits: u8,
}

/// What an [`Evaluator`] measured for a configuration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Evaluated {
    /// Top-1 accuracy of the proxy, in `[0, 1]`.
    pub accuracy: f64,
    /// Measured feature bytes per sample (whole frames), if the evaluation coded features;
    /// `None`: the packed-bits estimate is used.
    pub bytes_per_sample: Option<f64>,
}

/// Scores configurations (prunes, re-estimates BatchNorm, evaluates — or a synthetic function
/// in tests). Errors are messages; the environment reports them as [`EnvError::Evaluation`].
pub trait Evaluator {
    /// The accuracy of `config`.
    fn evaluate(&mut self, config: &PruneConfig) -> Result<Evaluated, String>;
}

impl<E: Evaluator + ?Sized> Evaluator for &mut E {
    fn evaluate(&mut self, config: &PruneConfig) -> Result<Evaluated, String> {
        (**self).evaluate(config)
    }
}

/// What the budget limits.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    /// End-to-end latency predicted by the cost model (s), with the feature's bytes at its
    /// packed-bits size.
    LatencyS(f64),
    /// Device MACs per inference.
    DeviceMacs(f64),
}

/// How a configuration's accuracy and latency become the episode's reward.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Reward {
    /// AMC's resource-constrained reward: the accuracy (the wall enforces the budget).
    AccuracyConstrained,
    /// AMC's `−error · log(cost)`, with the latency in microseconds.
    AccuracyLogLatency,
    /// `accuracy − weight · latency / unpruned latency`.
    Linear {
        /// Accuracy points (as a fraction) one unpruned latency is worth.
        weight: f64,
    },
    /// Seed 000's aim, the fastest configuration within `max_drop` of the unpruned
    /// configuration's accuracy: `−ln(latency in µs) − 100 · shortfall`, the shortfall being
    /// how far the accuracy falls below that floor (one point costs as much as an e-fold
    /// latency).
    LatencyWithinDrop {
        /// Largest accuracy drop (a fraction: 0.01 = one point) without penalty.
        max_drop: f64,
    },
}

impl Reward {
    /// The reward of `accuracy` (in `[0, 1]`) at `latency_s`, the unpruned configuration
    /// taking `reference_s` at `reference_accuracy`.
    pub fn value(
        &self,
        accuracy: f64,
        latency_s: f64,
        reference_s: f64,
        reference_accuracy: f64,
    ) -> f64 {
        let ln_us = (latency_s * 1e6).max(1.0).ln();
        match *self {
            Reward::AccuracyConstrained => accuracy,
            Reward::AccuracyLogLatency => -(1.0 - accuracy) * ln_us,
            Reward::Linear { weight } => accuracy - weight * latency_s / reference_s,
            Reward::LatencyWithinDrop { max_drop } => {
                -ln_us - 100.0 * (reference_accuracy - max_drop - accuracy).max(0.0)
            }
        }
    }

    /// Whether the reward needs the unpruned configuration's accuracy.
    pub fn needs_reference_accuracy(&self) -> bool {
        matches!(self, Reward::LatencyWithinDrop { .. })
    }
}

/// The search space and its costs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PruneSpace {
    /// The decisions, in the order an episode takes them (head groups, then the code).
    pub decisions: Vec<Decision>,
    /// Every layer with a cost, device and edge.
    pub layers: Vec<ScaledLayer>,
    /// The feature sent; `None`: the device runs everything (device-only).
    pub feature: Option<FeatureSpec>,
    /// Kept counts are multiples of this (or the full width).
    pub multiple_of: usize,
    /// No decision keeps less than this fraction of its channels (AMC's lower action bound).
    pub min_keep: f64,
}

/// Why a space or a budget was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpaceError {
    /// The space is malformed.
    #[error("invalid AutoML space: {0}")]
    Invalid(String),
    /// Even the smallest configuration exceeds the budget.
    #[error("no configuration meets the budget {budget:?}: the smallest one costs {smallest}")]
    Unreachable {
        /// The budget.
        budget: Budget,
        /// The smallest configuration's cost, in the budget's unit.
        smallest: f64,
    },
}

/// The costs of one configuration.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConfigCost {
    /// Device MACs per inference.
    pub device_macs: f64,
    /// Device compute (s).
    pub device_s: f64,
    /// Edge compute (s).
    pub edge_s: f64,
    /// Feature bytes per frame (`None`: nothing sent).
    pub feature_bytes: Option<f64>,
    /// The cost model's prediction.
    pub prediction: Prediction,
}

impl PruneSpace {
    /// Checks the indices and numbers; an empty `decisions` is refused.
    pub fn validate(&self) -> Result<(), SpaceError> {
        let bad = |m: String| Err(SpaceError::Invalid(m));
        if self.decisions.is_empty() {
            return bad("nothing to decide: the region has no prunable channel group".into());
        }
        if self.multiple_of == 0 || !(0.0..=1.0).contains(&self.min_keep) {
            return bad(format!(
                "multiple_of {} must be ≥ 1 and min_keep {} in [0, 1]",
                self.multiple_of, self.min_keep
            ));
        }
        if let Some(d) = self.decisions.iter().find(|d| d.channels == 0) {
            return bad(format!("group {} has no channels", d.name));
        }
        let n = self.decisions.len();
        for l in &self.layers {
            if l.out_group.is_some_and(|g| g >= n) || l.in_group.is_some_and(|g| g >= n) {
                return bad(format!("a layer refers to decision ≥ {n}"));
            }
            let v = &l.layer;
            if [v.macs, v.output_values, v.params, v.ops, v.mem_bytes]
                .iter()
                .any(|x| !x.is_finite() || *x < 0.0)
            {
                return bad(format!("a layer has a negative or non-finite cost: {v:?}"));
            }
        }
        if let Some(f) = &self.feature {
            if f.bits.is_empty() || f.bits.iter().any(|&b| !(1..=16).contains(&b)) {
                return bad(format!("feature bits {:?} must be 1–16, at least one", f.bits));
            }
            if f.bits.windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!("feature bits {:?} must ascend", f.bits));
            }
            if f.group.is_some_and(|g| g >= n) {
                return bad("the feature refers to a missing decision".into());
            }
            let positive = f.values_per_channel.is_finite() && f.values_per_channel > 0.0;
            if !(positive && f.header_bytes.is_finite() && f.header_bytes >= 0.0) {
                return bad(format!("bad feature size {f:?}"));
            }
        }
        Ok(())
    }

    /// The kept counts decision `i` may take, ascending: multiples of `multiple_of` from the
    /// smallest at or above `min_keep` of the channels, and the full width. The code's width
    /// is any count (its channels cost bytes on the link, which SIMD tiles do not pad).
    pub fn options(&self, i: usize) -> Vec<usize> {
        let c = self.decisions[i].channels;
        let m = match self.decisions[i].kind {
            DecisionKind::Code => 1,
            _ => self.multiple_of.max(1),
        };
        let floor = (self.min_keep * c as f64).ceil().max(1.0) as usize;
        let first = floor.div_ceil(m) * m;
        let mut v: Vec<usize> = (first..c).step_by(m).collect();
        v.push(c);
        v
    }

    /// The option nearest `keep_ratio · channels` (ties upward).
    pub fn nearest(&self, i: usize, keep_ratio: f64) -> usize {
        let want = keep_ratio.clamp(0.0, 1.0) * self.decisions[i].channels as f64;
        let options = self.options(i);
        let mut best = options[0];
        for &o in &options {
            if (o as f64 - want).abs() <= (best as f64 - want).abs() {
                best = o;
            }
        }
        best
    }

    /// Decisions plus the bits step.
    pub fn steps(&self) -> usize {
        self.decisions.len() + usize::from(self.has_bits_step())
    }

    fn has_bits_step(&self) -> bool {
        self.feature.as_ref().is_some_and(|f| f.bits.len() > 1)
    }

    /// The unpruned configuration, at the most bits.
    pub fn full(&self) -> PruneConfig {
        PruneConfig {
            kept: self.decisions.iter().map(|d| d.channels).collect(),
            bits: self.feature.as_ref().and_then(|f| f.bits.last().copied()).unwrap_or(0),
        }
    }

    /// The smallest configuration, at the fewest bits.
    pub fn smallest(&self) -> PruneConfig {
        PruneConfig {
            kept: (0..self.decisions.len()).map(|i| self.options(i)[0]).collect(),
            bits: self.feature.as_ref().and_then(|f| f.bits.first().copied()).unwrap_or(0),
        }
    }

    /// Every configuration (the exhaustive oracle's space); its size is the product of the
    /// option counts, so check [`PruneSpace::size`] first.
    pub fn enumerate(&self) -> Vec<PruneConfig> {
        let mut all = vec![PruneConfig { kept: vec![], bits: 0 }];
        for i in 0..self.decisions.len() {
            let options = self.options(i);
            all = all
                .into_iter()
                .flat_map(|c| {
                    options.iter().map(move |&o| {
                        let mut kept = c.kept.clone();
                        kept.push(o);
                        PruneConfig { kept, bits: 0 }
                    })
                })
                .collect();
        }
        let bits = self.feature.as_ref().map_or(vec![0], |f| f.bits.clone());
        all.into_iter()
            .flat_map(|c| bits.iter().map(move |&b| PruneConfig { bits: b, ..c.clone() }))
            .collect()
    }

    /// Configurations in the space.
    pub fn size(&self) -> f64 {
        let bits = self.feature.as_ref().map_or(1, |f| f.bits.len());
        (0..self.decisions.len()).map(|i| self.options(i).len() as f64).product::<f64>()
            * bits as f64
    }

    /// The feature's packed size (bytes per frame) under `config`.
    pub fn packed_bytes(&self, config: &PruneConfig) -> Option<f64> {
        self.feature.as_ref().map(|f| {
            let channels = f.group.map_or(f.channels, |g| config.kept[g]);
            (channels as f64 * f.values_per_channel * config.bits as f64 / 8.0).ceil()
                + f.header_bytes
        })
    }

    /// Every layer with its cost under `config`: MACs and parameters scaled by the kept
    /// fractions of its output and input groups, outputs by the output fraction, memory
    /// traffic by their mean.
    pub fn scaled_layers<'a>(
        &'a self,
        config: &'a PruneConfig,
    ) -> impl Iterator<Item = (Side, Layer)> + 'a {
        let fraction = move |g: Option<usize>| {
            g.map_or(1.0, |g| config.kept[g] as f64 / self.decisions[g].channels as f64)
        };
        self.layers.iter().map(move |l| {
            let (fo, fi) = (fraction(l.out_group), fraction(l.in_group));
            let scaled = Layer {
                macs: l.layer.macs * fo * fi,
                output_values: l.layer.output_values * fo,
                params: l.layer.params * fo * fi,
                ops: l.layer.ops,
                mem_bytes: l.layer.mem_bytes * (fo + fi) / 2.0,
            };
            (l.side, scaled)
        })
    }

    /// Device MACs per inference under `config`.
    pub fn device_macs(&self, config: &PruneConfig) -> f64 {
        self.scaled_layers(config)
            .filter(|(side, _)| *side == Side::Device)
            .map(|(_, l)| l.macs)
            .sum()
    }

    /// Costs of `config` on `device` and `edge` over `link`, the feature at `feature_bytes`
    /// (the packed size if `None`).
    pub fn cost(
        &self,
        config: &PruneConfig,
        device: &Compute,
        edge: &Compute,
        link: &Link,
        feature_bytes: Option<f64>,
    ) -> ConfigCost {
        let (mut device_macs, mut device_s, mut edge_s) = (0.0, 0.0, 0.0);
        for (side, layer) in self.scaled_layers(config) {
            match side {
                Side::Device => {
                    device_macs += layer.macs;
                    device_s += device.layer_s(&layer);
                }
                Side::Edge => edge_s += edge.layer_s(&layer),
            }
        }
        let feature_bytes = self.feature.as_ref().map(|_| {
            feature_bytes.unwrap_or_else(|| self.packed_bytes(config).unwrap_or_default())
        });
        let work = match feature_bytes {
            Some(bytes) => Work::split(device_s, device.power_w, bytes, edge_s),
            None => Work::local(device_s, device.power_w),
        };
        ConfigCost {
            device_macs,
            device_s,
            edge_s,
            feature_bytes,
            prediction: predict(&work, link),
        }
    }
}

/// Everything an [`AutomlEnv`] needs besides the evaluator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AutomlSetup {
    /// The space.
    pub space: PruneSpace,
    /// Device compute.
    pub device: Compute,
    /// Edge compute.
    pub edge: Compute,
    /// The link.
    pub link: Link,
    /// The budget the wall keeps.
    pub budget: Budget,
    /// The reward.
    pub reward: Reward,
}

/// The configuration an episode ended with and what it scored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpisodeOutcome {
    /// The configuration.
    pub config: PruneConfig,
    /// The evaluator's answer.
    pub evaluated: Evaluated,
    /// Its costs (measured bytes where the evaluator measured them).
    pub cost: ConfigCost,
    /// The reward.
    pub reward: f64,
}

/// Seed 000's AutoML search as an [`Env`] with a one-dimensional action in `[0, 1]`.
pub struct AutomlEnv<E: Evaluator> {
    setup: AutomlSetup,
    evaluator: E,
    memo: HashMap<PruneConfig, Evaluated>,
    reference_s: f64,
    max: Embedding,
    step: Option<usize>,
    config: PruneConfig,
    previous: f32,
    last: Option<EpisodeOutcome>,
}

/// The per-step values AMC embeds, before normalisation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Embedding {
    index: f64,
    channels: f64,
    in_channels: f64,
    stride: f64,
    kernel: f64,
    params: f64,
}

/// Observation length: index, kind (conv / linear / code / bits), channels in and out, stride,
/// kernel, parameters, cost reduced so far, cost of the rest, previous action, link rate,
/// feature bits per value.
pub const AUTOML_OBSERVATION: usize = 12;

impl<E: Evaluator> AutomlEnv<E> {
    /// An environment over `setup`, scored by `evaluator`. Errors: a malformed space, or a
    /// budget even the smallest configuration misses.
    pub fn new(setup: AutomlSetup, evaluator: E) -> Result<AutomlEnv<E>, SpaceError> {
        setup.space.validate()?;
        let smallest = budget_cost(&setup, &setup.space.smallest());
        let limit = match setup.budget {
            Budget::LatencyS(s) | Budget::DeviceMacs(s) => s,
        };
        if !(limit.is_finite() && limit > 0.0) || smallest > limit {
            return Err(SpaceError::Unreachable { budget: setup.budget, smallest });
        }
        let full = setup.space.full();
        let reference_s = setup
            .space
            .cost(&full, &setup.device, &setup.edge, &setup.link, None)
            .prediction
            .total_s;
        let mut max = Embedding::default();
        for (i, d) in setup.space.decisions.iter().enumerate() {
            let e = embedding(i, d);
            max = Embedding {
                index: max.index.max(e.index),
                channels: max.channels.max(e.channels),
                in_channels: max.in_channels.max(e.in_channels),
                stride: max.stride.max(e.stride),
                kernel: max.kernel.max(e.kernel),
                params: max.params.max(e.params),
            };
        }
        max.index = setup.space.steps().max(1) as f64;
        Ok(AutomlEnv {
            config: setup.space.smallest(),
            setup,
            evaluator,
            memo: HashMap::new(),
            reference_s,
            max,
            step: None,
            previous: 1.0,
            last: None,
        })
    }

    /// The setup.
    pub fn setup(&self) -> &AutomlSetup {
        &self.setup
    }

    /// Distinct configurations evaluated so far.
    pub fn evaluations(&self) -> usize {
        self.memo.len()
    }

    /// The last finished episode.
    pub fn last_outcome(&self) -> Option<&EpisodeOutcome> {
        self.last.as_ref()
    }

    /// The evaluator.
    pub fn evaluator(&self) -> &E {
        &self.evaluator
    }

    /// The unpruned configuration's predicted latency (s), the reward's reference.
    pub fn reference_s(&self) -> f64 {
        self.reference_s
    }

    /// Scores `config` (memoised) as an episode ending in it would.
    pub fn score(&mut self, config: &PruneConfig) -> Result<EpisodeOutcome, EnvError> {
        let evaluated = self.evaluate(config)?;
        let s = &self.setup;
        let cost = s.space.cost(config, &s.device, &s.edge, &s.link, evaluated.bytes_per_sample);
        let (reference_s, reference_accuracy) = self.reward_reference()?;
        let reward = self.setup.reward.value(
            evaluated.accuracy,
            cost.prediction.total_s,
            reference_s,
            reference_accuracy,
        );
        Ok(EpisodeOutcome { config: config.clone(), evaluated, cost, reward })
    }

    /// What the reward measures against: the unpruned configuration's predicted latency (s)
    /// and, if the reward needs it, its accuracy (evaluated once; NaN otherwise).
    pub fn reward_reference(&mut self) -> Result<(f64, f64), EnvError> {
        let accuracy = if self.setup.reward.needs_reference_accuracy() {
            self.reference_accuracy()?
        } else {
            f64::NAN
        };
        Ok((self.reference_s, accuracy))
    }

    /// The unpruned configuration's accuracy (at the most bits), evaluated once.
    pub fn reference_accuracy(&mut self) -> Result<f64, EnvError> {
        Ok(self.evaluate(&self.setup.space.full())?.accuracy)
    }

    /// The evaluator's answer for `config`, memoised.
    fn evaluate(&mut self, config: &PruneConfig) -> Result<Evaluated, EnvError> {
        if let Some(e) = self.memo.get(config) {
            return Ok(*e);
        }
        let e = self.evaluator.evaluate(config).map_err(EnvError::Evaluation)?;
        if !e.accuracy.is_finite() {
            return Err(EnvError::Evaluation(format!("accuracy {}", e.accuracy)));
        }
        self.memo.insert(config.clone(), e);
        Ok(e)
    }

    /// Whether `config` meets the budget (at the packed feature size).
    pub fn within_budget(&self, config: &PruneConfig) -> bool {
        let limit = match self.setup.budget {
            Budget::LatencyS(s) | Budget::DeviceMacs(s) => s,
        };
        budget_cost(&self.setup, config) <= limit * (1.0 + 1e-12)
    }

    fn observation(&self, t: usize) -> Vec<f32> {
        let space = &self.setup.space;
        let n = space.decisions.len();
        let (kind, e) = if t < n {
            let d = &space.decisions[t];
            let kind = match d.kind {
                DecisionKind::Conv => 0.0,
                DecisionKind::Linear => 1.0 / 3.0,
                DecisionKind::Code => 2.0 / 3.0,
            };
            (kind, embedding(t, d))
        } else {
            (1.0, Embedding { index: t as f64, ..Embedding::default() })
        };
        let max = &self.max;
        let r = |x: f64, m: f64| if m > 0.0 { (x / m) as f32 } else { 0.0 };
        // Cost reduced so far and cost of the rest, as fractions of the unpruned device MACs.
        let full = space.full();
        let total = space.device_macs(&full).max(1.0);
        let mut done = full.clone();
        done.kept[..t.min(n)].copy_from_slice(&self.config.kept[..t.min(n)]);
        let reduced = (total - space.device_macs(&done)) / total;
        let rest: f64 = space
            .layers
            .iter()
            .filter(|l| l.side == Side::Device && l.out_group.is_some_and(|g| g >= t))
            .map(|l| l.layer.macs)
            .sum::<f64>()
            / total;
        let rate = (self.setup.link.up_bps.max(1.0).log10() / 10.0) as f32;
        let bits = space
            .feature
            .as_ref()
            .map_or(0.0, |f| f.bits.last().copied().unwrap_or(0) as f32 / 32.0);
        vec![
            r(e.index, max.index),
            kind,
            r(e.in_channels, max.in_channels),
            r(e.channels, max.channels),
            r(e.stride, max.stride),
            r(e.kernel, max.kernel),
            r(e.params, max.params),
            reduced as f32,
            rest as f32,
            self.previous,
            rate,
            bits,
        ]
    }

    /// The largest choice at or below `want` for step `t` whose completion at the smallest
    /// later choices meets the budget (the action wall). By induction the smallest choice
    /// always does, since the episode started from a feasible prefix.
    fn wall(&self, t: usize, want: usize) -> usize {
        let space = &self.setup.space;
        let n = space.decisions.len();
        let smallest = space.smallest();
        let mut candidate = self.config.clone();
        if t < n {
            let options: Vec<usize> = space.options(t).into_iter().filter(|&o| o <= want).collect();
            for &o in options.iter().rev() {
                candidate.kept[t] = o;
                candidate.kept[t + 1..].copy_from_slice(&smallest.kept[t + 1..]);
                candidate.bits = smallest.bits;
                if self.within_budget(&candidate) {
                    return o;
                }
            }
            space.options(t)[0]
        } else {
            let bits = space.feature.as_ref().map_or(vec![0], |f| f.bits.clone());
            for &b in bits.iter().rev().filter(|&&b| b as usize <= want) {
                candidate.bits = b;
                if self.within_budget(&candidate) {
                    return b as usize;
                }
            }
            bits[0] as usize
        }
    }
}

fn embedding(i: usize, d: &Decision) -> Embedding {
    Embedding {
        index: i as f64,
        channels: d.channels as f64,
        in_channels: d.in_channels as f64,
        stride: d.stride as f64,
        kernel: d.kernel as f64,
        params: d.params,
    }
}

/// `config`'s cost in the budget's unit (packed feature bytes).
fn budget_cost(setup: &AutomlSetup, config: &PruneConfig) -> f64 {
    match setup.budget {
        Budget::DeviceMacs(_) => setup.space.device_macs(config),
        Budget::LatencyS(_) => {
            setup
                .space
                .cost(config, &setup.device, &setup.edge, &setup.link, None)
                .prediction
                .total_s
        }
    }
}

impl<E: Evaluator> Env for AutomlEnv<E> {
    type Action = [f32];

    fn observation_space(&self) -> Space {
        Space::Box { low: vec![0.0; AUTOML_OBSERVATION], high: vec![1.0; AUTOML_OBSERVATION] }
    }

    fn action_space(&self) -> Space {
        Space::Box { low: vec![0.0], high: vec![1.0] }
    }

    fn reset(&mut self, _seed: Option<u64>) -> Vec<f32> {
        self.step = Some(0);
        self.config = self.setup.space.full();
        self.previous = 1.0;
        self.observation(0)
    }

    fn step(&mut self, action: &[f32]) -> Result<Step, EnvError> {
        let t = self.step.ok_or(EnvError::NotReset)?;
        let space = &self.setup.space;
        let steps = space.steps();
        if t >= steps {
            return Err(EnvError::Finished);
        }
        let a = match action {
            [a] if a.is_finite() && (0.0..=1.0).contains(a) => *a,
            other => {
                return Err(EnvError::InvalidAction(format!(
                    "one keep ratio in [0, 1] expected, got {other:?}"
                )))
            }
        };
        let n = space.decisions.len();
        if t < n {
            let want = space.nearest(t, a as f64);
            // The prefix decided so far; the rest at full width until decided.
            self.config.kept[t] = self.wall(t, want);
            self.previous = self.config.kept[t] as f32 / space.decisions[t].channels as f32;
        } else {
            let bits = space.feature.as_ref().map_or(vec![0], |f| f.bits.clone());
            let index = ((a as f64 * bits.len() as f64) as usize).min(bits.len() - 1);
            self.config.bits = self.wall(t, bits[index] as usize) as u8;
            self.previous = a;
        }
        self.step = Some(t + 1);
        if t + 1 < steps {
            return Ok(Step { observation: self.observation(t + 1), reward: 0.0, done: false });
        }
        let config = self.config.clone();
        let outcome = self.score(&config)?;
        let reward = outcome.reward;
        self.last = Some(outcome);
        Ok(Step { observation: self.observation(steps - 1), reward, done: true })
    }
}
