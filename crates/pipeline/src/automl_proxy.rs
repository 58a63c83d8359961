//! The accuracy signal of seed 000's search, chosen by the proxy study
//! ([`crate::automl_proxies`]: adaptive BN ranks configurations as full fine-tuning does,
//! ρ ≈ 0.95, at under 1 % of its cost): prune the model to a configuration, re-estimate its
//! BatchNorm statistics on training images, split it at the cut and score head → codec →
//! tail on validation images, the feature quantized to the configuration's bits and entropy
//! coded with a model calibrated on training images (so the bytes are real frames).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use coinfer_compress::{Codec, Feature, SessionEntropy};
use coinfer_data::Dataset;
use coinfer_engine::eval::first_output;
use coinfer_engine::profile::PreparedSplit;
use coinfer_engine::Engine;
use coinfer_graph::{CutPoint, Graph};
use coinfer_prune::{prune, Criterion, Ratios};
use coinfer_sim::{Evaluated, Evaluator, PruneConfig, PruneSpace};
use coinfer_train::OnnxModule;

use crate::error::{PipelineError, Result};
use crate::evaluate::{evaluate, Stages};
use crate::features::sample_features;
use crate::progress::NoProgress;

/// A configuration made real: the pruned model with re-estimated BatchNorm statistics, and
/// (unless device-only) its split and the feature codec calibrated for it.
pub struct Realised {
    /// The pruned, recalibrated model (whole, unsplit).
    pub graph: Graph,
    /// The split (`None`: device-only).
    pub split: Option<RealisedSplit>,
}

/// A realised model's split: its halves prepared on the proxy's engine, and the codec.
pub struct RealisedSplit {
    /// The halves (the cut is `prepared.partition.cut`), prepared once for calibration,
    /// scoring and deployment.
    pub prepared: PreparedSplit,
    /// The feature's codec.
    pub codec: Codec,
}

impl Realised {
    /// The cut (`None`: device-only).
    pub fn cut(&self) -> Option<&CutPoint> {
        self.split.as_ref().map(|s| &s.prepared.partition.cut)
    }
}

/// Scores configurations of one model at one cut (memoisation is the environment's).
pub struct AccuracyProxy<'a> {
    graph: &'a Graph,
    cut: Option<CutPoint>,
    groups: Vec<(String, usize)>,
    engine: Arc<dyn Engine>,
    recalibration: Dataset,
    val: Dataset,
    /// Seconds each evaluation took, in order.
    pub seconds: Vec<f64>,
}

impl<'a> AccuracyProxy<'a> {
    /// A proxy for `space` (built from `graph` at `cut`), BatchNorm re-estimated on
    /// `recalibration` (also the codec's calibration), scored on `val` with `engine`.
    pub fn new(
        graph: &'a Graph,
        cut: Option<CutPoint>,
        space: &PruneSpace,
        engine: Arc<dyn Engine>,
        recalibration: Dataset,
        val: Dataset,
    ) -> Result<AccuracyProxy<'a>> {
        if recalibration.is_empty() || val.is_empty() {
            return Err(PipelineError::Invalid(
                "the proxy needs training and validation images".into(),
            ));
        }
        let groups = space.decisions.iter().map(|d| (d.name.clone(), d.channels)).collect();
        Ok(AccuracyProxy { graph, cut, groups, engine, recalibration, val, seconds: vec![] })
    }

    /// The pruned, recalibrated model of `config` and its codec.
    pub fn realise(&self, config: &PruneConfig) -> Result<Realised> {
        if config.kept.len() != self.groups.len() {
            return Err(PipelineError::Invalid(format!(
                "{} kept counts for {} groups",
                config.kept.len(),
                self.groups.len()
            )));
        }
        let ratios: BTreeMap<String, f64> = self
            .groups
            .iter()
            .zip(&config.kept)
            .filter(|((_, c), k)| **k < *c)
            .map(|((name, c), &k)| (name.clone(), 1.0 - k as f64 / *c as f64))
            .collect();
        let pruned = if ratios.is_empty() {
            self.graph.clone()
        } else {
            prune(self.graph, &Ratios::PerGroup(ratios), Criterion::L1)?.graph
        };
        let module = OnnxModule::new(&pruned)?;
        module.recalibrate_batch_norm(&self.recalibration, 128)?;
        self.with_codec(Graph::analyse(module.to_onnx()?)?, config.bits)
    }

    /// `graph` (a pruned model of this proxy's, fine-tuned or not) with the feature codec at
    /// `bits` calibrated on its head's outputs.
    pub fn with_codec(&self, graph: Graph, bits: u8) -> Result<Realised> {
        let Some(cut) = &self.cut else {
            return Ok(Realised { graph, split: None });
        };
        let cut = graph.find_cut(&cut.tensor)?;
        let prepared = PreparedSplit::new(&graph, &cut, self.engine.as_ref())?;
        let mut calibration: Vec<Feature> = vec![];
        for (x, _) in self.recalibration.batches(256) {
            calibration.extend(sample_features(&first_output(prepared.head.run(&[x])?)?));
        }
        let codec = feature_codec(bits, &calibration)?;
        Ok(Realised { graph, split: Some(RealisedSplit { prepared, codec }) })
    }

    /// Scores `realised` on `data`: accuracy and bytes per sample, as the runtime would.
    pub fn score_on(&self, realised: &Realised, data: &Dataset) -> Result<crate::Evaluation> {
        match &realised.split {
            Some(RealisedSplit { prepared, codec }) => {
                let (head, tail) = (prepared.head.as_ref(), prepared.tail.as_ref());
                evaluate(Stages::Split { head, tail }, codec, data, 500, None, &mut NoProgress)
            }
            None => {
                let model = self.engine.prepare(&realised.graph.proto)?;
                evaluate(
                    Stages::DeviceOnly(model.as_ref()),
                    &Codec::RawF32,
                    data,
                    500,
                    None,
                    &mut NoProgress,
                )
            }
        }
    }

    fn score(&self, config: &PruneConfig) -> Result<Evaluated> {
        let realised = self.realise(config)?;
        let e = self.score_on(&realised, &self.val)?;
        Ok(Evaluated {
            accuracy: e.accuracy,
            bytes_per_sample: realised.split.as_ref().map(|_| e.bytes_per_sample),
        })
    }
}

impl Evaluator for AccuracyProxy<'_> {
    fn evaluate(&mut self, config: &PruneConfig) -> std::result::Result<Evaluated, String> {
        let t = Instant::now();
        let result = self.score(config).map_err(|e| e.to_string());
        self.seconds.push(t.elapsed().as_secs_f64());
        result
    }
}

/// The feature codec at `bits`: per-channel uniform ranges and an entropy model calibrated on
/// `calibration` and agreed out of band with the feature's shape, so frames are session
/// frames (payload + 6 bytes). The model is per element and previous channel's symbol up to
/// 4 bits, per element up to 8, one shared model up to 12; wider: bit-packed full frames.
pub fn feature_codec(bits: u8, calibration: &[Feature]) -> Result<Codec> {
    let no = || PipelineError::Invalid(format!("no codec at {bits} bits for this feature"));
    let Some(Codec::Uniform { range, .. }) = Codec::calibrate_uniform(bits, true, calibration)
    else {
        return Err(no());
    };
    let entropy =
        if bits <= 4 { SessionEntropy::ChannelContext } else { SessionEntropy::PerElement };
    Ok(Codec::calibrate_session(bits, range.clone(), calibration, entropy)
        .unwrap_or(Codec::Uniform { bits, range }))
}

/// Version of [`feature_codec`]'s frames, part of the evaluation cache's key (a change of
/// codec changes every configuration's bytes).
pub const PROXY_CODEC_VERSION: &str = "session-frames-1";

/// Bytes a frame spends beyond its payload with [`feature_codec`]: a session
/// frame's 6 (the estimate a space's packed sizes use before any frame is measured).
pub fn frame_overhead_bytes() -> f64 {
    coinfer_compress::frame::SESSION_FRAME_OVERHEAD as f64
}
